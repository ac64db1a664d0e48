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


def boxed_contents(text: str) -> list[str]:
    """The contents of every complete \\boxed{...}, in order (nested braces matched)."""
    out = []
    for match in BOXED.finditer(text):
        depth, start = 1, match.end()
        for i in range(start, len(text)):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            if depth == 0:
                out.append(text[start:i].strip())
                break
    return out


DISPLAY_MATH = re.compile(r"\\\[(.*?)\\\]|\$\$(.*?)\$\$", re.DOTALL)
INLINE_MATH = re.compile(r"\\\((.*?)\\\)|\$([^$\n]+)\$")


def extract_final_answer(text: str, think_end: str = "</think>", answer_prefix: str = "Final Answer:") -> str:
    """The answer in the text after thinking: \\boxed{...} (several distinct boxes read as one set, as
    Math-Verify reads them), else what follows the answer prefix: its last display-math block (`\\[ ... \\]`
    or `$$ ... $$`, which may span lines), else its last non-empty line, or that line's last inline math
    (`\\( ... \\)`, `$ ... $`)."""
    section = answer_section(text, think_end)
    boxes = list(dict.fromkeys(boxed_contents(section)))
    if len(boxes) > 1:
        return "\\{" + ",".join(boxes) + "\\}"
    if boxes:
        return boxes[0]
    if answer_prefix and answer_prefix in section:
        section = section.rsplit(answer_prefix, 1)[1]
    blocks = DISPLAY_MATH.findall(section)
    if blocks:
        return " ".join("".join(blocks[-1]).split())
    lines = [line.strip() for line in section.strip().splitlines() if line.strip()]
    inline = INLINE_MATH.findall(lines[-1]) if lines else []
    if inline:
        return "".join(inline[-1]).strip()
    return lines[-1] if lines else ""


def normalize(answer: str) -> str:
    """Whitespace folded, lower case, a sentence's final period dropped (a leading dot is part of `.4`)."""
    return re.sub(r"\s+", " ", str(answer)).strip().rstrip(".").lower()


def exact_match(gold: str, prediction: str) -> bool:
    return normalize(gold) == normalize(prediction) and normalize(gold) != ""
