"""eval: s1 metrics by hand, and the eval stage + run report on a real tiny checkpoint."""

import json
from collections import Counter

import pytest
import torch

from ponder.data.s1_metrics import control, performance, scaling
from ponder.data.tasks import task_rows
from ponder.recipes.eval import majority_correct
from ponder.recipes.runner import run_recipe
from ponder.recipes.schema import load_recipe


def test_s1_metrics_by_hand():
    assert control({4: [1, 4, 5], None: [100]}) == pytest.approx(3 / 4)
    assert control({None: [10, 20]}, min_tokens=15) == 0.5
    # slopes: (0.5-0.2)/10 = 0.03, (0.6-0.2)/30 = 0.01333, (0.6-0.5)/20 = 0.005 -> mean 0.016111
    assert scaling({0: 0.2, 10: 0.5, 30: 0.6, None: 0.9}) == pytest.approx((0.03 + 0.4 / 30 + 0.005) / 3)
    assert scaling({0: 0.5, 8: 0.3}) < 0
    assert performance({0: 0.2, 10: 0.7, None: 0.5}) == 0.7


def test_majority_vote_can_disagree_with_pass_at_1():
    samples = [{"answer_text": "Final Answer: 3", "correct": False}] * 2 + [
        {"answer_text": "Final Answer: 4", "correct": True}
    ]
    assert not majority_correct(samples)
    assert majority_correct(samples[1:] + samples[2:] * 2)


def test_eval_stage_and_report(write_recipe, tmp_path, tiny_checkpoint):
    recipe = f"""
name: ev
stages:
  - name: eval
    kind: eval
    init: "{tiny_checkpoint}"
    tasks: [running_sum]
    size: 12
    budgets: [0, 4, 16, null]
    min_budgets: [24]
    ignore_stops: [1, 2]
    samples: 2
    max_new_tokens: 60
"""
    m = run_recipe(load_recipe(write_recipe(recipe)))["eval"]["metrics"]
    assert m["s1_control"] == 1.0 and m["thinking_tokens@0"] == 0 and m["thinking_tokens@4"] <= 4
    assert m["control@min24"] == 1.0
    for key in ("direct_accuracy", "pass@1", "majority_vote_accuracy", "accuracy@16", "accuracy@inf", "s1_scaling"):
        assert key in m
    # Per digit count: one entry per level among the held-out rows, averaging back to accuracy@inf.
    counts = Counter(r["difficulty"] for r in task_rows(["running_sum"], 12, seed=10_000))
    by_level = {lvl: m[f"accuracy@inf_running_sum_{lvl}"] for lvl in counts}
    assert len([k for k in m if k.startswith("accuracy@inf_")]) == len(counts) > 1
    assert sum(by_level[lvl] * n for lvl, n in counts.items()) / 12 == pytest.approx(m["accuracy@inf"])
    report = (tmp_path / "runs/ev/report.md").read_text()
    assert "s1_control" in report and "accuracy_vs_budget.png" in report
    assert (tmp_path / "runs/ev/eval/accuracy_vs_budget.png").stat().st_size > 1000
    curves = json.loads((tmp_path / "runs/ev/eval/curves.json").read_text())
    assert [b for b, _, _ in curves["max_budget"]] == [0, 4, 16, None]
    assert [n for n, _, _ in curves["ignore_stops"]] == [1, 2]  # s1's "Wait" curve: each N forced once more
    assert m["thinking_tokens@wait2"] > m["thinking_tokens@wait1"] > m["thinking_tokens@inf"]
    samples = (tmp_path / "runs/ev/eval/samples.jsonl").read_text()
    assert [len(json.loads(line)["samples"]) for line in samples.splitlines()] == [2] * 12

    # What the stage samples does not depend on what ran before it in the process (here: other draws).
    torch.rand(1000)
    assert run_recipe(load_recipe(write_recipe(recipe)), from_stage="eval")["eval"]["metrics"] == m
    assert (tmp_path / "runs/ev/eval/samples.jsonl").read_text() == samples


