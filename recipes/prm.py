"""`prm` stage: fine-tune a process reward model (token classification, one label per step), LoRA or
full, single process or DeepSpeed through the same launcher as sft; then score held-out stepwise rows
ProcessBench-style (earliest wrong step; accuracy on erroneous and correct samples; F1).

Data: an earlier `prm_label` stage or a file in TRL's stepwise format (`prompt`, `completions`, `labels`,
optional `soft_labels`), or Math-Shepherd (`input`, `label`) / PRM800K rows with `data_format`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ponder.recipes.kind import StageKind
from ponder.recipes.schema import LoraSettings

# TRL 1.16 has no PRMConfig: the PRM trainer is a transformers Trainer, so `trainer:` takes TrainingArguments.
DEFAULTS = {"logging_steps": 5, "save_steps": 50, "save_total_limit": 2}
FORMATS = ("stepwise", "math_shepherd", "prm800k")


@dataclass
class Options:
    lora: Optional[LoraSettings] = field(default=None, metadata={"help": "LoRA settings; null = full fine-tuning."})
    step_separator: str = field(
        default="\n", metadata={"help": "Appended after each step; its last token carries the label."}
    )
    max_length: Optional[int] = field(default=512, metadata={"help": "Drop whole steps beyond this many tokens."})
    soft_labels: bool = field(
        default=False,
        metadata={
            "help": (
                "Train on the Monte Carlo fractions (soft) instead of any-rollout-succeeded (hard). "
                "Hard is the default: "
                "Math-Shepherd found it better, and a soft label is the prefix's value, not its correctness (an early "
                "correct step of a long solution scores below 0.5)."
            )
        },
    )
    data_format: str = field(default="stepwise", metadata={"help": "stepwise (TRL), math_shepherd or prm800k."})
    neutral: str = field(default="positive", metadata={"help": "prm800k rating 0: positive, negative or stop."})
    eval_size: int = field(default=0, metadata={"help": "Rows held out for the step-level (ProcessBench) eval."})

    def __post_init__(self):
        from ponder.data.prm_data import NEUTRAL_POLICIES

        if self.data_format not in FORMATS:
            raise ValueError(f"data_format={self.data_format!r}: choose one of {FORMATS}")
        if self.neutral not in NEUTRAL_POLICIES:
            raise ValueError(f"neutral={self.neutral!r}: choose one of {NEUTRAL_POLICIES}")
        if not self.step_separator:
            raise ValueError("step_separator must not be empty: its last token carries each step's label")


def check(stage, recipe, error):
    if stage.data is None:
        raise error("data", "prm needs stepwise data: a prm_label stage or {path: ...}")


def load_rows(ctx, opts):
    import datasets

    from ponder.data.prm_data import from_math_shepherd, from_prm800k

    if opts.data_format == "math_shepherd":
        return datasets.Dataset.from_list([from_math_shepherd(r) for r in ctx.dataset(("input", "label"))])
    if opts.data_format == "prm800k":
        rows = [from_prm800k(r, opts.neutral) for r in ctx.dataset(("question", "label"))]
        return datasets.Dataset.from_list([r for r in rows if r is not None])
    return ctx.dataset(("prompt", "completions", "labels"), ("soft_labels",))


def main(ctx) -> dict:
    from ponder.inference.prm import PRMScorer, process_bench
    from ponder.models.modeling import load_token_classifier
    from ponder.trainers.prm import PRMRequest, train_prm

    opts = ctx.stage.options
    rows = load_rows(ctx, opts)
    held_out = None
    if opts.eval_size:
        split = rows.train_test_split(test_size=opts.eval_size, seed=ctx.recipe.seed)
        rows, held_out = split["train"], split["test"]
    request = PRMRequest(
        ctx.model_source(), rows, opts.lora, opts.step_separator, opts.max_length, opts.soft_labels, ctx.workdir
    )
    result = train_prm(ctx, request)
    if held_out is not None:
        trained = PRMScorer.from_pretrained(
            str(ctx.workdir / result["artifacts"]["checkpoint"]), max_length=opts.max_length
        )
        model, tokenizer = load_token_classifier(ctx.model_source(), ctx.recipe.thinking, seed=ctx.recipe.seed)
        untrained = PRMScorer(model.eval(), tokenizer, separator=opts.step_separator, max_length=opts.max_length)
        for prefix, scorer in (("step_", trained), ("untrained_step_", untrained)):  # what training added
            scores = scorer.score(held_out["prompt"], held_out["completions"])
            result["metrics"].update({prefix + k: v for k, v in process_bench(scores, held_out["labels"]).items()})
    return result


KIND = StageKind(
    name="prm",
    options=Options,
    main=main,
    produces=frozenset({"prm"}),
    trainer_config="transformers.TrainingArguments",
    defaults=DEFAULTS,
    owned={"remove_unused_columns": "the step-label collator needs the labels column the Trainer would drop"},
    owned_values={"remove_unused_columns": False},
    distributed=True,
    check=check,
    headline=("loss_last", "step_f1", "untrained_step_f1", "step_accuracy_erroneous", "step_accuracy_correct"),
)
