"""Reward functions on TRL 1.x's contract: `f(prompts, completions, completion_ids, **kwargs) -> list`.

Dataset columns (`answer`, `test_cases`, `think_budget`, ...) arrive as kwargs, with `trainer_state`.
`None` means "not applicable" and TRL skips it (it becomes NaN and drops out of the weighted sum).
Completions may be plain strings or conversational `[{"role": "assistant", "content": ...}]` lists.
Names follow open-r1's (accuracy, format, tag_count, reasoning_steps, cosine, repetition_penalty,
soft_overlong_punishment, code) so its users find theirs.
"""

from __future__ import annotations

import math
import re

from ponder.rewards.answers import answer_section, completion_text, extract_final_answer
from ponder.rewards.math_answers import verify_answers

THINK_START, THINK_END = "<think>", "</think>"


def _texts(completions) -> list[str]:
    return [completion_text(c) for c in completions]


def accuracy_reward(completions, answer=None, **kwargs) -> list:
    """1.0 when the final answer (\\boxed{}, after "Final Answer:", or the last line after </think>)
    equals the gold `answer` column (exactly, numerically, or by Math-Verify in a deadline-bound worker);
    None where there is no gold answer or it cannot be parsed. A completion with no </think> has no answer."""
    if answer is None:
        return [None] * len(completions)
    texts = _texts(completions)
    pairs = [(str(gold), extract_final_answer(text) if THINK_END in text else "") for gold, text in zip(answer, texts)]
    return verify_answers(pairs)


accuracy_reward.__name__ = "accuracy"


def format_reward(completions, **kwargs) -> list[float]:
    """Strict: (optional <think>) reasoning </think> answer, one </think>, non-empty both sides.
    `<think>` may be absent because the chat template prefilled it (DeepSeek-R1 / Qwen3 style)."""
    pattern = re.compile(rf"^(?:{re.escape(THINK_START)})?\s*\S.*?\s*{re.escape(THINK_END)}\s*\S.*$", re.DOTALL)
    return [
        1.0 if pattern.match(t) and t.count(THINK_END) == 1 and t.count(THINK_START) <= 1 else 0.0
        for t in _texts(completions)
    ]


format_reward.__name__ = "format"


def soft_format_reward(completions, **kwargs) -> list[float]:
    """Lenient: some </think> followed by a non-empty answer."""
    return [1.0 if THINK_END in t and answer_section(t).strip() else 0.0 for t in _texts(completions)]


soft_format_reward.__name__ = "soft_format"


def tag_count_reward(completions, **kwargs) -> list[float]:
    """open-r1's partial credit, prefill-aware: 0.5 for exactly one </think>, 0.5 for at most one <think>."""
    return [0.5 * (t.count(THINK_END) == 1) + 0.5 * (t.count(THINK_START) <= 1) for t in _texts(completions)]


tag_count_reward.__name__ = "tag_count"


def get_reasoning_steps_reward(separator: str = "\n\n", target_steps: int = 3):
    """min(1, steps / target_steps), steps = non-empty separator-delimited chunks of the reasoning."""

    def reasoning_steps_reward(completions, **kwargs) -> list[float]:
        rewards = []
        for text in _texts(completions):
            reasoning = text.split(THINK_END, 1)[0].replace(THINK_START, "")
            steps = [s for s in reasoning.split(separator) if s.strip()]
            rewards.append(min(1.0, len(steps) / target_steps))
        return rewards

    reasoning_steps_reward.__name__ = "reasoning_steps"
    return reasoning_steps_reward


def get_cosine_scaled_reward(
    min_value_wrong=-1.0, max_value_wrong=-0.5, min_value_correct=0.5, max_value_correct=1.0, max_len=1000
):
    """Cosine-scaled length reward (Kimi/open-r1): short correct > long correct; long wrong is
    penalised less than short wrong. Length = completion tokens. Uses ponder's deadline-bound verifier
    (TRL's version calls Math-Verify in-process)."""

    def cosine_scaled_reward(completions, completion_ids=None, answer=None, **kwargs) -> list:
        correct = accuracy_reward(completions, answer=answer)
        lengths = (
            [len(ids) for ids in completion_ids]
            if completion_ids is not None
            else [len(t) for t in _texts(completions)]
        )
        rewards = []
        for ok, length in zip(correct, lengths):
            if ok is None:
                rewards.append(None)
                continue
            low, high = (min_value_correct, max_value_correct) if ok else (max_value_wrong, min_value_wrong)
            progress = min(length / max_len, 1.0)
            rewards.append(low + 0.5 * (high - low) * (1.0 + math.cos(progress * math.pi)))
        return rewards

    cosine_scaled_reward.__name__ = "cosine"
    return cosine_scaled_reward


