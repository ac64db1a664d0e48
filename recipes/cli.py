"""The `ponder` command: run, validate, ls (and generate, chat, serve from ponder.inference)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ponder import CONFIGS_DIR
from ponder.errors import PonderError


def shipped_recipes() -> list[Path]:
    return sorted(p for p in CONFIGS_DIR.rglob("*.yaml") if "accelerate" not in p.parts)


def resolve_recipe(name: str) -> Path:
    """A path, or a shipped recipe named relative to the configs folder (`tiny/sft` or `configs/tiny/sft.yaml`)."""
    path = Path(name)
    if path.exists():
        return path
    relative = name.removeprefix("configs/")
    for candidate in (CONFIGS_DIR / relative, CONFIGS_DIR / f"{relative}.yaml"):
        if candidate.exists():
            return candidate
    return path


def describe(path: Path) -> str:
    import yaml

    try:
        return (yaml.safe_load(path.read_text()) or {}).get("description", "").strip().splitlines()[0]
    except (IndexError, AttributeError):
        return ""


def cmd_ls(args) -> int:
    for path in shipped_recipes():
        print(f"{str(path.relative_to(CONFIGS_DIR.parent)):<44} {describe(path)}")
    return 0


def cmd_validate(args) -> int:
    """Each recipe: `ok` and its stages on stdout, or its first problem as one `ponder: error:` line on stderr, as
    `ponder run` refuses it; exit code 2 when any failed."""
    from ponder.recipes.schema import RecipeError, load_recipe

    paths = [resolve_recipe(p) for p in args.recipes] or shipped_recipes()
    failures = 0
    for path in paths:
        try:
            recipe = load_recipe(path, args.overrides)
            print(f"ok    {path} ({len(recipe.stages)} stages: {', '.join(s.name for s in recipe.stages)})")
        except RecipeError as exc:
            failures += 1
            print_error(exc)
    return 2 if failures else 0


def option_lines(options, prefix: str = "") -> list[str]:
    """Each option of a stage (nested settings too): its value in this recipe and its help text."""
    import dataclasses

    lines = []
    for f in dataclasses.fields(options):
        value = getattr(options, f.name)
        if dataclasses.is_dataclass(value):
            lines += option_lines(value, f"{prefix}{f.name}.")
            continue
        lines.append(f"{prefix + f.name:<28} {value!r:<32} # {f.metadata.get('help', '')}".rstrip(" #"))
    return lines


def cmd_show(args) -> int:
    """The arguments a stage's trainer is built from, each with its origin (the same merge the run uses); with
    --help-fields, the stage's own options with their help text."""
    from pathlib import Path

    from ponder.recipes.context import StageContext
    from ponder.recipes.schema import RecipeError, load_recipe

    path = resolve_recipe(args.recipe)
    recipe = load_recipe(path, args.overrides)
    names = [s.name for s in recipe.stages]
    if args.stage not in names:
        raise RecipeError(path, "stages", f"no stage named {args.stage!r}; stages: {names}")
    stage = recipe.stage(args.stage)
    run_dir = Path(recipe.output_dir) / recipe.name
    ctx = StageContext(recipe, stage, run_dir / stage.name, run_dir)
    kind = ctx.kind
    if args.help_fields:
        print(f"# {stage.name} ({stage.kind}): its options, as this recipe sets them")
        print("\n".join(option_lines(stage.options)))
        return 0
    if kind.trainer_config is None:
        print(f"{stage.name} ({stage.kind}) trains nothing; its options (--help-fields explains them):")
        print("\n".join(option_lines(stage.options)))
        return 0
    from ponder.trainers.run import merge_trainer_args

    merged, origin = merge_trainer_args(ctx, ctx.workdir)
    print(f"# {stage.name} ({stage.kind}): {kind.config_name()} arguments, later layers win:")
    print("# kind default < recipe < cpu default < trainer: < ponder (owned keys, refused in trainer:)")
    width = max(len(k) for k in merged)
    for key, value in merged.items():
        print(f"{key:<{width}}  {value!r:<40}  # {origin[key]}")
    for key, why in kind.owned.items():
        if key not in merged:
            print(f"{key:<{width}}  {'(set at run time)':<40}  # ponder: {why}")
    resolved = ctx.workdir / "trainer_args.json"
    note = f"every field, as the last run resolved them: {resolved}" if resolved.exists() else "not run yet"
    print(f"# {note}")
    return 0


def cmd_run(args) -> int:
    from ponder.recipes.schema import load_recipe

    recipe = load_recipe(resolve_recipe(args.recipe), args.overrides)  # bad input refused before torch loads
    if args.verbose:  # launched stages inherit it
        os.environ["PONDER_VERBOSE"] = "1"
    from ponder.recipes.runner import run_recipe

    run_recipe(recipe, args.overrides, from_stage=args.from_stage, verbose=args.verbose)
    return 0


class Parser(argparse.ArgumentParser):
    """Usage errors in one line (and exit code 2), pointing at -h instead of printing the whole usage."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} -h)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="ponder", description="Train reasoning models and control their thinking.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a recipe's stages in order")
    run.add_argument("recipe", help="recipe YAML path or shipped name (e.g. tiny/reasoner)")
    run.add_argument("overrides", nargs="*", help="key=value edits, e.g. stages.distill.trainer.max_steps=5")
    run.add_argument("--from", dest="from_stage", help="re-run from this stage even if it finished")
    run.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="print each stage's full config (also in config.yaml), TRL's per-step logs and the libraries' output",
    )
    run.set_defaults(func=cmd_run)

    validate = sub.add_parser("validate", help="check recipes without building models (default: all shipped)")
    validate.add_argument("recipes", nargs="*")
    validate.add_argument("--set", dest="overrides", action="append", default=[], help="key=value override")
    validate.set_defaults(func=cmd_validate)

    show = sub.add_parser("show", help="a stage's merged trainer arguments and where each comes from")
    show.add_argument("recipe")
    show.add_argument("stage")
    show.add_argument("overrides", nargs="*", help="key=value edits, as for run")
    show.add_argument("--help-fields", action="store_true", help="the stage's own options with their help text")
    show.set_defaults(func=cmd_show)

    ls = sub.add_parser("ls", help="list shipped recipes")
    ls.set_defaults(func=cmd_ls)

    from ponder.inference.cli import add_inference_commands

    add_inference_commands(sub)
    return parser


def print_error(exc: Exception) -> None:
    """A user-facing error as one line on stderr, no traceback."""
    print(f"ponder: error: {exc}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)  # transformers' renames, once per stage: noise here
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (PonderError, FileNotFoundError) as exc:  # user-facing errors: one clear line, no traceback
        print_error(exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
