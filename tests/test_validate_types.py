"""Validation without torch: the committed TRL field table matches the installed TRL, every wrong-typed stage field
is refused by name with the type it takes, a value outside a field's choices or an option whose package is missing is
refused by `ponder validate` and `ponder run` in one line, and their checks never import torch."""

import dataclasses
import json
import subprocess
import sys
import time
import types
import typing
from pathlib import Path
from typing import Literal, Optional, Union

import pytest
import yaml

from ponder.recipes import fieldtypes
from ponder.recipes.cli import main
from ponder.recipes.fieldtypes import TABLE, TYPE_WORDS, check_documented, generate, hint_choices, hint_names
from ponder.recipes.kind import STAGE_KINDS, stage_kind
from ponder.recipes.schema import RecipeError, load_recipe

REASONER = str(Path(__file__).resolve().parents[1] / "configs/tiny/reasoner.yaml")  # has an sft and a grpo stage


def test_trainer_field_table_matches_installed_trl():
    committed = json.loads(TABLE.read_text())
    installed = generate()
    written = ("configs", "choices", "requires")
    assert {k: committed[k] for k in written} == {k: installed[k] for k in written}, (
        f"{TABLE.name} was written for TRL {committed['trl']}, transformers {committed['transformers']}; installed: "
        f"TRL {installed['trl']}, transformers {installed['transformers']}: run `python -m ponder.recipes.fieldtypes`"
    )


def wrong_value(names: list[str]):
    """A YAML value of none of the types `names` allows."""
    for value, name in (("abc", "str"), ([1], "list"), ({"a": 1}, "dict"), (True, "bool")):
        if name not in names:
            return value
    raise AssertionError(f"no wrong value for {names}")


