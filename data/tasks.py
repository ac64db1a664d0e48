"""Procedural reasoning tasks with verifiers and programmatic teachers.

Each task makes rows {id, prompt, answer, domain, difficulty} from a seed, verifies completions, and
writes step-by-step thinking (steps joined by the step separator, so the same traces feed PRMs).
The tasks are ones where intermediate tokens matter: a fixed-size transformer answers them directly
at chance but step by step easily (chain of thought lets a fixed-depth transformer solve serial problems).
Prompts use fixed-width layouts (operands padded to the
task's widest size) because that turns copying from the prompt into a constant-offset lookup, which
tiny models learn in minutes instead of sitting on an induction-head plateau (a measured finding:
97% after 1,000 steps with fixed width vs 17-34% after 4,000 without, 1M-parameter model on 2 CPU cores).
"""

from __future__ import annotations

from ponder.data.reasoning_gym_task import ReasoningGymTask
from ponder.data.task import Task, Trace


def _flaw_index(rng, n_steps):
    return rng.randrange(n_steps) if rng is not None else -1


WORDS = (
    "apple bread chair dance eagle flame grape house island jelly kite lemon mango night ocean piano queen "
    "river stone tiger umbrella violin water xylophone yellow zebra anchor basket candle desert engine forest "
    "garden hammer igloo jacket kettle ladder magnet needle orbit pepper quartz rabbit saddle tunnel velvet "
    "wagon yogurt zipper cloud smoke frost bloom crane drift ember flint glove"
).split()


class DigitScan(Task):
    """A running operation over k digits, one step per digit: 'sum 3  7  2  9  _ ...' -> steps 3,0,2,1 -> 1.

    The prompt's digits sit at the same stride as the trace's steps (one digit + the two-character step
    separator), so trace step j reads prompt digit j at one constant distance: the lookup a tiny transformer
    learns in minutes, where a drifting distance keeps it on a copying plateau. Subclasses set the 4-character
    `keyword` and `step(state, digit)`; every scan shares the layout to the character, so ponder's tiny base
    (pretrained on `copy`, `configs/tiny/pretrain.yaml`) has the lookup of all of them and the operation of none."""

    difficulties, width, keyword = (3, 8), 8, ""
    flaw_last = False  # a flaw in the last step (the answer), where a flaw earlier may be undone by later steps

    def make(self, rng, level):
        digits = [rng.randrange(10) for _ in range(level)]
        slots = [str(d) for d in digits] + ["_"] * (self.width - level)
        return self.keyword + "  ".join(slots), digits

    def step(self, state: int, digit: int) -> int:
        raise NotImplementedError

    def solve(self, digits, rng):
        bad = (len(digits) - 1 if rng is not None else -1) if self.flaw_last else _flaw_index(rng, len(digits))
        state, steps = 0, []
        for i, d in enumerate(digits):
            state = self.step(state, d)
            if i == bad:
                state = (state + rng.randrange(1, 10)) % 10
            steps.append(str(state))
        return Trace(steps, str(state), flawed=bad >= 0)


class RunningSum(DigitScan):
    """Running sum mod 10: 'sum 3  7  2  9' -> 3, 0, 2, 1. Answered directly it needs a serial computation a
    fixed-size transformer cannot do in one pass (chance is 10%)."""

    name, keyword = "running_sum", "sum "

    def step(self, state, digit):
        return (state + digit) % 10


class RunningDifference(DigitScan):
    """Running difference mod 10 from 0: 'dif 3  7  2' -> 7, 0, 8 (as hard as the sum, another table)."""

    name, keyword = "running_difference", "dif "

    def step(self, state, digit):
        return (state - digit) % 10


class RunningMax(DigitScan):
    """Running maximum: 'max 3  7  2' -> 3, 7, 7 (an easy scan: most steps repeat the last one)."""

    name, keyword, flaw_last = "running_max", "max ", True

    def step(self, state, digit):
        return max(state, digit)


class OddCount(DigitScan):
    """Running count of odd digits: 'odd 3  7  2' -> 1, 2, 2."""

    name, keyword = "odd_count", "odd "

    def step(self, state, digit):
        return state + digit % 2


class Copy(DigitScan):
    """Copy k digits into the thinking, one per step: 'cpy 3  7  2  9  _ ...' -> steps 3,7,2,9 -> answer 9.

    A model that learns it has the lookup every scan needs (trace step j reads prompt digit j at one constant
    distance) and nothing of their operations: ponder's tiny base is pretrained on it."""

    name, keyword, flaw_last = "copy", "cpy ", True

    def step(self, state, digit):
        return digit


class Addition(Task):
    """Multi-digit addition with carries, digit by digit from the right."""

    name, difficulties, width = "addition", (2, 6), 6

    def make(self, rng, level):
        a, b = rng.randrange(10 ** (level - 1), 10**level), rng.randrange(10 ** (level - 1), 10**level)
        return f"add {a:0{self.width}d}+{b:0{self.width}d}", [a, b, level]

    def solve(self, payload, rng):
        a, b, level = payload
        da, db = str(a).zfill(level)[::-1], str(b).zfill(level)[::-1]
        bad, carry, digits, steps = _flaw_index(rng, level), 0, [], []
        for i in range(level):
            s = int(da[i]) + int(db[i]) + carry
            digit, carry = s % 10, s // 10
            if i == bad:
                digit = (digit + rng.randrange(1, 10)) % 10
            digits.append(str(digit))
            steps.append(f"{da[i]}+{db[i]}+{s - int(da[i]) - int(db[i])}={digit}c{carry}")
        answer = (str(carry) if carry else "") + "".join(reversed(digits))
        return Trace(steps, answer.lstrip("0") or "0", flawed=bad >= 0)


