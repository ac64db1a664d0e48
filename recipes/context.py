"""What a stage entry point receives: the recipe, its stage, its folder, and earlier stages' outputs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ponder.errors import PonderError
from ponder.recipes.schema import Recipe, Stage


class StageError(PonderError, ValueError):
    """A stage that cannot go on with what it was given (every prompt an eval question, no trace left to select),
    said in one line that names the stage and the setting to change: `ponder run` prints no traceback for it."""


@dataclass
class StageContext:
    recipe: Recipe
    stage: Stage
    workdir: Path  # the stage writes here (runs/<name>/<stage>.partial until it finishes)
    run_dir: Path  # runs/<name>
    resume: bool = False

    @property
    def kind(self):
        """The stage's `StageKind`: its trainer config class, defaults and owned keys (trainers read them here)."""
        from ponder.recipes.kind import stage_kind

        return stage_kind(self.stage.kind)

    def upstream_dir(self, stage_name: str) -> Path:
        return self.run_dir / stage_name

    def upstream_result(self, stage_name: str) -> dict:
        path = self.upstream_dir(stage_name) / "result.json"
        if not path.exists():
            raise FileNotFoundError(f"stage {stage_name!r} has not finished: {path} is missing")
        return json.loads(path.read_text())

    def artifact(self, stage_name: str, key: str) -> Path:
        result = self.upstream_result(stage_name)
        if key not in result.get("artifacts", {}):
            raise KeyError(
                f"stage {stage_name!r} wrote no {key!r} artifact (it has {sorted(result.get('artifacts', {}))})"
            )
        return self.upstream_dir(stage_name) / result["artifacts"][key]

    def dataset(self, required: tuple, optional: tuple = ()):
        """The stage's `data:`: an earlier stage's dataset or a DataSpec, with ponder's column names."""
        from ponder.data.loading import load_dataset_from_spec, load_stage_dataset

        data = self.stage.data
        if isinstance(data, str):
            return load_stage_dataset(self.upstream_dir(data), required, optional)
        return load_dataset_from_spec(data, required, optional)

    def prompt_rows(self) -> tuple[list[dict], int]:
        """The prompts an RL-like stage (grpo, distill_onpolicy) trains on: its `data:` (its kind's columns, plus
        `answer` where there is one), else `size` rows of each of its `tasks`, drawn with the recipe's seed + 1 (eval
        sets use the seed); without the eval questions its `decontaminate:` names. Returns the rows and how many
        decontamination dropped."""
        from ponder.data.tasks import task_rows
        from ponder.recipes.kind import stage_kind

        stage, opts = self.stage, self.stage.options
        if stage.data is not None:
            required = stage_kind(stage.kind).data_columns
            rows = self.dataset(required, tuple({"answer"} - set(required))).to_list()
        else:
            rows = task_rows(opts.tasks, opts.size, self.recipe.seed + 1, opts.difficulty)
        return self.without_eval_questions(rows)

    def without_eval_questions(self, rows: list[dict]) -> tuple[list[dict], int]:
        """`rows` less those whose prompt is a question of an eval set the stage's `decontaminate:` names (training
        on them would score the eval on what was trained), and how many were dropped; none left is an error."""
        from ponder.data.curation import decontaminate

        opts = self.stage.options
        if not opts.decontaminate:
            return rows, 0
        kept, dropped = decontaminate(rows, opts.decontaminate, opts.ngram)
        if not kept:
            raise StageError(f"stage {self.stage.name!r}: decontamination dropped all {dropped} prompts (ngram: 0?)")
        return kept, dropped

    def checkpoint(self, ref: str) -> str:
        """An earlier stage's checkpoint when `ref` names a stage, else `ref` itself (a path or hub id)."""
        if any(s.name == ref for s in self.recipe.stages):
            return str(self.artifact(ref, "checkpoint"))
        return ref

    def model_source(self) -> str:
        """Where this stage's model starts: an earlier stage's checkpoint, a path/hub id, or the recipe model."""
        return self.checkpoint(self.stage.init) if self.stage.init else self.recipe.model.name_or_path
