"""Loading rows for stages: local files, hub datasets, earlier stages' outputs; explicit column mapping."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ponder.errors import PonderError


class DataError(PonderError, ValueError):
    pass


def read_jsonl(path) -> list[dict]:
    """Strict JSONL: a malformed line is an error naming the file and the line number."""
    rows = []
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(
                    f"{path}:{number}: not UTF-8 (byte {raw[exc.start]:#04x} at column {exc.start + 1})"
                ) from None
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{number}: not valid JSON ({exc.msg} at column {exc.colno})") from None
            if not isinstance(row, dict):
                raise DataError(f"{path}:{number}: each line must be a JSON object, got {type(row).__name__}")
            rows.append(row)
    return rows


def load_dataset_from_spec(spec, required: tuple[str, ...], optional: tuple[str, ...] = ()):
    """A `DataSpec` -> `datasets.Dataset` with ponder's column names."""
    import datasets

    if spec.hf_dataset:
        dataset = datasets.load_dataset(spec.hf_dataset, split=spec.split)
        source = spec.hf_dataset
    else:
        source = spec.path
        suffix = Path(spec.path).suffix
        if suffix == ".jsonl":
            rows = read_jsonl(spec.path)
            dataset = datasets.Dataset.from_list(rows) if rows else None
        elif suffix == ".parquet":
            dataset = datasets.Dataset.from_parquet(spec.path)
        elif suffix == ".json":
            dataset = datasets.Dataset.from_json(spec.path)
        elif Path(spec.path).is_dir():
            dataset = datasets.load_from_disk(spec.path)
        else:
            raise DataError(
                f"{spec.path}: unsupported data file type {suffix!r} (jsonl, json, parquet, saved dataset dir)"
            )
    if dataset is None or len(dataset) == 0:
        raise DataError(f"{source}: the dataset is empty")
    dataset = map_columns(dataset, spec.columns, required, optional, source)
    if spec.limit:
        dataset = dataset.select(range(min(spec.limit, len(dataset))))
    return dataset


def map_columns(dataset, columns: dict, required, optional, source):
    """Rename source columns to ponder's names; a missing column is an error naming it."""
    renames = {}
    for ours in (*required, *optional):
        theirs = columns.get(ours, ours)
        if theirs in dataset.column_names:
            if theirs != ours:
                renames[theirs] = ours
        elif ours in required:
            hint = (
                f" (mapped from {ours!r} by columns)"
                if ours in columns
                else f"; map it with columns: {{{ours}: <your column>}}"
            )
            raise DataError(f"{source}: missing column {theirs!r}{hint}; columns present: {dataset.column_names}")
    return dataset.rename_columns(renames) if renames else dataset


def load_stage_dataset(stage_dir: Path, required, optional=()):
    import datasets

    dataset = datasets.load_from_disk(str(stage_dir / "dataset"))
    if len(dataset) == 0:
        raise DataError(f"{stage_dir}/dataset: the dataset is empty")
    return map_columns(dataset, {}, required, optional, f"{stage_dir}/dataset")


def save_dataset(dataset, out_dir: Path) -> dict:
    """Save a dataset as HF arrow (for stages) and JSONL (for people); returns artifact paths."""
    dataset.save_to_disk(str(out_dir / "dataset"))
    jsonl = out_dir / "data.jsonl"
    tmp = jsonl.with_suffix(".jsonl.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        for row in dataset:
            handle.write(json.dumps(row) + "\n")
    os.replace(tmp, jsonl)
    return {"dataset": "dataset", "jsonl": "data.jsonl"}
