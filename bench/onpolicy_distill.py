"""On-policy distillation vs off-policy distillation (SFT on the teacher's traces) vs GRPO, on the tiny reasoner.

    python bench/onpolicy_distill.py [--seeds 0 1 2] [--paths default fp32_avx2] [--name NAME] [--append]

Per seed and numeric path: `ponder run configs/tiny/onpolicy.yaml` with a checkpoint every 10 steps in grpo, onpolicy
and sft_teacher. The three arms start from the same distilled model (the student); the teacher is the grpo stage's
final model, so the GRPO arm is the teacher's own path. Every checkpoint is scored greedily on eval_grpo's 200
held-out questions (`common.greedy_pass`), against the tokens the student had processed by then (TRL's `num_tokens`:
prompts and completions the student generated in grpo/onpolicy, the trace rows it was trained on in sft_teacher).
Reported per arm: the curve, the accuracy at 25/50/100% of the tokens GRPO processed in its 100 steps (each arm's last
checkpoint within that budget), its final accuracy and stage seconds (the teacher's trace generation is in
teacher_traces' seconds); per path the mean +- SE over seeds and the paired differences between arms.
Writes bench/results/NAME.json (default onpolicy_distill); `--append` adds the runs to NAME.json's.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, commit, machine, run_recipe_process, sweep, sweep_parser, write_results  # noqa: E402
from dynamic_sampling import SHARES, accuracy, at_shares, paired_at_shares  # noqa: E402
from recipe_seeds import spread  # noqa: E402

RECIPE = "configs/tiny/onpolicy.yaml"
ARMS = ("grpo", "onpolicy", "sft_teacher")
SAVE = [f"stages.{arm}.trainer.{key}" for arm in ARMS for key in ("save_steps=10", "save_total_limit=null")]
TRAINING = ("distill", "grpo", "onpolicy", "sft_teacher")


def arm_curve(run: Path, arm: str) -> list[dict]:
    """[{step, tokens, accuracy}] for every saved checkpoint of `arm`, step 0 being the distilled student."""
    tokens = {
        h["step"]: h["num_tokens"]
        for h in json.loads((run / arm / "log_history.json").read_text())
        if "num_tokens" in h
    }
    saved = sorted((int(p.name.split("-")[1]), p) for p in (run / arm / "trainer").glob("checkpoint-*"))
    return [{"step": step, "tokens": tokens[step], "accuracy": accuracy(run, path)} for step, path in saved]


def at_budget(curve: list[dict], start: float, budget: float) -> dict:
    """The last point of `curve` within `budget` tokens (the start, before any checkpoint, is step 0)."""
    within = [p for p in curve if p["tokens"] <= budget + 1e-6]
    return within[-1] if within else {"step": 0, "tokens": 0, "accuracy": start}


def run(seed: int, path: str, out: Path) -> dict:
    _, results = run_recipe_process(RECIPE, seed, path, out, TRAINING, tuple(SAVE))
    (folder,) = [d for d in out.iterdir() if d.is_dir()]
    student = results["eval_distill"]["metrics"]["accuracy@inf"]
    curves = {arm: arm_curve(folder, arm) for arm in ARMS}
    budget = curves["grpo"][-1]["tokens"]
    arms = {
        arm: {
            "curve": curve,
            "accuracy_at_share": {str(s): at_budget(curve, student, s * budget) for s in SHARES},
            "final_accuracy": curve[-1]["accuracy"],
            "final_tokens": curve[-1]["tokens"],
            "seconds": round(results[arm]["seconds"], 1),
        }
        for arm, curve in curves.items()
    }
    return {
        "seed": seed,
        "path": path,
        "student_accuracy": student,
        "teacher_accuracy": results["eval_grpo"]["metrics"]["accuracy@inf"],
        "teacher_traces": {k: results["teacher_traces"]["metrics"].get(k) for k in ("pool", "selected")},
        "teacher_traces_seconds": round(results["teacher_traces"]["seconds"], 1),
        "arms": arms,
        "commit": commit(),
    }


def summary(runs: list[dict]) -> dict:
    out = {}
    for path in sorted({r["path"] for r in runs}):
        mine = [r for r in runs if r["path"] == path]
        figures = {
            "student_accuracy": spread([r["student_accuracy"] for r in mine]),
            "teacher_accuracy": spread([r["teacher_accuracy"] for r in mine]),
        }
        for arm in ARMS:
            v = [r["arms"][arm] for r in mine]
            figures[arm] = {
                **at_shares(v),
                "final_accuracy": spread([x["final_accuracy"] for x in v]),
                "final_tokens": spread([x["final_tokens"] for x in v]),
                "seconds": spread([x["seconds"] for x in v]),
            }
        for other in ("grpo", "sft_teacher"):
            figures[f"paired_onpolicy_minus_{other}"] = paired_at_shares(
                [r["arms"]["onpolicy"] for r in mine], [r["arms"][other] for r in mine]
            )
        figures["teacher_minus_onpolicy_final"] = spread(
            [r["teacher_accuracy"] - r["arms"]["onpolicy"]["final_accuracy"] for r in mine]
        )
        out[path] = figures
    return out


def main():
    parser = sweep_parser(["default", "fp32_avx2"], __doc__)
    parser.add_argument("--name", default="onpolicy_distill")
    parser.add_argument("--append", action="store_true", help="add the runs to NAME.json's earlier ones")
    args = parser.parse_args()
    earlier = json.loads((RESULTS / f"{args.name}.json").read_text())["runs"] if args.append else []
    runs = earlier + sweep(run, args)
    write_results(args.name, {"machine": machine(), "recipe": RECIPE, "runs": runs, "summary": summary(runs)})


if __name__ == "__main__":
    main()
