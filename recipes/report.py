"""The run report: runs/<name>/report.md with a table per stage and PNG plots (matplotlib, Agg)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ponder.recipes.kind import stage_kind


def write_report(recipe, results: dict, run_dir: Path, fresh: set | None = None) -> Path:
    """The run's report.md; a stage's plots are drawn when it ran in this invocation (`fresh`, default: all) or
    when they are missing, so a rerun never rewrites files inside finished stage folders."""
    fresh = set(results) if fresh is None else fresh
    lines = [f"# {recipe.name}", "", recipe.description or "", "", f"Recipe: `{recipe.path}`", ""]
    curves = {
        name: json.loads((run_dir / name / "curves.json").read_text())
        for name in results
        if (run_dir / name / "curves.json").exists()
    }
    lines += overview(recipe, results, curves, run_dir)
    for name, result in results.items():
        lines += [
            f"## {name} ({result['kind']})",
            "",
            f"{result['seconds']:.1f} s",
            "",
            "| metric | value |",
            "|---|---|",
        ]
        lines += [
            f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in result["metrics"].items()
        ]
        lines.append("")
        for plot in plots_for(name, result, curves.get(name), run_dir, redraw=name in fresh):
            lines += [f"![{plot.stem}]({plot.relative_to(run_dir)})", ""]
    path = run_dir / "report.md"
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text("\n".join(lines))
    tmp.replace(path)
    return path


SUMMARY_COLUMNS = (
    "direct_accuracy",
    "accuracy@inf",
    "pass@1",
    "majority_vote_accuracy",
    "thinking_tokens@inf",
    "s1_control",
    "s1_scaling",
    "s1_performance",
)


def overview(recipe, results: dict, curves: dict, run_dir: Path) -> list[str]:
    """Stage times, then every eval stage side by side (which checkpoint, direct vs thinking, s1 metrics)
    with their accuracy-vs-budget curves in one plot: the before/after the stages are for."""
    total = sum(r["seconds"] for r in results.values())
    lines = ["## Summary", "", "| stage | kind | seconds |", "|---|---|---|"]
    lines += [f"| {name} | {r['kind']} | {r['seconds']:.1f} |" for name, r in results.items()]
    lines += [f"| total | | {total:.1f} |", ""]
    evals = {name: r for name, r in results.items() if "eval" in stage_kind(r["kind"]).produces}
    if not evals:
        return lines
    init = {s.name: model_label(s.init or recipe.model.name_or_path, recipe, run_dir) for s in recipe.stages}
    lines += ["| eval | model | " + " | ".join(SUMMARY_COLUMNS) + " |", "|---" * (len(SUMMARY_COLUMNS) + 2) + "|"]
    for name, r in evals.items():
        cells = [f"{r['metrics'][c]:.3g}" if c in r["metrics"] else "" for c in SUMMARY_COLUMNS]
        lines.append(f"| {name} | {init.get(name)} | " + " | ".join(cells) + " |")
    lines.append("")
    if curves:
        fig, ax = _figure()
        for name, data in curves.items():
            plot_max_budget(ax, data, name)
        ax.set(xlabel="mean thinking tokens (max budgets, unlimited)", ylabel="accuracy", title="accuracy vs thinking")
        ax.legend()
        plot = _save(fig, run_dir / "accuracy_vs_budget.png")
        lines += [f"![accuracy_vs_budget]({plot.name})", ""]
    return lines


def model_label(model: str, recipe, run_dir: Path) -> str:
    """A stage's model as the report names it: an earlier stage, a hub id or a path as the recipe gives it, a folder
    the recipe names beside itself (resolved to an absolute path on load) relative to the recipe's folder (the run
    folder's for a recipe built in code), never this machine's absolute path."""
    if not Path(model).is_absolute():
        return model
    return os.path.relpath(model, Path(recipe.path).resolve().parent if recipe.path else run_dir.resolve())


def plots_for(name: str, result: dict, data: dict | None, run_dir: Path, redraw: bool = True) -> list[Path]:
    stage_dir, out = run_dir / name, []
    if not redraw:  # a finished stage from an earlier invocation: its plots stay as they were
        names = ("accuracy_vs_budget.png", "accuracy_vs_n.png", "accuracy_vs_compute.png", "training_curve.png")
        return [stage_dir / n for n in names if (stage_dir / n).exists()]
    if data is not None:
        fig, ax = _figure()
        plot_max_budget(ax, data, "max budget (forced stop)")
        if data["min_budget"]:
            ax.plot(
                [m for m, _ in data["min_budget"]],
                [a for _, a in data["min_budget"]],
                "s--",
                label='min budget ("Wait")',
            )
        if data.get("ignore_stops"):  # s1: accuracy vs the tokens used when the end is ignored N times
            points = data["ignore_stops"]
            ax.plot(
                [t for _, _, t in points], [a for _, a, _ in points], "^:", label='ignore the end N times ("Wait")'
            )
        ax.set(
            xlabel="thinking tokens (mean used; min budget)", ylabel="accuracy", title=f"{name}: accuracy vs thinking"
        )
        ax.legend()
        out.append(_save(fig, stage_dir / "accuracy_vs_budget.png"))
        if data.get("search"):
            fig, ax = _figure()
            plot_search(ax, data["search"], f"{name}: test-time search")
            out.append(_save(fig, stage_dir / "accuracy_vs_n.png"))
        if data.get("compute_optimal"):
            fig, ax = _figure()
            plot_compute_optimal(ax, data["compute_optimal"], f"{name}: compute-optimal search")
            out.append(_save(fig, stage_dir / "accuracy_vs_compute.png"))
    history = stage_dir / "log_history.json"
    if history.exists():
        logs = json.loads(history.read_text())
        series = [(key, [(h["step"], h[key]) for h in logs if key in h]) for key in stage_kind(result["kind"]).curves]
        series = [(k, points) for k, points in series if points]
        if series:  # one panel per logged key: reward and completion length have different scales
            fig, axes = _figure(len(series))
            for ax, (key, points) in zip(axes, series):
                ax.plot([s for s, _ in points], [v for _, v in points])
                ax.set(xlabel="step", title=f"{name}: {key}")
            out.append(_save(fig, stage_dir / "training_curve.png"))
    return out


def plot_max_budget(ax, curves: dict, label: str):
    """Accuracy against the mean thinking tokens actually used at each max budget (as s1 plots it), so the
    unlimited budget has its place too."""
    points = sorted((tokens, acc) for _, acc, tokens in curves["max_budget"])
    ax.plot([t for t, _ in points], [a for _, a in points], "o-", label=label)


def plot_search(ax, curves: dict, title: str):
    """Accuracy vs N (log2 axis) for each search method; `curves` as `search_curves` returns them."""
    for method, points in curves.items():
        ax.plot([n for n, _, _ in points], [a for _, a, _ in points], "o-", label=method)
    ax.set_xscale("log", base=2)
    ax.set(xlabel="N (samples / beams)", ylabel="accuracy", title=title)
    ax.legend(fontsize=8)


def plot_compute_optimal(ax, result: dict, title: str):
    """Accuracy vs tokens per question: each fixed method over N (one line per method, width and thinking cap), the
    compute-optimal allocation at each budget (as `compute_optimal_eval` returns them), and a larger reference
    policy's majority votes at their FLOPs in this policy's tokens."""
    from ponder.inference.compute_optimal import TREE_METHODS, Strategy

    lines: dict = {}
    for key, point in result["fixed"].items():
        s = Strategy.from_key(key)
        label = s.method + (f" w{s.width}" if s.method in TREE_METHODS else "")
        label += f" think<={s.think}" if s.think is not None else ""
        lines.setdefault(label, []).append((point["cost"], point["accuracy"]))
    for label, points in sorted(lines.items()):
        ax.plot(*zip(*sorted(points)), "o-", ms=3, lw=1, label=label)
    co = result["compute_optimal"]
    ax.plot([p["cost"] for p in co], [p["accuracy"] for p in co], "k*-", ms=8, lw=2, label="compute-optimal")
    exchange = result.get("exchange_rate")
    if exchange:
        large = [r for r in exchange["bins"] if r["bin"] == "all"]
        label = f"{exchange['size_ratio']:.1f}x larger policy, majority@1/@4 (same FLOPs)"
        ax.plot([r["large_cost"] for r in large], [r["large_accuracy"] for r in large], "r^", ms=8, label=label)
    ax.set_xscale("log")
    ax.set(xlabel="tokens per question (policy + PRM)", ylabel="test accuracy", title=title)
    ax.legend(fontsize=6)


def _figure(panels: int | None = None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if panels is None:
        return plt.subplots(figsize=(5, 3.2))
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 3.2), squeeze=False)
    return fig, list(axes[0])


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
