"""The GPU check: every step of bench/gpu/run.sh, with its time limit, run one after another into $OUT.

    python bench/gpu/check.py OUT_DIR      # on the GPU machine (run.sh calls it after installing the wheels)
    python bench/gpu/check.py --dry-run    # anywhere: plan every step, validate its recipe and overrides, check
                                           # the limits fit one 10-minute call and the wheels are packed

Steps (issue: the GPU path, packed into one command):
  a. the tiny reasoner recipe on CUDA (bf16: TRL's GPU defaults; ponder's CPU defaults do not apply there);
  b. SFT through ponder's launcher: single process, DeepSpeed ZeRO-3 in one process, ZeRO-2 in two processes
     sharing the GPU (NCCL may refuse: that is a finding); losses compared with the single run;
  c. SmolLM2-135M's body (`tiny:smollm2-body`, random weights, character vocabulary) through LoRA SFT + 4 GRPO steps:
     tokens/s, peak CUDA memory (`peak_memory_mb`), GRPO step time;
  d. budget forcing on CUDA: the exactness tests (min/max/ignore-stops, scripted models) and tokens/s with budgets
     vs plain `generate` (bench/budget_overhead.py);
  e. `ponder serve`'s app on CUDA answering the openai client with `thinking_token_budget` (same bench).
Limits are from the first run on an H200 (bench/results/gpu_check_h200.json, 2026-12-04): 400 tiny SFT steps
27 s, 100 tiny GRPO steps 41 s, a one-process DeepSpeed SFT of 20 steps 41 s, 8 SmolLM2-body GRPO steps 66 s.
A step past its limit is killed with every process it started (a torchrun left running holds its port).
Writes OUT_DIR/gpu_check.json (figures per step and budget_overhead.json's, pass/fail, log tails) and
OUT_DIR/logs.tar.gz (one log per step). Runs and checkpoints go to a scratch folder outside OUT_DIR: the device
tool brings back at most 8 files, no more than 2 folders down.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CALL_LIMIT_S = 600  # the device tool's limit for one command
INSTALL_S = 40  # run.sh's offline install, before this script
SFT = "configs/tiny/sft.yaml"
SFT_SHORT = ["stages.distill.trainer.max_steps=20", "stages.distill.eval_size=0"]
LAUNCHERS = {  # name: (launcher, time limit in s)
    "single": (None, 40),
    "zero3_1proc": ("{type: torchrun, num_processes: 1, deepspeed: zero3}", 60),
    "zero2_2proc": ("{type: torchrun, num_processes: 2, deepspeed: zero2}", 60),
}
TINY_SHORT = ["stages.grpo.trainer.max_steps=50"]
BODY_RECIPE = """# ponder run bench/gpu/smollm2_body.yaml (written by bench/gpu/check.py)
name: smollm2-body
model: {name_or_path: "tiny:smollm2-body"}
stages:
  - {name: data, kind: task_data, tasks: [running_sum], size: 512}
  - name: sft
    kind: sft
    data: data
    lora: {r: 16, alpha: 32}
    trainer: {max_steps: 30, per_device_train_batch_size: 32, learning_rate: 1.0e-3, logging_steps: 5}
  - name: grpo
    kind: grpo
    init: sft
    tasks: [running_sum]
    size: 256
    lora: {r: 16, alpha: 32}
    trainer: {max_steps: 4, per_device_train_batch_size: 64, num_generations: 8, max_completion_length: 64,
              logging_steps: 1, log_completions: false}
