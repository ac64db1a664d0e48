"""Load a checkpoint for inference with its thinking contract."""

from __future__ import annotations

import torch

from ponder.errors import PonderError
from ponder.models.chat import add_thinking_to_model
from ponder.models.thinking import GENERATION_CONFIG_KEY, ThinkingConfig


class CheckpointError(PonderError, FileNotFoundError):
    """A path or hub id that names no model to load, said in one line."""


def load_for_inference(
    path: str, dtype: str = "float32", device: str | None = None, thinking: ThinkingConfig | None = None
):
    """(model, tokenizer, thinking) from a ponder checkpoint or any HF causal LM.

    `dtype`: float32, bfloat16, float16 or auto (the checkpoint's own); stages pass the recipe's `model.dtype`.
    A checkpoint's own thinking contract wins; a model without one (a hub or packaged chat model, not yet trained
    by ponder) gets `thinking` (default delimiters when None) added to its tokenizer and template, as training
    would add them, so its base accuracy with thinking can be measured."""
    from pathlib import Path

    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ponder.models.packaged import resolve

    path = resolve(path)
    local = Path(path).exists()
    if not local and (path.startswith((".", "/")) or path.count("/") != 1):
        raise CheckpointError(f"{path}: no such checkpoint folder (and not a hub id like org/name)")
    if local and not (Path(path) / "config.json").is_file():
        raise CheckpointError(f"{path}: not a checkpoint folder (no config.json in it)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
    except OSError as exc:
        if local:
            raise
        reason = str(exc).strip().splitlines()[0]  # transformers says it in a paragraph
        raise CheckpointError(f"{path}: no such folder, and no hub model to load by that id ({reason})") from None
    model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype) if dtype != "auto" else "auto")
    if getattr(model.generation_config, GENERATION_CONFIG_KEY, None) is None and thinking is not None:
        contract = thinking
    else:
        contract = ThinkingConfig.from_generation_config(model.generation_config)
    add_thinking_to_model(model, tokenizer, contract)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device).eval()
    return model, tokenizer, contract
