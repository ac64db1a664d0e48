"""How a run's model writes chain_sum answers before and after GRPO: step by step, as the SFT traces do, or the
whole sum in one line. The share of each form and how often each is right, from the eval stages' sampled answers,
and from greedy answers to all the eval's held-out questions, regenerated from the checkpoint each eval loaded.

    ponder run configs/smollm2-135m/rg-reasoner.yaml seed=0 output_dir=/tmp/ship0
    python bench/chain_sum_strategy.py /tmp/ship0/smollm2-135m-rg-reasoner [eval_sft eval_grpo]

Only questions of 3 or more terms count (a 2-term sum is one step either way). Each sampled answer (the eval's
`samples.jsonl`: 8 samples at temperature 0.7 for the first 16 questions of each task) is `stepwise` when its
reasoning has two or more lines with "=", else `one_line`. The greedy pass (the eval's questions, dtype, batch size
and token limit) also gives accuracy by number of terms (a 2-term sum is one addition or subtraction: the
arithmetic every step needs) and on leg_counting. Writes bench/results/chain_sum_strategy.json, with every stage's
seconds, peak memory and greedy accuracy from its result.json (the run folder is not kept).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import greedy_pass, stage_config, write_results  # noqa: E402


def form(reasoning: str) -> str:
    return "stepwise" if sum("=" in line for line in reasoning.splitlines()) >= 2 else "one_line"


def terms(prompt: str) -> int | None:
    """The number of terms of a chain_sum question, None for another task's."""
    return len(re.findall(r"\d+", prompt.rsplit(":", 1)[-1])) if "arithmetic" in prompt else None


def tally(counts: dict, key: str, right) -> None:
    """One more answer under `key` ([answers, right])."""
    counts.setdefault(key, [0, 0])
    counts[key][0] += 1
    counts[key][1] += bool(right)


def shares(counts: dict) -> dict:
    total = sum(n for n, _ in counts.values())
    return {
        name: {"answers": n, "share": round(n / total, 3) if total else None, "right": round(ok / n, 3) if n else None}
        for name, (n, ok) in counts.items()
    }


def strategy(samples: Path) -> dict:
    """Per form: how many sampled answers (questions of >= 3 terms) took it, its share, and the share right."""
    counts = {"stepwise": [0, 0], "one_line": [0, 0]}
    for line in samples.read_text().splitlines():
        row = json.loads(line)
        if (terms(row["prompt"]) or 0) < 3:
            continue
        for sample in row["samples"]:
            tally(counts, form(sample["reasoning"]), sample["correct"])
    return shares(counts)


def greedy(run: Path, stage: str) -> dict:
    """The eval stage's greedy pass again, from its checkpoint: accuracy by number of terms and on the other task,
    and the forms of the answers to questions of >= 3 terms."""
    checkpoint = run / stage_config(run, stage)[1]["init"] / "checkpoint"
    by_kind, forms = {}, {"stepwise": [0, 0], "one_line": [0, 0]}
    for row, answer in greedy_pass(run, stage, checkpoint):
        n = terms(row["prompt"])
        tally(by_kind, f"chain_sum_{n}_terms" if n else row["domain"], answer["correct"])
        if (n or 0) >= 3:
            tally(forms, form(answer["reasoning"]), answer["correct"])
    accuracy = {kind: {"questions": n, "right": round(ok / n, 3)} for kind, (n, ok) in sorted(by_kind.items())}
    return {"accuracy": accuracy, "forms_3_or_more_terms": shares(forms)}


def main():
    run = Path(sys.argv[1])
    stages = sys.argv[2:] or ["eval_sft", "eval_grpo"]
    results = {r.parent.name: json.loads(r.read_text()) for r in sorted(run.glob("*/result.json"))}
    figures = {
        "run": str(run),
        "stage_results": {
            name: {"seconds": r["seconds"], "peak_memory_mb": r["peak_memory_mb"]}
            | {k: v for k, v in r["metrics"].items() if k in ("accuracy@inf", "pass@1", "pass@8")}
            for name, r in results.items()
        },
        "strategy": {stage: strategy(run / stage / "samples.jsonl") for stage in stages},
        "greedy": {stage: greedy(run, stage) for stage in stages},
    }
    write_results("chain_sum_strategy", figures)


if __name__ == "__main__":
    main()
