"""The sft stage under real DeepSpeed (ZeRO-2 and ZeRO-3), 2 CPU processes via torchrun + gloo.

The default suite keeps ZeRO-3 (the partitioned one); ZeRO-2 and GRPO under DeepSpeed are `slow`
(multi-process, 15-45 s each on 2 cores): `python -m pytest -m slow`."""

import json
import socket

import pytest
from transformers import AutoModelForCausalLM, GenerationConfig

from ponder.recipes.launch import launch_command
from ponder.recipes.runner import run_recipe
from ponder.recipes.schema import LauncherSettings, load_recipe

DEFAULT_PORT = 29500  # torchrun's and accelerate's rendezvous port when none is given


@pytest.fixture
def default_port_taken():
    """Another multi-process run on this machine holds the default port (on the GPU check, the second of two
    DeepSpeed stages failed with EADDRINUSE on it)."""
    with socket.socket() as held:
        try:
            held.bind(("", DEFAULT_PORT))
            held.listen()
        except OSError:
            pass  # someone else holds it already: the same condition
        yield


RECIPE = """
name: ds
model: {{name_or_path: "tiny:micro"}}
stages:
  - name: data
    kind: task_data
    size: 64
  - name: distill
    kind: sft
    data: data
    lora: {{r: 8, alpha: 16}}
    launcher: {{type: torchrun, num_processes: 2, deepspeed: {zero}}}
    trainer: {{max_steps: 4, per_device_train_batch_size: 4, learning_rate: 5.0e-3, logging_steps: 1}}
"""


@pytest.mark.parametrize("zero", [pytest.param("zero2", marks=pytest.mark.slow), "zero3"])
def test_sft_under_deepspeed_two_processes(write_recipe, tmp_path, zero, monkeypatch, default_port_taken):
    monkeypatch.chdir(tmp_path)
    results = run_recipe(load_recipe(write_recipe(RECIPE.format(zero=zero))))
    metrics = results["distill"]["metrics"]
    # 4 steps x 4 rows x 2 processes = 32 of 64 rows: half an epoch proves both ranks trained.
    assert metrics["global_step"] == 4 and metrics["epoch"] == pytest.approx(0.5)
    stage = tmp_path / "runs" / "ds" / "distill"
    assert json.loads((stage / "result.json").read_text())["status"] == "finished"
    AutoModelForCausalLM.from_pretrained(stage / "checkpoint")
    assert GenerationConfig.from_pretrained(stage / "checkpoint").thinking["think_end"] == "</think>"
    assert (stage / "adapter" / "adapter_config.json").exists()


GRPO_RECIPE = """
name: dsrl
model: {name_or_path: "tiny:micro"}
stages:
  - name: rl
    kind: grpo
    tasks: [running_sum]
    size: 32
    lora: {r: 8, alpha: 16}
    launcher: {type: torchrun, num_processes: 2, deepspeed: zero2}
    trainer: {max_steps: 3, per_device_train_batch_size: 4, num_generations: 4, max_completion_length: 16,
              log_completions: false, learning_rate: 1.0e-3}
"""


@pytest.mark.slow
def test_grpo_under_deepspeed_zero2_two_processes(write_recipe, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    metrics = run_recipe(load_recipe(write_recipe(GRPO_RECIPE)))["rl"]["metrics"]
    assert metrics["global_step"] == 3 and "accuracy_first" in metrics
    assert (tmp_path / "runs" / "dsrl" / "rl" / "checkpoint" / "model.safetensors").exists()


@pytest.mark.parametrize("kind", ["torchrun", "accelerate"])
def test_one_machine_launch_takes_a_free_port_and_multi_node_flags_are_left_alone(tmp_path, kind, default_port_taken):
    flag = "--master_port=" if kind == "torchrun" else "--main_process_port"
    command = launch_command(LauncherSettings(type=kind, num_processes=2), tmp_path / "spec.json")
    port = next(int(a.split("=")[1]) if "=" in a else int(command[i + 1]) for i, a in enumerate(command) if flag in a)
    assert port != DEFAULT_PORT
    with socket.socket() as probe:
        probe.bind(("", port))  # free when chosen
    multi_node = ["--nnodes=2", "--master_port=29400"] if kind == "torchrun" else ["--main_process_port", "29400"]
    launcher = LauncherSettings(type=kind, num_processes=2, extra_args=multi_node)
    command = launch_command(launcher, tmp_path / "spec.json")
    assert sum(flag in a for a in command) == 1 and "29400" in " ".join(command)
