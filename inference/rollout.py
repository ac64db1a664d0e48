"""Rollouts for RL: many samples of a few prompts, fast where `generate` wastes work.

A GRPO batch is G samples of each of a few prompts, of very different lengths. Plain `generate` (TRL's default
rollout path) prefills every copy of a prompt and keeps computing every row until the longest one ends. Here:
- **one prefill per prompt**: the rows that repeat a prompt share its KV cache, gathered once per row;
- **finished rows leave the batch**: when enough rows have ended, the cache, mask and positions are compacted,
  so the work follows the tokens actually sampled, not batch x the longest completion;
- **one uniform per row to sample**: `torch.multinomial` draws an exponential per vocabulary entry (64 ms a step
  for 64 rows of SmolLM2's 49k vocabulary on 2 cores, a third of a decode step); the inverse CDF needs one.
- **a KV cache that grows in place** (`GrowingLayer`): `DynamicLayer` concatenates, copying the whole cache every
  step (a quarter of a rollout's CPU time);
- **the trainer's precision**: forward passes under bf16 autocast when the trainer trains in bf16 (on a 2-core CPU
  with native bf16, 347 vs 215 tokens/s for the same rollout in fp32);
- **LoRA folded in for the rollout** (`generation_weights`, under autocast): each adapted linear layer runs as one
  matmul on a bf16 copy of W + BA made once per rollout, instead of autocast re-casting its frozen fp32 weight every
  step (autocast caches only weights that require grad) and three more small ops for the adapter.
Sampling is plain ancestral sampling with temperature, top-k and top-p, as TRL configures `generate`.
`bench/rollout_throughput.py` measures it against TRL's default generation on the same model and batch.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn
from transformers.cache_utils import Cache, DynamicLayer


@dataclass
class Sampling:
    """How completions are sampled (GRPOConfig's names)."""

    max_new_tokens: int
    eos_token_ids: tuple
    pad_token_id: int
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0


class GrowingLayer(DynamicLayer):
    """A KV cache layer that writes each step into room kept ahead (`ROOM` positions at a time) instead of
    concatenating: `DynamicLayer` copies the whole cache every step (on SmolLM2, 64 rows, 128 new tokens: 25% of a
    rollout's CPU time went to `torch.cat`)."""

    ROOM = 64

    def lazy_initialization(self, key_states, value_states):
        super().lazy_initialization(key_states, value_states)
        self.length, self.key_room, self.value_room = 0, None, None

    def update(self, key_states, value_states, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        end = self.length + key_states.shape[-2]
        if self.key_room is None or end > self.key_room.shape[-2]:
            self.key_room, self.value_room = (
                self.grown(room, new, end + self.ROOM)
                for room, new in ((self.key_room, key_states), (self.value_room, value_states))
            )
        self.key_room[..., self.length : end, :] = key_states
        self.value_room[..., self.length : end, :] = value_states
        self.length = end
        self.keys, self.values = self.key_room[..., :end, :], self.value_room[..., :end, :]
        return self.keys, self.values

    def grown(self, room, new, size: int):
        bigger = new.new_empty((*new.shape[:-2], size, new.shape[-1]))
        if room is not None:
            bigger[..., : self.length, :] = room[..., : self.length, :]
        return bigger

    def get_seq_length(self) -> int:
        return self.length if self.is_initialized else 0

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        if self.get_seq_length() > 0:
            self.key_room, self.value_room = self.key_room[indices], self.value_room[indices]
            self.keys, self.values = self.key_room[..., : self.length, :], self.value_room[..., : self.length, :]


@torch.no_grad()
def rollout(
    model,
    prompt_ids: list[list[int]],
    sampling: Sampling,
    generator: torch.Generator | None = None,
    precision: torch.dtype | None = None,
    processor=None,
    streamer=None,
    cancelled: Callable[[int], bool] | None = None,
):
    """Completion token ids for each row of `prompt_ids` (ending with an EOS id when the model ended the row).
    Consecutive rows with the same prompt (GRPO's groups) share its prefill. `precision`: autocast the forward
    passes to this dtype (the trainer's bf16/fp16: generate in the precision it trains in).

    `processor`: per-row logits control with `begin(prompts)` and `step(rows, last_tokens, scores)` (s1 budget
    forcing, `BudgetForcingProcessor`); `streamer`: an HF streamer (`put` the prompt, then each token; `end`), for
    one row; `cancelled(row)`: True ends that row where it is (a client that went away)."""
    if streamer is not None and len(prompt_ids) != 1:
        raise ValueError(f"a streamer follows one row, got {len(prompt_ids)}")
    hooks = (processor, streamer, cancelled)
    if precision is None:
        return _rollout(model, prompt_ids, sampling, generator, *hooks)
    with torch.autocast(model.device.type, dtype=precision), generation_weights(model, precision):
        return _rollout(model, prompt_ids, sampling, generator, *hooks)


@contextmanager
def generation_weights(model: nn.Module, dtype: torch.dtype):
    """`model` with every PEFT LoRA linear layer replaced, until the block ends, by a plain `nn.Linear` holding its
    merged weight W + BA (active adapters) in `dtype`; the LoRA layers go back where they were on exit, untouched
    (the same modules and tensors, so training goes on as before). The same function, rounded once instead of per
    step: on SmolLM2-135M with r=16 adapters on every linear layer, under bf16 autocast on a 2-core CPU with native
    bf16, a GRPO-shaped rollout ran at 422 vs 282 tokens/s (bench/rollout_throughput.py --lora). A model without
    LoRA is left as it is. Costs one `dtype` copy of the adapted weights while it lasts."""
    swapped = []
    try:
        for name, module in list(model.named_modules()):
            base = getattr(module, "base_layer", None)
            if not (hasattr(module, "get_delta_weight") and isinstance(base, nn.Linear)):
                continue
            if any(module.use_dora.get(adapter) for adapter in module.active_adapters):
                continue  # DoRA rescales W + BA by a norm: left to PEFT's own forward
            with torch.no_grad():
                weight = base.weight.detach().clone()
                if not (module.disable_adapters or module.merged):  # else the base layer alone is the function
                    for adapter in module.active_adapters:
                        weight += module.get_delta_weight(adapter)
            plain = nn.Linear(base.in_features, base.out_features, bias=base.bias is not None, device="meta")
            plain.weight = nn.Parameter(weight.to(dtype), requires_grad=False)
            if base.bias is not None:
                plain.bias = nn.Parameter(base.bias.detach().to(dtype), requires_grad=False)
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent), child, plain)
            swapped.append((parent, child, module))
        yield model
    finally:
        for parent, child, module in swapped:
            setattr(model.get_submodule(parent), child, module)


