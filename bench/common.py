"""Helpers shared by the benchmarks: a matmul peak measured in the same run, an eval stage's greedy pass again, and
JSON output."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from ponder.numerics import AVX2_EMULATION

# PONDER_BENCH_RESULTS: elsewhere (the GPU check writes under $OUT, never over the committed CPU figures).
RESULTS = Path(os.environ.get("PONDER_BENCH_RESULTS") or Path(__file__).resolve().parent / "results")


def matmul_peak_gflops(n: int = 2048, repeats: int = 5, dtype=torch.float32, trials: int = 3) -> float:
    """Best of `trials` timings of `repeats` n x n matmuls: the machine's practical peak for `dtype`."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(trials):
        start = time.perf_counter()
        for _ in range(repeats):
            a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 * repeats / best / 1e9


def run_one_stage(out: Path, model: str, stage_yaml: str, attn_implementation: str | None = None) -> dict:
    """Run a one-stage ponder recipe (the stage given as YAML lines) in `out`; returns the stage's metrics."""
    from ponder.recipes.runner import run_recipe
    from ponder.recipes.schema import load_recipe

    path = out / "bench.yaml"
    attention = f", attn_implementation: {attn_implementation}" if attn_implementation else ""
    path.write_text(
        f"name: bench\noutput_dir: {out / 'runs'}\n"
        f'model: {{name_or_path: "{model}"{attention}}}\nstages:\n{stage_yaml}'
    )
    return next(iter(run_recipe(load_recipe(path)).values()))["metrics"]


def run_recipe_process(
    recipe: str, seed: int, path: str, out: Path, training_stages: tuple, overrides: tuple = ()
) -> tuple[float, dict]:
    """`ponder run RECIPE seed=SEED [OVERRIDES]` in its own process, on a numeric path: `default` (the machine's) or
    `fp32_avx2` (`trainer: {bf16: false}` on each training stage, `ponder.numerics.AVX2_EMULATION`: how a 2-core
    AVX2 CPU without native bf16 computes). Returns (wall seconds, {stage: result.json})."""
    import os
    import subprocess
    import sys

    overrides = [f"seed={seed}", f"output_dir={out}", *overrides]
    env = {**os.environ}
    if path == "fp32_avx2":
        overrides += [f"stages.{s}.trainer.bf16=false" for s in training_stages]
        env.update(AVX2_EMULATION)  # AVX2 kernels for PyTorch, MKL (every matmul) and oneDNN; fp32
    start = time.time()
    root = Path(__file__).resolve().parent.parent
    command = [sys.executable, "-m", "ponder.recipes.cli", "run", recipe, *overrides]
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
    wall = time.time() - start
    if done.returncode != 0:
        raise RuntimeError(f"{recipe} seed {seed} {path}: {done.stderr[-2000:]}")
    (run_dir,) = [d for d in out.iterdir() if d.is_dir()]
    results = {
        s.name: json.loads((s / "result.json").read_text()) for s in run_dir.iterdir() if (s / "result.json").exists()
    }
    return wall, results


def sweep_parser(default_paths: list[str], description: str) -> argparse.ArgumentParser:
    """A bench's command line with the `--seeds` and `--paths` (numeric paths: default, fp32_avx2) that `sweep`
    runs; `description` (the bench's docstring) is its `--help`."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--paths", nargs="+", default=default_paths, choices=["default", "fp32_avx2"])
    return parser


def sweep(run, args: argparse.Namespace) -> list[dict]:
    """`run(seed, path, out_dir)` for every `args.seeds` x `args.paths`, each in a fresh temporary folder; prints
    each run's figures as they come."""
    import tempfile

    runs = []
    for path in args.paths:
        for seed in args.seeds:
            with tempfile.TemporaryDirectory() as out:
                runs.append(run(seed, path, Path(out)))
            print(json.dumps({k: v for k, v in runs[-1].items() if not isinstance(v, list)}), flush=True)
    return runs


def commit() -> str | None:
    """The commit the benches run from (`-dirty` with uncommitted changes), None outside a git checkout."""
    import subprocess

    found = subprocess.run(
        ["git", "-C", str(Path(__file__).parent), "describe", "--always", "--dirty", "--abbrev=7"],
        capture_output=True,
        text=True,
    )
    return found.stdout.strip() or None


def machine() -> dict:
    import os

    return {
        "cpu_count": os.cpu_count(),
        "native_bf16": bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()),
        "fp32_matmul_gflops": round(matmul_peak_gflops(), 1),
    }


def stage_config(run: Path, stage: str) -> tuple[dict, dict]:
    """A stage's merged config as the run wrote it: (the recipe's shared part, the stage's own)."""
    import yaml

    config = yaml.safe_load((run / stage / "config.yaml").read_text())
    return config["shared"], config["stage"]


def greedy_pass(run: Path, stage: str, checkpoint: Path, adapter: Path | None = None) -> list[tuple[dict, dict]]:
    """An eval stage's greedy pass again (its questions, dtype, batch size and token limit) by `checkpoint`, with a
    LoRA `adapter` merged onto it if given: (row, answer) per question, answer as `sample_and_verify` gives it."""
    from ponder.data.tasks import task_rows
    from ponder.inference.sampling import sample_and_verify
    from ponder.models.loading import load_for_inference
    from ponder.models.thinking import ThinkingConfig

    shared, opts = stage_config(run, stage)
    model, tokenizer, thinking = load_for_inference(
        str(checkpoint), shared["model"]["dtype"], thinking=ThinkingConfig(**shared["thinking"])
    )
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload().eval()
    rows = task_rows(opts["tasks"], opts["size"], opts["seed"], opts["difficulty"])
    out = sample_and_verify(
        model, tokenizer, thinking, rows, max_new_tokens=opts["max_new_tokens"], batch_size=opts["batch_size"]
    )
    return [(row, answer) for row, (answer,) in zip(rows, out)]


def write_results(name: str, figures: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(figures, indent=2))
    for key, value in figures.items():
        print(f"{key:>40}: {value}")
    print(f"wrote {path}")
    return path
