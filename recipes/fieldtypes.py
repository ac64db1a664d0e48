"""Field types without importing torch: the type check of recipe keys and the table of TRL config fields.

`ponder validate` must not pay for torch + transformers + TRL (~7-15 s on 2 cores) to learn which `trainer:`
keys exist and what they take. The fields and types of the config classes stage kinds train with are kept in
`trainer_fields.json` beside this file, written from the installed TRL by
`python -m ponder.recipes.fieldtypes` (a test fails when the table and the installed TRL disagree).

A type is described by names from one small vocabulary: int, float, bool, str, list, dict and None; a hint
outside it (an enum, a class, Any) is not checked here (TRL converts or checks those itself).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import json
import types
import typing
from pathlib import Path
from typing import Any, Union

TABLE = Path(__file__).with_name("trainer_fields.json")
# The config classes ponder's own stage kinds train with (dotted paths, as StageKind.trainer_config names them).
CONFIGS = ("trl.SFTConfig", "trl.GRPOConfig", "transformers.TrainingArguments")

_NAMES = {int: "int", float: "float", bool: "bool", str: "str", list: "list", dict: "dict", type(None): "None"}
TYPE_WORDS = {
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "str": "a string",
    "list": "a list",
    "dict": "a mapping",
    "None": "null",
}


def hint_names(hint) -> list[str] | None:
    """The vocabulary names a type hint allows, or None when it is not checked here (Any, enums, classes)."""
    if hint is Any:
        return None
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        names = [hint_names(arg) for arg in typing.get_args(hint)]
        return None if any(n is None for n in names) else sorted({x for n in names for x in n})
    base = origin if origin in (list, dict, tuple) else hint
    if base is tuple:
        base = list  # YAML has no tuples: a list is what a recipe gives
    return [_NAMES[base]] if base in _NAMES else None


def type_problem(value, names: list[str] | None) -> str | None:
    """What `value` should have been when it is none of `names` (None = unchecked); else None.

    YAML reads `1e-3` as a string (it needs a dot: `1.0e-3`), so a float field says so."""
    if names is None:
        return None
    kind = type(value)
    if kind is bool:
        ok = "bool" in names
    elif kind is int:
        ok = "int" in names or "float" in names
    elif kind in _NAMES:
        ok = _NAMES[kind] in names
    else:
        ok = True  # not a YAML type: built in code, trusted
    if ok:
        return None
    expected = " or ".join(TYPE_WORDS[n] for n in names if n != "None")  # null is allowed, not what was meant
    if "float" in names and isinstance(value, str):
        expected += " (YAML reads 1e-3 as a string: write 1.0e-3)"
    return expected


def describe(config_cls) -> dict[str, list[str] | None]:
    """Field name -> vocabulary names of a config dataclass (hints that do not resolve are not checked)."""
    try:
        hints = typing.get_type_hints(config_cls)
    except Exception:  # a forward reference that does not resolve: check names only
        hints = {}
    return {f.name: hint_names(hints.get(f.name, Any)) for f in dataclasses.fields(config_cls)}


def import_config(dotted: str) -> type:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


@functools.cache
def _table() -> dict:
    return json.loads(TABLE.read_text())["configs"] if TABLE.exists() else {}


def config_fields(config) -> dict[str, list[str] | None]:
    """The fields of a stage kind's trainer config: from the committed table for a dotted name it holds,
    else from the class itself (imported when named by a dotted path outside the table)."""
    if isinstance(config, str):
        known = _table().get(config)
        if known is not None:
            return {k: v.split("|") if v is not None else None for k, v in known.items()}
        config = import_config(config)
    return describe(config)


def generate() -> dict:
    """The table for the installed TRL and transformers."""
    import transformers
    import trl

    return {
        "written_by": "python -m ponder.recipes.fieldtypes",
        "trl": trl.__version__,
        "transformers": transformers.__version__,
        "configs": {
            name: {k: "|".join(v) if v is not None else None for k, v in describe(import_config(name)).items()}
            for name in CONFIGS
        },
    }


if __name__ == "__main__":
    TABLE.write_text(json.dumps(generate(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {TABLE}")