def get_repetition_penalty_reward(ngram_size: int = 3, max_penalty: float = -1.0):
    """TRL's n-gram repetition penalty (pure Python, safe in-process), with open-r1's name."""
    from trl.rewards import get_repetition_penalty_reward as trl_repetition

    inner = trl_repetition(ngram_size=ngram_size, max_penalty=max_penalty)

    def repetition_penalty_reward(completions, completion_ids=None, **kwargs):
        return inner(completion_ids=completion_ids, completions=completions, **kwargs)

    repetition_penalty_reward.__name__ = "repetition_penalty"
    return repetition_penalty_reward


def get_soft_overlong_punishment(max_completion_len: int = 1024, soft_punish_cache: int = 256):
    """DAPO's soft overlong punishment (TRL's implementation): 0 below max - cache, linear to -1 at max."""
    from trl.rewards import get_soft_overlong_punishment as trl_overlong

    inner = trl_overlong(max_completion_len=max_completion_len, soft_punish_cache=soft_punish_cache)

    def soft_overlong_punishment(completions, completion_ids=None, **kwargs):
        return inner(completion_ids=completion_ids, **kwargs)

    soft_overlong_punishment.__name__ = "soft_overlong_punishment"
    return soft_overlong_punishment


LCPO_SUFFIX = "Think for {n} tokens."  # the budget stated in a prompt (L1/LCPO); data.prompts writes it
BUDGET = re.compile(re.escape(LCPO_SUFFIX).replace(re.escape("{n}"), r"(\d+)"))


def thinking_tokens(ids: list[int], think_end_id: int) -> int:
    """Tokens before the first </think> (all of them when thinking never closed)."""
    return ids.index(think_end_id) if think_end_id in ids else len(ids)


def get_lcpo_reward(think_end_id: int, mode: str = "exact", alpha: float = 0.0003, delta: float = 0.5):
    """L1 / LCPO length-controlled reward for a budget N stated in the prompt ("Think for N tokens.")
    or given in a `think_budget` column. exact: correct - alpha * |N - n|; max: correct *
    clip(alpha * (N - n) + delta, 0, 1). n = thinking tokens. None where no budget is stated."""
    if mode not in ("exact", "max"):
        raise ValueError(f"mode={mode!r}: choose exact or max")

    def lcpo_reward(prompts, completions, completion_ids, answer=None, think_budget=None, **kwargs) -> list:
        correct = accuracy_reward(completions, answer=answer)
        rewards = []
        for i, ids in enumerate(completion_ids):
            match = BUDGET.search(completion_text(prompts[i]) if prompts is not None else "")
            budget = think_budget[i] if think_budget is not None else (int(match.group(1)) if match else None)
            if budget is None:
                rewards.append(None)
                continue
            n, ok = thinking_tokens(list(ids), think_end_id), float(correct[i] or 0.0)
            if mode == "exact":
                rewards.append(ok - alpha * abs(budget - n))
            else:
                rewards.append(ok * min(1.0, max(0.0, alpha * (budget - n) + delta)))
        return rewards

    lcpo_reward.__name__ = f"lcpo_{mode}"
    return lcpo_reward


FENCE = re.compile(r"```(?:python|py)?\s*\n(.*?)```", re.DOTALL)


def extract_code(text: str) -> str | None:
    blocks = FENCE.findall(answer_section(text))
    return blocks[-1] if blocks else None


def get_code_reward(wall_seconds: float = 5.0, memory_mb: int = 512):
    """Fraction of `test_cases` ([{"input", "output"}]) the last fenced Python block passes, each run in
    ponder's local sandbox. None where a row has no tests; 0.0 where the completion has no code."""
    from ponder.rewards.sandbox import SandboxLimits, score_tests

    limits = SandboxLimits(wall_seconds=wall_seconds, memory_mb=memory_mb)

    def code_reward(completions, test_cases=None, **kwargs) -> list:
        if test_cases is None:
            return [None] * len(completions)
        rewards = []
        for text, tests in zip(_texts(completions), test_cases):
            code = extract_code(text)
            rewards.append(None if not tests else (score_tests(code, tests, limits) if code else 0.0))
        return rewards

    code_reward.__name__ = "code"
    return code_reward
