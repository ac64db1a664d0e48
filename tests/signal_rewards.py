"""Rewards for tests/test_dynamic_sampling.py, named there by dotted path: constant on a known subset of prompts."""

from ponder.rewards.answers import completion_text


def constant_on_even_answers(prompts=None, completions=None, answer=None, **kwargs):
    """1.0 (give or take float noise, 1e-7: what weighted rewards leave) for every completion of a prompt whose gold
    answer is even (its group can teach nothing), else the completion's length parity (varies within most groups)."""
    parity = [len(completion_text(c)) % 2 for c in completions]
    return [1.0 + 1e-7 * p if int(a) % 2 == 0 else float(p) for p, a in zip(parity, answer)]


def constant(prompts=None, completions=None, **kwargs):
    """1.0 for every completion: no group has signal."""
    return [1.0 for _ in completions]


def no_verdict_on_thirds(prompts=None, completions=None, **kwargs):
    """nan (no verdict in time, as the verifier answers it) for a completion whose length is a multiple of 3, else
    its length parity."""
    lengths = [len(completion_text(c)) for c in completions]
    return [float("nan") if n % 3 == 0 else float(n % 2) for n in lengths]
