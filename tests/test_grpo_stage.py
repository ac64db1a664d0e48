"""GRPO for real on CPU: LCPO pulls thinking length toward the budget stated in the prompt, LoRA moves."""

import torch
import trl

from ponder.recipes.runner import run_recipe
from ponder.recipes.schema import load_recipe

LCPO = """
name: lcpo
model: {name_or_path: "tiny:micro"}
stages:
  - name: data
    kind: task_data
    tasks: [running_sum]
    size: 256
  - name: distill
    kind: sft
    data: data
    lora: null
    trainer: {max_steps: 60, per_device_train_batch_size: 32, learning_rate: 5.0e-3, logging_steps: 20, save_steps: 1000}
  - name: rl
    kind: grpo
    init: distill
    tasks: [running_sum]
    size: 256
    lora: {r: 8, alpha: 16}
    rewards: []
    lcpo: {budget_range: [2, 4], mode: exact, alpha: 0.05}
    trainer: {max_steps: 30, per_device_train_batch_size: 16, num_generations: 8, max_completion_length: 48,
              learning_rate: 1.0e-2, logging_steps: 1, log_completions: false}
"""


def test_lcpo_moves_thinking_length_toward_the_stated_budget(write_recipe, tmp_path, monkeypatch):
    snapshots = {}
    real_train = trl.GRPOTrainer.train

    def spy_train(self, *args, **kwargs):  # records LoRA weights around the real training loop
        lora = lambda: {n: p.detach().clone() for n, p in self.model.named_parameters() if "lora_" in n}  # noqa: E731
        snapshots["before"] = lora()
        out = real_train(self, *args, **kwargs)
        snapshots["after"] = lora()
        return out

    monkeypatch.setattr(trl.GRPOTrainer, "train", spy_train)
    m = run_recipe(load_recipe(write_recipe(LCPO)))["rl"]["metrics"]
    target = 3.0
    assert m["thinking_tokens_first"] > 4 and abs(m["thinking_tokens_last"] - target) < abs(m["thinking_tokens_first"] - target)
    assert m["lcpo_last"] > m["lcpo_first"]
    before, after = snapshots["before"], snapshots["after"]
    assert before and all(not torch.equal(before[n], after[n]) for n in before if "lora_B" in n)
    card = (tmp_path / "runs/lcpo/rl/checkpoint/README.md").read_text()
    assert "Think for N tokens." in card
    from transformers import GenerationConfig

    assert GenerationConfig.from_pretrained(tmp_path / "runs/lcpo/rl/checkpoint").thinking["budget_prompt"] == "Think for {n} tokens."
