"""Step-by-step policies for PRM labelling and test-time search (the `StepSampler` of
`ponder.inference.search`): a causal LM writing ponder's thinking format, and a programmatic task policy
that errs per step, for tests and benchmarks that need exact control of the error rate."""

from __future__ import annotations

import random

import torch
from transformers import LogitsProcessorList, StoppingCriteria, StoppingCriteriaList

from ponder.data.tasks import get_task
from ponder.inference.generation import budget_processor
from ponder.inference.search import Candidate
from ponder.models.chat import format_prompt
from ponder.rewards.answers import extract_final_answer


class StepEnd(StoppingCriteria):
    """Stops a row once its generated text holds one whole new step: text, then a separator (a separator
    that opens the text only ends the step before, which the prefix already holds)."""

    def __init__(self, tokenizer, separator: str, prompt_length: int):
        self.tokenizer, self.separator, self.prompt_length = tokenizer, separator, prompt_length

    def __call__(self, input_ids, scores, **kwargs):
        texts = self.tokenizer.batch_decode(input_ids[:, self.prompt_length :], skip_special_tokens=True)
        return torch.tensor(
            [self.separator in text.removeprefix(self.separator) for text in texts], device=input_ids.device
        )


class ModelStepSampler:
    """Samples one reasoning step at a time (up to `thinking.step_separator`, a blank line by default) from a
    model in ponder's format: the chat template prefills `<think>`, `</think>` ends the reasoning, and a
    finished candidate's answer is read after the answer prefix ("Final Answer:")."""

    def __init__(
        self,
        model,
        tokenizer,
        thinking,
        temperature: float = 0.8,
        max_step_tokens: int = 32,
        max_new_tokens: int = 256,
        batch_size: int = 64,
    ):
        self.model, self.tokenizer, self.thinking = model, tokenizer, thinking
        self.temperature, self.max_step_tokens, self.max_new_tokens = temperature, max_step_tokens, max_new_tokens
        self.batch_size = batch_size
        self.end_id = tokenizer.convert_tokens_to_ids(thinking.think_end)
        self.separator = thinking.step_separator

    def _prefix_texts(self, question: dict, prefixes: list[list[str]]) -> list[str]:
        """The prompt and the steps so far, ending where the last step ends: the model itself chooses between
        a separator and another step, or closing its thinking. (A prefix ending in a separator after what is
        really the last step asks for a step that should not exist: ponder's traces end "step\n</think>".)"""
        head = format_prompt(self.tokenizer, question["prompt"])  # once per question, not per prefix
        return [head + self.separator.join(steps) for steps in prefixes]

    @torch.no_grad()
    def _generate(
        self, texts: list[str], max_new_tokens: int, stop_at_step: bool, greedy: bool, max_thinking: int | None = None
    ) -> list[list[int]]:
        out = []
        for start in range(0, len(texts), self.batch_size):
            inputs = self.tokenizer(
                texts[start : start + self.batch_size],
                return_tensors="pt",
                padding=True,
                padding_side="left",
                add_special_tokens=False,
            ).to(self.model.device)
            stops = [self.tokenizer.eos_token_id] + ([self.end_id] if stop_at_step else [])
            sampling = {} if greedy else {"temperature": self.temperature}
            step_end = [StepEnd(self.tokenizer, self.separator, inputs["input_ids"].shape[1])] if stop_at_step else []
            rows = len(inputs["input_ids"])
            forcing = (
                []
                if max_thinking is None
                else [budget_processor(self.tokenizer, self.thinking, [0] * rows, [max_thinking] * rows)]
            )
            generated = self.model.generate(
                **inputs,
                max_new_tokens=max_new_tokens,
                do_sample=not greedy,
                eos_token_id=stops,
                pad_token_id=self.tokenizer.pad_token_id,
                stopping_criteria=StoppingCriteriaList(step_end),
                logits_processor=LogitsProcessorList(forcing),
                **sampling,
            )
            for ids in generated[:, inputs["input_ids"].shape[1] :].tolist():
                while ids and ids[-1] == self.tokenizer.pad_token_id and ids[-1] not in stops:
                    ids.pop()
                out.append(ids)
        return out

    def _finish(self, steps: list[str], ids: list[int]) -> Candidate:
        """Read generated ids (after `steps`) into a candidate: new steps, and the answer if thinking ended."""
        text = self.tokenizer.decode([t for t in ids if t != self.end_id], skip_special_tokens=True)
        if self.end_id not in ids:
            new = [s.strip() for s in text.split(self.separator) if s.strip()]
            return Candidate(steps + new, None, len(ids))
        cut = ids.index(self.end_id)
        reasoning = self.tokenizer.decode(ids[:cut], skip_special_tokens=True)
        # `</think>` is an added, non-special token: kept; EOS and padding are special: dropped from the answer
        after = self.tokenizer.decode(ids[cut:], skip_special_tokens=True)
        new = [s.strip() for s in reasoning.split(self.separator) if s.strip()]
        answer = extract_final_answer(after, self.thinking.think_end, self.thinking.answer_prefix)
        return Candidate(steps + new, answer, len(ids))

    def next_steps(self, question: dict, prefixes: list[list[str]], greedy: bool = False) -> list[Candidate]:
        texts = self._prefix_texts(question, prefixes)
        generated = self._generate(texts, self.max_step_tokens, stop_at_step=True, greedy=greedy)
        candidates = [self._finish(list(p), ids) for p, ids in zip(prefixes, generated)]
        ended = [i for i, ids in enumerate(generated) if self.end_id in ids]
        if ended:  # thinking closed: write the answer now, so a finished candidate always has one
            answers = self._generate(
                [texts[i] + self.tokenizer.decode(generated[i], skip_special_tokens=False) for i in ended],
                32,
                stop_at_step=False,
                greedy=greedy,
            )
            for i, ids in zip(ended, answers):
                candidates[i] = self._finish(list(prefixes[i]), generated[i] + ids)
        return candidates

    def complete(self, question: dict, prefixes: list[list[str]], max_thinking: int | None = None) -> list[Candidate]:
        """Each prefix written to the end; `max_thinking`: s1 budget forcing, at most that many new thinking tokens,
        then `</think>` and the answer prefix are forced (they count as generated tokens)."""
        texts = self._prefix_texts(question, prefixes)
        generated = self._generate(texts, self.max_new_tokens, False, False, max_thinking)
        return [self._finish(list(p), ids) for p, ids in zip(prefixes, generated)]


