"""Worker processes with a hard per-item deadline: a stuck item is SIGKILLed, never waited on.

Math-Verify's own timeouts use SIGALRM, which fails outside the main thread (math-verify #50), and
`parse` can hang on nested exponents (#65). So verification runs here: each worker takes one item at
a time; an item still running at its deadline gets its worker killed and replaced, and scores the
pool's `timeout_value`, while every other item in the batch is scored normally. A whole `map` call can be
bounded too (`budget`): what has not finished by then scores `timeout_value` (`last_cut` lists it). A pool
whose workers cannot start, or die before answering, raises `PoolError` within seconds instead of looping.
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


def _worker(conn):
    functions = {}
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        index, target, args = job
        try:
            if target not in functions:
                module, name = target.rsplit(":", 1)
                functions[target] = getattr(importlib.import_module(module), name)
            result = ("ok", functions[target](*args))
        except Exception as exc:  # a broken item must not take the worker down
            result = ("error", f"{type(exc).__name__}: {exc}")
        conn.send((index, result))


class WorkerPool:
    """`pool.map("module:function", [args, ...])` -> results in order; timeouts and errors -> timeout_value."""

    def __init__(self, workers: int = 2, deadline: float = 2.0, timeout_value=0.0, preload: tuple = ()):
        self.size, self.deadline, self.timeout_value = workers, deadline, timeout_value
        # forkserver: workers start from a clean process, not a fork of a parent holding torch threads;
        # modules preloaded there make a replacement worker (after a kill) ready in milliseconds.
        self.context = mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
        if preload and self.context.get_start_method() == "forkserver":
            self.context.set_forkserver_preload(list(preload))
        self.workers: list = []
        self.timeouts = 0
        self.errors = 0
        self.failed_starts = 0  # workers in a row that died before answering anything
        self.last_cut: set = set()  # indices of the last map's items cut by its budget

    def _spawn(self):
        parent, child = self.context.Pipe()
        process = self.context.Process(target=_worker, args=(child,), daemon=True)
        try:
            process.start()
        except Exception as exc:
            raise PoolError(f"cannot start a worker process ({self.context.get_start_method()}): {exc}") from exc
        child.close()
        return [process, parent, False]  # process, connection, has answered

    def _ensure(self):
        self.workers = [w for w in self.workers if w[0].is_alive()]
        while len(self.workers) < self.size:
            self.workers.append(self._spawn())

    def map(self, target: str, items: list, budget: float | None = None) -> list:
        """Results in order; an item past the per-item deadline, or not done within `budget` seconds for the
        whole call, scores `timeout_value`."""
        self._ensure()
        results = [self.timeout_value] * len(items)
        pending = list(enumerate(items))[::-1]
        busy: dict = {}  # conn -> (worker, index, started)
        idle = list(self.workers)
        end = time.monotonic() + budget if budget is not None else float("inf")
        self.last_cut = set()
        while pending or busy:
            if time.monotonic() >= end:  # the batch's bound: cut what is left
                self.last_cut = {index for index, _ in pending} | {index for _, index, _ in busy.values()}
                for worker, _, _ in list(busy.values()):
                    self._replace(worker)
                break
            while idle and pending:
                worker = idle.pop()
                index, args = pending.pop()
                worker[1].send((index, target, tuple(args)))
                busy[worker[1]] = (worker, index, time.monotonic())
            now = time.monotonic()
            next_deadline = min(min(started for _, _, started in busy.values()) + self.deadline, end)
            for conn in wait(list(busy), timeout=max(0.0, next_deadline - now)):
                worker, index, _ = busy.pop(conn)
                try:
                    _, (status, value) = conn.recv()
                    worker[2] = True
                    self.failed_starts = 0
                except (EOFError, OSError):  # the worker died (e.g. memory limit): replace it
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
                if status == "ok":
                    results[index] = value
                else:
                    self.errors += 1
                idle.append(worker)
            now = time.monotonic()
            for conn, (worker, _index, started) in list(busy.items()):
                if now - started >= self.deadline:
                    busy.pop(conn)
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
        self.workers.append(self._spawn())

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
