"""`ponder serve` answered by the official openai client on 127.0.0.1, and its /health while the model loads."""

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
import uvicorn

from ponder.inference.generation import generate
from ponder.inference.server import create_app
from ponder.models.loading import load_for_inference

QUESTION = [{"role": "user", "content": "sum 3407_____"}]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def served(tiny_checkpoint):
    model, tokenizer, thinking = load_for_inference(str(tiny_checkpoint))
    app = create_app(model, tokenizer, thinking, "tiny", default_max_tokens=80)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none", max_retries=0, timeout=60)
    yield client, model, tokenizer, thinking, app
    server.should_exit = True
    thread.join(timeout=10)


def test_models_and_budgeted_completion_match_direct_generation(served):
    client, model, tokenizer, thinking, _ = served
    assert [m.id for m in client.models.list().data] == ["tiny"]
    for budget in (0, 5, 12):
        response = client.chat.completions.create(
            model="tiny", messages=QUESTION, max_tokens=60, extra_body={"thinking_token_budget": budget}
        )
        (direct,) = generate(
            model, tokenizer, QUESTION, max_thinking_tokens=budget, max_new_tokens=60, thinking=thinking
        )
        message = response.choices[0].message
        assert message.content == direct.answer and message.reasoning_content == direct.reasoning
        details = response.usage.completion_tokens_details
        assert details.reasoning_tokens == direct.thinking_tokens <= budget
        assert response.usage.completion_tokens == direct.completion_tokens


def test_reasoning_effort_and_min_tokens(served):
    client, _, _, thinking, _ = served
    low = client.chat.completions.create(model="tiny", messages=QUESTION, max_tokens=120, reasoning_effort="low")
    assert low.usage.completion_tokens_details.reasoning_tokens <= thinking.effort_budgets["low"]
    long = client.chat.completions.create(
        model="tiny", messages=QUESTION, max_tokens=150, extra_body={"min_thinking_tokens": 60}
    )
    assert long.usage.completion_tokens_details.reasoning_tokens >= 60


def test_enable_thinking_false_gives_no_reasoning(served):
    client = served[0]
    response = client.chat.completions.create(
        model="tiny", messages=QUESTION, max_tokens=40, extra_body={"chat_template_kwargs": {"enable_thinking": False}}
    )
    assert response.choices[0].message.reasoning_content == ""
    assert response.usage.completion_tokens_details.reasoning_tokens == 0


def test_streaming_reassembles_to_the_same_text(served):
    client = served[0]
    kwargs = dict(model="tiny", messages=QUESTION, max_tokens=60, extra_body={"thinking_token_budget": 10})
    whole = client.chat.completions.create(**kwargs).choices[0].message
    reasoning, content, usage = "", "", None
    for chunk in client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **kwargs):
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            reasoning += getattr(choice.delta, "reasoning_content", None) or ""
            content += choice.delta.content or ""
    assert reasoning == whole.reasoning_content and content == whole.content
    assert usage.completion_tokens_details.reasoning_tokens <= 10


@pytest.mark.parametrize(
    "extra, model, needle",
    [
        ({"thinking_token_budget": -1}, "tiny", "thinking_token_budget"),
        ({"min_thinking_tokens": 9, "thinking_token_budget": 3}, "tiny", "min_thinking_tokens"),
        ({}, "gpt-5", "unknown model"),
        ({"reasoning_effort": "extreme"}, "tiny", "reasoning_effort"),
        ({"max_tokens": 0}, "tiny", "max_tokens"),
        ({"max_tokens": 100000, "min_thinking_tokens": 100000}, "tiny", "max_tokens"),
        ({"max_tokens": 100, "min_thinking_tokens": 100}, "tiny", "min_thinking_tokens"),
        ({"messages": [{"role": "user"}]}, "tiny", "content"),
        ({"messages": [{"role": "user", "content": 12345}]}, "tiny", "content"),
        ({"messages": []}, "tiny", "messages"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "tiny", "role"),
        ({"messages": [{"role": "user", "content": "x" * 1_000_000}]}, "tiny", "context"),
    ],
)
def test_bad_parameters_are_400(served, extra, model, needle):
    """Refused at once (a 1 MB prompt and a 100,000-token budget included), never a 500 or a long wait."""
    client = served[0]
    start = time.monotonic()
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=model, messages=QUESTION, extra_body=extra)
    assert needle in str(info.value) and time.monotonic() - start < 3.0


LONG = {"max_tokens": 900, "min_thinking_tokens": 850}  # a request that would keep the model busy for seconds


