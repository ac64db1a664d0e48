"""Compute-optimal test-time scaling: the allocator picks the known-best strategy per difficulty and budget on a
synthetic setup; predicted difficulty (a probe's PRM scores, no gold) separates easy from hard questions on a
scripted policy; costs count every generated token and the PRM's reads; the table round-trips through JSON."""

import random

import pytest
from test_prm_data import oracle_score

from ponder.data.tasks import task_rows
from ponder.inference.compute_optimal import (
    Allocation,
    QuestionRecord,
    Strategy,
    apply_allocation,
    fit_allocation,
    run_question,
    strategy_grid,
)
from ponder.inference.search_eval import cost_to_reach, exchange_rate, fixed_curves, spearman, verify_picked
from ponder.inference.step_samplers import TaskStepSampler
from ponder.models.thinking import ThinkingConfig

THINKING = ThinkingConfig()


def synthetic(predicted: float, correct: dict) -> QuestionRecord:
    """A question where each strategy's correctness is given; costs: majority@1 10, majority@8 80, beam@8/4 120."""
    costs = {"majority@1": 10, "majority@8": 80, "beam@8/4": 120}
    return QuestionRecord(predicted, 0.5, probe_cost=10, outcomes={k: [correct[k], costs[k]] for k in costs})


def test_the_allocator_picks_the_known_best_strategy_per_bin_and_budget(tmp_path):
    easy = [synthetic(0.1 + i / 100, {"majority@1": True, "majority@8": True, "beam@8/4": True}) for i in range(10)]
    medium = [synthetic(0.5 + i / 100, {"majority@1": False, "majority@8": True, "beam@8/4": True}) for i in range(10)]
    hard = [synthetic(0.9 + i / 100, {"majority@1": False, "majority@8": False, "beam@8/4": True}) for i in range(10)]
    allocation = fit_allocation(easy + medium + hard, budgets=[10, 80, 130], bins=3, scope="bin", leftover="save")
    chosen = {
        (level, b): allocation.choose(q.predicted, b).key
        for level, q in (("easy", easy[0]), ("medium", medium[0]), ("hard", hard[0]))
        for b in (10, 80, 130)
    }
    assert chosen[("easy", 10)] == chosen[("easy", 130)] == "majority@1"  # enough already: never spend more
    assert chosen[("medium", 80)] == chosen[("medium", 130)] == "majority@8"  # cheaper than beam, as accurate
    assert chosen[("hard", 130)] == "beam@8/4"  # beam pays the probe (10) on top of its 120: fits 130
    assert chosen[("hard", 80)] in ("majority@1", "majority@8")  # beam does not fit: nothing better is affordable
    accuracy, cost = apply_allocation(easy + medium + hard, allocation, 130)
    assert accuracy == 1.0 and cost == pytest.approx((10 * 10 + 10 * 80 + 10 * 130) / 30)
    fixed = fixed_curves(easy + medium + hard)
    assert fixed["beam@8/4"] == (1.0, 120.0) and fixed["majority@1"][0] == pytest.approx(1 / 3)
    assert Allocation.load(allocation.save(tmp_path / "allocation.json")) == allocation
    # A global budget: the questions' mean cost within it, so the hard bin may spend what the easy one saves
    pooled = fit_allocation(easy + medium + hard, budgets=[50, 80], bins=3, leftover="save")
    assert [pooled.choose(q.predicted, 80).key for q in (easy[0], medium[0], hard[0])] == [
        "majority@1",
        "majority@8",
        "beam@8/4",
    ]  # mean cost (10 + 80 + 130) / 3 = 73.3 <= 80: every question right, where per-bin budgets left hard wrong
    assert apply_allocation(easy + medium + hard, pooled, 80)[0] == 1.0
    at_50 = [pooled.choose(q.predicted, 50).key for q in (easy[0], medium[0], hard[0])]
    assert at_50.count("majority@1") == 2 and apply_allocation(easy + medium + hard, pooled, 50)[1] <= 50


