"""`generate`: chat messages in, reasoning + answer out, with min/max thinking budgets per row, on the rollout path."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ponder.inference.budget import ANSWERING, BudgetForcingProcessor
from ponder.inference.rollout import Sampling, rollout
from ponder.models.thinking import ThinkingConfig


@dataclass
class Generation:
    reasoning: str
    answer: str
    thinking_tokens: int
    extensions: int
    forced_stop: bool
    completion_tokens: int
    prompt_tokens: int
    text: str  # everything generated, special tokens included


def thinking_config_of(model) -> ThinkingConfig:
    return ThinkingConfig.from_generation_config(getattr(model, "generation_config", None))


def budget_processor(
    tokenizer, thinking: ThinkingConfig, min_tokens: list[int], max_tokens: list, ignore_stops: list[int] | None = None
) -> BudgetForcingProcessor:
    def ids(text):
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    start_id = tokenizer.convert_tokens_to_ids(thinking.think_start)
    end_id = tokenizer.convert_tokens_to_ids(thinking.think_end)
    if start_id == tokenizer.unk_token_id or end_id == tokenizer.unk_token_id or start_id is None or end_id is None:
        raise ValueError(f"the tokenizer has no single tokens for {thinking.think_start!r}/{thinking.think_end!r}")
    return BudgetForcingProcessor(
        start_id,
        end_id,
        tokenizer.eos_token_id,
        extension_ids=ids(f"\n{thinking.extension}"),
        answer_prefix_ids=ids(f"\n\n{thinking.answer_prefix}"),
        min_tokens=min_tokens,
        max_tokens=max_tokens,
        ignore_stops=ignore_stops,
    )


def _per_row(value, n: int) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value] * n


@torch.no_grad()
def generate(
    model,
    tokenizer,
    messages,
    min_thinking_tokens=None,
    max_thinking_tokens=None,
    ignore_stops=0,
    max_new_tokens: int = 256,
    do_sample: bool = False,
    temperature: float = 1.0,
    top_p: float = 1.0,
    enable_thinking: bool = True,
    thinking: ThinkingConfig | None = None,
    num_return_sequences: int = 1,
    streamer=None,
    cancelled: list | None = None,
) -> list[Generation]:
    """`messages`: one conversation (a list of {"role", "content"}) or a batch of them.

    `min_thinking_tokens` / `max_thinking_tokens` default to the checkpoint's generation config; `ignore_stops`
    is s1's "ignore the end of thinking N times" (N forced "Wait"s; the max still cuts). Each may be a list,
    one value per conversation. Generation runs on `ponder.inference.rollout` (the path GRPO samples on: one
    prefill per prompt, finished rows leave the batch) with budget forcing per row; `streamer` (an HF streamer,
    one conversation) sees each token; `cancelled[i]` (a `threading.Event` per conversation) ends a row early.
    """
    thinking = thinking or thinking_config_of(model)
    batch = [messages] if messages and isinstance(messages[0], dict) else list(messages)
    prompts = [
        tokenizer.apply_chat_template(m, tokenize=False, add_generation_prompt=True, enable_thinking=enable_thinking)
        for m in batch
    ]
    prompt_ids = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    prompt_ids = [ids for ids in prompt_ids for _ in range(num_return_sequences)]
    lo = _per_row(thinking.min_thinking_tokens if min_thinking_tokens is None else min_thinking_tokens, len(batch))
    hi = _per_row(thinking.max_thinking_tokens if max_thinking_tokens is None else max_thinking_tokens, len(batch))
    waits = _per_row(ignore_stops, len(batch))
    lo, hi, waits = ([v for v in values for _ in range(num_return_sequences)] for values in (lo, hi, waits))
    processor = budget_processor(tokenizer, thinking, [v or 0 for v in lo], hi, [v or 0 for v in waits])
    sampling = Sampling(
        max_new_tokens=max_new_tokens,
        eos_token_ids=(tokenizer.eos_token_id,),
        pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
        temperature=temperature if do_sample else 0.0,
        top_p=top_p if do_sample else 1.0,
    )
    events = None if cancelled is None else [e for e in cancelled for _ in range(num_return_sequences)]
    completions = rollout(
        model,
        prompt_ids,
        sampling,
        processor=processor,
        streamer=streamer,
        cancelled=None if events is None else lambda row: events[row].is_set(),
    )
    return [
        split_generation(tokenizer, thinking, ids, processor.rows[i], len(prompt_ids[i]))
        for i, ids in enumerate(completions)
    ]


def split_generation(tokenizer, thinking: ThinkingConfig, ids: list[int], state, prompt_tokens: int) -> Generation:
    pad, eos = tokenizer.pad_token_id, tokenizer.eos_token_id
    while ids and ids[-1] == pad and pad != eos:
        ids = ids[:-1]
    completion_tokens = len(ids) if eos not in ids else ids.index(eos) + 1
    ids = ids[:completion_tokens]
    start_id = tokenizer.convert_tokens_to_ids(thinking.think_start)
    end_id = tokenizer.convert_tokens_to_ids(thinking.think_end)
    body = [t for t in ids if t != eos]
    if start_id in body:
        body = body[body.index(start_id) + 1 :]
    if state.prompt_phase == ANSWERING:  # thinking was closed by the template (enable_thinking=False)
        reasoning_ids, answer_ids = [], body
    elif end_id in body:
        cut = body.index(end_id)
        reasoning_ids, answer_ids = body[:cut], body[cut + 1 :]
    else:
        reasoning_ids, answer_ids = body, []
    return Generation(
        reasoning=tokenizer.decode(reasoning_ids, skip_special_tokens=True).strip(),
        answer=tokenizer.decode(answer_ids, skip_special_tokens=True).strip(),
        thinking_tokens=len(reasoning_ids),  # counted from the tokens themselves, the last one included
        extensions=state.extensions,
        forced_stop=state.forced_stop,
        completion_tokens=completion_tokens,
        prompt_tokens=prompt_tokens,
        text=tokenizer.decode(ids, skip_special_tokens=False),
    )
