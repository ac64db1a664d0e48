"""`sft` stage: distillation / supervised fine-tuning on TRL's SFTTrainer, LoRA (PEFT) or full.

Rows carry `prompt`, `answer` and optionally `reasoning`; ponder renders them with the recipe's chat
template (prompt = template up to the assistant's `<think>` prefill, completion = reasoning +
`</think>` + "Final Answer: " + answer), so the loss covers exactly what the model will generate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ponder.recipes.kind import StageKind
from ponder.recipes.schema import LoraSettings

# ponder's SFTConfig defaults, under the recipe's `trainer:` block (`ponder show RECIPE STAGE` lists the merge).
# group_by_length: on CPU, padding is the cost to cut (packing measured 3x slower per token there).
DEFAULTS = {
    "logging_steps": 5,
    "save_steps": 50,
    "save_total_limit": 2,
    "train_sampling_strategy": "group_by_length",
}


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
    from ponder.trainers.sft import SFTRequest, train_sft

    opts = ctx.stage.options
    rows = ctx.dataset(("prompt", "answer"), ("reasoning",))
    return train_sft(ctx, SFTRequest(ctx.model_source(), rows, opts.lora, ctx.workdir, opts.thinking, opts.eval_size))


def eval_defaults(opts) -> dict:
    """Rows held out for eval loss are evaluated every `eval_steps`."""
    return {"eval_strategy": "steps"} if opts.eval_size else {}


KIND = StageKind(
    name="sft",
    options=Options,
    data_columns=("prompt", "answer"),
    main=main,
    produces=frozenset({"model"}),
    trainer_config="trl.SFTConfig",
    defaults=DEFAULTS,
    option_defaults=eval_defaults,
    distributed=True,
    check=check,
    headline=("loss_first", "loss_last", "mean_token_accuracy", "global_step", "train_rows"),
)
