"""ponder agrees with the projects its users come from. Each case is taken from that project's own suite or
docstrings (cited per test); where ponder deliberately differs, the test states it and README says why.

Budget forcing against s1 is in test_budget_forcing.py."""

import pickle
import time

import pytest

from ponder.models.thinking import ThinkingConfig
from ponder.rewards import REWARDS, get_reward
from ponder.rewards.math_answers import verify_answers
from ponder.rewards.sandbox import bwrap_problem
from ponder.trainers.rewards import build_rewards


def conv(text: str) -> list:
    return [{"role": "assistant", "content": text}]


def answered(answer: str) -> list:
    """A completion whose thinking closed (ponder's accuracy is TRL's reasoning_accuracy_reward: no </think>,
    no answer, since ponder's templates prefill <think>)."""
    return conv(f"<think>\nreasoning\n</think>\n\n{answer}")


# Math-Verify tests/test_all.py::test_number_extraction (expected values as there).
@pytest.mark.parametrize(
    "gold, prediction, expected",
    [
        ("-5", "-5", 1.0),
        ("7425000", "7,425,000", 1.0),
        ("1000", "1 000", 1.0),
        ("1000", "1000.0", 1.0),
        ("1000.0", "1,000.0", 1.0),
        ("1000.99", "1000,99", 1.0),
        ("1,22", "1.22", 1.0),
        ("0.4", ".4", 1.0),
        ("1000.99", "1,000.99", 1.0),
        ("0,111", "0.111", 1.0),
        ("1000000", "1,000,000", 1.0),
        ("2", "AZYUK2A", 0.0),
        ("0.4", "4", 0.0),
    ],
)
def test_math_verify_number_extraction(gold, prediction, expected):
    assert verify_answers([(gold, prediction)]) == [expected]


# Math-Verify tests/test_all.py::test_latex_notation, ::test_simple_fraction_notation, ::test_percent_notation.
@pytest.mark.parametrize(
    "gold, completion, expected",
    [
        ("$9$", "Answer \\[ \n 9 \n \\]", 1.0),
        ("$9$", "Answer $$ \n 9 \n $$", 1.0),
        ("$9$", "Answer \\( 9 \\)", 1.0),
        ("$1/3$", "$\\frac13 $", 1.0),
        ("$1/3$", "$\\dfrac{1}{3} $", 1.0),
        ("$\\sqrt{3}$", "$\\sqrt3 $", 1.0),
        ("-10/9", "-\\frac{10}{9}", 1.0),
        ("$28\\%$", "28", 1.0),
        ("$0.28$", "28", 0.0),
    ],
)
def test_math_verify_latex_notation_through_the_accuracy_reward(gold, completion, expected):
    assert get_reward("accuracy")([answered(completion)], answer=[gold]) == [expected]


def test_several_boxed_answers_read_as_one_set():
    """Math-Verify merges every \\boxed{} of an answer into one set (and then a scalar gold does not match)."""
    accuracy = get_reward("accuracy")
    boxes = answered("\\boxed{1} and \\boxed{2} and \\boxed{3}")
    assert accuracy([boxes, boxes], answer=["{1,2,3}", "3"]) == [1.0, 0.0]
    assert accuracy([answered("so \\boxed{7}, again \\boxed{7}")], answer=["7"]) == [1.0]  # one distinct box


def test_a_gold_that_cannot_be_parsed_is_not_applicable():
    """TRL's accuracy_reward: "If gold is not parseable -> return None to skip the example"."""
    accuracy = get_reward("accuracy")
    assert accuracy([answered("42"), answered("41")], answer=["forty two", "forty two"]) == [None, None]
    # ponder's word answers (its letter tasks) are still compared exactly, word against word:
    assert accuracy([answered("aetdm"), answered("aetmd")], answer=["aetdm", "aetdm"]) == [1.0, 0.0]


def test_trl_accuracy_docstring_and_positional_calls():
    """trl/rewards/accuracy_rewards.py docstrings: accuracy_reward(completions, solutions) -> [1.0, 0.0];
    cosine_scaled_reward(completions, solution, completion_ids) with 50 of 100 tokens -> [0.75, -0.75]."""
    completions = [answered("My answer is \\boxed{\\frac{1}{3}}"), answered("My answer is \\boxed{\\frac{1}{2}}")]
    solutions = ["\\frac{1}{3}", "\\frac{1}{3}"]
    assert get_reward("accuracy")(completions, solutions) == [1.0, 0.0]
    assert get_reward("accuracy")(completions=completions, solution=solutions) == [1.0, 0.0]  # TRL's column name
    cosine = get_reward("cosine", max_len=100)
    assert cosine(completions, solutions, [[1] * 50, [1] * 50]) == pytest.approx([0.75, -0.75])
    with pytest.raises(TypeError, match="at most"):
        cosine(completions, solutions, [[1] * 50] * 2, "extra")
    with pytest.raises(TypeError, match="both positionally and by name"):
        cosine(completions, solutions, answer=solutions)


