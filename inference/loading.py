"""Load a checkpoint for inference with its thinking contract."""

from __future__ import annotations

import torch

from ponder.inference.thinking import ThinkingConfig


def load_for_inference(path: str, dtype: str = "float32", device: str | None = None):
    """(model, tokenizer, thinking) from a ponder checkpoint or any HF model with thinking delimiters."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype) if dtype != "auto" else "auto")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device).eval()
    return model, tokenizer, ThinkingConfig.from_generation_config(model.generation_config)
