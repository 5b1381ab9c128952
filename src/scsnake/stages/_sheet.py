"""The sample sheet as a TSV file: one row per sample, read into the ``samples`` mapping.

Columns: ``sample`` (the name) and ``input`` (required); ``format`` (optional, ``auto`` when
empty); ``qc.<key>`` (a per-sample override of the ``qc`` section, e.g. ``qc.min_genes`` or
``qc.doublets.enabled``; an empty cell keeps the section's value); ``synthetic.<key>``
(simulator options); every other column is metadata, added to ``obs`` for the sample's
cells (an empty cell adds nothing). Lines starting with ``#`` and blank lines are skipped.

Relative paths, the sheet's own and its ``input`` column, are relative to the working
directory, exactly like inputs written in ``config.yaml``: a row means the same in a sheet
as inline.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from .._params import format_validation_error
from ._load import LoadParams, SampleSpec, SyntheticSpec, input_problems
from ._qc import QcParams

__all__ = ["SAMPLE_NAME", "read_sample_sheet"]

SAMPLE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
#: Column prefixes that fill a nested section of the row (``qc.min_genes``), with its model.
_NESTED: dict[str, type[BaseModel]] = {"qc": QcParams, "synthetic": SyntheticSpec}
_REQUIRED = ("sample", "input")
_INT = re.compile(r"-?(0|[1-9]\d*)")
_FLOAT = re.compile(r"-?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?")


def read_sample_sheet(
    path: str, base_dir: Path, *, load: LoadParams | None = None
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Read a TSV sample sheet into ``{name: sample row}`` and the problems found.

    Every problem names the file, and the row (1 = the first sample), sample and column it is
    in: ``samples (samples.tsv) row 3 'S3'.format: …``. Rows with a problem are left out of
    the mapping; sample inputs are checked to exist (relative to ``base_dir``) and, given the
    ``load`` section, opened as ``load`` reads them (:func:`~scsnake.stages._load.input_problems`).
    """
    where = f"samples ({path})"
    file = base_dir / path
    try:
        text = file.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return {}, [
            f"samples: sample sheet {path!r} not found (relative to {base_dir}); give a TSV file or a mapping"
        ]
    except (OSError, UnicodeDecodeError) as err:
        return {}, [f"{where}: cannot read the sample sheet ({type(err).__name__}: {err})"]
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        return {}, [f"{where}: the sample sheet is empty (expected a header: sample, input, …)"]
    header, *records = list(csv.reader(lines, delimiter="\t"))
    header = [name.strip() for name in header]
    problems = _header_problems(header, where)
    if problems:
        return {}, problems
    if not records:
        return {}, [f"{where}: no samples (only a header)"]
    metadata = [
        name for name in header if name not in ("sample", "input", "format") and not _nested_key(name)
    ]
    columns = {
        name: [r[i] for r in records if len(r) > i] for i, name in enumerate(header) if name in metadata
    }
    types = {name: _column_type(values) for name, values in columns.items()}
    samples: dict[str, dict[str, Any]] = {}
    first_row: dict[str, int] = {}
    for number, record in enumerate(records, start=1):
        cells = dict(zip(header, (c.strip() for c in record), strict=False))
        name = cells.get("sample", "")
        row = f"{where} row {number}" + (f" {name!r}" if name else "")
        if len(record) > len(header):
            problems.append(f"{row}: {len(record)} tab-separated fields, but the header has {len(header)}")
            continue
        row_problems = _row_problems(name, row, first_row)
        spec = _row_spec(cells, metadata, types, row, row_problems)
        if not row_problems:
            row_problems += _validate_row(spec, row, base_dir, load)
        first_row.setdefault(name, number)
        if row_problems:
            problems += row_problems
        else:
            samples[name] = spec
    return samples, problems


def _nested_key(column: str) -> bool:
    return column.partition(".")[0] in _NESTED and "." in column