def cache_keyword(model) -> str:
    """The argument a model's forward takes its KV cache by: `cache` since transformers renamed it (5.2x; the old
    name still works there, with a FutureWarning on every call), `past_key_values` before and for wrappers (PEFT)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


def _rollout(model, prompt_ids, sampling, generator, processor, streamer, cancelled):
    device = model.device
    unique, row_prompt = [], []
    for ids in prompt_ids:
        if not unique or unique[-1] != ids:
            unique.append(ids)
        row_prompt.append(len(unique) - 1)
    width, pad = max(len(ids) for ids in unique), sampling.pad_token_id
    ids = torch.tensor([[pad] * (width - len(p)) + p for p in unique], device=device)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in unique], device=device)
    kv, cache = Cache(layer_class_to_replicate=GrowingLayer), cache_keyword(model)
    if width > 1:  # all but each prompt's last token, once per distinct prompt; no logits needed
        positions = (mask[:, :-1].cumsum(-1) - 1).clamp(min=0)
        inputs = {"input_ids": ids[:, :-1], "attention_mask": mask[:, :-1], "position_ids": positions}
        model(**inputs, **{cache: kv}, logits_to_keep=1)
    rows = torch.tensor(row_prompt, device=device)
    kv.batch_select_indices(rows)
    mask, current = mask[rows], ids[rows, -1]
    alive = torch.arange(len(prompt_ids), device=device)  # the original row of each row still in the batch
    finished = torch.zeros(len(prompt_ids), dtype=torch.bool, device=device)
    eos = torch.tensor(list(sampling.eos_token_ids), device=device)
    out = [[] for _ in prompt_ids]
    if processor is not None:
        processor.begin(prompt_ids)
    if streamer is not None:
        streamer.put(torch.tensor(prompt_ids[0]))
    last = None  # each row's last sampled token, for the processor
    for _ in range(sampling.max_new_tokens):
        position = mask.sum(-1, keepdim=True) - 1
        logits = model(input_ids=current[:, None], attention_mask=mask, position_ids=position, **{cache: kv})
        scores = logits.logits[:, -1, :].float()
        if processor is not None:
            scores = processor.step(alive.tolist(), last, scores)
        token = sample(scores, sampling, generator)
        for row, t, live in zip(alive.tolist(), token.tolist(), (~finished).tolist()):
            if live:
                out[row].append(t)
                if streamer is not None:
                    streamer.put(torch.tensor([t]))
        finished |= torch.isin(token, eos)
        if cancelled is not None:
            finished |= torch.tensor([cancelled(row) for row in alive.tolist()], device=device)
        if finished.all():
            break
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=-1)
        current = torch.where(finished, torch.full_like(token, pad), token)  # a finished row is fed padding
        gone = int(finished.sum())
        if gone and (gone * 8 >= len(alive) or len(alive) <= 8):  # compact: the finished rows leave the batch
            keep = (~finished).nonzero().squeeze(-1)
            kv.batch_select_indices(keep)
            mask, current, alive, finished = mask[keep], current[keep], alive[keep], finished[keep]
        last = current.tolist()
    if streamer is not None:
        streamer.end()
    return out


def sample(logits: torch.Tensor, sampling: Sampling, generator=None) -> torch.Tensor:
    """One token per row: temperature, then top-k, then top-p (nucleus), then a draw by the inverse CDF."""
    if sampling.temperature <= 0:
        return logits.argmax(-1)
    if sampling.temperature != 1.0:
        logits = logits / sampling.temperature
    if sampling.top_k and sampling.top_k < logits.shape[-1]:
        kth = logits.topk(sampling.top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if sampling.top_p < 1.0:
        ordered, order = logits.sort(dim=-1, descending=True)
        mass = ordered.softmax(-1)
        drop = mass.cumsum(-1) - mass > sampling.top_p  # keep the smallest set reaching top_p
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    cdf = logits.softmax(-1).cumsum(-1)
    draw = torch.rand((logits.shape[0], 1), generator=generator, device=logits.device) * cdf[:, -1:]
    return torch.searchsorted(cdf, draw).clamp(max=logits.shape[-1] - 1).squeeze(-1)
