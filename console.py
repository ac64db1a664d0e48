"""What `ponder run` shows on the terminal, and what it keeps off it.

Quiet by default: per stage a header, one live progress line (training steps with loss or reward, or generation
batches, with elapsed time and ETA: tqdm, as transformers draws it) and the result line; the libraries' progress
bars and info logs (datasets' Map/Saving bars, transformers' Loading weights bars, DeepSpeed's accelerator notice)
are silenced, warnings and errors still shown. `ponder run -v` sets PONDER_VERBOSE=1 (inherited by launched
processes) and keeps everything. A leaf module: any layer may import it.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys

VERBOSE_ENV = "PONDER_VERBOSE"


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def quiet_libraries():
    """Silence the libraries' bars and info logs for this process (nothing when verbose)."""
    if verbose():
        return
    if "DS_ACCELERATOR" not in os.environ:
        import torch

        if not torch.cuda.is_available():  # DeepSpeed picks the CPU anyway; named, it does not warn about it
            os.environ["DS_ACCELERATOR"] = "cpu"
    import datasets
    import huggingface_hub
    import transformers

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    huggingface_hub.utils.disable_progress_bars()
    with contextlib.redirect_stdout(io.StringIO()):  # it prints "[INFO] Running in WANDB offline mode" on import
        import transformers.integrations.integration_utils  # noqa: F401


def progress_bar(name: str, total: int, initial: int = 0, leave: bool = True, unit: str = ""):
    """A live one-line bar on stdout: `  name: n/total [elapsed<remaining], postfix`.

    Into a file or pipe (a log, CI), a bar redraws at most every 30 s, and a bar that does not stay (`leave=False`:
    generation inside a stage) is not drawn at all: each redraw there is text, not a moving cursor."""
    from tqdm.auto import tqdm

    tty = sys.stdout.isatty()
    return tqdm(
        total=total,
        initial=initial,
        desc=f"  {name}",
        file=sys.stdout,
        leave=leave,
        disable=not (tty or leave),
        dynamic_ncols=True,
        mininterval=1.0 if tty else 30.0,
        bar_format="{desc}: {n}/{total}" + (f" {unit}" if unit else "") + " [{elapsed}<{remaining}]{postfix}",
    )