def _header_problems(header: list[str], where: str) -> list[str]:
    problems = []
    missing = [name for name in _REQUIRED if name not in header]
    if missing:
        problems.append(
            f"{where}: missing column(s) {missing} (the header has {header}; columns are tab-separated)"
        )
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        problems.append(f"{where}: column(s) {repeated} given twice")
    for name in header:
        if not name:
            problems.append(f"{where}: a column has no name")
        elif name in _NESTED or name in ("metadata", "truth"):
            hint = f"use {name}.<key> columns" if name in _NESTED else "it is reserved; rename it"
            problems.append(f"{where} column {name!r}: not a sample-sheet column ({hint})")
        elif _nested_key(name):
            section, _, key = name.partition(".")
            problems += _nested_column_problem(where, name, _NESTED[section], key.split("."))
    return problems


def _nested_column_problem(where: str, column: str, model: type[BaseModel], keys: list[str]) -> list[str]:
    """A problem if ``qc.a.b`` does not name a key of the section (or of its nested section)."""
    field = model.model_fields.get(keys[0])
    if field is None:
        allowed = ", ".join(model.model_fields)
        return [f"{where} column {column!r}: unknown key {keys[0]!r} (allowed: {allowed})"]
    nested = field.annotation
    if len(keys) > 1:
        if not (isinstance(nested, type) and issubclass(nested, BaseModel)):
            return [f"{where} column {column!r}: {keys[0]!r} has no keys below it"]
        return _nested_column_problem(where, column, nested, keys[1:])
    return []


def _row_problems(name: str, row: str, first_row: dict[str, int]) -> list[str]:
    if not name:
        return [f"{row}.sample: empty (every row needs a sample name)"]
    if not SAMPLE_NAME.match(name):
        return [
            f"{row}.sample: must start with a letter or digit and use only letters, digits, '_', '.', '-'"
        ]
    if name in first_row:
        return [
            f"{row}.sample: {name!r} is given twice (first in row {first_row[name]}); sample names must be unique"
        ]
    return []


def _row_spec(
    cells: dict[str, str], metadata: list[str], types: dict[str, type], row: str, problems: list[str]
) -> dict[str, Any]:
    """The row as an inline sample mapping (``input``, ``format``, ``qc``, ``synthetic``, ``metadata``)."""
    import yaml

    spec: dict[str, Any] = {"input": cells.get("input", "")}
    if cells.get("format"):
        spec["format"] = cells["format"]
    for column, text in cells.items():
        if not text:
            continue
        if _nested_key(column):
            try:
                value = yaml.safe_load(text)
            except yaml.YAMLError:
                problems.append(
                    f"{row}.{column}: {text!r} is not a value (a number, true/false, null or a list)"
                )
                continue
            section, _, key = column.partition(".")
            node = spec.setdefault(section, {})
            *parents, leaf = key.split(".")
            for parent in parents:
                node = node.setdefault(parent, {})
            node[leaf] = value
        elif column in metadata:
            spec.setdefault("metadata", {})[column] = types[column](text)
    if not spec["input"]:
        problems.append(f"{row}.input: empty (a path, or 'synthetic')")
    return spec


def _column_type(values: list[str]) -> type:
    """``int`` or ``float`` when every non-empty value of a metadata column is one, else ``str``.

    Numbers with leading zeros (``007``) stay text: they are labels.
    """
    values = [v.strip() for v in values if v.strip()]
    if values and all(_INT.fullmatch(v) for v in values):
        return int
    if values and all(_FLOAT.fullmatch(v) for v in values):
        return float
    return str


def _validate_row(spec: dict[str, Any], row: str, base_dir: Path, load: LoadParams | None) -> list[str]:
    try:
        sample = SampleSpec.model_validate(spec)
    except ValidationError as err:
        return [f"{row}.{line}" for line in format_validation_error(err, model=SampleSpec)]
    return input_problems(sample, row, base_dir, load)
