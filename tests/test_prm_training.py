"""A PRM trained for real on CPU through the prm_label and prm stages: it finds the first wrong step,
ranks a correct step above its corrupted twin, and guides search past single samples; and the eval
stage's search curves with a model policy."""

import json
import random

import pytest
from test_prm_data import oracle_score

from ponder.data.tasks import get_task, task_rows
from ponder.inference.prm import PRMScorer, process_bench
from ponder.inference.search import prm_score_fn
from ponder.inference.search_eval import search_curves
from ponder.inference.step_samplers import TaskStepSampler
from ponder.models.modeling import build_tiny_model
from ponder.models.thinking import ThinkingConfig
from ponder.recipes.runner import run_recipe
from ponder.recipes.schema import RecipeError, load_recipe

THINKING = ThinkingConfig()
LETTERS = {"letter_count": [1, 1]}
PRM_RECIPE = """
name: prm
model: {name_or_path: "tiny:tiny"}
stages:
  - name: questions
    kind: task_data
    tasks: [letter_count]
    size: 600
    difficulty: {letter_count: [1, 1]}
  - name: label
    kind: prm_label
    data: questions
    policy: task
    policy_error_rate: 0.15
    solutions: 2
    rollouts: 8
  - name: prm
    kind: prm
    data: label
    step_separator: "\\n\\n"
    eval_size: 100
    trainer: {max_steps: 300, per_device_train_batch_size: 32, learning_rate: 2.0e-3, lr_scheduler_type: cosine,
              warmup_steps: 20, logging_steps: 50, save_steps: 1000}
"""


@pytest.fixture(scope="module")
def trained_prm(tmp_path_factory):
    root = tmp_path_factory.mktemp("prm")
    path = root / "recipe.yaml"
    path.write_text(f"output_dir: {root / 'runs'}\n" + PRM_RECIPE)
    results = run_recipe(load_recipe(path))
    return PRMScorer.from_pretrained(str(root / "runs" / "prm" / "prm" / "checkpoint")), results


def held_out_solutions(n_questions: int, seed: int):
    """Fresh questions (seeds unlike training's), two sampled solutions each, with their exact step labels."""
    sampler = TaskStepSampler(error_rate=0.15, seed=seed)
    prompts, solutions, truth = [], [], []
    for question in task_rows(["letter_count"], n_questions, seed=seed, difficulty=LETTERS):
        candidates = sampler.complete(question, [[], []])
        exact = oracle_score(question, candidates)
        for candidate, labels in zip(candidates, exact):
            prompts.append(question["prompt"])
            solutions.append(candidate.steps + [f"{THINKING.answer_prefix} {candidate.answer}"])
            truth.append(labels)
    return prompts, solutions, truth


def twin_pairs_won(scorer, n: int, seed: int) -> float:
    """Share of (correct step, corrupted twin) pairs, after the same correct prefix, scored in the right order."""
    rng, prompts, solutions = random.Random(seed), [], []
    for question in task_rows(["letter_count"], n, seed=seed, difficulty=LETTERS):
        gold = get_task("letter_count").teacher_trace(question)
        j = rng.randrange(len(gold.steps))
        prompts += [question["prompt"]] * 2
        solutions += [gold.steps[: j + 1], gold.steps[:j] + [TaskStepSampler.corrupt(gold.steps[j], rng)]]
    scores = scorer.score(prompts, solutions)
    return sum(scores[2 * i][-1] > scores[2 * i + 1][-1] for i in range(n)) / n


def test_trained_prm_finds_the_first_wrong_step(trained_prm):
    scorer, results = trained_prm
    prompts, solutions, truth = held_out_solutions(100, seed=4242)
    untrained, tokenizer = build_tiny_model("tiny", THINKING, seed=0, token_classifier=True)  # the PRM's start
    before = PRMScorer(untrained.eval(), tokenizer, separator=scorer.separator)
    f1_before = process_bench(before.score(prompts, solutions), truth)["f1"]
    after = process_bench(scorer.score(prompts, solutions), truth)
    assert scorer.separator == "\n\n"  # read back from the checkpoint's config
    assert f1_before < 0.5 and after["f1"] >= 0.8, (f1_before, after)
    assert after["n_erroneous"] > 30 and after["n_correct"] > 30
    assert twin_pairs_won(scorer, 200, seed=77) >= 0.9
    assert twin_pairs_won(before, 200, seed=77) < 0.7
    metrics = results["prm"]["metrics"]
    assert metrics["loss_last"] < metrics["loss_first"] and metrics["step_f1"] > 0.6  # the stage's own eval


