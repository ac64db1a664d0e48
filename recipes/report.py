"""The run report: runs/<name>/report.md with a table per stage and PNG plots (matplotlib, Agg)."""
from __future__ import annotations

import json
from pathlib import Path


def write_report(recipe, results: dict, run_dir: Path) -> Path:
    lines = [f"# {recipe.name}", "", recipe.description or "", "", f"Recipe: `{recipe.path}`", ""]
    for name, result in results.items():
        lines += [f"## {name} ({result['kind']})", "", f"{result['seconds']:.1f} s", "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in result["metrics"].items()]
        lines.append("")
        for plot in plots_for(name, result, run_dir):
            lines += [f"![{plot.stem}]({plot.relative_to(run_dir)})", ""]
    path = run_dir / "report.md"
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text("\n".join(lines))
    tmp.replace(path)
    return path


def plots_for(name: str, result: dict, run_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stage_dir, out = run_dir / name, []
    curves = stage_dir / "curves.json"
    if curves.exists():
        data = json.loads(curves.read_text())
        fig, ax = plt.subplots(figsize=(5, 3.2))
        numeric = [(b, acc) for b, acc, _ in data["max_budget"] if b is not None]
        ax.plot([b for b, _ in numeric], [a for _, a in numeric], "o-", label="max budget (forced stop)")
        if data["min_budget"]:
            ax.plot([m for m, _ in data["min_budget"]], [a for _, a in data["min_budget"]], "s--", label='min budget ("Wait")')
        ax.set(xlabel="thinking tokens (budget)", ylabel="accuracy", title=f"{name}: accuracy vs thinking budget")
        ax.legend()
        out.append(_save(fig, stage_dir / "accuracy_vs_budget.png"))
        if data.get("search"):
            fig, ax = plt.subplots(figsize=(5, 3.2))
            for method, points in data["search"].items():
                ax.plot([n for n, _, _ in points], [a for _, a, _ in points], "o-", label=method)
            ax.set_xscale("log", base=2)
            ax.set(xlabel="N (samples / beams)", ylabel="accuracy", title=f"{name}: test-time search")
            ax.legend()
            out.append(_save(fig, stage_dir / "accuracy_vs_n.png"))
    history = stage_dir / "log_history.json"
    if history.exists():
        logs = json.loads(history.read_text())
        series = [(key, [(h["step"], h[key]) for h in logs if key in h]) for key in ("loss", "reward")]
        series = [(k, points) for k, points in series if points and not (k == "loss" and result["kind"] == "grpo")]
        if series:
            fig, ax = plt.subplots(figsize=(5, 3.2))
            for key, points in series:
                ax.plot([s for s, _ in points], [v for _, v in points], label=key)
            ax.set(xlabel="step", title=f"{name}: training curve")
            ax.legend()
            out.append(_save(fig, stage_dir / "training_curve.png"))
    return out


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
