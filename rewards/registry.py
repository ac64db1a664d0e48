"""Reward names -> reward classes: one explicit dict, then dotted import paths for everything else."""

from __future__ import annotations

import importlib

from ponder.rewards import functions as f

# Each entry is a `Reward` class, instantiated with the recipe's `params` and the recipe's thinking delimiters.
REWARDS = {
    "accuracy": f.AccuracyReward,
    "format": f.FormatReward,
    "soft_format": f.SoftFormatReward,
    "tag_count": f.TagCountReward,
    "reasoning_steps": f.ReasoningStepsReward,
    "arithmetic_steps": f.ArithmeticStepsReward,
    "length": f.LengthReward,
    "cosine": f.CosineScaledReward,
    "repetition_penalty": f.RepetitionPenaltyReward,
    "soft_overlong_punishment": f.SoftOverlongPunishment,
    "lcpo": f.LcpoReward,
    "code": f.CodeReward,
    "binary_code": f.BinaryCodeReward,
    "code_format": f.CodeFormatReward,
}


def get_reward(name: str, delimiters: dict | None = None, **params):
    """A reward by registry name or dotted path (`package.module.function` or `package.module:function`).

    Registry rewards (and `Reward` subclasses named by path) are built with `params` plus `delimiters`
    (`think_start`, `think_end`, `answer_prefix`: the recipe's thinking). A function named by path is used as
    it is, or, when its name starts with `get_` (open-r1's factories), called with `params` to make the reward.
    """
    if name in REWARDS:
        target = REWARDS[name]
    elif "." in name or ":" in name:
        module, _, attr = name.replace(":", ".").rpartition(".")
        try:
            target = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"reward {name!r}: cannot import ({exc})") from None
    else:
        raise ValueError(f"unknown reward {name!r}; known: {sorted(REWARDS)}, or a dotted import path")
    if isinstance(target, type) and issubclass(target, f.Reward):
        try:
            return target(**(delimiters or {}), **params)
        except TypeError as exc:
            raise ValueError(f"reward {name!r}: bad parameters {sorted(params)} ({exc})") from None
    if getattr(target, "__name__", "").startswith("get_"):
        return target(**params)
    if params:
        raise ValueError(f"reward {name!r} takes no parameters (got {sorted(params)})")
    return target
