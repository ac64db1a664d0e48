"""ponder's verifier vs reasoning-gym's own `score_answer` on the same answers (issue: an external yardstick).

    python bench/rg_agreement.py

For each dataset, rows from reasoning-gym and, per row, answers of the kinds a model writes: the gold as given, the
gold boxed, numerically equal rewrites (`-4.0`, `+7`, thousands separators), a wrong number, and prose around the
gold. Each answer goes through ponder's verifier (`verify_rows`: Math-Verify rules, what GRPO rewards and eval
scores) and reasoning-gym's scorer (>= 1.0 counts as correct). Writes bench/results/rg_agreement.json with the
agreement per dataset and per answer kind, and every disagreement's kind.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_results  # noqa: E402

DATASETS = ("basic_arithmetic", "chain_sum", "leg_counting", "gsm_symbolic", "decimal_arithmetic", "count_primes")


def variants(gold: str) -> dict[str, str]:
    """Answers a model might write for `gold`, by kind."""
    out = {"gold": gold, "boxed": f"\\boxed{{{gold}}}", "prose": f"The answer is {gold}"}
    try:
        number = float(gold)
    except ValueError:
        return out
    out["wrong"] = str(int(number) + 1) if number == int(number) else f"{number + 1:g}"
    if number == int(number):
        out["decimal_point"] = f"{int(number)}.0"
        if abs(number) >= 1000:
            out["thousands"] = f"{int(number):,}"
        if number > 0:
            out["plus_sign"] = f"+{int(number)}"
    return out


def agreement(rows_per_dataset: int = 25, seed: int = 7) -> dict:
    from ponder.data.tasks import get_task
    from ponder.inference.sampling import reference_verdicts, verify_rows
    from ponder.models.thinking import ThinkingConfig

    thinking = ThinkingConfig()
    rows, answers, kinds = [], [], []
    for name in DATASETS:
        for row in get_task(f"rg:{name}").rows(rows_per_dataset, seed=seed):
            for kind, text in variants(row["answer"]).items():
                rows.append(row)
                answers.append(f"{thinking.answer_prefix} {text}")
                kinds.append(kind)
    ours = verify_rows(rows, answers, thinking)
    theirs = reference_verdicts(rows, answers, thinking)
    by_dataset, by_kind = defaultdict(list), defaultdict(list)
    disagreements = defaultdict(int)
    for row, kind, a, b in zip(rows, kinds, ours, theirs):
        by_dataset[row["domain"]].append(a == b)
        by_kind[kind].append((a, b))
        if a != b:
            disagreements[f"{row['domain']}/{kind}: ponder {'accepts' if a else 'refuses'}"] += 1
    return {
        "answers": len(rows),
        "agreement": sum(a == b for a, b in zip(ours, theirs)) / len(rows),
        "by_dataset": {k: round(sum(v) / len(v), 3) for k, v in by_dataset.items()},
        "by_kind": {
            k: {
                "ponder_accepts": sum(a for a, _ in v) / len(v),
                "reasoning_gym_accepts": sum(b for _, b in v) / len(v),
            }
            for k, v in by_kind.items()
        },
        "disagreements": dict(sorted(disagreements.items())),
    }


def share(values) -> float:
    values = list(values)
    return round(sum(values) / len(values), 3)


if __name__ == "__main__":
    write_results("rg_agreement", {"datasets": list(DATASETS), **agreement()})
