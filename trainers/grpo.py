"""GRPO on TRL's GRPOTrainer: templated prompts with gold answers, named rewards, optional L1/LCPO budgets."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from trl import GRPOConfig, GRPOTrainer

from ponder.data.prompts import LCPO_SUFFIX, render_prompts
from ponder.trainers.common import lora_config, new_delimiter_embeddings, prepare_model
from ponder.trainers.rewards import build_rewards
from ponder.trainers.run import run_trainer


def train_grpo(ctx, source: str, rows: list[dict], specs: list, lora, lcpo, defaults: dict, out_dir: Path) -> dict:
    """RL from `source` on prompt/answer rows with the rewards `specs` ([RewardSpec]); returns {metrics, artifacts}.

    `reward_weights` is owned: it comes from the specs (plus weight-0 accuracy and thinking-length metrics)."""
    import datasets

    thinking = ctx.recipe.thinking
    model, tokenizer, base = prepare_model(ctx, source, out_dir)
    lcpo_range = lcpo.budget_range if lcpo else None
    dataset = datasets.Dataset.from_list(render_prompts(rows, tokenizer, lcpo_range=lcpo_range, seed=ctx.recipe.seed))
    reward_funcs, weights = build_rewards(specs, tokenizer.convert_tokens_to_ids(thinking.think_end), thinking)

    def build(args):
        return GRPOTrainer(
            model=model,
            reward_funcs=reward_funcs,
            args=args,
            train_dataset=dataset,
            processing_class=tokenizer,
            peft_config=lora_config(lora, embeddings=new_delimiter_embeddings(model, source, thinking))
            if lora
            else None,
        )

    def curve(trainer) -> dict:
        return {**reward_curve(trainer.state.log_history), "prompts": len(dataset)}

    contract = dataclasses.replace(thinking, budget_prompt=LCPO_SUFFIX) if lcpo else thinking
    return run_trainer(
        ctx,
        GRPOConfig,
        defaults,
        build,
        out_dir=out_dir,
        source=base,
        tokenizer=tokenizer,
        is_lora=lora is not None,
        owned={"reward_weights": weights},
        extra_metrics=curve,
        export={"note": lcpo_note(lcpo) if lcpo else "", "thinking": contract},
    )


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
