"""PRM data and scoring without training: Monte Carlo labels, the stepwise token layout, soft labels,
converters, ProcessBench metrics, and the search algorithms with an exact (oracle) scorer."""

import math
import random

import pytest
import torch

from ponder.data.prm_data import from_math_shepherd, from_prm800k
from ponder.data.tasks import get_task, task_rows
from ponder.inference.prm import process_bench, stepwise_ids
from ponder.inference.prm_labels import monte_carlo_labels
from ponder.inference.search import Candidate, SearchResult, beam_search, best_of_n, dvts, scored_steps, select_answer
from ponder.inference.step_samplers import TaskStepSampler
from ponder.models.modeling import build_tiny_model
from ponder.models.thinking import ThinkingConfig
from ponder.trainers.prm import IGNORE, StepwiseCollator, soft_cross_entropy, tokenize_stepwise

THINKING = ThinkingConfig()


class ScriptedPolicy:
    """Correct prefixes finish correctly with probability p; a prefix with a wrong step never does."""

    def __init__(self, p: float, seed: int = 0):
        self.p, self.rng = p, random.Random(seed)

    def complete(self, question, prefixes):
        gold = get_task(question["domain"]).teacher_trace(question)
        out = []
        for prefix in prefixes:
            correct = prefix == gold.steps[: len(prefix)] and self.rng.random() < self.p
            out.append(Candidate(list(prefix), gold.answer if correct else "wrong"))
        return out


def test_monte_carlo_labels_hard_and_soft():
    question = task_rows(["running_sum"], 1, seed=3, difficulty={"running_sum": [6, 6]})[0]
    gold = get_task("running_sum").teacher_trace(question)
    bad = 3  # the corrupted step
    steps = gold.steps[:bad] + [TaskStepSampler.corrupt(gold.steps[bad], random.Random(0))] + gold.steps[bad + 1 :]
    n = 400
    [row] = monte_carlo_labels(ScriptedPolicy(0.7), [question], [Candidate(steps, "wrong")], n, THINKING)
    assert row["labels"] == [True] * bad + [False] * (len(steps) - bad) + [False]  # the answer step: wrong
    assert row["completions"][-1] == "Final Answer: wrong"
    half_width = 4 * math.sqrt(0.7 * 0.3 / n)  # 4 sigma of a binomial fraction
    for soft in row["soft_labels"][:bad]:
        assert abs(soft - 0.7) < half_width
    assert row["soft_labels"][bad:] == [0.0] * (len(steps) - bad + 1)


def test_stepwise_layout_one_label_per_step_at_the_separator():
    _, tokenizer = build_tiny_model("micro")
    row = {
        "prompt": "add 12+34",
        "completions": ["2+4+0=6c0", "1+3+0=4c0", "Final Answer: 46"],
        "labels": [True, False, True],
        "soft_labels": [0.25, 0.0, 1.0],
    }
    for separator in ("\n", " ки\n"):
        features = tokenize_stepwise(row, tokenizer, separator, None, soft=True)
        labelled = [i for i, v in enumerate(features["labels"]) if v != IGNORE]
        assert len(labelled) == 3
        ids, positions = stepwise_ids(tokenizer, row["prompt"], row["completions"], separator)
        assert labelled == positions and features["input_ids"] == ids  # train-time = score-time positions
        sep_ids = tokenizer(separator, add_special_tokens=False)["input_ids"]
        for p in positions:
            assert ids[p - len(sep_ids) + 1 : p + 1] == sep_ids
        assert [features["labels"][p] for p in positions] == [0.25, 0.0, 1.0]  # soft labels kept, not ints
    hard = tokenize_stepwise(row, tokenizer, "\n", None, soft=False)
    assert [v for v in hard["labels"] if v != IGNORE] == [1.0, 0.0, 1.0]
    cut = tokenize_stepwise(row, tokenizer, "\n", 25, soft=True)  # whole steps dropped, never cut
    assert len(cut["input_ids"]) <= 25 and sum(v != IGNORE for v in cut["labels"]) == 1
    batch = StepwiseCollator(tokenizer.pad_token_id)([features, cut])
    assert batch["labels"].dtype == torch.float32 and batch["labels"][1, -1] == IGNORE