def test_exchange_rate_matches_flops_and_compares_per_oracle_bin():
    """A policy 8x larger answering with one sample (10 of its tokens = 80 small-policy tokens) vs the small one's
    allocation at 80 tokens: the small one spends them on 8 samples where its samples disagree (medium) and wins
    there, ties where one sample does (easy), and loses where none of its samples is right (hard)."""

    def small(pass_rate, one, eight):
        return QuestionRecord(1 - pass_rate, pass_rate, 10, {"majority@1": [one, 10], "majority@8": [eight, 80]})

    easy, medium, hard = small(1.0, True, True), small(0.5, False, True), small(0.0, False, False)
    questions = [easy, medium, hard] * 4
    large = [QuestionRecord(0.0, 1.0, 10, {"majority@1": [q is not medium, 10]}) for q in questions]
    allocation = fit_allocation(questions, budgets=[10, 80], bins=3, leftover="save")
    rows = {r["bin"]: r for r in exchange_rate(questions, allocation, large, size_ratio=8.0, bins=3)}
    assert set(rows) == {"all", 0, 1, 2} and all(r["flops_matched_budget"] == 80 for r in rows.values())
    assert [(rows[b]["small_accuracy"], rows[b]["large_accuracy"]) for b in (0, 1, 2)] == [(1, 1), (1, 0), (0, 1)]
    assert rows[1]["small_cost"] == 80 and rows[0]["small_cost"] == 10  # the probe's sample was enough on easy ones
    assert rows["all"]["questions"] == 12 and rows["all"]["small_accuracy"] == pytest.approx(2 / 3)
    assert rows["all"]["small_cost"] <= rows["all"]["large_cost"] == 80  # within the matched FLOPs


def test_predicted_difficulty_separates_easy_from_hard_on_a_scripted_policy():
    """A policy that errs on each step with probability 0.15 fails long running sums more often; a PRM that sees
    its errors (exact here) gives the probe's samples lower scores there, so the prediction tracks the oracle."""
    sampler, records = TaskStepSampler(error_rate=0.15, seed=3), []
    strategies = strategy_grid(["majority", "weighted", "best_of_n", "beam"], [1, 4, 8], widths=[4])
    rows = task_rows(["running_sum"], 30, seed=7, difficulty={"running_sum": [3, 3]})
    rows += task_rows(["running_sum"], 30, seed=8, difficulty={"running_sum": [8, 8]})
    reads = {"tokens": 0}

    def score(question, candidates):
        reads["tokens"] += sum(len(c.steps) + 1 for c in candidates)  # what the PRM reads: one unit per step
        return oracle_score(question, candidates)

    for row in rows:

        def verify(answers, row=row):
            return verify_picked([row] * len(answers), answers, THINKING)

        records.append(
            run_question(sampler, score, row, strategies, verify, probe=2, prm_tokens=lambda: reads["tokens"])
        )
    easy, hard = records[:30], records[30:]
    assert sum(r.predicted for r in hard) / 30 > sum(r.predicted for r in easy) / 30 + 0.2
    assert spearman([r.predicted for r in records], [1 - r.pass_rate for r in records]) > 0.5
    for r in records:
        assert set(r.outcomes) == {s.key for s in strategies}
        assert r.outcomes["majority@1"][1] < r.outcomes["majority@4"][1] < r.outcomes["majority@8"][1]
        # the same 8 samples; the PRM-read ones pay its reads, a majority vote reads none
        assert r.outcomes["weighted@8"][1] == r.outcomes["best_of_n@8"][1] > r.outcomes["majority@8"][1]
    # PRM reads are part of the cost: with them weighted 10x, every strategy costs more
    heavy = run_question(
        sampler, score, rows[0], strategies, verify, probe=2, prm_tokens=lambda: reads["tokens"], prm_weight=10.0
    )
    assert heavy.outcomes["beam@8/4"][1] > records[0].outcomes["beam@8/4"][1]
    assert heavy.probe_cost > records[0].probe_cost and heavy.probe_prm > 0  # a PRM probe pays its reads
    # Agreement among 4 probe samples predicts difficulty without the PRM (and the probe pays no reads)
    agreement = [
        run_question(
            sampler,
            score,
            row,
            strategies[:3],
            verifier,
            probe=4,
            prm_tokens=lambda: reads["tokens"],
            predictor="agreement",
        )
        for row, verifier in (
            (row, lambda answers, row=row: verify_picked([row] * len(answers), answers, THINKING)) for row in rows
        )
    ]
    assert all(r.probe_prm == 0 and r.probe_cost == r.outcomes["majority@4"][1] for r in agreement)
    gap = sum(r.predicted for r in agreement[30:]) / 30 - sum(r.predicted for r in agreement[:30]) / 30
    assert gap > 0.1 and spearman([r.predicted for r in agreement], [1 - r.pass_rate for r in agreement]) > 0.3


