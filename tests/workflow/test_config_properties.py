"""Config validation on random configs: every config is accepted or rejected with its key named.

A valid config (the defaults, or a variant) is mutated at a random key path: a value of the
wrong type, an out-of-range number, a missing or an unknown key. Whatever the mutation,
``validate_config`` either accepts the config — and then every stage's canonical parameters
(``stage_params_json``) are built and accepted by the stage runner — or raises
:class:`ConfigError` whose message names the mutated key path. It never raises anything else.
"""

from __future__ import annotations

import copy
import json
import math
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from scsnake.config import WorkflowConfig, stage_params_json, validate_config
from scsnake.errors import ConfigError
from scsnake.runner import parse_params
from scsnake.stages import STAGES

settings.register_profile(
    "scsnake-config",
    max_examples=50,
    deadline=None,
    derandomize=True,
    database=None,  # never write .hypothesis/ into the checkout
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "scsnake-config-explore",
    parent=settings.get_profile("scsnake-config"),
    max_examples=1000,
    derandomize=False,
)
PROFILE = settings.get_profile(
    "scsnake-config-explore"
    if os.environ.get("SCSNAKE_HYPOTHESIS_PROFILE") == "scsnake-explore"
    else "scsnake-config"
)

#: A directory without the sample files that mutated inputs name (they must be reported).
BASE_DIR = Path(__file__).resolve().parent

Path_ = tuple[str | int, ...]


def _valid_variants() -> list[dict[str, Any]]:
    """Valid configs as plain YAML-like data: the defaults and a few non-default shapes."""
    default = WorkflowConfig().model_dump(mode="json")
    v3 = copy.deepcopy(default)
    v3["hvg"] = {"flavor": "seurat_v3", "n_top_genes": 500, "layer": "counts"}
    two = copy.deepcopy(default)
    two["samples"] = {
        "a": {"synthetic": {"n_cells": 300, "n_genes": 500}, "metadata": {"donor": "D1", "age": 3}},
        "b": {"input": "synthetic", "format": "synthetic"},
    }
    two["artifact_format"] = "zarr"
    sparse = {"seed": 3, "leiden": {"resolution": 0.5}, "qc": {"min_genes": None}}  # keys left out
    variants = [default, v3, two, sparse]
    for variant in variants:
        validate_config(variant, base_dir=BASE_DIR)  # the starting points are valid
    return variants


VARIANTS = _valid_variants()


def _paths(node: Any, prefix: Path_ = ()) -> list[Path_]:
    """Every key path below ``node`` (dict keys and list positions), parents before children."""
    out: list[Path_] = []
    if isinstance(node, dict):
        for key, value in node.items():
            out.append((*prefix, key))
            out.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.append((*prefix, i))
            out.extend(_paths(value, (*prefix, i)))
    return out


def _dict_paths(node: Any, prefix: Path_ = ()) -> list[Path_]:
    """Paths of the mappings (the root included), where an unknown key can be added."""
    if not isinstance(node, dict):
        return []
    out = [prefix]
    for key, value in node.items():
        out.extend(_dict_paths(value, (*prefix, key)))
    return out


def _get(node: Any, path: Path_) -> Any:
    for part in path:
        node = node[part]
    return node


def dotted(path: Path_) -> str:
    """``samples.demo.synthetic.n_cells`` / ``qc.percent_top[1]``: the way errors name keys."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".")


def _schema_choices(node: Any) -> set[str]:
    """Every string the schema allows somewhere (``enum`` / ``const``): values valid in *some* key."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "enum":
                found |= {v for v in value if isinstance(v, str)}
            elif key == "const" and isinstance(value, str):
                found.add(value)
            else:
                found |= _schema_choices(value)
    elif isinstance(node, list):
        for value in node:
            found |= _schema_choices(value)
    return found


CHOICES = st.sampled_from(sorted(_schema_choices(WorkflowConfig.model_json_schema())))
WRONG_TYPES = st.sampled_from(["abc", "", [1, 2], [[1]], {"x": 1}, True, None, 3.5, -7, "1e4", "true"])
BAD_NUMBERS = st.one_of(
    st.sampled_from([-1, 0, 1, 0.5, -0.5, 101, 600, 10**12, -(10**12), math.nan, math.inf, -math.inf]),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
)


@st.composite
def mutated_configs(draw: st.DrawFn) -> tuple[dict[str, Any], str, Path_]:
    """A valid variant with one mutation: ``(config, kind, mutated path)``."""
    config = copy.deepcopy(draw(st.sampled_from(VARIANTS)))
    kind = draw(
        st.sampled_from(
            ["wrong_type", "bad_number", "other_choice", "unknown_key", "typo_key", "missing_key"]
        )
    )
    if kind in ("unknown_key", "typo_key"):
        parent = draw(st.sampled_from(_dict_paths(config)))
        node = _get(config, parent)
        if kind == "typo_key" and node:
            key = draw(st.sampled_from(sorted(map(str, node)))) + draw(st.sampled_from(["z", "_", "s"]))
        else:
            # lower case only: keys starting with a capital are dropped from error paths (see
            # test_capitalised_keys_are_named below)
            key = draw(st.sampled_from(["unknown_key", "extra", "x"]))
        node[key] = draw(st.one_of(WRONG_TYPES, BAD_NUMBERS, st.just({})))
        return config, kind, (*parent, key)
    paths = _paths(config)
    if kind == "bad_number":
        numeric = [
            p
            for p in paths
            if isinstance(_get(config, p), int | float) and not isinstance(_get(config, p), bool)
        ]
        paths = numeric or paths
    path = draw(st.sampled_from(paths))
    parent = _get(config, path[:-1])
    if kind == "missing_key":
        if isinstance(parent, list):
            parent.pop(path[-1])
        else:
            del parent[path[-1]]
        return config, kind, path
    if kind == "other_choice":
        text = [p for p in paths if isinstance(_get(config, p), str)]
        path = draw(st.sampled_from(text or paths))
        parent = _get(config, path[:-1])
    strategy = {"bad_number": BAD_NUMBERS, "other_choice": CHOICES}.get(kind, WRONG_TYPES)
    parent[path[-1]] = draw(strategy)
    return config, kind, path


