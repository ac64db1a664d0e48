"""The default recipe's robustness sweep: seeds 0/1/2 x {fp32 on AVX2 kernels, the machine's default path}.

    python bench/default_recipe.py [--seeds 0 1 2] [--paths fp32_avx2 default]

Each run is README's command, `ponder run configs/tiny/reasoner.yaml`, in its own process with `seed=S`; the
fp32 path adds `trainer: {bf16: false}` to every training stage and runs with ATEN_CPU_CAPABILITY=avx2 (how a
2-core AVX2 CPU without native bf16 computes). On a CPU without native bf16 both paths are fp32. Writes
bench/results/default_recipe.json: per run the wall time, the eval figures, where distill's loss left the
copying plateau, and whether each of the issue's criteria holds; min/max across runs; and
bench/results/default_recipe_loss.png with the distill loss curves of all runs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, machine, run_recipe_process, sweep, sweep_parser, write_results  # noqa: E402

TRAINING_STAGES = ("distill", "grpo")
BUDGETS = ("0", "8", "16", "24", "inf")
PLATEAU = 0.3  # distill's whole-text loss sits at ~0.44 while the model cannot copy; below 0.3 it can


def run(seed: int, path: str, out: Path) -> dict:
    wall, results = run_recipe_process("configs/tiny/reasoner.yaml", seed, path, out, TRAINING_STAGES)
    run_dir = out / "tiny-reasoner"
    metrics = {stage: result["metrics"] for stage, result in results.items()}
    losses = [
        (h["step"], h["loss"]) for h in json.loads((run_dir / "distill/log_history.json").read_text()) if "loss" in h
    ]
    base, distill, grpo = metrics["eval_base"], metrics["eval_distill"], metrics["eval_grpo"]
    curve = [distill[f"accuracy@{b}"] for b in BUDGETS]
    figures = {
        "seed": seed,
        "path": path,
        "wall_seconds": round(wall, 1),
        "distill_seconds": round(results["distill"]["seconds"], 1),
        "base_direct": base["direct_accuracy"],
        "distill_thinking": distill["accuracy@inf"],
        "grpo_thinking": grpo["accuracy@inf"],
        "distill_budget_curve": dict(zip(BUDGETS, curve)),
        "grpo_budget_curve": {b: grpo[f"accuracy@{b}"] for b in BUDGETS},
        "distill_s1_control": distill["s1_control"],
        "grpo_s1_control": grpo["s1_control"],
        "distill_s1_scaling": distill["s1_scaling"],
        "grpo_s1_scaling": grpo["s1_scaling"],
        "plateau_left_at_step": next((step for step, loss in losses if loss < PLATEAU), None),
        "distill_loss_last": losses[-1][1],
        "distill_losses": losses,
    }
    figures["criteria"] = {
        "distill_beats_base_direct_by_0.50": figures["distill_thinking"] >= figures["base_direct"] + 0.50,
        "grpo_beats_distill_by_0.05": figures["grpo_thinking"] >= figures["distill_thinking"] + 0.05,
        "control_1": figures["distill_s1_control"] == 1.0 and figures["grpo_s1_control"] == 1.0,
        "accuracy_non_decreasing_in_max_budget": all(a <= b for a, b in zip(curve, curve[1:])),
        "s1_scaling_positive": figures["distill_s1_scaling"] > 0 and figures["grpo_s1_scaling"] > 0,
        "left_the_plateau": figures["plateau_left_at_step"] is not None,
    }
    return figures


def plot(runs: list[dict], path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for r in runs:
        steps, losses = zip(*r["distill_losses"])
        ax.plot(steps, losses, "-" if r["path"] == "default" else "--", label=f"seed {r['seed']}, {r['path']}")
    ax.axhline(PLATEAU, color="grey", lw=0.5)
    ax.set(xlabel="distill step", ylabel="training loss (whole text)", title="tiny reasoner: distill, 6 runs")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    runs = sweep(run, sweep_parser(["fp32_avx2", "default"], __doc__).parse_args())
    keys = (
        "wall_seconds",
        "distill_seconds",
        "base_direct",
        "distill_thinking",
        "grpo_thinking",
        "distill_s1_scaling",
        "grpo_s1_scaling",
        "plateau_left_at_step",
    )
    figures = {
        "machine": machine(),
        "runs": runs,
        "range": {k: [min(r[k] for r in runs), max(r[k] for r in runs)] for k in keys},
        "all_criteria_hold_on_every_run": all(all(r["criteria"].values()) for r in runs),
    }
    plot(runs, RESULTS / "default_recipe_loss.png")
    write_results("default_recipe", figures)


if __name__ == "__main__":
    main()
