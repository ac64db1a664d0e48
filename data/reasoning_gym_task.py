"""reasoning-gym datasets as ponder tasks: its `score_answer` is the verifier; no teacher traces."""

from __future__ import annotations

import functools
import hashlib
import json

from ponder.data.task import Task
from ponder.rewards.answers import extract_final_answer


class ReasoningGymTask(Task):
    def __init__(self, dataset_name: str):
        self.name = f"rg:{dataset_name}"
        self.dataset_name = dataset_name

    def rows(self, n: int, seed: int = 0, difficulty=None) -> list[dict]:
        import reasoning_gym

        dataset = reasoning_gym.create_dataset(self.dataset_name, size=n, seed=seed)
        out = []
        for entry in dataset:
            prompt = entry["question"]
            out.append(
                {
                    "id": hashlib.sha1(f"{self.name}|{prompt}".encode()).hexdigest()[:12],
                    "prompt": prompt,
                    "answer": str(entry["answer"]),
                    "domain": self.dataset_name,
                    "task": self.name,  # reasoning-gym's own scorer is reachable from the row (`reference_score`)
                    "difficulty": 0,  # reasoning-gym difficulty knobs differ per dataset; set them via its config
                    "payload": json.dumps(entry, default=str),
                }
            )
        return out

    def verify(self, row: dict, completion: str, think_end: str = "</think>") -> bool:
        return reference_score(row, extract_final_answer(completion, think_end)) >= 1.0

    def teacher_trace(self, row, flaw_rate=0.0, rng=None):
        raise NotImplementedError(f"{self.name} has no programmatic teacher; use a model or endpoint teacher")


@functools.cache
def _scorer(dataset_name: str):
    import reasoning_gym

    return reasoning_gym.create_dataset(dataset_name, size=1, seed=0)


def reference_score(row: dict, answer: str) -> float:
    """reasoning-gym's own `score_answer` of an extracted answer for one of its rows (1.0 = correct; it gives
    partial credit, e.g. 0.5 for "-4.0" against "-4")."""
    return float(_scorer(row["task"].removeprefix("rg:")).score_answer(answer, json.loads(row["payload"])))
