"""GRPO on TRL's GRPOTrainer: templated prompts with gold answers, named rewards, optional L1/LCPO budgets."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch
from trl import GRPOTrainer

from ponder.models.prompts import LCPO_SUFFIX, render_prompts
from ponder.trainers.common import lora_config, new_delimiter_embeddings, prepare_model
from ponder.trainers.rewards import build_rewards
from ponder.trainers.run import run_trainer


class PonderGRPOTrainer(GRPOTrainer):
    """TRL's GRPOTrainer whose plain-`generate` rollouts go through `ponder.inference.rollout` (one prefill per
    prompt group, finished rows leave the batch, a KV cache that grows in place, inverse-CDF sampling, the forward
    passes in the precision training uses; bench/rollout_throughput.py).
    vLLM, continuous batching, DeepSpeed, multimodal prompts and sampling knobs the rollout path lacks (min_p,
    repetition_penalty, generation_kwargs) keep TRL's own path."""

    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
        own = (
            self.use_vllm
            or self.use_transformers_continuous_batching
            or self.is_deepspeed_enabled
            or images
            or multimodal_fields
            or self.args.generation_kwargs
            or self.min_p
            or (self.repetition_penalty or 1.0) != 1.0
        )
        if own:
            return super()._generate_single_turn(
                prompt_ids, images, multimodal_fields, num_generations, has_tool_images
            )
        from trl.models import unwrap_model_for_generation

        from ponder.inference.rollout import Sampling, rollout

        sampling = Sampling(
            self.max_completion_length,
            tuple(self.eos_token_ids),
            self._tokenizer.pad_token_id,
            self.temperature,
            self.top_p,
            self.top_k or 0,
        )
        precision = torch.bfloat16 if self.args.bf16 else torch.float16 if self.args.fp16 else None
        with unwrap_model_for_generation(self.model_wrapped, self.accelerator) as unwrapped:
            completion_ids = rollout(unwrapped, prompt_ids, sampling, precision=precision)
        return completion_ids, None

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """TRL's loss on only the completions whose advantage is not zero, where that gives the same gradient.

        With `beta=0`, no entropy bonus or entropy mask and a loss normalised by the whole generation batch's token
        count (`dapo`, TRL's default, or `cispo`), a completion with zero advantage (every completion of a group that
        scored alike) adds nothing to the loss or its gradient; its forward and backward passes are skipped. At least
        one row stays so every micro-batch runs a backward pass (DDP). The loss's logged figures (entropy, clip
        ratios) are then means over the completions that carried signal."""
        exact = (
            self.beta == 0.0
            and self.loss_type in ("dapo", "cispo")
            and not self._entropy_bonus_enabled
            and self.top_entropy_quantile >= 1.0
            and model.training
        )
        if exact:
            inputs = keep_rows(inputs)
        return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)


def keep_rows(inputs: dict) -> dict:
    """`inputs` restricted to the rows whose advantage is not zero (the first row if none is): every tensor whose
    first dimension is the batch's."""
    advantages = inputs["advantages"]
    signal = advantages.reshape(len(advantages), -1).ne(0).any(dim=1)
    if bool(signal.all()):
        return inputs
    if not bool(signal.any()):
        signal[0] = True
    rows = len(advantages)
    return {
        k: v[signal] if isinstance(v, torch.Tensor) and v.dim() > 0 and v.shape[0] == rows else v
        for k, v in inputs.items()
    }


@dataclass
class GRPORequest:
    """What one GRPO run trains: `source` on prompt/answer `rows` with the rewards `rewards` ([RewardSpec])."""

    source: str
    rows: list
    rewards: list
    lora: object  # LoraSettings, or None = full
    lcpo: object  # LcpoSettings, or None
    out_dir: Path
    rollout: str = "ponder"  # ponder (PonderGRPOTrainer) or trl (TRL's own generate)


def train_grpo(ctx, request: GRPORequest) -> dict:
    """RL on the request's rows with the stage kind's trainer settings; returns {metrics, artifacts}.

    `reward_weights` is owned: it comes from the specs (plus weight-0 accuracy and thinking-length metrics)."""
    import datasets

    thinking, lora, lcpo, source = ctx.recipe.thinking, request.lora, request.lcpo, request.source
    model, tokenizer, base = prepare_model(ctx, source, request.out_dir)
    lcpo_range = lcpo.budget_range if lcpo else None
    rows = render_prompts(request.rows, tokenizer, lcpo_range=lcpo_range, seed=ctx.recipe.seed)
    dataset = datasets.Dataset.from_list(rows)
    reward_funcs, weights = build_rewards(
        request.rewards, tokenizer.convert_tokens_to_ids(thinking.think_end), thinking
    )

    def build(args):
        trainer_cls = PonderGRPOTrainer if request.rollout == "ponder" else GRPOTrainer
        return trainer_cls(
            model=model,
            reward_funcs=reward_funcs,
            args=args,
            train_dataset=dataset,
            processing_class=tokenizer,
            peft_config=lora_config(lora, embeddings=new_delimiter_embeddings(model)) if lora else None,
        )

    def curve(trainer) -> dict:
        return {**reward_curve(trainer.state.log_history), "prompts": len(dataset)}

    contract = dataclasses.replace(thinking, budget_prompt=LCPO_SUFFIX) if lcpo else thinking
    return run_trainer(
        ctx,
        build,
        out_dir=request.out_dir,
        source=base,
        tokenizer=tokenizer,
        is_lora=lora is not None,
        runtime={"reward_weights": weights},
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
