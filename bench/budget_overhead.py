"""Budget forcing overhead and server throughput.

    python bench/budget_overhead.py

1. tokens/s of ponder's generation path (`rollout`, which `ponder.inference.generate` runs on, with the budget
   processor on, max budget 64 so it forces a stop) vs plain HF `generate` on the same tiny model (preset `tiny`,
   random init), the same 8 prompts, greedy, 128 new tokens per row on both sides (EOS does not end a row, as
   `min_new_tokens` makes HF's), in one run; best of 3 repeats each. Target ratio >= 0.95.
2. The OpenAI-compatible server on 127.0.0.1: 8 concurrent clients, 48 requests; requests/s, p50/p95, with
   dynamic batching (max batch 16) vs one request at a time (max batch 1), in the same run.
"""

from __future__ import annotations

import os
import socket
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_results  # noqa: E402

NEW_TOKENS = 128
CLIENTS, REQUESTS = 8, 48
PROMPTS = [f"sum {i}{i + 3}{i * 7 % 10}_____" for i in range(8)]


def best_of(fn, repeats=3):
    best = None
    for _ in range(repeats):
        start = time.perf_counter()
        tokens = fn()
        rate = tokens / (time.perf_counter() - start)
        best = rate if best is None else max(best, rate)
    return best


def main():
    import torch

    from ponder.inference.generation import budget_processor
    from ponder.inference.rollout import Sampling, rollout
    from ponder.models.modeling import build_tiny_model
    from ponder.models.thinking import ThinkingConfig

    torch.manual_seed(0)
    thinking = ThinkingConfig()
    model, tokenizer = build_tiny_model("tiny", thinking)
    device = os.environ.get("PONDER_BENCH_DEVICE", "cpu")  # bench/gpu/run.sh: cuda
    model.to(device).eval()
    messages = [[{"role": "user", "content": p}] for p in PROMPTS]
    texts = [tokenizer.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in messages]
    tokenizer.padding_side = "left"
    inputs = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)

    def plain():
        with torch.no_grad():
            out = model.generate(
                **inputs,
                max_new_tokens=NEW_TOKENS,
                min_new_tokens=NEW_TOKENS,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
            )
        return (out.shape[1] - inputs["input_ids"].shape[1]) * len(PROMPTS)

    prompt_ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    fixed_length = Sampling(
        max_new_tokens=NEW_TOKENS, eos_token_ids=(), pad_token_id=tokenizer.pad_token_id, temperature=0.0
    )

    def budgeted():
        processor = budget_processor(tokenizer, thinking, [0] * len(PROMPTS), [64] * len(PROMPTS))
        return sum(len(ids) for ids in rollout(model, prompt_ids, fixed_length, processor=processor))

    plain(), budgeted()  # warm-up
    plain_rate, budget_rate = best_of(plain), best_of(budgeted)
    figures = {
        "device": device,
        "prompts": len(PROMPTS),
        "new_tokens": NEW_TOKENS,
        "plain_tokens_per_s": round(plain_rate, 1),
        "budget_tokens_per_s": round(budget_rate, 1),
        "budget_vs_plain_tokens_per_s_ratio": round(budget_rate / plain_rate, 3),
    }

    unbatched = serve_and_load(model, tokenizer, thinking, messages, max_batch=1)
    batched = serve_and_load(model, tokenizer, thinking, messages, max_batch=16)
    figures.update(
        {
            "server_clients": CLIENTS,
            "server_requests": REQUESTS,
            **{f"server_unbatched_{k}": v for k, v in unbatched.items()},
            **{f"server_{k}": v for k, v in batched.items()},
            "server_batched_vs_unbatched_requests_per_s_ratio": round(
                batched["requests_per_s"] / unbatched["requests_per_s"], 2
            ),
        }
    )
    write_results("budget_overhead", figures)


def serve_and_load(model, tokenizer, thinking, messages, max_batch: int) -> dict:
    """Start the server (max_batch 1 = one request at a time, the baseline) and time CLIENTS clients."""
    import openai
    import uvicorn

    from ponder.inference.server import create_app

    app = create_app(model, tokenizer, thinking, "tiny", default_max_tokens=64, max_batch=max_batch)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none", max_retries=0)

    def request(i):
        start = time.perf_counter()
        client.chat.completions.create(
            model="tiny", messages=messages[i % len(messages)], max_tokens=64, extra_body={"thinking_token_budget": 32}
        )
        return time.perf_counter() - start

    start = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        latencies = sorted(pool.map(request, range(REQUESTS)))
    elapsed = time.perf_counter() - start
    server.should_exit = True
    batcher = app.state.batcher
    return {
        "requests_per_s": round(REQUESTS / elapsed, 2),
        "p50_s": round(statistics.median(latencies), 3),
        "p95_s": round(latencies[int(0.95 * len(latencies)) - 1], 3),
        "batches": batcher.batches_run,
        "mean_batch_size": round(batcher.requests_run / batcher.batches_run, 2),
    }


if __name__ == "__main__":
    main()
