"""Field types and choices without importing torch: the checks of recipe keys and the table of TRL config fields.

`ponder validate` must not pay for torch + transformers + TRL (~7-15 s on 2 cores) to learn which `trainer:`
keys exist, what they take and which values a closed set allows. The fields, types and choices of the config
classes stage kinds train with are kept in `trainer_fields.json` beside this file, written from the installed TRL
by `python -m ponder.recipes.fieldtypes` (a test fails when the table and the installed TRL disagree).

A type is described by names from one small vocabulary: int, float, bool, str, list, dict and None (an enum of
strings is a str, a `Literal` the types of its values); a hint outside it (a class, Any) is not checked here (TRL
converts or checks those itself).

Choices are the closed set of strings a field takes, read from the class: a `Literal`, an enum (`SchedulerType |
str` is the enum spelt as a string), the field's `choices` metadata, transformers' integrations for `report_to`,
and where TRL declares a plain `str` and names the values only in its help text, `DOCUMENTED_CHOICES` (checked
against that help text whenever the table is written). A list field's choices hold for each entry.

An option that needs a package ponder does not depend on (`use_liger_kernel: true`, a bitsandbytes optimizer,
`report_to: tensorboard`) is refused, with its install command, when `importlib.util.find_spec` (which imports
nothing) does not find the package: `missing_extra`.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import importlib
import json
import types
import typing
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Literal, Union

TABLE = Path(__file__).with_name("trainer_fields.json")
# The config classes ponder's own stage kinds train with (dotted paths, as StageKind.trainer_config names them).
CONFIGS = ("trl.SFTConfig", "trl.GRPOConfig", "trl.DistillationConfig", "transformers.TrainingArguments")

# Closed sets a class declares as a plain `str` and names only in the field's help text (by the class that
# declares the field; subclasses inherit them). `generate` checks each against the installed class: TRL's
# default is a choice and every choice is named in the help, so an upgrade that renames one fails the table's test.
DOCUMENTED_CHOICES = {
    "trl.GRPOConfig": {
        "loss_type": ["grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo", "luspo", "vespo"],
        "importance_sampling_level": ["token", "sequence"],
        "scale_rewards": ["group", "batch", "none"],
        "multi_objective_aggregation": ["sum_then_normalize", "normalize_then_sum"],
        "vllm_mode": ["server", "colocate"],
        "vllm_model_impl": ["transformers", "vllm"],
        "vllm_importance_sampling_mode": ["token_truncate", "token_mask", "sequence_truncate", "sequence_mask"],
    },
    "trl.DistillationConfig": {"vllm_mode": ["server", "colocate"], "vllm_model_impl": ["transformers", "vllm"]},
    "transformers.TrainingArguments": {
        "include_num_input_tokens_seen": ["all", "non_padding", "no"],
        "include_for_metrics": ["inputs", "loss"],
    },
}

# Packages an option may need that ponder does not depend on: name -> (modules find_spec looks for, any one will
# do; the command that installs it). The report_to trackers are named as transformers names them.
EXTRAS = {
    "liger_kernel": (("liger_kernel",), "pip install liger-kernel"),
    "vllm": (("vllm",), 'pip install -e ".[vllm]"'),
    "bitsandbytes": (("bitsandbytes",), 'pip install -e ".[qlora]"'),
    "torchao": (("torchao",), "pip install torchao"),
    "schedulefree": (("schedulefree",), "pip install schedulefree"),
    "tensorboard": (("tensorboard", "tensorboardX"), "pip install tensorboard"),
    "trackio": (("trackio",), "pip install trackio"),
    "mlflow": (("mlflow",), "pip install mlflow"),
    "comet_ml": (("comet_ml",), "pip install comet-ml"),
    "clearml": (("clearml",), "pip install clearml"),
    "codecarbon": (("codecarbon",), "pip install codecarbon"),
    "dvclive": (("dvclive",), "pip install dvclive"),
    "swanlab": (("swanlab",), "pip install swanlab"),
}
# Switches (trainer fields and stage options alike, e.g. `lora.load_in_4bit`) that need an extra when true.
SWITCHES = {"use_liger_kernel": "liger_kernel", "use_vllm": "vllm", "load_in_4bit": "bitsandbytes"}
# transformers' optimizer groups (lists in `transformers.trainer_optimizer`) -> the extra each needs.
OPTIMIZER_EXTRAS = {
    "_BITSANDBYTES_OPTIMIZERS": "bitsandbytes",
    "_TORCHAO_OPTIMIZERS": "torchao",
    "_SCHEDULE_FREE_OPTIMIZERS": "schedulefree",
}

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


def _string_enum(hint) -> bool:
    return isinstance(hint, type) and issubclass(hint, enum.Enum) and all(isinstance(m.value, str) for m in hint)


def hint_names(hint) -> list[str] | None:
    """The vocabulary names a type hint allows, or None when it is not checked here (Any, classes)."""
    if hint is Any:
        return None
    if _string_enum(hint):
        return ["str"]
    origin = typing.get_origin(hint)
    if origin is Literal:
        kinds = {type(value) for value in typing.get_args(hint)}
        return sorted(_NAMES[k] for k in kinds) if kinds <= _NAMES.keys() else None
    if origin in (Union, types.UnionType):
        names = [hint_names(arg) for arg in typing.get_args(hint)]
        return None if any(n is None for n in names) else sorted({x for n in names for x in n})
    base = origin if origin in (list, dict, tuple) else hint
    if base is tuple:
        base = list  # YAML has no tuples: a list is what a recipe gives
    return [_NAMES[base]] if base in _NAMES else None


def _strings(hint) -> tuple[list[str], bool]:
    """(the strings `hint` names, whether any other string goes too); a list's entries are its strings."""
    if hint is str or hint is Any:
        return [], True
    if _string_enum(hint):
        return [m.value for m in hint], False
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        return [a for a in args if isinstance(a, str)], False
    if origin in (list, tuple) or hint in (list, tuple):
        return _strings(args[0]) if args else ([], True)
    if origin in (Union, types.UnionType):
        spelt = any(_string_enum(a) for a in args)  # `SchedulerType | str`: the str is the enum's value spelt out
        parts = [_strings(a) for a in args if not (spelt and a is str)]
        return [s for strings, _ in parts for s in strings], any(opened for _, opened in parts)
    return [], False


