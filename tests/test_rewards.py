"""Rewards on TRL's contract: equivalences, deadlines, None semantics, registry."""

import time

import pytest

from ponder.rewards.math_answers import verify_answers
from ponder.rewards.registry import REWARDS, get_reward
from ponder.rewards.sandbox import bwrap_problem

TOWER = "2^{" * 12 + "2" + "}" * 12


def test_math_equivalences_and_argument_order():
    pairs = [
        ("\\frac12", "0.5"),
        ("0.5", "\\frac{1}{2}"),
        ("\\{1,2\\}", "\\{2,1\\}"),
        ("\\boxed{3}", "3"),
        ("3", "\\boxed{3}"),
        ("\\frac{1}{2}", "\\boxed{\\frac{2}{4}}"),
        ("12", "12.0"),
        ("2", "3"),
        ("\\{1,2\\}", "\\{1,3\\}"),
        ("ab", "ba"),
    ]
    assert verify_answers(pairs) == [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]


def test_unparseable_gold_is_none_never_one():
    assert verify_answers([("$$", "1"), ("", ""), ("\\text{}", "1")]) == [None, None, None]


def test_pathological_answer_times_out_alone():
    deadline = 1.5
    pairs = [("1/2", TOWER), ("\\frac12", "0.5"), ("\\sqrt{4}", "2"), ("7", "7")]
    start = time.monotonic()
    results = verify_answers(pairs, deadline=deadline)
    assert time.monotonic() - start < deadline + 1.0 + 1.5  # + worker start-up on first use
    assert results == [0.0, 1.0, 1.0, 1.0]


def test_an_item_that_hangs_is_killed_at_its_deadline_and_a_batch_at_its_bound():
    """What the pre-screen does not catch still cannot hang a batch: the worker is killed at the deadline
    (the others are scored), and the whole call stops at its budget."""
    from ponder.rewards.pool import WorkerPool

    pool = WorkerPool(workers=2, deadline=1.0, timeout_value="timeout")
    start = time.monotonic()
    assert pool.map("os.path:basename", [("/a/b",), ("/c",)]) == ["b", "c"]
    assert pool.map("time:sleep", [(30,), (0,)]) == ["timeout", None]
    assert time.monotonic() - start < 4.0 and pool.timeouts == 1
    start = time.monotonic()
    out = pool.map("time:sleep", [(0.6,)] * 8, budget=1.5)  # 2 workers: 4 rounds of 0.6 s do not fit
    assert time.monotonic() - start < 2.5 and out.count("timeout") >= 2 and pool.last_cut
    pool.close()


def conv(text):
    return [{"role": "assistant", "content": text}]


