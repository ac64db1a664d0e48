"""An OpenAI-compatible chat server with thinking budgets: `ponder serve CHECKPOINT --port P`.

Request extras (vLLM's names where vLLM has them): `thinking_token_budget` (max thinking tokens),
`min_thinking_tokens`, `ignore_stops` (s1: force "Wait" the first N times thinking would end),
`reasoning_effort` (low/medium/high -> the checkpoint's `effort_budgets`), and
`chat_template_kwargs.enable_thinking`. Responses carry `reasoning_content` beside `content` and
`usage.completion_tokens_details.reasoning_tokens`. Concurrent non-streamed requests with the same
sampling settings and no seed are batched (`ponder.inference.batching`); streamed and seeded requests run
alone. One lock guards the model.

One client cannot block the others: a prompt longer than the model's context, `max_tokens` past what is left of
it, or budgets that cannot fit are refused with 400 before any work; a request whose client disconnects
(streamed or not) stops generating at the next token (a per-row stopping criterion, so a batch goes on for the
rest), and one still queued is dropped. Malformed messages are 400, never 500.

With a PRM and an allocation (`ponder serve CKPT --prm PRM --allocation allocation.json`, from an eval stage's
compute-optimal search), a request with `compute_budget` (tokens per question) or `reasoning_effort` (-> the
plan's budgets) is answered by compute-optimal search: probe, predicted difficulty, the allocation's strategy.
The response names what was spent: `ponder_search` {strategy, difficulty_bin, predicted_difficulty, compute_tokens}.

The port opens before the model has loaded: GET /health is 503 `{"status": "loading"}` until it has, then 200
`{"status": "ok", "model": NAME}`; chat completions are 503 until then too.
"""

from __future__ import annotations

import asyncio
import json
import queue
import threading
import time
import uuid
from typing import Literal, Optional, Union

import torch
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from ponder.errors import PonderError
from ponder.inference.batching import RequestBatcher
from ponder.inference.generation import generate


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class Message(BaseModel):
    role: Literal["system", "user", "assistant", "developer"]
    content: Union[str, list[TextPart]]

    def plain(self) -> dict:
        text = self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)
        return {"role": "system" if self.role == "developer" else self.role, "content": text}


class ChatRequest(BaseModel):
    model: str
    messages: list[Message] = Field(min_length=1)
    max_tokens: Optional[int] = Field(default=None, ge=1)
    max_completion_tokens: Optional[int] = Field(default=None, ge=1)
    temperature: float = Field(default=0.0, ge=0.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    stream: bool = False
    stream_options: Optional[dict] = None
    n: int = 1
    seed: Optional[int] = None
    thinking_token_budget: Optional[int] = None
    min_thinking_tokens: Optional[int] = None
    ignore_stops: int = 0
    reasoning_effort: Optional[str] = None
    compute_budget: Optional[int] = Field(default=None, ge=1)
    chat_template_kwargs: dict = Field(default_factory=dict)


class BadRequest(ValueError):
    pass


def error_response(message: str, param: str | None = None, status: int = 400) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": None}},
        status_code=status,
    )


class ServeError(PonderError, ValueError):
    """Arguments to `serve` that cannot work together (said in one line by the CLI)."""


DEFAULT_MAX_TOKENS, MAX_BATCH = 512, 16


