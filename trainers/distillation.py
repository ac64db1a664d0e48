"""On-policy distillation on TRL's DistillationTrainer: the student samples completions to templated prompts and is
trained toward the teacher's next-token distribution on them (TRL's loss, generalized JSD with `beta`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import datasets
from trl import DistillationTrainer

from ponder.models.modeling import load_model_and_tokenizer
from ponder.models.prompts import render_prompts
from ponder.trainers.common import lora_config, new_delimiter_embeddings, prepare_model
from ponder.trainers.run import run_trainer


@dataclass
class DistillationRequest:
    """What one run distills: the `teacher` (a checkpoint path, hub id, `pypi:` or `tiny:` name) into the student
    `source` on `rows` (a prompt each; an answer, where there is one, is not used)."""

    source: str
    teacher: str
    rows: list[dict]
    lora: object  # LoraSettings, or None = full fine-tuning
    out_dir: Path


def train_distillation(ctx, request: DistillationRequest) -> dict:
    """Distill with the stage kind's trainer settings; returns {metrics, artifacts}."""
    recipe, lora, out_dir = ctx.recipe, request.lora, request.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    model, tokenizer, base = prepare_model(ctx, request.source, out_dir, lora is not None and lora.load_in_4bit)
    # Loaded as the student is, so a hub teacher gets the same delimiter rows the student gets
    teacher, _ = load_model_and_tokenizer(
        request.teacher, recipe.thinking, recipe.model.dtype, recipe.seed, False, recipe.model.attn_implementation
    )
    dataset = datasets.Dataset.from_list(render_prompts(request.rows, tokenizer))
    peft_config = lora_config(lora, embeddings=new_delimiter_embeddings(model)) if lora is not None else None

    def build(args):
        return DistillationTrainer(
            model=model,
            teacher_model=teacher,
            args=args,
            train_dataset=dataset,
            processing_class=tokenizer,
            peft_config=peft_config,
        )

    return run_trainer(
        ctx,
        build,
        out_dir=out_dir,
        source=base,  # the merge reloads the base from here
        tokenizer=tokenizer,
        is_lora=lora is not None,
        runtime={"teacher_model_name_or_path": request.teacher},
        extra_metrics=lambda trainer: {"train_prompts": len(dataset)},
    )
