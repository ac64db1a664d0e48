"""Compute-optimal test-time scaling vs fixed search methods, on the same questions, PRM and policy.

    python bench/compute_optimal.py [--questions 240] [--error-rate 0.1] [--path default|fp32_avx2]
    python bench/compute_optimal.py --policies models [--questions 240] [--seed 0] [--path default|fp32_avx2]

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

`--policies models`: Snell et al.'s exchange rate with trained policies on running sums. Small: ponder's `micro`
preset (~0.1M parameters) pretrained by configs/tiny/pretrain.yaml (as the shipped copy-base was; its copy stage
at lr 3e-3, where micro leaves the copying plateau) and distilled STEPS steps (lr 3e-3) on 1,000 random verified
traces; large: the shipped copy-base (`tiny`, ~10x the parameters), distilled the same steps on the same traces at
its lr (1e-3). STEPS is where the small policy is partly right (it leaves the running-sum plateau at ~1,200-1,500
steps; 400 left it at chance, 1,500 at 1.0). PRM: the large policy's body (a micro PRM did not learn to find
errors, step F1 0.14-0.19), trained on Monte Carlo labels of a programmatic policy erring per step; its reads
cost ~10 small-policy tokens each. Difficulty is predicted by agreement among 4 probe samples (no PRM read). The
eval stage's compute-optimal mode fits the small policy's allocation and sets it against the large policy's
majority vote of 1 and 4 samples at matched inference FLOPs per difficulty bin (`search.reference`). The sample
methods also run under max thinking budgets THINK (s1 budget forcing per sample, the sequential axis). `--seed`
seeds both pretraining and the bench recipe; `--path fp32_avx2` turns bf16 off in every training stage (run it with
ATEN_CPU_CAPABILITY=avx2). Writes bench/results/compute_optimal_models[_seedN][_fp32_avx2].json (+ png).
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
STEPS = 1350
THINK = [None, 8, 14, 20]  # running sums of 3-8 digits think 8-23 tokens: each cap cuts the longer ones
DISTILL = (
    "{{max_steps: {steps}, per_device_train_batch_size: 64, learning_rate: {lr}, lr_scheduler_type: constant, "
    "completion_only_loss: false, logging_steps: 50, save_steps: 5000{fp32}}}"
)
MODELS_RECIPE = """name: bench
output_dir: {out}
model: {{name_or_path: "{small_base}", attn_implementation: eager}}
seed: {seed}
stages:
  - {{name: curate, kind: curate, tasks: [running_sum], pool_size: 5000, target: 1000, selection: random,
      teacher: {{kind: programmatic, flaw_rate: 0.1}},
      decontaminate: [{{task: running_sum, size: {questions}, seed: 10000}}]}}
  - {{name: small, kind: sft, data: curate, lora: null, trainer: {small_distill}}}
  - {{name: large, kind: sft, data: curate, init: "{large_base}", lora: null, trainer: {large_distill}}}
  - {{name: questions, kind: task_data, tasks: [running_sum], size: 600, seed_offset: 21}}
  - {{name: label, kind: prm_label, data: questions, policy: task, policy_error_rate: 0.15, solutions: 1,
      rollouts: 8}}
  - name: prm
    kind: prm
    init: large
    data: label
    step_separator: "\\n\\n"
    eval_size: 100
    trainer: {{max_steps: 300, per_device_train_batch_size: 32, learning_rate: 1.0e-3, lr_scheduler_type: cosine,
              warmup_steps: 20, logging_steps: 50, save_steps: 1000{fp32}}}
  - name: eval
    kind: eval
    init: small
    tasks: [running_sum]
    size: 100
    budgets: [null]
    min_budgets: []
    samples: 1
    max_new_tokens: 48
    search: {{prm: prm, mode: compute_optimal, reference: large, size: {questions}, n: {ns}, width: 4,
              budgets: [64, 128, 256, 512, 1024, 2048, 4096], max_step_tokens: 8, predictor: agreement, probe: 4,
              think: {think}}}