def wrong_fields(cls):
    """(dotted key, raw value placed at the top field, expected names) for every checkable field, nested ones too."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        args = [a for a in typing.get_args(hint) if dataclasses.is_dataclass(a)]
        nested = hint if dataclasses.is_dataclass(hint) else (args[0] if args else None)
        if nested is not None:
            wrap = (lambda v: [v]) if typing.get_origin(hint) is list else (lambda v: v)
            index = "[0]" if typing.get_origin(hint) is list else ""
            for key, (inner, value), names in wrong_fields(nested):
                yield f"{f.name}{index}.{key}", (f.name, wrap({inner: value})), names
            continue
        names = hint_names(hint)
        if names is not None:
            yield f.name, (f.name, wrong_value(names)), names


@pytest.mark.parametrize("kind", sorted(STAGE_KINDS))
def test_every_wrong_typed_option_names_field_and_type(kind, write_recipe):
    cases = list(wrong_fields(stage_kind(kind).options))
    assert cases, f"{kind}: no typed options to check"
    for key, (field, value), names in cases:
        recipe = {"name": "t", "model": {"name_or_path": "tiny:micro"}, "stages": [{"name": "s", "kind": kind}]}
        recipe["stages"][0][field] = value
        path = write_recipe(yaml.safe_dump(recipe))
        with pytest.raises(RecipeError) as info:
            load_recipe(path)
        err = info.value
        assert err.key == f"stages.s.{key}", (kind, key, str(err))
        assert any(TYPE_WORDS[n] in str(err) for n in names if n != "None"), (kind, key, str(err))


def test_string_where_a_number_goes_names_field(write_recipe):
    recipe = {"name": "t", "stages": [{"name": "data", "kind": "task_data", "tasks": ["running_sum"], "size": "abc"}]}
    with pytest.raises(RecipeError) as info:
        load_recipe(write_recipe(yaml.safe_dump(recipe)))
    assert info.value.key == "stages.data.size" and "'abc' is not an integer" in str(info.value)


def run_cli(*args) -> tuple[subprocess.CompletedProcess, float, list]:
    """`ponder ARGS` in a fresh interpreter: its result, wall seconds, and whether torch got imported."""
    code = (
        "import sys; from ponder.recipes.cli import main\n"
        f"code = main({list(args)!r})\n"
        "print('TORCH', 'torch' in sys.modules, 'trl' in sys.modules, file=sys.stderr); sys.exit(code)"
    )
    started = time.time()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    return proc, time.time() - started, proc.stderr.split("TORCH")[-1].split()


def test_validate_and_bad_run_never_import_torch(write_recipe):
    proc, seconds, loaded = run_cli("validate", "configs/tiny/reasoner.yaml")
    assert proc.returncode == 0 and "ok " in proc.stdout, proc.stderr
    assert loaded == ["False", "False"], f"validate imported torch/trl: {loaded}"
    assert seconds < 10, f"validate took {seconds:.1f}s (about 0.2 s on 2 cores)"
    bad = write_recipe("name: t\nstages:\n  - {name: data, kind: task_data, tasks: [running_sum], size: abc}\n")
    proc, seconds, loaded = run_cli("run", str(bad))
    assert proc.returncode == 2 and "stages.data.size" in proc.stderr, proc.stderr
    assert loaded == ["False", "False"] and seconds < 10
    proc, seconds, loaded = run_cli("run", REASONER, "stages.grpo.trainer.loss_type=nosuch")
    (line,) = proc.stderr.split("TORCH")[0].splitlines()
    assert proc.returncode == 2 and line.startswith("ponder: error: ") and "stages.grpo.trainer.loss_type" in line
    assert loaded == ["False", "False"] and seconds < 10


def test_choices_are_read_from_the_hints():
    """An enum spelt as a string, a Literal and a list of them are closed sets; a field any string fits is not."""
    from transformers.debug_utils import DebugOption
    from transformers.trainer_utils import SchedulerType

    assert hint_choices(SchedulerType | str) == [m.value for m in SchedulerType]
    assert hint_choices(Optional[Literal["token", "sequence"]]) == ["token", "sequence"]
    assert hint_choices(list[DebugOption]) == [m.value for m in DebugOption]
    assert hint_choices(Union[str, None, Literal[False]]) is None  # trackio_static_space_id: any Space id
    assert hint_choices(str | list[DebugOption]) is None  # debug: "underflow_overflow tpu_metrics_debug" is a str too
    assert hint_choices(str) is None and hint_choices(int) is None


def test_documented_choices_that_drift_from_trl_fail_the_table(monkeypatch):
    """A hand-listed set (TRL names GRPOConfig.loss_type's values only in its help) is checked against the class."""
    check_documented()
    renamed = {"trl.GRPOConfig": {"loss_type": ["grpo", "dr_grpo", "dapo_v2"]}}
    monkeypatch.setattr(fieldtypes, "DOCUMENTED_CHOICES", renamed)
    with pytest.raises(RuntimeError, match=r"trl.GRPOConfig.loss_type: .*'dapo_v2'"):
        check_documented()


# (override, the key the refusal names, what the one line must say); each needs nothing installed to be refused.
BAD_CHOICES = [
    ("stages.grpo.trainer.loss_type=nosuch", "stages.grpo.trainer.loss_type", "grpo, dr_grpo, dapo, bnpo, cispo"),
    ("stages.grpo.trainer.loss_type=dapoo", "stages.grpo.trainer.loss_type", "did you mean 'dapo'"),
    (
        "stages.grpo.trainer.importance_sampling_level=sentence",
        "stages.grpo.trainer.importance_sampling_level",
        "token",
    ),
    ("stages.grpo.trainer.scale_rewards=std", "stages.grpo.trainer.scale_rewards", "group, batch, none"),
    (
        "stages.grpo.trainer.multi_objective_aggregation=mean",
        "stages.grpo.trainer.multi_objective_aggregation",
        "sum_",
    ),
    ("stages.grpo.trainer.vllm_mode=remote", "stages.grpo.trainer.vllm_mode", "server, colocate"),
    ("stages.distill.trainer.loss_type=dapo", "stages.distill.trainer.loss_type", "nll, dft, chunked_nll"),
    (
        "stages.distill.trainer.lr_scheduler_type=cosine_annealing",
        "stages.distill.trainer.lr_scheduler_type",
        "cosine",
    ),
    ("stages.distill.trainer.optim=adam", "stages.distill.trainer.optim", "adamw_torch_fused"),
    ("stages.grpo.trainer.save_strategy=always", "stages.grpo.trainer.save_strategy", "no, steps, epoch, best"),
    ("stages.grpo.trainer.report_to=[wandb, tensorbord]", "stages.grpo.trainer.report_to", "'tensorboard'"),
]
# Options whose package is not installed (the tests hide every extra from find_spec): refused with its install line.
MISSING_EXTRAS = [
    ("stages.grpo.trainer.use_liger_kernel=true", "stages.grpo.trainer.use_liger_kernel", "pip install liger-kernel"),
    ("stages.grpo.trainer.use_vllm=true", "stages.grpo.trainer.use_vllm", 'pip install -e ".[vllm]"'),
    ("stages.distill.trainer.optim=adamw_bnb_8bit", "stages.distill.trainer.optim", 'pip install -e ".[qlora]"'),
    ("stages.grpo.trainer.optim=paged_adamw_32bit", "stages.grpo.trainer.optim", 'pip install -e ".[qlora]"'),
    ("stages.grpo.lora={load_in_4bit: true}", "stages.grpo.lora.load_in_4bit", 'pip install -e ".[qlora]"'),
    ("stages.distill.trainer.optim=adamw_torch_8bit", "stages.distill.trainer.optim", "pip install torchao"),
    ("stages.grpo.trainer.optim=schedule_free_adamw", "stages.grpo.trainer.optim", "pip install schedulefree"),
    ("stages.grpo.trainer.report_to=[wandb, tensorboard]", "stages.grpo.trainer.report_to", "pip install tensorboard"),
    ("stages.distill.trainer.report_to=trackio", "stages.distill.trainer.report_to", "pip install trackio"),
    ("stages.grpo.trainer.report_to=mlflow", "stages.grpo.trainer.report_to", "pip install mlflow"),
    ("stages.grpo.trainer.report_to=comet_ml", "stages.grpo.trainer.report_to", "pip install comet-ml"),
    ("report_to=tensorboard", "report_to", "pip install tensorboard"),
]


def runner_not_reached(*args, **kwargs):
    pytest.fail("ponder run got past validation")


@pytest.mark.parametrize(
    "override,key,says", BAD_CHOICES + MISSING_EXTRAS, ids=[c[0] for c in BAD_CHOICES + MISSING_EXTRAS]
)
def test_bad_choice_or_missing_extra_is_one_line_from_validate_and_run(
    override, key, says, extras_installed, monkeypatch, capsys
):
    extras_installed(False)
    with pytest.raises(RecipeError) as info:
        load_recipe(REASONER, [override])
    assert info.value.key == key and says in str(info.value), str(info.value)
    # `ponder run` refuses it before it imports the runner (and torch): a stand-in runner fails the test if reached
    monkeypatch.setitem(sys.modules, "ponder.recipes.runner", types.SimpleNamespace(run_recipe=runner_not_reached))
    for argv in (["validate", REASONER, "--set", override], ["run", REASONER, override]):
        assert main(argv) == 2, argv
        captured = capsys.readouterr()
        assert captured.out == "" and captured.err.splitlines() == [f"ponder: error: {info.value}"], (argv, captured)


@pytest.mark.parametrize("override", [c[0] for c in MISSING_EXTRAS])
def test_options_with_extras_pass_where_installed(override, extras_installed):
    extras_installed(True)
    load_recipe(REASONER, [override])  # no RecipeError: what was refused is the missing package, not the value


@pytest.mark.parametrize("loss_type", ["dapo", "dr_grpo", "bnpo", "grpo"])
def test_valid_choices_pass(loss_type, capsys):
    knobs = {
        "loss_type": loss_type,
        "importance_sampling_level": "sequence",
        "epsilon_high": 0.28,
        "steps_per_generation": 2,  # two optimizer steps per rollout batch, so the clip bound acts
        "mask_truncated_completions": True,
        "beta": 0.0,
        "scale_rewards": "none",
        "lr_scheduler_type": "cosine",
        "optim": "adamw_torch",
        "report_to": ["wandb"],
        "include_num_input_tokens_seen": True,  # a bool beside the field's choices
    }
    overrides = [f"stages.grpo.trainer.{k}={json.dumps(v)}" for k, v in knobs.items()]
    assert load_recipe(REASONER, overrides).stage("grpo").trainer.items() >= knobs.items()
    assert main(["validate", REASONER, *(x for o in overrides for x in ("--set", o))]) == 0
    assert capsys.readouterr().out.startswith(f"ok    {REASONER}")
