"""Dynamic batching for the server: concurrent requests with the same generation settings run as one batched
`generate` call, thinking budgets per row. Nothing waits for a batch to fill: the first request starts at
once, and whatever arrives while a batch runs forms the next one, so batches grow with the load."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from concurrent.futures import Future


class RequestBatcher:
    def __init__(
        self,
        run_batch: Callable[[Hashable, list], list],
        lock: threading.Lock,
        max_batch: int = 16,
        skip: Callable[[object], bool] | None = None,
    ):
        """`run_batch(key, items)` returns one result per item; `lock` guards the model (streamed requests
        take it too); `skip(item)` drops a queued request whose client is gone before it runs."""
        self.run_batch, self.lock, self.max_batch, self.skip = run_batch, lock, max_batch, skip
        self.pending: list[tuple[Hashable, object, Future]] = []
        self.wakeup = threading.Condition()
        self.batches_run = self.requests_run = 0  # counters (not a log) for tests and benchmarks
        threading.Thread(target=self._serve, daemon=True, name="ponder-batcher").start()

    def submit(self, key: Hashable, item) -> Future:
        future: Future = Future()
        with self.wakeup:
            self.pending.append((key, item, future))
            self.wakeup.notify()
        return future

    def _serve(self):
        while True:
            with self.wakeup:
                while not self.pending:
                    self.wakeup.wait()
                if self.skip is not None:
                    for entry in [e for e in self.pending if self.skip(e[1])]:
                        entry[2].set_exception(ConnectionAbortedError("the client disconnected"))
                        self.pending.remove(entry)
                    if not self.pending:
                        continue
                key = self.pending[0][0]  # oldest first; requests with other settings wait for their turn
                group = [entry for entry in self.pending if entry[0] == key][: self.max_batch]
                taken = {id(entry) for entry in group}
                self.pending = [entry for entry in self.pending if id(entry) not in taken]
            self.batches_run += 1
            self.requests_run += len(group)
            self._settle(group)

    def _settle(self, group: list):
        try:
            with self.lock:
                results = self.run_batch(group[0][0], [item for _, item, _ in group])
        except Exception as error:
            if len(group) == 1:
                group[0][2].set_exception(error)
            else:  # one bad request must not fail the others: run them one at a time
                for entry in group:
                    self._settle([entry])
            return
        for (_, _, future), result in zip(group, results):
            future.set_result(result)
