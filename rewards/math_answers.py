"""Answer equivalence: exact and numeric checks in-process, Math-Verify in the worker pool.

Cheap cases never leave the process: plain numbers (thousands separators, decimal commas, `.4`, a currency `\\$`),
simple LaTeX (`\\frac{a}{b}`, `\\sqrt{n}` of a perfect square, `\\boxed{}`, sets of numbers), word answers, and
against a numeric gold a number written with a unit (`11 \\text{ cm}`) or as a variable's value (`x = 11`,
`x \\approx 11`), which Math-Verify reads as the number. Numbers compare as Math-Verify compares them: exactly, or
rounded to 6 decimals when either side is written as a decimal. Anything that needs a parser goes to a worker
(rewards/pool.py) with a per-pair deadline of effective time (CPU it got, or time it slept: not time it waited
for a CPU while GRPO training shares the cores), and each batch has an overall bound. Answers that cannot be
numbers of sane size (exponent towers, thousands of digits, factorials of powers: they make `parse` hang) score
0 without a parser. Word answers ("aetdm") are compared exactly, never symbolically: sympy would call "ab" and
"ba" equal (a*b == b*a). A gold in words against a mathematical prediction ("forty two" vs 42) is not
applicable (None), as TRL treats a gold it cannot parse.

Verdicts: 1.0 right, 0.0 wrong, None not applicable, nan no verdict in time. A pair whose check uses its whole
deadline is wrong (0.0: Math-Verify's own `verify` says False when its timeout fires), the same on a busy machine
as on an idle one. A pair that got no verdict for a reason that is not its own (the pool's wall-time safety net
on a machine so starved nothing progresses, or the batch's bound) is tried once more, then answered nan: never
cached, so that a trainer can leave it out instead of scoring it wrong (GRPO counts them: `verifier_timeouts`).
"""

from __future__ import annotations

import math
import os
import re
from fractions import Fraction
from functools import lru_cache

from ponder.rewards.answers import normalize
from ponder.rewards.pool import shared_pool

NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)(/\d+)?$")
THOUSANDS = re.compile(r"^[-+]?[1-9]\d{0,2}(,\d{3})+(\.\d+)?$")  # 1,000,000 and 7,425,000.5
DECIMAL_COMMA = re.compile(r"^[-+]?\d+,\d+$")  # 1000,99 and 0,111 (European decimals)
WORD = re.compile(r"^[a-z][a-z ]*$")
FRAC = re.compile(r"^(-?)\\[dtc]?frac\{(-?\d+)\}\{(\d+)\}$")
SQRT = re.compile(r"^\\sqrt\{(\d+)\}$")
# A unit after a number (`11 \text{ cm}`, `4\,\mathrm{m}^2`), and a single variable's value (`x = 11`, `x_1 \approx
# 11`): Math-Verify reads both as the number. Lower case: they match normalized text.
UNIT = re.compile(r"(\s|\\[,;: ]|~)*\\(text|mbox|mathrm|textbf)\{[a-z .]*[a-z][a-z .]*\}(\^\{?\d\}?)?$")
VALUE_OF = re.compile(r"^[a-z](_\{?[a-z0-9]+\}?)?\s*(=|\\approx)\s*(?=[^=]+$)")
MAX_ANSWER_CHARS = 2000  # longer "answers" are not answers; they also feed pathological parses
MAX_DIGITS = 400
PRELOAD = ("math_verify", "ponder.rewards.math_answers")
CACHE_SIZE = 65536
TARGET = "ponder.rewards.math_answers:math_verify_one"
NO_VERDICT = math.nan
_verdicts: dict = {}  # (gold, prediction) -> verdict from a worker: GRPO groups repeat answers


def as_number(text: str):
    """(value, written_as_decimal) of a plain number, else None."""
    text = text.replace(" ", "").replace("{,}", ",")
    if THOUSANDS.match(text):
        text = text.replace(",", "")
    elif DECIMAL_COMMA.match(text):
        text = text.replace(",", ".")
    if not NUMBER.match(text) or len(text) > 60:
        return None
    try:
        return Fraction(text), "." in text
    except (ValueError, ZeroDivisionError):
        return None


