"""README's "What ponder has shown (measured)": a short headline table whose every row cites committed results and
whose figures are those results (the reasoning-gym rows are checked in tests/test_rg_agreement.py, the GPU check in
tests/test_gpu_pack.py), the headline figure drawn from the same JSONs, and docs/benchmarks.md naming every bench
script and every committed result."""

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench/results"
MAX_ROWS, MAX_CELL = 10, 240  # #48 item 5: at most ~10 rows, ~240 characters a cell


def table_rows() -> list[list[str]]:
    """The headline table's body rows, each as its cells."""
    section = (ROOT / "README.md").read_text().split("## What ponder has shown (measured)\n")[1].split("\n## ")[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    assert lines[0] == "| run | figure | source |" and set(lines[1]) <= set("|-")
    return [[cell.strip() for cell in line.strip().strip("|").split(" | ")] for line in lines[2:]]


def row(needle: str) -> str:
    (found,) = [" | ".join(cells) for cells in table_rows() if needle in " | ".join(cells)]
    return found.replace("**", "")


def test_headline_table_is_short_and_every_row_cites_committed_results():
    rows = table_rows()
    assert 0 < len(rows) <= MAX_ROWS, len(rows)
    for cells in rows:
        assert len(cells) == 3, cells
        assert all(len(cell) <= MAX_CELL for cell in cells), [len(cell) for cell in cells]
        cited = re.findall(r"`(bench/results/[^`]+)`", cells[2])
        assert cited, cells[2]
        for pattern in cited:
            assert list(ROOT.glob(pattern)), pattern  # rollout_throughput*.json cites a family


def test_readme_quotes_the_default_recipe_sweep():
    """The default recipe's row: base, distill and GRPO accuracy as the sweep's min-max over its runs, and "every run
    meets every criterion" as the JSON records it."""
    sweep = json.loads((RESULTS / "default_recipe.json").read_text())
    runs, span = sweep["runs"], sweep["range"]
    seeds, paths = ({r[key] for r in runs} for key in ("seed", "path"))
    quote = row("default_recipe.json")
    assert f"{len(seeds)} seeds x {len(paths)} numeric paths" in quote and f"min-max of {len(runs)} runs" in quote

    def spread(key: str) -> str:
        low, high = span[key]
        return f"{low:.3f}" if low == high else f"{low:.3f}-{high:.3f}"

    assert (
        f"base {spread('base_direct')} (direct) -> distill {spread('distill_thinking')} -> GRPO "
        f"{spread('grpo_thinking')}; every run meets every criterion" in quote
    )
    assert sweep["all_criteria_hold_on_every_run"] and all(all(r["criteria"].values()) for r in runs)
    assert all(r["criteria"]["grpo_beats_distill_by_0.05"] for r in runs)
    assert f"{sweep['machine']['cpu_count']}-core CPU" in quote


def test_readme_quotes_the_smollm2_word_problem_run():
    """SmolLM2-135M-Instruct on word problems, one run: base (thinking and direct) -> SFT -> GRPO, greedy, and GRPO
    did not help (it is lower than SFT)."""
    report = json.loads((RESULTS / "smollm2_reasoner.json").read_text())
    m = {stage: report["stages"][stage]["metrics"] for stage in ("eval_base", "eval_sft", "eval_grpo")}
    quote = row("smollm2_reasoner.json")
    assert (
        f"base {m['eval_base']['accuracy@inf']:.3f} with thinking ({m['eval_base']['direct_accuracy']:.3f} direct) -> "
        f"LoRA SFT {m['eval_sft']['accuracy@inf']:.3f} -> GRPO {m['eval_grpo']['accuracy@inf']:.3f}: GRPO did not help"
        in quote
    )
    assert m["eval_grpo"]["accuracy@inf"] <= m["eval_sft"]["accuracy@inf"]
    assert (
        f"greedy, {m['eval_sft']['questions']} held-out" in quote
        and m["eval_grpo"]["questions"] == m["eval_sft"]["questions"]
    )


def test_headline_plot_draws_the_table_s_results(tmp_path):
    """bench/headline_plot.py reads only committed JSONs that README's table cites, draws a PNG, and README embeds
    the committed one."""
    sys.path.insert(0, str(ROOT / "bench"))
    import headline_plot

    rows = headline_plot.rows()
    cited = " ".join(cells[2] for cells in table_rows())
    assert all(f"bench/results/{r['source']}" in cited for r in rows), [r["source"] for r in rows]
    shipped = [r for r in rows if r["source"].startswith("smollm2_rg_reasoner_1digit_chain_sum_steps")]
    assert len(shipped) == 2 and all(r["diff"][0] >= headline_plot.GOAL for r in shipped)
    out = headline_plot.main(["--out", str(tmp_path / "headline.png")])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "](bench/results/headline.png)" in (ROOT / "README.md").read_text()
    assert (RESULTS / "headline.png").exists()


def test_benchmarks_doc_names_every_script_and_every_committed_result():
    """docs/benchmarks.md has an entry for every bench script (with its command) and names every file under
    bench/results/: a result nobody can trace to its command is not kept."""
    doc = (ROOT / "docs/benchmarks.md").read_text()
    scripts = [p for p in (ROOT / "bench").rglob("*") if p.suffix in (".py", ".sh") and "__pycache__" not in p.parts]
    for script in scripts:
        name = script.relative_to(ROOT).as_posix()
        if name == "bench/common.py":
            assert "`bench/common.py`" in doc
            continue
        assert re.search(rf"`(python |bash ){re.escape(name)}", doc) or f"`{name}`" in doc, name
    for result in RESULTS.rglob("*"):
        if result.is_file():
            assert result.relative_to(RESULTS).as_posix() in doc or f"`{result.name}`" in doc, result.name


def test_readme_quotes_the_dynamic_sampling_bench():
    """The dynamic sampling row: steps with signal as shipped, with dynamic sampling and with pre-rollout filtering on
    both paths, the paired differences at equal completions and the accuracies after 100 steps, as
    bench/dynamic_sampling.py summarised them (dynamic_sampling.json, dynamic_sampling_skip_known.json)."""
    plain = json.loads((RESULTS / "dynamic_sampling.json").read_text())
    skip = json.loads((RESULTS / "dynamic_sampling_skip_known.json").read_text())
    assert plain["max_draws"] == skip["max_draws"] == 3
    assert skip["overrides"] == ["stages.grpo.dynamic_sampling.skip_known=0.9"]
    quote = row("dynamic_sampling_skip_known.json")
    assert "`max_draws: 3`" in quote and "`skip_known: 0.9`" in quote and "dynamic_sampling.json" in quote
    for bench in (plain, skip):
        assert f"default path, {len([r for r in bench['runs'] if r['path'] == 'default'])} seeds" in quote
    docs = (ROOT / "docs/results.md").read_text()
    for path in ("default", "fp32_avx2"):  # the same distilled models: the shipped arms agree but for seconds
        figures = [{k: v for k, v in b["summary"][path]["shipped"].items() if "accuracy" in k} for b in (plain, skip)]
        assert figures[0] == figures[1] and len(figures[0]) == 4
        x = skip["summary"][path]["dynamic"]
        cells = [f"{x[k]['mean']:.3f} +- {x[k]['se']:.3f}" for k in ("accuracy_at_1.0", "final_accuracy")]
        assert f"| {path} (3) | dynamic_sampling {{max_draws: 3, skip_known: 0.9}} | " in docs and all(
            c in docs for c in cells + [f"{x['steps_with_signal']['mean']:.3f} +- {x['steps_with_signal']['se']:.3f}"]
        )

    def steps(path: str) -> str:
        s = [plain["summary"][path]["shipped"], plain["summary"][path]["dynamic"], skip["summary"][path]["dynamic"]]
        return " -> ".join(f"{x['steps_with_signal']['mean']:.3f}" for x in s)

    assert f"steps with signal {steps('default')} (fp32/AVX2 {steps('fp32_avx2')})" in quote
    paired = [b["summary"]["default"]["paired_dynamic_minus_shipped"]["accuracy_at_1.0"] for b in (plain, skip)]
    equal = " and ".join(f"{p['mean']:+.3f} +- {p['se']:.3f}" for p in paired)
    assert f"greedy at equal completions {equal}" in quote
    final = [
        b["summary"]["default"][arm]["final_accuracy"]["mean"]
        for b, arm in ((plain, "shipped"), (plain, "dynamic"), (skip, "dynamic"))
    ]
    runs = [r for b in (plain, skip) for r in b["runs"] if r["path"] == "default"]
    ratio = sum(r["dynamic"]["final_completions"] for r in runs) / sum(r["shipped"]["final_completions"] for r in runs)
    assert (
        f"after 100 steps {final[0]:.3f} -> {final[1]:.3f} and {final[2]:.3f} at {ratio:.1f}x the completions" in quote
    )


def test_readme_and_results_quote_the_onpolicy_distillation_bench():
    """#46 item 3, tiny: README's row and docs/results.md's table are bench/onpolicy_distill.py's summary; on-policy
    distillation ends within 0.01 of the teacher and SFT on the teacher's verified traces above it, as they say."""
    from test_rg_agreement import pm  # mean +- SE as README and docs/results.md quote it

    bench = json.loads((RESULTS / "onpolicy_distill.json").read_text())
    s = bench["summary"]["default"]
    assert len([r for r in bench["runs"] if r["path"] == "default"]) == 3

    quote = row("onpolicy_distill.json")
    assert (
        f"tiny, teacher {pm(s['teacher_accuracy'], '')}: on-policy {pm(s['onpolicy']['final_accuracy'], '')}" in quote
    )
    assert f"SFT {pm(s['sft_teacher']['final_accuracy'], '')}. SmolLM2" in quote
    final = {arm: s[arm]["final_accuracy"]["mean"] for arm in ("onpolicy", "sft_teacher")}
    assert s["teacher_minus_onpolicy_final"]["mean"] < 0.01 < final["sft_teacher"] - s["teacher_accuracy"]["mean"]
    assert final["sft_teacher"] > final["onpolicy"]
    docs = (ROOT / "docs/results.md").read_text()
    for arm, label in (("grpo", "GRPO (the teacher's own path)"), ("onpolicy", "on-policy distillation")):
        x = s[arm]
        shares = " | ".join(pm(x[f"accuracy_at_{k}"], "") for k in ("0.25", "0.5", "1.0"))
        assert f"| {label} | {shares} | {pm(x['final_accuracy'], '')} | {x['final_tokens']['mean']:,.0f} |" in docs
    x = s["paired_onpolicy_minus_grpo"]
    paired = " | ".join(pm(x[f"accuracy_at_{k}"]) for k in ("0.25", "0.5", "1.0"))
    assert f"| on-policy - GRPO (paired) | {paired} |" in docs
    assert f"student {pm(s['student_accuracy'], '')}, teacher {pm(s['teacher_accuracy'], '')}:" in docs


def test_readme_and_results_quote_the_smollm2_onpolicy_seeds():
    """#46 item 3, SmolLM2: README's row and docs/results.md's table are the summaries of the whole recipe
    (smollm2_rg_onpolicy_seeds.json, its on-policy arm at lr 5e-4 then) and of the on-policy arm as shipped now,
    measured alone (smollm2_rg_onpolicy_arm_seeds.json: the same student and teacher, their SFT loss curves equal
    seed by seed, so the teacher's scores are the first JSON's); the student is the dynamic-sampling GRPO's cold start
    seed by seed (so that JSON's GRPO is the RL arm), and the ordering the docs draw holds: off-policy above both
    on-policy runs above self_improve, on-policy above that GRPO in less of its time."""
    from recipe_seeds import spread
    from test_rg_agreement import pm

    bench = json.loads((RESULTS / "smollm2_rg_onpolicy_seeds.json").read_text())
    arm = json.loads((RESULTS / "smollm2_rg_onpolicy_arm_seeds.json").read_text())
    s, now = bench["summary"]["default"], arm["summary"]["default"]
    greedy = {name: s[f"eval_{name}"]["accuracy@inf"] for name in ("sft", "teacher", "onpolicy", "offpolicy", "star")}
    greedy["shipped"] = now["eval_onpolicy"]["accuracy@inf"]
    assert (
        f"SmolLM2, teacher {pm(greedy['teacher'], '')}: on-policy {pm(greedy['shipped'], '')} "
        f"({pm(greedy['onpolicy'], '')} at lr 5e-4), SFT {pm(greedy['offpolicy'], '')}"
        in row("smollm2_rg_onpolicy_arm_seeds.json")
    )
    docs = " ".join((ROOT / "docs/results.md").read_text().split())
    labels = {"onpolicy": "on-policy distillation, lr 5e-4", "offpolicy": "SFT on the teacher's verified samples"}
    for name, label in labels.items():
        assert f"| {label} | {pm(greedy[name], '')} | {pm(s[f'eval_{name}']['pass@8'], '')} |" in docs
    pass8 = pm(now["eval_onpolicy"]["pass@8"], "")
    assert f"| on-policy distillation as shipped | {pm(greedy['shipped'], '')} | {pass8} |" in docs
    first = {run["seed"]: run for run in bench["runs"]}
    rl = {
        r["seed"]: r
        for r in json.loads((RESULTS / "smollm2_rg_reasoner_dynamic_sampling_seeds.json").read_text())["runs"]
    }
    gaps = []
    for run in arm["runs"]:
        assert all(run["curves"][stage] == first[run["seed"]]["curves"][stage] for stage in ("sft", "teacher"))
        assert run["curves"]["sft"] == rl[run["seed"]]["curves"]["sft"]
        teacher = first[run["seed"]]["stages"]["eval_teacher"]["accuracy@inf"]
        gaps.append(teacher - run["stages"]["eval_onpolicy"]["accuracy@inf"])
    assert f"teacher - on-policy {pm(spread(gaps), '')}" in docs
    assert s["eval_teacher-eval_onpolicy"]["accuracy@inf"]["mean"] > 0.02 and min(gaps) > 0.02  # "not met"
    mean = {name: x["mean"] for name, x in greedy.items()}
    assert mean["offpolicy"] > max(mean["onpolicy"], mean["shipped"])
    assert min(mean["onpolicy"], mean["shipped"]) > mean["star"] > mean["sft"]
    for run, share in [(run, 0.5) for run in bench["runs"]] + [(run, 0.65) for run in arm["runs"]]:
        grpo = rl[run["seed"]]["stages"]
        assert run["stages"]["eval_onpolicy"]["accuracy@inf"] > grpo["eval_grpo"]["accuracy@inf"]
        assert run["stages"]["onpolicy"]["stage_seconds"] < share * grpo["grpo"]["stage_seconds"]
    for run in bench["runs"]:
        assert run["stages"]["eval_sft"]["accuracy@inf"] == rl[run["seed"]]["stages"]["eval_sft"]["accuracy@inf"]


def test_results_quote_sampling_at_temperature_one():
    """docs/results.md's temperature-1.0 table: every cell is grpo_temperature1.json's or
    dynamic_sampling_temperature1.json's summary, their shipped arms the same runs, the per-seed figures the runs'."""
    alone = json.loads((RESULTS / "grpo_temperature1.json").read_text())
    filtered = json.loads((RESULTS / "dynamic_sampling_temperature1.json").read_text())
    temperature = "stages.grpo.trainer.temperature=1.0"
    assert alone["max_draws"] == 1 and alone["overrides"] == [temperature]
    assert filtered["max_draws"] == 3 and filtered["overrides"] == [
        temperature,
        "stages.grpo.dynamic_sampling.skip_known=0.9",
    ]
    a, f = alone["summary"]["default"], filtered["summary"]["default"]
    shares = ("accuracy_at_0.25", "accuracy_at_0.5", "accuracy_at_1.0")
    assert [a["shipped"][k] for k in (*shares, "final_accuracy")] == [
        f["shipped"][k] for k in (*shares, "final_accuracy")
    ]

    def cell(x: dict, sign: str = "") -> str:
        return f"{x['mean']:{sign}.3f} +- {x['se']:.3f}"

    def cells(bench: dict, variant: str) -> str:
        runs = [r[variant] for r in bench["runs"] if r["path"] == "default"]
        x = bench["summary"]["default"][variant]
        completions = [r["final_completions"] for r in runs]
        seconds = [r["grpo_seconds"] for r in runs]
        return " | ".join(
            [cell(x[k]) for k in shares]
            + [
                f"{cell(x['final_accuracy'])} ({min(completions):,.0f}-{max(completions):,.0f})".replace(
                    "(3,200-3,200)", "(3,200)"
                )
            ]
            + [cell(x["steps_with_signal"]), cell(x["groups_with_signal"]), f"{min(seconds)}-{max(seconds)}"]
        )

    alone_runs = [r for r in alone["runs"] if r["path"] == "default"]  # the fp32/AVX2 runs: the next test
    assert [r["seed"] for r in alone_runs] == [0, 1, 2] == [r["seed"] for r in filtered["runs"]]
    assert {r["path"] for r in filtered["runs"]} == {"default"}
    for x, y in zip(alone_runs, filtered["runs"]):  # the shipped arm is the same runs again
        assert x["distill_accuracy"] == y["distill_accuracy"]
        assert [x["shipped"][k] for k in ("steps_with_signal", "groups_with_signal", "final_accuracy")] == [
            y["shipped"][k] for k in ("steps_with_signal", "groups_with_signal", "final_accuracy")
        ]
    docs = (ROOT / "docs/results.md").read_text()

    def paired(bench: dict) -> str:
        return " | ".join(cell(bench["paired_dynamic_minus_shipped"][k], "+") for k in shares)

    shipped = f"| default (3) | as shipped (temperature 0.7) | {cells(alone, 'shipped')} |"
    label = "temperature 1.0, dynamic_sampling {max_draws: 3, skip_known: 0.9}"
    assert (
        "\n".join(
            [
                shipped,
                f"| default (3) | temperature 1.0 | {cells(alone, 'dynamic')} |",
                f"| default (3) | paired - shipped | {paired(a)} | | | | |",
                f"| default (3) | {label} | {cells(filtered, 'dynamic')} |",
                f"| default (3) | paired - shipped | {paired(f)} | | | | |",
            ]
        )
        in docs
    )
    line = " ".join(docs.split())
    runs = alone_runs
    assert (
        all(r["commit"] == "a6b090d" for r in runs + filtered["runs"]) and "(snapshot of a6b090d, CPU alone)" in line
    )
    x = a["dynamic"]
    headline = (
        f"raises the steps with signal from {a['shipped']['steps_with_signal']['mean']:.3f} to "
        f"{x['steps_with_signal']['mean']:.3f} and the groups from {a['shipped']['groups_with_signal']['mean']:.3f} "
        f"to {x['groups_with_signal']['mean']:.3f}**"
    )
    assert headline in line
    steps = ", ".join(f"{r['shipped']['steps_with_signal']} -> {r['dynamic']['steps_with_signal']}" for r in runs)
    assert f"(every seed: steps {steps})" in line
    distilled = ", ".join(str(r["distill_accuracy"]) for r in runs)
    xeon = json.loads((RESULTS / "dynamic_sampling.json").read_text())
    xeon_distilled = ", ".join(str(r["distill_accuracy"]) for r in xeon["runs"] if r["path"] == "default")
    fp32 = ", ".join(f"{r['distill_accuracy']:g}" for r in alone["runs"] if r["path"] == "fp32_avx2")
    xeon_fp32 = ", ".join(f"{r['distill_accuracy']:g}" for r in xeon["runs"] if r["path"] == "fp32_avx2")
    assert (
        f"(default greedy {distilled} for seeds 0, 1, 2, against {xeon_distilled}; "
        f"fp32/AVX2 {fp32} against {xeon_fp32})" in line
    )
    assert f"GRPO as shipped ends at {cell(a['shipped']['final_accuracy'])} here" in line
    assert f"against {xeon['summary']['default']['shipped']['final_accuracy']['mean']:.3f} there" in line
    ratios = [r["dynamic"]["grpo_seconds"] / r["shipped"]["grpo_seconds"] - 1 for r in runs]
    assert f"GRPO took {min(ratios):.0%}-{max(ratios):.0%} longer in seconds".replace("%-", "-") in line
    again = [y["shipped"]["grpo_seconds"] / x["shipped"]["grpo_seconds"] - 1 for x, y in zip(runs, filtered["runs"])]
    assert f"took {min(again):+.0%} to {max(again):+.0%} of their first time".replace("+-", "-") in line
    gains = sorted(r["dynamic"]["steps_with_signal"] - r["shipped"]["steps_with_signal"] for r in runs)
    xeon_gains = sorted(
        r["dynamic"]["steps_with_signal"] - r["shipped"]["steps_with_signal"]
        for r in xeon["runs"]
        if r["path"] == "default"
    )
    assert (
        f"+{gains[0]:.2f} to +{gains[-1]:.2f}, than every seed there, +{xeon_gains[0]:.2f} to +{xeon_gains[-1]:.2f}"
        in line
    )
    xs = xeon["summary"]["default"]
    assert (
        f"bought {xs['shipped']['steps_with_signal']['mean']:.3f} -> {xs['dynamic']['steps_with_signal']['mean']:.3f}"
        in line
    )
    steps = ", ".join(f"{r['dynamic']['steps_with_signal']:g}" for r in filtered["runs"])
    assert f"With the filter on top, steps with signal {steps}** ({cell(f['dynamic']['steps_with_signal'])};" in line
    times = [r["dynamic"]["final_completions"] / r["shipped"]["final_completions"] for r in filtered["runs"]]
    assert f"at {min(times):.1f}-{max(times):.1f}x the completions" in line
    skip_known = json.loads((RESULTS / "dynamic_sampling_skip_known.json").read_text())
    assert f"0.7 gave {cell(skip_known['summary']['default']['dynamic']['steps_with_signal'])} on the Xeon" in line
    quarter = [
        {v: r[v]["accuracy_at_share"]["0.25"]["accuracy"] for v in ("dynamic", "shipped")} for r in filtered["runs"]
    ]
    behind = ", ".join(f"{round(q['dynamic'] - q['shipped'], 4):g}" for q in quarter)
    assert f"behind on every seed ({behind};" in line
    gflops = [alone["machine"]["fp32_matmul_gflops"], filtered["machine"]["fp32_matmul_gflops"]]
    assert f"fp32 matmul {min(gflops):.0f}-{max(gflops):.0f} GFLOP/s in them" in line
    recipes = " ".join((ROOT / "docs/recipes.md").read_text().split())
    assert (
        f"from {a['shipped']['steps_with_signal']['mean']:.3f} to {x['steps_with_signal']['mean']:.3f} with no extra "
        f"generation, and to {f['dynamic']['steps_with_signal']['mean']:.3f} with" in recipes
    )
    assert f"at {min(times):.1f}-{max(times):.1f}x the completions; no held-out accuracy" in recipes


def test_results_quote_sampling_at_temperature_one_on_the_fp32_path():
    """The fp32/AVX2 rows of the temperature-1.0 table and their bullet: grpo_temperature1.json's fp32_avx2 runs."""
    bench = json.loads((RESULTS / "grpo_temperature1.json").read_text())
    runs = [r for r in bench["runs"] if r["path"] == "fp32_avx2"]
    assert [r["seed"] for r in runs] == [0, 1, 2] and all(r["commit"] == "a6b090d" for r in runs)
    s = bench["summary"]["fp32_avx2"]
    shares = ("accuracy_at_0.25", "accuracy_at_0.5", "accuracy_at_1.0")

    def cell(x: dict, sign: str = "") -> str:
        return f"{x['mean']:{sign}.3f} +- {x['se']:.3f}"

    def row(variant: str, label: str) -> str:
        x, seconds = s[variant], [r[variant]["grpo_seconds"] for r in runs]
        assert all(r[variant]["final_completions"] == 3200 for r in runs)
        figures = [cell(x[k]) for k in shares] + [f"{cell(x['final_accuracy'])} (3,200)"]
        figures += [cell(x["steps_with_signal"]), cell(x["groups_with_signal"]), f"{min(seconds)}-{max(seconds)}"]
        return f"| fp32_avx2 (3) | {label} | {' | '.join(figures)} |"

    paired = " | ".join(cell(s["paired_dynamic_minus_shipped"][k], "+") for k in shares)
    rows = [row("shipped", "as shipped (temperature 0.7)"), row("dynamic", "temperature 1.0")]
    docs = (ROOT / "docs/results.md").read_text()
    assert "\n".join([*rows, f"| fp32_avx2 (3) | paired - shipped | {paired} | | | | |"]) in docs
    line = " ".join(docs.split())
    distilled = ", ".join(f"{r['distill_accuracy']:g}" for r in runs)
    assert f"CPU alone; distilled {distilled}): steps with signal {cell(s['shipped']['steps_with_signal'])} ->" in line
    steps = ", ".join(f"{r['shipped']['steps_with_signal']:g} -> {r['dynamic']['steps_with_signal']:g}" for r in runs)
    assert f"(every seed: {steps})" in line
    sh, dy = s["shipped"], s["dynamic"]
    assert f"steps with signal {cell(sh['steps_with_signal'])} -> {cell(dy['steps_with_signal'])}" in line
    assert f"groups {cell(sh['groups_with_signal'])} -> {cell(dy['groups_with_signal'])};" in line
    paired = ", ".join(cell(s["paired_dynamic_minus_shipped"][k], "+") for k in shares)
    assert f"held-out accuracy at equal completions {paired} (at 25% the sign opposite" in line
    seconds = {v: [r[v]["grpo_seconds"] for r in runs] for v in ("shipped", "dynamic")}
    low, high = {v: min(x) for v, x in seconds.items()}, {v: max(x) for v, x in seconds.items()}
    assert f"GRPO {low['dynamic']}-{high['dynamic']} s against {low['shipped']}-{high['shipped']} s" in line
    change = [d / b - 1 for d, b in zip(seconds["dynamic"], seconds["shipped"])]
    assert f"({min(change):.0%} to +{max(change):.0%} seed by seed)" in line
    ends = [(r["shipped"]["final_accuracy"], r["dynamic"]["final_accuracy"]) for r in runs]
    assert f"0.73) stops at {ends[1][0]:g} as shipped and {ends[1][1]:g} at temperature 1.0" in line
    assert runs[1]["distill_accuracy"] == 0.73


def test_results_quote_the_larger_draw_cap():
    """docs/results.md's `max_draws: 10` table: every cell is dynamic_sampling_draws10.json's summary, its shipped
    arm the earlier benches' (the same distilled models), and the per-seed steps with signal are the runs'."""
    bench = json.loads((RESULTS / "dynamic_sampling_draws10.json").read_text())
    earlier = json.loads((RESULTS / "dynamic_sampling_skip_known.json").read_text())
    assert bench["max_draws"] == 10 and bench["overrides"] == earlier["overrides"]
    s, before = bench["summary"]["default"], earlier["summary"]["default"]["shipped"]
    assert {k: v for k, v in s["shipped"].items() if "accuracy" in k} == {
        k: v for k, v in before.items() if "accuracy" in k
    }

    def cell(x: dict, sign: str = "") -> str:
        return f"{x['mean']:{sign}.3f} +- {x['se']:.3f}"

    runs = [r for r in bench["runs"] if r["path"] == "default"]
    shares = ("accuracy_at_0.25", "accuracy_at_0.5", "accuracy_at_1.0")
    completions = [r["dynamic"]["final_completions"] for r in runs]
    seconds = [r["dynamic"]["grpo_seconds"] for r in runs]
    x = s["dynamic"]
    dynamic = [cell(x[k]) for k in shares] + [
        f"{cell(x['final_accuracy'])} ({min(completions):,.0f}-{max(completions):,.0f})",
        cell(x["steps_with_signal"]),
        cell(x["groups_with_signal"]),
        f"{min(seconds)}-{max(seconds)}",
    ]
    docs = (ROOT / "docs/results.md").read_text()
    prefix = f"| default ({len(runs)}) | dynamic_sampling {{max_draws: 10, skip_known: 0.9}} | "
    assert prefix + " | ".join(dynamic) + " |" in docs
    paired = " | ".join(cell(s["paired_dynamic_minus_shipped"][k], "+") for k in shares)
    assert f"| default ({len(runs)}) | paired - shipped | {paired} |" in docs
    steps = ", ".join(f"{r['dynamic']['steps_with_signal']}" for r in runs)
    assert f"Steps with signal {steps}** (seeds 0, 1, 2; {x['steps_with_signal']['mean']:.3f}" in docs
    ratios = [r["dynamic"]["final_completions"] / r["shipped"]["final_completions"] for r in runs]
    assert f"at {min(ratios):.1f}-{max(ratios):.1f}x the shipped run's completions" in " ".join(docs.split())
    assert all(r["dynamic"]["final_accuracy"] == 1.0 for r in runs) and "Every seed ends at 1.000" in docs
    assert all(r["commit"] == "339ad80" for r in runs) and "(snapshot of 339ad80, CPU alone;" in docs
    docs_line = " ".join(docs.split())
    skipped = [r["dynamic"]["prompts_skipped"] for r in runs]
    assert f"({skipped[1]:,} and {skipped[2]:,} prompts skipped a run; seed 0: {skipped[0]:,})" in docs_line
    shipped = ", ".join(f"{r['shipped']['final_accuracy']:.3f}" for r in runs)
    assert f"(as shipped {shipped};" in docs_line
    three = earlier["summary"]["default"]["dynamic"]["final_accuracy"]
    assert f"with `max_draws: 3` and the same filter {cell(three)}" in docs_line
    times = [r["dynamic"]["grpo_seconds"] / r["shipped"]["grpo_seconds"] for r in runs]
    assert f"{min(times):.1f}-{max(times):.1f}x its GRPO seconds" in docs_line
    met = [r["seed"] for r in runs if r["dynamic"]["steps_with_signal"] >= 0.9]
    assert met == [0] and "the 0.9 goal is met on seed 0 alone" in docs_line
    assert all(r["dynamic"]["accuracy_at_share"]["0.25"]["step"] == 0 for r in runs)  # "no checkpoint fits"
    shipped_row = [cell(s["shipped"][k]) for k in (*shares, "final_accuracy")]
    assert f"| default ({len(runs)}) | as shipped | {' | '.join(shipped_row[:3])} | {shipped_row[3]} (3,200) |" in docs