def serve(
    checkpoint: str,
    host: str = "127.0.0.1",
    port: int = 8000,
    served_model_name: str | None = None,
    dtype: str = "float32",
    prm: str | None = None,
    allocation: str | None = None,
):
    """Serve `checkpoint` (in `dtype`) on `host:port` until interrupted (what `ponder serve` runs); with `prm` and
    `allocation`, requests that name a compute budget get compute-optimal search.

    The port opens at once and the model loads beside it: GET /health is 503 until the model (and the PRM) is
    loaded, 200 after; a model that fails to load stops the server, and `serve` raises its error."""
    import uvicorn

    from ponder.models.loading import load_for_inference

    if bool(prm) != bool(allocation):
        raise ServeError("compute-optimal serving needs both --prm and --allocation")
    name = served_model_name or checkpoint
    app = create_routes(name)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="info"))
    failed = []

    def load():
        try:
            model, tokenizer, thinking = load_for_inference(checkpoint, dtype)
            plan = search_plan(model, tokenizer, thinking, prm, allocation) if prm else None
            set_service(app, ChatService(model, tokenizer, thinking, name, DEFAULT_MAX_TOKENS, MAX_BATCH, plan))
        except Exception as exc:  # any failure ends the server; serve raises it below
            failed.append(exc)
            server.should_exit = True

    threading.Thread(target=load, name="ponder-serve-load", daemon=True).start()
    server.run()
    if failed:
        raise failed[0]


