"""A whole recipe over seeds: every stage's figures with their mean, standard error and range.

    python bench/recipe_seeds.py configs/tiny/full.yaml full_recipe [--seeds 0 1 2] [--paths default fp32_avx2]
        [--compare eval_grpo:eval_sft ...] [--set stages.sft.trainer.max_steps=60 ...] [--stages curate sft ...]
        [--append]

Each run is `ponder run RECIPE seed=S` in its own process (`common.run_recipe_process`; the fp32_avx2 path turns
bf16 off on every training stage). Writes bench/results/NAME.json: per run its wall time and peak RSS, every stage's
numeric metrics, seconds and peak memory, and each training stage's curves (loss; GRPO's reward and completion
length); per numeric path and stage, each figure's mean, standard error (n - 1), min and max over seeds. `--set`
passes `ponder run` overrides to every run (a variant of the recipe, recorded in the JSON as `overrides`);
`--stages` runs only the named stages, in the recipe's order (one `stages=[...]` override, recorded as `stages`):
an arm of a long recipe measured alone, whose kept stages before the first one dropped are the recipe's own runs.
`--append` adds the runs to NAME.json's earlier ones (more seeds, or another path, of the same recipe text,
overrides and stages) and summarizes them all; every run records the machine it ran on and the commit it ran from
(`git describe --dirty`: a snapshot worktree of a commit keeps its long runs apart from ongoing edits).
"""

from __future__ import annotations

import hashlib
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, commit, machine, run_recipe_process, sweep, sweep_parser, write_results  # noqa: E402

TRAINING_KINDS = ("sft", "self_improve", "grpo", "distill_onpolicy", "prm")


def spread(values: list[float]) -> dict:
    se = statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else None
    return {
        "mean": round(statistics.fmean(values), 4),
        "se": None if se is None else round(se, 4),
        "min": round(min(values), 4),
        "max": round(max(values), 4),
    }


def curves(out: Path) -> dict:
    """Each training stage's logged curves (its kind's `curves` keys: loss; reward and completion length), as
    [[step, value], ...]: the run folder is temporary, the figures stay in the JSON."""
    from ponder.recipes.kind import stage_kind

    found = {}
    for history in out.glob("*/*/log_history.json"):
        kind = json.loads((history.parent / "result.json").read_text())["kind"]
        logs = json.loads(history.read_text())
        found[history.parent.name] = {
            key: [[h["step"], round(h[key], 4)] for h in logs if key in h] for key in stage_kind(kind).curves
        }
    return found


