"""Test-time search measured on task rows, for the eval stage, the benches and the tests (all report the same
numbers): accuracy vs N (search-and-learn's curves: plain majority vote, PRM-weighted vote and best-of-N share one
set of N samples per question; beam search and DVTS run their own trees), and the analysis of a compute-optimal
allocation (`ponder.inference.compute_optimal` is the allocation itself, as serving uses it): budget curves,
the cost best-of-N needs to match, the FLOPs-matched exchange rate against a larger policy.
"""

from __future__ import annotations

import bisect
import statistics
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from ponder.inference.compute_optimal import (
    SAMPLE_METHODS,
    TREE_METHODS,
    Allocation,
    QuestionRecord,
    apply_allocation,
    difficulty_of,
    mean,
    quantile_edges,
)
from ponder.inference.sampling import verify_rows
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


@dataclass
class OptimalSettings:
    """How `compute_optimal_eval` fits and scores the allocation (the eval stage's `search:` block)."""

    calibration: float = 0.5  # share of the questions the allocation is fitted on; the rest are scored
    probe: int = 2  # samples whose answers (or PRM scores) predict a question's difficulty
    bins: int = 5  # difficulty quantile bins
    prm_tokens: Callable | None = None  # running count of the tokens the PRM has read (its compute)
    prm_weight: float = 1.0  # PRM parameters / policy parameters: what a read token costs in policy tokens
    aggregation: str = "last"  # step scores -> a solution's score
    seed: int = 0  # the calibration / test split
    predictor: str = "prm"  # prm | agreement
    leftover: str = "hardest"  # what the budget the picks leave buys (`fit_allocation`)