def search_plan(model, tokenizer, thinking, prm: str, allocation: str):
    """Compute-optimal search with the PRM at `prm` and the allocation an eval stage fitted (`allocation.json`)."""
    from ponder.inference.compute_optimal import Allocation, SearchPlan
    from ponder.inference.prm import PRMScorer
    from ponder.inference.search import prm_score_fn
    from ponder.inference.step_samplers import ModelStepSampler
    from ponder.models.modeling import count_parameters

    scorer, table = PRMScorer.from_pretrained(prm), Allocation.load(allocation)
    budgets = table.budgets  # reasoning_effort: the smallest, the middle and the largest fitted budget
    return SearchPlan(
        ModelStepSampler(model, tokenizer, thinking),
        prm_score_fn(scorer, thinking.answer_prefix),
        table,
        effort_budgets={"low": budgets[0], "medium": budgets[len(budgets) // 2], "high": budgets[-1]},
        prm_tokens=lambda: scorer.tokens_read,
        prm_weight=count_parameters(scorer.model) / count_parameters(model),
    )


class ChatService:
    """The model behind the routes: admits a request (every cost bounded before any work), batches generation,
    runs compute-optimal search, and shapes OpenAI responses. One lock guards the model."""

    def __init__(self, model, tokenizer, thinking, model_name: str, default_max_tokens: int, max_batch: int, search):
        self.model, self.tokenizer, self.thinking, self.model_name = model, tokenizer, thinking, model_name
        self.default_max_tokens, self.search = default_max_tokens, search
        self.context = min(getattr(model.config, "max_position_embeddings", None) or 2048, tokenizer.model_max_length)
        self.lock = threading.Lock()
        self.batcher = RequestBatcher(self.run_batch, self.lock, max_batch, skip=lambda item: item[2].is_set())

    def admit(self, req: ChatRequest) -> tuple:
        """(messages, (min, max, ignored stops), enable_thinking, max new tokens) of a request, or a 400 naming
        the field."""
        if req.model != self.model_name:
            raise BadRequest(f"unknown model {req.model!r}; this server serves {self.model_name!r}")
        if req.n != 1:
            raise BadRequest("n must be 1")
        enable = req.chat_template_kwargs.get("enable_thinking", True)
        if not isinstance(enable, bool):
            raise BadRequest("chat_template_kwargs.enable_thinking must be true or false")
        messages = [m.plain() for m in req.messages]
        max_new = self.room(messages, enable, req.max_completion_tokens or req.max_tokens)
        return messages, self.budgets(req, max_new), enable, max_new

    def room(self, messages: list, enable: bool, asked: int | None) -> int:
        """The new tokens a request may have: what it asked for, within the model's context after its prompt."""
        context = self.context
        if sum(len(m["content"]) for m in messages) > 16 * context:  # cheap: no tokenizer on a megabyte
            raise BadRequest(f"messages: the prompt is far longer than the model's context ({context} tokens)")
        prompt = self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True, enable_thinking=enable
        )
        prompt_tokens = len(self.tokenizer(prompt, add_special_tokens=False)["input_ids"])
        room = context - prompt_tokens
        if room < 1:
            raise BadRequest(f"messages: the prompt has {prompt_tokens} tokens; the model's context is {context}")
        max_new = asked or min(self.default_max_tokens, room)
        if max_new > room:
            raise BadRequest(
                f"max_tokens: {max_new} + the prompt's {prompt_tokens} tokens exceed the model's context ({context})"
            )
        return max_new

    def budgets(self, req: ChatRequest, max_new: int) -> tuple:
        """(min, max, ignored stops) thinking budgets of a request: its own, its effort's, or the checkpoint's."""
        thinking, high = self.thinking, req.thinking_token_budget
        if high is None and req.reasoning_effort is not None:
            if req.reasoning_effort not in thinking.effort_budgets:
                raise BadRequest(f"reasoning_effort must be one of {sorted(thinking.effort_budgets)}")
            high = thinking.effort_budgets[req.reasoning_effort]
        if high is None:
            high = thinking.max_thinking_tokens
        low = thinking.min_thinking_tokens if req.min_thinking_tokens is None else req.min_thinking_tokens
        if high is not None and high < 0:
            raise BadRequest(f"thinking_token_budget must be >= 0, got {high}")
        if low < 0:
            raise BadRequest(f"min_thinking_tokens must be >= 0, got {low}")
        if high is not None and low > high:
            raise BadRequest(f"min_thinking_tokens ({low}) > thinking_token_budget ({high})")
        if low >= max_new:
            raise BadRequest(f"min_thinking_tokens ({low}) leaves no room for an answer in max_tokens ({max_new})")
        if req.ignore_stops < 0:
            raise BadRequest(f"ignore_stops must be >= 0, got {req.ignore_stops}")
        return low, high, req.ignore_stops

    @staticmethod
    def settings(req: ChatRequest, enable: bool, max_new: int) -> tuple:
        """What a batch must share: everything but the messages and the budgets."""
        return max_new, req.temperature > 0, max(req.temperature, 1e-5), req.top_p, enable

    def run_batch(self, settings: tuple, items: list, streamer=None) -> list:
        """One generate call for `items` = [(messages, (min, max, ignored stops), cancel event)]."""
        max_new_tokens, do_sample, temperature, top_p, enable = settings
        return generate(
            self.model,
            self.tokenizer,
            [messages for messages, _, _ in items],
            min_thinking_tokens=[budget[0] for _, budget, _ in items],
            max_thinking_tokens=[budget[1] for _, budget, _ in items],
            ignore_stops=[budget[2] for _, budget, _ in items],
            max_new_tokens=max_new_tokens,
            do_sample=do_sample,
            temperature=temperature,
            top_p=top_p,
            enable_thinking=enable,
            thinking=self.thinking,
            streamer=streamer,
            cancelled=[cancel for _, _, cancel in items],
        )

    def run_alone(self, req: ChatRequest, settings: tuple, item: tuple, streamer=None):
        """Streamed and seeded requests: a batch of one, so the seed and the streamer are this request's own."""
        with self.lock:
            if req.seed is not None:
                torch.manual_seed(req.seed)
            (result,) = self.run_batch(settings, [item], streamer)
        return result

    def finish_reason(self, result, max_new: int) -> str:
        ended = self.tokenizer.eos_token in result.text
        return "length" if result.completion_tokens >= max_new and not ended else "stop"

    @staticmethod
    def usage(result) -> dict:
        return {
            "prompt_tokens": result.prompt_tokens,
            "completion_tokens": result.completion_tokens,
            "total_tokens": result.prompt_tokens + result.completion_tokens,
            "completion_tokens_details": {"reasoning_tokens": result.thinking_tokens},
        }

    def completion(self, rid: str, created: int, choices: list, **extra) -> dict:
        return {
            "id": rid,
            "object": "chat.completion",
            "created": created,
            "model": self.model_name,
            "choices": choices,
            **extra,
        }

    def chunk(self, rid: str, created: int, choices: list, **extra) -> str:
        body = {
            "id": rid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": self.model_name,
            "choices": choices,
            **extra,
        }
        return f"data: {json.dumps(body)}\n\n"

    def search_budget(self, req: ChatRequest) -> float | None:
        """The compute budget of a request answered by compute-optimal search, None for plain generation."""
        search = self.search
        if search is None or (req.compute_budget is None and req.reasoning_effort is None):
            return None
        if req.stream:
            raise BadRequest("stream: compute-optimal search answers whole responses; set stream false")
        if req.compute_budget is not None:
            return req.compute_budget
        if req.reasoning_effort not in search.effort_budgets:
            raise BadRequest(f"reasoning_effort must be one of {sorted(search.effort_budgets)}")
        return search.effort_budgets[req.reasoning_effort]

    def searched(self, messages: list, budget: float, created: int, rid: str) -> dict:
        from ponder.inference.compute_optimal import search_with_allocation

        with self.lock:
            outcome = search_with_allocation(self.search, {"prompt": messages[-1]["content"]}, budget)
        answer = f"{self.thinking.answer_prefix} {outcome.answer}" if outcome.answer is not None else ""
        reasoning = self.thinking.step_separator.join(outcome.steps)
        message = {"role": "assistant", "content": answer, "reasoning_content": reasoning}
        tokens = outcome.policy_tokens
        return self.completion(
            rid,
            created,
            [{"index": 0, "message": message, "finish_reason": "stop"}],
            usage={"prompt_tokens": 0, "completion_tokens": tokens, "total_tokens": tokens},
            ponder_search={
                "strategy": outcome.strategy,
                "difficulty_bin": outcome.difficulty_bin,
                "predicted_difficulty": outcome.predicted_difficulty,
                "compute_tokens": outcome.cost,
            },
        )

    async def stream(self, req: ChatRequest, settings: tuple, item: tuple, rid: str, created: int):
        """Server-sent chunks: reasoning_content and content deltas as they are generated, then the finish."""
        pieces: queue.Queue = queue.Queue()
        streamer = DeltaStreamer(self.tokenizer, self.thinking, pieces)
        holder: dict = {}

        def work():
            try:
                holder["result"] = self.run_alone(req, settings, item, streamer=streamer)
            finally:
                pieces.put(None)

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        try:
            yield self.chunk(
                rid, created, [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]
            )
            while True:
                piece = await asyncio.to_thread(pieces.get)
                if piece is None:
                    break
                yield self.chunk(rid, created, [{"index": 0, "delta": {piece[0]: piece[1]}, "finish_reason": None}])
        finally:  # the client left early (the generator is closed or cancelled): stop generating for it
            if "result" not in holder:
                item[2].set()
        await asyncio.to_thread(thread.join)
        result = holder["result"]
        finish = self.finish_reason(result, settings[0])
        yield self.chunk(rid, created, [{"index": 0, "delta": {}, "finish_reason": finish}])
        if (req.stream_options or {}).get("include_usage"):
            yield self.chunk(rid, created, [], usage=self.usage(result))
        yield "data: [DONE]\n\n"


async def unless_gone(future, request: Request, cancel: threading.Event):
    """The result of `future`, or None once the client has disconnected (its generation is then stopped)."""
    waiting = asyncio.wrap_future(future)
    try:
        while not waiting.done():
            await asyncio.wait({waiting}, timeout=0.2)
            if not waiting.done() and await request.is_disconnected():
                cancel.set()
                return None
        return waiting.result()
    finally:
        if not waiting.done():
            cancel.set()


def create_app(
    model,
    tokenizer,
    thinking,
    model_name: str,
    default_max_tokens: int = DEFAULT_MAX_TOKENS,
    max_batch: int = MAX_BATCH,
    search=None,
) -> FastAPI:
    """The routes over a loaded model, ready at once."""
    app = create_routes(model_name)
    set_service(app, ChatService(model, tokenizer, thinking, model_name, default_max_tokens, max_batch, search))
    return app


def set_service(app: FastAPI, service: ChatService):
    """The model is ready: `app.state.service` answers requests (`app.state.batcher` is its batcher)."""
    app.state.batcher, app.state.service = service.batcher, service


def create_routes(model_name: str) -> FastAPI:
    """The routes, thin over `app.state.service` (a `ChatService`); until `set_service`, the model is loading:
    GET /health and chat completions answer 503."""
    app = FastAPI(title="ponder")
    app.state.service = None

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request, exc):
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first.get("loc", [])[1:])
        return error_response(f"{param}: {first.get('msg')}", param)

    @app.exception_handler(BadRequest)
    async def on_bad_request(request, exc):
        return error_response(str(exc))

    @app.get("/health")
    async def health():
        if app.state.service is None:
            return JSONResponse({"status": "loading", "model": model_name}, status_code=503)
        return {"status": "ok", "model": model_name}

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{"id": model_name, "object": "model", "owned_by": "ponder", "created": 0}]}

    @app.post("/v1/chat/completions")
    async def chat(req: ChatRequest, request: Request):
        service = app.state.service
        if service is None:
            return error_response("the model is still loading: GET /health is 200 once it is ready", status=503)
        messages, budget, enable, max_new = service.admit(req)  # bad requests end here, before any streaming
        compute = service.search_budget(req)
        created, rid = int(time.time()), f"chatcmpl-{uuid.uuid4().hex[:24]}"
        if compute is not None:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(None, service.searched, messages, compute, created, rid)
        settings, cancel = service.settings(req, enable, max_new), threading.Event()
        item = (messages, budget, cancel)
        if req.stream:
            return StreamingResponse(service.stream(req, settings, item, rid, created), media_type="text/event-stream")
        if req.seed is None:
            future = service.batcher.submit(settings, item)
        else:
            future = asyncio.get_running_loop().run_in_executor(None, service.run_alone, req, settings, item)
        result = await unless_gone(future, request, cancel)
        if result is None:
            return JSONResponse({}, status_code=499)  # the client is gone; nobody reads this
        message = {"role": "assistant", "content": result.answer, "reasoning_content": result.reasoning}
        finish = service.finish_reason(result, max_new)
        choice = {"index": 0, "message": message, "finish_reason": finish}
        return service.completion(rid, created, [choice], usage=service.usage(result))

    return app


