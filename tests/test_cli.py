"""The `ponder` command line: run, validate and show take recipe edits as KEY=VALUE arguments and as --set flags,
among their other flags; generate, chat and serve take a checkpoint, stage or run folder; a closed pipe ends the
output quietly."""

import json
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

from ponder.recipes.cli import main
from ponder.recipes.runs import RunFolderError, find_checkpoint

ROOT = Path(__file__).resolve().parents[1]
REASONER = str(ROOT / "configs/tiny/reasoner.yaml")  # distill: trainer.max_steps 400
STEPS = "stages.distill.trainer.max_steps"
FORMS = {"KEY=VALUE": lambda edit: [edit], "--set": lambda edit: ["--set", edit]}


@pytest.fixture
def stand_in_runner(monkeypatch):
    """`ponder run` hands its recipe to this runner instead of running it: the calls it got."""
    calls = []
    monkeypatch.setitem(
        sys.modules,
        "ponder.recipes.runner",
        types.SimpleNamespace(run_recipe=lambda recipe, edits, **kw: calls.append((recipe, edits, kw))),
    )
    monkeypatch.setenv("PONDER_VERBOSE", "")  # run -v sets it for launched stages; restored after the test
    return calls


@pytest.mark.parametrize("form", FORMS)
def test_run_uses_edits_in_either_form_among_its_flags(form, stand_in_runner):
    edit = FORMS[form]
    argv = ["run", REASONER, "-v", *edit(f"{STEPS}=7"), "--from", "grpo", *edit("stages.grpo.size=64")]
    assert main(argv) == 0
    ((recipe, edits, kw),) = stand_in_runner
    assert recipe.stage("distill").trainer["max_steps"] == 7 and recipe.stage("grpo").options.size == 64
    assert edits == [f"{STEPS}=7", "stages.grpo.size=64"]  # what launched stages reload the recipe with
    assert kw == {"from_stage": "grpo", "verbose": True}


