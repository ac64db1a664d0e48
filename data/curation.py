"""s1-style selection (quality -> difficulty -> diversity), a random baseline, and n-gram decontamination.

s1 went from 59k questions to 1k: drop API errors and formatting problems; drop questions the judge
models answer correctly; then repeatedly pick a domain uniformly and a question in it with probability
~ 2^-rank by trace length (longer reasoning = harder = preferred).
"""

from __future__ import annotations

import random
import re
from collections import defaultdict


def quality_problem(row: dict) -> str | None:
    """Why a traced row is unusable, or None."""
    if row.get("error"):
        return "api_error" if row["error"] != "truncated" else "truncated"
    for key in ("prompt", "answer", "reasoning"):
        if not str(row.get(key) or "").strip():
            return f"missing_{key}"
    if not row.get("verified"):
        return "wrong_answer"
    return None


def words(text: str) -> list[str]:
    return re.findall(r"\w+|[^\w\s]", text.lower())


def ngrams(text: str, n: int) -> set:
    tokens = words(text)
    if len(tokens) < n:
        return {tuple(tokens)} if tokens else set()
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def contaminated(questions: list[str], eval_questions: list[str], n: int = 8) -> list[bool]:
    """True where a question shares an n-gram (word level, open-r1 uses 8) with any eval question; n = 0: where it
    is an eval question (same words), for templated tasks whose questions all share the template's n-grams."""
    if n == 0:
        index = {tuple(words(q)) for q in eval_questions}
        return [tuple(words(q)) in index for q in questions]
    index = set()
    for q in eval_questions:
        index |= ngrams(q, n)
    return [bool(ngrams(q, n) & index) for q in questions]


def decontaminate(rows: list[dict], specs: list[dict], n: int = 8) -> tuple[list[dict], int]:
    """`rows` without those whose prompt is `contaminated` (n-gram overlap, n = 0: equal) by a question of the eval
    sets a recipe names under `decontaminate:` ([{task, size, seed, difficulty}], drawn as the eval stage draws
    them: size 200 and seed 10000 unless given); and how many were dropped."""
    from ponder.data.tasks import task_rows

    eval_questions = [
        row["prompt"]
        for spec in specs
        for row in task_rows(
            [spec["task"]], spec.get("size", 200), spec.get("seed", 10_000), {spec["task"]: spec.get("difficulty")}
        )
    ]
    flags = contaminated([r["prompt"] for r in rows], eval_questions, n)
    return [r for r, bad in zip(rows, flags) if not bad], sum(flags)


def diversity_select(rows: list[dict], target: int, seed: int = 0) -> list[dict]:
    """s1's diversity sampling: a uniform domain, then a question in it with weight 2^-rank (rank by
    trace length, longest first), without replacement, until `target` rows or the pool runs out."""
    rng = random.Random(seed)
    by_domain = defaultdict(list)
    for row in rows:
        by_domain[row["domain"]].append(row)
    for domain_rows in by_domain.values():
        domain_rows.sort(key=lambda r: len(r["reasoning"]), reverse=True)
    chosen = []
    while len(chosen) < target and by_domain:
        domain = rng.choice(sorted(by_domain))
        pool = by_domain[domain]
        # 2^-rank past rank 64 is below double precision next to the top weights: sampling the head
        # of the ranking is the same distribution, at O(1) instead of O(pool) per pick.
        head = min(len(pool), 64)
        index = rng.choices(range(head), weights=[2.0**-rank for rank in range(head)])[0]
        chosen.append(pool.pop(index))
        if not pool:
            del by_domain[domain]
    return chosen


def random_select(rows: list[dict], target: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    return rng.sample(rows, min(target, len(rows)))