# open-r1 tests/test_rewards.py::test_cosine_scaled_reward. open-r1 measures the padded content in characters
# (22 for the unpadded box); ponder measures token ids, so ids of that many tokens stand for it.
@pytest.mark.parametrize(
    "content, solution, length, expected",
    [
        ("\\boxed{\\frac{63}{400}}", "\\frac{63}{400}", 20, 0.943),
        ("\\boxed{\\frac{63}{400}}", "\\frac{63}{400}", 80, 0.547),
        ("\\boxed{\\frac{64}{400}}", "\\frac{63}{400}", 20, -0.942),
        ("\\boxed{\\frac{64}{400}}", "\\frac{63}{400}", 80, -0.547),
    ],
)
def test_open_r1_cosine(content, solution, length, expected):
    ids = [[0] * max(length, len(content))]
    cosine = get_reward("cosine", min_value_wrong=-1.0, max_value_wrong=-0.5, max_len=100)
    assert cosine([answered(content)], [solution], ids) == [pytest.approx(expected, abs=0.005)]


def test_trl_think_format_and_the_issue_cases():
    """trl/rewards/format_rewards.py think_format_reward docstring; a think block opened mid-text is refused."""
    fmt = get_reward("format")
    texts = [
        "<think>\nThis is my reasoning.\n</think>\nThis is my answer.",
        "<think>\nThis is my reasoning.\nThis is my answer.",
        "This<think>is my reasoning.</think>\nanswer",
        "reasoning after a prefilled think\n</think>\nanswer",
    ]
    assert fmt([conv(t) for t in texts]) == [1.0, 0.0, 0.0, 1.0]


def test_tag_count_gives_nothing_without_tags():
    assert get_reward("tag_count")([conv("no tags at all"), conv("<think>a</think>b")]) == [0.0, 1.0]


# open-r1 tests/test_rewards.py::test_reasoning_steps_reward.
@pytest.mark.parametrize(
    "content, expected",
    [
        ("Step 1: First step\nStep 2: Second step\nStep 3: Third step", 1.0),
        ("First, we do this.\nSecond, we do that.\nFinally, we conclude.", 1.0),
        ("Step 1: Only step", 1 / 3),
        ("First, we do this.\nFinally, we conclude.", 2 / 3),
        ("Just plain text without any clear steps", 0.0),
        ("3 + 4 = 7\n\n7 + 1 = 8\n\n8 + 2 = 10</think>10", 1.0),  # ponder's traces: separator-delimited steps
    ],
)
def test_open_r1_reasoning_steps(content, expected):
    assert get_reward("reasoning_steps")([conv(content)]) == [pytest.approx(expected)]


# open-r1 tests/test_rewards.py::TestRepetitionPenaltyReward.
@pytest.mark.parametrize(
    "content, ngram, penalty, expected",
    [
        ("this is a test sentence", 2, -1.0, 0.0),
        ("this this this this this", 2, -1.0, -0.75),
        ("this is a this is a test", 2, -1.0, -1 / 3),
        ("test test test test", 3, -0.5, -0.25),
        ("", 2, -1.0, 0.0),
        ("this is a this is a test", 3, -2.0, -0.4),
        ("word", 3, -1.0, 0.0),
        ("word word word word", 3, -1.0, -0.5),
        ("one two one two", 3, -1.0, 0.0),
        ("A B C A B C", 3, -1.0, -0.25),
        ("A B C A B C E F G A B C A B C", 3, -1.0, -0.3846),
    ],
)
def test_open_r1_repetition_penalty(content, ngram, penalty, expected):
    reward = get_reward("repetition_penalty", ngram_size=ngram, max_penalty=penalty)
    assert reward([conv(content)]) == [pytest.approx(expected, abs=1e-4)]


def test_repetition_penalty_language_and_sign():
    with pytest.raises(ValueError, match="should not be positive"):
        get_reward("repetition_penalty", ngram_size=2, max_penalty=1.5)
    zh = get_reward("repetition_penalty", ngram_size=2, max_penalty=-1.0, language="zh")
    assert zh([conv("好好好好好")]) == [pytest.approx(-0.75)] and zh([conv("今天天气很好")]) == [0.0]