def hint_choices(hint) -> list[str] | None:
    """The closed set of strings a hint allows (a Literal's, an enum's), or None when any string goes."""
    strings, opened = _strings(hint)
    return list(dict.fromkeys(strings)) if strings and not opened else None


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


def outside_choices(value, choices: list[str] | None) -> str | None:
    """The first string of `value` (itself, or an entry of a list) that is not among `choices`; else None."""
    if choices is None:
        return None
    return next(
        (v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str) and v not in choices), None
    )


def _hints(config_cls) -> dict:
    try:
        return typing.get_type_hints(config_cls)
    except Exception:  # a forward reference that does not resolve: check names only
        return {}


def describe(config_cls) -> dict[str, list[str] | None]:
    """Field name -> vocabulary names of a config dataclass (hints that do not resolve are not checked)."""
    hints = _hints(config_cls)
    return {f.name: hint_names(hints.get(f.name, Any)) for f in dataclasses.fields(config_cls)}


def documented_choices(config_cls) -> dict[str, list[str]]:
    """The choices of a config's fields that its hints and metadata do not hold: `DOCUMENTED_CHOICES` of every
    class it derives from, and for a TrainingArguments `report_to`: transformers' integrations, "all" or "none"."""
    from transformers import TrainingArguments
    from transformers.integrations.integration_utils import INTEGRATION_TO_CALLBACK

    found = {}
    for owner, fields in DOCUMENTED_CHOICES.items():
        if issubclass(config_cls, import_config(owner)):
            found.update(fields)
    if issubclass(config_cls, TrainingArguments):
        found["report_to"] = ["all", "none", *INTEGRATION_TO_CALLBACK]
    return found


