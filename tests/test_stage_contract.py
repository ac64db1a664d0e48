"""The stage contract and the public API: one trainer path, owned keys, typed trainer fields, `ponder show`,
a kind added from outside ponder, and README's Python snippets run as written."""

import json
import re
import sys
import time
from pathlib import Path

import huggingface_hub.constants
import pytest
import yaml
from conftest import SFT_RECIPE

from ponder.recipes.cli import main
from ponder.recipes.kind import STAGE_KINDS, stage_kind
from ponder.recipes.runner import run_recipe
from ponder.recipes.schema import RecipeError, load_recipe

ROOT = Path(__file__).resolve().parent.parent

EVERY_TRAINER = """
name: every
model: {name_or_path: "tiny:micro"}
stages:
  - {name: data, kind: task_data, tasks: [running_sum], size: 16}
  - {name: distill, kind: sft, data: data, trainer: {max_steps: 1}}
  - {name: star, kind: self_improve, init: distill, tasks: [running_sum], trainer: {max_steps: 1}}
  - {name: rl, kind: grpo, init: distill, tasks: [running_sum], trainer: {per_device_train_batch_size: 8}}
  - {name: onpolicy, kind: distill_onpolicy, teacher: distill, tasks: [running_sum], size: 8,
     trainer: {max_steps: 1, max_completion_length: 8}}
  - {name: label, kind: prm_label, data: data, policy: task}
  - {name: prm, kind: prm, data: label, trainer: {max_steps: 1}}
"""


def test_every_owned_key_is_refused_by_validate_with_its_reason(write_recipe):
    path = write_recipe(EVERY_TRAINER)
    recipe = load_recipe(path)
    checked = set()
    for stage in recipe.stages:
        kind = stage_kind(stage.kind)
        for key, reason in kind.owned_keys().items():
            with pytest.raises(RecipeError) as info:
                load_recipe(path, [f"stages.{stage.name}.trainer.{key}=1"])
            assert info.value.key == f"stages.{stage.name}.trainer.{key}" and reason in str(info.value)
            checked.add((stage.kind, key))
    trainer_kinds = {name for name in STAGE_KINDS if stage_kind(name).trainer_config is not None}
    assert {k for k, _ in checked} == trainer_kinds == {"sft", "self_improve", "grpo", "distill_onpolicy", "prm"}
    assert ("grpo", "reward_weights") in checked and ("prm", "remove_unused_columns") in checked


@pytest.mark.parametrize(
    "override, expected",
    [
        ("stages.distill.trainer.max_steps=abc", "not an integer"),
        ("stages.distill.trainer.learning_rate=1e-3", "write 1.0e-3"),
        ("stages.distill.trainer.bf16=maybe", "not true or false"),
        ("stages.rl.trainer.num_generations=2.5", "not an integer"),
    ],
)
def test_wrong_types_in_trainer_are_refused_naming_the_key(write_recipe, override, expected):
    with pytest.raises(RecipeError) as info:
        load_recipe(write_recipe(EVERY_TRAINER), [override])
    assert info.value.key == override.split("=")[0] and expected in str(info.value)


def test_show_lists_each_argument_with_its_origin(write_recipe, capsys):
    path = write_recipe(EVERY_TRAINER)
    assert main(["show", str(path), "rl", "stages.rl.trainer.max_steps=7"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if not line.startswith("#")}
    assert lines["max_steps"].split()[1] == "7" and lines["max_steps"].endswith("# trainer:")
    assert lines["save_steps"].split()[1] == "25" and lines["save_steps"].endswith("# kind default")
    assert lines["use_cpu"].endswith("# cpu default") and lines["seed"].endswith("# recipe")
    assert lines["output_dir"].endswith("# ponder") and "reward_weights" in lines
    assert main(["show", str(path), "nope"]) == 2  # a one-line error naming the stages


def test_one_trainer_call_site_in_the_package():
    sources = [p for d in ("recipes", "trainers", "data", "inference", "rewards") for p in (ROOT / d).rglob("*.py")]
    sites = [str(p.relative_to(ROOT)) for p in sources for _ in re.finditer(r"\.train\(", p.read_text())]
    assert sites == ["trainers/run.py"]


def readme_python_blocks(page: str = "README.md") -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / page).read_text(), flags=re.S)


def test_a_kind_from_outside_ponder_runs_through_the_runner(write_recipe, tmp_path, monkeypatch):
    (snippet,) = [b for b in readme_python_blocks("docs/recipes.md") if "KIND = StageKind" in b]  # the docs' example
    (tmp_path / "my_kinds.py").write_text(snippet)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("my_kinds", None)
    path = write_recipe(SFT_RECIPE)
    overrides = ["stages.data={name: data, kind: my_kinds, rows: 16}", "stages.distill.trainer.max_steps=2"]
    results = run_recipe(load_recipe(path, overrides))
    assert results["data"]["metrics"] == {"rows": 16} and results["data"]["kind"] == "my_kinds"
    assert results["distill"]["metrics"]["train_rows"] == 16  # a later stage read its rows through `data:`
    assert "## data (my_kinds)" in (tmp_path / "runs/t/report.md").read_text()
    with pytest.raises(RecipeError, match="produces no model"):
        load_recipe(path, [*overrides, "stages.distill.init=data"])


def run_blocks(page: str, capsys) -> tuple[list[str], dict]:
    namespace = {}
    for block in readme_python_blocks(page):
        exec(compile(block, page, "exec"), namespace)
    return capsys.readouterr().out.splitlines(), namespace