def test_cost_to_reach_and_rank_correlation():
    curve = [(10.0, 0.5), (20.0, 0.7), (40.0, 0.8)]
    assert cost_to_reach(curve, 0.6) == pytest.approx(15.0) and cost_to_reach(curve, 0.8) == 40.0
    assert cost_to_reach(curve, 0.9) is None
    rng = random.Random(0)
    xs = [rng.random() for _ in range(20)]
    assert spearman(xs, [2 * x for x in xs]) == pytest.approx(1.0)
    assert spearman(xs, [-x for x in xs]) == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="multiple of width"):
        Strategy("beam", 6, 4)
    assert Strategy.from_key("dvts@16/4") == Strategy("dvts", 16, 4)


def test_search_with_allocation_spends_by_predicted_difficulty():
    """The probe's PRM scores pick the bin: a question the PRM is sure of gets the cheap strategy (its probe samples
    reused), one it doubts gets beam search; the cost counts the probe."""
    from ponder.inference.compute_optimal import SearchPlan, search_with_allocation

    table = {"0": {"100": "majority@1"}, "1": {"100": "beam@4/2"}}
    allocation = Allocation(thresholds=[0.5], budgets=[100], table=table)
    question = task_rows(["running_sum"], 1, seed=4, difficulty={"running_sum": [5, 5]})[0]
    sure = SearchPlan(TaskStepSampler(0.0, seed=0), oracle_score, allocation)
    easy = search_with_allocation(sure, question, 100)
    assert (easy.strategy, easy.difficulty_bin, easy.answer) == ("majority@1", 0, question["answer"])
    assert easy.policy_tokens == 2 * (5 * 2 + 2)  # the probe's two samples: five steps and the answer, no more

    def doubtful(q, candidates):
        return [[0.1] * len(oracle_score(q, [c])[0]) for c in candidates]

    hard = search_with_allocation(SearchPlan(TaskStepSampler(0.0, seed=0), doubtful, allocation), question, 100)
    assert (hard.strategy, hard.difficulty_bin) == ("beam@4/2", 1) and hard.predicted_difficulty == pytest.approx(0.9)
    assert hard.policy_tokens > easy.policy_tokens and hard.answer == question["answer"]
    # fitted on agreement, the probe reads no PRM: a question whose samples agree gets majority@4 with no reads
    reads = []

    def counted(q, candidates):
        reads.append(len(candidates))
        return oracle_score(q, candidates)

    table = {"0": {"100": "majority@4"}, "1": {"100": "weighted@8"}}
    by_agreement = Allocation([0.25], [100], table, predictor="agreement")
    plan = SearchPlan(TaskStepSampler(0.0, seed=0), counted, by_agreement)
    agreed = search_with_allocation(plan, question, 100)
    assert (agreed.strategy, agreed.predicted_difficulty, agreed.answer) == ("majority@4", 0.0, question["answer"])
    assert reads == [] and agreed.policy_tokens == 4 * 12


def test_the_server_answers_with_compute_optimal_search(tiny_checkpoint):
    from fastapi.testclient import TestClient

    from ponder.inference.compute_optimal import SearchPlan
    from ponder.inference.server import create_app
    from ponder.inference.step_samplers import ModelStepSampler
    from ponder.models.loading import load_for_inference

    model, tokenizer, thinking = load_for_inference(str(tiny_checkpoint))

    def score(q, candidates):
        return [[0.9] * (len(c.steps) + 1) for c in candidates]

    allocation = Allocation(
        thresholds=[0.5],
        budgets=[50, 500],
        table={"0": {"50": "weighted@2", "500": "weighted@4"}, "1": {"50": "weighted@2", "500": "beam@4/2"}},
    )
    plan = SearchPlan(ModelStepSampler(model, tokenizer, thinking), score, allocation, effort_budgets={"low": 50})
    client = TestClient(create_app(model, tokenizer, thinking, "tiny", search=plan))
    body = {"model": "tiny", "messages": [{"role": "user", "content": "sum 3  4  0  7  _  _  _  _"}]}
    reply = client.post("/v1/chat/completions", json={**body, "compute_budget": 500}).json()
    assert reply["ponder_search"]["strategy"] == "weighted@4" and reply["ponder_search"]["difficulty_bin"] == 0
    assert reply["usage"]["completion_tokens"] > 0 and reply["ponder_search"]["compute_tokens"] > 0
    assert (
        client.post("/v1/chat/completions", json={**body, "reasoning_effort": "low"}).json()["ponder_search"][
            "strategy"
        ]
        == "weighted@2"
    )
    refused = client.post("/v1/chat/completions", json={**body, "compute_budget": 500, "stream": True})
    assert refused.status_code == 400 and "stream" in refused.json()["error"]["message"]
    plain = client.post("/v1/chat/completions", json=body).json()  # no budget: plain generation, as before
    assert "ponder_search" not in plain and plain["choices"][0]["message"]["content"] is not None


