"""`prm_label` stage: stepwise PRM data labelled by Monte Carlo rollouts (Math-Shepherd).

For each question the policy writes `solutions` step-by-step solutions; for each step prefix it rolls out
`rollouts` continuations, and the step's soft label is the fraction that reach the gold answer (hard
label: any did). The policy is the stage's `init` model (or the recipe model), or `policy: task`, a
programmatic policy over the task's own solver that errs per step with `policy_error_rate` (exact control
for tests and quick recipes). Output rows are TRL's stepwise format plus `soft_labels`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ponder.recipes.kind import StageKind


@dataclass
class Options:
    policy: str = field(
        default="model", metadata={"help": "model (the init checkpoint) or task (programmatic, errs per step)."}
    )
    policy_error_rate: float = field(default=0.2, metadata={"help": "policy: task -- chance each step is corrupted."})
    solutions: int = field(default=1, metadata={"help": "Solutions labelled per question."})
    rollouts: int = field(default=8, metadata={"help": "Monte Carlo continuations per step prefix."})
    temperature: float = field(default=0.8, metadata={"help": "Sampling temperature of solutions and rollouts."})
    max_new_tokens: int = field(default=160, metadata={"help": "Max new tokens of a solution or rollout."})
    max_questions: int = field(default=0, metadata={"help": "Use at most this many questions (0 = all)."})

    def __post_init__(self):
        if self.policy not in ("model", "task"):
            raise ValueError(f"policy={self.policy!r}: choose model or task")
        if self.solutions < 1 or self.rollouts < 1:
            raise ValueError("solutions and rollouts must be >= 1")
        if not 0.0 <= self.policy_error_rate <= 1.0:
            raise ValueError(f"policy_error_rate={self.policy_error_rate} must be within [0, 1]")


def check(stage, recipe, error):
    if stage.data is None:
        raise error(
            "data",
            "prm_label needs questions (prompt, answer; task rows for policy: task): a data stage or {path: ...}",
        )


def make_sampler(ctx, opts):
    from ponder.inference.step_samplers import ModelStepSampler, TaskStepSampler

    if opts.policy == "task":
        return TaskStepSampler(opts.policy_error_rate, seed=ctx.recipe.seed)
    from ponder.models.loading import load_for_inference

    model, tokenizer, _ = load_for_inference(ctx.model_source(), ctx.recipe.model.dtype, thinking=ctx.recipe.thinking)
    return ModelStepSampler(
        model, tokenizer, ctx.recipe.thinking, temperature=opts.temperature, max_new_tokens=opts.max_new_tokens
    )


def main(ctx) -> dict:
    import datasets

    from ponder.data.loading import save_dataset
    from ponder.inference.prm_labels import monte_carlo_labels

    opts, thinking = ctx.stage.options, ctx.recipe.thinking
    questions = list(ctx.dataset(("prompt", "answer"), ("domain", "payload", "id")))
    if opts.max_questions:
        questions = questions[: opts.max_questions]
    sampler = make_sampler(ctx, opts)
    rows = []
    for question in questions:
        solutions = sampler.complete(question, [[] for _ in range(opts.solutions)])
        rows += monte_carlo_labels(sampler, [question] * len(solutions), solutions, opts.rollouts, thinking)
    steps = [label for row in rows for label in row["labels"]]
    metrics = {
        "questions": len(questions),
        "solutions": len(rows),
        "steps": len(steps),
        "step_positive_rate": sum(steps) / max(len(steps), 1),
        "solution_accuracy": sum(row["labels"][-1] for row in rows if row["labels"]) / max(len(rows), 1),
    }
    return {"metrics": metrics, "artifacts": save_dataset(datasets.Dataset.from_list(rows), ctx.workdir)}


KIND = StageKind(
    name="prm_label",
    options=Options,
    data_columns=("prompt", "answer"),
    main=main,
    produces=frozenset({"data"}),
    check=check,
    curves=(),
    headline=("solutions", "steps", "step_positive_rate", "solution_accuracy"),
)