def trl_call(reward, completions, **columns):
    """Call a reward exactly as GRPOTrainer does: prompts, completions, completion_ids, columns, trainer_state."""
    n = len(completions)
    return reward(
        prompts=[[{"role": "user", "content": "q"}]] * n,
        completions=completions,
        completion_ids=[[1] * (len(str(c)) // 4 + 1) for c in completions],
        trainer_state=object(),
        **columns,
    )


def test_accuracy_plain_and_conversational_with_extra_kwargs():
    texts = [
        "+3=3\n</think>\n\nFinal Answer: 3",
        "thinking...\n</think>\n\n\\boxed{\\frac{1}{2}}",
        "no answer yet",
        "x</think>4",
    ]
    golds = ["3", "0.5", "7", "5"]
    assert trl_call(get_reward("accuracy"), texts, answer=golds) == [1.0, 1.0, 0.0, 0.0]
    assert trl_call(get_reward("accuracy"), [conv(t) for t in texts], answer=golds, domain=["x"] * 4) == [
        1.0,
        1.0,
        0.0,
        0.0,
    ]
    assert trl_call(get_reward("accuracy"), texts) == [None] * 4


def test_format_rewards_accept_prefilled_think():
    fmt, soft, tags = get_reward("format"), get_reward("soft_format"), get_reward("tag_count")
    texts = [
        "reason\n</think>\n\nanswer",
        "<think>\nreason\n</think>\n\nanswer",
        "reason only",
        "r</think>\n\n",
        "a</think>b</think>c",
    ]
    assert fmt(texts) == [1.0, 1.0, 0.0, 0.0, 0.0]
    assert soft(texts) == [1.0, 1.0, 0.0, 0.0, 1.0]
    assert tags(texts) == [1.0, 1.0, 0.0, 1.0, 0.5]  # no tags at all: nothing (open-r1 gives 0 too)


def test_cosine_prefers_short_correct_and_penalises_long_wrong_less():
    cosine = get_reward("cosine", max_len=100)
    ids = [[0] * 10, [0] * 90, [0] * 10, [0] * 90]
    texts = ["a</think>1", "a</think>1", "a</think>2", "a</think>2"]
    short_ok, long_ok, short_bad, long_bad = cosine(texts, completion_ids=ids, answer=["1"] * 4)
    assert short_ok > long_ok > 0 > long_bad > short_bad


def test_lcpo_moves_with_distance_to_budget():
    think_end = 99
    exact = get_reward("lcpo", think_end_id=think_end, mode="exact", alpha=0.01)
    best = get_reward("lcpo", think_end_id=think_end, mode="max", alpha=0.01)
    prompts = ["q Think for 20 tokens."] * 3 + ["no budget"]
    ids = [[1] * 20 + [think_end, 5], [1] * 100 + [think_end, 5], [1] * 5 + [think_end, 5], [1] * 3 + [think_end]]
    texts = ["x</think>5"] * 4
    e = exact(prompts=prompts, completions=texts, completion_ids=ids, answer=["5"] * 4)
    assert e[0] == pytest.approx(1.0) and e[1] == pytest.approx(1.0 - 0.8) and e[2] == pytest.approx(1.0 - 0.15)
    assert e[3] is None
    m = best(prompts=prompts, completions=texts, completion_ids=ids, answer=["5"] * 4)
    assert m[2] == pytest.approx(0.65) and m[1] == 0.0 and m[0] == pytest.approx(0.5)


def test_repetition_and_overlong():
    rep = get_reward("repetition_penalty", ngram_size=2, max_penalty=-1.0)
    out = rep(["a b c d e f", "a a a a a a a"], completion_ids=[[1, 2, 3, 4, 5, 6], [1, 1, 1, 1, 1, 1, 1]])
    assert out[0] == 0.0 and out[1] < -0.5
    over = get_reward("soft_overlong_punishment", max_completion_len=10, soft_punish_cache=4)
    assert over(["x"] * 3, completion_ids=[[0] * 5, [0] * 8, [0] * 10]) == [
        0.0,
        pytest.approx(-0.5),
        pytest.approx(-1.0),
    ]


@pytest.mark.skipif(bwrap_problem() is not None, reason="the code sandbox needs bubblewrap")
def test_code_reward_scores_fraction_and_none_without_tests():
    code = get_reward("code", wall_seconds=5)
    tests = [{"input": "2 3\n", "output": "5"}, {"input": "1 1\n", "output": "2"}, {"input": "0 0\n", "output": "1"}]
    good = "</think>\n```python\na, b = map(int, input().split())\nprint(a + b)\n```"
    assert code([good, "</think> no code"], test_cases=[tests, tests]) == [pytest.approx(2 / 3), 0.0]
    assert code([good]) == [None]


def test_registry_names_factories_and_dotted_paths():
    assert {
        "accuracy",
        "format",
        "tag_count",
        "reasoning_steps",
        "cosine",
        "repetition_penalty",
        "soft_overlong_punishment",
        "code",
    } <= set(REWARDS)
    assert get_reward("reasoning_steps").__name__ == "reasoning_steps"
    assert isinstance(get_reward("ponder.rewards.functions.FormatReward"), REWARDS["format"])
    assert isinstance(get_reward("ponder.rewards.functions:TagCountReward"), REWARDS["tag_count"])
    assert get_reward("os.path.basename") is __import__("os").path.basename  # a plain function, as it is
    with pytest.raises(ValueError, match="known: .*accuracy"):
        get_reward("acuracy")
    with pytest.raises(ValueError, match="bad parameters"):
        get_reward("format", strict=True)
    with pytest.raises(ValueError, match="takes no parameters"):
        get_reward("os.path.basename", strict=True)


def test_numeric_gold_is_not_fished_out_of_prose():
    """Math-Verify finds the last number in anything; an RL policy learned to emit garbage ending in the
    most common answer. A numeric gold answer needs a numeric (or LaTeX) prediction."""
    assert verify_answers([("1", "FiAnAnswer: 1"), ("1", "ans 1"), ("0.5", "\\frac{1}{2}"), ("2", "\\sqrt{4}")]) == [
        0.0,
        0.0,
        1.0,
        1.0,
    ]


def test_a_pool_whose_workers_cannot_start_fails_fast():
    from types import SimpleNamespace

    from ponder.rewards.pool import PoolError, WorkerPool

    pool = WorkerPool(workers=2, deadline=1.0)
    real = pool.context

    class Unstartable(real.Process):
        def start(self):
            raise OSError("Resource temporarily unavailable")

    pool.context = SimpleNamespace(Pipe=real.Pipe, Process=Unstartable, get_start_method=real.get_start_method)
    with pytest.raises(PoolError, match="cannot start a worker process.*Resource temporarily unavailable"):
        pool.map("os:getpid", [()])

    dying = WorkerPool(workers=2, deadline=5.0)  # workers that exit before answering anything
    start = time.monotonic()
    with pytest.raises(PoolError, match="died before answering"):
        dying.map("os:_exit", [(3,)] * 8)
    assert time.monotonic() - start < 10.0
    dying.close()


def test_reward_docstring_examples_hold():
    """Every `Example:` in the reward docstrings is what the reward returns."""
    import doctest

    import ponder.rewards.functions as functions

    result = doctest.testmod(functions)
    assert result.attempted >= 10 and result.failed == 0


def test_arithmetic_steps_scores_the_share_of_right_equations():
    steps = get_reward("arithmetic_steps")
    texts = [
        "<think>4 - 1 = 3\n3 - 7 = -4</think>\nFinal Answer: -4",  # chain_sum's trace: both right
        "<think>6 - 0 = -6\n-6 + 2 = -4</think>\nFinal Answer: -4",  # the sign slip, then a right step
        "woodlouse: 3 x 14 = 42 legs, total 0 + 42 = 42\nspider: 2 x 8 = 17, total 42 + 17 = 59",
        "2 + 3 * 4 = 14 and 2 + 3 * 4 = 20",  # multiplication first
        "1 / 0 = 3, 3 - -2 = 5",  # no division by zero; a negative term
        "The answer is 5.",  # no arithmetic written: no credit
    ]
    assert steps(texts) == [1.0, 0.5, 0.75, 0.5, 0.5, 0.0]
    # `x` multiplies only between numbers; words, versions and decimals are not equations.
    assert steps(["max 3 = 3, v1.2 + 1 = 2.2, box2 + 1 = 3"]) == [0.0]
    assert steps(["1.5 + 1 = 2.5"]) == [1.0]


# (gold, prediction, Math-Verify's verdict): each checked against Math-Verify itself below.
MATH_VERIFY_FORMS = [
    ("5", "\\$5", 1.0),  # an escaped dollar is a currency sign, not a math delimiter
    ("5", "\\$5.00", 1.0),
    ("5.5", "\\$5.50", 1.0),
    ("6", "\\$5 + 1", 1.0),  # (through the parser)
    ("5", "\\$6", 0.0),
    ("11", "11 \\text{ cm}", 1.0),  # a number and its unit
    ("11", "11\\,\\mathrm{cm}^2", 1.0),
    ("\\frac{1}{2}", "\\frac{1}{2} \\text{ m}", 1.0),
    ("12", "11 \\text{ cm}", 0.0),
    ("11", "x = 11", 1.0),  # a variable's value, or its approximation
    ("11", "x \\approx 11", 1.0),
    ("11", "\\boxed{x_1 = 11 \\text{ cm}}", 1.0),
    ("11", "x = 5 + 6", 1.0),  # (through the parser)
    ("11", "x \\approx 11.3", 0.0),
    ("11", "x = 12", 0.0),
    ("11", "x \\le 11", 0.0),
    ("2", "x = 2 \\text{ or } x = 3", 0.0),
]


def test_answer_forms_as_math_verify_reads_them():
    from math_verify import parse, verify

    pairs = [(gold, prediction) for gold, prediction, _ in MATH_VERIFY_FORMS]
    expected = [verdict for _, _, verdict in MATH_VERIFY_FORMS]
    assert [float(verify(parse(f"${g}$"), parse(f"${p}$"))) for g, p in pairs] == expected, "Math-Verify changed"
    assert verify_answers(pairs) == expected
    assert get_reward("accuracy")([conv("<think>x</think>\\boxed{\\$5.00}")], answer=["5"]) == [1.0]
    # Deliberately not: a numeric gold needs a number, not prose that ends in one (as in
    # test_numeric_gold_is_not_fished_out_of_prose), though Math-Verify reads both as 11.
    assert verify_answers([("11", "ans = 11"), ("11", "11 cm")]) == [0.0, 0.0]
