"""Validation without torch: the committed TRL field table matches the installed TRL, every wrong-typed stage field
is refused by name with the type it takes, and `ponder validate` / `ponder run`'s checks never import torch."""

import dataclasses
import json
import subprocess
import sys
import time
import typing

import pytest
import yaml

from ponder.recipes.fieldtypes import TABLE, TYPE_WORDS, generate, hint_names
from ponder.recipes.kind import STAGE_KINDS, stage_kind
from ponder.recipes.schema import RecipeError, load_recipe


def test_trainer_field_table_matches_installed_trl():
    committed = json.loads(TABLE.read_text())
    installed = generate()
    assert committed["configs"] == installed["configs"], (
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
