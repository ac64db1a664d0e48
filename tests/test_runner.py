"""The runner: skip, resume after SIGKILL, re-run on change, and never clobber finished outputs."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import SFT_RECIPE

from ponder.data.loading import DataError
from ponder.recipes.runner import run_recipe
from ponder.recipes.schema import RecipeError, load_recipe


def ponder_cmd(*args):
    return [sys.executable, "-m", "ponder.recipes.cli", *args]


def test_resume_skips_a_checkpoint_cut_off_while_saving(tmp_path):
    """A kill during a save leaves checkpoint-N without trainer_state.json (written last) or with it cut
    short, or the weights go missing; resuming from it fails in the HF Trainer, so the newest complete one
    is taken."""
    from ponder.trainers.common import last_checkpoint

    for step, state, weights in (
        (5, '{"global_step": 5}', True),
        (10, None, True),
        (15, '{"global_st', True),
        (20, '{"global_step": 20}', False),
    ):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        if weights:
            (folder / "model.safetensors").write_bytes(b"")
        if state is not None:
            (folder / "trainer_state.json").write_text(state)
    assert last_checkpoint(tmp_path) == str(tmp_path / "checkpoint-5")
    assert last_checkpoint(tmp_path / "missing") is None


FULL_FT = [
    "stages.distill.lora=null",
    "stages.distill.trainer.max_steps=8",
    "stages.distill.trainer.save_steps=4",
    "stages.distill.trainer.lr_scheduler_type=constant",
    "stages.distill.trainer.logging_steps=2",
]
TIMING = ("train_runtime", "train_samples_per_second")


@pytest.mark.parametrize("moment", ["after_last_checkpoint", "during_export"])
def test_killed_at_the_end_reruns_to_the_uninterrupted_result(write_recipe, tmp_path, moment):
    """The on-disk state a SIGKILL leaves after the last trainer checkpoint, or halfway through the export:
    the rerun exports that checkpoint without training again (an 8-step run stays 8 steps), so its weights are
    byte-identical to an uninterrupted run's and result.json reports the whole run's figures."""
    reference = run_recipe(load_recipe(write_recipe(SFT_RECIPE, "a.yaml"), [*FULL_FT, f"output_dir={tmp_path}/a"]))
    path = write_recipe(SFT_RECIPE, "b.yaml")
    run_recipe(load_recipe(path, [*FULL_FT, f"output_dir={tmp_path}/b"]))
    stage, partial = tmp_path / "b/t/distill", tmp_path / "b/t/distill.partial"
    stage.rename(partial)
    (partial / "result.json").unlink()
    if moment == "after_last_checkpoint":
        for name in ("checkpoint", "log_history.json", "trainer_args.json"):
            target = partial / name
            os.system(f"rm -rf {target}")
    else:
        (partial / "checkpoint" / "model.safetensors").unlink()
    results = run_recipe(load_recipe(path, [*FULL_FT, f"output_dir={tmp_path}/b"]))
    weights = "checkpoint/model.safetensors"
    assert (stage / weights).read_bytes() == (tmp_path / "a/t/distill" / weights).read_bytes()
    got, want = results["distill"]["metrics"], reference["distill"]["metrics"]
    assert got["global_step"] == 8 and {k: v for k, v in got.items() if k not in TIMING} == {
        k: v for k, v in want.items() if k not in TIMING
    }


def test_corrupted_state_reruns_what_is_broken_and_leaves_the_rest(write_recipe, tmp_path, capsys):
    path = write_recipe(SFT_RECIPE)
    two = ["stages.distill.trainer.max_steps=2"]
    run_recipe(load_recipe(path, two))
    run = tmp_path / "runs/t"
    (run / "data/result.json").write_text('{"status": "fini')  # truncated by a crash or a full disk
    run_recipe(load_recipe(path, two))
    out = capsys.readouterr().out
    assert "data/result.json is unreadable" in out and "data (task_data) ->" in out
    (run / "distill/checkpoint/model.safetensors").unlink()  # the weights of a finished stage are gone
    run_recipe(load_recipe(path, two))
    out = capsys.readouterr().out
    assert "model.safetensors is missing" in out and "distill (sft) ->" in out
    assert (run / "distill/checkpoint/model.safetensors").exists()
    before = {p: p.stat().st_mtime_ns for p in run.rglob("*")}
    run_recipe(load_recipe(path, two))  # nothing to do: nothing is written, not even the report's plots
    assert {p: p.stat().st_mtime_ns for p in run.rglob("*")} == before
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    from ponder.recipes.cli import main

    assert main(["run", str(path), *two, f"output_dir={blocked}/runs"]) == 2
    assert "cannot write the run there" in capsys.readouterr().err


def test_bad_input_is_one_line_and_exit_code_2(write_recipe, tmp_path, capsys):
    from ponder.recipes.cli import main

    path = write_recipe(SFT_RECIPE)
    rows = tmp_path / "rows.jsonl"
    rows.write_bytes(b'{"prompt": "a", "answer": "1"}\n{"prompt": "b\xff", "answer": "2"}\n')
    cases = [
        (["run", str(path), "stages.distill.trainer.max_steps=abc"], "stages.distill.trainer.max_steps: 'abc' is not"),
        (["run", str(path), f"stages.distill.data={{path: {rows}}}"], "rows.jsonl:2: not UTF-8"),
        (["generate", "tests/assets/tiny-reasoner", "--prompt", "x", "--max-thinking-tokens", "-1"], "invalid"),
        (["generate", "x/y", "--prompt", "x", "--min-thinking-tokens", "5", "--max-thinking-tokens", "3"], "5 > "),
        (["generate", "x/y", "--prompt", "x", "--max-new-tokens", "-1"], "--max-new-tokens"),
        (["validate", str(path), "--set", "stages.distill.trainer.learning_rate=fast"], "learning_rate"),
    ]
    for argv, expected in cases:
        try:
            code = main(argv)
        except SystemExit as exit_:  # argparse's usage errors
            code = exit_.code
        captured = capsys.readouterr()
        text = (captured.err + captured.out).strip()
        assert code == 2 and expected in text and "Traceback" not in text, (argv, text)
        errors = [line for line in text.splitlines() if "error" in line.lower() or "FAIL" in line]
        assert len(errors) == 1 and expected in errors[0], (argv, text)  # one line says what is wrong


def test_sigkill_then_rerun_resumes_from_checkpoint(write_recipe, tmp_path):
    path = write_recipe(SFT_RECIPE)
    # killed just after its first checkpoint (step 5, a step or two later at most): 80 steps leave room to spare
    long_run = ["stages.distill.trainer.max_steps=80", "stages.distill.trainer.save_steps=5"]
    run_dir = tmp_path / "runs" / "t"
    proc = subprocess.Popen(
        ponder_cmd("run", str(path), *long_run), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 120
    trainer_dir = run_dir / "distill.partial" / "trainer"
    while not list(trainer_dir.glob("checkpoint-*/trainer_state.json")) and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(0.3)  # let the checkpoint files finish landing
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert list(trainer_dir.glob("checkpoint-*")), "no checkpoint appeared before the kill"
    assert (run_dir / "data" / "result.json").exists() and not (run_dir / "distill" / "result.json").exists()

    out = subprocess.run(
        ponder_cmd("run", str(path), *long_run),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "data (task_data): finished earlier" in out.stdout and "skipped" in out.stdout
    assert "distill (sft) (resuming)" in out.stdout and "resuming from" in out.stdout
    resumed_from = int(out.stdout.split("resuming from")[1].split("checkpoint-")[1].split()[0])
    assert 5 <= resumed_from < 80
    for stage in ("data", "distill"):
        result = json.loads((run_dir / stage / "result.json").read_text())
        assert result["status"] == "finished"
    assert json.loads((run_dir / "distill" / "result.json").read_text())["metrics"]["global_step"] == 80
    assert not (run_dir / "distill.partial").exists()


def test_rerun_skips_then_change_reruns_stage_and_successors(write_recipe, tmp_path, capsys):
    path = write_recipe(SFT_RECIPE)
    two = "stages.distill.trainer.max_steps=2"
    run_recipe(load_recipe(path, [two]))
    run_recipe(load_recipe(path, [two]))
    assert capsys.readouterr().out.count("skipped") == 2
    run_recipe(load_recipe(path, [two, "stages.data.size=64"]))
    out = capsys.readouterr().out
    assert (
        "skipped" not in out
        and json.loads((tmp_path / "runs/t/data/result.json").read_text())["metrics"]["rows"] == 64
    )
    run_recipe(load_recipe(path, [two, "stages.data.size=64"]), from_stage="distill")
    out = capsys.readouterr().out
    assert out.count("skipped") == 1 and "distill (sft) ->" in out


def test_malformed_jsonl_names_file_and_line(write_recipe, tmp_path):
    data = tmp_path / "rows.jsonl"
    data.write_text('{"prompt": "a", "answer": "1"}\n{"prompt": "b", "answer": "2"}\n{"prompt": "c", "answer": \n')
    recipe = load_recipe(write_recipe(SFT_RECIPE), [f"stages.distill.data={{path: {data}}}"])
    with pytest.raises(DataError, match=r"rows\.jsonl:3: not valid JSON"):
        run_recipe(recipe)


def test_empty_dataset_and_missing_column_are_clear(write_recipe, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(DataError, match="empty"):
        run_recipe(load_recipe(write_recipe(SFT_RECIPE), [f"stages.distill.data={{path: {empty}}}"]))
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"question": "a", "answer": "1"}\n')
    with pytest.raises(RecipeError, match="stages.distill.data.path: .*rows.jsonl: first row has no column 'prompt'"):
        load_recipe(write_recipe(SFT_RECIPE), [f"stages.distill.data={{path: {rows}}}"])  # validate names it now


def test_failed_rerun_leaves_finished_output_intact(write_recipe, tmp_path):
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps({"prompt": f"q{i}", "answer": str(i)}) + "\n" for i in range(32)))
    path = write_recipe(SFT_RECIPE)
    overrides = ["stages.distill.trainer.max_steps=2", f"stages.distill.data={{path: {data}}}"]
    run_recipe(load_recipe(path, overrides))
    finished = tmp_path / "runs/t/distill"
    before = {p.relative_to(finished): p.stat().st_mtime_ns for p in finished.rglob("*") if p.is_file()}
    data.write_text('{"prompt": "broken"\n')
    with pytest.raises(DataError, match="rows.jsonl:1"):
        run_recipe(load_recipe(path, [*overrides, "stages.distill.trainer.learning_rate=0.01"]))
    after = {p.relative_to(finished): p.stat().st_mtime_ns for p in finished.rglob("*") if p.is_file()}
    assert before == after and (finished / "checkpoint" / "model.safetensors").exists()


def test_memory_a_finished_stage_freed_goes_back_to_the_os():
    """Stages share the runner's process: freed heap pages are trimmed after each, so a stage does not start from
    the last one's high-water mark."""
    import platform
    from pathlib import Path

    import torch

    from ponder.recipes.runner import release_memory

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("malloc_trim is glibc's")

    def rss_mb() -> float:
        return int(Path("/proc/self/status").read_text().split("VmRSS:")[1].split()[0]) / 1024

    blocks = [torch.ones(1000, 100) for _ in range(2000)]  # 800 MB in blocks below glibc's mmap threshold
    top = torch.ones(1000, 100)  # noqa: F841  (live above the freed blocks: the heap cannot shrink by itself)
    held = rss_mb()
    del blocks
    release_memory()
    assert rss_mb() < held - 500


