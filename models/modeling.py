"""Models and checkpoints: tiny Qwen2 builders for CPU, hub loading, and the checkpoint contract.

Everything goes through `from_pretrained`, so the code that loads a 0.6M-parameter tiny model here
loads `Qwen/Qwen2.5-1.5B-Instruct` on a GPU machine unchanged.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch

from ponder.models.chat import add_thinking_to_model, build_char_tokenizer
from ponder.models.thinking import GENERATION_CONFIG_KEY, ThinkingConfig

# Qwen2 architecture sizes for CPU work. `tiny` is what tests train in seconds; `small` (~20M) is
# the benchmark size where matmuls, not Python, dominate.
TINY_PRESETS = {
    "micro": dict(
        hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2
    ),
    "tiny": dict(
        hidden_size=128, intermediate_size=384, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=4
    ),
    "small": dict(
        hidden_size=512, intermediate_size=1536, num_hidden_layers=6, num_attention_heads=8, num_key_value_heads=4
    ),
    # SmolLM2-135M's body (its config: 30 layers, hidden 576, 9 heads, 3 KV heads) on the character vocabulary:
    # ~106M parameters, a real model's compute and memory shape with random weights (bench/gpu/run.sh).
    "smollm2-body": dict(
        hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3
    ),
}


def build_tiny_model(
    preset: str,
    thinking: ThinkingConfig | None = None,
    seed: int = 0,
    max_positions: int = 1024,
    token_classifier: bool = False,
    attn_implementation: str | None = None,
):
    """A randomly initialised Qwen2 causal LM (or two-label token classifier, for PRMs) + an in-process
    character tokenizer."""
    from transformers import Qwen2Config, Qwen2ForCausalLM, Qwen2ForTokenClassification

    if preset not in TINY_PRESETS:
        raise ValueError(f"unknown tiny preset {preset!r}; choose one of {sorted(TINY_PRESETS)}")
    tokenizer = build_char_tokenizer(thinking)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **({"num_labels": 2} if token_classifier else {}),
        **TINY_PRESETS[preset],
    )
    config._attn_implementation = attn_implementation
    torch.manual_seed(seed)
    return (Qwen2ForTokenClassification if token_classifier else Qwen2ForCausalLM)(config), tokenizer


def load_model_and_tokenizer(
    name_or_path: str,
    thinking: ThinkingConfig,
    dtype: str = "auto",
    seed: int = 0,
    load_in_4bit: bool = False,
    attn_implementation: str | None = None,
):
    """`tiny:<preset>` builds a fresh tiny model; anything else is a hub id or a local checkpoint.

    `load_in_4bit` is QLoRA's NF4 base (bitsandbytes, GPU only)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if name_or_path.startswith("tiny:"):
        return build_tiny_model(
            name_or_path.split(":", 1)[1], thinking, seed=seed, attn_implementation=attn_implementation
        )
    from ponder.models.packaged import resolve

    name_or_path = resolve(name_or_path)  # a model installed as a package: converted once, then a plain folder
    tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    torch_dtype = dtype if dtype == "auto" else getattr(torch, dtype)
    quantization = None
    if load_in_4bit:
        from transformers import BitsAndBytesConfig

        quantization = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_compute_dtype=torch.bfloat16,
            bnb_4bit_use_double_quant=True,
        )
    model = AutoModelForCausalLM.from_pretrained(
        name_or_path, dtype=torch_dtype, quantization_config=quantization, attn_implementation=attn_implementation
    )
    # the stage trains the new rows beside LoRA (`trainers.common.new_delimiter_embeddings` reads this mark)
    model.ponder_new_delimiters = add_thinking_to_model(model, tokenizer, thinking) > 0
    return model, tokenizer


def load_token_classifier(
    name_or_path: str, thinking: ThinkingConfig, seed: int = 0, attn_implementation: str | None = None
):
    """A two-label token classifier (a PRM) from `tiny:<preset>`, a causal LM checkpoint (its body, a new
    score head) or a trained PRM."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    if name_or_path.startswith("tiny:"):
        return build_tiny_model(
            name_or_path.split(":", 1)[1],
            thinking,
            seed=seed,
            token_classifier=True,
            attn_implementation=attn_implementation,
        )
    from ponder.models.packaged import resolve

    name_or_path = resolve(name_or_path)
    tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    if tokenizer.pad_token is None:  # the collator and the scorer pad with it
        tokenizer.pad_token = tokenizer.eos_token
    torch.manual_seed(seed)  # the new head's initialisation
    model = AutoModelForTokenClassification.from_pretrained(
        name_or_path, num_labels=2, dtype=torch.float32, attn_implementation=attn_implementation
    )
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


def save_checkpoint(model, tokenizer, output_dir: str | os.PathLike, thinking: ThinkingConfig, card: dict) -> Path:
    """Write a checkpoint that satisfies the contract: delimiters, thinking fields, template, model card.

    Written to `<output_dir>.tmp` and renamed, so a crash never leaves a half checkpoint in place.
    """
    output_dir = Path(output_dir)
    tmp = output_dir.with_name(output_dir.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    generation_config = getattr(model, "generation_config", None)
    if generation_config is not None:  # a PRM (token classifier) does not generate
        # A config marked as derived from the model config is rebuilt on load and would drop our fields.
        generation_config._from_model_config = False
        setattr(generation_config, GENERATION_CONFIG_KEY, thinking.to_dict())
        generation_config.eos_token_id = tokenizer.eos_token_id
        generation_config.pad_token_id = tokenizer.pad_token_id
        generation_config.save_pretrained(tmp)
    (tmp / "README.md").write_text(model_card(card, thinking))
    if output_dir.exists():
        shutil.rmtree(output_dir)
    tmp.rename(output_dir)
    return output_dir


def model_card(card: dict, thinking: ThinkingConfig) -> str:
    metrics = "\n".join(
        f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in card.get("metrics", {}).items()
    )
    return f"""---
library_name: transformers
tags: [ponder, reasoning]
---
# {card.get("title", "ponder checkpoint")}

Trained by ponder, stage `{card.get("stage", "?")}` of recipe `{card.get("recipe", "?")}`.

## Thinking
Thinking sits between `{thinking.think_start}` and `{thinking.think_end}` (single special tokens). The chat template
opens `{thinking.think_start}` for the assistant turn; pass `enable_thinking=False` for a direct answer.
Budget defaults (generation_config.json, key `{GENERATION_CONFIG_KEY}`): min {thinking.min_thinking_tokens},
max {thinking.max_thinking_tokens}, extension "{thinking.extension}",
forced-stop answer prefix "{thinking.answer_prefix}".
{card.get("thinking_note", "")}

## Usage
```bash
ponder generate {card.get("path_hint", "CHECKPOINT")} --prompt "..." --max-thinking-tokens 64
ponder serve {card.get("path_hint", "CHECKPOINT")} --port 8000
```

## Metrics
| metric | value |
|---|---|
{metrics}

## Recipe
```json
{json.dumps(card.get("recipe_config", {}), indent=2, default=str)}
```
"""
