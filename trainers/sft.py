"""SFT on TRL's SFTTrainer: used by the sft stage and each self_improve round."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from trl import SFTTrainer

from ponder.models.sft_format import to_prompt_completion
from ponder.trainers.common import lora_config, new_delimiter_embeddings, prepare_model
from ponder.trainers.run import run_trainer


@dataclass
class SFTRequest:
    """What one SFT run trains: `source` (model name or path) on `rows` (prompt, answer[, reasoning])."""

    source: str
    rows: object  # a datasets.Dataset or a list of row dicts
    lora: object  # LoraSettings, or None = full fine-tuning
    out_dir: Path
    use_reasoning: bool = True
    eval_size: int = 0  # rows held out for eval loss (the kind's option_defaults then set eval_strategy)


def train_sft(ctx, request: SFTRequest) -> dict:
    """Fine-tune on the request's rows with the stage kind's trainer settings; returns {metrics, artifacts}."""
    recipe, lora, out_dir = ctx.recipe, request.lora, request.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    qlora = lora is not None and lora.load_in_4bit
    model, tokenizer, base = prepare_model(ctx, request.source, out_dir, qlora)

    dataset = to_prompt_completion(request.rows, tokenizer, recipe.thinking, use_reasoning=request.use_reasoning)
    eval_dataset = None
    if request.eval_size:
        split = dataset.train_test_split(test_size=request.eval_size, seed=recipe.seed)
        dataset, eval_dataset = split["train"], split["test"]
    peft_config = None
    if lora is not None:
        peft_config = lora_config(lora, embeddings=new_delimiter_embeddings(model))

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
        build,
        out_dir=out_dir,
        source=base,  # the merge reloads the base from here
        tokenizer=tokenizer,
        is_lora=lora is not None,
        extra_metrics=lambda trainer: {"train_rows": len(dataset)},
    )
