"""A training stage's console: one live progress line; TRL's per-step log dicts go to a file (`ponder.console`).

Every log dict TRL would print goes to `<stage>/train_log.jsonl` as it is logged (and to wandb/trackio with
`report_to`), the whole curve to `log_history.json` at the end; `ponder run -v` keeps TRL's own console output.
"""

from __future__ import annotations

import json
from pathlib import Path

from transformers import PrinterCallback, ProgressCallback, TrainerCallback

from ponder.console import progress_bar, verbose

SHOWN = ("reward", "loss")  # the first of these a log holds is shown on the progress line


class StageProgress(TrainerCallback):
    """Appends every log dict to `<out_dir>/train_log.jsonl` and, unless verbose, draws the stage's progress line."""

    def __init__(self, name: str, out_dir: Path, show: bool = True):
        self.name, self.path, self.show = name, Path(out_dir) / "train_log.jsonl", show
        self.bar = None

    def on_train_begin(self, args, state, control, **kwargs):
        if self.show and state.is_world_process_zero:
            self.bar = progress_bar(self.name, state.max_steps, initial=state.global_step)

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        with self.path.open("a") as out:
            out.write(json.dumps({"step": state.global_step, **logs}, default=str) + "\n")
        shown = next((k for k in SHOWN if isinstance(logs.get(k), (int, float))), None)
        if self.bar is not None and shown:
            self.bar.set_postfix_str(f"{shown} {logs[shown]:.4g}", refresh=False)

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)
            self.bar.close()
            self.bar = None


def attach(trainer, name: str, out_dir: Path):
    """Route a trainer's console output: TRL's printed log dicts and bar replaced by `StageProgress`."""
    show = not verbose()
    if show:
        trainer.remove_callback(PrinterCallback)
        trainer.remove_callback(ProgressCallback)
    trainer.add_callback(StageProgress(name, out_dir, show=show))