def compute_optimal_eval(
    sampler, score, rows: list[dict], strategies, thinking, budgets: list[float], settings=None, reference=None
) -> dict:
    """Every strategy on every row; the allocation fitted on a calibration share of the rows and applied to the
    rest (predicted difficulty, and the oracle's for reference); per budget, accuracy and cost of compute-optimal
    vs each fixed strategy, and what best-of-N (PRM-weighted vote, Snell's baseline) needs to match it.
    `reference`: (sampler of a larger policy, its parameters / this policy's): it answers the test split by
    majority vote of 1 and 4 samples, and `exchange_rate` sets the allocation against it at matched FLOPs.
    `settings.leftover`: the allocation's rule for budget its picks leave; each budget, and the exchange rate,
    also report the other rule's (`other_leftover`)."""
    from ponder.inference.compute_optimal import LEFTOVERS, fit_allocation, run_question

    o = settings or OptimalSettings()
    records = [
        run_question(
            sampler,
            score,
            row,
            strategies,
            verifier(row, thinking),
            o.probe,
            o.prm_tokens,
            o.prm_weight,
            o.aggregation,
            o.predictor,
        )
        for row in rows
    ]
    calib, test, test_index = split(records, o.calibration, o.seed)
    large = None
    if reference is not None:  # the larger policy first: the allocation is fitted at its FLOPs too
        large, matched = reference_runs(reference, [rows[i] for i in test_index], thinking)
        budgets = sorted(set(budgets) | matched)
    (other_rule,) = set(LEFTOVERS) - {o.leftover}
    fit = {
        rule: fit_allocation(calib, budgets, o.bins, "predicted", predictor=o.predictor, probe=o.probe, leftover=rule)
        for rule in LEFTOVERS
    }
    predicted, other = fit[o.leftover], fit[other_rule]
    oracle = fit_allocation(calib, budgets, o.bins, "oracle", probe=o.probe, leftover=o.leftover)
    fixed = fixed_curves(test)
    curve = [budget_row(test, fixed, predicted, oracle, other, other_rule, b) for b in sorted(budgets)]
    exchange = None
    if large is not None:
        size_ratio = reference[1]
        exchange = {
            "size_ratio": size_ratio,
            "bins": exchange_rate(test, predicted, large, size_ratio, o.bins),
            "other_leftover": {"leftover": other_rule, "bins": exchange_rate(test, other, large, size_ratio, o.bins)},
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


def verifier(row: dict, thinking):
    return lambda answers: verify_picked([row] * len(answers), answers, thinking)


def split(records: list, calibration: float, seed: int) -> tuple[list, list, list[int]]:
    """(calibration records, test records, the test records' row indices): a seeded shuffle, then a cut."""
    import random

    order = list(range(len(records)))
    random.Random(seed).shuffle(order)
    cut = max(1, int(len(order) * calibration))
    return [records[i] for i in order[:cut]], [records[i] for i in order[cut:]], order[cut:]


def reference_runs(reference, rows: list[dict], thinking) -> tuple[list, set]:
    """The larger policy's majority votes of 1 and 4 on `rows` (no PRM read), and the small policy's budgets that
    match their FLOPs."""
    import math

    from ponder.inference.compute_optimal import Strategy, run_question, unscored

    large_sampler, size_ratio = reference
    plain = [Strategy("majority", 1), Strategy("majority", 4)]
    large = [run_question(large_sampler, unscored, row, plain, verifier(row, thinking), 1) for row in rows]
    return large, {math.floor(size_ratio * mean(r.outcomes[s.key][1] for r in large)) for s in plain}


def budget_row(test, fixed, predicted, oracle, other, other_rule: str, budget: float) -> dict:
    """One budget's figures: compute-optimal (predicted and oracle difficulty, and the other leftover rule) against
    the best fixed strategy it affords and the PRM-weighted best-of-N cost to match it."""
    from ponder.inference.compute_optimal import apply_allocation

    accuracy, cost = apply_allocation(test, predicted, budget)
    oracle_accuracy, oracle_cost = apply_allocation(test, oracle, budget)
    other_accuracy, other_cost = apply_allocation(test, other, budget)
    affordable = [acc for acc, c in fixed.values() if c <= budget]
    needed = cost_to_reach([(c, a) for key, (a, c) in fixed.items() if key.startswith("weighted@")], accuracy)
    return {
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


def exchange_rate(
    small: list[QuestionRecord],
    allocation: Allocation,
    large: list[QuestionRecord],
    size_ratio: float,
    bins: int = 5,
) -> list[dict]:
    """Snell et al.'s FLOPs-matched comparison (inference FLOPs; training FLOPs excluded): a policy `size_ratio`
    times the small one's parameters runs each of its strategies (`large`: its records on the same questions, in
    the same order, costs in its own tokens); the small policy gets the same FLOPs per question, `size_ratio` x
    the large strategy's mean cost in its tokens, spent by `allocation`. Per oracle difficulty bin of the small
    policy (quantiles of its pass rate on these questions; bin 0 the easiest) and over all questions ("all")."""
    edges = quantile_edges([difficulty_of(r, "oracle") for r in small], bins)
    groups = {"all": list(range(len(small)))}
    for i, record in enumerate(small):
        groups.setdefault(bisect.bisect_right(edges, difficulty_of(record, "oracle")), []).append(i)
    rows = []
    for key in large[0].outcomes:
        budget = size_ratio * mean(r.outcomes[key][1] for r in large)
        for group in ["all", *sorted(b for b in groups if b != "all")]:
            members = groups[group]
            accuracy, cost = apply_allocation([small[i] for i in members], allocation, budget)
            rows.append(
                {
                    "large_strategy": key,
                    "flops_matched_budget": budget,
                    "bin": group,
                    "questions": len(members),
                    "small_pass_rate": mean(small[i].pass_rate for i in members),
                    "large_accuracy": mean(large[i].outcomes[key][0] for i in members),
                    "small_accuracy": accuracy,
                    "small_cost": cost,
                    "large_cost": size_ratio * mean(large[i].outcomes[key][1] for i in members),
                }
            )
    return rows


def fixed_curves(records: list[QuestionRecord]) -> dict:
    """{strategy key: (accuracy, mean cost)}: each strategy run alone (no probe) on every question."""
    return {
        k: (mean(r.outcomes[k][0] for r in records), mean(r.outcomes[k][1] for r in records))
        for k in records[0].outcomes
    }


def cost_to_reach(curve: list[tuple[float, float]], accuracy: float) -> float | None:
    """The cost a method's (cost, accuracy) curve needs to reach `accuracy`, linear between its points; None
    if it never does."""
    points = sorted(curve)
    for (c0, a0), (c1, a1) in zip([(0.0, 0.0)] + points, points):
        if a1 >= accuracy:
            return c1 if a1 == a0 else c0 + (c1 - c0) * max(0.0, accuracy - a0) / (a1 - a0)
    return None


def spearman(xs: list[float], ys: list[float]) -> float:
    """Rank correlation with average ranks for ties."""

    def ranks(values):
        order = sorted(range(len(values)), key=values.__getitem__)
        out = [0.0] * len(values)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
                j += 1
            for k in range(i, j + 1):
                out[order[k]] = (i + j) / 2
            i = j + 1
        return out

    rx, ry = ranks(xs), ranks(ys)
    if len(set(rx)) < 2 or len(set(ry)) < 2:
        return 0.0
    return statistics.correlation(rx, ry)
