"""Curation throughput: teacher traces/s and s1 selection time on an s1-sized pool.

    python bench/curate_throughput.py

1. Programmatic teacher: traces/s over 20,000 questions (4 tasks).
2. A local tiny HF teacher (preset `tiny`, random init, 64 new tokens, greedy): batched (32 per call)
   vs one question at a time, traces/s and their ratio.
3. s1 selection (quality -> difficulty judge -> diversity) on a 60,000-question pool: seconds.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_results  # noqa: E402


def main():
    from ponder.data.curation import diversity_select, quality_problem
    from ponder.data.tasks import TASKS, get_task
    from ponder.inference.teachers import model_samples, programmatic_samples
    from ponder.models.modeling import build_tiny_model
    from ponder.models.thinking import ThinkingConfig

    figures = {}
    thinking = ThinkingConfig()
    rows = [r for name in TASKS for r in get_task(name).rows(5000, 0)]
    start = time.perf_counter()
    for name in TASKS:
        programmatic_samples(get_task(name), [r for r in rows if r["domain"] == name], 1, 0.0, 0, thinking)
    figures["programmatic_traces_per_s"] = round(len(rows) / (time.perf_counter() - start))

    model, tokenizer = build_tiny_model("tiny", thinking)
    model.eval()
    questions = [r["prompt"] for r in rows[:64]]
    start = time.perf_counter()
    model_samples(model, tokenizer, thinking, questions, 1, 0.0, 64, batch_size=32)
    batched = len(questions) / (time.perf_counter() - start)
    start = time.perf_counter()
    model_samples(model, tokenizer, thinking, questions[:16], 1, 0.0, 64, batch_size=1)
    single = 16 / (time.perf_counter() - start)
    figures.update(
        {
            "hf_teacher_batched_traces_per_s": round(batched, 2),
            "hf_teacher_single_traces_per_s": round(single, 2),
            "hf_teacher_batched_vs_single_ratio": round(batched / single, 2),
        }
    )

    pool = [r for name in TASKS for r in get_task(name).rows(15000, 1)]
    rng = random.Random(0)
    for row in pool:
        trace = get_task(row["domain"]).teacher_trace(row, flaw_rate=0.1, rng=rng)
        row.update(reasoning=trace.text(), error=None, verified=trace.answer == row["answer"])
    start = time.perf_counter()
    kept = [r for r in pool if quality_problem(r) is None]
    kept = [r for r in kept if rng.random() < 0.7]  # the judge's verdicts (precomputed: judging is generation)
    chosen = diversity_select(kept, 1000, seed=0)
    figures.update(
        {
            "s1_pool": len(pool),
            "s1_selected": len(chosen),
            "s1_selection_seconds": round(time.perf_counter() - start, 3),
        }
    )
    write_results("curate_throughput", figures)


if __name__ == "__main__":
    main()