def test_a_thinking_budget_is_a_strategy_dimension(tmp_path):
    """s1's sequential axis in the allocator: a sample method at a max thinking budget is its own strategy; its
    samples are cut at the budget and answer at once (a cut trace answers wrong on a running sum), it pays the
    probe on top; where a policy keeps thinking past the point its answer is settled, the cap wins the bin."""
    assert Strategy.from_key("majority@8:think32") == Strategy("majority", 8, think=32)
    assert Strategy("weighted", 4, think=0).key == "weighted@4:think0"
    with pytest.raises(ValueError, match="tree search"):
        Strategy("beam", 8, 4, think=16)
    grid = strategy_grid(["majority", "beam"], [4], widths=[2], thinks=[None, 6])
    assert [s.key for s in grid] == ["majority@4", "majority@4:think6", "beam@4/2"]
    sampler = TaskStepSampler(error_rate=0.0, seed=0)
    short = task_rows(["running_sum"], 1, seed=4, difficulty={"running_sum": [3, 3]})[0]
    long = task_rows(["running_sum"], 1, seed=4, difficulty={"running_sum": [8, 8]})[0]
    records = {}
    for name, row in (("short", short), ("long", long)):

        def verify(answers, row=row):
            return verify_picked([row] * len(answers), answers, THINKING)

        records[name] = run_question(sampler, oracle_score, row, grid, verify, probe=2)
    # 3 digits: a trace of 3 one-character steps (2 tokens each) fits 6 thinking tokens: the cap changes nothing
    assert records["short"].outcomes["majority@4:think6"] == records["short"].outcomes["majority@4"] == [True, 4 * 8]
    # 8 digits: cut after 6 thinking tokens, every sample answers wrong, and pays 6 + its answer line
    cut = records["long"].outcomes["majority@4:think6"]
    assert cut[0] is False and cut[1] == pytest.approx(4 * (6 + len(long["answer"]) + 1))
    assert records["long"].outcomes["majority@4"][0] is True and records["long"].pass_rate == 1.0
    # capped strategies pay the probe on top; an uncapped one reuses its samples
    from ponder.inference.compute_optimal import probed_cost

    assert probed_cost(records["short"], "majority@4:think6") == 32 + records["short"].probe_cost
    assert probed_cost(records["short"], "majority@4") == 32

    # A policy that keeps thinking after its answer is settled (100 tokens a sample, the answer fixed by 20): on the
    # easy bin the capped vote is as right at a quarter of the cost; the hard bin needs the whole trace
    def rambling(predicted, capped_right):
        outcomes = {"majority@4": [True, 400], "majority@4:think20": [capped_right, 4 * 25]}
        return QuestionRecord(predicted, 1.0, probe_cost=200, outcomes=outcomes)

    questions = [rambling(0.1, True) for _ in range(5)] + [rambling(0.9, False) for _ in range(5)]
    allocation = fit_allocation(questions, budgets=[300, 400], bins=2, scope="bin")
    assert allocation.choose(0.1, 300).key == "majority@4:think20"  # 100 + the probe's 200: fits, and as right
    assert allocation.choose(0.9, 400).key == "majority@4" and allocation.choose(0.1, 400).key == "majority@4:think20"
    assert Allocation.load(allocation.save(tmp_path / "allocation.json")) == allocation