def test_length_reward_kimi_open_r1():
    """open-r1 len_reward (Kimi 1.5): lambda = 0.5 - (len - min) / (max - min); wrong ones get min(0, lambda);
    equal lengths give 0. ponder groups by prompt (the paper's per-problem samples)."""
    length = get_reward("length")
    texts = [answered("1"), answered("1" + " " * 30), answered("2"), answered("2" + " " * 30)]
    out = length(texts, answer=["1"] * 4, completion_ids=[[0] * 10, [0] * 30, [0] * 10, [0] * 30])
    assert out == [pytest.approx(0.5), pytest.approx(-0.5), 0.0, pytest.approx(-0.5)]
    prompts = ["a", "a", "b", "b"]
    same = length(prompts=prompts, completions=texts, answer=["1"] * 4, completion_ids=[[0] * 10, [0] * 30] * 2)
    assert same == [pytest.approx(0.5), pytest.approx(-0.5), 0.0, pytest.approx(-0.5)]
    assert length([answered("1")] * 2, answer=["1"] * 2, completion_ids=[[0] * 5] * 2) == [0.0, 0.0]


@pytest.mark.skipif(bwrap_problem() is not None, reason="the code sandbox needs bubblewrap")
def test_code_rewards_strip_lines_like_open_r1():
    tests = [{"input": "", "output": "1\n2"}]
    indented = "</think>\n```python\nprint('   1')\nprint('2   ')\n```"
    assert get_reward("code")([conv(indented)], test_cases=[tests]) == [1.0]
    half = [{"input": "", "output": "1\n2"}, {"input": "", "output": "3"}]
    assert get_reward("binary_code")([conv(indented)] * 2, test_cases=[half, tests]) == [0.0, 1.0]
    code_format = get_reward("code_format")
    assert code_format([conv("<think>plan</think>\n" + indented[9:]), conv("<think>plan</think>\nprint(1)")]) == [
        1.0,
        0.0,
    ]


def test_every_reward_pickles_and_scores_the_same_after():
    """TRL's async GRPO pickles reward functions into a worker process."""
    texts = [answered("\\boxed{2}"), answered("3")]
    kwargs = {"answer": ["2", "2"], "completion_ids": [[1, 2, 3], [1] * 9], "prompts": ["Think for 4 tokens."] * 2}
    for name in REWARDS:
        params = {"think_end_id": 9} if name == "lcpo" else {}
        reward = get_reward(name, **params)
        if name in ("code", "binary_code"):
            kwargs_here = {"test_cases": [None, None]}
        else:
            kwargs_here = kwargs
        clone = pickle.loads(pickle.dumps(reward))
        assert clone.__name__ == reward.__name__ and clone(texts, **kwargs_here) == reward(texts, **kwargs_here)
    functions, _ = build_rewards([], think_end_id=5)
    assert [pickle.loads(pickle.dumps(f)).__name__ for f in functions] == ["accuracy", "thinking_tokens"]


def test_the_recipe_delimiters_reach_every_reward():
    thinking = ThinkingConfig(think_start="<reason>", think_end="</reason>", answer_prefix="Answer:")
    specs = [type("Spec", (), {"name": n, "weight": 1.0, "params": {}})() for n in ("accuracy", "format", "tag_count")]
    functions, _ = build_rewards(specs, think_end_id=5, thinking=thinking)
    text = conv("<reason>\n2 + 2\n</reason>\nAnswer: 4")
    scores = [f(prompts=["q"], completions=[text], answer=["4"], completion_ids=[[1]])[0] for f in functions[:3]]
    assert scores == [1.0, 1.0, 1.0]
    default = [get_reward(n)([text], answer=["4"])[0] for n in ("accuracy", "format")]
    assert default == [0.0, 0.0]  # with <think> delimiters the same text has no answer and no format


def test_a_batch_of_pathological_answers_is_bounded():
    tower = "2^{" * 12 + "2" + "}" * 12
    chained = "2^2^2^2^2^2^2^2"
    start = time.monotonic()
    out = verify_answers([("1/2", tower), ("7", chained)] * 32 + [("\\frac12", "0.5")])
    assert time.monotonic() - start < 5.0 and out == [0.0] * 64 + [1.0]


