"""README's headline figure: greedy accuracy before -> after (GRPO; s1 vs random selection) and the paired difference,
mean +- standard error over seeds, read from the committed JSONs of README's table.

    python bench/headline_plot.py [--out bench/results/headline.png]

Left panel: each run's accuracy before (hollow) and after (filled), mean +- SE over its seeds. Right panel: the paired
difference after - before (per seed, then mean +- SE), with GRPO's +0.05 goal dashed; a difference more than twice its
SE from 0 is filled. Where a JSON keeps no summary (the tiny recipe's 6 runs, the tiny s1 runs) the mean and SE are
computed from its runs by `bench/recipe_seeds.py`'s `spread` (SE with n - 1); one seed has no error bar.
Reads only bench/results/*.json; runs nothing.
"""

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from recipe_seeds import spread as seeds_spread  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
GOAL = 0.05  # GRPO - SFT, greedy: the goal the SmolLM2 reasoning-gym runs were measured against


def spread(values: list[float]) -> tuple[float, float | None]:
    """Mean and standard error (n - 1) of per-seed values: bench/recipe_seeds.py's `spread`; no SE for one value."""
    return summarized(seeds_spread(values))


def summarized(x: dict) -> tuple[float, float | None]:
    return x["mean"], x["se"]


def load(name: str) -> dict:
    return json.loads((RESULTS / name).read_text())


def rows() -> list[dict]:
    """Every plotted row: label, group, before/after/diff as (mean, se), the JSON it comes from."""
    out = []
    tiny = load("default_recipe.json")["runs"]
    seeds, paths = (len({r[key] for r in tiny}) for key in ("seed", "path"))
    out.append(
        dict(
            label=f"tiny reasoner, default recipe\ndistill -> GRPO ({len(tiny)} runs: {seeds} seeds x {paths} paths)",
            group="GRPO",
            before=spread([r["distill_thinking"] for r in tiny]),
            after=spread([r["grpo_thinking"] for r in tiny]),
            diff=spread([r["grpo_thinking"] - r["distill_thinking"] for r in tiny]),
            source="default_recipe.json",
        )
    )
    words = load("smollm2_reasoner.json")["stages"]
    sft, grpo = (words[s]["metrics"]["accuracy@inf"] for s in ("eval_sft", "eval_grpo"))
    out.append(
        dict(
            label="SmolLM2-135M, word problems\nSFT -> GRPO (1 seed)",
            group="GRPO",
            before=(sft, None),
            after=(grpo, None),
            diff=(grpo - sft, None),
            source="smollm2_reasoner.json",
        )
    )
    for name, what in (
        ("smollm2_rg_reasoner", "rg-reasoner (2-digit terms)"),
        ("smollm2_rg_reasoner_1digit_chain_sum_steps", "rg-reasoner-1digit (shipped)"),
    ):
        for path, label in (("default", "default path"), ("fp32_avx2", "fp32/AVX2")):
            file = f"{name}{'_fp32_avx2' if path == 'fp32_avx2' else ''}_seeds.json"
            data = load(file)
            s = data["summary"][path]
            out.append(
                dict(
                    label=f"SmolLM2-135M, {what}\nSFT -> GRPO, {label} ({len(data['runs'])} seeds)",
                    group="GRPO",
                    before=summarized(s["eval_sft"]["accuracy@inf"]),
                    after=summarized(s["eval_grpo"]["accuracy@inf"]),
                    diff=summarized(s["eval_grpo-eval_sft"]["accuracy@inf"]),
                    source=file,
                )
            )
    s1 = load("s1_vs_random_seeds.json")["runs"]
    arms = [(r["stages"]["eval_random"]["accuracy@inf"], r["stages"]["eval_s1"]["accuracy@inf"]) for r in s1]
    out.append(
        dict(
            label=f"tiny model, s1 selection\nrandom -> s1 ({len(s1)} seeds)",
            group="s1",
            before=spread([a for a, _ in arms]),
            after=spread([b for _, b in arms]),
            diff=spread([b - a for a, b in arms]),
            source="s1_vs_random_seeds.json",
        )
    )
    rg = load("smollm2_rg_s1_vs_random.json")
    for path, label in (("default", "default path"), ("fp32_avx2", "fp32/AVX2")):
        s = rg["summary"][path]
        seeds = sum(r["path"] == path for r in rg["runs"])
        out.append(
            dict(
                label=f"SmolLM2-135M, reasoning-gym s1\nrandom -> s1, {label} ({seeds} seeds)",
                group="s1",
                before=summarized(s["random"]["accuracy@inf"]),
                after=summarized(s["s1"]["accuracy@inf"]),
                diff=summarized(s["s1_minus_random"]["accuracy@inf"]),
                source="smollm2_rg_s1_vs_random.json",
            )
        )
    return out


def plot(data: list[dict], path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ys = list(range(len(data)))[::-1]
    fig, (acc, gain) = plt.subplots(
        1, 2, figsize=(11, 0.62 * len(data) + 1.5), sharey=True, gridspec_kw={"width_ratios": [3, 2]}
    )
    colors = {"GRPO": "tab:blue", "s1": "tab:purple"}
    for y, row in zip(ys, data):
        color = colors[row["group"]]
        (b, bse), (a, ase) = row["before"], row["after"]
        acc.plot([b, a], [y, y], color=color, lw=1, alpha=0.5)
        acc.errorbar(b, y, xerr=bse, fmt="o", mfc="white", color=color, capsize=3, ms=7)
        acc.errorbar(a, y, xerr=ase, fmt="o", color=color, capsize=3, ms=7)
        d, dse = row["diff"]
        clear = dse is not None and abs(d) > 2 * dse
        gain.errorbar(d, y, xerr=dse, fmt="o", color=color, mfc=color if clear else "white", capsize=3, ms=7)
        gain.annotate(
            f"{d:+.3f}" + ("" if dse is None else f" ± {dse:.3f}"),
            (d, y),
            xytext=(0, 7),
            textcoords="offset points",
            ha="center",
            fontsize=7.5,
        )
    acc.set_yticks(ys, [r["label"] for r in data], fontsize=8)
    acc.set_xlim(0, 1.05)
    acc.set_xlabel("greedy accuracy, held-out questions (mean ± SE over seeds)")
    acc.set_title("before (hollow) -> after (filled)", fontsize=10)
    gain.axvline(0, color="black", lw=0.8)
    split = ys[max(i for i, r in enumerate(data) if r["group"] == "GRPO")] - 0.5
    gain.vlines(GOAL, split, ys[0] + 0.5, color="tab:green", lw=1, ls="--", label="GRPO goal: +0.05")
    gain.set_xlabel("paired difference, after - before (mean ± SE)")
    gain.set_title("difference (filled: more than 2 SE from 0)", fontsize=10)
    gain.legend(fontsize=8, loc="lower left")
    for ax in (acc, gain):
        ax.set_ylim(ys[-1] - 0.6, ys[0] + 0.6)
        ax.axhline(split, color="grey", lw=0.6, ls=":")
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle("What ponder has shown: GRPO (blue) and s1 selection vs random (purple), 2-core CPUs", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=RESULTS / "headline.png")
    args = parser.parse_args(argv)
    plot(rows(), args.out)
    print(args.out)
    return args.out


if __name__ == "__main__":
    main()