def test_readme_and_docs_python_snippets_run_as_written(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)  # the snippets name tests/assets/tiny-reasoner relative to the repository
    printed, _ = run_blocks("README.md", capsys)
    thinking_tokens, forced = printed[1].split()[:2]  # README's snippet with a budget (test_readme_example.py)
    assert int(thinking_tokens) <= 8 and forced in ("True", "False")
    printed, _ = run_blocks("docs/inference.md", capsys)
    assert int(printed[0].split()[0]) <= 8
    printed, namespace = run_blocks("docs/rewards.md", capsys)
    assert printed[0] == "[1.0]" and "'accuracy'" in printed[1] and "'cosine'" in printed[1]
    example = [[{"role": "assistant", "content": "<think>x</think>42"}]]
    assert namespace["short_answer"](example) == [1.0] and namespace["cosine"].__name__


def test_readme_recipe_is_the_shipped_example(monkeypatch):
    """README's "your model on your data" recipe is configs/examples/own-data.yaml, which validates (online: its
    Qwen model need not be in the hub cache)."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    (block,) = [b for b in re.findall(r"```yaml\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)]
    shipped = yaml.safe_load((ROOT / "configs/examples/own-data.yaml").read_text())
    shipped.pop("description")
    assert yaml.safe_load(block) == shipped
    assert load_recipe(ROOT / "configs/examples/own-data.yaml").stage("eval").data.path.endswith("heldout.jsonl")


def test_public_api_names_import_and_work(tmp_path, monkeypatch):
    import uvicorn

    from ponder.inference import PRMScorer, generate, serve
    from ponder.models.modeling import load_token_classifier, save_checkpoint
    from ponder.models.thinking import ThinkingConfig
    from ponder.rewards import REWARDS, get_reward

    assert callable(generate) and "accuracy" in REWARDS and get_reward("format").__name__
    served = {}

    def run(server):  # instead of serving: wait until the model `serve` loads in the background is in place
        app = server.config.app
        while app.state.service is None and not server.should_exit:
            time.sleep(0.05)
        served.update(app=app, port=server.config.port)

    monkeypatch.setattr(uvicorn.Server, "run", run)
    serve(str(ROOT / "tests/assets/tiny-reasoner"), port=8123)
    assert served["port"] == 8123 and any(r.path == "/v1/chat/completions" for r in served["app"].routes)
    assert served["app"].state.service.model_name == str(ROOT / "tests/assets/tiny-reasoner")  # loaded, by its path
    model, tokenizer = load_token_classifier("tiny:micro", ThinkingConfig())
    save_checkpoint(model, tokenizer, tmp_path / "prm", ThinkingConfig(), {"title": "untrained PRM"})
    scores = PRMScorer.from_pretrained(str(tmp_path / "prm")).score(["sum 1 2"], [["1", "3"]])
    assert len(scores[0]) == 2 and all(0.0 <= s <= 1.0 for s in scores[0])
    config = json.loads((tmp_path / "prm" / "config.json").read_text())
    assert config["architectures"] == ["Qwen2ForTokenClassification"]


def test_show_is_the_merge_the_run_used_for_every_trainer_kind(write_recipe, capsys):
    """For sft, self_improve, grpo, distill_onpolicy and prm: what `ponder show` prints is what the run's trainer was
    built from (trainer_args.json), key by key; only output_dir differs (show names the final folder, a run the partial
    one)."""
    from ponder.recipes.context import StageContext
    from ponder.trainers.run import merge_trainer_args

    path = write_recipe(EVERY_TRAINER)
    overrides = ["stages.distill.eval_size=4", "stages.rl.trainer.max_steps=1", "stages.star.rounds=1"]
    overrides.append(f"stages.star.init={ROOT / 'tests/assets/tiny-reasoner'}")  # right about half the time: it trains
    recipe = load_recipe(path, overrides)
    run_recipe(recipe)
    capsys.readouterr()
    run_dir = Path(recipe.output_dir) / recipe.name
    where = {"distill": "distill", "star": "star/round1", "rl": "rl", "onpolicy": "onpolicy", "prm": "prm"}
    for name, folder in where.items():
        stage = recipe.stage(name)
        merged, origin = merge_trainer_args(StageContext(recipe, stage, run_dir / name, run_dir), run_dir / name)
        resolved = json.loads((run_dir / folder / "trainer_args.json").read_text())
        assert main(["show", str(path), name, *overrides]) == 0
        shown = {line.split()[0] for line in capsys.readouterr().out.splitlines() if line and line[0] != "#"}
        assert set(merged) <= shown, (name, set(merged) - shown)
        for key, value in merged.items():
            if key == "output_dir":
                continue
            got = resolved[key]
            expected = value.value if hasattr(value, "value") else value
            expected = [] if (key, expected) == ("report_to", "none") else expected  # transformers' own spelling
            assert got == expected or str(got) == str(expected), (name, key, got, expected, origin[key])
    assert (
        merge_trainer_args(StageContext(recipe, recipe.stage("distill"), run_dir, run_dir), run_dir)[0][
            "eval_strategy"
        ]
        == "steps"
    )  # the default eval_size implies, once only in the kind


def test_a_multi_process_launcher_on_a_kind_that_trains_nothing_is_refused(write_recipe):
    with pytest.raises(RecipeError) as info:
        load_recipe(write_recipe(EVERY_TRAINER), ["stages.label.launcher={type: torchrun, num_processes: 2}"])
    assert info.value.key == "stages.label.launcher" and "trains nothing" in str(info.value)
    assert [s.name for s in load_recipe(write_recipe(EVERY_TRAINER)).stages if stage_kind(s.kind).distributed] == [
        "distill",
        "star",
        "rl",
        "onpolicy",
        "prm",
    ]