def _unwrap(text: str) -> str:
    text = text.replace("\\$", "").strip().strip("$").strip()  # `\$5`: a currency sign, as Math-Verify reads it
    while text.startswith("\\boxed{") and text.endswith("}"):
        text = text[len("\\boxed{") : -1].strip()
    return text.replace("\\left", "").replace("\\right", "").replace("\\!", "")


def simple_value(text: str):
    """A number (value, written_as_decimal) or a frozenset of numbers from plain or simple-LaTeX text; else None."""
    text = _unwrap(text)
    if text.startswith("\\{") and text.endswith("\\}"):
        items = [simple_value(item) for item in text[2:-2].split(",")]
        if items and all(isinstance(i, tuple) for i in items):
            return frozenset(value for value, _ in items)
        return None
    number = as_number(text)
    if number is not None:
        return number
    frac = FRAC.match(text)
    if frac and int(frac.group(3)):
        sign = -1 if frac.group(1) else 1
        return sign * Fraction(int(frac.group(2)), int(frac.group(3))), False
    root = SQRT.match(text)
    if root and len(root.group(1)) < 30 and math.isqrt(int(root.group(1))) ** 2 == int(root.group(1)):
        return Fraction(math.isqrt(int(root.group(1)))), False
    return None


def numbers_equal(gold: tuple, prediction: tuple) -> bool:
    """Math-Verify's rule: exact, or rounded to 6 decimals when either side was written as a decimal."""
    (g, g_float), (p, p_float) = gold, prediction
    return g == p or ((g_float or p_float) and round(g, 6) == round(p, 6))


# The operand of a `!`: a literal, a bracketed group, or a power written before it (`9^{9}!` reads as (9^9)!).
FACTORIAL = re.compile(r"(\d+\s*\^\s*(?:\d+|\{[^{}]*\})|\d+|\([^()]*\)|\{[^{}]*\})\s*!")
POWER = re.compile(r"^(\d+)\s*\^\s*\{?\s*(\d+)\s*\}?$")
MAX_FACTORIAL = 1000  # 1000! has 2,568 digits: sympy computes it at once; (10^{10})! makes `parse`/`verify` hang


def huge_factorial(text: str) -> bool:
    """A factorial of a number above MAX_FACTORIAL, or of a power or factorial too large to write out."""
    for match in FACTORIAL.finditer(text):
        operand = match.group(1).strip("(){} ")
        power = POWER.match(operand)
        if operand.isdigit():
            value = int(operand) if len(operand) < 8 else MAX_FACTORIAL + 1
        elif power and int(power.group(2)) * math.log10(max(int(power.group(1)), 1)) < 6:
            value = int(power.group(1)) ** int(power.group(2))
        elif "^" in operand or "!" in operand:
            return True
        else:
            continue
        if value > MAX_FACTORIAL:
            return True
    return False


def insane(text: str) -> bool:
    """Cannot be a number of sane size: an exponent tower (`2^{2^{2^{2}}}`, `2^2^2^2`), a huge literal, or a
    factorial of a large number or of a power (`(10^{10})!`)."""
    if huge_factorial(text):
        return True
    depth = deepest = 0
    for i, char in enumerate(text):
        if char == "{":
            depth += 1 if text[max(0, i - 1)] == "^" else 0
            deepest = max(deepest, depth)
    chained = max((len(m.group(0)) for m in re.finditer(r"(\^\s*\{?\s*[\w.]+\s*){3,}", text)), default=0)
    return deepest >= 3 or chained > 0 or any(len(d) > MAX_DIGITS for d in re.findall(r"\d+", text))


def quick_verdict(gold: str, prediction: str):
    """1.0 / 0.0 when decidable without a parser; "none" for not applicable; None when a parser must decide."""
    g, p = normalize(gold), normalize(prediction)
    if not g:
        return None
    if g == p:
        return 1.0
    if WORD.match(g):  # a word gold: words compare exactly; a mathematical prediction cannot be checked
        return 0.0 if not p or WORD.match(p) else "none"
    if not p or len(p) > MAX_ANSWER_CHARS or (insane(p) and not insane(g)):
        return 0.0
    gv = simple_value(g)
    core = UNIT.sub("", VALUE_OF.sub("", _unwrap(p))) if gv is not None else p  # `x = 11 \text{ cm}` -> `11`
    pv = simple_value(core)
    if gv is not None and pv is not None:
        if isinstance(gv, tuple) and isinstance(pv, tuple):
            return 1.0 if numbers_equal(gv, pv) else 0.0
        return 1.0 if gv == pv else 0.0  # two sets, or a set against a number (never equal)
    if isinstance(gv, tuple) and re.search(r"[a-z]", re.sub(r"\\[a-z]+", "", core)):
        # A numeric gold against prose ("fianswer: 1"): Math-Verify would fish the last number out of
        # it, which an RL policy learns to exploit. Numbers must be answered as numbers (or LaTeX).
        return 0.0
    return None


