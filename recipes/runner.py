"""Run a recipe's stages in order into runs/<name>/<stage>/, skipping, resuming and re-running.

A stage works in `<stage>.partial/`; when it finishes, `result.json` is written there last and the
folder is renamed to `<stage>/`, so a failed or killed run never touches a finished stage's output.
Fingerprints chain (each includes the one before), so a changed stage re-runs with everything after.
A run that runs a stage writes the recipe's stage order to `runs/<name>/run.json` (read by `ponder.recipes.runs`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import torch
import yaml
from transformers import set_seed

from ponder.console import quiet_libraries
from ponder.errors import PonderError
from ponder.recipes.context import StageContext
from ponder.recipes.kind import stage_kind
from ponder.recipes.launch import run_multiprocess
from ponder.recipes.report import write_report
from ponder.recipes.runs import STAGE_ORDER
from ponder.recipes.schema import Recipe
from ponder.trainers.common import WEIGHT_FILES


def fingerprint(recipe: Recipe, stage, previous: str) -> str:
    payload = json.dumps(
        {"shared": recipe.shared_dict(), "stage": stage.to_dict(), "previous": previous}, sort_keys=True, default=str
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def write_json_atomic(path: Path, data: dict):
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    os.replace(tmp, path)


class RunError(PonderError, RuntimeError):
    """A run that cannot go on, said in one line (an unwritable folder, an unknown --from stage)."""


def read_result(stage_dir: Path) -> dict | None:
    """A finished stage's result, or None (and a note) when it is missing or unreadable: the stage re-runs."""
    path = stage_dir / "result.json"
    if not path.exists():
        return None
    try:
        result = json.loads(path.read_text())
        return result if isinstance(result, dict) else None
    except (OSError, ValueError) as exc:
        print(f"note: {path} is unreadable ({exc}); the stage runs again", flush=True)
        return None


def missing_artifact(stage_dir: Path, result: dict) -> str | None:
    """The first artifact of a finished stage that is gone (a checkpoint without its weights counts)."""
    for key, relative in result.get("artifacts", {}).items():
        path = stage_dir / relative
        if not path.exists():
            return str(path)
        if key == "checkpoint" and path.is_dir() and not any((path / f).exists() for f in WEIGHT_FILES):
            return f"{path}/{WEIGHT_FILES[0]}"
    return None


def peak_memory() -> dict:
    """The stage's peak memory: CUDA's allocated peak (reset when the stage starts), else the process's peak RSS
    (the runner's process and, for launched stages, its children; an in-process peak never goes down)."""
    import resource

    if torch.cuda.is_available():
        return {"peak_memory_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1), "peak_memory_of": "cuda"}
    rss = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return {"peak_memory_mb": round(rss / 1024, 1), "peak_memory_of": "process rss"}


def release_memory():
    """Hand the memory a finished stage freed back to the OS: glibc keeps freed heap pages, so without a trim each
    in-process stage would start from the previous stages' high-water mark (the recipe's peak RSS grows stage by
    stage)."""
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    try:
        ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        pass


def ensure_writable(run_dir: Path):
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-probe"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise RunError(
            f"{run_dir}: cannot write the run there ({exc.strerror}); set output_dir=... elsewhere"
        ) from None


def promote(partial: Path, final: Path):
    """Swap the finished partial folder into place; the old output is removed only after."""
    old = final.with_name(final.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        final.rename(old)
    partial.rename(final)
    if old.exists():
        shutil.rmtree(old)


def run_recipe(
    recipe: Recipe, overrides: list[str] | None = None, from_stage: str | None = None, verbose: bool = False
) -> dict:
    """Run the stages in order; one header and one result line per stage (`verbose` also prints each config)."""
    run_dir = Path(recipe.output_dir) / recipe.name
    quiet_libraries()
    if from_stage and from_stage not in [s.name for s in recipe.stages]:
        raise RunError(f"--from {from_stage!r}: no such stage; stages: {[s.name for s in recipe.stages]}")
    previous, forced, results, ran = "", False, {}, set()
    for index, stage in enumerate(recipe.stages, start=1):
        fp = fingerprint(recipe, stage, previous)
        previous = fp
        forced = forced or stage.name == from_stage
        final, partial = run_dir / stage.name, run_dir / f"{stage.name}.partial"
        done = read_result(final)
        banner = f"[{index}/{len(recipe.stages)}] {stage.name} ({stage.kind})"
        if done and done.get("status") == "finished" and done.get("fingerprint") == fp and not forced:
            gone = missing_artifact(final, done)
            if gone is None:
                print(f"=== {banner}: finished earlier, fingerprint {fp} unchanged: skipped", flush=True)
                results[stage.name] = done
                continue
            print(f"note: {gone} is missing; {stage.name} and the stages after it run again", flush=True)
            forced = True
        if not ran:
            ensure_writable(run_dir)
            write_json_atomic(run_dir / STAGE_ORDER, {"stages": [s.name for s in recipe.stages]})
        ran.add(stage.name)
        resume = (
            partial.exists() and (partial / "fingerprint").exists() and (partial / "fingerprint").read_text() == fp
        )
        if partial.exists() and not resume:
            shutil.rmtree(partial)
        partial.mkdir(parents=True, exist_ok=True)
        (partial / "fingerprint").write_text(fp)
        (partial / "config.yaml").write_text(
            yaml.safe_dump(
                {"shared": recipe.shared_dict(), "stage": stage.to_dict()}, sort_keys=False, default_flow_style=False
            )
        )
        print(f"=== {banner}{' (resuming)' if resume else ''} -> {final}", flush=True)
        if verbose:
            print((partial / "config.yaml").read_text(), flush=True)
        started = time.time()
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        # Stages share this process: without a reseed, what a stage samples (eval, STaR rounds, Monte
        # Carlo rollouts) would depend on which stages ran before it here (skipped ones, --from).
        set_seed(recipe.seed)
        if stage.launcher.type == "single":
            outcome = stage_kind(stage.kind).main(StageContext(recipe, stage, partial, run_dir, resume))
        else:
            outcome = run_multiprocess(stage, recipe.path, overrides or [], partial, run_dir, resume)
        result = {
            "status": "finished",
            "stage": stage.name,
            "kind": stage.kind,
            "fingerprint": fp,
            "seconds": round(time.time() - started, 2),
            **peak_memory(),
            "metrics": outcome.get("metrics", {}),
            "artifacts": outcome.get("artifacts", {}),
        }
        write_json_atomic(partial / "result.json", result)
        promote(partial, final)
        results[stage.name] = result
        release_memory()
        print(f"=== {banner} finished in {result['seconds']:.1f}s: {headline(result)}", flush=True)
    print_summary(recipe, results)
    report = run_dir / "report.md"
    if ran or not report.exists():  # a run that ran nothing leaves its report (and a read-only folder) alone
        report = write_report(recipe, results, run_dir, fresh=ran)
    print(f"report: {report} (every metric in each stage's result.json)", flush=True)
    return results


def headline(result: dict) -> str:
    """A stage's key figures (its kind's `headline` metrics, else its first few) in one short line."""
    metrics = result["metrics"]
    keys = [k for k in stage_kind(result["kind"]).headline if k in metrics] or list(metrics)[:4]
    return ", ".join(f"{k} {metrics[k]:.4g}" if isinstance(metrics[k], float) else f"{k} {metrics[k]}" for k in keys)


def print_summary(recipe: Recipe, results: dict):
    print(f"\n=== {recipe.name}: summary", flush=True)
    for name, result in results.items():
        print(f"  {name:<16} {result['kind']:<16} {result['seconds']:>8.1f}s  {headline(result)}", flush=True)