def main():
    from ponder.recipes.schema import load_recipe

    parser = sweep_parser(["default"], __doc__)
    parser.add_argument("recipe", help="the recipe YAML")
    parser.add_argument("name", help="writes bench/results/NAME.json")
    parser.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="LATER:EARLIER",
        help="two stages whose per-seed differences are summarized (paired)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        dest="overrides",
        metavar="KEY=VALUE",
        help="a `ponder run` override for every run (a variant of the recipe)",
    )
    parser.add_argument(
        "--stages", nargs="+", metavar="STAGE", help="run only these stages of the recipe (in the recipe's order)"
    )
    parser.add_argument("--append", action="store_true", help="add the runs to NAME.json's earlier ones")
    args = parser.parse_args()
    recipe, name, overrides = args.recipe, args.name, args.overrides
    pairs = [tuple(p.split(":")) for p in args.compare]
    kept, only = only_stages(recipe, args.stages) if args.stages else (None, [])
    stages = load_recipe(recipe, [*only, *overrides]).stages  # a mistake refused here, not after a run
    names = [s.name for s in stages]
    unknown = sorted({stage for pair in pairs for stage in pair} - set(names))
    if unknown:
        raise SystemExit(f"--compare: {unknown} not among the stages run: {names}")
    text = hashlib.sha256(Path(recipe).read_bytes()).hexdigest()[:16]
    done = earlier_runs(name, recipe, overrides, kept, text) if args.append else []
    host, code = machine(), commit()
    training = tuple(s.name for s in stages if s.kind in TRAINING_KINDS)

    def run(seed: int, path: str, out: Path) -> dict:
        wall, results = run_recipe_process(recipe, seed, path, out, training, (*only, *overrides))
        stages = {
            stage: {k: v for k, v in r["metrics"].items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
            | {"stage_seconds": r["seconds"], "peak_memory_mb": r["peak_memory_mb"]}
            for stage, r in results.items()
        }
        peak = max(r["peak_memory_mb"] for r in results.values())  # the process's peak RSS (CPU): never goes down
        done.append(
            {
                "seed": seed,
                "path": path,
                "machine": host,
                "commit": code,
                "wall_seconds": round(wall, 1),
                "peak_memory_mb": peak,
                "stages": stages,
                "curves": curves(out),
            }
        )
        # Written after every run: a sweep stopped early keeps the runs it finished (`runs` says which).
        figures = {"machine": host, "recipe": recipe, "recipe_sha256": text, "overrides": overrides}
        figures |= {"stages": kept} if kept else {}
        write_results(name, figures | {"runs": done, "summary": summarize(done, pairs)})
        return done[-1]

    sweep(run, args)


def only_stages(recipe: str, names: list[str]) -> tuple[list[str], list[str]]:
    """The `names` of `recipe`'s stages in the recipe's order, and the override that keeps only them (the recipe's
    own file, so its relative paths resolve as in a whole run). An unknown name stops the bench naming the stages."""
    import yaml

    stages = yaml.safe_load(Path(recipe).read_text())["stages"]
    every = [s["name"] for s in stages]
    if set(names) - set(every):
        raise SystemExit(f"--stages: {sorted(set(names) - set(every))} not in {recipe}; its stages: {every}")
    kept = [s for s in stages if s["name"] in names]
    return [s["name"] for s in kept], [f"stages={json.dumps(kept)}"]


def earlier_runs(name: str, recipe: str, overrides: list[str], kept: list[str] | None, text: str) -> list[dict]:
    """The runs of RESULTS/NAME.json, which must have run `recipe` (the same text, where the JSON records it) with the
    same `overrides` and `stages` (`--append`)."""
    earlier = json.loads((RESULTS / f"{name}.json").read_text())
    ran = (earlier["recipe"], earlier["overrides"], earlier.get("stages"))
    if ran != (recipe, overrides, kept):
        stages = f" (stages {ran[2]})" if ran[2] or kept else ""
        raise SystemExit(f"--append: {name}.json ran {ran[0]} with {ran[1]}{stages}, not this run's")
    if earlier.get("recipe_sha256", text) != text:
        raise SystemExit(
            f"--append: {recipe} has changed since {name}.json ran it (sha256 {earlier['recipe_sha256']})"
        )
    return earlier["runs"]


def summarize(runs: list[dict], pairs: list[tuple]) -> dict:
    """Per numeric path: each stage metric's spread over seeds, and for each (later, earlier) pair of stages the
    spread of their per-seed differences (paired: the SE of the difference, not of each side)."""
    summary = {}
    for path in dict.fromkeys(r["path"] for r in runs):
        mine = [r for r in runs if r["path"] == path]
        summary[path] = {
            key: spread([r[key] for r in mine])
            for key in ("wall_seconds", "peak_memory_mb")
            if all(key in r for r in mine)
        }
        for stage in mine[0]["stages"]:
            keys = [k for k in mine[0]["stages"][stage] if all(k in r["stages"].get(stage, {}) for r in mine)]
            summary[path][stage] = {k: spread([r["stages"][stage][k] for r in mine]) for k in keys}
        for later, earlier in pairs:
            keys = [k for k in mine[0]["stages"][later] if all(k in r["stages"][earlier] for r in mine)]
            summary[path][f"{later}-{earlier}"] = {
                k: spread([r["stages"][later][k] - r["stages"][earlier][k] for r in mine]) for k in keys
            }
    return summary


if __name__ == "__main__":
    main()
