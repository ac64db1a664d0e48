"""Stepwise PRM data in TRL's format (`prompt`, `completions` = steps, `labels`) from Math-Shepherd's `ки`-tagged
text and PRM800K ratings. Labels from Monte Carlo rollouts of a policy generate, so they are
`ponder.inference.prm_labels`."""

from __future__ import annotations

import re

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