def _assert_runnable(config: WorkflowConfig) -> None:
    """Every stage's canonical parameters are JSON that the stage runner accepts."""
    for name in STAGES:
        for sample in config.samples if name in ("load", "qc") else [None]:
            text = stage_params_json(config, name, sample)
            assert stage_params_json(config, name, sample) == text  # canonical: stable
            json.loads(text)
            parse_params(STAGES[name], text)


def _names_path(message: str, path: Path_, kind: str) -> bool:
    """The message names the key path (a rule over several keys names their section and the key;
    a removed key, the section it was removed from).

    One documented dependency: a sample's ``format`` decides whether its ``input`` is a path, so
    a file format with the default ``input: synthetic`` is reported at ``samples.<name>.input``.
    """
    if dotted(path) in message:
        return True
    if len(path) == 3 and path[0] == "samples" and path[2] == "format":
        return f"{dotted(path[:2])}.input: path does not exist" in message
    parent = dotted(path[:-1])
    if kind == "missing_key" and parent:
        return f"  - {parent}:" in message or f"  - {parent}." in message
    return (not parent or parent in message) and str(path[-1]) in message


@PROFILE
@given(case=mutated_configs())
def test_mutated_config_is_accepted_and_runnable_or_rejected_naming_the_key(
    case: tuple[dict[str, Any], str, Path_],
) -> None:
    raw, kind, path = case
    try:
        config = validate_config(raw, base_dir=BASE_DIR)
    except ConfigError as err:
        event(f"{kind}: rejected")
        message = str(err)
        assert message.startswith("invalid config:\n"), message
        assert _names_path(message, path, kind), f"{kind} at {dotted(path)!r} not named in:\n{message}"
        if kind in ("unknown_key", "typo_key") and "unknown key" in message and not _free_mapping(path):
            assert (
                f"{dotted(path)}: unknown key" in message
            )  # (a new sample's own bad keys are named below it)
        return
    event(f"{kind}: accepted")
    assert kind not in ("unknown_key", "typo_key") or _free_mapping(path), (
        f"unknown key {dotted(path)!r} accepted"
    )
    _assert_runnable(config)


def _free_mapping(path: Path_) -> bool:
    """Keys chosen by the user: sample names, gene-set names, metadata columns, marker sets."""
    free = {("samples",), ("qc", "qc_vars"), ("annotate", "markers"), ("custom_stages",)}
    parent = path[:-1]
    return parent in free or (len(parent) == 3 and parent[0] == "samples" and parent[2] == "metadata")


#: Sections that are parameter models (``samples`` is a mapping of them).
SECTIONS = [
    name for name, field in WorkflowConfig.model_fields.items() if isinstance(field.default, BaseModel)
]


@PROFILE
@given(sections=st.lists(st.sampled_from(SECTIONS), min_size=2, max_size=5, unique=True))
def test_every_problem_is_reported_at_once(sections: list[str]) -> None:
    raw: dict[str, Any] = {section: {f"{section}_typo": 1} for section in sections}
    if "hvg" in raw:
        raw["hvg"]["flavor"] = "seurat"
    with pytest.raises(ConfigError) as info:
        validate_config(raw, base_dir=BASE_DIR)
    lines = str(info.value).splitlines()[1:]
    assert len(lines) == len(sections)
    for section, line in zip(
        sorted(sections, key=list(WorkflowConfig.model_fields).index), lines, strict=True
    ):
        has_keys = bool(type(WorkflowConfig.model_fields[section].default).model_fields)
        expected = f"  - {section}.{section}_typo: unknown key" + (" (allowed: " if has_keys else "")
        assert line.startswith(expected), line


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"qc": {"min_genez": 1}}, "qc.min_genez: unknown key (allowed: qc_vars, percent_top, min_genes"),
        ({"hvg": {"flavor": "seurat_v3", "min_mean": 1}}, "hvg.min_mean: unknown key (allowed: "),
        pytest.param(
            {"samples": {"demo": {"inputt": "x"}}},
            "samples.demo.inputt: unknown key (allowed: input, format",
        ),
        pytest.param(
            {"samples": {"demo": {"synthetic": {"n_cellz": 1}}}},
            "samples.demo.synthetic.n_cellz: unknown key (allowed: n_cells, n_genes",
        ),
    ],
)
def test_unknown_keys_list_the_allowed_keys(raw: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate_config(raw, base_dir=BASE_DIR)
    assert expected in str(info.value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"samples": {"PBMC": {"format": "bam"}}}, "samples.PBMC.format: Input should be"),
        (
            {"samples": {"PBMC": {"synthetic": {"n_cells": -1}}}},
            "samples.PBMC.synthetic.n_cells: Input should be",
        ),
        ({"Qc": {}}, "Qc: unknown key"),
        ({"qc": {"Min_genes": 1}}, "qc.Min_genes: unknown key"),
    ],
)
def test_capitalised_keys_are_named(raw: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate_config(raw, base_dir=BASE_DIR)
    assert expected in str(info.value)
