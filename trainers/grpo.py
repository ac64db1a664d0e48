"""GRPO on TRL's GRPOTrainer: templated prompts with gold answers, named rewards, optional L1/LCPO budgets."""

from __future__ import annotations

import dataclasses
import math
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch
from trl import GRPOTrainer

from ponder.models.prompts import LCPO_SUFFIX, render_prompts
from ponder.trainers.common import lora_config, new_delimiter_embeddings, prepare_model
from ponder.trainers.rewards import build_rewards
from ponder.trainers.run import run_trainer


class PonderGRPOTrainer(GRPOTrainer):
    """TRL's GRPOTrainer with honest group statistics, DAPO's dynamic sampling and, optionally, ponder's rollouts.

    - **Groups with signal**: a group whose weighted rewards agree within `signal_rtol` x the reward scale (the sum
      of the reward weights' magnitudes) teaches nothing; TRL still gives it float-noise advantages (weights 1.0 and
      0.2 leave a std of ~1e-7, which TRL's `frac_reward_zero_std`, `isclose(std, 0)` at atol 1e-8, counts as
      signal). Here such a group's advantages are exactly 0 (so `compute_loss` skips its rows) and every step logs
      `groups_with_signal`, the share of the optimizer batch's groups that carry any.
    - **Dynamic sampling** (`dynamic_sampling`, DAPO; verl's `filter_groups`): groups without signal are dropped and
      groups of fresh prompts (drawn from the training set) are generated and scored in their place, up to
      `max_draws` generation rounds a step; the batch keeps its size (if the rounds run out, the best of the rest
      fill it, with zero advantage). Logged per step: `dynamic_sampling/groups_drawn`, `.../groups_kept`,
      `.../groups_dropped`.
    - **Pre-rollout filtering** (`dynamic_sampling.skip_known`, GRESO): the trainer remembers which prompts' last
      group had no signal; drawn again (in the step's own batch or a fresh draw), such a prompt is skipped with that
      probability before anything is generated for it, and a fresh prompt takes its place (at most one pass over
      the training set per draw: when every prompt is known, known ones are generated). Logged per step:
      `dynamic_sampling/prompts_skipped`.
    - **Answers without a verdict**: a reward that returns nan for a completion (the verifier ran out of time, see
      `ponder.rewards.math_answers`) makes that completion unscorable: out of its group's baseline, advantage 0,
      counted as `verifier_timeouts`; never scored as wrong.
    - **Rollouts** (`ponder_rollout`): plain-`generate` rollouts go through `ponder.inference.rollout` (one prefill
      per prompt group, finished rows leave the batch, a KV cache that grows in place, inverse-CDF sampling, the
      forward passes in the precision training uses; bench/rollout_throughput.py). vLLM, continuous batching,
      DeepSpeed, multimodal prompts and sampling knobs the rollout path lacks (min_p, repetition_penalty,
      generation_kwargs) keep TRL's own path."""

    def __init__(self, *args, ponder_rollout: bool = True, dynamic_sampling=None, signal_rtol: float = 1e-4, **kw):
        super().__init__(*args, **kw)
        self.ponder_rollout, self.dynamic_sampling = ponder_rollout, dynamic_sampling
        self.signal_tolerance = signal_rtol * max(1e-8, float(self.reward_weights.abs().sum()))
        self.signal_totals = Counter()  # over the run: groups, signal groups, steps, steps with signal, ...
        self._fresh_order, self._fresh_seed = [], self.args.seed + 7919 * self.accelerator.process_index
        self._round_timeouts = 0
        self._without_signal, self._skipped = set(), 0  # prompts whose last group had no signal; skips this step
        self._skip_draws = random.Random(self._fresh_seed)
        skipping = dynamic_sampling is not None and dynamic_sampling.skip_known
        self._prompts = self.train_dataset["prompt"] if skipping else None  # one column read, not a row per skip

    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
        own = (
            not self.ponder_rollout
            or self.use_vllm
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

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        """TRL's rewards (gathered over processes), with every reward of a completion that some reward left without a
        verdict (nan) set to nan: TRL then leaves it out of its group's baseline and gives it advantage 0."""
        from accelerate.utils import gather

        rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        local = torch.zeros(len(prompts), dtype=torch.bool, device=rewards.device)
        for func in self.reward_funcs:
            local[list(getattr(func, "no_verdict", ()))] = True
        unverified = gather(local)
        rewards[unverified] = torch.nan
        self._round_timeouts = int(unverified.sum())
        self._round_rewards = rewards
        return rewards

    def _generate_and_score_completions(self, inputs):
        if not self.model.training:
            return super()._generate_and_score_completions(inputs)
        group = self.num_generations
        needed = len(inputs) // group
        settings = self.dynamic_sampling
        if settings is not None and settings.skip_known:
            inputs = self._without_known(inputs)
        rounds = [self._scored_round(inputs)]
        while settings is not None and len(rounds) < settings.max_draws:
            kept = sum(int(signal.sum()) for _, signal in rounds)
            drawn = sum(len(signal) for _, signal in rounds)
            missing = self._max_over_processes(needed - min(kept, needed))
            if missing == 0:
                break
            rate = max(kept / drawn, 1 / needed)  # the signal rate so far sizes the next draw
            size = self._max_over_processes(min(needed, math.ceil(missing / rate)))
            rounds.append(self._scored_round(self._fresh_rows(size)))
        batch, kept = assemble(rounds, needed, group, self._tokenizer.pad_token_id)
        if len(rounds) > 1:
            loss_mask = batch["completion_mask"] * batch.get("tool_mask", 1)
            batch["num_items_in_batch"] = self.accelerator.gather(loss_mask.sum()).sum()
        self._log_groups(rounds, kept, needed)
        return batch

    def _scored_round(self, inputs) -> tuple[dict, torch.Tensor]:
        """One TRL generate-and-score pass over `inputs`: (its batch, whether each local group carries signal), the
        advantages of the groups without signal set to exactly 0."""
        batch = super()._generate_and_score_completions(inputs)
        weights = self.reward_weights.to(self._round_rewards.device)
        summed = (self._round_rewards * weights).nansum(dim=1)
        summed[torch.isnan(self._round_rewards).all(dim=1)] = torch.nan
        everywhere = groups_with_signal(summed, self.num_generations, self.signal_tolerance)
        if self.dynamic_sampling is not None and self.dynamic_sampling.skip_known:
            self._remember(inputs, summed, everywhere)
        start = self.accelerator.process_index * len(inputs) // self.num_generations
        signal = everywhere[start : start + len(inputs) // self.num_generations].to(batch["advantages"].device)
        advantages = batch["advantages"]
        rows = signal.repeat_interleave(self.num_generations).to(advantages.dtype)
        batch["advantages"] = advantages * rows.reshape(-1, *[1] * (advantages.dim() - 1))
        self.signal_totals["verifier_timeouts"] += self._round_timeouts
        self._metrics["train"]["verifier_timeouts"].append(float(self._round_timeouts))
        return batch, signal

    def _remember(self, inputs: list[dict], summed: torch.Tensor, signal: torch.Tensor):
        """Note, over all processes, which prompts' groups just had no signal (a group with fewer than two scored
        completions tells nothing and is not noted) and forget those that had some."""
        from accelerate.utils import gather_object

        group = self.num_generations
        keys = gather_object([inputs[start]["prompt"] for start in range(0, len(inputs), group)])
        scored = (~torch.isnan(summed.view(-1, group))).sum(dim=1) >= 2
        for key, has, judged in zip(keys, signal.tolist(), scored.tolist()):
            if has:
                self._without_signal.discard(key)
            elif judged:
                self._without_signal.add(key)

    def _fresh_rows(self, groups: int) -> list[dict]:
        """`groups` prompts from the training set (a seeded shuffle per process, cycled), each repeated per
        generation: the groups dynamic sampling draws in place of dropped (or skipped) ones. With `skip_known`, a
        prompt known to lack signal is passed over (as `_skip` decides), for at most one pass over the set."""
        dataset = self.train_dataset
        rows, passed = [], 0
        while len(rows) < groups:
            if not self._fresh_order:
                generator = torch.Generator().manual_seed(self._fresh_seed)
                self._fresh_seed += 1
                self._fresh_order = torch.randperm(len(dataset), generator=generator).tolist()
            index = self._fresh_order.pop()
            if passed < len(dataset) and self._prompts is not None and self._skip(self._prompts[index]):
                passed += 1
                continue
            rows.append(dataset[index])
        return [dict(row) for row in rows for _ in range(self.num_generations)]

    def _without_known(self, inputs: list[dict]) -> list[dict]:
        """The step's own batch with each group whose prompt `_skip` passes over replaced by a fresh one (one draw
        for them all)."""
        group = self.num_generations
        groups = [inputs[start : start + group] for start in range(0, len(inputs), group)]
        skipped = [index for index, rows in enumerate(groups) if self._skip(rows[0]["prompt"])]
        fresh = self._fresh_rows(len(skipped)) if skipped else []
        for n, index in enumerate(skipped):
            groups[index] = fresh[n * group : (n + 1) * group]
        return [row for rows in groups for row in rows]

    def _skip(self, prompt: str) -> bool:
        """Whether to skip `prompt` (rendered, as in the training set) before generating: its last group had no
        signal and the `skip_known` coin says skip (counted in this step's `prompts_skipped`)."""
        if prompt not in self._without_signal:
            return False
        skip = self._skip_draws.random() < self.dynamic_sampling.skip_known
        self._skipped += skip
        return skip

    def _max_over_processes(self, value: int) -> int:
        if self.accelerator.num_processes == 1:
            return value
        return int(self.accelerator.gather(torch.tensor([value], device=self.accelerator.device)).max())

    def _log_groups(self, rounds, kept: int, needed: int):
        """Per step: the share of the batch's groups with signal (and, with dynamic sampling, groups drawn / kept /
        dropped, prompts skipped), summed over processes; run totals in `signal_totals`."""
        drawn = sum(len(signal) for _, signal in rounds)
        signal_drawn = sum(int(signal.sum()) for _, signal in rounds)
        counts = torch.tensor([needed, kept, drawn, signal_drawn, self._skipped], device=self.accelerator.device)
        needed, kept, drawn, signal_drawn, skipped = self.accelerator.gather(counts).view(-1, 5).sum(dim=0).tolist()
        self._skipped = 0
        metrics = self._metrics["train"]
        metrics["groups_with_signal"].append(kept / needed)
        if self.dynamic_sampling is not None:
            metrics["dynamic_sampling/groups_drawn"].append(float(drawn))
            metrics["dynamic_sampling/groups_kept"].append(float(kept))
            metrics["dynamic_sampling/groups_dropped"].append(float(drawn - kept))
            metrics["dynamic_sampling/rounds"].append(float(len(rounds)))
            if self.dynamic_sampling.skip_known:
                metrics["dynamic_sampling/prompts_skipped"].append(float(skipped))
        totals = self.signal_totals
        totals["groups"] += needed
        totals["groups_with_signal"] += kept
        totals["groups_drawn"] += drawn
        totals["groups_drawn_with_signal"] += signal_drawn
        totals["prompts_skipped"] += skipped
        totals["steps"] += 1
        totals["steps_with_signal"] += int(kept > 0)

    def signal_metrics(self) -> dict:
        """Run totals for result.json: shares of groups and steps with signal, draws, prompts skipped, verifier
        timeouts."""
        t = self.signal_totals
        return {
            "groups_with_signal": t["groups_with_signal"] / max(t["groups"], 1),
            "steps_with_signal": t["steps_with_signal"] / max(t["steps"], 1),
            "groups_drawn": t["groups_drawn"],
            "groups_drawn_with_signal": t["groups_drawn_with_signal"],
            "prompts_skipped": t["prompts_skipped"],
            "verifier_timeouts": t["verifier_timeouts"],
        }

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


def groups_with_signal(rewards: torch.Tensor, group: int, tolerance: float) -> torch.Tensor:
    """Per group of `group` consecutive rows of `rewards` (summed, weighted; nan = unscorable): whether its scorable
    rewards spread by more than `tolerance` (at least two of them), i.e. whether GRPO's advantages carry signal.

    Example:
        >>> groups_with_signal(torch.tensor([1.2, 1.2 + 1e-7, 0.2, 1.2]), 2, 1e-4)
        tensor([False,  True])
    """
    grouped = rewards.view(-1, group)
    scorable = ~torch.isnan(grouped)
    high = torch.where(scorable, grouped, -torch.inf).max(dim=1).values
    low = torch.where(scorable, grouped, torch.inf).min(dim=1).values
    return (scorable.sum(dim=1) >= 2) & (high - low > tolerance)


LEFT_PADDED = {"prompt_ids", "prompt_mask"}
PAD_VALUES = {"tool_mask": 1}


def assemble(rounds: list, needed: int, group: int, pad_token_id: int) -> tuple[dict, int]:
    """One batch of `needed` groups from generation rounds [(batch, signal per group)]: the groups with signal in the
    order they were drawn, then (when too few) the rest; (batch, groups with signal in it). Rows are re-padded to
    the widest round (prompts on the left, completions and per-token tensors on the right)."""
    groups = [(r, g, bool(signal[g])) for r, (_, signal) in enumerate(rounds) for g in range(len(signal))]
    picks = [(r, g) for r, g, has in groups if has] + [(r, g) for r, g, has in groups if not has]
    kept, picks = min(sum(has for _, _, has in groups), needed), picks[:needed]
    if len(rounds) == 1:  # nothing drawn beyond the step's own batch: keep it as TRL made it
        return rounds[0][0], kept
    batches = [b for b, _ in rounds]
    rows = [
        torch.tensor([g * group + i for r2, g in picks if r2 == r for i in range(group)], dtype=torch.long)
        for r in range(len(rounds))
    ]
    merged = {}
    for key, value in batches[0].items():
        if not (isinstance(value, torch.Tensor) and value.dim() > 0):
            if isinstance(value, list):
                raise ValueError(f"dynamic sampling cannot merge the per-row list {key!r} (multimodal batches)")
            merged[key] = value  # e.g. num_items_in_batch, recomputed by the caller
            continue
        parts = [b[key][index.to(b[key].device)] for b, index in zip(batches, rows)]
        width = max(p.shape[1] for p in parts) if value.dim() > 1 else None
        fill = pad_token_id if key in ("prompt_ids", "completion_ids") else PAD_VALUES.get(key, 0)
        if width is not None:
            parts = [pad_to(p, width, fill, left=key in LEFT_PADDED) for p in parts]
        merged[key] = torch.cat(parts)
    return merged, kept


def pad_to(tensor: torch.Tensor, width: int, value, left: bool) -> torch.Tensor:
    missing = width - tensor.shape[1]
    if missing == 0:
        return tensor
    padding = tensor.new_full((tensor.shape[0], missing, *tensor.shape[2:]), value)
    return torch.cat([padding, tensor] if left else [tensor, padding], dim=1)


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
    rollout: str = "ponder"  # ponder (ponder.inference.rollout) or trl (TRL's own generate)
    dynamic_sampling: object = None  # DynamicSamplingSettings (max_draws, signal_rtol, skip_known), or None = off


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

    sampling = request.dynamic_sampling

    def build(args):
        return PonderGRPOTrainer(
            model=model,
            reward_funcs=reward_funcs,
            args=args,
            train_dataset=dataset,
            processing_class=tokenizer,
            peft_config=lora_config(lora, embeddings=new_delimiter_embeddings(model)) if lora else None,
            ponder_rollout=request.rollout == "ponder",
            dynamic_sampling=sampling,
            **({"signal_rtol": sampling.signal_rtol} if sampling is not None else {}),
        )

    def curve(trainer) -> dict:
        return {**reward_curve(trainer.state.log_history), **trainer.signal_metrics(), "prompts": len(dataset)}

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
