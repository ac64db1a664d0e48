"""Answer equivalence: exact and numeric checks in-process, Math-Verify in the worker pool.

Cheap cases never leave the process (>= 1,000 answers/s); anything that needs a parser goes to a
worker with a hard deadline. Word answers ("aetdm") are compared exactly, never symbolically: sympy
would call "ab" and "ba" equal (a*b == b*a).
"""

from __future__ import annotations

import re
from fractions import Fraction

from ponder.rewards.answers import normalize
from ponder.rewards.pool import shared_pool

NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)(/\d+)?$")
WORD = re.compile(r"^[a-z][a-z ]*$")
MAX_ANSWER_CHARS = 2000
PRELOAD = (
    "math_verify",
    "ponder.rewards.math_answers",
)  # longer "answers" are not answers; they also feed pathological parses


def as_number(text: str):
    text = text.replace(",", "").replace(" ", "")
    if not NUMBER.match(text) or len(text) > 60:
        return None
    try:
        return Fraction(text)
    except (ValueError, ZeroDivisionError):
        return None


def quick_verdict(gold: str, prediction: str):
    """1.0/0.0 when decidable without a parser, else None."""
    g, p = normalize(gold), normalize(prediction)
    if not g:
        return None
    if g == p:
        return 1.0
    gn, pn = as_number(g), as_number(p)
    if gn is not None and pn is not None:
        return 1.0 if gn == pn else 0.0
    if WORD.match(g) or not p or len(p) > MAX_ANSWER_CHARS:
        return 0.0
    if gn is not None and re.search(r"[a-z]", re.sub(r"\\[a-z]+", "", p)):
        # A numeric gold against prose ("fianswer: 1"): Math-Verify would fish the last number out of
        # it, which an RL policy learns to exploit. Numbers must be answered as numbers (or LaTeX).
        return 0.0
    return None


def math_verify_one(gold: str, prediction: str):
    """Runs in a worker: None if the gold answer cannot be parsed (never 1), else 1.0 / 0.0."""
    import logging

    from math_verify import parse, verify

    logging.getLogger("math_verify").setLevel(logging.ERROR)  # it warns that we disabled its SIGALRM timers
    # Our pool enforces the deadline by killing the worker; Math-Verify's SIGALRM timers are off.
    gold_parsed = parse(_as_math(gold), parsing_timeout=None)
    if not gold_parsed:
        return None
    pred_parsed = parse(_as_math(prediction), parsing_timeout=None)
    if not pred_parsed:
        return 0.0
    return 1.0 if verify(gold_parsed, pred_parsed, timeout_seconds=None) else 0.0  # order: gold first


def _as_math(text: str) -> str:
    return text if ("$" in text or "\\boxed" in text) else f"${text}$"


def verify_answers(pairs: list[tuple[str, str]], deadline: float = 2.0, workers: int = 2) -> list:
    """[(gold, prediction)] -> [1.0 | 0.0 | None]; a pair that times out scores 0.0."""
    results = [quick_verdict(str(g), str(p)) for g, p in pairs]
    hard = [i for i, r in enumerate(results) if r is None and normalize(str(pairs[i][0]))]
    if hard:
        pool = shared_pool(workers=workers, deadline=deadline, timeout_value=0.0, preload=PRELOAD)
        answers = pool.map("ponder.rewards.math_answers:math_verify_one", [pairs[i] for i in hard])
        for i, value in zip(hard, answers):
            results[i] = value
    return results
