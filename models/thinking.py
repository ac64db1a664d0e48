"""The thinking contract every ponder checkpoint carries (README: Checkpoints).

The fields live in `generation_config.json` under the key `thinking`, so any HF loader keeps them and
ponder's generate/serve read the same defaults the recipe trained with.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Optional

GENERATION_CONFIG_KEY = "thinking"


@dataclass
class ThinkingConfig:
    think_start: str = field(default="<think>", metadata={"help": "Special token that opens thinking."})
    think_end: str = field(default="</think>", metadata={"help": "Special token that closes thinking."})
    extension: str = field(
        default="Wait", metadata={"help": "Inserted when the model stops thinking before the minimum budget (s1)."}
    )
    answer_prefix: str = field(
        default="Final Answer:", metadata={"help": "Forced after `think_end` when the maximum budget stops thinking."}
    )
    min_thinking_tokens: int = field(default=0, metadata={"help": "Default minimum thinking budget."})
    max_thinking_tokens: Optional[int] = field(
        default=None, metadata={"help": "Default maximum thinking budget; None = unlimited."}
    )
    step_separator: str = field(default="\n\n", metadata={"help": "Separates reasoning steps (PRMs, beam search)."})
    budget_prompt: Optional[str] = field(
        default=None,
        metadata={
            "help": "Prompt suffix the checkpoint was RL-trained to obey (L1/LCPO), e.g. 'Think for {n} tokens.'"
        },
    )
    effort_budgets: dict = field(
        default_factory=lambda: {"low": 16, "medium": 64, "high": 256},
        metadata={"help": "reasoning_effort -> max thinking tokens, used by `ponder serve`."},
    )

    def __post_init__(self):
        if self.min_thinking_tokens < 0:
            raise ValueError(f"min_thinking_tokens={self.min_thinking_tokens} must be >= 0")
        if self.max_thinking_tokens is not None and self.max_thinking_tokens < self.min_thinking_tokens:
            raise ValueError(
                f"max_thinking_tokens={self.max_thinking_tokens} < min_thinking_tokens={self.min_thinking_tokens}: "
                "raise the maximum or lower the minimum"
            )
        if self.think_start == self.think_end:
            raise ValueError("think_start and think_end must differ")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict | None) -> ThinkingConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (values or {}).items() if k in known})

    @classmethod
    def from_generation_config(cls, generation_config) -> ThinkingConfig:
        """Read the contract from a `GenerationConfig` (or defaults when the checkpoint has none)."""
        values = getattr(generation_config, GENERATION_CONFIG_KEY, None) if generation_config is not None else None
        return cls.from_dict(values)


def split_reasoning(text: str, thinking: ThinkingConfig) -> tuple[str, str]:
    """Split decoded text into (reasoning, answer). Text without `think_end` is all reasoning."""
    if thinking.think_start in text:
        text = text.split(thinking.think_start, 1)[1]
    if thinking.think_end not in text:
        return text.strip(), ""
    reasoning, answer = text.split(thinking.think_end, 1)
    return reasoning.strip(), answer.strip()
