"""`grpo` stage: RL with verifiable rewards on TRL's GRPOTrainer (LoRA or full, any launcher).

Prompts come from an earlier data stage / a data file (prompt + answer columns) or straight from
tasks; rewards are named (ponder.rewards.registry) or dotted paths, with weights. Every GRPOConfig
field passes through `trainer:`. The L1/LCPO option states a budget in each prompt ("Think for N
tokens.") and adds the LCPO reward, so the checkpoint learns to follow budgets stated in prompts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ponder.recipes.kind import StageKind
from ponder.recipes.schema import DECONTAMINATE_HELP, DIFFICULTY_HELP, NGRAM_HELP, LoraSettings, check_difficulty

# ponder's GRPOConfig defaults, under the recipe's `trainer:` block (`ponder show RECIPE STAGE` lists the merge).
DEFAULTS = {
    "logging_steps": 1,
    "save_steps": 25,
    "save_total_limit": 2,
    "max_completion_length": 128,
    "log_completions": True,
    "num_completions_to_print": 2,
}


@dataclass
class RewardSpec:
    name: str = field(metadata={"help": "Registry name (accuracy, format, cosine, lcpo, code, ...) or dotted path."})
    weight: float = field(default=1.0, metadata={"help": "Weight in the summed reward."})
    params: dict = field(default_factory=dict, metadata={"help": "Factory parameters, e.g. {max_len: 512}."})


@dataclass
class LcpoSettings:
    budget_range: list = field(default_factory=lambda: [16, 64], metadata={"help": "N ~ uniform[lo, hi] per prompt."})
    mode: str = field(default="exact", metadata={"help": "exact (correct - alpha|N-n|) or max (L1-Max)."})
    alpha: float = field(default=0.003, metadata={"help": "Length penalty scale."})
    delta: float = field(default=0.5, metadata={"help": "L1-Max offset."})
    weight: float = field(default=1.0, metadata={"help": "Weight of the LCPO reward."})

    def __post_init__(self):
        if self.mode not in ("exact", "max"):
            raise ValueError(f"mode={self.mode!r}: choose exact or max")
        if len(self.budget_range) != 2 or not 0 <= self.budget_range[0] <= self.budget_range[1]:
            raise ValueError(f"budget_range={self.budget_range}: give [lo, hi] with 0 <= lo <= hi")


@dataclass
class DynamicSamplingSettings:
    """DAPO's dynamic sampling (verl's `algorithm.filter_groups`): every optimizer step is made of groups with
    signal, as far as `max_draws` generation rounds allow; optionally with GRESO's pre-rollout filtering
    (`skip_known`), which skips prompts known to lack signal before generating for them."""

    max_draws: int = field(
        default=3,
        metadata={
            "help": "Generation rounds a step may take: the first is the step's own batch; each further round draws "
            "fresh prompts for the groups dropped so far (sized by the signal rate seen). When they run out, groups "
            "without signal fill the batch with zero advantage."
        },
    )
    signal_rtol: float = field(
        default=1e-4,
        metadata={
            "help": "A group has signal when its weighted rewards spread by more than signal_rtol x the sum of the "
            "reward weights' magnitudes (float noise such as 1.2e-7 is no signal)."
        },
    )
    skip_known: float = field(
        default=0.0,
        metadata={
            "help": "Pre-rollout filtering (GRESO): a prompt whose last group had no signal is skipped before any "
            "generation, with this probability, each time it is drawn again (the step's own batch and the fresh "
            "draws); a fresh prompt takes its place. 0 = off (DAPO: every drawn prompt is generated); 0.9 = skip 9 "
            "in 10, so a known prompt can still come back. Logged: `dynamic_sampling/prompts_skipped`."
        },
    )

    def __post_init__(self):
        if not isinstance(self.max_draws, int) or self.max_draws < 1:
            raise ValueError(f"max_draws={self.max_draws!r}: give an integer >= 1 (1 = drop nothing, only log)")
        if not 0 < self.signal_rtol < 1:
            raise ValueError(f"signal_rtol={self.signal_rtol!r}: give a value in (0, 1), e.g. 1.0e-4")
        if isinstance(self.skip_known, bool) or not 0 <= self.skip_known <= 1:
            raise ValueError(f"skip_known={self.skip_known!r}: give a probability in [0, 1], e.g. 0.9 (0 = off)")


@dataclass
class Options:
    rewards: list[RewardSpec] = field(
        default_factory=lambda: [RewardSpec("accuracy", 1.0), RewardSpec("format", 0.2)],
        metadata={"help": "Rewards: [{name, weight, params}]."},
    )
    lora: Optional[LoraSettings] = field(default_factory=LoraSettings, metadata={"help": "`lora: null` = full."})
    tasks: list = field(default_factory=list, metadata={"help": "Task names for prompts when `data` is not given."})
    size: int = field(default=256, metadata={"help": "Prompts per task (with `tasks`)."})
    difficulty: dict = field(default_factory=dict, metadata={"help": DIFFICULTY_HELP})
    decontaminate: list = field(default_factory=list, metadata={"help": DECONTAMINATE_HELP})
    ngram: int = field(default=8, metadata={"help": NGRAM_HELP})
    lcpo: Optional[LcpoSettings] = field(default=None, metadata={"help": "Length-controlled RL (L1/LCPO)."})
    dynamic_sampling: Optional[DynamicSamplingSettings] = field(
        default=None,
        metadata={
            "help": "DAPO's dynamic sampling, e.g. {max_draws: 3}: groups whose rewards all agree are dropped and "
            "replaced by groups of fresh prompts. null = off (groups without signal still get exactly zero advantage "
            "and are counted in `groups_with_signal`)."
        },
    )
    rollout: str = field(
        default="ponder",
        metadata={
            "help": "ponder: rollouts through ponder.inference.rollout (shared prefill, finished rows leave the "
            "batch, inverse-CDF sampling; bench/rollout_throughput.py); trl: TRL's own generate."
        },
    )

    def __post_init__(self):
        from ponder.rewards.registry import get_reward

        if self.rollout not in ("ponder", "trl"):
            raise ValueError(f"rollout={self.rollout!r}: choose ponder or trl")
        check_difficulty(self.tasks, self.difficulty)
        for spec in self.rewards:
            if spec.name != "lcpo":  # lcpo needs the tokenizer's </think> id, known only at train time
                get_reward(spec.name, **spec.params)  # unknown names and bad parameters fail in validate


def check(stage, recipe, error):
    if stage.data is None and not stage.options.tasks:
        raise error("data", "grpo needs prompts: `data:` (a stage or a file with prompt + answer) or `tasks:`")
    t = stage.trainer
    processes = stage.launcher.num_processes
    per_device = t.get("per_device_train_batch_size", 8)
    generation_batch, steps = t.get("generation_batch_size"), t.get("steps_per_generation")
    if generation_batch and steps:
        raise error("trainer.steps_per_generation", "give generation_batch_size or steps_per_generation, not both")
    if (generation_batch or 0) % (per_device * processes):
        raise error(
            "trainer.generation_batch_size",
            f"generation_batch_size {generation_batch} is not a multiple of per_device_train_batch_size x "
            f"processes ({per_device * processes})",
        )
    # TRL's steps_per_generation: micro-batches per rollout batch, given or derived
    steps = (generation_batch or 0) // (per_device * processes) or steps or t.get("gradient_accumulation_steps", 1)
    batch = per_device * processes * steps
    generations = t.get("num_generations", 8)
    if batch % generations:
        raise error(
            "trainer",
            f"generation batch {batch} (per_device_train_batch_size {per_device} x {processes} "
            f"processes x steps_per_generation {steps}) is not divisible by num_generations {generations}: "
            f"make per_device_train_batch_size a multiple of {generations} or lower num_generations",
        )
    if generations < 2:
        raise error("trainer.num_generations", "GRPO compares completions within a group: use >= 2")
    check_clip(t, steps, error)
    if stage.options.dynamic_sampling is not None and (per_device * steps) % generations:
        raise error(
            "dynamic_sampling",
            f"each process's generation batch (per_device_train_batch_size {per_device} x steps_per_generation "
            f"{steps} = {per_device * steps}) must hold whole groups of num_generations {generations} to drop and "
            f"replace them: make it a multiple of {generations}",
        )


# The losses whose importance ratio is clipped to [1 - epsilon, 1 + epsilon_high] (TRL 1.16's compute_loss); cispo
# caps the ratio at epsilon_high itself, which acts at ratio 1, and sapo and vespo use no epsilon
RATIO_CLIPPED = ("grpo", "bnpo", "dr_grpo", "dapo", "luspo")


def check_clip(t: dict, steps: int, error):
    """Refuse a clip bound that can never act: when each rollout batch is trained on by one optimizer step, TRL
    takes the old log-probabilities as the current ones (or computes them from the same weights, with vLLM's
    importance-sampling correction), so every ratio is 1. `steps`: TRL's steps_per_generation."""
    accumulation, iterations = t.get("gradient_accumulation_steps", 1), t.get("num_iterations", 1)
    bounds = [k for k in ("epsilon", "epsilon_high") if t.get(k) is not None]
    bounds += ["delta"] if t.get("delta") is not None and t["delta"] >= 1 else []  # below 1 it acts at ratio 1
    if not bounds or t.get("loss_type", "dapo") not in RATIO_CLIPPED or accumulation % (steps * iterations):
        return  # TRL computes old log-probs when steps_per_generation x num_iterations does not divide accumulation
    knob = bounds[0]
    rows = t["generation_batch_size"] // steps if t.get("generation_batch_size") else 0
    fix = f"generation_batch_size: {2 * accumulation * rows}" if rows else f"steps_per_generation: {2 * accumulation}"
    if accumulation % (steps * 2 * iterations):
        fix += f" (or num_iterations: {2 * iterations})"
    raise error(
        f"trainer.{knob}",
        f"{knob}={t[knob]} never acts: every rollout batch is trained on by one optimizer step (steps_per_generation "
        f"{steps} x num_iterations {iterations} divides gradient_accumulation_steps {accumulation}), so every "
        f"importance ratio is 1 and nothing is clipped; for DAPO's several updates per rollout batch set {fix}, or "
        f"drop {knob}",
    )


