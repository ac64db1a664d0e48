"""The `ponder` command: run, validate, ls (and generate, chat, serve from ponder.inference)."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path

from ponder import CONFIGS_DIR
from ponder.errors import PonderError
from ponder.inference.cli import UsageError, add_inference_commands
from ponder.recipes.runs import find_checkpoint


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


def is_edit(argument: str) -> bool:
    """A KEY=VALUE argument (not a recipe file whose name holds an `=`; a name too long for a file is an edit)."""
    if "=" not in argument:
        return False
    try:
        return not Path(argument).exists()
    except OSError:  # ENAMETOOLONG: a long inline value, e.g. stages=[...]
        return True


def recipe_edits(positional: list[str], flags: list[str]) -> list[str]:
    """A command's recipe edits: its `--set KEY=VALUE` flags, then its `KEY=VALUE` arguments, each in the order
    given; argparse does not keep the order across the two forms, so a key given both ways is refused."""
    both = sorted({e.split("=", 1)[0] for e in positional} & {e.split("=", 1)[0] for e in flags})
    if both:
        raise UsageError(f"{both[0]} is given both as KEY=VALUE and as --set, in no kept order: give it one way")
    return [*flags, *positional]


def cmd_validate(args) -> int:
    """Each recipe: `ok` and its stages on stdout, or its first problem as one `ponder: error:` line on stderr, as
    `ponder run` refuses it; exit code 2 when any failed."""
    from ponder.recipes.schema import RecipeError, load_recipe

    edits = recipe_edits([a for a in args.recipes if is_edit(a)], args.set_overrides)
    paths = [resolve_recipe(a) for a in args.recipes if not is_edit(a)] or shipped_recipes()
    failures = 0
    for path in paths:
        try:
            recipe = load_recipe(path, edits)
            print(f"ok    {path} ({len(recipe.stages)} stages: {', '.join(s.name for s in recipe.stages)})")
        except RecipeError as exc:
            failures += 1
            print_error(exc, args.verbose)
    return 2 if failures else 0


def option_lines(options, prefix: str = "") -> list[str]:
    """Each option of a stage (nested settings too; those of a setting the recipe leaves off, indented, with the
    defaults they take when it is set): its value in this recipe and its help text."""
    import dataclasses
    import typing

    lines = []
    hints = typing.get_type_hints(type(options)) if dataclasses.is_dataclass(options) else {}
    for f in dataclasses.fields(options):
        value = getattr(options, f.name)
        nested = [t for t in typing.get_args(hints.get(f.name)) if dataclasses.is_dataclass(t)]
        if dataclasses.is_dataclass(value):
            lines += option_lines(value, f"{prefix}{f.name}.")
            continue
        lines.append(f"{prefix + f.name:<28} {value!r:<32} # {f.metadata.get('help', '')}".rstrip(" #"))
        if value is None and nested:  # off here: its settings with the defaults they take when it is set
            lines += [f"  {line}" for line in option_lines(nested[0](), f"{prefix}{f.name}.")]
    return lines


def cmd_show(args) -> int:
    """The arguments a stage's trainer is built from, each with its origin (the same merge the run uses); with
    --help-fields, the stage's own options with their help text."""
    from pathlib import Path

    from ponder.recipes.context import StageContext
    from ponder.recipes.schema import RecipeError, load_recipe

    path = resolve_recipe(args.recipe)
    recipe = load_recipe(path, recipe_edits(args.overrides, args.set_overrides))
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

    edits = recipe_edits(args.overrides, args.set_overrides)
    recipe = load_recipe(resolve_recipe(args.recipe), edits)  # bad input refused before torch loads
    if args.verbose:  # launched stages inherit it
        os.environ["PONDER_VERBOSE"] = "1"
    from ponder.recipes.runner import run_recipe

    run_recipe(recipe, edits, from_stage=args.from_stage, verbose=args.verbose)
    return 0


class Parser(argparse.ArgumentParser):
    """Usage errors in one line (and exit code 2), pointing at -h instead of printing the whole usage. A
    subcommand's flags may come among its arguments (`ponder run R a=1 -v --set b=2 c=3`): argparse's intermixed
    parsing, which a subparser does not get by itself."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} -h)\n")

    def parse_known_args(self, args=None, namespace=None):
        # parse_known_intermixed_args parses in two passes, each through this method
        if self._subparsers is not None or getattr(self, "_intermixing", False):
            return super().parse_known_args(args, namespace)
        self._intermixing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False


EDIT_HELP = "a recipe edit, e.g. stages.distill.trainer.max_steps=5 (a YAML value; stages addressed by name)"
EDITS = (
    "Recipe edits: KEY=VALUE arguments after the recipe, or --set KEY=VALUE flags (repeatable), the flags anywhere; "
    "each form is applied in the order given, and a key given both ways is refused."
)


def add_set_flag(parser):
    parser.add_argument(
        "--set", dest="set_overrides", metavar="KEY=VALUE", action="append", default=[], help=EDIT_HELP
    )


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="ponder", description="Train reasoning models and control their thinking.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a recipe's stages in order", epilog=EDITS)
    run.add_argument("recipe", help="recipe YAML path or shipped name (e.g. tiny/reasoner)")
    run.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help=EDIT_HELP)
    add_set_flag(run)
    run.add_argument("--from", dest="from_stage", help="re-run from this stage even if it finished")
    run.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="print each stage's full config (also in config.yaml), TRL's per-step logs and the libraries' output; "
        "on an error, its traceback too",
    )
    run.set_defaults(func=cmd_run)

    validate = sub.add_parser(
        "validate",
        help="check recipes without building models (default: all shipped)",
        usage="%(prog)s [-h] [-v] [--set KEY=VALUE] [RECIPE ...] [KEY=VALUE ...]",
        epilog=EDITS,
    )
    validate.add_argument(
        "recipes",
        nargs="*",
        metavar="RECIPE|KEY=VALUE",
        help=f"a recipe YAML path or shipped name (default: all shipped), or {EDIT_HELP}, applied to each recipe",
    )
    add_set_flag(validate)
    validate.set_defaults(func=cmd_validate)

    show = sub.add_parser("show", help="a stage's merged trainer arguments and where each comes from", epilog=EDITS)
    show.add_argument("recipe", help="recipe YAML path or shipped name (e.g. tiny/reasoner)")
    show.add_argument("stage")
    show.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help=EDIT_HELP)
    add_set_flag(show)
    show.add_argument("--help-fields", action="store_true", help="the stage's own options with their help text")
    show.set_defaults(func=cmd_show)

    ls = sub.add_parser("ls", help="list shipped recipes")
    ls.set_defaults(func=cmd_ls)

    add_inference_commands(sub, find_checkpoint)
    for name in ("validate", "show", "generate", "chat", "serve"):
        sub.choices[name].add_argument("-v", "--verbose", action="store_true", help="on an error, its traceback too")
    parser.set_defaults(verbose=False)  # ls
    return parser


def print_error(exc: Exception, verbose: bool = False) -> None:
    """A user-facing error as one line on stderr (with -v, its traceback above it)."""
    if verbose:
        traceback.print_exception(exc)
    print(f"ponder: error: {exc}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)  # transformers' renames, once per stage: noise here
    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)
        sys.stdout.flush()  # a reader that is gone (`ponder ls | head -1`) shows here, not at exit
        return code
    except BrokenPipeError:  # as Python's docs on SIGPIPE advise: no more output, and no error at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (PonderError, FileNotFoundError) as exc:  # user-facing errors: one clear line, no traceback
        print_error(exc, args.verbose)
        return 2


if __name__ == "__main__":
    sys.exit(main())
