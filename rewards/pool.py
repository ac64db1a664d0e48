"""Worker processes with a hard per-item deadline: a stuck item is SIGKILLed, never waited on.

Math-Verify's own timeouts use SIGALRM, which fails outside the main thread (math-verify #50), and
`parse` can hang on nested exponents (#65). So verification runs here: each worker takes one item at
a time; an item still running at its deadline gets its worker killed and replaced, and scores the
pool's `timeout_value`, while every other item in the batch is scored normally. A new worker has imported the
pool's `preload` modules before it is given an item (the forkserver holds them, unless an earlier pool started it
without them), so no item's deadline pays for imports. A pool whose workers cannot start, or die before
answering, raises `PoolError` within seconds instead of looping.

Deadlines do not depend on load. An item is charged its *effective* time: wall time since it was sent, less the
time its worker spent runnable but waiting for a CPU (Linux `/proc/<pid>/schedstat`, second field; elsewhere the
wait is taken as 0 and effective time is wall time). On a busy machine (GRPO training on the same cores) an item
therefore gets the same `deadline` of CPU it gets on an idle one, and one that hangs by sleeping is still killed
at `deadline`. A whole `map` call can be bounded too (`budget`): in effective seconds per worker (the effective
time of the call's items summed, divided by the number of workers); what has not finished by then is cut.

Wall-time safety nets, `WALL_SAFETY` times the deadline per item and times the budget per call, stop a machine so
starved that nothing progresses. An item stopped by a safety net or cut by the budget got no verdict: it scores
`timeout_value` too, but its index is in `last_cut`, so a caller can tell "no verdict in time" from "timed out
on its own" (an item that used its whole deadline).
"""

from __future__ import annotations

import atexit
import importlib
import multiprocessing as mp
import os
import time
from multiprocessing.connection import wait

from ponder.errors import PonderError


class PoolError(PonderError, RuntimeError):
    """The pool cannot run its workers (they fail to start or die at once)."""


MAX_FAILED_STARTS = 3
WALL_SAFETY = 10.0  # wall-time nets: this many deadlines per item, this many budgets per call
MIN_POLL = 0.005  # seconds: the shortest wait between two looks at the workers' clocks
START_TIMEOUT = 120.0  # seconds a new worker may take to import its modules and say it is ready


