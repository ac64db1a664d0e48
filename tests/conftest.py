import os
import textwrap
from pathlib import Path

import pytest

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture
def write_recipe(tmp_path):
    """Write a recipe YAML into tmp_path (output_dir pointed there too) and return its path."""

    def write(text: str, name: str = "recipe.yaml") -> Path:
        body = textwrap.dedent(text)
        if "output_dir:" not in body:
            body = f"output_dir: {tmp_path / 'runs'}\n" + body
        path = tmp_path / name
        path.write_text(body)
        return path

    return write


SFT_RECIPE = """
name: t
model: {name_or_path: "tiny:micro"}
stages:
  - name: data
    kind: task_data
    tasks: [running_sum]
    size: 96
    difficulty: {running_sum: [3, 4]}
  - name: distill
    kind: sft
    data: data
    lora: {r: 8, alpha: 16}
    trainer: {max_steps: 12, per_device_train_batch_size: 8, learning_rate: 5.0e-3, logging_steps: 2, save_steps: 6}
"""


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A real checkpoint from the sft stage (tiny model, running-sum traces), trained once per session."""
    from ponder.recipes.runner import run_recipe
    from ponder.recipes.schema import load_recipe

    root = tmp_path_factory.mktemp("tiny_ckpt")
    path = root / "recipe.yaml"
    path.write_text(f"output_dir: {root / 'runs'}\n" + textwrap.dedent(SFT_RECIPE))
    run_recipe(load_recipe(path, ["stages.distill.lora=null", "stages.distill.trainer.max_steps=60"]))
    return root / "runs" / "t" / "distill" / "checkpoint"
