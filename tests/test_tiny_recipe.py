"""The shipped tiny reasoner recipe, shrunken (fewer rows and steps), end to end; and its shipped base.

The full recipe's figures (6 runs: 3 seeds x 2 numeric paths) come from bench/default_recipe.py."""

import json

from ponder import CONFIGS_DIR
from ponder.recipes.cli import main
from ponder.recipes.runner import run_recipe
from ponder.recipes.schema import load_recipe

SHRINK = [
    "stages.curate.pool_size=400",
    "stages.curate.target=100",
    "stages.distill.trainer.max_steps=10",
    "stages.distill.trainer.logging_steps=5",
    "stages.grpo.size=32",
    "stages.grpo.trainer.max_steps=2",
    "stages.eval_base.size=8",
    "stages.eval_distill.size=8",
    "stages.eval_grpo.size=8",
]


def test_tiny_reasoner_recipe_end_to_end(tmp_path, capfd):
    """Through the `ponder run` command, as a user runs it: a quiet console, every figure on disk."""
    overrides = [f"output_dir={tmp_path}", *SHRINK]
    recipe = load_recipe(CONFIGS_DIR / "tiny" / "reasoner.yaml", overrides)
    assert main(["run", "configs/tiny/reasoner.yaml", *overrides]) == 0
    out, err = capfd.readouterr()
    lines = out.split("\n")  # a live line redraws after \r: still one line on the terminal
    assert len(lines) <= 30, out
    for stage in ("distill", "grpo"):  # one progress line each, with the figure that moves
        progress = [line for line in lines if line.lstrip().startswith(f"{stage}: ")]
        assert len(progress) == 1 and f"{stage}: " in progress[0], out
    assert "loss " in [line for line in lines if line.lstrip().startswith("distill: ")][0]
    assert "{'loss'" not in out + err and "Map:" not in out + err and "Loading weights" not in out + err, err
    run_dir = tmp_path / "tiny-reasoner"
    results = {s.name: json.loads((run_dir / s.name / "result.json").read_text()) for s in recipe.stages}
    for name in results:
        assert results[name]["status"] == "finished"
    logged = [json.loads(line) for line in (run_dir / "distill" / "train_log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in logged if "loss" in entry] == [5, 10]  # TRL's log dicts, on disk
    assert results["curate"]["metrics"]["selected"] <= 100
    assert results["eval_grpo"]["metrics"]["s1_control"] == 1.0
    report = (run_dir / "report.md").read_text()
    assert "## eval_grpo (eval)" in report and (run_dir / "eval_grpo" / "accuracy_vs_budget.png").exists()
    summary = report.split("## curate")[0]
    assert "| eval_grpo | grpo |" in summary and "| eval_base | copy-base |" in summary  # as the recipe names it
    assert recipe.model.name_or_path == str(CONFIGS_DIR / "tiny" / "copy-base")  # shipped beside the recipe
    assert (run_dir / "accuracy_vs_budget.png").stat().st_size > 1000
    assert (run_dir / "grpo" / "training_curve.png").exists()


def test_the_shipped_base_copies_but_cannot_add(tmp_path):
    """configs/tiny/copy-base: the lookup every trace step needs (copying digits into the thinking), but running
    sums at chance, direct or thinking; that is what distillation has to add."""
    recipe = f"""
name: base-check
output_dir: {tmp_path}
model: {{name_or_path: "{CONFIGS_DIR / "tiny" / "copy-base"}"}}
stages:
  - {{name: copy, kind: eval, tasks: [copy], size: 24, budgets: [null], min_budgets: [], samples: 1}}
  - {{name: sums, kind: eval, tasks: [running_sum], size: 60, budgets: [null], min_budgets: [], samples: 1}}
"""
    path = tmp_path / "base.yaml"
    path.write_text(recipe)
    results = run_recipe(load_recipe(path))
    assert results["copy"]["metrics"]["accuracy@inf"] >= 0.9
    sums = results["sums"]["metrics"]
    assert sums["direct_accuracy"] <= 0.3 and sums["accuracy@inf"] <= 0.3