def test_eval_stage_on_a_benchmark_file(write_recipe, tmp_path, tiny_checkpoint):
    """`data:` rows (prompt + answer under other column names) are checked by Math-Verify: a file whose gold
    answers are the model's own greedy answers on even rows and unreachable on odd rows scores exactly 0.5."""
    from ponder.data.tasks import task_rows
    from ponder.inference.sampling import generate_samples
    from ponder.models.loading import load_for_inference
    from ponder.models.thinking import ThinkingConfig
    from ponder.rewards.answers import extract_final_answer
    from ponder.rewards.math_answers import verify_answers

    thinking = ThinkingConfig()
    model, tokenizer, _ = load_for_inference(str(tiny_checkpoint))

    def greedy_answers(questions):  # one batch, as the stage will run them (padding changes the numbers)
        return [
            extract_final_answer(f"{thinking.think_end}{g[0].answer}", thinking.think_end, thinking.answer_prefix)
            for g in generate_samples(model, tokenizer, thinking, questions, max_new_tokens=60)
        ]

    questions = [r["prompt"] for r in task_rows(["running_sum"], 40, seed=5)]
    answers = greedy_answers(questions)
    verifiable = [q for q, a, ok in zip(questions, answers, verify_answers([(a, a) for a in answers])) if ok == 1.0]
    assert len(verifiable) >= 4, "the tiny checkpoint wrote too few answers Math-Verify can read"
    rows = list(zip(verifiable[:4], greedy_answers(verifiable[:4])))
    bench = tmp_path / "bench.jsonl"
    bench.write_text(
        "".join(
            json.dumps({"problem": q, "solution": a if i % 2 == 0 else "x+y"}) + "\n"
            for i, (q, a) in enumerate(rows + rows)
        )
    )
    recipe = f"""
name: evfile
stages:
  - name: eval
    kind: eval
    init: "{tiny_checkpoint}"
    data: {{path: {bench}, columns: {{prompt: problem, answer: solution}}}}
    size: 4
    budgets: [null]
    min_budgets: []
    samples: 1
    max_new_tokens: 60
"""
    m = run_recipe(load_recipe(write_recipe(recipe)))["eval"]["metrics"]
    assert m["questions"] == 4 and m["accuracy@inf"] == 0.5


def test_eval_loads_the_model_in_the_recipe_dtype(write_recipe, tiny_checkpoint, monkeypatch):
    import ponder.models.loading as loading

    seen = []
    real = loading.load_for_inference
    monkeypatch.setattr(
        loading,
        "load_for_inference",
        lambda path, dtype="float32", **kw: seen.append(dtype) or real(path, dtype, **kw),
    )
    recipe = f"""
name: dt
model: {{name_or_path: "{tiny_checkpoint}", dtype: bfloat16}}
stages:
  - {{name: eval, kind: eval, tasks: [running_sum], size: 2, budgets: [null], min_budgets: [], samples: 1}}
"""
    run_recipe(load_recipe(write_recipe(recipe)))
    assert seen == ["bfloat16"]


@pytest.mark.parametrize("batch_size, rows", [(8, [8, 8, 4]), (3, [4] * 5)])
def test_generate_samples_bounds_the_rows_of_each_batch(tiny_checkpoint, monkeypatch, batch_size, rows):
    """`batch_size` counts sequences: 5 questions x 4 samples run as batches of batch_size // 4 questions (at least
    one), each question keeping its 4 samples."""
    import ponder.inference.generation as generation
    from ponder.inference.sampling import generate_samples
    from ponder.models.loading import load_for_inference
    from ponder.models.thinking import ThinkingConfig

    seen, real = [], generation.rollout
    monkeypatch.setattr(
        generation, "rollout", lambda model, ids, *a, **kw: seen.append(len(ids)) or real(model, ids, *a, **kw)
    )
    model, tokenizer, _ = load_for_inference(str(tiny_checkpoint))
    questions = [r["prompt"] for r in task_rows(["running_sum"], 5, seed=3)]
    out = generate_samples(
        model, tokenizer, ThinkingConfig(), questions, k=4, temperature=1.0, max_new_tokens=8, batch_size=batch_size
    )
    assert seen == rows
    assert [len(samples) for samples in out] == [4] * 5
