"""Rewards for TRL's GRPOTrainer: resolved by name, guarded, and metric-only companions.

A weight-0 reward is still computed and logged by TRL (`rewards/<name>/mean`) but never enters the
advantage, so ponder logs accuracy and thinking length on every run through the same channel.
"""

from __future__ import annotations

import warnings

from ponder.rewards.answers import completion_text
from ponder.rewards.functions import thinking_tokens
from ponder.rewards.registry import get_reward


class RewardError(RuntimeError):
    pass


def guarded(reward, name: str):
    """Name the reward and the offending completion when it raises; warn once when it returns all None."""
    warned = []

    def call(prompts=None, completions=None, **kwargs):
        try:
            out = reward(prompts=prompts, completions=completions, **kwargs)
        except Exception as exc:
            culprit = _first_failing(reward, prompts, completions, kwargs)
            shown = repr(completion_text(completions[culprit])[:200]) if culprit is not None else "(the batch)"
            raise RewardError(
                f"reward {name!r} raised {type(exc).__name__}: {exc} on completion "
                f"{culprit if culprit is not None else '?'}: {shown}"
            ) from exc
        if out is not None and all(v is None for v in out) and not warned:
            warnings.warn(
                f"reward {name!r} returned None for every completion (not applicable to these rows: "
                f"is its dataset column missing?); it is skipped",
                stacklevel=2,
            )
            warned.append(True)
        return out

    call.__name__ = name
    return call


def _first_failing(reward, prompts, completions, kwargs):
    for i in range(len(completions or [])):
        one = {k: ([v[i]] if isinstance(v, list) and len(v) == len(completions) else v) for k, v in kwargs.items()}
        try:
            reward(prompts=[prompts[i]] if prompts else prompts, completions=[completions[i]], **one)
        except Exception:
            return i
    return None


def get_thinking_length_metric(think_end_id: int):
    """Thinking tokens per completion, as a weight-0 reward (a logged metric)."""

    def thinking_length(completions, completion_ids=None, **kwargs):
        return [float(thinking_tokens(list(ids), think_end_id)) for ids in completion_ids]

    thinking_length.__name__ = "thinking_tokens"
    return thinking_length


def build_rewards(specs, think_end_id: int) -> tuple[list, list[float]]:
    """[RewardSpec] -> (functions, weights), plus accuracy and thinking length as weight-0 metrics."""
    functions, weights = [], []
    for spec in specs:
        params = dict(spec.params)
        if spec.name == "lcpo":
            params.setdefault("think_end_id", think_end_id)
        functions.append(guarded(get_reward(spec.name, **params), spec.name))
        weights.append(float(spec.weight))
    if "accuracy" not in [s.name for s in specs]:
        functions.append(guarded(get_reward("accuracy"), "accuracy"))
        weights.append(0.0)
    functions.append(get_thinking_length_metric(think_end_id))
    weights.append(0.0)
    return functions, weights
