"""`ponder generate`, `ponder chat`, `ponder serve`: inference with thinking budgets from the shell."""

from __future__ import annotations

import json
import sys

from ponder.errors import PonderError


class UsageError(PonderError, ValueError):
    """A bad combination of command-line values (printed as one line, exit code 2)."""


def check_budgets(args):
    low, high = args.min_thinking_tokens, args.max_thinking_tokens
    if low is not None and high is not None and low > high:
        raise UsageError(f"--min-thinking-tokens {low} > --max-thinking-tokens {high}")
    if high is not None and high >= args.max_new_tokens:
        raise UsageError(
            f"--max-thinking-tokens {high} leaves no room for an answer in --max-new-tokens {args.max_new_tokens}"
        )


def count(text: str) -> int:
    """argparse type: a whole number >= 0 (argparse turns the ValueError into a one-line usage error)."""
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


def positive(text: str) -> int:
    value = count(text)
    if value == 0:
        raise ValueError(text)
    return value


def temperature(text: str) -> float:
    value = float(text)
    if not value >= 0:  # nan too
        raise ValueError(text)
    return value


def port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise ValueError(text)
    return value


CHECKPOINT_HELP = (
    "a checkpoint folder, a stage folder (runs/NAME/STAGE: its checkpoint), a run folder (runs/NAME: its last stage "
    "with a checkpoint, named on stderr) or a hub id"
)


def add_budget_args(parser):
    parser.add_argument("checkpoint", help=CHECKPOINT_HELP)
    parser.add_argument("--max-thinking-tokens", type=count, default=None, help="force </think> after this many")
    parser.add_argument("--min-thinking-tokens", type=count, default=None, help="say 'Wait' until this many")
    parser.add_argument(
        "--ignore-stops", type=count, default=0, help="s1: say 'Wait' the first N times thinking would end"
    )
    parser.add_argument("--max-new-tokens", type=positive, default=512)
    parser.add_argument("--temperature", type=temperature, default=0.0, help="0 = greedy")
    parser.add_argument("--no-think", action="store_true", help="enable_thinking=False: answer directly")


def add_inference_commands(sub, find_checkpoint):
    """generate, chat and serve; `find_checkpoint(path)` is the checkpoint folder a path stands for (the recipes
    layer reads stage and run folders)."""
    gen = sub.add_parser("generate", help="answer one prompt with thinking budgets")
    add_budget_args(gen)
    gen.add_argument("--prompt", required=True)
    gen.add_argument("--json", action="store_true", help="print the full result as JSON")
    gen.set_defaults(func=cmd_generate, find_checkpoint=find_checkpoint)

    chat = sub.add_parser("chat", help="interactive chat with thinking budgets (empty line or EOF ends)")
    add_budget_args(chat)
    chat.set_defaults(func=cmd_chat, find_checkpoint=find_checkpoint)

    serve = sub.add_parser(
        "serve", help="OpenAI-compatible server with thinking budgets; GET /health: 200 once loaded"
    )
    serve.add_argument("checkpoint", help=CHECKPOINT_HELP)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=port, default=8000)
    serve.add_argument("--served-model-name", default=None, help="default: the checkpoint folder's path")
    serve.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16", "auto"])
    serve.add_argument(
        "--prm", default=None, help="a PRM checkpoint: compute-optimal search for requests with a budget"
    )
    serve.add_argument(
        "--allocation", default=None, help="allocation.json from an eval stage's compute-optimal search"
    )
    serve.set_defaults(func=cmd_serve, find_checkpoint=find_checkpoint)


def _answer(args, model, tokenizer, thinking, messages):
    from ponder.inference.generation import generate

    (result,) = generate(
        model,
        tokenizer,
        messages,
        min_thinking_tokens=args.min_thinking_tokens,
        max_thinking_tokens=args.max_thinking_tokens,
        ignore_stops=args.ignore_stops,
        max_new_tokens=args.max_new_tokens,
        do_sample=args.temperature > 0,
        temperature=max(args.temperature, 1e-5),
        enable_thinking=not args.no_think,
        thinking=thinking,
    )
    return result


def cmd_generate(args) -> int:
    from dataclasses import asdict

    from ponder.models.loading import load_for_inference

    check_budgets(args)
    model, tokenizer, thinking = load_for_inference(args.find_checkpoint(args.checkpoint))
    result = _answer(args, model, tokenizer, thinking, [{"role": "user", "content": args.prompt}])
    if args.json:
        print(json.dumps(asdict(result), indent=2))
    else:
        print(f"{thinking.think_start}\n{result.reasoning}\n{thinking.think_end}\n{result.answer}")
        print(
            f"[thinking tokens: {result.thinking_tokens}, extensions: {result.extensions}, "
            f"forced stop: {result.forced_stop}]",
            file=sys.stderr,
        )
    return 0


def cmd_chat(args) -> int:
    from ponder.models.loading import load_for_inference

    check_budgets(args)
    model, tokenizer, thinking = load_for_inference(args.find_checkpoint(args.checkpoint))
    history = []
    while True:
        try:
            line = input("you> ").strip()
        except EOFError:
            return 0
        if not line:
            return 0
        history.append({"role": "user", "content": line})
        result = _answer(args, model, tokenizer, thinking, history)
        print(f"[thinking, {result.thinking_tokens} tokens] {result.reasoning}")
        print(f"assistant> {result.answer}")
        history.append({"role": "assistant", "content": result.answer})


def cmd_serve(args) -> int:
    from ponder.inference.server import serve

    checkpoint = args.find_checkpoint(args.checkpoint)
    serve(checkpoint, args.host, args.port, args.served_model_name, args.dtype, args.prm, args.allocation)
    return 0
