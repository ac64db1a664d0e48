import os
import sys
import textwrap
import types
from pathlib import Path

import pytest

from ponder.numerics import AVX2_EMULATION

NUMERICS = os.environ.get("PONDER_NUMERICS", "default")
if NUMERICS == "fp32_avx2":  # the suite as a CPU without native bf16 runs it (README's test command, second pass)
    if "torch" in sys.modules:
        raise RuntimeError("PONDER_NUMERICS=fp32_avx2 must act before torch is imported: set AVX2_EMULATION's vars")
    os.environ.update(AVX2_EMULATION)
elif NUMERICS != "default":
    raise ValueError(f"PONDER_NUMERICS={NUMERICS!r}: use default or fp32_avx2")
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


@pytest.fixture
def extras_installed(monkeypatch):
    """`extras_installed(False)` hides every optional package from validate's find_spec, `(True)` shows them all."""
    from ponder.recipes import fieldtypes

    real, extras = fieldtypes.find_spec, {m for modules, _ in fieldtypes.EXTRAS.values() for m in modules}

    def pretend(present: bool):
        def find_spec(name):
            if name not in extras:
                return real(name)
            return types.SimpleNamespace(name=name) if present else None

        monkeypatch.setattr(fieldtypes, "find_spec", find_spec)

    return pretend


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
