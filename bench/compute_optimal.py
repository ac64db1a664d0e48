"""Compute-optimal test-time scaling vs fixed search methods, on the same questions, PRM and policy.

    python bench/compute_optimal.py [--questions 240] [--error-rate 0.12]

Setup (all built here, no downloads):
- Questions: letter counts (`letter_count`: count one letter in 1-3 joined words, a running count per letter),
  so difficulty spans easy (one word, ~5 steps) to hard (three words, 16 steps).
- Policy: ponder's programmatic step policy (`TaskStepSampler`): the task's solver erring on each step with
  probability `--error-rate`, independently (errors are not systematic: resampling can fix them, which is what
  makes search matter), one token per character as the tiny models tokenise.
- PRM: a tiny Qwen2 (0.9M parameters, random init) trained through ponder's prm_label (Monte Carlo labels, 8
  rollouts per step prefix, from the same policy) and prm stages (400 steps). (From the copy-pretrained base on
  running sums, 400 steps left the PRM at step F1 0.18, no better than its untrained head: useless for search.)
- Cost per question: tokens the policy writes plus tokens the PRM reads (weight 1: the PRM is as large as a tiny
  policy); FLOPs = 2 x 0.9M x cost.
Every strategy (majority / PRM-weighted vote / best-of-N at N = 1..16; beam and DVTS at N = 4..16, width 2 and 4)
runs on every question; the allocation is fitted on half the questions and scored on the other half.
Writes bench/results/compute_optimal.json and bench/results/compute_optimal.png.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, machine, write_results  # noqa: E402

RECIPE = """name: bench
output_dir: {out}
model: {{name_or_path: "tiny:tiny"}}
stages:
  - {{name: questions, kind: task_data, tasks: [letter_count], size: 1200, seed_offset: 21}}
  - {{name: label, kind: prm_label, data: questions, policy: task, policy_error_rate: {error_rate}, solutions: 2,
      rollouts: 8}}
  - name: prm
    kind: prm
    data: label
    step_separator: "\\n\\n"
    eval_size: 100
    trainer: {{max_steps: 400, per_device_train_batch_size: 32, learning_rate: 2.0e-3, lr_scheduler_type: cosine,
              warmup_steps: 20, logging_steps: 50, save_steps: 1000{fp32}}}
"""
NS = [1, 2, 4, 8, 16]


def plot(result: dict, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ponder.recipes.report import plot_compute_optimal

    fig, ax = plt.subplots(figsize=(6.5, 4))
    plot_compute_optimal(ax, result, "letter counts, 1-3 words: fixed methods vs compute-optimal")
    co = result["compute_optimal"]
    ax.plot([p["oracle_cost"] for p in co], [p["oracle_accuracy"] for p in co], "k+--", lw=1, label="oracle bins")
    ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=int, default=240)
    parser.add_argument("--error-rate", type=float, default=0.1)
    parser.add_argument(
        "--path",
        default="default",
        choices=["default", "fp32_avx2"],
        help="fp32_avx2: train the PRM with bf16 off (run with ATEN_CPU_CAPABILITY=avx2): a CPU without native bf16",
    )
    args = parser.parse_args()
    from ponder.data.search_eval import compute_optimal_eval
    from ponder.data.step_samplers import TaskStepSampler
    from ponder.data.tasks import task_rows
    from ponder.inference.compute_optimal import strategy_grid
    from ponder.inference.prm import PRMScorer
    from ponder.inference.search import prm_score_fn
    from ponder.inference.thinking import ThinkingConfig
    from ponder.recipes.runner import run_recipe
    from ponder.recipes.schema import load_recipe

    thinking = ThinkingConfig()
    with tempfile.TemporaryDirectory() as out:
        recipe = Path(out) / "bench.yaml"
        fp32 = ", bf16: false" if args.path == "fp32_avx2" else ""
        recipe.write_text(RECIPE.format(out=out, error_rate=args.error_rate, fp32=fp32))
        start = time.time()
        prm_metrics = run_recipe(load_recipe(recipe))["prm"]["metrics"]
        prm_seconds = time.time() - start
        scorer = PRMScorer.from_pretrained(str(Path(out) / "bench" / "prm" / "checkpoint"))
    rows = task_rows(["letter_count"], args.questions, seed=10_000)
    strategies = strategy_grid(["majority", "weighted", "best_of_n"], NS) + strategy_grid(
        ["beam", "dvts"], [4, 8, 16], widths=[2, 4]
    )
    sampler = TaskStepSampler(args.error_rate, seed=0)
    budgets = [128, 256, 512, 1024, 2048, 4096]  # a letter-count sample costs ~114 tokens with its PRM reads
    start = time.time()
    result = compute_optimal_eval(
        sampler,
        prm_score_fn(scorer, thinking.answer_prefix),
        rows,
        strategies,
        thinking,
        budgets,
        prm_tokens=lambda: scorer.tokens_read,
    )
    result["allocation"], result["oracle_allocation"] = (
        asdict(result["allocation"]),
        asdict(result["oracle_allocation"]),
    )
    figures = {
        "machine": machine(),
        "setup": {
            "path": args.path,
            "questions": args.questions,
            "error_rate": args.error_rate,
            "prm_step_f1": prm_metrics.get("step_f1"),
            "prm_untrained_step_f1": prm_metrics.get("untrained_step_f1"),
            "prm_seconds": round(prm_seconds, 1),
            "search_seconds": round(time.time() - start, 1),
            "flops_per_token": 2 * 0.9e6,
        },
        **result,
        "compute_optimal_at_least_best_fixed_at_every_budget": all(
            p["best_fixed_accuracy"] is None or p["accuracy"] >= p["best_fixed_accuracy"]
            for p in result["compute_optimal"]
        ),
    }
    name = "compute_optimal" + ("" if args.path == "default" else f"_{args.path}")
    plot(result, RESULTS / f"{name}.png")
    write_results(name, figures)


if __name__ == "__main__":
    main()