def test_model_samples_think_exactly_the_budget():
    """`ModelStepSampler.complete(max_thinking=T)` runs ponder's budget forcing: a model that wants 12 thinking
    tokens thinks min(12, T), then `</think>` and the answer prefix are forced and it answers (forced tokens count);
    a serving plan with a capped strategy draws its samples under the cap."""
    from scripted_model import scripted

    from ponder.inference.compute_optimal import SearchPlan, search_with_allocation
    from ponder.inference.search import best_of_n
    from ponder.inference.step_samplers import ModelStepSampler
    from ponder.models.chat import build_char_tokenizer

    tokenizer = build_char_tokenizer(THINKING)
    sampler = ModelStepSampler(scripted(tokenizer, 12), tokenizer, THINKING, max_new_tokens=80)
    question = {"prompt": "q", "answer": "42"}
    free = sampler.complete(question, [[]] * 2)
    assert [(c.steps, c.answer) for c in free] == [(["a" * 12], "42")] * 2
    forced = len(tokenizer(f"\n\n{THINKING.answer_prefix}", add_special_tokens=False)["input_ids"])
    for budget in (0, 5, 12, 30):
        capped = sampler.complete(question, [[]] * 2, max_thinking=budget)
        assert [(c.steps, c.answer) for c in capped] == [(["a" * min(budget, 12)] * bool(budget), "42")] * 2
        # at the budget the answer prefix is forced (even where the model would have closed on its own: s1's rule)
        assert all(c.tokens == free[0].tokens - max(0, 12 - budget) + forced * (budget <= 12) for c in capped)

    def score(q, candidates):
        return [[0.5] * (len(c.steps) + 1) for c in candidates]

    plan = SearchPlan(sampler, score, Allocation([0.9], [100], {"0": {"100": "majority@3:think4"}}))
    served = search_with_allocation(plan, question, 100)
    assert (served.strategy, served.answer, served.steps) == ("majority@3:think4", "42", ["aaaa"])
    assert served.policy_tokens == 2 * free[0].tokens + 3 * (free[0].tokens - 8 + forced)  # the probe, then 3 cut
    assert best_of_n(sampler, score, question, 1, max_thinking=4).solutions[0].steps == ["aaaa"]


def test_leftover_budget_goes_to_more_samples_on_the_hardest_bins():
    """Calibration ties (every strategy right on a small split) send each bin to its cheapest strategy and leave the
    budget unspent; `leftover="hardest"` spends it on more samples of the same method, hardest bin first, within the
    mean budget (the default), never on a method it did not pick, on a maximiser, nor on more samples that were less
    accurate;
    `leftover="save"` leaves it."""

    def record(predicted, eight_right=True):
        outcomes = {
            "majority@1": [True, 10],
            "majority@4": [True, 40],
            "majority@8": [eight_right, 80],
            "weighted@16": [True, 75],
        }
        return QuestionRecord(predicted, 1.0, probe_cost=0, outcomes=outcomes)

    questions = [record(0.1) for _ in range(10)] + [record(0.9) for _ in range(10)]
    saved = fit_allocation(questions, budgets=[50], bins=2, leftover="save")
    assert [saved.choose(d, 50).key for d in (0.1, 0.9)] == ["majority@1", "majority@1"]
    spent = fit_allocation(questions, budgets=[50], bins=2)  # the default
    # hard bin first: majority@8 adds (80 - 10) / 2 = 35 to the mean (45 <= 50); majority@4 on the easy bin would
    # add 15 more: it does not fit
    assert [spent.choose(d, 50).key for d in (0.1, 0.9)] == ["majority@1", "majority@8"]
    assert apply_allocation(questions, spent, 50)[1] == pytest.approx(45) and spent.leftover == "hardest"
    per_bin = fit_allocation(questions, budgets=[50], bins=2, scope="bin", leftover="hardest")
    assert [per_bin.choose(d, 50).key for d in (0.1, 0.9)] == ["majority@4", "majority@4"]  # 80 exceeds each bin's 50
    # a maximiser keeps its pick: more candidates for best-of-N or a beam can over-optimise an imperfect PRM
    maximiser = [QuestionRecord(0.9, 1.0, 0, {"best_of_n@1": [True, 10], "best_of_n@8": [True, 80]}) for _ in range(4)]
    assert fit_allocation(maximiser, budgets=[100], bins=1).choose(0.9, 100).key == "best_of_n@1"
    worse = [record(0.1, eight_right=False) for _ in range(10)] + [record(0.9, eight_right=False) for _ in range(10)]
    assert fit_allocation(worse, budgets=[100], bins=2, leftover="hardest").choose(0.9, 100).key == "majority@4"
    with pytest.raises(ValueError, match="leftover"):
        fit_allocation(questions, budgets=[50], leftover="spend")
