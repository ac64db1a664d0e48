"""bench/gpu/run.sh --dry-run: the GPU check stays runnable between GPU loans (its recipes and overrides validate,
its steps fit one 10-minute device call, its wheels are listed and, where packed, present)."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_dry_run_is_ready(tmp_path):
    proc = subprocess.run(
        ["bash", "bench/gpu/run.sh", "--dry-run", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0 and "dry run: ready" in proc.stdout, proc.stdout + proc.stderr
    planned = [line.split()[0] for line in proc.stdout.splitlines() if line.startswith("  ") and "<=" in line]
    assert {p[:2] for p in planned} >= {"a_", "b_", "c_", "d_", "de"}, planned
    assert (tmp_path / "smollm2_body.yaml").exists()


def test_gpu_check_dry_run_catches_a_rotten_override(tmp_path, monkeypatch):
    import sys

    sys.path.insert(0, str(ROOT / "bench" / "gpu"))
    import check

    monkeypatch.setattr(check, "SFT_SHORT", ["stages.distill.trainer.max_stepz=20"])
    problems = check.dry_run(tmp_path)
    assert any("b_sft_single" in p and "max_stepz" in p for p in problems), problems