class LastLetters(Task):
    """Concatenate the last letters of k words (the classic chain-of-thought example)."""

    name, difficulties = "last_letters", (2, 6)

    def make(self, rng, level):
        words = [rng.choice(WORDS) for _ in range(level)]
        return "last " + " ".join(words), words

    def solve(self, words, rng):
        bad, letters, steps = _flaw_index(rng, len(words)), [], []
        for i, word in enumerate(words):
            letter = word[-1]
            if i == bad:
                letter = rng.choice([c for c in "abcdefghijklmnopqrstuvwxyz" if c != letter])
            letters.append(letter)
            steps.append(f"{word}:{''.join(letters)}")
        return Trace(steps, "".join(letters), flawed=bad >= 0)


class LetterCount(Task):
    """Count one letter in a word, keeping a running count letter by letter."""

    name, difficulties = "letter_count", (1, 3)

    def make(self, rng, level):
        word = "".join(rng.choice(WORDS) for _ in range(level))[:16]
        target = rng.choice(sorted(set(word)))
        return f"count {target} {word}", [target, word]

    def solve(self, payload, rng):
        target, word = payload
        bad, count, steps = _flaw_index(rng, len(word)), 0, []
        for i, ch in enumerate(word):
            count += ch == target
            if i == bad:
                count += 1
            steps.append(f"{ch}{count}")
        return Trace(steps, str(count), flawed=bad >= 0)


class WordProblems(Task):
    """Arithmetic word problems for pretrained chat models: a start amount and `level` purchases, gifts and
    losses, one sentence each; the trace states the start and works one sentence per step
    ("She buys 7: 12 + 7 = 19."). The prompt asks for "Final Answer: <number>", so a chat model's direct
    answer is read the same way as its answer after thinking."""

    name, difficulties = "word_problems", (1, 4)
    names = (("Mia", "She"), ("Leo", "He"), ("Ava", "She"), ("Sam", "He"), ("Zoe", "She"), ("Max", "He"))
    items = ("apples", "marbles", "stickers", "books", "coins", "pencils", "shells", "cards")
    gains = ("buys {n} more {item}", "finds {n} {item}", "gets {n} {item} from a friend")
    losses = ("gives {n} {item} to a friend", "loses {n} {item}", "uses {n} {item}")

    def make(self, rng, level):
        (name, pronoun), item = rng.choice(self.names), rng.choice(self.items)
        total, ops = rng.randint(5, 30), []
        start = total
        for _ in range(level):
            if total > 3 and rng.random() < 0.5:
                n = rng.randint(2, min(total - 1, 15))
                ops.append(["-", n, rng.choice(self.losses).format(n=n, item=item)])
                total -= n
            else:
                n = rng.randint(2, 15)
                ops.append(["+", n, rng.choice(self.gains).format(n=n, item=item)])
                total += n
        story = " ".join(f"Then {pronoun.lower()} {text}." for _, _, text in ops)
        prompt = (
            f"{name} has {start} {item}. {story} How many {item} does {name} have now? "
            "End with 'Final Answer: <number>'."
        )
        return prompt, [name, item, start, [[op, n] for op, n, _ in ops]]

    def solve(self, payload, rng):
        name, item, total, ops = payload
        bad, steps = _flaw_index(rng, len(ops)), [f"{name} starts with {total} {item}."]
        for i, (op, n) in enumerate(ops):
            result = total + n if op == "+" else total - n
            if i == bad:
                result += rng.choice([-2, -1, 1, 2])
            steps.append(f"{total} {op} {n} = {result}.")
            total = result
        return Trace(steps, str(total), flawed=bad >= 0)


TASKS = {
    task.name: task
    for task in (
        RunningSum(),
        RunningDifference(),
        RunningMax(),
        OddCount(),
        Copy(),
        Addition(),
        LastLetters(),
        LetterCount(),
        WordProblems(),
    )
}


def task_rows(names: list[str], size: int, seed: int, difficulty: dict | None = None) -> list[dict]:
    """`size` rows of each named task (difficulty: task -> [lo, hi], default the task's range)."""
    return [r for name in names for r in get_task(name).rows(size, seed, (difficulty or {}).get(name))]


def task_problem(name) -> str | None:
    """What is wrong with `name` as a task (None when nothing is), with the nearest known names; reads
    reasoning-gym's names from its source, without importing it."""
    import difflib

    from ponder.data.reasoning_gym_task import dataset_names

    if not isinstance(name, str):
        return f"{name!r} is not a task name (a string)"
    if name.startswith("rg:"):
        dataset, known = name.split(":", 1)[1], dataset_names()
        if known is None:
            return f"{name!r} needs reasoning-gym: pip install reasoning-gym"
        if dataset in known:
            return None
        close = difflib.get_close_matches(dataset, known, n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(repr('rg:' + c) for c in close)}?)" if close else ""
        return (
            f"reasoning-gym has no dataset {dataset!r}{hint}; its {len(known)} are in reasoning_gym.factory.DATASETS"
        )
    if name in TASKS:
        return None
    close = difflib.get_close_matches(name, TASKS, n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(map(repr, close))}? " if close else ""
    return f"unknown task {name!r}; {hint}built-in tasks: {', '.join(sorted(TASKS))}, or rg:<reasoning-gym dataset>"


def get_task(name: str) -> Task:
    if name.startswith("rg:"):
        return ReasoningGymTask(name.split(":", 1)[1])
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; built-in tasks: {sorted(TASKS)}, or rg:<reasoning-gym dataset>")
    return TASKS[name]
