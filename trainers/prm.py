"""PRM fine-tuning: token classification with one (possibly soft) label per step.

TRL 1.16 ships no PRM trainer any more, so this is a small transformers `Trainer` subclass. Labels sit on
the last token of each `step + separator` (`ponder.inference.prm.stepwise_ids`, shared with the scorer);
every other position is -100. Soft Monte Carlo labels are trained as soft targets of a two-class cross
entropy (hard labels are the 0/1 case), never rounded to ints.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import Trainer

from ponder.inference.prm import PRM_CONFIG_KEY, pad_right, stepwise_ids
from ponder.models.modeling import load_token_classifier
from ponder.trainers.common import keep_tiny_base, lora_config
from ponder.trainers.run import run_trainer

IGNORE = -100.0


def tokenize_stepwise(row: dict, tokenizer, separator: str, max_length: int | None, soft: bool) -> dict:
    labels_in = row["soft_labels"] if soft and row.get("soft_labels") is not None else row["labels"]
    ids, positions = stepwise_ids(tokenizer, row["prompt"], row["completions"], separator, max_length)
    labels = [IGNORE] * len(ids)
    for position, label in zip(positions, labels_in):
        labels[position] = float(label)
    return {"input_ids": ids, "labels": labels}


class StepwiseCollator:
    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, features: list[dict]) -> dict:
        input_ids, mask = pad_right([list(f["input_ids"]) for f in features], self.pad_id)
        width = input_ids.shape[1]
        labels = [list(f["labels"]) + [IGNORE] * (width - len(f["labels"])) for f in features]
        return {"input_ids": input_ids, "attention_mask": mask, "labels": torch.tensor(labels, dtype=torch.float32)}


def soft_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean over labelled positions of -(y log p1 + (1 - y) log p0), y in [0, 1]."""
    mask = labels != IGNORE
    log_probs = logits[mask].float().log_softmax(-1)
    target = labels[mask]
    return -(target * log_probs[:, 1] + (1 - target) * log_probs[:, 0]).mean()


class PRMTrainer(Trainer):
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        loss = soft_cross_entropy(outputs.logits, labels)
        return (loss, outputs) if return_outputs else loss


@dataclass
class PRMRequest:
    """What one PRM run trains: a token classifier from `source` on stepwise `rows` (prompt, completions, labels)."""

    source: str
    rows: object  # a datasets.Dataset
    lora: object  # LoraSettings, or None = full
    separator: str
    max_length: int | None
    soft: bool
    out_dir: Path


def train_prm(ctx, request: PRMRequest) -> dict:
    """Fine-tune a token-classification PRM with the stage kind's trainer settings; returns {metrics, artifacts}."""
    import datasets

    from ponder.models.packaged import resolve

    recipe, out_dir, separator, lora = ctx.recipe, request.out_dir, request.separator, request.lora
    max_length, soft, rows = request.max_length, request.soft, request.rows
    out_dir.mkdir(parents=True, exist_ok=True)
    source = resolve(request.source)  # a packaged model's converted folder: the LoRA merge reloads the base from it
    model, tokenizer = load_token_classifier(
        source, recipe.thinking, seed=recipe.seed, attn_implementation=recipe.model.attn_implementation
    )
    setattr(model.config, PRM_CONFIG_KEY, {"separator": separator})
    source = keep_tiny_base(model, tokenizer, source, recipe.thinking, out_dir, " PRM")
    # Explicit features: left to inference, the new `labels` would keep the source's bool type.
    features = datasets.Features(
        {
            "input_ids": datasets.Sequence(datasets.Value("int32")),
            "labels": datasets.Sequence(datasets.Value("float32")),
        }
    )
    dataset = rows.map(
        lambda row: tokenize_stepwise(row, tokenizer, separator, max_length, soft),
        remove_columns=rows.column_names,
        features=features,
    )
    if lora is not None:
        from peft import get_peft_model

        model = get_peft_model(model, lora_config(lora, task_type="TOKEN_CLS"))

    def build(args):
        return PRMTrainer(
            model=model,
            args=args,
            train_dataset=dataset,
            data_collator=StepwiseCollator(tokenizer.pad_token_id),
            processing_class=tokenizer,
        )

    def counts(trainer) -> dict:
        labelled = sum(sum(1 for v in r["labels"] if v != IGNORE) for r in dataset)
        return {"train_rows": len(dataset), "labelled_steps": labelled}

    return run_trainer(
        ctx,
        build,
        out_dir=out_dir,
        source=source,
        tokenizer=tokenizer,
        is_lora=lora is not None,
        extra_metrics=counts,
        export={"config_updates": {PRM_CONFIG_KEY: {"separator": separator}}, "token_classifier": True},
    )
