"""DAPO's dynamic sampling and honest group statistics on real GRPO runs (TRL's GRPOTrainer, tiny model, CPU)."""

import json

import torch

from ponder.recipes.runner import run_recipe
from ponder.recipes.schema import load_recipe
from ponder.trainers import grpo as grpo_trainer
from ponder.trainers.grpo import assemble, groups_with_signal

RECIPE = """
name: ds
model: {name_or_path: "tiny:micro"}
stages:
  - name: rl
    kind: grpo
    tasks: [running_sum]
    size: 64
    lora: null
    rewards: [{name: signal_rewards.constant_on_even_answers}]
    dynamic_sampling: {max_draws: 4}
    trainer: {max_steps: 3, per_device_train_batch_size: 16, num_generations: 4, max_completion_length: 8,
              learning_rate: 1.0e-3, temperature: 1.0, logging_steps: 1, log_completions: false, save_steps: 1000}
"""


def test_float_noise_and_unscorable_rows_are_no_signal():
    rewards = torch.tensor([1.2, 1.2 + 1.2e-7, 0.2, 1.2, 1.0, float("nan"), float("nan"), float("nan")])
    assert groups_with_signal(rewards, 2, 1e-4 * 1.2).tolist() == [False, True, False, False]
    assert groups_with_signal(torch.tensor([0.0, 0.003, 0.5, 0.5]), 2, 1e-4).tolist() == [True, False]


def test_rounds_are_merged_signal_first_and_repadded():
    def round_(width, completion, advantages):
        rows = len(advantages)
        return {
            "prompt_ids": torch.arange(rows * width).view(rows, width),
            "prompt_mask": torch.ones(rows, width, dtype=torch.long),
            "completion_ids": torch.full((rows, completion), 7),
            "completion_mask": torch.ones(rows, completion, dtype=torch.long),
            "advantages": torch.tensor(advantages),
            "num_items_in_batch": torch.tensor(rows * completion),
        }

    first = (round_(3, 2, [0.0, 0.0, 1.0, -1.0]), torch.tensor([False, True]))
    second = (round_(5, 4, [0.5, -0.5, 0.0, 0.0]), torch.tensor([True, False]))
    batch, kept = assemble([first, second], needed=2, group=2, pad_token_id=0)
    assert kept == 2 and batch["advantages"].tolist() == [1.0, -1.0, 0.5, -0.5]
    assert batch["prompt_ids"].shape == (4, 5) and batch["prompt_ids"][0].tolist() == [0, 0, 6, 7, 8]  # left pad
    assert batch["prompt_mask"][0].tolist() == [0, 0, 1, 1, 1]
    assert batch["completion_ids"][0].tolist() == [7, 7, 0, 0] and batch["completion_mask"][0].tolist() == [1, 1, 0, 0]
    short, kept = assemble([first], needed=2, group=2, pad_token_id=0)  # too few: the rest fill, in order
    assert kept == 1 and short is first[0]


def spy_loss_batches(monkeypatch):
    """Every batch `compute_loss` receives (before rows without advantage are skipped)."""
    seen = []
    real = grpo_trainer.keep_rows
    monkeypatch.setattr(grpo_trainer, "keep_rows", lambda inputs: seen.append(inputs) or real(inputs))
    return seen


def test_groups_without_signal_never_reach_the_loss_and_the_batch_holds(write_recipe, tmp_path, monkeypatch):
    """A reward constant on the prompts with an even answer: with dynamic sampling, no such prompt's completion
    reaches the loss with an advantage; every step has its 16 rows and the run its 3 steps."""
    from ponder.data.tasks import task_rows

    seen = spy_loss_batches(monkeypatch)
    m = run_recipe(load_recipe(write_recipe(RECIPE)))["rl"]["metrics"]
    even = {r["prompt"] for r in task_rows(["running_sum"], 64, 1) if int(r["answer"]) % 2 == 0}
    assert 0 < len(even) < 64
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "runs/ds/rl/checkpoint")
    assert len(seen) == 3 and all(len(batch["advantages"]) == 16 for batch in seen)
    trained = [
        tokenizer.decode(ids[mask.bool()])
        for batch in seen
        for ids, mask, a in zip(batch["prompt_ids"], batch["prompt_mask"], batch["advantages"])
        if a != 0
    ]
    assert trained and not [t for t in trained if any(q in t for q in even)]
    history = json.loads((tmp_path / "runs/ds/rl/log_history.json").read_text())
    steps = [h for h in history if "dynamic_sampling/groups_drawn" in h]
    assert len(steps) == 3 and all(h["dynamic_sampling/groups_drawn"] > 4 for h in steps)  # even groups replaced
    assert m["global_step"] == 3 and m["groups_drawn"] == sum(h["dynamic_sampling/groups_drawn"] for h in steps)
    assert 0 < m["groups_drawn_with_signal"] < m["groups_drawn"] and m["verifier_timeouts"] == 0
    assert m["groups_with_signal"] > m["groups_drawn_with_signal"] / m["groups_drawn"]  # the batches were enriched


