"""Keep a finished run's figures as a committed report: every stage's result.json of `runs/<recipe>/` in one JSON.

    python bench/run_report.py RUN_DIR NAME    # -> bench/results/NAME.json

For recipes too long to re-run inside a benchmark (the SmolLM2 recipes take ~25 minutes on 2 cores): README takes
their figures from these files, with the machine they ran on.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, write_results  # noqa: E402


def main():
    run_dir, name = Path(sys.argv[1]), sys.argv[2]
    stages = {}
    for path in sorted(run_dir.glob("*/result.json"), key=lambda p: p.stat().st_mtime):
        result = json.loads(path.read_text())
        stages[result["stage"]] = {
            k: result[k] for k in ("kind", "seconds", "peak_memory_mb", "metrics") if k in result
        }
    config = (run_dir / next(iter(stages)) / "config.yaml").read_text() if stages else ""
    figures = {
        "machine": machine(),
        "run": str(run_dir),
        "total_stage_seconds": round(sum(s["seconds"] for s in stages.values()), 1),
        "shared_config": config.split("stage:")[0],
        "stages": stages,
    }
    write_results(name, figures)


if __name__ == "__main__":
    main()
