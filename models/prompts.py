"""Prompts for RL and eval: task rows rendered with the chat template, optionally with an L1/LCPO budget."""

from __future__ import annotations

import random

from ponder.models.chat import format_prompt
from ponder.rewards.functions import LCPO_SUFFIX


def render_prompts(rows: list[dict], tokenizer, enable_thinking: bool = True, lcpo_range=None, seed: int = 0):
    """rows with prompt/answer -> rows with the templated `prompt`, `question`, `answer` and,
    with `lcpo_range=(lo, hi)`, a `think_budget` drawn uniformly and stated in the prompt."""
    rng = random.Random(seed)
    out = []
    for row in rows:
        question = row["prompt"]
        extra = {}
        if lcpo_range:
            budget = rng.randint(*lcpo_range)
            question = f"{question} {LCPO_SUFFIX.format(n=budget)}"
            extra["think_budget"] = budget
        out.append(
            {
                "prompt": format_prompt(tokenizer, question, enable_thinking),
                "question": question,
                "answer": str(row.get("answer", "")),  # on-policy distillation's prompts may have none
                **extra,
            }
        )
    return out
