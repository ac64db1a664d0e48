"""Sample a model on task rows and verify what it writes (self-improvement rounds, judges, eval)."""

from __future__ import annotations

import warnings

from ponder.console import progress_bar
from ponder.data.tasks import TASKS, get_task
from ponder.rewards.answers import extract_final_answer
from ponder.rewards.math_answers import no_verdict, verify_answers


def generate_samples(
    model,
    tokenizer,
    thinking,
    questions: list[str],
    k: int = 1,
    temperature: float = 0.0,
    max_new_tokens: int = 128,
    batch_size: int = 32,
    **budgets,
) -> list[list]:
    """Per question, k `Generation`s, generated with the thinking template in batches of at most `batch_size`
    sequences (`batch_size // k` questions, at least one): the batch's rows bound its KV cache (on SmolLM2, 32
    questions x 8 samples in one batch peaked at 3.0 GiB RSS, 8 x 8 at 1.6 GiB)."""
    from ponder.inference.generation import generate  # torch: imported when a model runs, not to validate

    out = []
    bar = progress_bar("generate", len(questions) * k, leave=False, unit="samples")
    step = max(1, batch_size // k)
    for start in range(0, len(questions), step):
        chunk = questions[start : start + step]
        results = generate(
            model,
            tokenizer,
            [[{"role": "user", "content": q}] for q in chunk],
            max_new_tokens=max_new_tokens,
            do_sample=temperature > 0,
            temperature=max(temperature, 1e-5),
            num_return_sequences=k,
            thinking=thinking,
            **budgets,
        )
        out += [results[i * k : (i + 1) * k] for i in range(len(chunk))]
        bar.update(len(chunk) * k)
    bar.close()
    return out


def sample_and_verify(
    model,
    tokenizer,
    thinking,
    rows: list[dict],
    k: int = 1,
    temperature: float = 0.0,
    max_new_tokens: int = 128,
    batch_size: int = 32,
    **budgets,
) -> list[list[dict]]:
    """Per row, k samples as {reasoning, answer_text, thinking_tokens, correct}."""
    generations = generate_samples(
        model, tokenizer, thinking, [r["prompt"] for r in rows], k, temperature, max_new_tokens, batch_size, **budgets
    )
    flat = [g for row_generations in generations for g in row_generations]
    repeated = [r for r in rows for _ in range(k)]
    verdicts = iter(verify_rows(repeated, [g.answer for g in flat], thinking))
    references = iter(reference_verdicts(repeated, [g.answer for g in flat], thinking))
    return [
        [
            {
                "reasoning": g.reasoning,
                "answer_text": g.answer,
                "thinking_tokens": g.thinking_tokens,
                "correct": next(verdicts),
                "reference_correct": next(references),
            }
            for g in row_generations
        ]
        for row_generations in generations
    ]


def verify_rows(rows: list[dict], answers: list[str], thinking) -> list[bool]:
    """Rows of ponder's own tasks use their task's verifier (exact answers); other rows, reasoning-gym's included
    (their own scorer is `reference_verdicts`), go through Math-Verify. An answer Math-Verify gave no verdict in
    time (nan: a starved machine) is not correct and stays in the count, so means are not poisoned; a warning
    says how many there were."""
    verdicts: list = [None] * len(rows)
    generic = []
    for i, (row, answer) in enumerate(zip(rows, answers)):
        if row.get("domain") in TASKS:
            verdicts[i] = get_task(row["domain"]).verify(row, f"{thinking.think_end}{answer}", thinking.think_end)
        else:
            generic.append(i)
    predictions = [
        extract_final_answer(f"{thinking.think_end}{answers[i]}", thinking.think_end, thinking.answer_prefix)
        if answers[i]
        else ""
        for i in generic
    ]
    checked = verify_answers([(str(rows[i]["answer"]), p) for i, p in zip(generic, predictions)])
    for i, value in zip(generic, checked):
        verdicts[i] = value == 1.0
    unverified = sum(map(no_verdict, checked))
    if unverified:
        warnings.warn(f"{unverified} of {len(checked)} answers got no verdict in time; counted as not correct")
    return verdicts


def reference_verdicts(rows: list[dict], answers: list[str], thinking) -> list:
    """The source's own verdict where a row has one (reasoning-gym rows: its `score_answer` >= 1), else None; set
    against ponder's verifier (`verify_rows`) in the eval stage's `verifier_agreement`."""
    from ponder.data.reasoning_gym_task import reference_score

    return [
        reference_score(
            row, extract_final_answer(f"{thinking.think_end}{a}", thinking.think_end, thinking.answer_prefix)
        )
        >= 1.0
        if str(row.get("task", "")).startswith("rg:")
        else None
        for row, a in zip(rows, answers)
    ]


def accuracy(samples: list[list[dict]]) -> float:
    flat = [s["correct"] for row in samples for s in row]
    return sum(flat) / len(flat) if flat else 0.0
