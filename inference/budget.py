"""s1 budget forcing as a per-row stateful `LogitsProcessor` for HF `generate`.

Each row moves before-think -> thinking -> answering, read off the tokens it actually produced:
- max budget B: once a row has B thinking tokens, force `</think>` (the special token id, never its
  text pieces), then the answer-prefix tokens ("\\n\\nFinal Answer:" by default);
- min budget m: while a row has fewer than m thinking tokens, `</think>` and EOS are forbidden, and
  when the model *wants* to end (its top-scoring token is `</think>` or EOS), the extension tokens
  ("\\nWait") are forced instead;
- ignore N stops (s1's own knob): the first N times the model wants to end thinking, "Wait" is forced;
- the max budget wins over both: an extension that would cross it is cut, thinking closes at exactly B;
- budget 0 closes thinking at once;
- EOS while thinking means "stop thinking" (s1's harness closes thinking after any stop that is not the
  length limit and asks for the answer): its probability moves to `</think>`, so the model answers;
- once thinking is closed, the delimiters are forbidden, so each answer has exactly one `</think>`.
`<think>` may be prefilled by the chat template or generated; budgets are per row. Forced tokens count
as thinking tokens, as in s1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from transformers import LogitsProcessor

BEFORE, THINKING, ANSWERING, DONE = "before", "thinking", "answering", "done"


@dataclass
class RowState:
    phase: str = BEFORE
    prompt_phase: str = BEFORE  # where the prompt left the row (THINKING = `<think>` prefilled)
    min_tokens: int = 0
    max_tokens: int | None = None
    ignore_stops: int = 0
    thinking_tokens: int = 0
    extensions: int = 0
    forced_stop: bool = False
    queue: list = field(default_factory=list)


class BudgetForcingProcessor(LogitsProcessor):
    def __init__(
        self,
        think_start_id: int,
        think_end_id: int,
        eos_ids,
        extension_ids: list[int],
        answer_prefix_ids: list[int],
        min_tokens: list[int],
        max_tokens: list,
        ignore_stops: list[int] | None = None,
    ):
        self.start_id, self.end_id = think_start_id, think_end_id
        self.eos_ids = [eos_ids] if isinstance(eos_ids, int) else list(eos_ids)
        self.extension_ids, self.answer_prefix_ids = list(extension_ids), list(answer_prefix_ids)
        ignore_stops = ignore_stops or [0] * len(min_tokens)
        for lo, hi, n in zip(min_tokens, max_tokens, ignore_stops):
            if lo < 0 or (hi is not None and (hi < 0 or hi < lo)):
                raise ValueError(f"thinking budget min={lo}, max={hi}: need 0 <= min <= max")
            if n < 0:
                raise ValueError(f"ignore_stops={n}: need >= 0")
        self.rows = [
            RowState(min_tokens=lo, max_tokens=hi, ignore_stops=n)
            for lo, hi, n in zip(min_tokens, max_tokens, ignore_stops)
        ]
        self.started = False

    def begin(self, prompts: list[list[int]]):
        """Before the first token: each prompt tells whether thinking is already open (template prefill)."""
        self.started = True
        for row, ids in zip(self.rows, prompts):
            starts = [i for i, t in enumerate(ids) if t == self.start_id]
            ends = [i for i, t in enumerate(ids) if t == self.end_id]
            if starts and (not ends or ends[-1] < starts[-1]):
                row.phase = THINKING
            elif starts:
                row.phase = ANSWERING  # enable_thinking=False: an empty think block in the prompt
            row.prompt_phase = row.phase

    def _observe(self, row: RowState, token: int):
        if row.phase == DONE:
            return
        if token in self.eos_ids and row.phase != THINKING:
            row.phase = DONE
        elif row.phase == BEFORE and token == self.start_id:
            row.phase = THINKING
        elif row.phase == THINKING:
            if token == self.end_id:
                row.phase = ANSWERING
            else:
                row.thinking_tokens += 1

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """HF `generate`'s interface: every row, the whole sequence so far."""
        if not self.started:
            self.begin(input_ids.tolist())
            return self.step(range(len(self.rows)), None, scores)
        return self.step(range(len(self.rows)), input_ids[:, -1].tolist(), scores)

    def step(self, rows, last_tokens: list[int] | None, scores: torch.FloatTensor) -> torch.FloatTensor:
        """One decoding step for the rows still in a batch: `scores[j]` and `last_tokens[j]` (what it sampled last;
        None on the first step) belong to row `rows[j]` (rollouts drop finished rows from the batch)."""
        states = [self.rows[r] for r in rows]
        if last_tokens is not None:
            for row, token in zip(states, last_tokens):
                self._observe(row, token)
        ends = [self.end_id, *self.eos_ids]
        for i, row in enumerate(states):
            if row.phase == DONE:
                continue
            if row.phase == THINKING:
                at_max = row.max_tokens is not None and row.thinking_tokens >= row.max_tokens
                if at_max and row.queue[:1] != [self.end_id]:  # the max wins, even inside an extension
                    row.queue = [self.end_id, *self.answer_prefix_ids]
                    row.forced_stop = True
                elif not row.queue:
                    must_go_on = row.thinking_tokens < row.min_tokens or row.extensions < row.ignore_stops
                    if must_go_on and int(scores[i].argmax()) in ends:  # the model wants to stop: "Wait"
                        row.queue = list(self.extension_ids)
                        row.extensions += 1
                    elif must_go_on:
                        scores[i, ends] = float("-inf")
                    else:  # ending thinking with EOS means closing it: that mass goes to </think>
                        eos = scores[i, self.eos_ids]
                        scores[i, self.end_id] = torch.logsumexp(torch.cat([scores[i, [self.end_id]], eos]), 0)
                        scores[i, self.eos_ids] = float("-inf")
            if row.phase == ANSWERING:  # thinking is closed for good: no second think block
                scores[i, [self.start_id, self.end_id]] = float("-inf")
            if row.queue:
                forced = row.queue.pop(0)
                scores[i] = float("-inf")
                scores[i, forced] = 0.0
        return scores
