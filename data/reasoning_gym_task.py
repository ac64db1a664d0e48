"""reasoning-gym datasets as ponder tasks: its `score_answer` is the verifier.

Questions, gold answers and scoring are reasoning-gym's own. A few datasets also have a programmatic teacher here
(`TRACE_WRITERS`): a step-by-step trace written from the entry's metadata (the expression, the animals, the word),
so a curate stage can distil them without a teacher model. Others need a model or endpoint teacher.
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
import re
from importlib.util import find_spec
from pathlib import Path

from ponder.data.task import Task, Trace
from ponder.rewards.answers import extract_final_answer

REGISTERED = re.compile(r"^register_dataset\(\s*(?:[\"']([^\"']+)[\"']|(\w+))", re.M)
SEED_STRIDE = 1_000_000  # reasoning-gym's item i of seed s is Random(s + i): seeds s and s + 1 share all but one item


@functools.cache
def dataset_names() -> frozenset[str] | None:
    """reasoning-gym's registered dataset names, read from its source (`register_dataset("name", ...)` or a
    module-level `DATASET_NAME = "name"`) in ~10 ms, where importing it takes seconds; None when not installed."""
    spec = find_spec("reasoning_gym")
    if spec is None or spec.origin is None:
        return None
    names = set()
    for file in Path(spec.origin).parent.rglob("*.py"):
        text = file.read_text(encoding="utf-8", errors="replace")
        if "register_dataset(" not in text:
            continue
        for literal, variable in REGISTERED.findall(text):
            if variable:
                found = re.search(rf"^{variable}\s*(?::\s*\w+\s*)?=\s*[\"']([^\"']+)[\"']", text, re.M)
                literal = found.group(1) if found else ""
            if literal:
                names.add(literal)
    return frozenset(names)


class ReasoningGymTask(Task):
    def __init__(self, dataset_name: str):
        self.name = f"rg:{dataset_name}"
        self.dataset_name = dataset_name

    def rows(self, n: int, seed: int = 0, difficulty=None) -> list[dict]:
        """`difficulty`: a mapping of the dataset's config fields (e.g. chain_sum's {max_terms: 3, max_digits: 2}).
        ponder's seed s draws reasoning-gym items s * SEED_STRIDE + i, so distinct seeds never share a question
        (pools under a million rows)."""
        import reasoning_gym

        if not isinstance(difficulty or {}, dict):
            raise ValueError(f"{self.name}: difficulty must map reasoning-gym config fields, got {difficulty!r}")
        config = dict(difficulty or {})
        try:
            dataset = reasoning_gym.create_dataset(self.dataset_name, size=n, seed=seed * SEED_STRIDE, **config)
        except TypeError as error:  # an unknown config field
            raise ValueError(f"{self.name}: difficulty {config}: {error}") from None
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
        """The dataset's programmatic trace; with probability `flaw_rate` one whose final step is off by one
        (chain_sum, leg_counting) or swaps two letters (spell_backward), so the answer is wrong."""
        writer = TRACE_WRITERS.get(self.dataset_name)
        if writer is None:
            raise NotImplementedError(
                f"{self.name} has no programmatic teacher (ponder writes traces for {sorted(TRACE_WRITERS)}); "
                "use a model or endpoint teacher"
            )
        rng = rng or random.Random(row["id"])
        steps, answer = writer(json.loads(row["payload"])["metadata"])
        if rng.random() < flaw_rate:
            wrong = flawed(answer)
            return Trace(steps[:-1] + [steps[-1].replace(answer, wrong)], wrong, flawed=True)
        return Trace(steps, answer)


def flawed(answer: str) -> str:
    if answer.lstrip("-").isdigit():
        return str(int(answer) + 1)
    return answer[1] + answer[0] + answer[2:] if len(answer) > 1 and answer[0] != answer[1] else answer + answer[-1]


def chain_sum_trace(meta: dict) -> tuple[list[str], str]:
    """'4 - 1 - 7' -> ['4 - 1 = 3', '3 - 7 = -4'], '-4' (left to right, one operation a step)."""
    tokens = meta["expression"].split()
    total, steps = int(tokens[0]), []
    for op, value in zip(tokens[1::2], tokens[2::2]):
        result = total + int(value) if op == "+" else total - int(value)
        steps.append(f"{total} {op} {value} = {result}")
        total = result
    return steps, str(total)


def leg_counting_trace(meta: dict) -> tuple[list[str], str]:
    """One step per animal ('3 woodlouses: 3 x 14 = 42 legs') with the running total, then the total."""
    from reasoning_gym.arithmetic.leg_counting import ANIMALS

    total, steps = 0, []
    for animal, count in meta["animals"].items():
        legs = count * ANIMALS[animal]
        steps.append(f"{animal}: {count} x {ANIMALS[animal]} = {legs}, total {total} + {legs} = {total + legs}")
        total += legs
    steps.append(f"Total: {total}")
    return steps, str(total)


def spell_backward_trace(meta: dict) -> tuple[list[str], str]:
    """The word's letters, then the same letters from the end: 'c u l l a' -> 'a l l u c'."""
    word = meta["word"]
    return [" ".join(word), " ".join(reversed(word)), word[::-1]], word[::-1]


TRACE_WRITERS = {
    "chain_sum": chain_sum_trace,
    "leg_counting": leg_counting_trace,
    "spell_backward": spell_backward_trace,
}


@functools.cache
def _scorer(dataset_name: str):
    import reasoning_gym

    return reasoning_gym.create_dataset(dataset_name, size=1, seed=0)


def reference_score(row: dict, answer: str) -> float:
    """reasoning-gym's own `score_answer` of an extracted answer for one of its rows (1.0 = correct; it gives
    partial credit, e.g. 0.5 for "-4.0" against "-4")."""
    return float(_scorer(row["task"].removeprefix("rg:")).score_answer(answer, json.loads(row["payload"])))
