"""Load a checkpoint for inference with its thinking contract."""

from __future__ import annotations

import torch

from ponder.inference.thinking import ThinkingConfig


def load_for_inference(path: str, dtype: str = "float32", device: str | None = None):
    """(model, tokenizer, thinking) from a ponder checkpoint or any HF model with thinking delimiters.

    `dtype`: float32, bfloat16, float16 or auto (the checkpoint's own); stages pass the recipe's `model.dtype`."""
    from pathlib import Path

    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ponder.inference.packaged import resolve

    path = resolve(path)
    if not Path(path).exists() and (path.startswith((".", "/")) or path.count("/") != 1):
        raise FileNotFoundError(f"{path}: no such checkpoint folder (and not a hub id like org/name)")
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype) if dtype != "auto" else "auto")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device).eval()
    return model, tokenizer, ThinkingConfig.from_generation_config(model.generation_config)
