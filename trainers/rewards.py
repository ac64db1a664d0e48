"""Rewards for TRL's GRPOTrainer: resolved by name, guarded, and metric-only companions.

A weight-0 reward is still computed and logged by TRL (`rewards/<name>/mean`) but never enters the
advantage, so ponder logs accuracy and thinking length on every run through the same channel. Every
piece is a picklable object (TRL's async GRPO sends reward functions to a worker process).
"""

from __future__ import annotations

import warnings

from ponder.rewards.answers import completion_text
from ponder.rewards.functions import thinking_tokens
from ponder.rewards.math_answers import no_verdict
from ponder.rewards.registry import get_reward


class RewardError(RuntimeError):
    pass


class Guarded:
    """Name the reward and the offending completion when it raises; warn once when it returns all None; note which
    completions of the last call got nan (no verdict in time: `no_verdict`, read by the GRPO trainer)."""

    def __init__(self, reward, name: str):
        self.reward, self.__name__, self.warned = reward, name, False
        self.no_verdict: list[int] = []

    def __call__(self, prompts=None, completions=None, **kwargs):
        try:
            out = self.reward(prompts=prompts, completions=completions, **kwargs)
        except Exception as exc:
            culprit = self.first_failing(prompts, completions, kwargs)
            shown = repr(completion_text(completions[culprit])[:200]) if culprit is not None else "(the batch)"
            raise RewardError(
                f"reward {self.__name__!r} raised {type(exc).__name__}: {exc} on completion "
                f"{culprit if culprit is not None else '?'}: {shown}"
            ) from exc
        self.no_verdict = [i for i, v in enumerate(out or ()) if no_verdict(v)]
        if out is not None and all(v is None for v in out) and not self.warned:
            warnings.warn(
                f"reward {self.__name__!r} returned None for every completion (not applicable to these rows: "
                f"is its dataset column missing?); it is skipped",
                stacklevel=2,
            )
            self.warned = True
        return out

    def first_failing(self, prompts, completions, kwargs):
        for i in range(len(completions or [])):
            one = {k: ([v[i]] if isinstance(v, list) and len(v) == len(completions) else v) for k, v in kwargs.items()}
            try:
                self.reward(prompts=[prompts[i]] if prompts else prompts, completions=[completions[i]], **one)
            except Exception:
                return i
        return None


def guarded(reward, name: str) -> Guarded:
    return Guarded(reward, name)


class ThinkingLength:
    """Thinking tokens per completion, as a weight-0 reward (a logged metric)."""

    __name__ = "thinking_tokens"

    def __init__(self, think_end_id: int):
        self.think_end_id = think_end_id

    def __call__(self, completions=None, completion_ids=None, **kwargs):
        return [float(thinking_tokens(list(ids), self.think_end_id)) for ids in completion_ids]


def build_rewards(specs, think_end_id: int, thinking=None) -> tuple[list, list[float]]:
    """[RewardSpec] -> (functions, weights), plus accuracy and thinking length as weight-0 metrics.

    `thinking` (the recipe's ThinkingConfig) gives every reward the recipe's delimiters and answer prefix."""
    delimiters = (
        {"think_start": thinking.think_start, "think_end": thinking.think_end, "answer_prefix": thinking.answer_prefix}
        if thinking is not None
        else {}
    )
    functions, weights = [], []
    for spec in specs:
        params = dict(spec.params)
        if spec.name == "lcpo":
            params.setdefault("think_end_id", think_end_id)
        functions.append(guarded(get_reward(spec.name, delimiters, **params), spec.name))
        weights.append(float(spec.weight))
    if "accuracy" not in [s.name for s in specs]:
        functions.append(guarded(get_reward("accuracy", delimiters), "accuracy"))
        weights.append(0.0)
    functions.append(ThinkingLength(think_end_id))
    weights.append(0.0)
    return functions, weights
