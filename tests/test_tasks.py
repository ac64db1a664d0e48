"""Tasks: teachers verify, flawed teachers fail, seeds reproduce; reasoning-gym adapts."""

import json

import pytest

from ponder.data.tasks import TASKS, get_task


@pytest.mark.parametrize("name", sorted(TASKS))
def test_teacher_traces_verify_and_flawed_ones_fail(name):
    task = get_task(name)
    rows = task.rows(1000, seed=3)
    assert len({r["id"] for r in rows}) > 500  # varied questions
    for row in rows:
        good = task.teacher_trace(row)
        assert not good.flawed and task.verify(row, f"{good.text()}\n</think>\n\n{good.answer}")
        bad = task.teacher_trace(row, flaw_rate=1.0)
        assert bad.flawed and not task.verify(row, f"{bad.text()}\n</think>\n\n{bad.answer}")
        assert len(good.steps) >= 1 and "\n\n" not in "".join(good.steps)
    lo, hi = task.difficulties
    assert {r["difficulty"] for r in rows} == set(range(lo, hi + 1))


@pytest.mark.parametrize("name", sorted(TASKS))
def test_same_seed_same_rows_other_seed_other_rows(name):
    task = get_task(name)
    assert task.rows(50, seed=1) == task.rows(50, seed=1)
    assert task.rows(50, seed=1) != task.rows(50, seed=2)


def test_flaw_rate_is_respected():
    task = get_task("addition")
    import random

    rng = random.Random(0)
    flawed = sum(task.teacher_trace(r, flaw_rate=0.3, rng=rng).flawed for r in task.rows(1000, seed=0))
    assert 240 < flawed < 360


def test_reasoning_gym_dataset_is_a_task():
    task = get_task("rg:basic_arithmetic")
    rows = task.rows(5, seed=1)
    assert all(task.verify(r, f"</think>{r['answer']}") for r in rows)
    assert not any(task.verify(r, "</think>not a number") for r in rows)
    with pytest.raises(NotImplementedError, match="chain_sum"):  # says which datasets have a teacher
        task.teacher_trace(rows[0])


RG_CONFIGS = {
    "chain_sum": {"min_terms": 2, "max_terms": 4, "max_digits": 2},
    "leg_counting": {"min_animals": 2, "max_animals": 3, "max_instances": 6},
    "spell_backward": {"max_word_len": 6},
}


@pytest.mark.parametrize("name", sorted(RG_CONFIGS))
def test_reasoning_gym_traces_pass_its_own_scorer_and_flawed_ones_fail(name):
    """The programmatic teacher's answers are scored by reasoning-gym's `score_answer`, not by ponder."""
    from ponder.data.reasoning_gym_task import reference_score

    task = get_task(f"rg:{name}")
    rows = task.rows(300, seed=0, difficulty=RG_CONFIGS[name])
    for row in rows:
        good, bad = task.teacher_trace(row), task.teacher_trace(row, flaw_rate=1.0)
        assert not good.flawed and reference_score(row, good.answer) == 1.0
        assert task.verify(row, f"{good.text()}\n</think>\n\nFinal Answer: {good.answer}")
        assert bad.flawed and reference_score(row, bad.answer) < 1.0 and bad.steps[:-1] == good.steps[:-1]
    assert all(json.loads(r["payload"])["metadata"]["source_dataset"] == name for r in rows)


def test_reasoning_gym_config_and_disjoint_seeds():
    """The difficulty mapping is reasoning-gym's config; ponder seeds 0 and 1 share no question (reasoning-gym's own
    seeds s and s + 1 share all but one item); an unknown config field is named."""
    task, config = get_task("rg:chain_sum"), {"min_terms": 3, "max_terms": 3, "min_digits": 2, "max_digits": 2}
    rows, other = task.rows(400, seed=0, difficulty=config), task.rows(400, seed=1, difficulty=config)
    assert all(r["prompt"].count(" + ") + r["prompt"].count(" - ") == 2 for r in rows)
    assert not {r["id"] for r in rows} & {r["id"] for r in other}  # 10^6 questions: chance would share ~0
    with pytest.raises(ValueError, match="max_termz"):
        task.rows(2, seed=0, difficulty={"max_termz": 3})
    with pytest.raises(ValueError, match="must map reasoning-gym config fields"):
        task.rows(2, seed=0, difficulty=[1, 3])


def test_unknown_task_lists_known_ones():
    with pytest.raises(KeyError, match="running_sum"):
        get_task("runing_sum")
