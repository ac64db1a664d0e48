"""Final-answer extraction and exact matching for task answers (no ponder imports: a leaf)."""

from __future__ import annotations

import re

BOXED = re.compile(r"\\boxed\{")


def completion_text(completion) -> str:
    """TRL passes plain strings or conversational `[{"role": "assistant", "content": ...}]` lists."""
    if isinstance(completion, list):
        return "".join(m.get("content", "") for m in completion if isinstance(m, dict))
    return completion or ""


def answer_section(text: str, think_end: str = "</think>") -> str:
    """The text after the last thinking delimiter (all of it when there is none)."""
    return text.rsplit(think_end, 1)[1] if think_end in text else text


def last_boxed(text: str) -> str | None:
    starts = [m.end() for m in BOXED.finditer(text)]
    if not starts:
        return None
    depth, start = 1, starts[-1]
    for i in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start:i]
    return None


def extract_final_answer(text: str, think_end: str = "</think>", answer_prefix: str = "Final Answer:") -> str:
    """\\boxed{...} if present, else what follows the answer prefix, else the last non-empty line."""
    section = answer_section(text, think_end)
    boxed = last_boxed(section)
    if boxed is not None:
        return boxed.strip()
    if answer_prefix and answer_prefix in section:
        section = section.rsplit(answer_prefix, 1)[1]
    lines = [line.strip() for line in section.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def normalize(answer: str) -> str:
    return re.sub(r"\s+", " ", str(answer)).strip().strip(".").lower()


def exact_match(gold: str, prediction: str) -> bool:
    return normalize(gold) == normalize(prediction) and normalize(gold) != ""