def test_search_with_the_trained_prm_beats_single_samples(trained_prm):
    scorer, _ = trained_prm
    rows = task_rows(["letter_count"], 40, seed=555, difficulty=LETTERS)
    sampler = TaskStepSampler(error_rate=0.25, seed=3)
    curves = search_curves(
        sampler,
        prm_score_fn(scorer, THINKING.answer_prefix),
        rows,
        [1, 16],
        4,
        ["majority", "best_of_n", "beam", "dvts"],
        THINKING,
    )
    single = curves["majority"][0][1]  # N = 1: one sample
    assert single < 0.6
    for method in ("best_of_n", "beam", "dvts"):
        n, acc, tokens = curves[method][-1]
        assert n == 16 and acc > single + 0.2, (method, curves)
    assert "beam" not in [m for m, points in curves.items() if points[0][0] == 1]  # N=1 is not a beam of 4
    assert curves["best_of_n"][1][2] > 10 * curves["best_of_n"][0][2]  # tokens grow with N


EVAL_RECIPE = """
name: search
model: {name_or_path: "tiny:micro"}
stages:
  - name: questions
    kind: task_data
    tasks: [running_sum]
    size: 16
    difficulty: {running_sum: [3, 4]}
  - name: label
    kind: prm_label
    data: questions
    policy: task
    rollouts: 2
  - name: prm
    kind: prm
    data: label
    trainer: {max_steps: 4, per_device_train_batch_size: 8, logging_steps: 2, save_steps: 1000}
  - name: eval
    kind: eval
    init: tiny:micro
    tasks: [running_sum]
    difficulty: {running_sum: [3, 4]}
    size: 4
    budgets: [null]
    min_budgets: []
    samples: 1
    search: {prm: prm, n: [1, 4], width: 2, size: 3, methods: [majority, weighted, beam, dvts]}
"""


def test_eval_stage_search_curves_with_a_model_policy(tiny_checkpoint, write_recipe, tmp_path):
    path = write_recipe(EVAL_RECIPE)
    results = run_recipe(load_recipe(path, [f"stages.eval.init={tiny_checkpoint}"]))
    curves = json.loads((tmp_path / "runs" / "search" / "eval" / "curves.json").read_text())["search"]
    assert [n for n, _, _ in curves["majority"]] == [1, 4] and [n for n, _, _ in curves["beam"]] == [4]
    assert all(0.0 <= acc <= 1.0 for points in curves.values() for _, acc, _ in points)
    assert curves["majority"][1][2] > 2 * curves["majority"][0][2] > 0  # a model wrote real tokens
    assert results["eval"]["metrics"]["search_weighted@4"] == curves["weighted"][1][1]
    assert (tmp_path / "runs" / "search" / "eval" / "accuracy_vs_n.png").exists()
    assert "accuracy_vs_n.png" in (tmp_path / "runs" / "search" / "report.md").read_text()
    args = json.loads((tmp_path / "runs/search/prm/trainer_args.json").read_text())
    assert args["max_steps"] == 4 and args["remove_unused_columns"] is False  # trainer:, then an owned key


def test_model_step_sampler_reads_clean_answers(tiny_checkpoint):
    import torch

    from ponder.inference.step_samplers import ModelStepSampler
    from ponder.models.loading import load_for_inference

    model, tokenizer, _ = load_for_inference(str(tiny_checkpoint))
    question = task_rows(["running_sum"], 1, seed=8, difficulty={"running_sum": [3, 3]})[0]
    torch.manual_seed(0)  # sampled: the same draws every run
    sampler = ModelStepSampler(model, tokenizer, THINKING, temperature=0.5)
    finished = [c for c in sampler.complete(question, [[]] * 8) if c.done]
    assert finished, "no sample closed its thinking"
    for candidate in finished:  # the answer is what follows "Final Answer:", without EOS or padding tokens
        assert candidate.answer and "<|" not in candidate.answer and candidate.answer == candidate.answer.strip()
    steps = sampler.next_steps(question, [[]], greedy=True)[0]
    assert len(steps.steps) == 1 and "\n\n" not in steps.steps[0]  # one step, cut at the separator


