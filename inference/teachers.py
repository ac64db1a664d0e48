"""Teachers write reasoning traces: the task's program, a local HF model, or an OpenAI-compatible endpoint.

Each returns, per question, k `(reasoning, answer_text, error)` samples. Model-written text is split at
`</think>` (or taken from `reasoning_content` where an endpoint such as vLLM's reasoning parser gives it).
"""

from __future__ import annotations

import json
import random
import time
from concurrent.futures import ThreadPoolExecutor

from ponder.models.thinking import ThinkingConfig, split_reasoning


def programmatic_samples(task, rows, k: int, flaw_rate: float, seed, thinking: ThinkingConfig) -> list[list[dict]]:
    rng = random.Random(seed)
    out = []
    for row in rows:
        traces = [task.teacher_trace(row, flaw_rate=flaw_rate, rng=rng) for _ in range(k)]
        out.append(
            [
                {
                    "reasoning": t.text(thinking.step_separator),
                    "answer_text": f"{thinking.answer_prefix} {t.answer}",
                    "error": None,
                }
                for t in traces
            ]
        )
    return out


def model_samples(
    model,
    tokenizer,
    thinking: ThinkingConfig,
    questions: list[str],
    k: int,
    temperature: float,
    max_tokens: int,
    batch_size: int = 16,
) -> list[list[dict]]:
    """Batched generation with the thinking template (budget defaults from the checkpoint)."""
    from ponder.inference.sampling import generate_samples

    generations = generate_samples(model, tokenizer, thinking, questions, k, temperature, max_tokens, batch_size)
    return [
        [{"reasoning": g.reasoning, "answer_text": g.answer, "error": None if g.answer else "truncated"} for g in row]
        for row in generations
    ]


class EndpointTeacher:
    """An OpenAI-compatible chat endpoint (e.g. a vLLM server of an R1 distill): bounded concurrency,
    retries with exponential backoff on errors and timeouts, and a per-request timeout. A request that
    still fails is returned as an error sample (counted by the quality filter), never dropped."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str = "none",
        concurrency: int = 8,
        retries: int = 3,
        timeout: float = 60.0,
        backoff: float = 0.5,
        thinking: ThinkingConfig | None = None,
    ):
        import httpx

        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model, self.concurrency, self.retries, self.backoff = model, concurrency, retries, backoff
        self.thinking = thinking or ThinkingConfig()
        self.client = httpx.Client(timeout=timeout, headers={"Authorization": f"Bearer {api_key}"})

    def _one(self, question: str, temperature: float, max_tokens: int) -> dict:
        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": question}],
            "temperature": temperature,
            "max_tokens": max_tokens,
        }
        error = None
        for attempt in range(self.retries + 1):
            try:
                response = self.client.post(self.url, json=body)
                if response.status_code == 200:
                    return self._parse(response.json())
                error = f"HTTP {response.status_code}"
                if response.status_code < 500 and response.status_code != 429:
                    break  # a client error will not succeed on retry
            except Exception as exc:  # timeouts, connection resets
                error = f"{type(exc).__name__}"
            time.sleep(self.backoff * 2**attempt)
        return {"reasoning": "", "answer_text": "", "error": error}

    def _parse(self, payload: dict) -> dict:
        message = payload["choices"][0]["message"]
        content = message.get("content") or ""
        reasoning = message.get("reasoning_content")
        if reasoning is None:
            if self.thinking.think_end not in content:
                return {"reasoning": content, "answer_text": "", "error": "truncated"}
            reasoning, content = split_reasoning(content, self.thinking)
        return {"reasoning": reasoning.strip(), "answer_text": content.strip(), "error": None}

    def samples(self, questions: list[str], k: int, temperature: float, max_tokens: int) -> list[list[dict]]:
        jobs = [(i, q) for i, q in enumerate(questions) for _ in range(k)]
        with ThreadPoolExecutor(self.concurrency) as pool:
            results = list(pool.map(lambda job: self._one(job[1], temperature, max_tokens), jobs))
        out = [[] for _ in questions]
        for (i, _), result in zip(jobs, results):
            out[i].append(result)
        return out


class TraceCache:
    """Generated samples on disk, one JSON line per question id, so a rerun regenerates nothing."""

    def __init__(self, path):
        self.path = path
        self.entries = {}
        if path.exists():
            for line in path.read_text().splitlines():
                if line.strip():
                    entry = json.loads(line)
                    self.entries[entry["id"]] = entry["samples"]

    def missing(self, ids: list[str]) -> list[int]:
        return [i for i, row_id in enumerate(ids) if row_id not in self.entries]

    def add(self, samples_by_id: dict[str, list[dict]]):
        """Append one chunk's samples with a single write."""
        self.entries.update(samples_by_id)
        lines = "".join(json.dumps({"id": row_id, "samples": s}) + "\n" for row_id, s in samples_by_id.items())
        with open(self.path, "a") as handle:
            handle.write(lines)
