"""The stage-kind contract and its one registry.

A stage kind is one module in `ponder/recipes/` that defines `KIND = StageKind(...)`: its options dataclass,
its `main(ctx) -> {"metrics": ..., "artifacts": ...}`, what it produces, its TRL config class with ponder's
visible `DEFAULTS`, the trainer keys ponder owns (with the reason), and an optional `check`. The runner,
`ponder validate`, `ponder show` and the run report read this object and nothing else about a kind.
Adding a kind = its module + one line in `STAGE_KINDS`; a kind outside ponder is named in a recipe by the
import path of its module (`kind: my_package.my_kind`), as open-r1 names rewards by dotted path.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Optional, Union

PRODUCTS = ("data", "model", "prm", "eval")

# Trainer keys every TRL-backed stage owns: setting them in `trainer:` is refused by `ponder validate`.
COMMON_OWNED = {
    "output_dir": "ponder sets output_dir to the stage folder",
    "deepspeed": "set the stage's launcher: {type: torchrun, deepspeed: zero2|zero3|path.json}",
    "resume_from_checkpoint": "ponder resumes an unfinished stage from its newest complete checkpoint itself",
}


@dataclass(frozen=True)
class StageKind:
    """What a stage kind is (torchtune's recipe interface, as data).

    Args:
        name: the `kind:` value in a recipe.
        options: dataclass of the kind's own recipe keys (every stage key but name/kind/data/init/launcher/trainer).
        main: `main(ctx: StageContext) -> {"metrics": dict, "artifacts": dict}`; artifacts are paths relative
            to the stage folder (`checkpoint`, `dataset`, ...).
        produces: any of "data" (a dataset a later `data:` can name), "model" (a checkpoint for `init:`),
            "prm" (a process reward model for `search.prm`), "eval" (held-out figures for the report's table).
        trainer_config: the TRL/transformers config class whose fields `trainer:` takes, as a dotted path
            (`"trl.SFTConfig"`: validation reads its fields from a committed table and never imports TRL) or the
            class itself; None = trains nothing.
        defaults: ponder's defaults for that config, under the user's `trainer:` block (shown by `ponder show`).
        owned: trainer keys ponder sets itself (key -> why), on top of `COMMON_OWNED`.
        owned_values: the values of those keys that do not depend on the run (key -> value); the rest are set at
            run time (GRPO's reward_weights come from `rewards:`).
        option_defaults: `option_defaults(options) -> dict`, defaults that depend on the stage's options (sft's
            `eval_size` makes `eval_strategy: steps`), merged over `defaults`.
        distributed: the kind can run under `launcher: torchrun|accelerate` (its trainer is one); validate
            refuses a multi-process launcher on any other kind.
        check: `check(stage, recipe, error)` for cross-field checks at validate time; `error(key, msg)` makes
            the located RecipeError to raise.
        data_columns: the ponder columns a `data: {path: x.jsonl}` file must have (through `columns:`); validate
            reads the file's first line.
        curves: training-log keys the run report plots for this kind.
        headline: the metrics the runner prints in a stage's one result line and the summary (the rest are in
            result.json and the report).
    """

    name: str
    options: type
    main: Callable
    produces: frozenset = frozenset()
    trainer_config: Optional[Union[str, type]] = None
    defaults: dict = field(default_factory=dict)
    owned: dict = field(default_factory=dict)
    owned_values: dict = field(default_factory=dict)
    option_defaults: Optional[Callable] = None
    distributed: bool = False
    check: Optional[Callable] = None
    data_columns: tuple = ()
    curves: tuple = ("loss",)
    headline: tuple = ()

    def __post_init__(self):
        unknown = set(self.produces) - set(PRODUCTS)
        if unknown:
            raise ValueError(f"kind {self.name!r}: produces {sorted(unknown)} unknown; choose from {PRODUCTS}")
        if self.trainer_config is None and (self.defaults or self.owned or self.distributed):
            raise ValueError(f"kind {self.name!r}: defaults/owned/distributed need a trainer_config")
        if set(self.owned_values) - set(self.owned):
            raise ValueError(
                f"kind {self.name!r}: owned_values {sorted(set(self.owned_values) - set(self.owned))}"
                " need a reason in `owned`"
            )

    def config_name(self) -> str:
        """The trainer config's class name (SFTConfig), for messages."""
        config = self.trainer_config
        return config.rpartition(".")[2] if isinstance(config, str) else config.__name__

    def config_class(self) -> type:
        """The trainer config class itself (imports TRL when named by a dotted path)."""
        from ponder.recipes.fieldtypes import import_config

        config = self.trainer_config
        return import_config(config) if isinstance(config, str) else config

    def trainer_defaults(self, stage) -> dict:
        """The kind's defaults for this stage: `defaults`, then those its options imply."""
        extra = self.option_defaults(stage.options) if self.option_defaults and stage.options is not None else {}
        return {**self.defaults, **extra}

    def owned_keys(self) -> dict:
        """Every trainer key ponder sets for this kind, with the reason (empty when it trains nothing)."""
        return {**COMMON_OWNED, **self.owned} if self.trainer_config is not None else {}


# One explicit registry: kind name -> module defining `KIND`.
STAGE_KINDS = {
    "task_data": "ponder.recipes.task_data",
    "curate": "ponder.recipes.curate",
    "sft": "ponder.recipes.sft",
    "self_improve": "ponder.recipes.self_improve",
    "grpo": "ponder.recipes.grpo",
    "distill_onpolicy": "ponder.recipes.distill_onpolicy",
    "prm_label": "ponder.recipes.prm_label",
    "prm": "ponder.recipes.prm",
    "eval": "ponder.recipes.eval",
}


def stage_kind(name: str) -> StageKind:
    """A registered kind, or the `KIND` of the module at import path `name`; LookupError says which it is not."""
    module_path = STAGE_KINDS.get(name, name)
    try:
        kind = importlib.import_module(module_path).KIND
    except ModuleNotFoundError as exc:
        if name in STAGE_KINDS or exc.name is None or not module_path.startswith(exc.name):
            raise  # a registered kind or an existing module that fails to import: show the real error
        raise LookupError(f"unknown kind {name!r}: neither a registered kind nor an importable module") from None
    except AttributeError:
        raise LookupError(f"module {module_path!r} defines no KIND = StageKind(...)") from None
    if not isinstance(kind, StageKind):
        raise LookupError(f"{module_path}.KIND is a {type(kind).__name__}, not a StageKind")
    return kind
