"""`ponder generate`, `ponder chat`, `ponder serve` (filled in by the inference issue)."""
from __future__ import annotations


def add_inference_commands(sub):
    return sub
