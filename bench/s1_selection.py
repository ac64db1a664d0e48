"""s1 selection vs random selection from one four-domain pool, over seeds: `configs/tiny/s1_multidomain.yaml`.

    python bench/s1_selection.py [--seeds 0 1 2] [--paths default]

Each run is `ponder run configs/tiny/s1_multidomain.yaml seed=S` in its own process (the pool, the judge, both
selections, both distillations and both evals follow the seed). Writes bench/results/s1_selection.json: per run
the held-out accuracy of each selection (overall and per domain), what the selections hold (domains, difficulty),
and across runs the mean and standard error of each and of their difference (s1 - random).
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, run_recipe_process, sweep, write_results  # noqa: E402

TRAINING_STAGES = ("judge", "distill_s1", "distill_random")
DOMAINS = ("running_sum", "addition", "last_letters", "letter_count")


def selection_figures(curate: dict, evaluation: dict) -> dict:
    levels = {
        k.removeprefix("selected_"): v for k, v in curate.items() if k.startswith("selected_") and k[-1].isdigit()
    }
    return {
        "accuracy": evaluation["accuracy@inf"],
        "accuracy_by_domain": {d: evaluation[f"accuracy@inf_{d}"] for d in DOMAINS},
        "selected_by_domain": {d: sum(v for k, v in levels.items() if k.startswith(d + "_")) for d in DOMAINS},
        "mean_trace_chars_selected": curate["mean_trace_chars_selected"],
        "judge_dropped": curate.get("dropped_judge0_solved", 0),
    }


def run(seed: int, path: str, out: Path) -> dict:
    wall, results = run_recipe_process("configs/tiny/s1_multidomain.yaml", seed, path, out, TRAINING_STAGES)
    m = {stage: result["metrics"] for stage, result in results.items()}
    return {
        "seed": seed,
        "path": path,
        "wall_seconds": round(wall, 1),
        "judge_accuracy_on_pool": 1 - m["curate_s1"]["after_difficulty"] / m["curate_s1"]["after_quality"],
        "s1": selection_figures(m["curate_s1"], m["eval_s1"]),
        "random": selection_figures(m["curate_random"], m["eval_random"]),
    }


def mean_se(values: list[float]) -> dict:
    se = statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else None
    return {"mean": round(statistics.fmean(values), 4), "se": round(se, 4) if se is not None else None}


def main():
    runs = sweep(run, ["default"])
    summary = {}
    for path in dict.fromkeys(r["path"] for r in runs):
        mine = [r for r in runs if r["path"] == path]
        summary[path] = {
            "s1_accuracy": mean_se([r["s1"]["accuracy"] for r in mine]),
            "random_accuracy": mean_se([r["random"]["accuracy"] for r in mine]),
            "s1_minus_random": mean_se([r["s1"]["accuracy"] - r["random"]["accuracy"] for r in mine]),
            "by_domain": {
                d: {
                    "s1": mean_se([r["s1"]["accuracy_by_domain"][d] for r in mine]),
                    "random": mean_se([r["random"]["accuracy_by_domain"][d] for r in mine]),
                }
                for d in DOMAINS
            },
        }
    write_results("s1_selection", {"machine": machine(), "runs": runs, "summary": summary})


if __name__ == "__main__":
    main()
