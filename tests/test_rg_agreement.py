"""ponder's verifier against reasoning-gym's own scorer on 857 answers (bench/rg_agreement.py): the figure README
quotes is what this computes, and where they differ is by design (numerically equal rewrites ponder accepts,
prose around a number ponder refuses), never on the gold itself or on a wrong answer."""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from rg_agreement import agreement  # noqa: E402


def test_verifier_agrees_with_reasoning_gym_where_it_should():
    result = agreement()
    committed = json.loads((ROOT / "bench/results/rg_agreement.json").read_text())
    assert result["answers"] == committed["answers"] > 800
    assert result["agreement"] == committed["agreement"]
    kinds = result["by_kind"]
    for kind in ("gold", "boxed"):
        assert kinds[kind] == {"ponder_accepts": 1.0, "reasoning_gym_accepts": 1.0}
    assert kinds["wrong"] == {"ponder_accepts": 0.0, "reasoning_gym_accepts": 0.0}
    assert kinds["decimal_point"]["ponder_accepts"] == 1.0 and kinds["prose"]["ponder_accepts"] == 0.0
    assert all(
        k.split("/")[1].split(":")[0] in {"decimal_point", "thousands", "plus_sign", "prose"}
        for k in result["disagreements"]
    )


def test_eval_scores_reasoning_gym_answers_both_ways(write_recipe, tmp_path):
    from ponder.recipes.runner import run_recipe
    from ponder.recipes.schema import load_recipe

    recipe = f"""
name: rg
model: {{name_or_path: "{ROOT / "tests/assets/tiny-reasoner"}"}}
stages:
  - {{name: ev, kind: eval, tasks: ["rg:chain_sum"], size: 6, budgets: [null], min_budgets: [], samples: 2,
      sampled_questions: 4, direct: false, max_new_tokens: 16}}
"""
    metrics = run_recipe(load_recipe(write_recipe(recipe)))["ev"]["metrics"]
    assert 0.0 <= metrics["verifier_agreement"] <= 1.0 and "reference_pass@1" in metrics
    assert metrics["questions"] == 6 and "direct_accuracy" not in metrics and metrics["pass@2"] >= metrics["pass@1"]
    samples = [json.loads(line) for line in (tmp_path / "runs/rg/ev/samples.jsonl").read_text().splitlines()]
    assert len(samples) == 4 and all(isinstance(s["reference_correct"], bool) for r in samples for s in r["samples"])