def test_report_names_the_base_model_as_the_recipe_does_never_by_this_machines_path(write_recipe, tmp_path):
    """configs/tiny/reasoner.yaml's `copy-base` is a folder beside the recipe (loaded by its absolute path); a
    recipe that names a folder by an absolute path is shown relative to its own folder."""
    from pathlib import Path

    from ponder.recipes.report import write_report

    root = Path(__file__).resolve().parents[1]
    evals = {name: {"kind": "eval", "seconds": 1.0, "metrics": {"direct_accuracy": 0.5}} for name in ("a", "b")}
    recipe = load_recipe(root / "configs/tiny/reasoner.yaml")
    assert Path(recipe.model.name_or_path).is_absolute()
    text = write_report(recipe, {"eval_base": evals["a"], "eval_distill": evals["b"]}, tmp_path).read_text()
    assert "| eval_base | copy-base | 0.5 |" in text and "| eval_distill | distill | 0.5 |" in text
    asset = root / "tests/assets/tiny-reasoner"
    path = write_recipe(f"name: t\nmodel: {{name_or_path: {asset}}}\nstages: [{{name: e, kind: eval}}]\n")
    text = write_report(load_recipe(path), {"e": evals["a"]}, tmp_path).read_text()
    (row,) = [line for line in text.splitlines() if line.startswith("| e |") and "0.5" in line]  # the eval table
    shown = row.split(" | ")[1]
    assert not Path(shown).is_absolute() and (path.parent / shown).resolve() == asset, row
