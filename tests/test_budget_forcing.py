"""Budget forcing: exact counts on a scripted model, then the same budgets on a real sft checkpoint."""

import pytest
import torch
from scripted_model import scripted

from ponder.inference.generation import generate
from ponder.models.chat import build_char_tokenizer
from ponder.models.thinking import ThinkingConfig

THINKING = ThinkingConfig()


@pytest.fixture(scope="module")
def tokenizer():
    return build_char_tokenizer(THINKING)


MESSAGES = [{"role": "user", "content": "q"}]


def think_end_count(tokenizer, generation):
    return tokenizer(generation.text, add_special_tokens=False)["input_ids"].count(
        tokenizer.convert_tokens_to_ids("</think>")
    )


@pytest.mark.parametrize("budget", [0, 1, 16, 64])
def test_max_budget_is_exact(tokenizer, budget):
    k = 20
    (g,) = generate(scripted(tokenizer, k), tokenizer, MESSAGES, max_thinking_tokens=budget, max_new_tokens=120)
    assert g.thinking_tokens == min(budget, k)
    assert think_end_count(tokenizer, g) == 1
    assert g.answer and g.forced_stop == (budget < k)
    if budget < k:
        assert g.answer.startswith("Final Answer:")


def test_min_budget_extends_with_wait(tokenizer):
    (g,) = generate(scripted(tokenizer, 5), tokenizer, MESSAGES, min_thinking_tokens=50, max_new_tokens=200)
    assert g.thinking_tokens >= 50 and g.extensions >= 1 and "Wait" in g.reasoning
    assert think_end_count(tokenizer, g) == 1 and g.answer == "42"


def test_mixed_budgets_in_one_batch(tokenizer):
    batch = [MESSAGES, [{"role": "user", "content": "a longer question"}], MESSAGES, MESSAGES]
    out = generate(
        scripted(tokenizer, 10),
        tokenizer,
        batch,
        min_thinking_tokens=[0, 0, 30, 0],
        max_thinking_tokens=[3, None, None, 0],
        max_new_tokens=120,
    )
    assert (
        [g.thinking_tokens for g in out][:2] == [3, 10]
        and out[2].thinking_tokens >= 30
        and out[3].thinking_tokens == 0
    )
    assert [g.forced_stop for g in out] == [True, False, False, True]
    assert all(think_end_count(tokenizer, g) == 1 and g.answer for g in out)


def test_think_generated_by_the_model_not_prefilled(tokenizer):
    """A template without the prefill: the model opens <think> itself and the budget still holds."""
    plain = build_char_tokenizer(THINKING)
    plain.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    (g,) = generate(scripted(plain, 12), plain, MESSAGES, max_thinking_tokens=7, max_new_tokens=80)
    assert g.text.startswith("<think>") and g.thinking_tokens == 7 and g.forced_stop
    (g,) = generate(scripted(plain, 12), plain, MESSAGES, min_thinking_tokens=20, max_new_tokens=120)
    assert g.thinking_tokens >= 20 and g.extensions >= 1


def test_sampling_respects_budgets(tokenizer):
    torch.manual_seed(0)
    out = generate(
        scripted(tokenizer, 8),
        tokenizer,
        [MESSAGES] * 3,
        max_thinking_tokens=4,
        do_sample=True,
        temperature=1.0,
        max_new_tokens=60,
    )
    assert all(g.thinking_tokens == 4 for g in out)


def test_bad_budgets_are_rejected(tokenizer):
    with pytest.raises(ValueError, match="min"):
        generate(scripted(tokenizer, 3), tokenizer, MESSAGES, min_thinking_tokens=10, max_thinking_tokens=5)
    with pytest.raises(ValueError):
        generate(scripted(tokenizer, 3), tokenizer, MESSAGES, max_thinking_tokens=-1)


