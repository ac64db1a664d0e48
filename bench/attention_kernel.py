"""Seconds per training step of the tiny reasoner's distill stage: eager attention vs sdpa (transformers'
default), the same ponder sft stage, model, data and steps in one run.

    python bench/attention_kernel.py [--steps 80]

The shape is configs/tiny/reasoner.yaml's distill: the 0.9M-parameter `tiny:tiny` Qwen2, full fine-tuning,
batch 64, whole-text loss, on running-sum traces of 7-8 digits (what s1 selection keeps there). Each kernel
trains from the same seeded initialisation; the figure is TRL's train_runtime / steps, so start-up is out.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import run_one_stage, write_results  # noqa: E402


def make_rows(path: Path, n: int = 1000):
    from ponder.data.tasks import get_task

    task = get_task("running_sum")
    rows = []
    for row in task.rows(n, seed=1, difficulty=(7, 8)):
        trace = task.teacher_trace(row)
        rows.append({"prompt": row["prompt"], "reasoning": trace.text(), "answer": trace.answer})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def seconds_per_step(data: Path, out: Path, steps: int, attention: str | None) -> tuple[float, float]:
    out.mkdir()
    metrics = run_one_stage(
        out,
        "tiny:tiny",
        f"""  - name: distill
    kind: sft
    data: {{path: {data}}}
    lora: null
    trainer: {{max_steps: {steps}, per_device_train_batch_size: 64, learning_rate: 1.0e-3, lr_scheduler_type: constant,
              completion_only_loss: false, logging_steps: 10, save_steps: 100000}}
""",
        attn_implementation=attention,
    )
    return metrics["train_runtime"] / steps, metrics["loss_last"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=80)
    args = parser.parse_args()
    import torch

    figures = {"threads": torch.get_num_threads(), "steps": args.steps, "batch": 64}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_rows(tmp / "rows.jsonl")
        for name, attention in (("sdpa", None), ("eager", "eager")):
            step, loss = seconds_per_step(tmp / "rows.jsonl", tmp / name, args.steps, attention)
            figures[f"{name}_seconds_per_step"] = round(step, 4)
            figures[f"{name}_loss_last"] = round(loss, 4)
    figures["eager_vs_sdpa_steps_per_s_ratio"] = round(
        figures["sdpa_seconds_per_step"] / figures["eager_seconds_per_step"], 3
    )
    write_results("attention_kernel", figures)


if __name__ == "__main__":
    main()
