"""s1's test-time scaling metrics over a set of thinking budgets (Muennighoff et al., 2025)."""

from __future__ import annotations

from itertools import combinations


def control(lengths_by_budget: dict, min_tokens: int = 0) -> float:
    """Share of runs whose thinking length stays within [min_tokens, budget] (budget None = no cap)."""
    runs = [(n, budget) for budget, lengths in lengths_by_budget.items() for n in lengths]
    inside = [min_tokens <= n and (budget is None or n <= budget) for n, budget in runs]
    return sum(inside) / len(inside) if inside else 0.0


def scaling(accuracy_by_budget: dict) -> float:
    """Mean slope (f(b) - f(a)) / (b - a) over all budget pairs a < b (numeric budgets only)."""
    points = sorted((b, f) for b, f in accuracy_by_budget.items() if b is not None)
    slopes = [(fb - fa) / (b - a) for (a, fa), (b, fb) in combinations(points, 2) if b > a]
    return sum(slopes) / len(slopes) if slopes else 0.0


def performance(accuracy_by_budget: dict) -> float:
    return max(accuracy_by_budget.values()) if accuracy_by_budget else 0.0
