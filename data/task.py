"""The task contract: a `Task` makes seeded rows, verifies completions and writes programmatic teacher traces.

Built-in tasks are in `ponder.data.tasks`; reasoning-gym datasets in `ponder.data.reasoning_gym_task`.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass

from ponder.rewards.answers import exact_match, extract_final_answer


@dataclass
class Trace:
    steps: list
    answer: str
    flawed: bool = False

    def text(self, separator: str = "\n\n") -> str:
        return separator.join(self.steps)


class Task:
    """Base: subclasses set `name`, `difficulties` and implement `make(rng, difficulty)` and `solve`."""

    name: str = ""
    difficulties: tuple = (1, 5)

    def rows(self, n: int, seed: int = 0, difficulty: tuple | None = None) -> list[dict]:
        lo, hi = difficulty or self.difficulties
        rng = random.Random(f"{self.name}:{seed}")
        out = []
        for _ in range(n):
            level = rng.randint(lo, hi)
            prompt, payload = self.make(rng, level)
            answer = self.solve(payload, rng=None).answer
            row_id = hashlib.sha1(f"{self.name}|{prompt}".encode()).hexdigest()[:12]
            out.append(
                {
                    "id": row_id,
                    "prompt": prompt,
                    "answer": answer,
                    "domain": self.name,
                    "difficulty": level,
                    "payload": json.dumps(payload),
                }
            )
        return out

    def verify(self, row: dict, completion: str, think_end: str = "</think>") -> bool:
        return exact_match(row["answer"], extract_final_answer(completion, think_end))

    def teacher_trace(self, row: dict, flaw_rate: float = 0.0, rng: random.Random | None = None) -> Trace:
        """A correct step-by-step trace, or with probability `flaw_rate` one with a wrong step that
        carries through to a wrong answer (something real for filters and PRMs to catch)."""
        rng = rng or random.Random(row["id"])
        flaw = rng.random() < flaw_rate
        return self.solve(json.loads(row["payload"]), rng=rng if flaw else None)

    def make(self, rng, level):  # -> (prompt, payload)
        raise NotImplementedError

    def solve(self, payload, rng) -> Trace:  # rng given = inject one flawed step
        raise NotImplementedError
