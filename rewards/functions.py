"""Reward functions on TRL 1.x's contract: `reward(prompts=, completions=, completion_ids=, **columns) -> list`.

Dataset columns (`answer` or TRL's `solution`, `test_cases`, `think_budget`, ...) arrive as keyword arguments,
with `trainer_state`. `None` means "not applicable" and TRL skips it (NaN, left out of the weighted sum). A
reward that needs the answer checker returns nan where the checker gave no verdict in time (a machine so starved
that Math-Verify could not finish, see `ponder.rewards.math_answers`): never a 0.0 for an answer nobody judged.
ponder's GRPO trainer leaves such a completion out of its group.
Completions may be plain strings or conversational `[{"role": "assistant", "content": ...}]` lists.
Names follow open-r1's (accuracy, format, tag_count, reasoning_steps, length, cosine, repetition_penalty,
soft_overlong_punishment, code, binary_code, code_format) so its users find theirs.

Every reward is an instance of a `Reward` subclass: picklable (TRL's async GRPO sends reward functions to a
worker process), with a readable `__name__` for TRL's logs, and with the thinking delimiters of the recipe
(`think_start`, `think_end`, `answer_prefix`; defaults `<think>`, `</think>`, "Final Answer:").
Positional calls follow TRL's and open-r1's docstrings: `reward(completions, answer, completion_ids)`.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from fractions import Fraction

from ponder.rewards.answers import completion_text, extract_final_answer
from ponder.rewards.math_answers import no_verdict, verify_answers

LCPO_SUFFIX = "Think for {n} tokens."  # the budget stated in a prompt (L1/LCPO); data.prompts writes it
BUDGET = re.compile(re.escape(LCPO_SUFFIX).replace(re.escape("{n}"), r"(\d+)"))
POSITIONAL = ("completions", "answer", "completion_ids")


class Reward:
    """Base class: maps TRL's call (and the positional order of TRL's docstrings) onto `score`.

    Args:
        think_start: the opening thinking delimiter (`thinking.think_start` of the recipe).
        think_end: the closing delimiter; text after the last one is the answer.
        answer_prefix: what precedes the final answer ("Final Answer:"), as budget forcing writes it.
    """

    name = "reward"

    def __init__(
        self, think_start: str = "<think>", think_end: str = "</think>", answer_prefix: str = "Final Answer:"
    ):
        self.think_start, self.think_end, self.answer_prefix = think_start, think_end, answer_prefix
        self.__name__ = self.name

    def __call__(self, *args, **kwargs) -> list:
        if len(args) > len(POSITIONAL):
            raise TypeError(f"reward {self.__name__!r} takes at most {POSITIONAL} positionally; pass the rest by name")
        for key, value in zip(POSITIONAL, args):
            if key in kwargs:
                raise TypeError(f"reward {self.__name__!r} got {key!r} both positionally and by name")
            kwargs[key] = value
        if kwargs.get("completions") is None:
            raise TypeError(f"reward {self.__name__!r} needs completions")
        if kwargs.get("answer") is None and kwargs.get("solution") is not None:
            kwargs["answer"] = kwargs["solution"]  # TRL's and open-r1's name for the gold column
        kwargs.pop("solution", None)
        texts = [completion_text(c) for c in kwargs["completions"]]
        return self.score(texts, **kwargs)

    def score(self, texts: list[str], **kwargs) -> list:
        raise NotImplementedError

    # Shared pieces -------------------------------------------------------------------------------------
    def answer_of(self, text: str) -> str:
        """The final answer; none when thinking never closed (the completion was cut inside it)."""
        return extract_final_answer(text, self.think_end, self.answer_prefix) if self.think_end in text else ""

    def correctness(self, texts: list[str], answer) -> list:
        """1.0 / 0.0 per text against the gold `answer` column, None where there is no checkable gold, nan where
        the checker gave no verdict in time (`no_verdict`)."""
        if answer is None:
            return [None] * len(texts)
        return verify_answers([(str(gold), self.answer_of(text)) for gold, text in zip(answer, texts)])

    def reasoning_of(self, text: str) -> str:
        reasoning = text.split(self.think_end, 1)[0] if self.think_end in text else text
        return reasoning.replace(self.think_start, "")

    @staticmethod
    def lengths(texts: list[str], completion_ids) -> list[int]:
        return [len(ids) for ids in completion_ids] if completion_ids is not None else [len(t) for t in texts]


class AccuracyReward(Reward):
    """1.0 when the final answer (\\boxed{} -- several boxes read as a set, as Math-Verify does --, after the
    answer prefix, a display-math block, or the last line after the thinking) equals the gold `answer`:
    exactly, numerically, or by Math-Verify in a deadline-bound worker.

    Returns:
        1.0 / 0.0 per completion; None where there is no gold answer or it cannot be checked; nan where the
        checker gave no verdict in time.

    Example:
        >>> AccuracyReward()([[{"role": "assistant", "content": "<think>3+4</think>\\nFinal Answer: 7"}]], ["7"])
        [1.0]
    """

    name = "accuracy"

    def __init__(self, reasoning_delimiters: list[str] | None = None, **delimiters):
        super().__init__(**delimiters)
        self.reasoning_delimiters = list(reasoning_delimiters) if reasoning_delimiters else None

    def score(self, texts, answer=None, reasoning_delimiters=None, **kwargs):
        """`reasoning_delimiters` (TRL's `reasoning_accuracy_reward` name; here as a parameter or per call): the
        answer follows the last occurrence of any of them; none present = no answer. Default: `think_end`."""
        ends = reasoning_delimiters or self.reasoning_delimiters
        if not ends:
            return self.correctness(texts, answer)
        if answer is None:
            return [None] * len(texts)
        answers = []
        for text in texts:
            end = max(ends, key=text.rfind)
            cut = text.rfind(end)
            answers.append(extract_final_answer(text[cut:], end, self.answer_prefix) if cut >= 0 else "")
        return verify_answers([(str(gold), a) for gold, a in zip(answer, answers)])


class FormatReward(Reward):
    """Strict format: (`<think>` at the very start, or prefilled by the template) reasoning `</think>` answer,
    exactly one of each delimiter, non-empty on both sides.

    An empty think block (`<think></think>answer`) scores 0.0, where TRL's `think_format_reward` gives 1.0: it is
    what a model writes when it skips thinking (`enable_thinking=False`), and a format reward that pays for it
    pays a reasoner for not reasoning. TRL's rule is one dotted path away: `name: trl.rewards.think_format_reward`.

    Returns:
        1.0 / 0.0 per completion.

    Example:
        >>> FormatReward()(["<think>\\nsteps\\n</think>\\n\\n42", "This<think>x</think>42"])
        [1.0, 0.0]
    """

    name = "format"

    def score(self, texts, **kwargs):
        return [1.0 if self.well_formed(t) else 0.0 for t in texts]

    def well_formed(self, text: str) -> bool:
        body = text.lstrip()
        if body.startswith(self.think_start):
            body = body[len(self.think_start) :]
        if self.think_start in body or body.count(self.think_end) != 1:
            return False  # a think block opened mid-text, or two of them
        reasoning, answer = body.split(self.think_end)
        return bool(reasoning.strip() and answer.strip())


class SoftFormatReward(Reward):
    """Lenient format: some `</think>` followed by a non-empty answer.

    Example:
        >>> SoftFormatReward()(["r</think>42", "no end"])
        [1.0, 0.0]
    """

    name = "soft_format"

    def score(self, texts, **kwargs):
        return [1.0 if self.think_end in t and t.rsplit(self.think_end, 1)[1].strip() else 0.0 for t in texts]


class TagCountReward(Reward):
    """open-r1's partial credit for the tags, prefill-aware: 0.5 for exactly one `</think>`, 0.5 for exactly one
    `<think>` (or none when `</think>` shows the template prefilled it). No tags at all: 0.

    Example:
        >>> TagCountReward()(["<think>a</think>b", "a</think>b", "plain text"])
        [1.0, 1.0, 0.0]
    """

    name = "tag_count"

    def score(self, texts, **kwargs):
        out = []
        for t in texts:
            starts, ends = t.count(self.think_start), t.count(self.think_end)
            out.append(0.5 * (ends == 1) + 0.5 * (starts == 1 or (starts == 0 and ends > 0)))
        return out


class ReasoningStepsReward(Reward):
    """min(1, steps / target_steps): open-r1's step markers ("Step 1:", "1.", bullets, "First,", ...) or, for
    traces written as blocks, the separator-delimited chunks of the reasoning (a single block is no steps).

    Args:
        separator: what separates steps in ponder's traces (the recipe's `thinking.step_separator`).
        target_steps: steps for full credit (open-r1: 3).

    Example:
        >>> ReasoningStepsReward()(["Step 1: a\\nStep 2: b\\nStep 3: c", "Just plain text"])
        [1.0, 0.0]
    """

    name = "reasoning_steps"
    MARKERS = re.compile(r"(Step \d+:|^\d+\.|\n-|\n\*|First,|Second,|Next,|Finally,)", re.MULTILINE)

    def __init__(self, separator: str = "\n\n", target_steps: int = 3, **delimiters):
        super().__init__(**delimiters)
        self.separator, self.target_steps = separator, target_steps

    def score(self, texts, **kwargs):
        out = []
        for text in texts:
            reasoning = self.reasoning_of(text)
            chunks = [c for c in reasoning.split(self.separator) if c.strip()]
            steps = max(len(self.MARKERS.findall(reasoning)), len(chunks) if len(chunks) > 1 else 0)
            out.append(min(1.0, steps / self.target_steps))
        return out


NUMBER = r"-?\d+(?:\.\d+)?"
EQUATION = re.compile(rf"(?<![\w.])({NUMBER}(?:\s*[-+*x\u00d7/\u00f7]\s*{NUMBER})+)\s*=\s*({NUMBER})(?![\w]|\.\d)")
TERM = re.compile(rf"\s*([-+*x\u00d7/\u00f7])\s*({NUMBER})")


def evaluate_arithmetic(expression: str) -> Fraction | None:
    """`3 + 4 x 2` -> 11, exactly (`x`, `*`, `\u00d7` multiply, `/`, `\u00f7` divide, both before + and -);
    None for a division by zero. Only what `EQUATION` matched reaches it: numbers and operators, no `eval`."""
    first = re.match(NUMBER, expression)
    terms, product = [], Fraction(first.group())
    for op, value in TERM.findall(expression[first.end() :]):
        value = Fraction(value)
        if op in "*x\u00d7":
            product *= value
        elif op in "/\u00f7":
            if value == 0:
                return None
            product /= value
        else:
            terms.append(product)
            product = value if op == "+" else -value
    return sum(terms, product)


class ArithmeticStepsReward(Reward):
    """The share of the arithmetic a completion writes that is right: every `a + b = c` (`-`, `x`, `*`, `/`; any
    number of terms, multiplication first) anywhere in it, checked exactly. A process reward that needs no
    model: on sums and counts of the chain_sum / leg_counting kind, a wrong final answer whose steps are mostly
    right scores above one whose steps are wrong, so groups that all miss the answer still carry a gradient
    towards correct steps. Pair it with `accuracy` (a step that copies the question's numbers right is not the
    answer): `rewards: [{name: accuracy}, {name: arithmetic_steps, weight: 0.5}]`. It checks the arithmetic, not
    the operands: on reasoning-gym's leg_counting that pairing taught SmolLM2 to write `2 x 0 = 0` for every animal
    (docs/results.md, "Tried" item 9), so it suits tasks whose operands the model cannot choose.

    Returns:
        right equations / equations, per completion; 0.0 where a completion writes none.

    Example:
        >>> ArithmeticStepsReward()(["<think>4 - 1 = 3\\n3 - 7 = -4</think> -4", "7 - 7 = 2, 2 x 3 = 6"])
        [1.0, 0.5]
    """

    name = "arithmetic_steps"

    def score(self, texts, **kwargs):
        out = []
        for text in texts:
            checks = [evaluate_arithmetic(lhs) == Fraction(rhs) for lhs, rhs in EQUATION.findall(text)]
            out.append(sum(checks) / len(checks) if checks else 0.0)
        return out


class LengthReward(Reward):
    """Kimi 1.5's length reward (open-r1's `len_reward`): among the completions of one prompt, lambda =
    0.5 - (len - min_len) / (max_len - min_len); correct ones get lambda, wrong ones min(0, lambda).
    Groups are the completions that share a prompt (the batch when prompts are not given); lengths are
    completion tokens (characters without ids). None where the gold cannot be checked, nan where the checker
    gave no verdict in time.

    Example:
        >>> LengthReward()(["a</think>1", "aaaaaaaa</think>1"], answer=["1", "1"])
        [0.5, -0.5]
    """

    name = "length"

    def score(self, texts, answer=None, completion_ids=None, prompts=None, **kwargs):
        correct = self.correctness(texts, answer)
        lengths = self.lengths(texts, completion_ids)
        groups = defaultdict(list)
        for i in range(len(texts)):
            groups[completion_text(prompts[i]) if prompts is not None else ""].append(i)
        out: list = [None] * len(texts)
        for members in groups.values():
            low, high = min(lengths[i] for i in members), max(lengths[i] for i in members)
            for i in members:
                if correct[i] is None or no_verdict(correct[i]):
                    out[i] = correct[i]
                    continue
                value = 0.0 if high == low else 0.5 - (lengths[i] - low) / (high - low)
                out[i] = value if correct[i] else min(0.0, value)
        return out


class CosineScaledReward(Reward):
    """Cosine-scaled length reward (Kimi/open-r1): short correct > long correct; long wrong is penalised less
    than short wrong. Length = completion tokens (characters without ids). ponder's deadline-bound verifier; None
    and nan (no verdict in time) as `accuracy` gives them.

    Example:
        >>> CosineScaledReward(max_len=100)(["a</think>1"], answer=["1"], completion_ids=[[0] * 10])[0] > 0.9
        True
    """

    name = "cosine"

    def __init__(
        self,
        min_value_wrong: float = -1.0,
        max_value_wrong: float = -0.5,
        min_value_correct: float = 0.5,
        max_value_correct: float = 1.0,
        max_len: int = 1000,
        **delimiters,
    ):
        super().__init__(**delimiters)
        self.wrong, self.right, self.max_len = (
            (max_value_wrong, min_value_wrong),
            (min_value_correct, max_value_correct),
            max_len,
        )

    def score(self, texts, answer=None, completion_ids=None, **kwargs):
        out = []
        for ok, length in zip(self.correctness(texts, answer), self.lengths(texts, completion_ids)):
            if ok is None or no_verdict(ok):
                out.append(ok)
                continue
            low, high = self.right if ok else self.wrong
            progress = min(length / self.max_len, 1.0)
            out.append(low + 0.5 * (high - low) * (1.0 + math.cos(progress * math.pi)))
        return out


class RepetitionPenaltyReward(Reward):
    """N-gram repetition penalty (arXiv 2502.03373, App. C.2): (1 - distinct / total n-grams) * max_penalty.

    Given `completion_ids` (as GRPO always passes them), the n-grams are token ids, as TRL's
    `get_repetition_penalty_reward` counts them (the paper penalises repeated tokens; tokenizer-defined and
    language-agnostic). Given text alone, they are words (`language="en"`) or characters (`"zh"`; open-r1
    segments words with jieba, which ponder does not depend on), as open-r1 counts them. Fewer units than
    `ngram_size`: 0.0.

    Args:
        ngram_size: n-gram length.
        max_penalty: the penalty of a fully repetitive completion (<= 0).
        language: en or zh, for text.

    Returns:
        Penalties in [max_penalty, 0.0].

    Example:
        >>> RepetitionPenaltyReward(ngram_size=2)(["a b c d", "a a a a"])
        [0.0, -0.6666666666666667]
        >>> RepetitionPenaltyReward(ngram_size=2)([[1, 2, 3, 4], [5, 5, 5, 5, 5]])  # TRL's call: token ids
        [0.0, -0.75]
    """

    name = "repetition_penalty"

    def __init__(self, ngram_size: int = 3, max_penalty: float = -1.0, language: str = "en", **delimiters):
        super().__init__(**delimiters)
        if max_penalty > 0:
            raise ValueError(f"max_penalty={max_penalty} should not be positive")
        if language not in ("en", "zh"):
            raise ValueError(f"language={language!r}: choose en (words) or zh (characters)")
        self.ngram_size, self.max_penalty, self.language = ngram_size, max_penalty, language

    def __call__(self, *args, **kwargs) -> list:
        if len(args) == 1 and is_id_lists(args[0]):  # TRL's `repetition_penalty(completion_ids)`
            kwargs["completion_ids"], args = args[0], ()
        if kwargs.get("completions") is None and kwargs.get("completion_ids") is not None:
            return self.penalties(kwargs["completion_ids"])
        return super().__call__(*args, **kwargs)

    def score(self, texts, completion_ids=None, **kwargs):
        if completion_ids is not None:
            return self.penalties(completion_ids)
        lower = self.language == "en"
        return self.penalties([t.lower().split() if lower else [c for c in t if not c.isspace()] for t in texts])

    def penalties(self, sequences) -> list[float]:
        out = []
        for units in sequences:
            units = list(units)
            grams = [tuple(units[i : i + self.ngram_size]) for i in range(len(units) - self.ngram_size + 1)]
            out.append((1 - len(set(grams)) / len(grams)) * self.max_penalty or 0.0 if grams else 0.0)  # not -0.0
        return out


def is_id_lists(value) -> bool:
    """A batch of token-id lists (`[[5, 5, 5]]`), as opposed to texts or conversations."""
    return isinstance(value, list) and all(isinstance(v, list) and all(type(i) is int for i in v) for v in value)


class SoftOverlongPunishment(Reward):
    """DAPO's soft overlong punishment: 0 up to max - cache tokens, then linear to -1 at max, -1 beyond.

    Example:
        >>> SoftOverlongPunishment(10, 4)(["x"] * 3, completion_ids=[[0] * 5, [0] * 8, [0] * 12])
        [0.0, -0.5, -1.0]
    """

    name = "soft_overlong_punishment"

    def __init__(self, max_completion_len: int = 1024, soft_punish_cache: int = 256, **delimiters):
        super().__init__(**delimiters)
        self.max_len, self.cache = max_completion_len, soft_punish_cache

    def score(self, texts, completion_ids=None, **kwargs):
        out = []
        for length in self.lengths(texts, completion_ids):
            if length <= self.max_len - self.cache:
                out.append(0.0)
            elif length <= self.max_len:
                out.append((self.max_len - self.cache - length) / self.cache)
            else:
                out.append(-1.0)
        return out


def thinking_tokens(ids: list[int], think_end_id: int) -> int:
    """Tokens before the first </think> (all of them when thinking never closed)."""
    return ids.index(think_end_id) if think_end_id in ids else len(ids)


class LcpoReward(Reward):
    """L1 / LCPO length-controlled reward for a budget N stated in the prompt ("Think for N tokens.") or given
    in a `think_budget` column. exact: correct - alpha * |N - n|; max: correct * clip(alpha * (N - n) + delta,
    0, 1). n = thinking tokens. None where no budget is stated; nan where the answer checker gave no verdict in time.

    Args:
        think_end_id: the `</think>` token id (ponder passes the tokenizer's).
    """

    name = "lcpo"

    def __init__(
        self, think_end_id: int, mode: str = "exact", alpha: float = 0.0003, delta: float = 0.5, **delimiters
    ):
        super().__init__(**delimiters)
        if mode not in ("exact", "max"):
            raise ValueError(f"mode={mode!r}: choose exact or max")
        self.think_end_id, self.mode, self.alpha, self.delta = think_end_id, mode, alpha, delta
        self.__name__ = f"lcpo_{mode}"

    def score(self, texts, completion_ids=None, answer=None, prompts=None, think_budget=None, **kwargs):
        if completion_ids is None:
            raise TypeError(f"reward {self.__name__!r} needs completion_ids (thinking is counted in tokens)")
        correct = self.correctness(texts, answer)
        out = []
        for i, ids in enumerate(completion_ids):
            match = BUDGET.search(completion_text(prompts[i]) if prompts is not None else "")
            budget = think_budget[i] if think_budget is not None else (int(match.group(1)) if match else None)
            if budget is None:
                out.append(None)
                continue
            n, ok = thinking_tokens(list(ids), self.think_end_id), float(correct[i] or 0.0)
            if self.mode == "exact":
                out.append(ok - self.alpha * abs(budget - n))
            else:
                out.append(ok * min(1.0, max(0.0, self.alpha * (budget - n) + self.delta)))
        return out


class CodeReward(Reward):
    """Fraction of `test_cases` ([{"input", "output"}]) the last fenced block of the answer passes, each run in
    ponder's local sandbox (output lines compared stripped on both sides, as open-r1 does).

    Args:
        isolation: "bwrap" (the default: namespaces, read-only system) or "process" (weaker, opt in by name
            where bubblewrap cannot run; the default refuses with SandboxUnavailable there).

    Returns:
        A fraction per completion; None where a row has no tests; 0.0 where the answer has no code.
    """

    name = "code"

    def __init__(
        self,
        wall_seconds: float = 5.0,
        memory_mb: int = 512,
        language: str = "python",
        isolation: str = "bwrap",
        **delimiters,
    ):
        from ponder.rewards.sandbox import SandboxLimits

        super().__init__(**delimiters)
        if language != "python":
            raise ValueError(f"language={language!r}: the local sandbox runs python only")
        self.language = language
        self.limits = SandboxLimits(wall_seconds=wall_seconds, memory_mb=memory_mb, isolation=isolation)

    def extract_code(self, text: str) -> str | None:
        answer = text.rsplit(self.think_end, 1)[1] if self.think_end in text else text
        blocks = re.findall(rf"```(?:{self.language}|py)?[ \t]*\n(.*?)```", answer, re.DOTALL)
        return blocks[-1] if blocks else None

    def score(self, texts, test_cases=None, **kwargs):
        from ponder.rewards.sandbox import ensure_isolation, score_tests

        if test_cases is None:
            return [None] * len(texts)
        if any(test_cases):
            ensure_isolation(self.limits)
        out = []
        for text, tests in zip(texts, test_cases):
            code = self.extract_code(text)
            out.append(None if not tests else (score_tests(code, tests, self.limits) if code else 0.0))
        return out


class BinaryCodeReward(CodeReward):
    """open-r1's `binary_code`: 1.0 when the program passes (> 99% of) its tests, else 0.0; None without tests."""

    name = "binary_code"

    def score(self, texts, test_cases=None, **kwargs):
        return [None if s is None else float(s > 0.99) for s in super().score(texts, test_cases=test_cases)]


class CodeFormatReward(Reward):
    """open-r1's `code_format` for ponder's layout: a well-formed thinking block, then an answer holding a
    fenced block of `language`.

    Example:
        >>> CodeFormatReward()(["<think>plan</think>\\n```python\\nprint(1)\\n```", "<think>plan</think>\\nprint(1)"])
        [1.0, 0.0]
    """

    name = "code_format"

    def __init__(self, language: str = "python", **delimiters):
        super().__init__(**delimiters)
        self.language, self.format = language, FormatReward(**delimiters)

    def score(self, texts, **kwargs):
        fence = re.compile(rf"```{re.escape(self.language)}[ \t]*\n.*?```", re.DOTALL)
        return [
            1.0 if self.format.well_formed(t) and fence.search(t.rsplit(self.think_end, 1)[1]) else 0.0 for t in texts
        ]
