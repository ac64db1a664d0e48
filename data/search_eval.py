"""Accuracy vs N of test-time search on task rows (search-and-learn's curves): plain majority vote,
PRM-weighted vote and best-of-N share one set of N samples per question; beam search and DVTS run their
own trees. Used by the eval stage, `bench/prm_search.py` and the tests, so all report the same numbers.
"""

from __future__ import annotations

from collections import defaultdict

from ponder.data.sampling import verify_rows
from ponder.inference.search import beam_search, best_of_n, dvts, select_answer

# method -> how `select_answer` picks from the N samples of best-of-N; beam and dvts pick the best leaf
SAMPLE_METHODS = {"majority": "majority", "weighted": "weighted", "best_of_n": "best"}
TREE_METHODS = ("beam", "dvts")
METHODS = (*SAMPLE_METHODS, *TREE_METHODS)


def search_curves(
    sampler, score, rows: list[dict], ns: list[int], width: int, methods, thinking, aggregation: str = "last"
) -> dict:
    """{method: [[n, accuracy, generated tokens per question], ...]} over `rows` (task rows or any rows
    with `prompt` and `answer`). Tree methods skip an n that is not a multiple of `width`."""
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise ValueError(f"unknown search methods {sorted(unknown)}; choose from {METHODS}")
    curves = {m: [] for m in methods}
    for n in ns:
        answers, tokens = defaultdict(list), defaultdict(int)
        for row in rows:
            if set(methods) & set(SAMPLE_METHODS):
                result = best_of_n(sampler, score, row, n, aggregation)
                for method in set(methods) & set(SAMPLE_METHODS):
                    answers[method].append(select_answer(result, SAMPLE_METHODS[method]))
                    tokens[method] += result.tokens
            for method, search in (("beam", beam_search), ("dvts", dvts)):
                if method in methods and n % width == 0:
                    result = search(sampler, score, row, n, width, aggregation=aggregation)
                    answers[method].append(select_answer(result, "best"))
                    tokens[method] += result.tokens
        for method, picked in answers.items():
            verdicts = verify_rows(rows, [f"{thinking.answer_prefix} {a}" if a else "" for a in picked], thinking)
            curves[method].append([n, sum(verdicts) / len(rows), tokens[method] / len(rows)])
    return curves
