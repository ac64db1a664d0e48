"""s1 selection vs random selection from one four-domain pool, over seeds: `configs/tiny/s1_multidomain.yaml`.

    python bench/s1_selection.py [--seeds 0 1 2] [--paths default fp32_avx2]

Each run is `ponder run configs/tiny/s1_multidomain.yaml seed=S stages.curate_*.target=T` in its own process (the
pool, the judge, both selections, both distillations and both evals follow the seed), for T = 100 (s1's regime:
few examples from a large pool, 3% of it here) and T = 600 (plenty: both selections teach every domain).
Writes bench/results/s1_selection.json (`_fp32_avx2` for that path alone): per run the held-out accuracy of each
selection (overall, per domain, on short and long questions), what the selections hold, and across runs the mean
and standard error of each and of their difference (s1 - random).
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, run_recipe_process, sweep, sweep_parser, write_results  # noqa: E402

TRAINING_STAGES = ("judge", "distill_s1", "distill_random")
DOMAINS = ("running_sum", "running_difference", "running_max", "odd_count")
TARGETS = (100, 600)
SHORT, LONG = (3, 4, 5), (6, 7, 8)  # digits: s1's long-trace preference selects only 7-8


def selection_figures(curate: dict, evaluation: dict) -> dict:
    levels = {
        k.removeprefix("selected_"): v for k, v in curate.items() if k.startswith("selected_") and k[-1].isdigit()
    }
    return {
        "accuracy": evaluation["accuracy@inf"],
        "accuracy_by_domain": {d: evaluation[f"accuracy@inf_{d}"] for d in DOMAINS},
        "accuracy_short": level_accuracy(evaluation, SHORT),
        "accuracy_long": level_accuracy(evaluation, LONG),
        "selected_by_domain": {d: sum(v for k, v in levels.items() if k.startswith(d + "_")) for d in DOMAINS},
        "mean_trace_chars_selected": curate["mean_trace_chars_selected"],
        "judge_dropped": curate.get("dropped_judge0_solved", 0),
    }


def level_accuracy(evaluation: dict, levels: tuple) -> float:
    """Mean of the per-(domain, digits) accuracies at these digit counts (each cell ~17 questions of 100)."""
    return round(statistics.fmean(evaluation[f"accuracy@inf_{d}_{n}"] for d in DOMAINS for n in levels), 4)


def run(seed: int, path: str, out: Path) -> dict:
    figures = {"seed": seed, "path": path}
    for target in TARGETS:
        overrides = (f"stages.curate_s1.target={target}", f"stages.curate_random.target={target}")
        folder = out / str(target)
        folder.mkdir()
        wall, results = run_recipe_process(
            "configs/tiny/s1_multidomain.yaml", seed, path, folder, TRAINING_STAGES, overrides
        )
        m = {stage: result["metrics"] for stage, result in results.items()}
        figures[f"target_{target}"] = {
            "wall_seconds": round(wall, 1),
            "judge_accuracy_on_pool": 1 - m["curate_s1"]["after_difficulty"] / m["curate_s1"]["after_quality"],
            "s1": selection_figures(m["curate_s1"], m["eval_s1"]),
            "random": selection_figures(m["curate_random"], m["eval_random"]),
        }
    return figures


def mean_se(values: list[float]) -> dict:
    se = statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else None
    return {"mean": round(statistics.fmean(values), 4), "se": round(se, 4) if se is not None else None}


def main():
    runs = sweep(run, sweep_parser(["default"], __doc__).parse_args())
    summary = {}
    for path in dict.fromkeys(r["path"] for r in runs):
        for target in TARGETS:
            mine = [r[f"target_{target}"] for r in runs if r["path"] == path]
            summary[f"{path}_target_{target}"] = {
                **{
                    f"{which}_{key}": mean_se([r[which][key] for r in mine])
                    for key in ("accuracy", "accuracy_short", "accuracy_long")
                    for which in ("s1", "random")
                },
                "s1_minus_random": mean_se([r["s1"]["accuracy"] - r["random"]["accuracy"] for r in mine]),
                "by_domain": {
                    d: {w: mean_se([r[w]["accuracy_by_domain"][d] for r in mine]) for w in ("s1", "random")}
                    for d in DOMAINS
                },
            }
    paths = "".join(f"_{path}" for path in dict.fromkeys(r["path"] for r in runs) if path != "default")
    write_results(f"s1_selection{paths}", {"machine": machine(), "runs": runs, "summary": summary})


if __name__ == "__main__":
    main()