"""


def steps(out: Path) -> list[dict]:
    """Each step: name, command, time limit, the recipe (and overrides) it runs, the files it needs."""
    ponder = [sys.executable, "-m", "ponder.recipes.cli", "run"]
    plan = [
        {
            "name": "a_tiny_reasoner",
            "cmd": [*ponder, "configs/tiny/reasoner.yaml", f"output_dir={out / 'runs'}", *TINY_SHORT],
            "limit": 120,
            "recipe": "configs/tiny/reasoner.yaml",
            "overrides": [f"output_dir={out / 'runs'}", *TINY_SHORT],
        }
    ]
    for name, (launcher, limit) in LAUNCHERS.items():
        overrides = [f"output_dir={out / 'runs' / name}", *SFT_SHORT]
        overrides += [f"stages.distill.launcher={launcher}"] if launcher else []
        plan.append(
            {
                "name": f"b_sft_{name}",
                "cmd": [*ponder, SFT, *overrides],
                "limit": limit,
                "recipe": SFT,
                "overrides": overrides,
            }
        )
    body = out / "smollm2_body.yaml"
    plan.append(
        {
            "name": "c_smollm2_body",
            "cmd": [*ponder, str(body), f"output_dir={out / 'runs'}"],
            "limit": 90,
            "recipe": str(body),
            "overrides": [f"output_dir={out / 'runs'}"],
            "writes": (body, BODY_RECIPE),
        }
    )
    plan.append(
        {
            "name": "d_budget_exactness",
            "limit": 40,
            "env": {"PONDER_TEST_DEVICE": "cuda"},
            "cmd": [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "tests/test_budget_forcing.py",
                "-k",
                "not real_sft_checkpoint",
            ],
            "needs": ["tests/test_budget_forcing.py"],
        }
    )
    plan.append(
        {
            "name": "de_budget_throughput_and_server",
            "limit": 75,
            "env": {"PONDER_BENCH_DEVICE": "cuda", "PONDER_BENCH_RESULTS": str(out)},
            "cmd": [sys.executable, "bench/budget_overhead.py"],
            "needs": ["bench/budget_overhead.py"],
        }
    )
    return plan


def dry_run(out: Path) -> list[str]:
    """Problems that would make the real run fail before it starts: none = ready."""
    from ponder.recipes.schema import RecipeError, load_recipe

    problems, plan = [], steps(out)
    total = INSTALL_S + sum(s["limit"] for s in plan)
    print(f"plan: {len(plan)} steps, limits {total} s of the {CALL_LIMIT_S} s one call may take")
    if total > CALL_LIMIT_S - 60:
        problems.append(f"limits add up to {total} s: leave a minute of the {CALL_LIMIT_S} s call")
    for step in plan:
        print(f"  {step['name']:<34} <= {step['limit']:>3} s  {' '.join(map(str, step['cmd'][2:]))[:120]}")
        for need in step.get("needs", []):
            if not (ROOT / need).exists():
                problems.append(f"{step['name']}: {need} is missing")
        if "recipe" in step:
            recipe = Path(step["recipe"])
            if "writes" in step:
                recipe.parent.mkdir(parents=True, exist_ok=True)
                recipe.write_text(step["writes"][1])
            try:
                load_recipe(ROOT / recipe if not recipe.is_absolute() else recipe, step["overrides"])
            except RecipeError as exc:
                problems.append(f"{step['name']}: {exc}")
    problems += wheel_problems()
    return problems


def wheel_problems() -> list[str]:
    """Every package in wheels.txt has its wheel in .gpu-wheels/ (when packed), and the imports a step needs are
    either packed or in the GPU image."""
    specs = [line.split("#")[0].strip() for line in (ROOT / "bench/gpu/wheels.txt").read_text().splitlines()]
    names = {s.split("==")[0].lower().replace("-", "_") for s in specs if s}
    problems = [
        f"wheels.txt lacks {n}" for n in ("trl", "datasets", "deepspeed", "math_verify", "openai") if n not in names
    ]
    folder = ROOT / ".gpu-wheels"
    if not folder.exists():
        print("wheels: .gpu-wheels/ not packed here (bash bench/gpu/pack.sh makes it); names checked only")
        return problems
    packed = {p.name.split("-")[0].lower() for p in folder.glob("*.whl")}
    missing = sorted(n for n in names if n not in packed)
    size = sum(p.stat().st_size for p in folder.glob("*.whl")) / 2**20
    print(f"wheels: {len(packed)} packed, {size:.1f} MiB; missing: {missing or 'none'}")
    return problems + [f"wheel not packed: {n}" for n in missing]


def tail(path: Path, chars: int = 2500) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return text[-chars:]


def stage_results(run_dir: Path) -> dict:
    return {
        p.parent.name: {
            k: v
            for k, v in json.loads(p.read_text()).items()
            if k in ("seconds", "peak_memory_mb", "peak_memory_of", "metrics")
        }
        for p in sorted(run_dir.glob("*/result.json"))
    }


def run_step(step: dict, log) -> int | str:
    """The step's exit code, or "timeout": then its whole process group is killed (torchrun's workers too)."""
    proc = subprocess.Popen(
        step["cmd"],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **step.get("env", {})},
        start_new_session=True,
    )
    try:
        return proc.wait(timeout=step["limit"])
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return "timeout"


def run(out: Path) -> dict:
    import torch

    scratch = Path(os.environ.get("TMPDIR", "/tmp")) / "ponder-gpu"
    logs = scratch / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    report = {
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no cuda",
        "torch": torch.__version__,
        "steps": {},
    }
    for name in ("transformers", "trl", "peft", "accelerate", "deepspeed", "datasets"):
        try:
            report[name] = __import__(name).__version__
        except Exception as exc:  # noqa: BLE001 - the report says what is missing
            report[name] = f"unavailable: {type(exc).__name__}"
    for step in steps(scratch):
        if "writes" in step:
            step["writes"][0].write_text(step["writes"][1])
        log = logs / f"{step['name']}.log"
        started = time.time()
        with log.open("w") as handle:
            rc = run_step(step, handle)
        entry = {"rc": rc, "ok": rc == 0, "seconds": round(time.time() - started, 1), "limit_s": step["limit"]}
        if not entry["ok"]:
            entry["log_tail"] = tail(log)
        report["steps"][step["name"]] = entry
        print(f"{step['name']}: rc {rc} in {entry['seconds']} s", flush=True)
        (out / "gpu_check.json").write_text(json.dumps(report, indent=2, default=str))  # partial results survive
        subprocess.run(["tar", "-czf", str(out / "logs.tar.gz"), "-C", str(scratch), "logs"], check=False)
    runs = scratch / "runs"
    report["a_tiny_reasoner"] = stage_results(runs / "tiny-reasoner")
    losses = {}
    for name in LAUNCHERS:
        results = stage_results(runs / name / "tiny-sft")
        report[f"b_sft_{name}"] = results.get("distill")
        if results.get("distill"):
            losses[name] = results["distill"]["metrics"].get("loss_last")
    if losses.get("single") is not None:
        report["b_loss_vs_single"] = {k: round(v - losses["single"], 4) for k, v in losses.items() if v is not None}
    report["c_smollm2_body"] = stage_results(runs / "smollm2-body")
    overhead = scratch / "budget_overhead.json"
    report["de_budget_overhead"] = json.loads(overhead.read_text()) if overhead.exists() else None
    (out / "gpu_check.json").write_text(json.dumps(report, indent=2, default=str))
    return report


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--dry-run":
        out = Path(argv[1]) if len(argv) > 1 and argv[1] else Path(os.environ.get("TMPDIR", "/tmp")) / "ponder-gpu"
        problems = dry_run(out)
        for problem in problems:
            print(f"PROBLEM: {problem}")
        print("dry run: ready" if not problems else f"dry run: {len(problems)} problems")
        return 1 if problems else 0
    report = run(Path(argv[0]))
    return 0 if all(s["ok"] for s in report["steps"].values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