"""


def plot(result: dict, path: Path, title: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ponder.recipes.report import plot_compute_optimal

    fig, ax = plt.subplots(figsize=(6.5, 4))
    plot_compute_optimal(ax, result, title)
    co = result["compute_optimal"]
    ax.plot([p["oracle_cost"] for p in co], [p["oracle_accuracy"] for p in co], "k+--", lw=1, label="oracle bins")
    other = [p["other_leftover"] for p in co]
    label = f"leftover budget: {other[0]['leftover']}"
    ax.plot([p["cost"] for p in other], [p["accuracy"] for p in other], "mx:", lw=1, label=label)
    ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def models_main(questions: int, seed: int, path: str):
    """The exchange rate with trained micro (small) and tiny (large) policies: see the module docstring."""
    import json
    import subprocess

    from ponder.models.modeling import TINY_PRESETS
    from ponder.recipes.runner import run_recipe
    from ponder.recipes.schema import load_recipe

    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as out:
        start = time.time()
        pretrain = [sys.executable, "-m", "ponder.recipes.cli", "run", "configs/tiny/pretrain.yaml"]
        # lr 3e-3 for the copy lookup: at tiny's 1e-3 micro stayed on the copying plateau (loss 0.36 after 1,500
        # steps, copy accuracy 0.19); at 3e-3 it leaves it at ~1,000 steps (copy 1.0, running sums at chance)
        small = ["model.name_or_path=tiny:micro", "stages.copy.trainer.learning_rate=3.0e-3", f"output_dir={out}"]
        small.append(f"seed={seed}")
        if path == "fp32_avx2":
            small += ["stages.copy.trainer.bf16=false", "stages.pretrain.trainer.bf16=false"]
        subprocess.run([*pretrain, *small], cwd=root, check=True)
        pretrain_seconds = time.time() - start
        base = Path(out) / "tiny-pretrain"
        pretrain_eval = json.loads((base / "eval" / "result.json").read_text())["metrics"]
        recipe = Path(out) / "bench.yaml"
        fp32 = ", bf16: false" if path == "fp32_avx2" else ""
        recipe.write_text(
            MODELS_RECIPE.format(
                out=out,
                small_base=base / "pretrain" / "checkpoint",
                large_base=root / "configs" / "tiny" / "copy-base",
                questions=questions,
                small_distill=DISTILL.format(steps=STEPS, lr="3.0e-3", fp32=fp32),
                large_distill=DISTILL.format(steps=STEPS, lr="1.0e-3", fp32=fp32),
                ns=NS,
                seed=seed,
                fp32=fp32,
                think=json.dumps(THINK),
            )
        )
        start = time.time()
        results = run_recipe(load_recipe(recipe))
        seconds = {name: r.get("seconds") for name, r in results.items()}
        curves = json.loads((Path(out) / "bench" / "eval" / "curves.json").read_text())["compute_optimal"]
        curves["allocation"] = json.loads((Path(out) / "bench" / "eval" / "allocation.json").read_text())
    metrics = {name: r["metrics"] for name, r in results.items()}
    figures = {
        "machine": machine(),
        "setup": {
            "seed": seed,
            "path": path,
            "think_caps": THINK,
            "task": "running_sum",
            "small_preset": TINY_PRESETS["micro"],
            "large_preset": TINY_PRESETS["tiny"],
            "size_ratio": curves["exchange_rate"]["size_ratio"],
            "pretrain_small_seconds": round(pretrain_seconds, 1),
            "pretrain_small_eval": {k: v for k, v in pretrain_eval.items() if k.startswith("accuracy@inf")},
            "small_distill_loss_last": metrics["small"]["loss_last"],
            "large_distill_loss_last": metrics["large"]["loss_last"],
            "small_greedy_accuracy": metrics["eval"]["accuracy@inf"],
            "prm_step_f1": metrics["prm"].get("step_f1"),
            "prm_untrained_step_f1": metrics["prm"].get("untrained_step_f1"),
            "stage_seconds": seconds,
        },
        **curves,
    }
    name = "compute_optimal_models" + (f"_seed{seed}" if seed else "") + ("" if path == "default" else f"_{path}")
    plot(curves, RESULTS / f"{name}.png", f"running sums, distilled micro policy + PRM (seed {seed}, {path})")
    write_results(name, figures)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--policies", default="task", choices=["task", "models"])
    parser.add_argument("--questions", type=int, default=240)
    parser.add_argument("--error-rate", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0, help="--policies models: the recipes' seed")
    parser.add_argument(
        "--path",
        default="default",
        choices=["default", "fp32_avx2"],
        help="fp32_avx2: train with bf16 off (run with ATEN_CPU_CAPABILITY=avx2): a CPU without native bf16",
    )
    args = parser.parse_args()
    if args.policies == "models":
        return models_main(args.questions, args.seed, args.path)
    from ponder.data.tasks import task_rows
    from ponder.inference.compute_optimal import strategy_grid
    from ponder.inference.prm import PRMScorer
    from ponder.inference.search import prm_score_fn
    from ponder.inference.search_eval import OptimalSettings, compute_optimal_eval
    from ponder.inference.step_samplers import TaskStepSampler
    from ponder.models.thinking import ThinkingConfig
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
        OptimalSettings(prm_tokens=lambda: scorer.tokens_read),
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
    plot(result, RESULTS / f"{name}.png", "letter counts, 1-3 words: fixed methods vs compute-optimal")
    write_results(name, figures)


if __name__ == "__main__":
    main()