def test_eval_search_must_name_a_prm_stage(write_recipe):
    with pytest.raises(RecipeError) as info:
        load_recipe(write_recipe(EVAL_RECIPE), ["stages.eval.search.prm=label"])
    assert info.value.key == "stages.eval.search.prm" and "produces no PRM" in str(info.value)
    with pytest.raises(RecipeError) as info:  # the larger policy of the exchange rate must be a model
        load_recipe(
            write_recipe(EVAL_RECIPE),
            [
                "stages.eval.search.mode=compute_optimal",
                "stages.eval.search.budgets=[64]",
                "stages.eval.search.reference=label",
            ],
        )
    assert info.value.key == "stages.eval.search.reference" and "produces no model" in str(info.value)
    with pytest.raises(RecipeError) as info:  # thinking budgets are strategies of the allocator only
        load_recipe(write_recipe(EVAL_RECIPE), ["stages.eval.search.think=[null, 16]"])
    assert info.value.key == "stages.eval.search" and "think: thinking budgets" in str(info.value)
    with pytest.raises(RecipeError, match="integers >= 0"):
        load_recipe(
            write_recipe(EVAL_RECIPE),
            [
                "stages.eval.search.mode=compute_optimal",
                "stages.eval.search.budgets=[64]",
                "stages.eval.search.think=[-1]",
            ],
        )


def test_sampling_goes_on_from_the_end_of_a_step():
    """Rollouts (Monte Carlo labels) and step expansion (beam, DVTS) go on from the end of a step: after a
    trace's last step the model must be free to close its thinking (its traces end "step\\n</think>"); a
    prefix ending in a separator there asked for a step that does not exist, and a distilled model then
    failed from correct prefixes (labelled wrong)."""
    from pathlib import Path

    import torch

    from ponder.inference.step_samplers import ModelStepSampler
    from ponder.models.loading import load_for_inference

    model, tokenizer, _ = load_for_inference(str(Path(__file__).parent / "assets" / "tiny-reasoner"))
    sampler = ModelStepSampler(model, tokenizer, THINKING, temperature=0.7)
    task = get_task("running_sum")
    torch.manual_seed(0)
    for question in task_rows(["running_sum"], 10, seed=5, difficulty={"running_sum": [8, 8]}):  # its training length
        gold = task.teacher_trace(question).steps
        rollouts = sampler.complete(question, [gold] * 4)
        assert [r.answer for r in rollouts] == [question["answer"]] * 4, question["prompt"]
        closed, next_step = sampler.next_steps(question, [gold, gold[:3]], greedy=True)
        assert closed.done and closed.steps == gold and closed.answer == question["answer"], closed
        assert not next_step.done and next_step.steps == gold[:4], next_step  # one whole step, cut at the separator


