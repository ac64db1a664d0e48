"""DAPO's dynamic sampling on the default recipe: held-out accuracy at equal numbers of completions generated.

    python bench/dynamic_sampling.py [--seeds 0 1 2] [--paths default fp32_avx2] [--max-draws 3] [--name NAME]
        [--set stages.grpo.dynamic_sampling.skip_known=0.9] [--append]

Per seed and numeric path: `ponder run configs/tiny/reasoner.yaml` with GRPO as shipped (a checkpoint kept every
5 steps), then the same run folder again with `stages.grpo.dynamic_sampling={max_draws: N}`: curate and distill are
reused, so both GRPO runs start from the same distilled model (a paired comparison). For each GRPO run: the
held-out greedy accuracy (eval_grpo's 200 questions and settings, `common.greedy_pass`) of the last checkpoint
within 25/50/100% of the completions the shipped GRPO generates (100 steps x 32), and of its final model (100
steps; dynamic sampling has generated more by then; the distilled model where no checkpoint fits a share, as
with a large `--max-draws`); the share of steps and of groups with signal; GRPO's seconds.
`--set` adds `ponder run` overrides to the dynamic run only (e.g. pre-rollout filtering), recorded as `overrides`.
Writes bench/results/NAME.json (default dynamic_sampling): every run, then per path and variant each figure's
mean +- SE over seeds, and the paired differences (dynamic - shipped); `--append` adds the runs to NAME.json's.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, commit, greedy_pass, machine, run_recipe_process, sweep, sweep_parser, write_results  # noqa: E402
from recipe_seeds import spread  # noqa: E402

RECIPE = "configs/tiny/reasoner.yaml"
SHARES = (0.25, 0.5, 1.0)
SAVE = ["stages.grpo.trainer.save_steps=5", "stages.grpo.trainer.save_total_limit=null"]


def accuracy(run: Path, checkpoint: Path) -> float:
    rights = [answer["correct"] for _, answer in greedy_pass(run, "eval_grpo", checkpoint)]
    return round(sum(rights) / len(rights), 4)


def grpo_figures(run: Path, budget: int) -> dict:
    """One GRPO run's figures: accuracy at shares of `budget` completions, signal shares, seconds."""
    result = json.loads((run / "grpo" / "result.json").read_text())
    logs = [h for h in json.loads((run / "grpo" / "log_history.json").read_text()) if "groups_with_signal" in h]
    args = json.loads((run / "grpo" / "trainer_args.json").read_text())
    per_step = args["per_device_train_batch_size"] * args.get("gradient_accumulation_steps", 1)
    generated, total = {0: 0}, 0  # step 0: the distilled model, the last one within a share no checkpoint fits
    for h in logs:
        total += h.get("dynamic_sampling/groups_drawn", per_step / args["num_generations"]) * args["num_generations"]
        generated[h["step"]] = total
    saved = {int(p.name.split("-")[1]): p for p in (run / "grpo" / "trainer").glob("checkpoint-*")}
    saved[0] = run / "distill" / "checkpoint"
    at = {}
    for share in SHARES:
        step = max(s for s in saved if generated[s] <= share * budget + 1e-6)
        at[str(share)] = {"step": step, "completions": generated[step], "accuracy": accuracy(run, saved[step])}
    metrics = result["metrics"]
    return {
        "accuracy_at_share": at,
        "final_accuracy": accuracy(run, saved[max(saved)]),
        "final_completions": total,
        "steps_with_signal": metrics["steps_with_signal"],
        "groups_with_signal": metrics["groups_with_signal"],
        "prompts_skipped": metrics.get("prompts_skipped", 0),
        "grpo_seconds": round(result["seconds"], 1),
        "groups_with_signal_curve": [[h["step"], round(h["groups_with_signal"], 4)] for h in logs],
    }


