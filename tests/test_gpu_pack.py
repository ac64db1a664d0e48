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


def test_readme_quotes_the_committed_gpu_check():
    import json

    run = json.loads((ROOT / "bench/results/gpu_check_h200.json").read_text())
    check, tiny = run["check"], run["check"]["a_tiny_reasoner"]
    sft, body = check["b_sft_single"]["metrics"], check["c_smollm2_body"]["sft"]
    served = check["de_budget_overhead"]
    quotes = [
        f"400 SFT steps in {tiny['distill']['seconds']:.1f} s",
        f"100 GRPO steps in {tiny['grpo']['seconds']:.1f} s",
        f"accuracy {tiny['grpo']['metrics']['accuracy_first']:.3f} -> {tiny['grpo']['metrics']['accuracy_last']:.3f}",
        f"{body['metrics']['global_step']} steps, {body['seconds']:.1f} s, {body['peak_memory_mb']:.0f} MB",
        f"({run['followup_call']['b_sft_zero2_1proc']['loss_last']:.3f} vs {sft['loss_last']:.3f} after 20 steps)",
        f"batched {served['server_requests_per_s']:.2f} vs one-at-a-time",
        f"one-at-a-time {served['server_unbatched_requests_per_s']:.2f} requests/s",
    ]
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert [q for q in quotes if q not in readme] == []
