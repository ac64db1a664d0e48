"""SFT tokens/s: ponder's sft stage vs a plain TRL SFTTrainer at its defaults, same model and data.

    python bench/sft_throughput.py [--steps 30]

Both train the same ~20M-parameter Qwen2 (preset `small`, full fine-tuning) on the same 2,000
running-sum / addition / last-letter rows with batch 16 for the same number of steps. tokens/s counts
real (non-padding) tokens, as TRL's `num_tokens` does; MFU = 6 * params * tokens/s against an fp32
matmul peak of the dtype each one trains in, measured in this run. bf16 is measured only where the CPU has
it natively (AVX-512 bf16 / AMX): elsewhere it is emulated (a 512x512 bf16 matmul ran at 0.58 GFLOP/s vs 17.5
in fp32 on a 2-core AVX2 CPU, and this bench never finished there), so TRL's bf16 default is replaced by fp32
and the JSON says which path each figure is from (`*_dtype`, `native_bf16`).
Where the time goes (measured on the 2-core machine, 20 steps each, tokens/s): TRL defaults 949
(bf16 autocast, gradient checkpointing, random batches); fp32 instead 603; fp32 without checkpointing
727; + length-grouped batches 1,195; bf16 + no checkpointing 1,184; + length grouping (ponder) 1,885.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import matmul_peak_gflops, run_one_stage, write_results  # noqa: E402


def make_rows(path: Path):
    from ponder.data.tasks import get_task

    rows = []
    for name in ("running_sum", "addition", "last_letters", "letter_count"):
        task = get_task(name)
        for row in task.rows(500, seed=1):
            trace = task.teacher_trace(row)
            rows.append({"prompt": row["prompt"], "reasoning": trace.text(), "answer": trace.answer})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


def run_ponder(data: Path, out: Path, steps: int) -> dict:
    from ponder.trainers.common import cpu_defaults

    metrics = run_one_stage(
        out,
        "tiny:small",
        f"""  - name: sft
    kind: sft
    data: {{path: {data}}}
    lora: null
    trainer: {{max_steps: {steps}, per_device_train_batch_size: 16, learning_rate: 1.0e-4,
               logging_steps: 5, save_steps: 100000}}
""",
    )
    return metrics, "bf16" if cpu_defaults().get("bf16", True) else "fp32"


def native_bf16() -> bool:
    import torch

    return torch.cuda.is_available() or bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def run_trl_defaults(data: Path, out: Path, steps: int) -> dict:
    import datasets
    import torch
    from trl import SFTConfig, SFTTrainer

    from ponder.data.loading import read_jsonl
    from ponder.models.modeling import build_tiny_model
    from ponder.models.sft_format import to_prompt_completion
    from ponder.models.thinking import ThinkingConfig
    from ponder.trainers.common import log_metrics

    thinking = ThinkingConfig()
    model, tokenizer = build_tiny_model("small", thinking)
    dataset = to_prompt_completion(datasets.Dataset.from_list(read_jsonl(data)), tokenizer, thinking)
    args = SFTConfig(
        output_dir=str(out / "trl"),
        max_steps=steps,
        per_device_train_batch_size=16,
        learning_rate=1.0e-4,
        logging_steps=5,
        save_strategy="no",
        report_to="none",
        use_cpu=not torch.cuda.is_available(),
        # the one change TRL's defaults need to start on a CPU; bf16 stays TRL's default where it is native
        **({} if native_bf16() else {"bf16": False}),
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
    trainer.train()
    return log_metrics(trainer), "bf16" if args.bf16 else "fp32"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    import torch

    from ponder.models.modeling import build_tiny_model, count_parameters

    params = count_parameters(build_tiny_model("small")[0])
    peaks = {"fp32": matmul_peak_gflops(dtype=torch.float32)}
    if native_bf16():
        peaks["bf16"] = matmul_peak_gflops(dtype=torch.bfloat16)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_rows(tmp / "rows.jsonl")
        trl = run_trl_defaults(tmp / "rows.jsonl", tmp, args.steps)
        ponder = run_ponder(tmp / "rows.jsonl", tmp, args.steps)
    figures = {
        "threads": torch.get_num_threads(),
        "parameters": params,
        "steps": args.steps,
        "native_bf16": native_bf16(),
        **{f"matmul_peak_{dtype}_gflops": round(peak, 1) for dtype, peak in peaks.items()},
    }
    for name, (metrics, dtype) in {"trl_defaults": trl, "ponder": ponder}.items():
        tokens_per_s = metrics["num_tokens"] / metrics["train_runtime"]
        figures[f"{name}_dtype"] = dtype
        figures[f"{name}_tokens_per_s"] = round(tokens_per_s, 1)
        figures[f"{name}_mfu"] = round(6 * params * tokens_per_s / (peaks[dtype] * 1e9), 4)
        figures[f"{name}_final_loss"] = round(metrics["loss_last"], 4)
    figures["ponder_vs_trl_tokens_per_s_ratio"] = round(
        figures["ponder_tokens_per_s"] / figures["trl_defaults_tokens_per_s"], 3
    )
    write_results("sft_throughput", figures)


if __name__ == "__main__":
    main()