# trl/rewards/other_rewards.py get_repetition_penalty_reward: token-id n-grams. The same ids through TRL's own
# function and ponder's, called as TRL calls it (positionally) and as GRPO does (text and ids together).
@pytest.mark.parametrize(
    "ids, ngram, penalty",
    [
        ([[1, 2, 3, 4], [5, 5, 5, 5, 5]], 2, -1.0),
        ([[5, 5, 5, 5, 5]], 2, -1.0),
        ([[1, 2, 1, 2, 1, 2]], 2, -0.5),
        ([[1, 2, 3, 1, 2, 3, 4]], 3, -1.0),
        ([[7]], 3, -1.0),
        ([[]], 2, -1.0),
        ([[9, 9, 9, 9], [1, 2, 3, 4, 5, 6]], 3, -2.0),
    ],
)
def test_trl_repetition_penalty_on_token_ids(ids, ngram, penalty):
    from trl.rewards import get_repetition_penalty_reward

    expected = get_repetition_penalty_reward(ngram_size=ngram, max_penalty=penalty)(ids)
    ours = get_reward("repetition_penalty", ngram_size=ngram, max_penalty=penalty)
    assert ours(ids) == pytest.approx(expected)
    texts = [conv("one two three four") for _ in ids]  # the ids decide when both are given, as in GRPO
    assert ours(texts, completion_ids=ids) == pytest.approx(expected)


def test_trl_repetition_penalty_docstring():
    assert get_reward("repetition_penalty", ngram_size=2)([[1, 2, 3, 4], [5, 5, 5, 5, 5]]) == [0.0, -0.75]


def test_trl_reasoning_accuracy_delimiters():
    """trl/rewards/accuracy_rewards.py reasoning_accuracy_reward: its docstring, and other delimiters, through
    TRL's function and ponder's accuracy reward with the same `reasoning_delimiters`."""
    from trl.rewards import reasoning_accuracy_reward

    cases = [
        ("<think> Reasoning content </think> The final answer is \\boxed{\\frac{1}{3}}", "\\frac{1}{3}"),
        ("<think> Reasoning content </think> The final answer is \\boxed{\\frac{1}{2}}", "\\frac{1}{3}"),
        ("<think> Reasoning with partial answers \\boxed{\\frac{1}{3}} but no final answer", "\\frac{1}{3}"),
        ("<reasoning> 6*7 </reasoning> \\boxed{42}", "42"),
        ("<think> 6*7 </think> wait <reasoning> again </reasoning> \\boxed{41}", "42"),
    ]
    completions, solutions = [conv(c) for c, _ in cases], [s for _, s in cases]
    for delimiters in (["</think>"], ["</think>", "</reasoning>"]):
        expected = reasoning_accuracy_reward(completions, solutions, reasoning_delimiters=delimiters)
        by_param = get_reward("accuracy", reasoning_delimiters=delimiters)(completions, solution=solutions)
        per_call = get_reward("accuracy")(completions, solution=solutions, reasoning_delimiters=delimiters)
        assert by_param == per_call == expected, delimiters
    assert expected == [1.0, 0.0, 0.0, 1.0, 0.0]


def test_empty_think_block_is_no_format_here_and_trl_rule_is_a_dotted_path():
    """Decided: ponder's `format` refuses `<think></think>answer` (it pays for not thinking); TRL's
    think_format_reward accepts it and is reachable by its dotted path."""
    texts = [conv("<think></think>\nanswer"), conv("<think>\nsteps\n</think>\nanswer")]
    assert get_reward("format")(texts) == [0.0, 1.0]
    assert get_reward("trl.rewards.think_format_reward")(texts) == [1.0, 1.0]


@pytest.mark.parametrize(
    "answer",
    ["(10^{10})!", "(9^{9^9})!", "9^{9}!", "((10^10)!)!", "(2^{100})!!", "\\frac{(10^{100})!}{2}", "100000!"],
)
def test_factorials_of_powers_are_refused_without_a_parser(answer):
    start = time.monotonic()
    assert get_reward("accuracy")([answered(answer)], answer=["42"]) == [0.0]
    assert time.monotonic() - start < 0.2, "decided in-process, no worker"


def test_every_pathological_answer_within_the_deadline():
    """Towers a parser must see still end at the per-answer deadline (2 s), once the workers are up."""
    verify_answers([("1", "\\sqrt{x^2}")])  # the pool's start is not an answer's time
    for answer in ["10^{10^{10}}", "2^{2^{100}}", "(3^{3})^{3^{3^{3}}}", "5!", "(2^{3})!"]:
        start = time.monotonic()
        verify_answers([("40320", answer)])
        assert time.monotonic() - start < 2.5, answer