def main(ctx) -> dict:
    from ponder.trainers.grpo import GRPORequest, train_grpo

    opts = ctx.stage.options
    rows, dropped = ctx.prompt_rows()
    request = GRPORequest(
        ctx.model_source(),
        rows,
        reward_specs(opts),
        opts.lora,
        opts.lcpo,
        ctx.workdir,
        opts.rollout,
        opts.dynamic_sampling,
    )
    result = train_grpo(ctx, request)
    result["metrics"]["dropped_contaminated"] = dropped
    return result


def reward_specs(opts) -> list[RewardSpec]:
    """The recipe's rewards, plus LCPO's when `lcpo:` is set."""
    lcpo = opts.lcpo
    if lcpo is None:
        return list(opts.rewards)
    return [
        *opts.rewards,
        RewardSpec("lcpo", lcpo.weight, {"mode": lcpo.mode, "alpha": lcpo.alpha, "delta": lcpo.delta}),
    ]


KIND = StageKind(
    name="grpo",
    options=Options,
    data_columns=("prompt", "answer"),
    main=main,
    produces=frozenset({"model"}),
    trainer_config="trl.GRPOConfig",
    defaults=DEFAULTS,
    owned={"reward_weights": "weights come from `rewards: [{name, weight}]`"},
    distributed=True,
    check=check,
    curves=("reward", "groups_with_signal", "completions/mean_length"),
    headline=("reward_first", "reward_last", "accuracy_first", "accuracy_last", "groups_with_signal", "global_step"),
)