@pytest.mark.parametrize("form", FORMS)
def test_show_prints_the_edited_value(form, capsys):
    assert main(["show", REASONER, "distill", *FORMS[form](f"{STEPS}=7")]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^max_steps +7 +# trainer:$", out, flags=re.M), out


def test_help_fields_lists_the_settings_of_an_option_left_off(capsys):
    """`ponder show --help-fields`: dynamic sampling is off in the default recipe, yet its settings (skip_known
    included) are listed with the defaults they take and their help; set, they show the recipe's values."""
    assert main(["show", REASONER, "grpo", "--help-fields"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^dynamic_sampling +None +# DAPO's dynamic sampling", out, flags=re.M), out
    assert re.search(r"^  dynamic_sampling\.skip_known +0\.0 +# Pre-rollout filtering \(GRESO\)", out, flags=re.M), out
    assert main(["show", REASONER, "grpo", "--help-fields", "stages.grpo.dynamic_sampling={skip_known: 0.9}"]) == 0
    assert re.search(r"^dynamic_sampling\.skip_known +0\.9 +# Pre-rollout", capsys.readouterr().out, flags=re.M)


@pytest.mark.parametrize("form", FORMS)
def test_validate_refuses_a_bad_edit_by_its_key_and_passes_a_good_one(form, capsys):
    edit = FORMS[form]
    assert main(["validate", *edit(f"{STEPS}=abc"), REASONER]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.splitlines() == [
        f"ponder: error: {REASONER}: {STEPS}: 'abc' is not an integer (SFTConfig.max_steps)"
    ]
    assert main(["validate", REASONER, *edit(f"{STEPS}=7")]) == 0
    assert capsys.readouterr().out.startswith(f"ok    {REASONER}")


def test_validate_takes_an_edit_too_long_to_be_a_file_name(capsys):
    """A long inline value (a stage given whole, 300+ characters) is an edit: checking whether it names a file used to
    stop `ponder validate` with OSError (File name too long)."""
    long_help = "x" * 300
    assert main(["validate", REASONER, f"description={long_help}"]) == 0
    assert capsys.readouterr().out.startswith(f"ok    {REASONER}")


def test_edits_keep_their_order_within_a_form_and_a_key_given_both_ways_is_refused(stand_in_runner, capsys):
    assert main(["run", REASONER, f"{STEPS}=5", f"{STEPS}=6", "--set", f"{STEPS}=8", "--set", f"{STEPS}=9"]) == 2
    assert capsys.readouterr().err == (
        f"ponder: error: {STEPS} is given both as KEY=VALUE and as --set, in no kept order: give it one way\n"
    )
    assert main(["run", REASONER, f"{STEPS}=5", f"{STEPS}=6"]) == 0
    assert main(["run", "--set", f"{STEPS}=8", REASONER, "--set", f"{STEPS}=9"]) == 0  # flags go anywhere
    assert [recipe.stage("distill").trainer["max_steps"] for recipe, _, _ in stand_in_runner] == [6, 9]


def fake_stage(run: Path, name: str, kind: str | None, checkpoint: bool):
    """A stage folder as the runner leaves it; `kind` None: unfinished. A checkpoint is its config.json only."""
    folder = run / name
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(f"stage: {{name: {name}}}\n")
    if kind is not None:
        artifacts = {"checkpoint": "checkpoint"} if checkpoint else {}
        (folder / "result.json").write_text(json.dumps({"kind": kind, "artifacts": artifacts}))
    if checkpoint:
        (folder / "checkpoint").mkdir()
        (folder / "checkpoint" / "config.json").write_text("{}")
    return folder


def test_a_run_folder_means_its_last_stage_in_recipe_order_with_a_model(tmp_path, capsys):
    run = tmp_path / "runs/r"
    for name, kind, checkpoint in [
        ("distill", "sft", True),
        ("grpo", "grpo", True),
        ("eval", "eval", False),
        ("prm", "prm", True),  # a process reward model: no model to generate with
        ("star.partial", None, True),
    ]:
        fake_stage(run, name, kind, checkpoint)
    order = run / "run.json"
    order.write_text(json.dumps({"stages": ["distill", "grpo", "star", "prm", "eval"]}))
    assert find_checkpoint(str(run)) == str(run / "grpo/checkpoint")
    assert capsys.readouterr().err == (
        f"ponder: {run}: using stage grpo, the last in recipe order with a checkpoint: {run}/grpo/checkpoint\n"
    )
    order.write_text(json.dumps({"stages": ["grpo", "distill", "prm", "eval"]}))  # the recipe as it is now
    assert find_checkpoint(str(run)) == str(run / "distill/checkpoint")
    order.unlink()  # a run from before run.json: the last such stage to finish
    for i, name in enumerate(["grpo", "prm", "distill", "eval"]):
        os.utime(run / name / "result.json", (1000 + i, 1000 + i))
    assert find_checkpoint(str(run)) == str(run / "distill/checkpoint")
    assert "the last to finish (no run.json) with a checkpoint" in capsys.readouterr().err
    order.write_text(json.dumps({"stages": ["prm", "eval"]}))
    with pytest.raises(RunFolderError) as info:
        find_checkpoint(str(run))
    assert str(info.value) == (
        f"{run}: none of its stage folders (distill, eval, grpo, prm, star.partial) has a checkpoint"
    )


def test_a_stage_folder_means_its_checkpoint_or_says_why_it_has_none(tmp_path):
    run = tmp_path / "runs/r"
    assert find_checkpoint(str(fake_stage(run, "grpo", "grpo", True))) == str(run / "grpo/checkpoint")
    assert find_checkpoint(str(run / "grpo/checkpoint")) == str(run / "grpo/checkpoint")
    for name, kind, checkpoint, says in [
        ("eval", "eval", False, "its stage (eval) writes no checkpoint"),
        ("prm", "prm", True, "its stage (prm) makes a checkpoint that scores steps and generates nothing"),
        ("star.partial", None, True, "the stage has not finished"),
    ]:
        with pytest.raises(RunFolderError, match=re.escape(f"{run / name}: {says}")):
            find_checkpoint(str(fake_stage(run, name, kind, checkpoint)))
    (run / "grpo/checkpoint/config.json").unlink()
    with pytest.raises(RunFolderError, match="its checkpoint .* is gone"):
        find_checkpoint(str(run / "grpo"))
    with pytest.raises(RunFolderError, match="neither a checkpoint folder .* nor a run folder"):
        find_checkpoint(str(tmp_path))
    assert find_checkpoint("org/model") == "org/model"  # not a folder here: a hub id for load_for_inference


PROMPT = ["--prompt", "sum 3  4  0  7  _  _  _  _", "--max-thinking-tokens", "8", "--json"]


def test_generate_and_chat_take_a_run_or_stage_folder(tiny_checkpoint, monkeypatch, capsys):
    run = tiny_checkpoint.parents[1]  # runs/t: a data stage, then distill (an sft checkpoint)
    assert json.loads((run / "run.json").read_text()) == {"stages": ["data", "distill"]}
    answers = []
    for path in (tiny_checkpoint, run / "distill", run):
        assert main(["generate", str(path), *PROMPT]) == 0
        captured = capsys.readouterr()
        answers.append(json.loads(captured.out))
    assert answers[0]["thinking_tokens"] <= 8 and answers[0] == answers[1] == answers[2]
    assert f"ponder: {run}: using stage distill, the last in recipe order with a checkpoint" in captured.err
    monkeypatch.setattr("builtins.input", lambda prompt: "")  # an empty line ends the chat
    assert main(["chat", str(run)]) == 0
    assert "using stage distill" in capsys.readouterr().err


def test_user_errors_are_one_line_and_verbose_adds_the_traceback(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "notes.txt").write_text("")
    cases = [
        (["generate", str(tmp_path / "missing"), "--prompt", "x"], "missing: no such checkpoint folder"),
        (["generate", "org/missing", "--prompt", "x"], "org/missing: no such folder, and no hub model"),
        (["generate", str(empty), "--prompt", "x"], "empty: neither a checkpoint folder (no config.json)"),
        (["chat", str(tmp_path / "notes.txt")], "notes.txt: not a checkpoint folder (no config.json in it)"),
        (["serve", str(empty), "--port", "99999"], "argument --port: invalid port value: '99999'"),
        (["generate", str(empty), "--prompt", "x", "--temperature", "-1"], "invalid temperature value: '-1'"),
        (["serve", str(ROOT / "tests/assets/tiny-reasoner"), "--prm", str(empty)], "needs both --prm and --alloc"),
        (["show", REASONER, "nosuch"], "stages: no stage named 'nosuch'"),
    ]
    for argv, expected in cases:
        try:
            code = main(argv)
        except SystemExit as exit_:  # argparse's usage errors
            code = exit_.code
        captured = capsys.readouterr()
        lines = (captured.err + captured.out).strip().splitlines()
        assert code == 2 and len(lines) == 1 and expected in lines[0] and "error:" in lines[0], (argv, lines)
    assert main(["generate", str(empty), "--prompt", "x", "-v"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):") and "RunFolderError" in err
    assert err.splitlines()[-1].startswith(f"ponder: error: {empty}: neither a checkpoint folder")


@pytest.mark.parametrize("argv", [["ls"], ["show", REASONER, "distill", "--help-fields"]])
def test_a_closed_pipe_ends_the_output_quietly(argv):
    """`ponder ls | head -1`: the reader is gone before the output is written (the read end closed at once)."""
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "ponder.recipes.cli", *argv], stdout=write, stderr=subprocess.PIPE, timeout=60
        )
    finally:
        os.close(write)
    assert proc.returncode == 1 and proc.stderr == b""