def test_eval_stage_compute_optimal_mode(tiny_checkpoint, write_recipe, tmp_path, monkeypatch):
    """search.mode compute_optimal: every method x N on every question, an allocation fitted on half and scored on
    the other half, saved as an artifact; the report plots accuracy against compute; a larger reference policy is
    set against it at matched FLOPs (its budgets join the allocation's); capped samples think within their budget."""
    from pathlib import Path

    from ponder.inference.compute_optimal import Allocation
    from ponder.inference.step_samplers import ModelStepSampler
    from ponder.models.loading import load_for_inference
    from ponder.models.modeling import count_parameters

    thought = {None: [], 3: []}  # max_thinking -> thinking tokens of each whole sample the policy wrote
    real_complete, real_generate = ModelStepSampler.complete, ModelStepSampler._generate

    def spy(self, question, prefixes, max_thinking=None):  # `complete` with its own generate calls recorded
        def generate(*args):
            out = real_generate(self, *args)
            thought[max_thinking] += [ids.index(self.end_id) if self.end_id in ids else len(ids) for ids in out]
            return out

        self._generate = generate
        try:
            return real_complete(self, question, prefixes, max_thinking)
        finally:
            del self._generate

    monkeypatch.setattr(ModelStepSampler, "complete", spy)

    large = Path(__file__).parent / "assets" / "tiny-reasoner"

    overrides = [
        f"stages.eval.init={tiny_checkpoint}",
        "stages.eval.search.mode=compute_optimal",
        "stages.eval.search.budgets=[20, 200]",
        "stages.eval.search.size=4",
        "stages.eval.search.bins=2",
        "stages.eval.search.n=[1, 2]",
        "stages.eval.search.methods=[majority, weighted, beam]",
        "stages.eval.search.think=[null, 3]",
        f"stages.eval.search.reference={large}",
    ]
    results = run_recipe(load_recipe(write_recipe(EVAL_RECIPE), overrides))
    eval_dir = tmp_path / "runs" / "search" / "eval"
    result = json.loads((eval_dir / "curves.json").read_text())["compute_optimal"]
    assert result["questions"] == {"calibration": 2, "test": 2}
    sampled = {f"{m}@{n}" for m in ("majority", "weighted") for n in (1, 2)}
    assert set(result["fixed"]) == sampled | {f"{k}:think3" for k in sampled} | {"beam@2/2"}
    assert result["fixed"]["majority@2"]["cost"] > result["fixed"]["majority@1"]["cost"] > 0  # tokens were counted
    # s1 budget forcing: every capped sample closed its thinking within 3 tokens; uncapped ones were free to go on
    assert thought[3] and max(thought[3]) <= 3 < max(thought[None]), thought
    assert all(p["other_leftover"]["leftover"] == "save" for p in result["compute_optimal"])  # the rule not used
    exchange = result["exchange_rate"]
    ratio = count_parameters(load_for_inference(str(large))[0]) / count_parameters(
        load_for_inference(str(tiny_checkpoint))[0]
    )
    assert exchange["size_ratio"] == pytest.approx(ratio) and ratio > 1
    matched = {str(int(r["flops_matched_budget"])) for r in exchange["bins"]}
    assert {r["large_strategy"] for r in exchange["bins"]} == {"majority@1", "majority@4"} and len(matched) == 2
    assert len(exchange["other_leftover"]["bins"]) == len(exchange["bins"])
    allocation = Allocation.load(eval_dir / "allocation.json")
    assert set(allocation.table) <= {"0", "1"} and all(
        set(row) == {"20", "200"} | matched for row in allocation.table.values()
    )
    metrics = results["eval"]["metrics"]
    assert metrics["compute_optimal@200"] == next(
        p["accuracy"] for p in result["compute_optimal"] if p["budget"] == 200
    )
    assert metrics["exchange_small_minus_large@majority@1_binall"] == pytest.approx(
        exchange["bins"][0]["small_accuracy"] - exchange["bins"][0]["large_accuracy"]
    )
    assert (eval_dir / "accuracy_vs_compute.png").exists()


def test_a_lora_prm_trains_its_new_head_whole(write_recipe, tmp_path):
    """LoRA on a token classifier: adapters on the body, the new score head trained whole (PEFT's modules_to_save),
    never both (PEFT refused the head as an adapter target and a saved module at once)."""
    from safetensors.torch import load_file

    recipe = """
name: search
model: {name_or_path: "tiny:micro"}
stages:
  - {name: questions, kind: task_data, tasks: [running_sum], size: 16, difficulty: {running_sum: [3, 4]}}
  - {name: label, kind: prm_label, data: questions, policy: task, rollouts: 2}
  - name: prm
    kind: prm
    data: label
    lora: {r: 4, alpha: 8}
    trainer: {max_steps: 4, per_device_train_batch_size: 8, logging_steps: 2, save_steps: 1000}
"""
    results = run_recipe(load_recipe(write_recipe(recipe)))
    adapter = load_file(str(tmp_path / "runs/search/prm/adapter/adapter_model.safetensors"))
    assert any("lora_A" in k for k in adapter) and any("score" in k and "lora" not in k for k in adapter)
    assert results["prm"]["metrics"]["loss_last"] > 0
    PRMScorer.from_pretrained(str(tmp_path / "runs/search/prm/checkpoint")).score(["sum 3  4  _"], [["3", "7"]])