def test_real_sft_checkpoint_obeys_budgets(tiny_checkpoint):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_checkpoint)
    tok = AutoTokenizer.from_pretrained(tiny_checkpoint)
    questions = [[{"role": "user", "content": f"sum {d}_____"}] for d in ("123", "905", "4417")]
    for budget in (0, 3, 8):
        for g in generate(model, tok, questions, max_thinking_tokens=budget, max_new_tokens=40):
            assert g.thinking_tokens <= budget
            if g.forced_stop:
                assert g.thinking_tokens == budget and think_end_count(tok, g) == 1
                assert g.answer.startswith("Final Answer:")
    for g in generate(model, tok, questions, min_thinking_tokens=40, max_new_tokens=120):
        assert g.thinking_tokens >= 40 or think_end_count(tok, g) == 0  # cut by max_new_tokens only


# s1 (simplescaling/s1, README "Budget forcing" and its eval harness): thinking stops at the max budget, the
# end of thinking is ignored N times by appending "Wait", and after any stop that is not the length limit the
# harness closes thinking and asks for the answer.


def extension_length(tokenizer) -> int:
    return len(tokenizer(f"\n{THINKING.extension}", add_special_tokens=False)["input_ids"])


@pytest.mark.parametrize("lo, hi", [(12, 12), (3, 4), (2, 3), (7, 8)])
def test_a_wait_that_would_cross_the_max_is_cut(tokenizer, lo, hi):
    """A model that always wants to stop at once: "Wait"s (5 tokens each here) are forced until the min, and the
    one that would cross the max is cut there (before the fix, min 12 / max 12 thought 15 tokens)."""
    width = extension_length(tokenizer)
    assert hi - lo < width and lo % width  # the last "Wait" starts below the min and would end above the max
    (g,) = generate(scripted(tokenizer, 0), tokenizer, MESSAGES, min_thinking_tokens=lo, max_thinking_tokens=hi)
    assert g.thinking_tokens == hi and g.forced_stop and think_end_count(tokenizer, g) == 1
    assert g.answer.startswith("Final Answer:")


def test_budget_grid_on_random_scripted_models(tokenizer):
    """Property: for every (min, max, N ignored stops) and random models, min <= thinking <= max, one </think>."""
    width = extension_length(tokenizer)
    grid = [(lo, hi, n) for hi in (0, 1, 3, 7, 12, 20) for lo in {0, hi // 2, max(hi - 1, 0), hi} for n in (0, 1, 3)]
    assert any(0 < hi - lo < width for lo, hi, _ in grid) and any(lo == hi > 0 for lo, hi, _ in grid)
    for seed in range(4):
        model = scripted(tokenizer, 0, chaos_seed=seed, p_stop=0.25)
        batch = [MESSAGES] * len(grid)
        out = generate(
            model,
            tokenizer,
            batch,
            min_thinking_tokens=[lo for lo, _, _ in grid],
            max_thinking_tokens=[hi for _, hi, _ in grid],
            ignore_stops=[n for _, _, n in grid],
            max_new_tokens=40,
        )
        for (lo, hi, n), g in zip(grid, out):
            assert lo <= g.thinking_tokens <= hi, (seed, lo, hi, n, g.text)
            assert think_end_count(tokenizer, g) == 1 and g.answer, (seed, lo, hi, n, g.text)


def test_thinking_that_ends_with_eos_is_closed_and_answered(tokenizer):
    (g,) = generate(scripted(tokenizer, 4, stop_with_eos=True), tokenizer, MESSAGES, max_new_tokens=40)
    assert g.thinking_tokens == 4 and think_end_count(tokenizer, g) == 1 and g.answer == "42"
    assert not g.forced_stop  # the model chose to stop; no budget was hit


@pytest.mark.parametrize("n", [1, 2, 4])
def test_ignore_the_end_of_thinking_n_times(tokenizer, n):
    k = 5
    (g,) = generate(scripted(tokenizer, k), tokenizer, MESSAGES, ignore_stops=n, max_new_tokens=120)
    assert g.extensions == n and g.reasoning.count(THINKING.extension) == n and not g.forced_stop
    assert g.thinking_tokens == k + n * extension_length(tokenizer) and g.answer == "42"
    (cut,) = generate(scripted(tokenizer, k), tokenizer, MESSAGES, ignore_stops=n, max_thinking_tokens=k + 1)
    assert cut.thinking_tokens == k + 1 and cut.forced_stop  # the max budget still wins
