"""SFT on TRL's SFTTrainer with ponder's defaults: used by the sft stage and each self_improve round."""

from __future__ import annotations

from pathlib import Path

from trl import SFTConfig, SFTTrainer

from ponder.data.sft_format import to_prompt_completion
from ponder.trainers.common import (
    cpu_defaults,
    deepspeed_args,
    export_checkpoint,
    last_checkpoint,
    log_metrics,
    lora_config,
    prepare_model,
)


def train_sft(
    ctx, source: str, raw, lora, use_reasoning: bool, eval_size: int, trainer_fields: dict, out_dir: Path, resume: bool
) -> dict:
    """Fine-tune `source` on rows (prompt, answer[, reasoning]); returns {metrics, artifacts}."""
    recipe = ctx.recipe
    out_dir.mkdir(parents=True, exist_ok=True)
    qlora = lora is not None and lora.load_in_4bit
    model, tokenizer, source = prepare_model(ctx, source, out_dir, qlora)
    vocab_before = model.get_input_embeddings().weight.shape[0]

    dataset = to_prompt_completion(raw, tokenizer, recipe.thinking, use_reasoning=use_reasoning)
    eval_dataset = None
    if eval_size:
        split = dataset.train_test_split(test_size=eval_size, seed=recipe.seed)
        dataset, eval_dataset = split["train"], split["test"]

    args = SFTConfig(
        **{
            "logging_steps": 5,
            "save_steps": 50,
            "save_total_limit": 2,
            "seed": recipe.seed,
            "report_to": recipe.report_to,
            "train_sampling_strategy": "group_by_length",
            "eval_strategy": "steps" if eval_dataset is not None else "no",
            **cpu_defaults(),
            **deepspeed_args(ctx.stage.launcher),
            **trainer_fields,
            "output_dir": str(out_dir / "trainer"),
        }
    )
    peft_config = None
    if lora is not None:
        new_ids = list(range(vocab_before, len(tokenizer))) if len(tokenizer) > vocab_before else None
        peft_config = lora_config(lora, new_token_ids=new_ids)
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
    )
    checkpoint = last_checkpoint(args.output_dir) if resume else None
    if checkpoint:
        print(f"resuming from {checkpoint}", flush=True)
    trainer.train(resume_from_checkpoint=checkpoint)

    metrics = {**log_metrics(trainer, out_dir), "train_rows": len(dataset)}
    artifacts = export_checkpoint(trainer, ctx, source, tokenizer, lora is not None, metrics, out_dir=out_dir)
    return {"metrics": metrics, "artifacts": artifacts}
