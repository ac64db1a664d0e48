"""Mistakes `ponder validate` and `ponder run` refuse in one line naming the key, before any model loads: one case
per kind of mistake (test_validate_types.py covers every TRL choice and missing extra)."""

import shutil
import sys
import types
from pathlib import Path

import pytest
from huggingface_hub import constants

from ponder.recipes.cli import main
from ponder.recipes.schema import RecipeError, load_recipe

REASONER = Path(__file__).resolve().parents[1] / "configs/tiny/reasoner.yaml"

# (override, the key the refusal names, what the one line must say); {tmp} is the test's folder.
MISTAKES = [
    ("nosuch=1", "nosuch", "unknown key"),
    ("seed=abc", "seed", "is not an integer"),
    ("report_to=wandbb", "report_to", "is not one of"),
    ("model.name_or_path=org/not-cached", "model.name_or_path", "HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE)"),
    ("model.name_or_path=./nowhere", "model.name_or_path", "no model at"),
    ("model.name_or_path=not a hub id", "model.name_or_path", "hub id (org/name)"),
    ("model.name_or_path=pypi:nosuchpkg/x.gguf", "model.name_or_path", "nosuchpkg"),
    ("stages.grpo.kind=gpro", "stages.grpo.kind", "did you mean 'grpo'"),
    ("stages.grpo.nosuch=1", "stages.grpo.nosuch", "unknown key"),
    ("stages.grpo.size=abc", "stages.grpo.size", "'abc' is not an integer"),
    ("stages.grpo.tasks=[runing_sum]", "stages.grpo.tasks[0]", "did you mean 'running_sum'"),
    ("stages.curate.tasks=[nosuchtask]", "stages.curate.tasks[0]", "built-in tasks"),
    ("stages.eval_base.tasks=[rg:nosuch]", "stages.eval_base.tasks[0]", "reasoning-gym has no dataset 'nosuch'"),
    ("stages.eval_base.tasks=[rg:chain_summ]", "stages.eval_base.tasks[0]", "did you mean 'rg:chain_sum'"),
    ("stages.curate.decontaminate=[{task: nosuch}]", "stages.curate.decontaminate[0].task", "unknown task"),
    ("stages.grpo.difficulty={running_summ: [3, 4]}", "stages.grpo", "not among this stage's tasks"),
    ("stages.eval_grpo.init=eval_base", "stages.eval_grpo.init", "produces no model"),
    ("stages.grpo.init=distil", "stages.grpo.init", "did you mean 'distill'"),
    ("stages.grpo.init=/no/such/checkpoint", "stages.grpo.init", "no model at /no/such/checkpoint"),
    ("stages.distill.data=curat", "stages.distill.data", "not an earlier stage"),
    ("stages.eval_grpo.data=eval_base", "stages.eval_grpo.data", "produces no dataset"),
    ("stages.distill.data={path: nosuch.jsonl}", "stages.distill.data.path", "file not found"),
    ("stages.distill.data={path: {tmp}/q.jsonl}", "stages.distill.data.path", "columns: {prompt: <column>}"),
    ("stages.distill.data={path: {tmp}/q.jsonl, columns: {prompt: q}}", "stages.distill.data.columns.prompt", "'q'"),
    ("stages.distill.trainer.max_stepps=5", "stages.distill.trainer.max_stepps", "did you mean 'max_steps'"),
    ("stages.distill.trainer.output_dir=x", "stages.distill.trainer.output_dir", "set by ponder"),
    ("stages.grpo.trainer.loss_type=dapoo", "stages.grpo.trainer.loss_type", "did you mean 'dapo'"),
    ("stages.grpo.dynamic_sampling={skip_known: 1.5}", "stages.grpo.dynamic_sampling", "skip_known=1.5"),
    ("stages.eval_base.trainer={max_steps: 1}", "stages.eval_base.trainer", "trains nothing"),
    ("stages.grpo.launcher={type: mpi}", "stages.grpo.launcher", "choose single, torchrun or accelerate"),
    ("stages.eval_base.launcher={type: torchrun, num_processes: 2}", "stages.eval_base.launcher", "trains nothing"),
]


def runner_not_reached(*args, **kwargs):
    pytest.fail("ponder run got past validation")


@pytest.mark.parametrize("override,key,says", MISTAKES, ids=[m[0] for m in MISTAKES])
def test_mistake_is_one_line_from_validate_and_run(override, key, says, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # read from the environment when huggingface_hub loads
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))  # an empty cache: no hub model is there
    (tmp_path / "q.jsonl").write_text('{"question": "1 + 1", "answer": "2"}\n')
    override = override.replace("{tmp}", str(tmp_path))
    with pytest.raises(RecipeError) as info:
        load_recipe(REASONER, [override])
    assert info.value.key == key and says in str(info.value), str(info.value)
    monkeypatch.setitem(sys.modules, "ponder.recipes.runner", types.SimpleNamespace(run_recipe=runner_not_reached))
    for argv in (["validate", str(REASONER), "--set", override], ["run", str(REASONER), override]):
        assert main(argv) == 2, argv
        captured = capsys.readouterr()
        assert captured.out == "" and captured.err.splitlines() == [f"ponder: error: {info.value}"], (argv, captured)


def test_recipe_copied_away_from_its_model_names_the_paths_it_looked_for(tmp_path, monkeypatch, capsys):
    copy = tmp_path / "reasoner.yaml"
    shutil.copy(REASONER, copy)
    monkeypatch.setitem(sys.modules, "ponder.recipes.runner", types.SimpleNamespace(run_recipe=runner_not_reached))
    for argv in (["validate", str(copy)], ["run", str(copy)]):
        assert main(argv) == 2, argv
        (line,) = capsys.readouterr().err.splitlines()
        assert "model.name_or_path: no model at" in line and str(tmp_path / "copy-base") in line, line


def test_hub_ids_pass_online_or_cached_and_good_names_pass(tmp_path, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    load_recipe(REASONER, ["model.name_or_path=Qwen/Qwen3-0.6B"])  # online: the hub is asked at run time
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    (tmp_path / "models--Qwen--Qwen3-0.6B").mkdir()
    load_recipe(REASONER, ["model.name_or_path=Qwen/Qwen3-0.6B", "stages.eval_base.tasks=[running_sum, rg:chain_sum]"])
    (tmp_path / "q.jsonl").write_text('{"question": "1 + 1", "answer": "2"}\n')
    load_recipe(REASONER, [f"stages.distill.data={{path: {tmp_path}/q.jsonl, columns: {{prompt: question}}}}"])
