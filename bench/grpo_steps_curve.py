"""Does GRPO's greedy gain keep growing with more RL steps than 30 minutes allow? A run of the shipped reasoner
whose GRPO stage ran longer and kept its checkpoints, each evaluated greedy on the eval's held-out questions.

    ponder run configs/smollm2-135m/rg-reasoner.yaml seed=0 output_dir=/tmp/curve stages.grpo.trainer.max_steps=64 \
        stages.grpo.trainer.save_steps=16 stages.grpo.trainer.save_total_limit=10
    python bench/grpo_steps_curve.py /tmp/curve/smollm2-135m-rg-reasoner

Each `grpo/trainer/checkpoint-N` (a LoRA adapter) is merged onto the checkpoint GRPO started from, then answers the
`eval_grpo` stage's questions greedy with its dtype, batch size and token limit (as `bench/chain_sum_strategy.py`
regenerates an eval's greedy pass; step N of a longer run is not the N-step recipe: the learning rate decays over
the whole run). Step 0 is `eval_sft`'s greedy accuracy, the last step `eval_grpo`'s (its sampled pass@1 and pass@8
too). Writes bench/results/grpo_steps_curve.json with GRPO's logged reward, the stages' seconds and peak memory.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import greedy_pass, machine, stage_config, write_results  # noqa: E402

SUMMARY = ("accuracy@inf", "pass@1", "pass@8")


def greedy_at(run: Path, start: Path, adapter: Path) -> dict:
    """Greedy accuracy (all questions and per task) of GRPO's adapter `adapter`, merged onto the checkpoint GRPO
    started from, on eval_grpo's questions."""
    tasks = {}
    for row, answer in greedy_pass(run, "eval_grpo", start, adapter):
        tasks.setdefault(row["domain"], []).append(answer["correct"])
    every = [right for rights in tasks.values() for right in rights]
    return {"accuracy@inf": round(sum(every) / len(every), 4)} | {
        f"accuracy@inf/{task}": round(sum(rights) / len(rights), 4) for task, rights in sorted(tasks.items())
    }


def main():
    run = Path(sys.argv[1])
    results = {r.parent.name: json.loads(r.read_text()) for r in sorted(run.glob("*/result.json"))}
    grpo = stage_config(run, "grpo")[1]
    final = results["grpo"]["metrics"]["global_step"]
    checkpoints = sorted((run / "grpo" / "trainer").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    curve = {0: {k: v for k, v in results["eval_sft"]["metrics"].items() if k in SUMMARY}}
    for checkpoint in checkpoints:
        step = int(checkpoint.name.split("-")[1])
        if step != final:  # the last one is eval_grpo's own checkpoint
            curve[step] = greedy_at(run, run / grpo["init"] / "checkpoint", checkpoint)
    curve[final] = {k: v for k, v in results["eval_grpo"]["metrics"].items() if k in SUMMARY}
    logs = json.loads((run / "grpo" / "log_history.json").read_text())
    write_results(
        "grpo_steps_curve",
        {
            "run": str(run),
            "machine": machine(),
            "grpo_trainer": grpo["trainer"],
            "by_step": {str(step): figures for step, figures in sorted(curve.items())},
            "greedy_gain_by_step": {
                str(step): round(figures["accuracy@inf"] - curve[0]["accuracy@inf"], 4)
                for step, figures in sorted(curve.items())
            },
            "reward": [[h["step"], round(h["reward"], 4)] for h in logs if "reward" in h],
            "stages": {
                name: {"seconds": r["seconds"], "peak_memory_mb": r["peak_memory_mb"]} for name, r in results.items()
            },
        },
    )


if __name__ == "__main__":
    main()
