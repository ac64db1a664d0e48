"""Answers verified per second (2 cores, deadline on) and sandboxed programs per second.

    python bench/verify_throughput.py

Mixes: (a) simple task answers (numbers, words: ponder's in-process fast path); (b) a realistic
math mix (fractions, \\boxed{}, sets, sqrt) with 1% pathological exponent towers, as completions through
ponder's `accuracy` reward; baseline: TRL's `accuracy_reward` (Math-Verify in-process with SIGALRM timeouts)
on the same completions without the towers, which it cannot bound outside the main thread; (c) a GRPO-like
batch of 64 pathological answers (the bound per batch). Code: trivial programs through the sandbox.
Run on the machine's cores (2 here); `cpu_count` is written with the figures.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_results  # noqa: E402

TOWER = "2^{" * 12 + "2" + "}" * 12


def simple_pairs(n, rng):
    pairs = []
    for i in range(n):
        gold = str(rng.randrange(1000)) if i % 2 else "".join(rng.choice("abcdef") for _ in range(5))
        pairs.append((gold, gold if rng.random() < 0.5 else gold[::-1] + "1"))
    return pairs


def math_pairs(n, rng, pathological_rate=0.01):
    templates = [
        ("\\frac{{{a}}}{{{b}}}", lambda a, b: f"{a / b:.6f}".rstrip("0")),
        ("\\boxed{{{a}}}", lambda a, b: str(a)),
        ("\\{{{a},{b}\\}}", lambda a, b: f"\\{{{b},{a}\\}}"),
        ("\\sqrt{{{a2}}}", lambda a, b: str(a)),
    ]
    pairs = []
    for _ in range(n):
        if rng.random() < pathological_rate:
            pairs.append(("1/2", TOWER))
            continue
        a, b = rng.randrange(1, 50), rng.randrange(1, 50)
        gold_t, pred_f = rng.choice(templates)
        pairs.append((gold_t.format(a=a, b=b, a2=a * a), pred_f(a, b)))
    return pairs


def symbolic_pairs(n, rng):
    """Answers only a parser can check (ponder sends these to its Math-Verify workers)."""
    templates = [
        ("\\frac{{\\sqrt{{{a}}}}}{{{a}}}", lambda a, b: f"\\frac{{1}}{{\\sqrt{{{a}}}}}"),
        ("x^2 + {s}x + {a2}", lambda a, b: f"(x + {a})^2"),
        ("\\frac{{{a}\\pi}}{{{b}}}", lambda a, b: f"{a}\\pi/{b}"),
        ("{a}\\sqrt{{3}}", lambda a, b: f"\\sqrt{{{3 * a * a}}}"),
    ]
    pairs = []
    for _ in range(n):
        a, b = rng.randrange(2, 30), rng.randrange(2, 30)
        gold_t, pred_f = rng.choice(templates)
        pairs.append((gold_t.format(a=a, b=b, s=2 * a, a2=a * a), pred_f(a, b)))
    return pairs


def completions(predictions):
    return [[{"role": "assistant", "content": f"<think>\nwork\n</think>\n\n\\boxed{{{p}}}"}] for p in predictions]


def main():
    import os

    from trl.rewards import accuracy_reward as trl_accuracy

    from ponder.rewards import get_reward
    from ponder.rewards.math_answers import default_workers, verify_answers
    from ponder.rewards.sandbox import run_program

    rng = random.Random(0)
    figures = {"deadline_s": 2.0, "workers": default_workers(), "cpu_count": os.cpu_count()}
    verify_answers([("\\frac12", "0.5")] * 2, deadline=2.0)  # start the workers outside the timings

    simple = simple_pairs(20000, rng)
    start = time.perf_counter()
    verify_answers(simple)
    figures["simple_answers_per_s"] = round(len(simple) / (time.perf_counter() - start))

    mix = math_pairs(400, rng)
    accuracy = get_reward("accuracy")
    start = time.perf_counter()
    results = accuracy(completions([p for _, p in mix]), answer=[g for g, _ in mix])
    elapsed = time.perf_counter() - start
    figures["math_mix_answers_per_s"] = round(len(mix) / elapsed, 1)
    figures["math_mix_pathological"] = sum(p[1] == TOWER for p in mix)
    figures["math_mix_seconds"] = round(elapsed, 2)
    figures["math_mix_accuracy_non_pathological"] = round(
        sum(r == 1.0 for r, p in zip(results, mix) if p[1] != TOWER) / sum(p[1] != TOWER for p in mix), 3
    )

    clean = [p for p in mix if p[1] != TOWER]
    start = time.perf_counter()
    trl_results = trl_accuracy(completions([p for _, p in clean]), solution=[f"${g}$" for g, _ in clean])
    figures["trl_accuracy_math_mix_accuracy"] = round(sum(r == 1.0 for r in trl_results) / len(clean), 3)
    figures["trl_accuracy_math_mix_answers_per_s"] = round(len(clean) / (time.perf_counter() - start), 1)
    figures["math_mix_ponder_vs_trl_ratio"] = round(
        figures["math_mix_answers_per_s"] / figures["trl_accuracy_math_mix_answers_per_s"], 3
    )

    symbolic = symbolic_pairs(200, rng)
    start = time.perf_counter()
    results = accuracy(completions([p for _, p in symbolic]), answer=[g for g, _ in symbolic])
    figures["symbolic_mix_answers_per_s"] = round(len(symbolic) / (time.perf_counter() - start), 1)
    figures["symbolic_mix_accuracy"] = round(sum(r == 1.0 for r in results) / len(symbolic), 3)
    start = time.perf_counter()
    trl_results = trl_accuracy(completions([p for _, p in symbolic]), solution=[f"${g}$" for g, _ in symbolic])
    figures["trl_accuracy_symbolic_mix_answers_per_s"] = round(len(symbolic) / (time.perf_counter() - start), 1)
    figures["trl_accuracy_symbolic_mix_accuracy"] = round(sum(r == 1.0 for r in trl_results) / len(symbolic), 3)
    figures["symbolic_mix_ponder_vs_trl_ratio"] = round(
        figures["symbolic_mix_answers_per_s"] / figures["trl_accuracy_symbolic_mix_answers_per_s"], 3
    )

    towers = [("1/2", TOWER)] * 32 + [("7", "2^2^2^2^2^2^2^2")] * 32
    start = time.perf_counter()
    verify_answers(towers, deadline=2.0)
    figures["pathological_batch_64_seconds"] = round(time.perf_counter() - start, 3)

    start = time.perf_counter()
    n_programs = 40
    for i in range(n_programs):
        run_program(f"print({i} + 1)")
    figures["sandbox_programs_per_s"] = round(n_programs / (time.perf_counter() - start), 1)
    write_results("verify_throughput", figures)


if __name__ == "__main__":
    main()
