"""`sft` stage: distillation / supervised fine-tuning on TRL's SFTTrainer, LoRA (PEFT) or full.

Rows carry `prompt`, `answer` and optionally `reasoning`; ponder renders them with the recipe's chat
template (prompt = template up to the assistant's `<think>` prefill, completion = reasoning +
`</think>` + answer), so the loss covers exactly what the model will generate.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional

from trl import SFTConfig

from ponder.recipes.schema import LoraSettings

TRAINER_CONFIG = SFTConfig


@dataclass
class Options:
    lora: Optional[LoraSettings] = field(
        default_factory=LoraSettings, metadata={"help": "LoRA settings; `lora: null` = full fine-tuning."}
    )
    thinking: bool = field(default=True, metadata={"help": "Train on reasoning traces; false = direct answers."})
    eval_size: int = field(default=0, metadata={"help": "Rows held out for eval loss (0 = none)."})


def check(stage, recipe, error):
    if stage.data is None:
        raise error("data", "sft needs data: an earlier data stage's name or {path: ...}")


def main(ctx) -> dict:
    from trl import SFTTrainer

    from ponder.data.loading import load_dataset_from_spec, load_stage_dataset
    from ponder.data.sft_format import to_prompt_completion
    from ponder.trainers.common import cpu_defaults, export_checkpoint, last_checkpoint, log_metrics, lora_config
    from ponder.trainers.modeling import load_model_and_tokenizer, save_checkpoint

    recipe, stage, opts = ctx.recipe, ctx.stage, ctx.stage.options
    thinking = recipe.thinking

    # 1. Model: an earlier stage's checkpoint, a hub id / path, or a fresh tiny model saved as the base.
    source = ctx.model_source()
    qlora = opts.lora is not None and opts.lora.load_in_4bit
    model, tokenizer = load_model_and_tokenizer(source, thinking, recipe.model.dtype, recipe.seed, load_in_4bit=qlora)
    if source.startswith("tiny:"):  # every rank builds the same seeded model; rank 0 keeps it for the merge
        base_dir = ctx.workdir / "base"
        if int(os.environ.get("RANK", "0")) == 0:
            save_checkpoint(model, tokenizer, base_dir, thinking, {"title": f"{source} (random init)"})
        source = str(base_dir)
    vocab_before = model.get_input_embeddings().weight.shape[0]

    # 2. Data: rendered with the chat template; a held-out slice for eval loss.
    required, optional = ("prompt", "answer"), ("reasoning",)
    raw = (load_stage_dataset(ctx.upstream_dir(stage.data), required, optional) if isinstance(stage.data, str)
           else load_dataset_from_spec(stage.data, required, optional))
    dataset = to_prompt_completion(raw, tokenizer, thinking, use_reasoning=opts.thinking)
    eval_dataset = None
    if opts.eval_size:
        split = dataset.train_test_split(test_size=opts.eval_size, seed=recipe.seed)
        dataset, eval_dataset = split["train"], split["test"]

    # 3. Trainer: ponder's CPU defaults, then the recipe's TRL fields verbatim.
    args = SFTConfig(**{
        "logging_steps": 5, "save_steps": 50, "save_total_limit": 2, "seed": recipe.seed,
        "report_to": recipe.report_to, "train_sampling_strategy": "group_by_length",
        "eval_strategy": "steps" if eval_dataset is not None else "no",
        **cpu_defaults(),
        **deepspeed_args(stage),
        **stage.trainer,
        "output_dir": str(ctx.workdir / "trainer"),
    })
    peft_config = None
    if opts.lora is not None:
        new_ids = list(range(vocab_before, len(tokenizer))) if len(tokenizer) > vocab_before else None
        peft_config = lora_config(opts.lora, new_token_ids=new_ids)
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, eval_dataset=eval_dataset,
                         processing_class=tokenizer, peft_config=peft_config)
    checkpoint = last_checkpoint(args.output_dir) if ctx.resume else None
    if checkpoint:
        print(f"resuming from {checkpoint}", flush=True)
    trainer.train(resume_from_checkpoint=checkpoint)

    # 4. Outputs: adapter + merged checkpoint with the thinking contract and a model card.
    metrics = log_metrics(trainer)
    metrics["train_rows"] = len(dataset)
    artifacts = export_checkpoint(trainer, ctx, source, tokenizer, opts.lora is not None, metrics)
    return {"metrics": metrics, "artifacts": artifacts}


def deepspeed_args(stage) -> dict:
    from ponder.recipes.launch import deepspeed_config_path

    return {"deepspeed": str(deepspeed_config_path(stage.launcher.deepspeed))} if stage.launcher.deepspeed else {}
