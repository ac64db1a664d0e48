"""Verifiable rewards on TRL 1.x's contract: `from ponder.rewards import get_reward, REWARDS`."""

from ponder.rewards.registry import REWARDS, get_reward

__all__ = ["REWARDS", "get_reward"]
