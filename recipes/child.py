"""Entry point of each process of a multi-process stage (started by torchrun / accelerate launch)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from transformers import set_seed

from ponder.console import quiet_libraries
from ponder.recipes.context import StageContext
from ponder.recipes.kind import stage_kind
from ponder.recipes.schema import load_recipe


def main(spec_file: str):
    spec = json.loads(Path(spec_file).read_text())
    recipe = load_recipe(spec["recipe"], spec["overrides"])
    stage = recipe.stage(spec["stage"])
    set_seed(recipe.seed)  # as the single-process runner does before every stage
    quiet_libraries()
    ctx = StageContext(recipe, stage, Path(spec["workdir"]), Path(spec["run_dir"]), spec["resume"])
    outcome = stage_kind(stage.kind).main(ctx)
    if int(os.environ.get("RANK", "0")) == 0:
        tmp = ctx.workdir / "outcome.json.tmp"
        tmp.write_text(json.dumps(outcome, default=str))
        os.replace(tmp, ctx.workdir / "outcome.json")


if __name__ == "__main__":
    main(sys.argv[1])
