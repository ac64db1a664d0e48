"""Rows (prompt, answer, reasoning) -> TRL prompt-completion text rendered with the thinking template."""

from __future__ import annotations

from ponder.models.chat import format_completion, format_prompt


def to_prompt_completion(dataset, tokenizer, thinking, use_reasoning: bool = True):
    def render(row):
        reasoning = row.get("reasoning") if use_reasoning else None
        return {
            "prompt": format_prompt(tokenizer, row["prompt"], enable_thinking=reasoning is not None),
            "completion": format_completion(reasoning, row["answer"], thinking),
        }

    return dataset.map(render, remove_columns=dataset.column_names)
