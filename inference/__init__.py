"""Generation with thinking budgets, serving and test-time search: `from ponder.inference import generate, ...`.

The names load on first use (PEP 562), so `ponder --help` and the CLI's argument parsing never import torch.
"""

from importlib import import_module

_EXPORTS = {
    "generate": "ponder.inference.generation",
    "Generation": "ponder.inference.generation",
    "load_for_inference": "ponder.models.loading",
    "serve": "ponder.inference.server",
    "create_app": "ponder.inference.server",
    "PRMScorer": "ponder.inference.prm",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'ponder.inference' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
