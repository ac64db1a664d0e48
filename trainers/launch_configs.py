"""Shipped DeepSpeed configs by name (configs/accelerate/<name>.json), or a path."""

from __future__ import annotations

from pathlib import Path

from ponder import CONFIGS_DIR

NAMED = ("ddp", "zero2", "zero3", "zero3_offload")


def deepspeed_config_path(name_or_path: str) -> Path:
    path = CONFIGS_DIR / "accelerate" / f"{name_or_path}.json" if name_or_path in NAMED else Path(name_or_path)
    if not path.exists():
        raise FileNotFoundError(f"DeepSpeed config {name_or_path!r} not found (named: {NAMED[1:]}, or a JSON path)")
    return path
