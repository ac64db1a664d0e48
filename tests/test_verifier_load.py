"""The verifier's verdicts do not depend on how busy the machine is (issue #45): a worker is charged the time it
ran or slept, not the time it waited for a CPU, and a pair that got no verdict in time is nan, never 0.0."""

import math
import random
import subprocess
import sys
import time

import pytest

from ponder.rewards import math_answers, pool
from ponder.rewards.functions import AccuracyReward, CosineScaledReward, LcpoReward, LengthReward
from ponder.rewards.math_answers import no_verdict, quick_verdict, verify_answers

DEADLINE = 1.0
N = 240
HANG = "10^{10^{10}}"  # passes the in-process screen; Math-Verify's parse then runs for minutes
# (gold, prediction) pairs that cost the parser 0.1-0.5 s of CPU: inside the deadline however long a busy machine
# makes them in wall time.
SLOW = [(f"(x^2-1)^{{{k}}}", f"(x+1)^{{{k}}}(x-1)^{{{k + wrong}}}") for k in (36, 40) for wrong in (0, 1)]


def parser_pairs(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """n pairs only Math-Verify decides, equivalent and not in turn: intervals, fractions with roots and pi,
    polynomials, sets, multiples of roots."""
    forms = [
        lambda a, b: (f"[{a},{b})", f"[{a}, {b})"),
        lambda a, b: (f"[{a},{b})", f"({a}, {b}]"),
        lambda a, b: (f"\\frac{{\\sqrt{{{a}}}}}{{{a}}}", f"\\frac{{1}}{{\\sqrt{{{a}}}}}"),
        lambda a, b: (f"\\frac{{\\sqrt{{{a}}}}}{{{a}}}", f"\\frac{{2}}{{\\sqrt{{{a}}}}}"),
        lambda a, b: (f"\\frac{{{a}\\pi}}{{{b}}}", f"{a}\\pi/{b}"),
        lambda a, b: (f"\\frac{{{a}\\pi}}{{{b}}}", f"{a + 1}\\pi/{b}"),
        lambda a, b: (f"x^2 + {2 * a}x + {a * a}", f"(x + {a})^2"),
        lambda a, b: (f"x^2 + {2 * a}x + {a * a}", f"(x - {a})^2"),
        lambda a, b: (f"\\{{{a}, {b}, x\\}}", f"\\{{x, {b}, {a}\\}}"),
        lambda a, b: (f"\\{{{a}, {b}, x\\}}", f"\\{{x, {b}, {a + b}\\}}"),
        lambda a, b: (f"{a}\\sqrt{{3}}", f"\\sqrt{{{3 * a * a}}}"),
        lambda a, b: (f"{a}\\sqrt{{3}}", f"\\sqrt{{{3 * a * a + 1}}}"),
    ]
    rng = random.Random(seed)
    return [forms[i % len(forms)](rng.randrange(2, 40), rng.randrange(41, 90)) for i in range(n)]


def timed(pairs: list) -> tuple[list, float]:
    math_answers._verdicts.clear()  # every pair goes to the workers again
    start = time.monotonic()
    verdicts = verify_answers(pairs, deadline=DEADLINE)
    return verdicts, time.monotonic() - start


def test_a_busy_machine_gets_the_verdicts_of_an_idle_one():
    """246 pairs on 2 cores (shared with another job): idle 3.7-6.6 s, with 3 processes spinning beside it
    8.6-15.7 s, the same 246 verdicts in each of 5 runs. With the old wall-time deadline and budget: idle 3.5 s,
    busy 5.4 s (cut by the budget), 37 of 246 verdicts differ, every one a right answer scored 0.0."""
    pairs = parser_pairs(N) + SLOW + [("40320", HANG), ("1", HANG + "+1")]
    assert all(quick_verdict(g, p) is None for g, p in pairs), "every pair needs the parser"
    verify_answers([("\\frac{\\sqrt{2}}{2}", "x")], deadline=DEADLINE)  # the workers' start is not the batch's
    idle, idle_s = timed(pairs)
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(3)]
    try:
        time.sleep(0.2)
        busy, busy_s = timed(pairs)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    timing = f"idle {idle_s:.1f} s, busy {busy_s:.1f} s"
    print(timing)
    assert idle == [1.0, 0.0] * (N // 2) + [1.0, 0.0, 1.0, 0.0] + [0.0, 0.0], timing  # the hangs: 0.0
    disagree = [(pair, a, b) for pair, a, b in zip(pairs, idle, busy) if a != b]
    assert not disagree, f"{len(disagree)} of {len(pairs)} verdicts differ ({timing}): {disagree[:5]}"
    assert not any(map(no_verdict, idle + busy)), timing


def starved(monkeypatch):
    """The parent sees every worker wait for a CPU all the time (its run-queue wait grows as fast as the clock):
    no deadline of effective time ever comes, and only the wall-time safety net, made 2 deadlines here, stops an
    item. The workers themselves run as usual."""
    monkeypatch.setattr(pool, "queue_wait", lambda pid: time.monotonic())
    monkeypatch.setattr(pool, "WALL_SAFETY", 2.0)


def test_the_wall_safety_net_gives_no_verdict_where_the_deadline_gives_a_timeout(monkeypatch):
    workers = pool.WorkerPool(workers=2, deadline=0.5, timeout_value="timeout")
    try:
        assert workers.map("time:sleep", [(30,), (0,)]) == ["timeout", None]  # slept its deadline: its verdict
        assert workers.timeouts == 1 and workers.last_cut == set()
        starved(monkeypatch)
        start = time.monotonic()
        assert workers.map("time:sleep", [(30,), (0,)]) == ["timeout", None]
        assert workers.last_cut == {0} and workers.starved == 1 and workers.timeouts == 1
        assert 1.0 <= time.monotonic() - start < 2.5  # the net: 2 deadlines of wall time
    finally:
        workers.close()


def test_effective_time_is_wall_time_where_the_run_queue_wait_cannot_be_read(monkeypatch):
    if sys.platform == "linux":
        assert isinstance(pool.queue_wait("self"), float), "Linux without /proc/<pid>/schedstat"
    monkeypatch.setattr(pool, "queue_wait", lambda pid: None)
    clock = pool.ItemClock(12345)
    time.sleep(0.05)
    effective, wall = clock.effective(), clock.wall()
    assert 0.05 <= effective <= wall < effective + 0.01


def test_a_pair_without_a_verdict_is_nan_retried_once_counted_and_not_cached(monkeypatch):
    verify_answers([("\\frac{\\sqrt{3}}{3}", "x")], deadline=0.5)  # workers up (and warm) before the net is 1 s
    starved(monkeypatch)
    monkeypatch.setattr(math_answers, "_verdicts", {})  # no verdict from an earlier test
    sent = []
    real_map = pool.WorkerPool.map
    monkeypatch.setattr(
        pool.WorkerPool,
        "map",
        lambda self, target, items, **kw: real_map(self, target, sent.append(items) or items, **kw),
    )
    hang, fine = ("40320", HANG), ("\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt{2}}")
    out = verify_answers([hang, fine, hang], deadline=0.5)
    assert no_verdict(out[0]) and no_verdict(out[2]) and out[1] == 1.0
    assert sent == [sorted([hang, fine]), [hang]], "the pair without a verdict is tried once more, alone"
    assert hang not in math_answers._verdicts and math_answers._verdicts[fine] == 1.0


def test_rewards_pass_nan_through_and_eval_counts_it_not_correct(monkeypatch):
    """The trainer leaves a nan completion out of its group, so every reward built on the answer check returns nan
    for it (never the 0.0 or the "correct" a truthy nan would give); eval counts it as not correct."""
    import ponder.inference.sampling as sampling
    import ponder.rewards.functions as functions
    from ponder.models.thinking import ThinkingConfig

    def checked(pairs, **kwargs):
        return [math.nan, 1.0, 0.0][: len(pairs)]

    monkeypatch.setattr(functions, "verify_answers", checked)
    monkeypatch.setattr(sampling, "verify_answers", checked)
    texts = [conv("<think>a</think>7"), conv("<think>a</think>7"), conv("<think>aaaa</think>8")]
    ids, gold = [[1] * 5, [1] * 5, [1] * 9], ["7"] * 3
    scores = {
        "accuracy": AccuracyReward()(texts, gold),
        "reasoning accuracy": AccuracyReward(reasoning_delimiters=["</think>"])(texts, gold),
        "length": LengthReward()(texts, gold, ids),
        "cosine": CosineScaledReward()(texts, gold, ids),
        "lcpo": LcpoReward(think_end_id=2)(texts, gold, [[2] + i for i in ids], think_budget=[4] * 3),
    }
    for name, out in scores.items():
        assert math.isnan(out[0]) and not any(map(math.isnan, out[1:])), (name, out)
    assert scores["accuracy"][1:] == [1.0, 0.0]
    rows = [{"answer": "7", "domain": "external"}] * 3
    with pytest.warns(UserWarning, match="1 of 3 answers got no verdict in time; counted as not correct"):
        assert sampling.verify_rows(rows, ["7", "7", "8"], ThinkingConfig()) == [False, True, False]


def conv(text: str) -> list:
    return [{"role": "assistant", "content": text}]
