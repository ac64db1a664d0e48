"""SFT on TRL's SFTTrainer: used by the sft stage and each self_improve round."""

from __future__ import annotations

from pathlib import Path

from trl import SFTConfig, SFTTrainer

from ponder.data.sft_format import to_prompt_completion
from ponder.trainers.common import lora_config, new_delimiter_embeddings, prepare_model
from ponder.trainers.run import run_trainer


def train_sft(ctx, source: str, raw, lora, use_reasoning: bool, eval_size: int, defaults: dict, out_dir: Path) -> dict:
    """Fine-tune `source` on rows (prompt, answer[, reasoning]); returns {metrics, artifacts}.

    `defaults` are the kind's DEFAULTS; with `eval_size` rows held out, `eval_strategy` defaults to "steps"."""
    recipe = ctx.recipe
    out_dir.mkdir(parents=True, exist_ok=True)
    qlora = lora is not None and lora.load_in_4bit
    model, tokenizer, base = prepare_model(ctx, source, out_dir, qlora)

    dataset = to_prompt_completion(raw, tokenizer, recipe.thinking, use_reasoning=use_reasoning)
    eval_dataset = None
    if eval_size:
        split = dataset.train_test_split(test_size=eval_size, seed=recipe.seed)
        dataset, eval_dataset = split["train"], split["test"]
        defaults = {**defaults, "eval_strategy": "steps"}
    peft_config = None
    if lora is not None:
        peft_config = lora_config(lora, embeddings=new_delimiter_embeddings(model, source, recipe.thinking))

    def build(args):
        return SFTTrainer(
            model=model,
            args=args,
            train_dataset=dataset,
            eval_dataset=eval_dataset,
            processing_class=tokenizer,
            peft_config=peft_config,
        )

    return run_trainer(
        ctx,
        SFTConfig,
        defaults,
        build,
        out_dir=out_dir,
        source=base,  # the merge reloads the base from here
        tokenizer=tokenizer,
        is_lora=lora is not None,
        extra_metrics=lambda trainer: {"train_rows": len(dataset)},
    )
