"""Sample a model on task rows and verify what it writes (self-improvement rounds, judges, eval)."""
from __future__ import annotations

from ponder.data.tasks import TASKS, get_task
from ponder.inference.generate import generate
from ponder.rewards.answers import extract_final_answer
from ponder.rewards.math_answers import verify_answers


def sample_and_verify(model, tokenizer, thinking, rows: list[dict], k: int = 1, temperature: float = 0.0,
                      max_new_tokens: int = 128, batch_size: int = 32, **budgets) -> list[list[dict]]:
    """Per row, k samples as {reasoning, answer_text, thinking_tokens, correct}."""
    out = []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        results = generate(model, tokenizer, [[{"role": "user", "content": r["prompt"]}] for r in chunk],
                           max_new_tokens=max_new_tokens, do_sample=temperature > 0,
                           temperature=max(temperature, 1e-5), num_return_sequences=k, thinking=thinking, **budgets)
        verdicts = verify_rows([r for r in chunk for _ in range(k)], [g.answer for g in results], thinking)
        for i in range(len(chunk)):
            out.append([{"reasoning": g.reasoning, "answer_text": g.answer, "thinking_tokens": g.thinking_tokens,
                         "correct": verdicts[i * k + j]}
                        for j, g in enumerate(results[i * k:(i + 1) * k])])
    return out


def verify_rows(rows: list[dict], answers: list[str], thinking) -> list[bool]:
    """Task rows use their task's own verifier (exact answers); other rows go through Math-Verify."""
    verdicts: list = [None] * len(rows)
    generic = []
    for i, (row, answer) in enumerate(zip(rows, answers)):
        if row.get("domain") in TASKS or str(row.get("domain", "")).startswith("rg:"):
            verdicts[i] = get_task(row["domain"]).verify(row, f"{thinking.think_end}{answer}", thinking.think_end)
        else:
            generic.append(i)
    predictions = [extract_final_answer(f"{thinking.think_end}{answers[i]}", thinking.think_end, thinking.answer_prefix)
                   if answers[i] else "" for i in generic]
    for i, value in zip(generic, verify_answers([(str(rows[i]["answer"]), p) for i, p in zip(generic, predictions)])):
        verdicts[i] = value == 1.0
    return verdicts


def accuracy(samples: list[list[dict]]) -> float:
    flat = [s["correct"] for row in samples for s in row]
    return sum(flat) / len(flat) if flat else 0.0
