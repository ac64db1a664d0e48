"""The shipped tiny reasoner recipe, shrunken (fewer rows and steps), end to end."""

import json

from ponder import CONFIGS_DIR
from ponder.recipes.runner import run_recipe
from ponder.recipes.schema import load_recipe

SHRINK = [
    "stages.base_data.size=200",
    "stages.base.trainer.max_steps=10",
    "stages.curate.pool_size=400",
    "stages.curate.target=100",
    "stages.distill.trainer.max_steps=10",
    "stages.grpo.size=32",
    "stages.grpo.trainer.max_steps=2",
    "stages.eval_base.size=8",
    "stages.eval_distill.size=8",
    "stages.eval_grpo.size=8",
]


def test_tiny_reasoner_recipe_end_to_end(tmp_path):
    recipe = load_recipe(CONFIGS_DIR / "tiny" / "reasoner.yaml", [f"output_dir={tmp_path}", *SHRINK])
    results = run_recipe(recipe)
    assert list(results) == [s.name for s in recipe.stages]
    run_dir = tmp_path / "tiny-reasoner"
    for name in results:
        assert json.loads((run_dir / name / "result.json").read_text())["status"] == "finished"
    assert results["curate"]["metrics"]["selected"] <= 100
    assert results["eval_grpo"]["metrics"]["s1_control"] == 1.0
    report = (run_dir / "report.md").read_text()
    assert "## eval_grpo (eval)" in report and (run_dir / "eval_grpo" / "accuracy_vs_budget.png").exists()
    summary = report.split("## base_data")[0]
    assert "| eval_grpo | grpo |" in summary and "| eval_base | base |" in summary
    assert (run_dir / "accuracy_vs_budget.png").stat().st_size > 1000
    assert (run_dir / "grpo" / "training_curve.png").exists()