@lru_cache(maxsize=4096)
def _parsed(text: str):
    from math_verify import parse

    return parse(_as_math(text), parsing_timeout=None)


def math_verify_one(gold: str, prediction: str):
    """Runs in a worker: None if the gold answer cannot be parsed (never 1), else 1.0 / 0.0."""
    import logging

    from math_verify import verify

    logging.getLogger("math_verify").setLevel(logging.ERROR)  # it warns that we disabled its SIGALRM timers
    # Our pool enforces the deadline by killing the worker; Math-Verify's SIGALRM timers are off.
    gold_parsed = _parsed(gold)
    if not gold_parsed:
        return None
    pred_parsed = _parsed(prediction)
    if not pred_parsed:
        return 0.0
    return 1.0 if verify(gold_parsed, pred_parsed, timeout_seconds=None) else 0.0  # order: gold first


def _as_math(text: str) -> str:
    """The text in math delimiters unless it has its own; an escaped `\\$` (a currency sign) is not one."""
    return text if ("$" in text.replace("\\$", "") or "\\boxed" in text) else f"${text}$"


def default_workers() -> int:
    return max(2, min(4, os.cpu_count() or 2))


def no_verdict(verdict) -> bool:
    """Whether a verdict of `verify_answers` is nan: the pair got no verdict in time (None is "not applicable")."""
    return isinstance(verdict, float) and math.isnan(verdict)


def _checked(pool, keys: list, deadline: float, batch_deadline: float | None) -> dict:
    """{key: verdict} for the keys the workers decided; those without a verdict in time are left out."""
    bound = batch_deadline if batch_deadline is not None else deadline + 0.02 * len(keys)
    results = pool.map(TARGET, keys, budget=bound)
    return {key: result for i, (key, result) in enumerate(zip(keys, results)) if i not in pool.last_cut}


def verify_answers(
    pairs: list[tuple[str, str]],
    deadline: float = 2.0,
    workers: int | None = None,
    batch_deadline: float | None = None,
) -> list:
    """[(gold, prediction)] -> [1.0 | 0.0 | None | nan] (right, wrong, not applicable, no verdict in time).

    A pair that runs `deadline` seconds of effective time (see rewards/pool.py) scores 0.0; the whole batch is
    bounded by `batch_deadline` effective seconds per worker (default: deadline + 20 ms per pair that needs a
    parser). Pairs cut by that bound or by the pool's wall-time safety net are tried once more, then answered nan
    (never cached)."""
    quick = [quick_verdict(str(g), str(p)) for g, p in pairs]
    keys = {(str(g), str(p)) for (g, p), r in zip(pairs, quick) if r is None and normalize(str(g))}
    verdicts = {key: _verdicts[key] for key in keys if key in _verdicts}
    todo = sorted(keys - set(verdicts))
    if todo:
        pool = shared_pool(workers=workers or default_workers(), deadline=deadline, timeout_value=0.0, preload=PRELOAD)
        fresh = _checked(pool, todo, deadline, batch_deadline)
        late = [key for key in todo if key not in fresh]
        if late:  # no verdict in time: once more before giving up on them
            fresh.update(_checked(pool, late, deadline, batch_deadline))
        if len(_verdicts) + len(fresh) > CACHE_SIZE:
            _verdicts.clear()
        _verdicts.update(fresh)
        verdicts.update(fresh)
    out = []
    for (g, p), r in zip(pairs, quick):
        key = (str(g), str(p))
        if r is not None:
            out.append(None if r == "none" else r)
        elif not normalize(key[0]):
            out.append(None)
        elif key in verdicts:
            out.append(verdicts[key])
        else:
            out.append(NO_VERDICT)
    return out
