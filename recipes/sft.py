"""`sft` stage: distillation / supervised fine-tuning on TRL's SFTTrainer, LoRA (PEFT) or full.

Rows carry `prompt`, `answer` and optionally `reasoning`; ponder renders them with the recipe's chat
template (prompt = template up to the assistant's `<think>` prefill, completion = reasoning +
`</think>` + "Final Answer: " + answer), so the loss covers exactly what the model will generate.
"""

from __future__ import annotations

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
    from ponder.trainers.sft import train_sft

    stage, opts = ctx.stage, ctx.stage.options
    raw = ctx.dataset(("prompt", "answer"), ("reasoning",))
    return train_sft(
        ctx, ctx.model_source(), raw, opts.lora, opts.thinking, opts.eval_size, stage.trainer, ctx.workdir, ctx.resume
    )