def queue_wait(pid: int | str) -> float | None:
    """Seconds process `pid` (or "self") has spent runnable but waiting on a run queue for a CPU, from Linux's
    `/proc/<pid>/schedstat` (ns on CPU, ns waiting, timeslices); None where there is no such file (not Linux, or
    the process is gone). The file describes the process's main thread, which is where a worker runs an item."""
    try:
        with open(f"/proc/{pid}/schedstat", "rb") as stats:
            return int(stats.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


class ItemClock:
    """An item's time since `start`: `wall()`, and `effective()`, the wall time less the run-queue wait its worker
    accrued meanwhile (a process that cannot be read keeps the wait last read: from the start, none)."""

    def __init__(self, pid: int | str):
        self.pid, self.start = pid, time.monotonic()
        self.waited_before = self.waited = queue_wait(pid) or 0.0

    def wall(self) -> float:
        return time.monotonic() - self.start

    def effective(self) -> float:
        waited = queue_wait(self.pid)
        if waited is not None:
            self.waited = waited
        return max(0.0, self.wall() - (self.waited - self.waited_before))


def _worker(conn, preload: tuple):
    # Modules the forkserver preloaded are there already; where it was started without them (by an earlier pool),
    # they are imported now, before the worker says it is ready: not on its first item's clock.
    for module in preload:
        try:
            importlib.import_module(module)
        except Exception:  # the item that needs it reports the error
            pass
    conn.send("ready")
    functions = {}
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        clock = ItemClock("self")
        index, target, args = job
        try:
            if target not in functions:
                module, name = target.rsplit(":", 1)
                functions[target] = getattr(importlib.import_module(module), name)
            result = ("ok", functions[target](*args))
        except Exception as exc:  # a broken item must not take the worker down
            result = ("error", f"{type(exc).__name__}: {exc}")
        # The worker's own count of the item's time: the parent may read the answer late when it is starved.
        conn.send((index, result, clock.effective()))


class WorkerPool:
    """`pool.map("module:function", [args, ...])` -> results in order; timeouts and errors -> timeout_value."""

    def __init__(self, workers: int = 2, deadline: float = 2.0, timeout_value=0.0, preload: tuple = ()):
        self.size, self.deadline, self.timeout_value, self.preload = workers, deadline, timeout_value, tuple(preload)
        # forkserver: workers start from a clean process, not a fork of a parent holding torch threads;
        # modules preloaded there make a replacement worker (after a kill) ready in milliseconds.
        self.context = mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
        if preload and self.context.get_start_method() == "forkserver":
            self.context.set_forkserver_preload(list(preload))
        self.workers: list = []
        self.timeouts = 0  # items killed at their deadline of effective time
        self.starved = 0  # items stopped by the wall-time safety net (no verdict)
        self.errors = 0
        self.failed_starts = 0  # workers in a row that died before answering anything
        self.last_cut: set = set()  # indices of the last map's items that got no verdict: budget or safety net

    def _spawn(self, count: int) -> list:
        """`count` new workers (process, connection, has answered), each ready for an item."""
        workers = []
        for _ in range(count):
            parent, child = self.context.Pipe()
            process = self.context.Process(target=_worker, args=(child, self.preload), daemon=True)
            try:
                process.start()
            except Exception as exc:
                raise PoolError(f"cannot start a worker process ({self.context.get_start_method()}): {exc}") from exc
            child.close()
            workers.append([process, parent, False])
        for process, parent, _ in workers:
            try:
                if not parent.poll(START_TIMEOUT):
                    raise EOFError
                parent.recv()
            except (EOFError, OSError):
                for other, _, _ in workers:
                    other.kill()
                process.join(timeout=1)
                raise PoolError(
                    f"a worker process did not start ({self.context.get_start_method()}, exit code "
                    f"{process.exitcode}); check that it can import {', '.join(self.preload) or 'this module'}"
                ) from None
        return workers

    def _ensure(self):
        self.workers = [w for w in self.workers if w[0].is_alive()]
        self.workers += self._spawn(self.size - len(self.workers))

    def map(self, target: str, items: list, budget: float | None = None) -> list:
        """Results in order. An item that runs `deadline` effective seconds scores `timeout_value`; so does one
        that got no verdict (listed in `last_cut`): stopped by the per-item wall safety net, or not done when the
        call has used `budget` effective seconds per worker (or `WALL_SAFETY * budget` wall seconds)."""
        self._ensure()
        results = [self.timeout_value] * len(items)
        pending = list(enumerate(items))[::-1]
        busy: dict = {}  # conn -> (worker, index, clock)
        idle = list(self.workers)
        budget = float("inf") if budget is None else budget
        wall_end = time.monotonic() + WALL_SAFETY * budget
        spent = 0.0  # effective seconds of the items already answered or killed
        self.last_cut = set()
        while pending or busy:
            running = {conn: clock.effective() for conn, (_, _, clock) in busy.items()}
            used = (spent + sum(running.values())) / self.size
            if used >= budget or time.monotonic() >= wall_end:  # the call's bound: cut what is left
                self.last_cut |= {index for index, _ in pending} | {index for _, index, _ in busy.values()}
                for worker, _, _ in list(busy.values()):
                    self._replace(worker)
                break
            while idle and pending:
                worker = idle.pop()
                index, args = pending.pop()
                worker[1].send((index, target, tuple(args)))
                busy[worker[1]] = (worker, index, ItemClock(worker[0].pid))
                running[worker[1]] = 0.0
            # Effective time grows no faster than wall time, so waiting this long overshoots no deadline.
            left = [self.deadline - e for e in running.values()]
            left += [WALL_SAFETY * self.deadline - clock.wall() for _, _, clock in busy.values()]
            left += [(budget - used) * self.size / len(busy), wall_end - time.monotonic()]
            for conn in wait(list(busy), timeout=max(MIN_POLL, min(left))):
                worker, index, clock = busy.pop(conn)
                try:
                    _, (status, value), effective = conn.recv()
                    worker[2] = True
                    self.failed_starts = 0
                except (EOFError, OSError):  # the worker died (e.g. memory limit): replace it
                    effective = clock.effective()
                    worker[0].join(timeout=1)
                    if not worker[2] and (worker[0].exitcode or 0) >= 0:  # exited by itself, never answered
                        self.failed_starts += 1
                        if self.failed_starts >= MAX_FAILED_STARTS:
                            raise PoolError(
                                f"{self.failed_starts} worker processes in a row died before answering "
                                f"(running {target}); check that the workers can start and import it"
                            ) from None
                    self._replace(worker)
                    worker = self.workers[-1]
                    status, value = "error", "worker died"
                spent += effective
                if status == "ok":
                    results[index] = value
                else:
                    self.errors += 1
                idle.append(worker)
            for conn, (worker, index, clock) in list(busy.items()):
                if conn.poll():  # answered (or died) since the wait: read it on the next round
                    continue
                effective, starved = clock.effective(), clock.wall() >= WALL_SAFETY * self.deadline
                if effective >= self.deadline or starved:
                    busy.pop(conn)
                    spent += effective
                    if starved and effective < self.deadline:
                        self.starved += 1
                        self.last_cut.add(index)
                    else:
                        self.timeouts += 1
                    self._replace(worker)
                    idle.append(self.workers[-1])
        return results

    def _replace(self, worker):
        process, conn, _ = worker
        if process.is_alive():
            os.kill(process.pid, 9)
        process.join(timeout=1)
        conn.close()
        self.workers.remove(worker)
        self.workers += self._spawn(1)

    def close(self):
        for process, conn, _ in self.workers:
            conn.close()
            if process.is_alive():
                process.kill()
            process.join(timeout=1)
        self.workers = []


_POOLS: dict = {}


def shared_pool(workers: int = 2, deadline: float = 2.0, timeout_value=0.0, preload: tuple = ()) -> WorkerPool:
    """One pool per settings per process, started on first use and closed at exit."""
    key = (workers, deadline, timeout_value, preload)
    if key not in _POOLS:
        _POOLS[key] = WorkerPool(workers, deadline, timeout_value, preload)
        atexit.register(_POOLS[key].close)
    return _POOLS[key]
