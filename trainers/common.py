"""Pieces every ponder trainer stage shares: device-aware defaults, LoRA configs, merging, metrics."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from ponder.models.modeling import load_model_and_tokenizer, save_checkpoint
from ponder.numerics import forced_bf16


def cpu_defaults() -> dict:
    """TRL's defaults assume a GPU. On a CPU: `use_cpu` (TRL refuses to start without it), no gradient
    checkpointing (recomputing activations a small model never needed to drop costs ~20%), and bf16
    autocast only where the CPU has native bf16 (avx512_bf16/AMX: measured 1.6x faster than fp32 here);
    elsewhere bf16 is emulated and slower, so fp32. `PONDER_CPU_BF16=0`/`1` picks the path on any CPU
    (`ponder.numerics`: the test suite runs a second time that way, as on a CPU without native bf16)."""
    if torch.cuda.is_available():
        return {}
    forced = forced_bf16()
    bf16 = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()) if forced is None else forced
    return {"use_cpu": True, "bf16": bf16, "fp16": False, "gradient_checkpointing": False}


def lora_config(lora, task_type: str = "CAUSAL_LM", embeddings: list[str] | None = None):
    """PEFT's LoraConfig; `embeddings` (module names) are trained whole beside the adapters, tied weights kept tied.

    Training starts a model on delimiters it has never seen (`<think>`, `</think>`, rows initialised from their
    text's pieces): the adapters alone could not raise `</think>` above the `</` piece it was made from (SmolLM2
    after 100 LoRA steps wrote `</` as text and never closed its thinking), so such a run trains the embeddings
    too, as PEFT advises for added tokens. (PEFT's trainable-token rows would be lighter, but TRL computes the loss
    from `lm_head.weight` directly, past them.)"""
    from peft import LoraConfig

    extra = {"modules_to_save": embeddings, "ensure_weight_tying": True} if embeddings else {}
    if task_type == "TOKEN_CLS":  # PEFT trains the new head whole; "all-linear" must not put adapters on it too
        extra["exclude_modules"] = ["score", "classifier"]
    return LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora.target_modules,
        task_type=task_type,
        **extra,
    )


def new_delimiter_embeddings(model) -> list[str] | None:
    """The embedding modules to train beside LoRA when loading gave the model its delimiters just now
    (`load_model_and_tokenizer` marks it `ponder_new_delimiters`): the input embedding's name, and the output's too
    when it is not tied to it; None when the delimiters were known (a ponder checkpoint; a `tiny:` model)."""
    if not getattr(model, "ponder_new_delimiters", False):
        return None
    inputs, outputs = model.get_input_embeddings(), model.get_output_embeddings()
    wanted = [inputs] + ([outputs] if outputs is not None and outputs.weight is not inputs.weight else [])
    return [name.rsplit(".", 1)[-1] for name, module in model.named_modules() if any(module is w for w in wanted)]


WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "adapter_model.safetensors")


def last_checkpoint(output_dir: Path) -> str | None:
    """The newest complete checkpoint. The HF Trainer writes trainer_state.json last, so a process killed
    while saving leaves a checkpoint folder without it (or with it cut short); a checkpoint whose weights are
    gone is no checkpoint either: skip such folders and fall back to an older one."""

    def complete(path: Path) -> bool:
        try:
            json.loads((path / "trainer_state.json").read_text())
        except (OSError, ValueError):
            return False
        return any((path / name).exists() for name in WEIGHT_FILES)

    checkpoints = sorted(Path(output_dir).glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    return next((str(p) for p in reversed(checkpoints) if complete(p)), None)


def log_metrics(trainer, out_dir: Path | None = None) -> dict:
    """The whole run's figures from the training log (an interrupted and resumed run reports what an
    uninterrupted one does): first/last logged loss, `train_loss` as the step-weighted mean of the logged
    losses, cumulative `num_tokens`; the whole curve goes to `<out_dir>/log_history.json` for the report.
    Wall-clock figures (`train_runtime`, samples/s) are those of the last training session."""
    log = trainer.state.log_history
    if out_dir is not None and trainer.accelerator.is_main_process:
        (Path(out_dir) / "log_history.json").write_text(json.dumps(log))
    history = [h for h in log if "loss" in h]
    metrics = {"global_step": trainer.state.global_step}
    if history:
        metrics.update(loss_first=history[0]["loss"], loss_last=history[-1]["loss"])
        covered = [h["step"] - (earlier["step"] if earlier else 0) for earlier, h in zip([None, *history], history)]
        metrics["train_loss"] = sum(h["loss"] * n for h, n in zip(history, covered)) / max(sum(covered), 1)
        if "mean_token_accuracy" in history[-1]:
            metrics["mean_token_accuracy"] = history[-1]["mean_token_accuracy"]
        tokens = [h["num_tokens"] for h in history if "num_tokens" in h]
        if tokens:  # TRL's counter starts at 0 again after a resume: add up the segments
            total, offset, previous = 0.0, 0.0, 0.0
            for value in tokens:
                if value < previous:
                    offset += previous
                previous, total = value, offset + value
            metrics["num_tokens"] = total
        epochs = [h["epoch"] for h in log if "epoch" in h]
        if epochs:
            metrics["epoch"] = epochs[-1]
    summary = next((h for h in reversed(log) if "train_runtime" in h), {})
    for key in ("train_runtime", "train_samples_per_second"):
        if key in summary:
            metrics[key] = summary[key]
    evals = [h for h in log if "eval_loss" in h]
    if evals:
        metrics["eval_loss"] = evals[-1]["eval_loss"]
    return metrics


def export_checkpoint(
    trainer,
    ctx,
    base_source: str,
    tokenizer,
    is_lora: bool,
    metrics: dict,
    note: str = "",
    thinking=None,
    out_dir: Path | None = None,
    config_updates: dict | None = None,
    token_classifier: bool = False,
) -> dict:
    """Save the adapter (LoRA) or weights, then on the main process write the merged checkpoint.

    The merge reloads the base from disk and applies the saved adapter, so it works the same after
    DeepSpeed ZeRO-3 (whose `save_model` gathers the partitioned weights) as in a single process.
    """
    from transformers import AutoModelForCausalLM, AutoModelForTokenClassification, AutoTokenizer

    from ponder.models.chat import add_thinking_to_model

    model_class = AutoModelForTokenClassification if token_classifier else AutoModelForCausalLM
    out_dir = out_dir or ctx.workdir
    raw_dir = out_dir / ("adapter" if is_lora else "weights")
    trainer.save_model(str(raw_dir))
    artifacts = {"adapter": "adapter"} if is_lora else {}
    if trainer.accelerator.is_main_process:
        # ZeRO-3 leaves a global config that makes from_pretrained partition (and broadcast) weights
        # across ranks; the merge is a rank-0 job on gathered files, so switch it off here.
        from transformers.integrations.deepspeed import unset_hf_deepspeed_config

        unset_hf_deepspeed_config()
        if is_lora:
            from peft import PeftModel

            base = model_class.from_pretrained(base_source, dtype=torch.float32)
            if len(tokenizer) != base.get_input_embeddings().weight.shape[0]:  # rows for the delimiters, as trained
                add_thinking_to_model(
                    base, AutoTokenizer.from_pretrained(base_source), thinking or ctx.recipe.thinking
                )
            model = PeftModel.from_pretrained(base, str(raw_dir)).merge_and_unload()
        else:
            model = model_class.from_pretrained(str(raw_dir), dtype=torch.float32)
        for key, value in (config_updates or {}).items():
            setattr(model.config, key, value)
        card = {
            "title": f"{ctx.recipe.name} / {ctx.stage.name}",
            "stage": ctx.stage.name,
            "recipe": ctx.recipe.path,
            "metrics": metrics,
            "recipe_config": {"shared": ctx.recipe.shared_dict(), "stage": ctx.stage.to_dict()},
            "thinking_note": note,
        }
        save_checkpoint(model, tokenizer, out_dir / "checkpoint", thinking or ctx.recipe.thinking, card)
        if not is_lora:
            import shutil

            shutil.rmtree(raw_dir)  # the merged checkpoint holds the same weights
    trainer.accelerator.wait_for_everyone()
    prefix = f"{out_dir.relative_to(ctx.workdir)}/" if out_dir != ctx.workdir else ""
    return {k: prefix + v for k, v in {**artifacts, "checkpoint": "checkpoint"}.items()}


def deepspeed_args(launcher) -> dict:
    from ponder.trainers.launch_configs import deepspeed_config_path

    return {"deepspeed": str(deepspeed_config_path(launcher.deepspeed))} if launcher.deepspeed else {}


def prepare_model(ctx, source: str, out_dir: Path, load_in_4bit: bool = False):
    """Load the starting model; a fresh `tiny:` model is saved as `base/` (rank 0) for the later merge."""
    from ponder.models.packaged import resolve

    recipe, source = ctx.recipe, resolve(source)  # the LoRA merge reloads the base from this folder
    model, tokenizer = load_model_and_tokenizer(
        source, recipe.thinking, recipe.model.dtype, recipe.seed, load_in_4bit, recipe.model.attn_implementation
    )
    return model, tokenizer, keep_tiny_base(model, tokenizer, source, recipe.thinking, out_dir)


def keep_tiny_base(model, tokenizer, source: str, thinking, out_dir: Path, title: str = "") -> str:
    """A fresh `tiny:` model is saved as `<out_dir>/base/` (rank 0; every rank built the same seeded model), which
    the LoRA merge reloads; returns where the base now is (`source` itself for any other model)."""
    if not source.startswith("tiny:"):
        return source
    base_dir = out_dir / "base"
    if int(os.environ.get("RANK", "0")) == 0:
        save_checkpoint(model, tokenizer, base_dir, thinking, {"title": f"{source}{title} (random init)"})
    return str(base_dir)