def describe_choices(config_cls) -> dict[str, list[str]]:
    """Field name -> its choices, for each field of a config dataclass that takes a closed set of strings."""
    hints, documented = _hints(config_cls), documented_choices(config_cls)
    choices = {}
    for f in dataclasses.fields(config_cls):
        found = f.metadata.get("choices") or hint_choices(hints.get(f.name, Any)) or documented.get(f.name)
        if found:
            choices[f.name] = [str(c) for c in found]
    return choices


def check_documented() -> None:
    """Each `DOCUMENTED_CHOICES` set still describes its installed class, or a RuntimeError says which."""
    for owner, fields in DOCUMENTED_CHOICES.items():
        cls = import_config(owner)
        declared = {f.name: f for f in dataclasses.fields(cls)}
        for name, choices in fields.items():
            f = declared.get(name)
            text = f.metadata.get("help", "") if f else ""
            unnamed = [c for c in choices if c not in text]
            default_off = f is not None and isinstance(f.default, str) and f.default not in choices
            if f is None or unnamed or default_off:
                found = "no such field" if f is None else f"default {f.default!r}, help not naming {unnamed}"
                raise RuntimeError(
                    f"{owner}.{name}: DOCUMENTED_CHOICES {choices} no longer match the installed class ({found}): "
                    f"update them in {Path(__file__).name} from its help text"
                )


def optimizer_extras() -> dict[str, str]:
    """optim value -> the extra it needs, from transformers' optimizer groups."""
    from transformers import trainer_optimizer

    return {
        str(name.value): extra
        for group, extra in OPTIMIZER_EXTRAS.items()
        for name in getattr(trainer_optimizer, group)
    }


def import_config(dotted: str) -> type:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


@functools.cache
def _table() -> dict:
    return json.loads(TABLE.read_text()) if TABLE.exists() else {}


def config_fields(config) -> dict[str, list[str] | None]:
    """The fields of a stage kind's trainer config: from the committed table for a dotted name it holds,
    else from the class itself (imported when named by a dotted path outside the table)."""
    if isinstance(config, str):
        known = _table().get("configs", {}).get(config)
        if known is not None:
            return {k: v.split("|") if v is not None else None for k, v in known.items()}
        config = import_config(config)
    return describe(config)


def config_choices(config) -> dict[str, list[str]]:
    """Field name -> choices of a stage kind's trainer config, from the table or the class, as `config_fields`."""
    if isinstance(config, str):
        known = _table().get("choices", {}).get(config)
        if known is not None:
            return known
        config = import_config(config)
    return describe_choices(config)


def missing_extra(field: str, value) -> str | None:
    """What `field: value` needs and this environment lacks, with the command that installs it; else None.

    `find_spec` finds a package without importing it, so the check costs nothing when torch is not loaded."""
    if field in SWITCHES:
        needs = [(value, SWITCHES[field])] if value is True else []
    elif field == "optim" and isinstance(value, str):
        extra = _table().get("requires", {}).get("optim", {}).get(value)
        needs = [(value, extra)] if extra else []
    elif field == "report_to":
        needs = [(v, v) for v in (value if isinstance(value, list) else [value]) if isinstance(v, str) and v in EXTRAS]
    else:
        needs = []
    for what, extra in needs:
        modules, install = EXTRAS[extra]
        if all(find_spec(m) is None for m in modules):
            said = "" if what is True else f"{what!r} "
            return f"{said}needs {modules[0]}, which is not installed here: {install}"
    return None


def generate() -> dict:
    """The table for the installed TRL and transformers."""
    import transformers
    import trl

    check_documented()
    return {
        "written_by": "python -m ponder.recipes.fieldtypes",
        "trl": trl.__version__,
        "transformers": transformers.__version__,
        "configs": {
            name: {k: "|".join(v) if v is not None else None for k, v in describe(import_config(name)).items()}
            for name in CONFIGS
        },
        "choices": {name: describe_choices(import_config(name)) for name in CONFIGS},
        "requires": {"optim": optimizer_extras()},
    }


if __name__ == "__main__":
    TABLE.write_text(json.dumps(generate(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {TABLE}")
