"""ponder: train reasoning models and control how long they think.

The repository root is the `ponder` package (pyproject maps it), so `recipes/`, `trainers/`, `data/`,
`inference/` and `rewards/` are `ponder.recipes`, `ponder.trainers`, ... and `configs/` ships as data.
"""

from pathlib import Path

__version__ = "0.1.0"

CONFIGS_DIR = Path(__file__).resolve().parent / "configs"
