"""Worker processes with a hard per-item deadline: a stuck item is SIGKILLed, never waited on.

Math-Verify's own timeouts use SIGALRM, which fails outside the main thread (math-verify #50), and
`parse` can hang on nested exponents (#65). So verification runs here: each worker takes one item at
a time; an item still running at its deadline gets its worker killed and replaced, and scores the
pool's `timeout_value`, while every other item in the batch is scored normally.
"""

from __future__ import annotations

import atexit
import importlib
import multiprocessing as mp
import os
import time
from multiprocessing.connection import wait


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

    def _spawn(self):
        parent, child = self.context.Pipe()
        process = self.context.Process(target=_worker, args=(child,), daemon=True)
        process.start()
        child.close()
        return [process, parent]

    def _ensure(self):
        self.workers = [w for w in self.workers if w[0].is_alive()]
        while len(self.workers) < self.size:
            self.workers.append(self._spawn())

    def map(self, target: str, items: list) -> list:
        self._ensure()
        results = [self.timeout_value] * len(items)
        pending = list(enumerate(items))[::-1]
        busy: dict = {}  # conn -> (worker, index, started)
        idle = list(self.workers)
        while pending or busy:
            while idle and pending:
                worker = idle.pop()
                index, args = pending.pop()
                worker[1].send((index, target, tuple(args)))
                busy[worker[1]] = (worker, index, time.monotonic())
            now = time.monotonic()
            next_deadline = min(started for _, _, started in busy.values()) + self.deadline
            for conn in wait(list(busy), timeout=max(0.0, next_deadline - now)):
                worker, index, _ = busy.pop(conn)
                try:
                    _, (status, value) = conn.recv()
                except (EOFError, OSError):  # the worker died (e.g. memory limit): replace it
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
        process, conn = worker
        if process.is_alive():
            os.kill(process.pid, 9)
        process.join(timeout=1)
        conn.close()
        self.workers.remove(worker)
        self.workers.append(self._spawn())

    def close(self):
        for process, conn in self.workers:
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
