"""`task_data` stage: synthetic task rows with programmatic teacher traces (no selection).

The quick way to get SFT data for a tiny recipe or a test; `curate` adds verification and s1 selection.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from ponder.recipes.kind import StageKind
from ponder.recipes.schema import DIFFICULTY_HELP, check_difficulty


@dataclass
class Options:
    tasks: list = field(default_factory=lambda: ["running_sum"], metadata={"help": "Task names (ponder.data.tasks)."})
    size: int = field(default=1000, metadata={"help": "Rows per task."})
    difficulty: dict = field(default_factory=dict, metadata={"help": DIFFICULTY_HELP})
    flaw_rate: float = field(default=0.0, metadata={"help": "Share of teacher traces with a deliberate wrong step."})
    seed_offset: int = field(default=0, metadata={"help": "Added to the recipe seed, so splits differ."})
    direct: list = field(
        default_factory=list,
        metadata={
            "help": "Tasks whose rows carry no trace: an sft stage trains them as direct answers (a mix of "
            "thinking and direct data, as Qwen3 trains both modes)."
        },
    )

    def __post_init__(self):
        if set(self.direct) - set(self.tasks):
            raise ValueError(f"direct={self.direct}: name tasks of this stage ({self.tasks})")
        if self.size <= 0:
            raise ValueError(f"size={self.size} must be > 0")
        if not 0.0 <= self.flaw_rate <= 1.0:
            raise ValueError(f"flaw_rate={self.flaw_rate} must be within [0, 1]")
        check_difficulty(self.tasks, self.difficulty)


def main(ctx) -> dict:
    import datasets

    from ponder.data.loading import save_dataset
    from ponder.data.tasks import get_task

    opts, thinking = ctx.stage.options, ctx.recipe.thinking
    rows = []
    for name in opts.tasks:
        task = get_task(name)
        rng = random.Random(ctx.recipe.seed + opts.seed_offset)
        for row in task.rows(opts.size, seed=ctx.recipe.seed + opts.seed_offset, difficulty=opts.difficulty.get(name)):
            trace = task.teacher_trace(row, flaw_rate=opts.flaw_rate, rng=rng)
            rows.append(
                {
                    **row,
                    "reasoning": None if name in opts.direct else trace.text(thinking.step_separator),
                    "answer": trace.answer,
                    "gold": row["answer"],
                    "flawed": trace.flawed,
                }
            )
    random.Random(ctx.recipe.seed).shuffle(rows)
    artifacts = save_dataset(datasets.Dataset.from_list(rows), ctx.workdir)
    metrics = {"rows": len(rows), "flawed": sum(r["flawed"] for r in rows)}
    return {"metrics": metrics, "artifacts": artifacts}


KIND = StageKind(
    name="task_data",
    options=Options,
    main=main,
    produces=frozenset({"data"}),
    curves=(),
    headline=("rows",),
)
