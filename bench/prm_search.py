"""PRM-guided test-time search: accuracy vs N for majority vote (the baseline without a PRM), PRM-weighted
vote, best-of-N, beam search and DVTS, with generated tokens per question.

    python bench/prm_search.py

A tiny PRM is trained through ponder's own stages (prm_label on a programmatic letter-count policy that
errs per step, then prm), and a tiny policy through the sft stage. Two policies are searched:
1. `task`: the programmatic policy with a 25% per-step error rate (exact control), N = 1..32, 100 questions;
2. `model`: the SFT'd tiny model stepping through its own reasoning (sampled at temperature 1.0), N = 1..16,
   30 questions (step-wise HF generation is the slow part on CPU).
Writes bench/results/prm_search.json and bench/results/prm_search.png.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, write_results  # noqa: E402

RECIPE = """name: bench
output_dir: {out}
model: {{name_or_path: "tiny:tiny"}}
stages:
  - {{name: questions, kind: task_data, tasks: [letter_count], size: 600, difficulty: {{letter_count: [1, 1]}}}}
  - {{name: label, kind: prm_label, data: questions, policy: task, policy_error_rate: 0.15, solutions: 2, rollouts: 8}}
  - name: prm
    kind: prm
    data: label
    step_separator: "\\n\\n"
    eval_size: 100
    trainer: {{max_steps: 300, per_device_train_batch_size: 32, learning_rate: 2.0e-3, lr_scheduler_type: cosine,
              warmup_steps: 20, logging_steps: 50, save_steps: 1000}}
  - {{name: policy_data, kind: task_data, tasks: [letter_count], size: 2000,
      difficulty: {{letter_count: [1, 1]}}, seed_offset: 3}}
  - name: policy
    kind: sft
    data: policy_data
    lora: null
    trainer: {{max_steps: 150, per_device_train_batch_size: 32, learning_rate: 3.0e-3,
               logging_steps: 50, save_steps: 1000}}
"""
METHODS = ["majority", "weighted", "best_of_n", "beam", "dvts"]


def main():
    from ponder.data.tasks import task_rows
    from ponder.inference.prm import PRMScorer
    from ponder.inference.search import prm_score_fn
    from ponder.inference.search_eval import search_curves
    from ponder.inference.step_samplers import ModelStepSampler, TaskStepSampler
    from ponder.models.loading import load_for_inference
    from ponder.models.thinking import ThinkingConfig
    from ponder.recipes.runner import run_recipe
    from ponder.recipes.schema import load_recipe

    thinking, figures, plots = ThinkingConfig(), {}, {}
    out = Path(tempfile.mkdtemp(prefix="prm_search_"))
    (out / "bench.yaml").write_text(RECIPE.format(out=out / "runs"))
    start = time.perf_counter()
    results = run_recipe(load_recipe(out / "bench.yaml"))
    figures["setup_s"] = round(time.perf_counter() - start, 1)
    figures["prm_heldout_step_f1"] = round(results["prm"]["metrics"]["step_f1"], 3)
    score = prm_score_fn(PRMScorer.from_pretrained(str(out / "runs/bench/prm/checkpoint")), thinking.answer_prefix)
    model, tokenizer, _ = load_for_inference(str(out / "runs/bench/policy/checkpoint"))
    policies = {
        "task": (TaskStepSampler(error_rate=0.25, seed=3), [1, 2, 4, 8, 16, 32], 100),
        "model": (ModelStepSampler(model, tokenizer, thinking, temperature=1.0), [1, 4, 16], 30),
    }
    for name, (sampler, ns, size) in policies.items():
        rows = task_rows(["letter_count"], size, seed=20_000, difficulty={"letter_count": [1, 1]})
        start = time.perf_counter()
        curves = search_curves(sampler, score, rows, ns, 4, METHODS, thinking)
        figures[f"{name}_search_s"] = round(time.perf_counter() - start, 1)
        for method, points in curves.items():
            for n, accuracy, tokens in points:
                figures[f"{name}_{method}_accuracy@{n}"] = round(accuracy, 3)
                figures[f"{name}_{method}_tokens_per_question@{n}"] = round(tokens, 1)
        top = max(ns)
        majority = curves["majority"][-1][1]
        for method in ("weighted", "best_of_n", "beam", "dvts"):
            figures[f"{name}_{method}_vs_majority_accuracy_ratio@{top}"] = round(
                curves[method][-1][1] / max(majority, 1e-9), 3
            )
        plots[name] = curves
    write_results("prm_search", figures)
    plot(plots, RESULTS / "prm_search.png")


def plot(plots: dict, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ponder.recipes.report import plot_search

    fig, axes = plt.subplots(1, len(plots), figsize=(5 * len(plots), 3.4))
    for ax, (name, curves) in zip(axes, plots.items()):
        plot_search(ax, curves, f"letter_count, {name} policy")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
