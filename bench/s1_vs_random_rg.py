"""s1 vs random selection on SmolLM2-135M and two reasoning-gym tasks, 3 seeds, from two recipe_seeds runs.

    python bench/recipe_seeds.py configs/smollm2-135m/rg-reasoner.yaml smollm2_rg_reasoner_seeds \\
        --compare eval_grpo:eval_sft                      # the random arm: its curate (random) and eval_sft
    python bench/recipe_seeds.py configs/smollm2-135m/rg-s1.yaml smollm2_rg_s1_seeds    # the s1 arm
    python bench/s1_vs_random_rg.py

and on the fp32/AVX2 path the same two with `--paths fp32_avx2` into smollm2_rg_reasoner_fp32_avx2_seeds and
smollm2_rg_s1_fp32_avx2_seeds (read too when present; runs pair by numeric path and seed).

Both recipes draw the same pool per seed (300 questions per task, programmatic traces, the same decontamination),
select 400 traces (random; s1: quality -> drop what the base SmolLM2 answers -> domain-uniform long traces), run the
same LoRA SFT and the same eval (200 held-out questions per task). The random arm is not run twice: its figures are
the reasoner recipe's eval_sft, seed for seed. Writes bench/results/smollm2_rg_s1_vs_random.json: per seed both
arms' greedy accuracy (overall, per task), pass@1 and pass@8, and across seeds the mean, standard error and range of
each arm and of the paired difference s1 - random.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, write_results  # noqa: E402
from recipe_seeds import spread  # noqa: E402

KEYS = ("accuracy@inf", "accuracy@inf_chain_sum", "accuracy@inf_leg_counting", "pass@1", "pass@8")


def arm(run: dict) -> dict:
    return {key: run["stages"]["eval_sft"][key] for key in KEYS} | {
        "mean_trace_chars_selected": run["stages"]["curate"]["mean_trace_chars_selected"],
        "judge_dropped": run["stages"]["curate"].get("dropped_judge0_solved", 0),
    }


def results_of(name: str) -> list[dict]:
    """bench/results/NAME_seeds.json and its fp32/AVX2 twin NAME_fp32_avx2_seeds.json if present, each read once."""
    files = [RESULTS / f"{name}_seeds.json", RESULTS / f"{name}_fp32_avx2_seeds.json"]
    return [json.loads(f.read_text()) for f in files if f.exists()]


def main():
    random_results, s1_results = results_of("smollm2_rg_reasoner"), results_of("smollm2_rg_s1")
    by_seed = {(r["path"], r["seed"]): r for result in random_results for r in result["runs"]}
    runs = []
    for s1 in (r for result in s1_results for r in result["runs"]):
        random = by_seed.get((s1["path"], s1["seed"]))
        if random is not None:
            runs.append({"seed": s1["seed"], "path": s1["path"], "s1": arm(s1), "random": arm(random)})
    summary = {}
    for path in dict.fromkeys(r["path"] for r in runs):
        mine = [r for r in runs if r["path"] == path]
        summary[path] = {side: {k: spread([r[side][k] for r in mine]) for k in KEYS} for side in ("s1", "random")} | {
            "s1_minus_random": {k: spread([r["s1"][k] - r["random"][k] for r in mine]) for k in KEYS}
        }
    write_results(
        "smollm2_rg_s1_vs_random",
        {
            "machine": s1_results[0]["machine"],
            "recipes": [random_results[0]["recipe"], s1_results[0]["recipe"]],
            "runs": runs,
            "summary": summary,
        },
    )


if __name__ == "__main__":
    main()
