"""A run folder as the commands that read it after `ponder run` see it: its stage folders (`config.yaml` from the
stage's start, `result.json` and the artifacts it names once it finished), `run.json` (the recipe's stage order,
written by the runner whenever it runs a stage), and the checkpoint a checkpoint, stage or run folder stands for
(`ponder generate`, `chat` and `serve` take any of the three)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ponder.errors import PonderError
from ponder.recipes.kind import stage_kind

STAGE_ORDER = "run.json"  # {"stages": [names in recipe order]}


class RunFolderError(PonderError, FileNotFoundError):
    """A folder that holds no model checkpoint to load, said with what it is instead."""


def read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def stage_folders(run_dir: Path) -> list[str]:
    """The run's stage folders, finished or not (the runner writes `config.yaml` into each as the stage starts)."""
    return sorted(p.name for p in run_dir.iterdir() if (p / "config.yaml").is_file())


def stage_checkpoint(stage_dir: Path) -> Path:
    """A finished stage's model checkpoint, or RunFolderError saying why the stage has none."""
    result = read_json(stage_dir / "result.json")
    if result is None:
        raise RunFolderError(f"{stage_dir}: the stage has not finished (no readable result.json), so no checkpoint")
    kind, relative = result.get("kind"), result.get("artifacts", {}).get("checkpoint")
    if relative is None:
        raise RunFolderError(f"{stage_dir}: its stage ({kind}) writes no checkpoint")
    try:
        produces = stage_kind(kind).produces
    except LookupError as exc:
        raise RunFolderError(f"{stage_dir}: its kind cannot be read ({exc}); name its checkpoint folder") from None
    if "model" not in produces:
        raise RunFolderError(
            f"{stage_dir}: its stage ({kind}) makes a checkpoint that scores steps and generates nothing "
            "(serve it beside a policy: ponder serve POLICY --prm CHECKPOINT --allocation ALLOCATION)"
        )
    checkpoint = stage_dir / relative
    if not (checkpoint / "config.json").is_file():
        raise RunFolderError(f"{stage_dir}: its checkpoint {checkpoint} is gone; `ponder run` makes it again")
    return checkpoint


def run_checkpoint(run_dir: Path) -> Path:
    """The checkpoint of a run's last stage in recipe order (`run.json`) that has one, named on stderr; a run from
    before `run.json` was written: the last such stage to finish (a changed stage re-runs with every stage after it,
    so finishing order is recipe order while the folders keep their times)."""
    folders = stage_folders(run_dir)
    order = (read_json(run_dir / STAGE_ORDER) or {}).get("stages")
    if isinstance(order, list):
        how = "in recipe order"
    else:
        done = [run_dir / name / "result.json" for name in folders if (run_dir / name / "result.json").is_file()]
        order, how = [p.parent.name for p in sorted(done, key=lambda p: p.stat().st_mtime)], "to finish (no run.json)"
    for name in reversed(order):
        try:
            checkpoint = stage_checkpoint(run_dir / name)
        except RunFolderError:
            continue
        print(
            f"ponder: {run_dir}: using stage {name}, the last {how} with a checkpoint: {checkpoint}", file=sys.stderr
        )
        return checkpoint
    raise RunFolderError(f"{run_dir}: none of its stage folders ({', '.join(folders)}) has a checkpoint")


def find_checkpoint(path: str) -> str:
    """The checkpoint folder `path` stands for: a checkpoint folder (config.json) itself, a stage folder's
    checkpoint, or a run folder's last stage with one; anything that is no folder (a hub id, `tiny:`, `pypi:`, a
    missing path) is left to `load_for_inference` to load or refuse."""
    folder = Path(path)
    if not folder.is_dir() or (folder / "config.json").is_file():
        return path
    if (folder / "config.yaml").is_file():
        return str(stage_checkpoint(folder))
    if stage_folders(folder):
        return str(run_checkpoint(folder))
    raise RunFolderError(
        f"{path}: neither a checkpoint folder (no config.json), a stage folder (no config.yaml) nor a run folder "
        "(no stage folders in it)"
    )
