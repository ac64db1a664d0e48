"""GRPO reward plumbing: errors name the reward and completion, all-None warns once, validate checks batches."""

import pytest
from conftest import SFT_RECIPE

from ponder.recipes.schema import RecipeError, load_recipe
from ponder.trainers.rewards import RewardError, build_rewards, guarded


def test_raising_reward_names_itself_and_the_completion():
    def picky(prompts, completions, **kwargs):
        return [1.0 / (len(c) - 5) for c in completions]  # ZeroDivisionError on a 5-character completion

    reward = guarded(picky, "picky")
    with pytest.raises(RewardError, match=r"reward 'picky' raised ZeroDivisionError.*completion 1: 'abcde'"):
        reward(prompts=["p", "p"], completions=["long enough", "abcde"], completion_ids=[[1], [2]])


def test_all_none_reward_warns_once_and_passes_none_through():
    reward = guarded(lambda prompts, completions, **kw: [None] * len(completions), "absent")
    with pytest.warns(UserWarning, match="'absent' returned None for every completion"):
        assert reward(prompts=["p"], completions=["c"]) == [None]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reward(prompts=["p"], completions=["c"])  # no second warning


def test_metric_rewards_are_weight_zero_and_inapplicable_rows_are_none():
    """None (not 0.0) where a row has no gold answer: TRL turns None into NaN and leaves it out of the sum."""
    functions, weights = build_rewards([], think_end_id=5)
    assert [f.__name__ for f in functions] == ["accuracy", "thinking_tokens"] and weights == [0.0, 0.0]
    with pytest.warns(UserWarning, match="'accuracy' returned None"):
        acc = functions[0](prompts=["p"] * 2, completions=["x</think>1", "x</think>2"], completion_ids=[[1], [2]])
    assert acc == [None, None]
    assert functions[1](completions=["ab</think>c"], completion_ids=[[1, 2, 5, 3]]) == [2.0]


GRPO = (
    SFT_RECIPE
    + """
  - name: rl
    kind: grpo
    init: distill
    tasks: [running_sum]
    rewards: [{name: accuracy}, {name: cosine, weight: 0.5, params: {max_len: 64}}]
    trainer: {per_device_train_batch_size: 6, num_generations: 4}
"""
)


def test_validate_explains_batch_not_divisible_by_generations(write_recipe):
    with pytest.raises(RecipeError) as info:
        load_recipe(write_recipe(GRPO))
    message = str(info.value)
    assert "stages.rl.trainer" in message and "generation batch 6" in message and "num_generations 4" in message


@pytest.mark.parametrize("knob", ["epsilon_high", "epsilon", "delta"])
def test_validate_refuses_a_clip_bound_that_never_acts(write_recipe, knob):
    """With one optimizer step per rollout batch TRL never computes old log-probs: every ratio is 1, no clip acts.
    TRL's test is whether steps_per_generation x num_iterations divides gradient_accumulation_steps."""
    trainer = "stages.rl.trainer."
    value = [f"{trainer}per_device_train_batch_size=8", f"{trainer}{knob}=1.28"]
    inert = {  # settings -> the fix the message names
        (): "steps_per_generation: 2 (or num_iterations: 2)",
        ("gradient_accumulation_steps=4", "steps_per_generation=2"): "steps_per_generation: 8, or",
        ("gradient_accumulation_steps=4", "steps_per_generation=2", "num_iterations=2"): "8 (or num_iterations: 4)",
        ("gradient_accumulation_steps=2", "generation_batch_size=16"): "generation_batch_size: 32 (or num_iterations",
    }
    for settings, fix in inert.items():
        with pytest.raises(RecipeError) as info:
            load_recipe(write_recipe(GRPO), [*value, *(trainer + s for s in settings)])
        message = str(info.value)
        assert f"{trainer}{knob}" in message and "every importance ratio is 1" in message and fix in message, message
    acting = [
        ("steps_per_generation=2",),
        ("num_iterations=2",),
        ("generation_batch_size=16",),
        ("gradient_accumulation_steps=3", "steps_per_generation=2"),  # 2 does not divide 3: old log-probs computed
        ("loss_type=cispo",),  # cispo caps the ratio at epsilon_high itself, which acts at ratio 1
    ]
    for settings in acting:
        recipe = load_recipe(write_recipe(GRPO), [*value, *(trainer + s for s in settings)])
        assert recipe.stage("rl").trainer[knob] == 1.28


def test_validate_refuses_what_trl_refuses_of_the_generation_batch(write_recipe):
    batch8 = "stages.rl.trainer.per_device_train_batch_size=8"
    with pytest.raises(RecipeError, match="stages.rl.trainer.steps_per_generation.*not both"):
        load_recipe(
            write_recipe(GRPO),
            [batch8, "stages.rl.trainer.steps_per_generation=2", "stages.rl.trainer.generation_batch_size=16"],
        )
    with pytest.raises(RecipeError, match="stages.rl.trainer.generation_batch_size.*not a multiple"):
        load_recipe(write_recipe(GRPO), [batch8, "stages.rl.trainer.generation_batch_size=12"])


def test_validate_rejects_unknown_reward_and_bad_params(write_recipe):
    batch8 = "stages.rl.trainer.per_device_train_batch_size=8"
    with pytest.raises(RecipeError, match="unknown reward 'acuracy'"):
        load_recipe(write_recipe(GRPO), [batch8, "stages.rl.rewards=[{name: acuracy}]"])
    with pytest.raises(RecipeError, match="max_lenn"):
        load_recipe(write_recipe(GRPO), [batch8, "stages.rl.rewards=[{name: cosine, params: {max_lenn: 64}}]"])
    recipe = load_recipe(write_recipe(GRPO), [batch8])
    assert recipe.stage("rl").options.rewards[1].params == {"max_len": 64}


def test_dynamic_sampling_counts_the_rollout_batch_generation_batch_size_sets(write_recipe):
    """generation_batch_size 12 over micro-batches of 6 is a rollout batch of 12 = 3 whole groups of 4, so dynamic
    sampling can drop and replace them; a batch of 6 per micro-batch alone would split a group."""
    rl = "stages.rl."
    base = [f"{rl}trainer.per_device_train_batch_size=6", f"{rl}dynamic_sampling={{max_draws: 2}}"]
    assert load_recipe(write_recipe(GRPO), [*base, f"{rl}trainer.generation_batch_size=12"]).stage("rl")
    with pytest.raises(RecipeError, match="stages.rl.trainer"):
        load_recipe(write_recipe(GRPO), base)  # a rollout batch of 6: not whole groups of 4