def run(seed: int, path: str, out: Path, max_draws: int, extra: tuple = ()) -> dict:
    shipped_dir, dynamic_dir = out / "shipped", out / "dynamic"
    wall, results = run_recipe_process(RECIPE, seed, path, shipped_dir, ("distill", "grpo"), tuple(SAVE))
    budget = 100 * 32
    shipped = grpo_figures(shipped_dir / "tiny-reasoner", budget)
    shutil.copytree(shipped_dir, dynamic_dir)
    shutil.rmtree(dynamic_dir / "tiny-reasoner" / "grpo")
    overrides = (*SAVE, f"stages.grpo.dynamic_sampling={{max_draws: {max_draws}}}", *extra)
    run_recipe_process(RECIPE, seed, path, dynamic_dir, ("distill", "grpo"), overrides)
    dynamic = grpo_figures(dynamic_dir / "tiny-reasoner", budget)
    return {
        "seed": seed,
        "path": path,
        "distill_accuracy": results["eval_distill"]["metrics"]["accuracy@inf"],
        "shipped": shipped,
        "dynamic": dynamic,
        "commit": commit(),
    }


def at_shares(arms: list[dict]) -> dict:
    """accuracy_at_<share>: mean +- SE over the runs' `arms` (each with its `accuracy_at_share`)."""
    return {f"accuracy_at_{s}": spread([a["accuracy_at_share"][str(s)]["accuracy"] for a in arms]) for s in SHARES}


def paired_at_shares(later: list[dict], earlier: list[dict]) -> dict:
    """accuracy_at_<share>: mean +- SE over runs of later - earlier, run by run (a paired difference)."""
    return {
        f"accuracy_at_{s}": spread(
            [
                a["accuracy_at_share"][str(s)]["accuracy"] - b["accuracy_at_share"][str(s)]["accuracy"]
                for a, b in zip(later, earlier)
            ]
        )
        for s in SHARES
    }


def summary(runs: list[dict]) -> dict:
    out = {}
    for path in sorted({r["path"] for r in runs}):
        mine = [r for r in runs if r["path"] == path]
        figures = {}
        for variant in ("shipped", "dynamic"):
            v = [r[variant] for r in mine]
            figures[variant] = {
                **at_shares(v),
                "final_accuracy": spread([x["final_accuracy"] for x in v]),
                "steps_with_signal": spread([x["steps_with_signal"] for x in v]),
                "groups_with_signal": spread([x["groups_with_signal"] for x in v]),
                "grpo_seconds": spread([x["grpo_seconds"] for x in v]),
                "prompts_skipped": spread([x.get("prompts_skipped", 0) for x in v]),
            }
        figures["paired_dynamic_minus_shipped"] = paired_at_shares(
            [r["dynamic"] for r in mine], [r["shipped"] for r in mine]
        )
        figures["distill_accuracy"] = spread([r["distill_accuracy"] for r in mine])
        out[path] = figures
    return out


def main():
    parser = sweep_parser(["default", "fp32_avx2"], __doc__)
    parser.add_argument("--max-draws", type=int, default=3)
    parser.add_argument("--name", default="dynamic_sampling")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="a `ponder run` override for the dynamic run"
    )
    parser.add_argument("--append", action="store_true", help="add the runs to NAME.json's earlier ones")
    args = parser.parse_args()
    earlier = json.loads((RESULTS / f"{args.name}.json").read_text()) if args.append else {"runs": []}
    if args.append and (earlier["max_draws"], earlier.get("overrides", [])) != (args.max_draws, args.set):
        ran = f"max_draws {earlier['max_draws']} with {earlier.get('overrides', [])}"
        sys.exit(f"{args.name}.json ran {ran}: --append needs the same --max-draws and --set")
    runs = earlier["runs"] + sweep(lambda seed, path, out: run(seed, path, out, args.max_draws, tuple(args.set)), args)
    results = {"machine": machine(), "recipe": RECIPE, "max_draws": args.max_draws, "overrides": args.set}
    write_results(args.name, {**results, "runs": runs, "summary": summary(runs)})


if __name__ == "__main__":
    main()