class DeltaStreamer:
    """An HF streamer that turns generated token ids into (field, text) deltas: `reasoning_content`
    before `</think>`, `content` after. Text is decoded per part and emitted as it grows, so the
    deltas join to exactly what the non-streamed response holds (leading/trailing space aside)."""

    def __init__(self, tokenizer, thinking, out: queue.Queue):
        self.tokenizer, self.out = tokenizer, out
        self.end_id = tokenizer.convert_tokens_to_ids(thinking.think_end)
        self.start_id = tokenizer.convert_tokens_to_ids(thinking.think_start)
        self.skip = set(tokenizer.all_special_ids) | {self.start_id}
        self.prompt_seen = False
        self.part, self.ids, self.sent = "reasoning_content", [], ""

    def put(self, value):
        if not self.prompt_seen:  # generate() first sends the prompt
            self.prompt_seen = True
            return
        for token in value.reshape(-1).tolist():
            if token == self.end_id:
                self._flush(final=True)
                self.part, self.ids, self.sent = "content", [], ""
                continue
            if token in self.skip:
                continue
            self.ids.append(token)
            self._flush()

    def _flush(self, final: bool = False):
        # Trailing whitespace is held back until more text follows: the non-streamed parts are stripped.
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True).strip()
        if not final and text.endswith("\ufffd"):
            return  # half of a multi-byte character
        if len(text) > len(self.sent) and text.startswith(self.sent):
            self.out.put((self.part, text[len(self.sent) :]))
            self.sent = text

    def end(self):
        self._flush(final=True)
