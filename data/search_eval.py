"""Accuracy vs N of test-time search on task rows (search-and-learn's curves): plain majority vote,
PRM-weighted vote and best-of-N share one set of N samples per question; beam search and DVTS run their
own trees. Used by the eval stage, `bench/prm_search.py` and the tests, so all report the same numbers.
"""

from __future__ import annotations

from collections import defaultdict

from ponder.data.sampling import verify_rows
from ponder.inference.compute_optimal import SAMPLE_METHODS, TREE_METHODS
from ponder.inference.search import best_of_n, select_answer

# every search method: the sample methods (how `select_answer` picks among N samples) and the tree searches
METHODS = (*SAMPLE_METHODS, *TREE_METHODS)


def verify_picked(rows: list[dict], answers: list, thinking) -> list[bool]:
    """Each row's picked answer (None: no finished solution) against its gold, read as the answer line it came from."""
    return verify_rows(rows, [f"{thinking.answer_prefix} {a}" if a else "" for a in answers], thinking)


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
            for method, search in TREE_METHODS.items():
                if method in methods and n % width == 0:
                    result = search(sampler, score, row, n, width, aggregation=aggregation)
                    answers[method].append(select_answer(result, "best"))
                    tokens[method] += result.tokens
        for method, picked in answers.items():
            verdicts = verify_picked(rows, picked, thinking)
            curves[method].append([n, sum(verdicts) / len(rows), tokens[method] / len(rows)])
    return curves


def compute_optimal_eval(
    sampler,
    score,
    rows: list[dict],
    strategies,
    thinking,
    budgets: list[float],
    calibration: float = 0.5,
    probe: int = 2,
    bins: int = 5,
    prm_tokens=None,
    prm_weight: float = 1.0,
    aggregation: str = "last",
    seed: int = 0,
    reference=None,
    predictor: str = "prm",
    leftover: str = "hardest",
) -> dict:
    """Every strategy on every row; the allocation fitted on a calibration share of the rows and applied to the
    rest (predicted difficulty, and the oracle's for reference); per budget, accuracy and cost of compute-optimal
    vs each fixed strategy, and what best-of-N (PRM-weighted vote, Snell's baseline) needs to match it.
    `reference`: (sampler of a larger policy, its parameters / this policy's): it answers the test split by
    majority vote of 1 and 4 samples, and `exchange_rate` sets the allocation against it at matched FLOPs.
    `leftover`: the allocation's rule for budget its picks leave (`fit_allocation`); each budget, and the exchange
    rate, also report the other rule's (`other_leftover`)."""
    import math
    import random

    from ponder.inference.compute_optimal import (
        LEFTOVERS,
        Strategy,
        apply_allocation,
        cost_to_reach,
        exchange_rate,
        fit_allocation,
        fixed_curves,
        mean,
        run_question,
        spearman,
        unscored,
    )

    def verifier(row):
        return lambda answers: verify_picked([row] * len(answers), answers, thinking)

    records = [
        run_question(
            sampler, score, row, strategies, verifier(row), probe, prm_tokens, prm_weight, aggregation, predictor
        )
        for row in rows
    ]
    order = list(range(len(records)))
    random.Random(seed).shuffle(order)
    cut = max(1, int(len(order) * calibration))
    calib, test = [records[i] for i in order[:cut]], [records[i] for i in order[cut:]]
    large, size_ratio = None, None
    if reference is not None:  # the larger policy first: the allocation is fitted at its FLOPs too
        large_sampler, size_ratio = reference
        plain = [Strategy("majority", 1), Strategy("majority", 4)]
        large = [
            run_question(large_sampler, unscored, rows[i], plain, verifier(rows[i]), 1)  # majority votes: no PRM
            for i in order[cut:]
        ]
        matched = {math.floor(size_ratio * mean(r.outcomes[s.key][1] for r in large)) for s in plain}
        budgets = sorted(set(budgets) | matched)
    fixed = fixed_curves(test)
    predicted = fit_allocation(calib, budgets, bins, "predicted", predictor=predictor, probe=probe, leftover=leftover)
    (other_rule,) = set(LEFTOVERS) - {leftover}
    other = fit_allocation(calib, budgets, bins, "predicted", predictor=predictor, probe=probe, leftover=other_rule)
    oracle = fit_allocation(calib, budgets, bins, "oracle", probe=probe, leftover=leftover)
    baseline = [(cost, acc) for key, (acc, cost) in fixed.items() if key.startswith("weighted@")]
    curve = []
    for budget in sorted(budgets):
        accuracy, cost = apply_allocation(test, predicted, budget)
        oracle_accuracy, oracle_cost = apply_allocation(test, oracle, budget)
        other_accuracy, other_cost = apply_allocation(test, other, budget)
        affordable = [acc for acc, c in fixed.values() if c <= budget]
        needed = cost_to_reach(baseline, accuracy)
        curve.append(
            {
                "budget": budget,
                "accuracy": accuracy,
                "cost": cost,
                "oracle_accuracy": oracle_accuracy,
                "oracle_cost": oracle_cost,
                "other_leftover": {"leftover": other_rule, "accuracy": other_accuracy, "cost": other_cost},
                "best_fixed_accuracy": max(affordable) if affordable else None,
                "best_of_n_cost_to_match": needed,
                "efficiency_ratio": needed / cost if needed is not None and cost else None,
            }
        )
    exchange = None
    if large is not None:
        exchange = {
            "size_ratio": size_ratio,
            "bins": exchange_rate(test, predicted, large, size_ratio, bins),
            "other_leftover": {"leftover": other_rule, "bins": exchange_rate(test, other, large, size_ratio, bins)},
        }
    return {
        "questions": {"calibration": len(calib), "test": len(test)},
        "exchange_rate": exchange,
        "difficulty_rank_correlation": spearman([r.predicted for r in records], [1 - r.pass_rate for r in records]),
        "fixed": {key: {"accuracy": acc, "cost": cost} for key, (acc, cost) in fixed.items()},
        "compute_optimal": curve,
        "allocation": predicted,
        "oracle_allocation": oracle,
    }
