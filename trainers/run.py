"""The one trainer path of every TRL-backed stage (sft, self_improve rounds, grpo, distill_onpolicy, prm).

Arguments merge in this order, later wins: the kind's visible `DEFAULTS` (in its recipe module), the recipe's
seed and report_to, ponder's CPU settings (`cpu_defaults`), the user's `trainer:` block, then the keys ponder
owns (output_dir, the launcher's DeepSpeed JSON, a kind's own such as GRPO's reward_weights), which
`ponder validate` refuses in `trainer:`. The resolved config is written to `<stage>/trainer_args.json`; then
resume, train, log and export happen here and nowhere else.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from transformers import TrainerState

from ponder.trainers.common import cpu_defaults, deepspeed_args, export_checkpoint, last_checkpoint, log_metrics
from ponder.trainers.progress import attach


def merge_trainer_args(ctx, out_dir: Path, runtime: dict | None = None) -> tuple[dict, dict]:
    """(arguments, origin of each key): what the stage's trainer config is built from, and from where.

    Everything comes from the stage's kind (`ctx.kind`, a `StageKind`): its defaults (with those its
    options imply), its owned keys' fixed values; `runtime` adds the owned values known only when it runs. `ponder
    show` calls this too, so it prints the run's merge."""
    kind = ctx.kind
    owned = {"output_dir": str(out_dir / "trainer"), **deepspeed_args(ctx.stage.launcher), **kind.owned_values}
    layers = [
        ("kind default", kind.trainer_defaults(ctx.stage)),
        ("recipe", {"seed": ctx.recipe.seed, "report_to": ctx.recipe.report_to}),
        ("cpu default", cpu_defaults()),
        ("trainer:", ctx.stage.trainer),
        ("ponder", {**owned, **(runtime or {})}),
    ]
    merged, origin = {}, {}
    for name, layer in layers:
        for key, value in layer.items():
            merged[key], origin[key] = value, name
    return merged, origin


def finished(checkpoint: str, args) -> bool:
    """Whether `checkpoint` holds the run's last step (max_steps runs only; epoch runs resume as usual)."""
    state = json.loads((Path(checkpoint) / "trainer_state.json").read_text())
    return args.max_steps > 0 and state.get("global_step", 0) >= args.max_steps


def run_trainer(
    ctx,
    build: Callable,
    *,
    out_dir: Path,
    source: str,
    tokenizer,
    is_lora: bool,
    runtime: dict | None = None,
    extra_metrics: Callable | None = None,
    export: dict | None = None,
) -> dict:
    """Merge the arguments, build the trainer (`build(args)`), resume, train, log and export the checkpoint.

    The config class, defaults and owned keys are the stage kind's (`ctx.kind`), read nowhere else.

    Args:
        build: `build(args) -> Trainer`.
        source: where the model was loaded from (the LoRA merge reloads it).
        runtime: values of owned keys known only now (GRPO's reward_weights).
        extra_metrics: `extra_metrics(trainer) -> dict` added to the logged metrics.
        export: extra keyword arguments of `export_checkpoint` (thinking contract, config updates, ...).

    Returns:
        {"metrics": ..., "artifacts": ...} with artifact paths relative to the stage folder.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    merged, _ = merge_trainer_args(ctx, out_dir, runtime)
    args = ctx.kind.config_class()(**merged)
    if getattr(args, "process_index", 0) == 0:
        (out_dir / "trainer_args.json").write_text(json.dumps(args.to_dict(), indent=2, default=str))
    trainer = build(args)
    attach(trainer, ctx.stage.name, out_dir)
    checkpoint = last_checkpoint(args.output_dir) if ctx.resume else None
    if checkpoint and finished(checkpoint, args) and not args.deepspeed:
        # Killed after the last checkpoint (or during the export): the training is done, only export is left.
        # Training "on" from it would take one more step and change the weights.
        print(f"{checkpoint} is the last step: exporting it without training again", flush=True)
        trainer._load_from_checkpoint(checkpoint)
        trainer.state = TrainerState.load_from_json(str(Path(checkpoint) / "trainer_state.json"))
    else:
        if checkpoint:
            print(f"resuming from {checkpoint}", flush=True)
        trainer.train(resume_from_checkpoint=checkpoint)
    metrics = log_metrics(trainer, out_dir)
    if extra_metrics is not None:
        metrics.update(extra_metrics(trainer))
    artifacts = export_checkpoint(trainer, ctx, source, tokenizer, is_lora, metrics, out_dir=out_dir, **(export or {}))
    return {"metrics": metrics, "artifacts": artifacts}