def test_soft_cross_entropy_is_minimised_at_the_soft_target():
    labels = torch.tensor([[IGNORE, 0.25]])
    losses = {
        p: soft_cross_entropy(torch.tensor([[[0.0, 5.0], [0.0, math.log(p / (1 - p))]]]), labels).item()
        for p in (0.1, 0.25, 0.5, 0.9)
    }
    assert min(losses, key=losses.get) == 0.25


def test_math_shepherd_and_prm800k_converters():
    row = {
        "input": "What is 2+3? Step 1: 2+3=5 ки\nStep 2: The answer is 6 ки",
        "label": "What is 2+3? Step 1: 2+3=5 +\nStep 2: The answer is 6 -",
    }
    assert from_math_shepherd(row) == {
        "prompt": "What is 2+3?",
        "completions": ["Step 1: 2+3=5", "Step 2: The answer is 6"],
        "labels": [True, False],
    }
    with pytest.raises(ValueError, match="label"):
        from_math_shepherd({"input": row["input"], "label": row["input"]})

    def step(rating, text):
        return {"completions": [{"text": text, "rating": rating}], "chosen_completion": 0}

    prm800k = {
        "question": {"problem": "p"},
        "label": {"steps": [step(1, "a"), step(0, "b"), step(-1, "c"), step(1, "d")]},
    }
    assert from_prm800k(prm800k, "positive")["labels"] == [True, True, False]  # stops at the first -1
    assert from_prm800k(prm800k, "negative")["labels"] == [True, False, False]
    assert from_prm800k(prm800k, "stop") == {"prompt": "p", "completions": ["a"], "labels": [True]}
    with pytest.raises(ValueError, match="neutral"):
        from_prm800k(prm800k, "maybe")


def test_process_bench_metrics_by_hand():
    labels = [[1, 1, 0, 0], [1, 1, 1], [0, 0], [1, 1]]
    scores = [[0.9, 0.8, 0.2, 0.1], [0.9, 0.4, 0.9], [0.9, 0.1], [0.7, 0.6]]
    # erroneous: #1 first error 2 predicted 2 (hit), #3 first error 0 predicted 1 (miss); correct: #2 miss, #4 hit
    assert process_bench(scores, labels) == {
        "accuracy_erroneous": 0.5,
        "accuracy_correct": 0.5,
        "f1": 0.5,
        "n_erroneous": 2,
        "n_correct": 2,
    }


def test_weighted_vote_right_where_majority_is_wrong():
    result = SearchResult(
        [Candidate([], "7"), Candidate([], "7"), Candidate([], "7"), Candidate([], "5"), Candidate([], "5")],
        [0.1, 0.2, 0.1, 0.9, 0.8],
        tokens=0,
    )
    assert select_answer(result, "majority") == "7"
    assert select_answer(result, "weighted") == "5"
    assert select_answer(result, "best") == "5"


def oracle_score(question, candidates):
    """An exact PRM: 1 while every step (and the answer) is the teacher's, 0 from the first mistake."""
    gold = get_task(question["domain"]).teacher_trace(question)
    truth = gold.steps + [f"{THINKING.answer_prefix} {gold.answer}"]
    return [
        [float(steps[: i + 1] == truth[: i + 1]) for i in range(len(steps))]
        for steps in (scored_steps(c, THINKING.answer_prefix) for c in candidates)
    ]


def test_search_with_an_exact_scorer_beats_single_samples():
    questions = task_rows(["addition"], 30, seed=5, difficulty={"addition": [5, 6]})
    sampler = TaskStepSampler(error_rate=0.2, seed=1)
    single = sum(sampler.complete(q, [[]])[0].answer == q["answer"] for q in questions) / len(questions)

    def accuracy(search):
        return sum(select_answer(search(q), "best") == q["answer"] for q in questions) / len(questions)

    bon = accuracy(lambda q: best_of_n(sampler, oracle_score, q, 16))
    beam = accuracy(lambda q: beam_search(sampler, oracle_score, q, 16, 4))
    tree = accuracy(lambda q: dvts(sampler, oracle_score, q, 16, 4))
    assert single < 0.5  # 0.8^6-0.8^7 of solutions survive every step
    assert bon > single + 0.3 and beam == 1.0 and tree == 1.0
    result = beam_search(sampler, oracle_score, questions[0], 16, 4, lookahead=1)
    assert result.tokens > beam_search(sampler, oracle_score, questions[0], 16, 4).tokens  # look-ahead costs tokens
    with pytest.raises(ValueError, match="divisible"):
        dvts(sampler, oracle_score, questions[0], 10, 4)