def test_clients_that_disconnect_stop_their_generation(served):
    """5 streaming clients leave after the first chunk and one non-streamed client times out: their generation
    stops, and the next request is answered within its normal latency."""
    import httpx

    client = served[0]
    base = str(client.base_url).rstrip("/")

    def timed():
        start = time.monotonic()
        client.chat.completions.create(model="tiny", messages=QUESTION, max_tokens=30)
        return time.monotonic() - start

    normal = min(timed() for _ in range(3))
    start = time.monotonic()
    client.chat.completions.create(model="tiny", messages=QUESTION, extra_body=LONG)
    long_request = time.monotonic() - start
    assert long_request > 5 * normal  # the long request really is long
    body = {"model": "tiny", "messages": QUESTION, "stream": True, **LONG}
    for _ in range(5):
        with httpx.stream("POST", f"{base}/chat/completions", json=body, timeout=30) as response:
            next(response.iter_lines())  # the first chunk, then the client is gone
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{base}/chat/completions", json={**body, "stream": False}, timeout=0.5)
    time.sleep(0.5)  # the server notices a silent disconnect within its polling interval
    after = timed()
    assert after < normal + 0.5 * long_request, (normal, long_request, after)


def test_concurrent_requests_are_batched_with_their_own_budgets(served):
    """8 clients at once: the requests share batched generate calls, yet each keeps its own budget exactly
    (min = max = b thinking tokens, b = 1..8)."""
    client = served[0]
    batcher = served[4].state.batcher
    batches_before, requests_before = batcher.batches_run, batcher.requests_run

    def ask(budget):
        return client.chat.completions.create(
            model="tiny",
            messages=[{"role": "user", "content": f"sum {budget}12_____"}],
            max_tokens=30,
            extra_body={"thinking_token_budget": budget, "min_thinking_tokens": budget},
        )

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(ask, range(1, 9)))
    assert [r.usage.completion_tokens_details.reasoning_tokens for r in responses] == list(range(1, 9))
    assert all(r.choices[0].finish_reason in ("stop", "length") for r in responses)
    batches = batcher.batches_run - batches_before
    assert batcher.requests_run - requests_before == 8 and batches < 8, batches  # fewer batches than requests


@pytest.fixture
def started_servers(monkeypatch):
    """The uvicorn servers `serve` starts in this test, to stop them; `serve` makes its own."""
    servers = []

    class Recorded(uvicorn.Server):
        def __init__(self, config):
            super().__init__(config)
            servers.append(self)

    monkeypatch.setattr(uvicorn, "Server", Recorded)
    yield servers
    for server in servers:
        server.should_exit = True


def test_health_is_503_while_the_model_loads_and_200_once_it_has(tiny_checkpoint, monkeypatch, started_servers):
    """`serve` opens its port before the model has loaded (held back here until the test lets it go): /health and
    chat completions are 503 meanwhile; then /health is 200 and the model answers."""
    import httpx

    from ponder.inference.server import serve
    from ponder.models import loading

    release, real = threading.Event(), loading.load_for_inference

    def held_back(*args, **kwargs):
        release.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(loading, "load_for_inference", held_back)
    port = free_port()
    thread = threading.Thread(
        target=serve, args=(str(tiny_checkpoint),), kwargs={"port": port, "served_model_name": "tiny"}, daemon=True
    )
    thread.start()
    base = f"http://127.0.0.1:{port}"

    def health(until: int) -> httpx.Response:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                reply = httpx.get(f"{base}/health", timeout=5)
                if reply.status_code == until:
                    return reply
            except httpx.ConnectError:  # the port is not open yet
                pass
            time.sleep(0.05)
        raise AssertionError(f"/health never answered {until}")

    try:
        assert health(503).json() == {"status": "loading", "model": "tiny"}
        request = {"model": "tiny", "messages": QUESTION, "max_tokens": 40, "thinking_token_budget": 8}
        early = httpx.post(f"{base}/v1/chat/completions", json=request, timeout=10)
        assert early.status_code == 503 and "loading" in early.json()["error"]["message"]
        release.set()
        assert health(200).json() == {"status": "ok", "model": "tiny"}
        answer = httpx.post(f"{base}/v1/chat/completions", json=request, timeout=60)
        assert answer.status_code == 200 and answer.json()["usage"]["completion_tokens_details"]["reasoning_tokens"]
    finally:
        release.set()
        started_servers[0].should_exit = True
        thread.join(timeout=30)
    assert not thread.is_alive()


def test_a_model_that_fails_to_load_stops_the_server_with_its_error(monkeypatch, started_servers):
    from ponder.inference.server import serve
    from ponder.models import loading

    def broken(path, dtype):
        raise loading.CheckpointError(f"{path}: not a checkpoint folder (no config.json in it)")

    monkeypatch.setattr(loading, "load_for_inference", broken)
    start = time.monotonic()
    with pytest.raises(loading.CheckpointError, match="no config.json"):
        serve("not-a-checkpoint", port=free_port())
    assert time.monotonic() - start < 10
