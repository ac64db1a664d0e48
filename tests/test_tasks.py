"""Tasks: teachers verify, flawed teachers fail, seeds reproduce; reasoning-gym adapts."""

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
    with pytest.raises(NotImplementedError):
        task.teacher_trace(rows[0])


def test_unknown_task_lists_known_ones():
    with pytest.raises(KeyError, match="running_sum"):
        get_task("runing_sum")