class TaskStepSampler:
    """A programmatic policy over a ponder task that errs per step: for testing search and PRMs with exact
    control. Each step of a correct prefix is the teacher's step with probability 1 - `error_rate`,
    else a corrupted one; after an error the steps go on and the answer is wrong."""

    def __init__(self, error_rate: float, seed: int = 0, separator_tokens: int = 1):
        self.error_rate, self.rng, self.separator_tokens = error_rate, random.Random(seed), separator_tokens

    @staticmethod
    def corrupt(text: str, rng: random.Random) -> str:
        """Change the step's result: the character after its last "=" (addition's digit, carry kept; a word
        problem's result), else its last digit (a running total, a count, a stated amount), else its last
        character (the letter just appended)."""
        digits = [j for j, c in enumerate(text) if c.isdigit()]
        if "=" in text[:-1]:
            i = text.rindex("=") + 1
            i += len(text[i:]) - len(text[i:].lstrip()) if text[i:].strip() else 0
        else:
            i = digits[-1] if digits else len(text) - 1
        pool = "0123456789" if text[i].isdigit() else "abcdefghijklmnopqrstuvwxyz"
        return text[:i] + rng.choice([c for c in pool if c != text[i]]) + text[i + 1 :]

    def _gold(self, question: dict):
        return get_task(question["domain"]).teacher_trace(question)

    def _step(self, gold, steps: list[str], greedy: bool = False) -> Candidate:
        i, correct = len(steps), steps == gold.steps[: len(steps)]
        if i == len(gold.steps):
            answer = gold.answer if correct else self.corrupt(gold.answer, self.rng)
            return Candidate(list(steps), answer, len(answer) + self.separator_tokens)
        step = gold.steps[i]
        if correct and not greedy and self.rng.random() < self.error_rate:
            step = self.corrupt(step, self.rng)
        return Candidate(steps + [step], None, len(step) + self.separator_tokens)

    def next_steps(self, question: dict, prefixes: list[list[str]], greedy: bool = False) -> list[Candidate]:
        gold = self._gold(question)
        return [self._step(gold, list(p), greedy) for p in prefixes]

    def complete(self, question: dict, prefixes: list[list[str]], max_thinking: int | None = None) -> list[Candidate]:
        """Each prefix written to the end. `max_thinking` (budget forcing): once that many new thinking tokens are
        written (the step that crosses it cut there), the policy must answer: it has not reached the result, so its
        answer is a wrong one."""
        gold, out = self._gold(question), []
        for prefix in prefixes:
            candidate, tokens = Candidate(list(prefix)), 0
            while not candidate.done:
                step = self._step(gold, candidate.steps)
                if max_thinking is not None and not step.done and tokens + step.tokens > max_thinking:
                    cut = step.steps[-1][: max(0, max_thinking - tokens)]
                    answer = self.corrupt(gold.answer, self.rng)
                    step = Candidate(candidate.steps + [cut] * bool(cut), answer, max_thinking - tokens)
                    step.tokens += len(answer) + self.separator_tokens
                candidate = step
                tokens += candidate.tokens
            candidate.tokens = tokens
            out.append(candidate)
        return out
