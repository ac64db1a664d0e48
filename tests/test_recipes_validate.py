"""`ponder validate`: every shipped recipe passes; each kind of mistake names the file and the key."""

import json
import re
from pathlib import Path

import huggingface_hub.constants
import pytest
import yaml
from conftest import SFT_RECIPE

from ponder.recipes.cli import main, shipped_recipes
from ponder.recipes.schema import RecipeError, load_recipe


def test_every_shipped_recipe_validates(extras_installed, monkeypatch, capsys):
    """Where their packages are installed and the hub can be reached: the GPU recipes' `use_vllm: true` needs vllm,
    which a CPU machine lacks, and offline their Qwen models must be in the hub cache (tests/test_validate_types.py
    and tests/test_validate_mistakes.py check those refusals)."""
    extras_installed(True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    paths = shipped_recipes()
    assert paths, "no shipped recipes found"
    assert main(["validate", *map(str, paths)]) == 0
    out = capsys.readouterr().out
    assert out.count("ok ") == len(paths)


def test_every_shipped_recipe_starts_with_its_command():
    for path in shipped_recipes():
        first = path.read_text().splitlines()[0]
        assert first.startswith("# ponder run configs/") and path.name in first, f"{path}: {first!r}"


def error_of(path, overrides=()) -> RecipeError:
    with pytest.raises(RecipeError) as info:
        load_recipe(path, list(overrides))
    return info.value


def test_misspelled_key_names_file_key_and_suggestion(write_recipe):
    path = write_recipe(SFT_RECIPE)
    err = error_of(path, ["stages.data.sise=96"])
    assert str(path) in str(err) and err.key == "stages.data.sise" and "did you mean 'size'" in str(err)


def test_unknown_trl_field_is_rejected_by_name(write_recipe):
    err = error_of(write_recipe(SFT_RECIPE), ["stages.distill.trainer.max_stepz=12"])
    assert err.key == "stages.distill.trainer.max_stepz" and "SFTConfig" in str(err) and "max_steps" in str(err)


def test_any_trl_field_passes_through(write_recipe):
    recipe = load_recipe(write_recipe(SFT_RECIPE), ["stages.distill.trainer.neftune_noise_alpha=5"])
    assert recipe.stage("distill").trainer["neftune_noise_alpha"] == 5


def test_reference_to_missing_stage(write_recipe):
    err = error_of(write_recipe(SFT_RECIPE), ["stages.distill.data=dataa"])
    assert err.key == "stages.distill.data" and "'dataa'" in str(err) and "did you mean 'data'" in str(err)


def test_missing_data_file(write_recipe, tmp_path):
    err = error_of(write_recipe(SFT_RECIPE), ["stages.distill.data={path: nowhere.jsonl}"])
    assert err.key == "stages.distill.data.path" and "nowhere.jsonl" in str(err)


def test_unknown_stage_kind_and_bad_launcher(write_recipe):
    assert error_of(write_recipe(SFT_RECIPE), ["stages.distill.kind=sfft"]).key == "stages.distill.kind"
    err = error_of(write_recipe(SFT_RECIPE), ["stages.distill.launcher={type: single, num_processes: 2}"])
    assert err.key == "stages.distill.launcher" and "torchrun" in str(err)


def test_validate_cli_reports_failure(write_recipe, capsys):
    path = write_recipe(SFT_RECIPE)
    assert main(["validate", str(path), "--set", "stages.distill.lora={r: 8, alpah: 16}"]) == 2
    captured = capsys.readouterr()
    assert (
        captured.out == ""
        and captured.err.startswith("ponder: error: ")
        and "stages.distill.lora.alpah" in captured.err
    )


def test_overrides_address_stages_by_name(write_recipe):
    recipe = load_recipe(write_recipe(SFT_RECIPE), ["stages.distill.trainer.max_steps=3", "seed=7"])
    assert recipe.stage("distill").trainer["max_steps"] == 3 and recipe.seed == 7


def test_difficulty_for_a_task_the_stage_does_not_run_is_refused():
    """A misspelt task under `difficulty:` used to be ignored, leaving the task at its default difficulty."""
    recipe = str(Path(__file__).resolve().parents[1] / "configs/smollm2-135m/rg-reasoner.yaml")
    err = error_of(recipe, ['stages.eval_sft.difficulty={"rg:chainsum": {max_digits: 1}}'])
    assert err.key == "stages.eval_sft" and "difficulty names ['rg:chainsum']" in str(err) and recipe in str(err)
    err = error_of(recipe, ['stages.grpo.tasks=["rg:chain_sum"]'])  # the shared difficulty still names leg_counting
    assert (
        err.key == "stages.grpo" and "['rg:leg_counting'], not among this stage's tasks ['rg:chain_sum']" in f"{err}"
    )
    narrowed = ['stages.grpo.tasks=["rg:chain_sum"]', 'stages.grpo.difficulty={"rg:chain_sum": {max_digits: 1}}']
    assert load_recipe(recipe, narrowed).stage("grpo").options.difficulty == {"rg:chain_sum": {"max_digits": 1}}


@pytest.mark.parametrize("path", ["default", "fp32_avx2"])
def test_shipped_1digit_recipe_is_the_measured_variant(path):
    """rg-reasoner-1digit.yaml is rg-reasoner.yaml with the overrides its 3-seed runs recorded (docs/results.md, item
    11): the shipped file and the JSON's figures describe the same stages."""
    root = Path(__file__).resolve().parents[1]
    suffix = "_fp32_avx2" if path == "fp32_avx2" else ""
    runs = json.loads(
        (root / f"bench/results/smollm2_rg_reasoner_1digit_chain_sum_steps{suffix}_seeds.json").read_text()
    )
    measured = load_recipe(root / runs["recipe"], runs["overrides"])
    shipped = load_recipe(root / "configs/smollm2-135m/rg-reasoner-1digit.yaml")
    assert [s.to_dict() for s in shipped.stages] == [s.to_dict() for s in measured.stages]
    assert shipped.shared_dict() == measured.shared_dict()
    assert {r["path"] for r in runs["runs"]} == {path}


def test_docs_dapo_block_validates_as_the_tiny_reasoners_grpo_stage():
    """docs/recipes.md's "DAPO's knobs" block, put in place of configs/tiny/reasoner.yaml's grpo stage, validates."""
    root = Path(__file__).resolve().parents[1]
    section = (root / "docs/recipes.md").read_text().split("### DAPO's knobs\n")[1]
    (stage,) = yaml.safe_load(re.search(r"```yaml\n(.*?)```", section, flags=re.S).group(1))
    assert stage["trainer"]["loss_type"] == "dapo" and stage["trainer"]["epsilon_high"] == 0.28
    grpo = load_recipe(root / "configs/tiny/reasoner.yaml", [f"stages.grpo={json.dumps(stage)}"]).stage("grpo")
    assert grpo.trainer == stage["trainer"]
    assert grpo.options.dynamic_sampling.max_draws == stage["dynamic_sampling"]["max_draws"]