def test_the_draw_cap_holds_when_no_group_has_signal(write_recipe, tmp_path, monkeypatch):
    """Every group constant: each step takes exactly max_draws generation rounds, then trains on nothing (zero
    advantages), logging no signal; the step count holds."""
    from ponder.inference import rollout as engine

    calls = []
    original = engine.rollout
    monkeypatch.setattr(engine, "rollout", lambda *a, **k: calls.append(len(a[1])) or original(*a, **k))
    seen = spy_loss_batches(monkeypatch)
    overrides = [
        "stages.rl.rewards=[{name: signal_rewards.constant}, {name: signal_rewards.constant, weight: 0.2}]",
        "stages.rl.dynamic_sampling.max_draws=3",
        "stages.rl.trainer.max_steps=2",
    ]
    m = run_recipe(load_recipe(write_recipe(RECIPE), overrides))["rl"]["metrics"]
    assert calls == [16] * 6  # 2 steps x 3 rounds of 4 groups x 4
    assert all(len(batch["advantages"]) == 16 and not batch["advantages"].any() for batch in seen)
    assert m["global_step"] == 2 and m["groups_drawn"] == 24 and m["groups_drawn_with_signal"] == 0
    assert m["groups_with_signal"] == 0.0 and m["steps_with_signal"] == 0.0


def test_a_completion_without_a_verdict_is_left_out_not_scored_wrong(write_recipe, tmp_path, monkeypatch):
    """A reward's nan (the verifier had no verdict in time) takes the completion out of its group: advantage 0,
    counted as a verifier timeout; were it scored like a wrong answer (TRL's nansum with the weight-0.2 reward),
    it would get a negative advantage."""
    seen = spy_loss_batches(monkeypatch)
    overrides = [
        "stages.rl.rewards=[{name: signal_rewards.no_verdict_on_thirds},"
        " {name: signal_rewards.constant, weight: 0.2}]",
        "stages.rl.dynamic_sampling=null",
        "stages.rl.trainer.max_steps=2",
    ]
    m = run_recipe(load_recipe(write_recipe(RECIPE), overrides))["rl"]["metrics"]
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "runs/ds/rl/checkpoint")
    rows = [
        (len(tokenizer.decode(ids[mask.bool()], skip_special_tokens=True)), float(a))
        for batch in seen
        for ids, mask, a in zip(batch["completion_ids"], batch["completion_mask"], batch["advantages"])
    ]
    unverified = [a for n, a in rows if n % 3 == 0]
    assert unverified and all(a == 0.0 for a in unverified) and any(a != 0 for n, a in rows if n % 3)
    assert m["verifier_timeouts"] == len(unverified)


def test_prompts_known_to_lack_signal_are_skipped_before_generation(write_recipe, tmp_path, monkeypatch):
    """`skip_known: 1.0` (GRESO's pre-rollout filtering): once a prompt's group has had no signal, the prompt is never
    generated again (a fresh one takes its place, in the step's own batch and in the draws); every step still trains
    16 rows, and the skips are logged per step and in result.json."""
    rounds = []  # per generation round: [(prompt, had signal)] per group
    real = grpo_trainer.PonderGRPOTrainer._scored_round

    def spy(self, inputs):
        batch, signal = real(self, inputs)
        group = self.num_generations
        rounds.append([(inputs[g * group]["prompt"], has) for g, has in enumerate(signal.tolist())])
        return batch, signal

    monkeypatch.setattr(grpo_trainer.PonderGRPOTrainer, "_scored_round", spy)
    seen = spy_loss_batches(monkeypatch)
    overrides = ["stages.rl.size=16", "stages.rl.dynamic_sampling.skip_known=1.0"]
    m = run_recipe(load_recipe(write_recipe(RECIPE), overrides))["rl"]["metrics"]
    known = set()
    for groups in rounds:
        assert not known & {prompt for prompt, _ in groups}, "a prompt known to lack signal was generated again"
        known |= {prompt for prompt, has in groups if not has}
        known -= {prompt for prompt, has in groups if has}
    assert known
    assert len(seen) == 3 and all(len(batch["advantages"]) == 16 for batch in seen)
    history = json.loads((tmp_path / "runs/ds/rl/log_history.json").read_text())
    skipped = [h["dynamic_sampling/prompts_skipped"] for h in history if "dynamic_sampling/prompts_skipped" in h]
    assert len(skipped) == 3 and m["prompts_skipped"] == sum(skipped) > 0


def test_two_updates_per_rollout_batch_train_against_the_generating_policy(write_recipe, tmp_path, monkeypatch):
    """`steps_per_generation: 2` with clip-higher, as docs/recipes.md's DAPO block: one generation of 32 rows (with
    its dynamic-sampling rounds) feeds two optimizer steps of 16, each batch carrying the log-probs computed when it
    was generated (without them TRL would take the current ones as old: every ratio 1, nothing for the clip)."""
    seen = spy_loss_batches(monkeypatch)
    overrides = ["stages.rl.trainer.steps_per_generation=2", "stages.rl.trainer.epsilon_high=0.28"]
    m = run_recipe(load_recipe(write_recipe(RECIPE), overrides))["rl"]["metrics"]
    assert m["global_step"] == 3 and len(seen) == 3 and all(len(batch["advantages"]) == 16 for batch in seen)
    assert all(batch.get("old_per_token_logps") is not None for batch in seen)
    history = json.loads((tmp_path / "runs/ds/rl/log_history.json").read_text())
    drawn = [h["dynamic_sampling/groups_drawn"] for h in history if "dynamic_sampling/groups_drawn" in h]
    assert len(drawn) == 2 and all(d > 8 for d in drawn)  # two generations (steps 1 and 3), even groups replaced
