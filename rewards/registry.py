"""Reward names -> functions: one explicit dict, then dotted import paths for everything else."""

from __future__ import annotations

import importlib

from ponder.rewards import functions as f

# Plain functions are used as they are; factories (get_*) are called with the recipe's parameters.
REWARDS = {
    "accuracy": f.accuracy_reward,
    "format": f.format_reward,
    "soft_format": f.soft_format_reward,
    "tag_count": f.tag_count_reward,
    "reasoning_steps": f.get_reasoning_steps_reward,
    "cosine": f.get_cosine_scaled_reward,
    "repetition_penalty": f.get_repetition_penalty_reward,
    "soft_overlong_punishment": f.get_soft_overlong_punishment,
    "lcpo": f.get_lcpo_reward,
    "code": f.get_code_reward,
}


def get_reward(name: str, **params):
    """A reward by registry name or `package.module:function` / `package.module.function` path."""
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
    is_factory = getattr(target, "__name__", "").startswith("get_")
    if params and not is_factory:
        raise ValueError(f"reward {name!r} takes no parameters (got {sorted(params)})")
    return target(**params) if is_factory else target
