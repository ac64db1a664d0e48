"""`grpo` stage: RL with verifiable rewards on TRL's GRPOTrainer (LoRA or full, any launcher).

Prompts come from an earlier data stage / a data file (prompt + answer columns) or straight from
tasks; rewards are named (ponder.rewards.registry) or dotted paths, with weights. Every GRPOConfig
field passes through `trainer:`. The L1/LCPO option states a budget in each prompt ("Think for N
tokens.") and adds the LCPO reward, so the checkpoint learns to follow budgets stated in prompts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Optional

from trl import GRPOConfig

from ponder.recipes.schema import LoraSettings

TRAINER_CONFIG = GRPOConfig


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
class Options:
    rewards: list[RewardSpec] = field(
        default_factory=lambda: [RewardSpec("accuracy", 1.0), RewardSpec("format", 0.2)],
        metadata={"help": "Rewards: [{name, weight, params}]."},
    )
    lora: Optional[LoraSettings] = field(default_factory=LoraSettings, metadata={"help": "`lora: null` = full."})
    tasks: list = field(default_factory=list, metadata={"help": "Task names for prompts when `data` is not given."})
    size: int = field(default=256, metadata={"help": "Prompts per task (with `tasks`)."})
    difficulty: dict = field(default_factory=dict, metadata={"help": "task -> [lo, hi] difficulty range."})
    lcpo: Optional[LcpoSettings] = field(default=None, metadata={"help": "Length-controlled RL (L1/LCPO)."})

    def __post_init__(self):
        from ponder.rewards.registry import get_reward

        for spec in self.rewards:
            if spec.name != "lcpo":  # lcpo needs the tokenizer's </think> id, known only at train time
                get_reward(spec.name, **spec.params)  # unknown names and bad parameters fail in validate


def check(stage, recipe, error):
    if stage.data is None and not stage.options.tasks:
        raise error("data", "grpo needs prompts: `data:` (a stage or a file with prompt + answer) or `tasks:`")
    t = stage.trainer
    processes = stage.launcher.num_processes
    per_device = t.get("per_device_train_batch_size", 8)
    steps = t.get("steps_per_generation") or t.get("gradient_accumulation_steps", 1)
    batch = t.get("generation_batch_size") or per_device * processes * steps
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


def main(ctx) -> dict:
    import datasets
    from trl import GRPOTrainer

    from ponder.data.prompts import render_prompts
    from ponder.data.tasks import task_rows
    from ponder.trainers.common import (
        cpu_defaults,
        deepspeed_args,
        export_checkpoint,
        last_checkpoint,
        log_metrics,
        lora_config,
        prepare_model,
    )
    from ponder.trainers.rewards import build_rewards

    recipe, stage, opts = ctx.recipe, ctx.stage, ctx.stage.options
    thinking = recipe.thinking

    # 1. Model: usually an sft stage's merged checkpoint.
    model, tokenizer, source = prepare_model(ctx, ctx.model_source(), ctx.workdir)

    # 2. Prompts: templated text ending in the `<think>` prefill, with gold answers (and LCPO budgets).
    rows = (
        ctx.dataset(("prompt", "answer")).to_list()
        if stage.data is not None
        else task_rows(opts.tasks, opts.size, recipe.seed + 1, opts.difficulty)
    )
    lcpo = opts.lcpo
    dataset = datasets.Dataset.from_list(
        render_prompts(rows, tokenizer, lcpo_range=lcpo.budget_range if lcpo else None, seed=recipe.seed)
    )

    # 3. Rewards by name, guarded; accuracy and thinking length always logged.
    specs = list(opts.rewards)
    if lcpo:
        specs.append(RewardSpec("lcpo", lcpo.weight, {"mode": lcpo.mode, "alpha": lcpo.alpha, "delta": lcpo.delta}))
    think_end_id = tokenizer.convert_tokens_to_ids(thinking.think_end)
    reward_funcs, weights = build_rewards(specs, think_end_id)

    args = GRPOConfig(
        **{
            "logging_steps": 1,
            "save_steps": 25,
            "save_total_limit": 2,
            "seed": recipe.seed,
            "report_to": recipe.report_to,
            "max_completion_length": 128,
            "log_completions": True,
            "num_completions_to_print": 2,
            **cpu_defaults(),
            **deepspeed_args(stage.launcher),
            **stage.trainer,
            "reward_weights": weights,
            "output_dir": str(ctx.workdir / "trainer"),
        }
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=reward_funcs,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=lora_config(opts.lora) if opts.lora else None,
    )
    checkpoint = last_checkpoint(args.output_dir) if ctx.resume else None
    if checkpoint:
        print(f"resuming from {checkpoint}", flush=True)
    trainer.train(resume_from_checkpoint=checkpoint)

    # 4. Metrics: the reward curve's first and last windows, and the checkpoint with its contract.
    metrics = {**log_metrics(trainer, ctx.workdir), **reward_curve(trainer.state.log_history), "prompts": len(dataset)}
    from ponder.data.prompts import LCPO_SUFFIX

    contract = dataclasses.replace(thinking, budget_prompt=LCPO_SUFFIX) if lcpo else thinking
    artifacts = export_checkpoint(
        trainer,
        ctx,
        source,
        tokenizer,
        opts.lora is not None,
        metrics,
        note=lcpo_note(lcpo) if lcpo else "",
        thinking=contract,
    )
    return {"metrics": metrics, "artifacts": artifacts}


def reward_curve(history: list[dict], window: int = 5) -> dict:
    """Mean of each logged reward over the first and the last `window` logging steps."""
    keys = sorted({k for h in history for k in h if k.startswith("rewards/") and k.endswith("/mean")} | {"reward"})
    out = {}
    for key in keys:
        values = [h[key] for h in history if key in h]
        if values:
            name = key.removeprefix("rewards/").removesuffix("/mean")
            out[f"{name}_first"] = sum(values[:window]) / len(values[:window])
            out[f"{name}_last"] = sum(values[-window:]) / len(values[-window:])
    return out


def lcpo_note(lcpo) -> str:
    return (
        f'\nTrained with L1/LCPO-{lcpo.mode}: prompts end with "Think for N tokens." (N in '
        f"{lcpo.budget_range}); state a budget the same way to have the model follow it."
    )
