"""Stepwise PRM data in TRL's format (`prompt`, `completions` = steps, `labels`), from three sources:
Monte Carlo rollouts of a policy (Math-Shepherd), Math-Shepherd's `ки`-tagged text, and PRM800K ratings.

A labelled solution's last step is its answer line ("Final Answer: X"), as search scores it
(`ponder.inference.search.scored_steps`), so a PRM learns to judge the answer too.
"""

from __future__ import annotations

import re

from ponder.data.sampling import verify_rows
from ponder.inference.search import Candidate, scored_steps


def monte_carlo_labels(
    sampler, questions: list[dict], solutions: list[Candidate], n_rollouts: int, thinking
) -> list[dict]:
    """For each solution and each step prefix, `n_rollouts` continuations by `sampler`; soft label = the
    fraction reaching the gold answer, hard label = any did. The answer step is labelled by the verifier."""
    rows = []
    for question, solution in zip(questions, solutions):
        prefixes = [solution.steps[:j] for j in range(1, len(solution.steps) + 1)]
        rollouts = sampler.complete(question, [p for p in prefixes for _ in range(n_rollouts)]) if prefixes else []
        answers = [c.answer or "" for c in rollouts] + [solution.answer or ""]
        verdicts = verify_rows([question] * len(answers), [f"{thinking.answer_prefix} {a}" for a in answers], thinking)
        soft = [sum(verdicts[j * n_rollouts : (j + 1) * n_rollouts]) / n_rollouts for j in range(len(prefixes))]
        if solution.done:
            soft.append(float(verdicts[-1]))
        rows.append(
            {
                "prompt": question["prompt"],
                "completions": scored_steps(solution, thinking.answer_prefix)[: len(soft)],
                "labels": [s > 0 for s in soft],
                "soft_labels": soft,
                "answer": question["answer"],
                "domain": question.get("domain", ""),
                "rollouts": n_rollouts,
            }
        )
    return rows


STEP_TAG = "ки"
_STEP_HEADER = re.compile(r"Step \d+:")


def from_math_shepherd(row: dict) -> dict:
    """Math-Shepherd: `input` has a `ки` after each step, `label` is the same text with `+`/`-` in their place."""
    text, tagged = row["input"], row["label"]
    segments = text.split(STEP_TAG)[:-1]
    labels, cursor = [], 0
    for segment in segments:
        cursor += len(segment)
        if cursor >= len(tagged) or tagged[cursor] not in "+-":
            raise ValueError(
                f"Math-Shepherd row: `label` has {tagged[cursor : cursor + 1]!r} where `input` has {STEP_TAG!r}"
            )
        labels.append(tagged[cursor] == "+")
        cursor += 1
    header = _STEP_HEADER.search(segments[0]) if segments else None
    prompt = segments[0][: header.start()].strip() if header else ""
    steps = [s.strip() for s in segments]
    if header:
        steps[0] = segments[0][header.start() :].strip()
    return {"prompt": prompt, "completions": steps, "labels": labels}


NEUTRAL_POLICIES = ("positive", "negative", "stop")


def from_prm800k(row: dict, neutral: str = "positive") -> dict | None:
    """PRM800K: the chosen completion of each step, rated -1/0/+1, up to the first -1.

    `neutral` decides rating 0 (a step that is reasonable but does not advance): "positive" (PRM800K's
    own "neutral counts as correct" convention), "negative", or "stop" (cut the solution before it).
    Returns None for a row with no rated step."""
    if neutral not in NEUTRAL_POLICIES:
        raise ValueError(f"neutral={neutral!r}; choose one of {NEUTRAL_POLICIES}")
    steps, labels = [], []
    for step in row["label"]["steps"]:
        chosen = step.get("chosen_completion")
        if chosen is not None:
            completion = step["completions"][chosen]
            rating = completion.get("rating")
        elif step.get("human_completion"):  # written by the labeller to replace a wrong step: correct
            completion, rating = step["human_completion"], 1
        else:  # the trajectory ends here (its last step is rated, usually -1)
            completion = step["completions"][0]
            rating = completion.get("rating")
        if rating is None or (rating == 0 and neutral == "stop"):
            break
        steps.append(completion["text"])
        labels.append(rating > 0 or (rating == 0 and neutral == "positive"))
        if rating < 0:
            break
    if not steps:
        return None
    return {"prompt": row["question"]["problem"], "completions": steps, "labels": labels}
