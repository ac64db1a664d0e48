"""The server's request batcher: same-settings requests share a batch; a bad request fails alone."""

import threading

import pytest

from ponder.inference.batching import RequestBatcher


def test_requests_arriving_during_a_batch_form_the_next_one_and_a_bad_one_fails_alone():
    calls = []

    def run_batch(key, items):
        calls.append((key, list(items)))
        if "bad" in items:
            raise ValueError("bad item")
        return [f"{key}:{item}" for item in items]

    lock = threading.Lock()
    batcher = RequestBatcher(run_batch, lock, max_batch=3)
    with lock:  # the model is busy: everything below queues
        futures = [batcher.submit("greedy", item) for item in ("a", "bad", "c", "d")]
        other = batcher.submit("sampled", "e")
    assert [f.result(timeout=10) for f in (futures[0], futures[2], futures[3])] == ["greedy:a", "greedy:c", "greedy:d"]
    with pytest.raises(ValueError, match="bad item"):
        futures[1].result(timeout=10)
    assert other.result(timeout=10) == "sampled:e"
    # The batcher may take "a" alone before the lock is free; after that, batches of at most 3 items of one
    # setting, and the failed batch run again one item at a time.
    for key, items in calls:
        assert len(items) <= 3 and set(items) <= ({"a", "bad", "c", "d"} if key == "greedy" else {"e"})
    assert ("greedy", ["bad"]) in calls and ("sampled", ["e"]) in calls
    assert any(key == "greedy" and len(items) > 1 for key, items in calls)
