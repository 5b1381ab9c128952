"""The API rules of STYLE.md, checked by code."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
from pydantic import TypeAdapter

import scsnake as ss
from scsnake.config import WorkflowConfig
from scsnake.stages import STAGES

REPO = Path(__file__).resolve().parents[1]
EXEMPT = {"adata", "copy", "inplace", "data"}
#: Public pp/tl/pl functions that take no AnnData: name → what they take first.
NO_ADATA = {
    "tl.check_de_design": "samples",  # the sample sheet, checked before any job runs
    "tl.sim": "model",  # simulates a new dataset from a network model
}


def _public_functions() -> list[tuple[str, object]]:
    found = []
    for module_name in ("pp", "tl", "pl", "io", "datasets"):
        module = getattr(ss, module_name)
        for name in module.__all__:
            found.append((f"{module_name}.{name}", getattr(module, name)))
    return found


VALIDATED = [(n, f) for n, f in _public_functions() if hasattr(f, "__scsnake_params__")]


def test_every_pp_tl_function_is_validated() -> None:
    unvalidated = [
        n
        for n, f in _public_functions()
        if n.split(".")[0] in {"pp", "tl"} and not hasattr(f, "__scsnake_params__")
    ]
    assert unvalidated == []


@pytest.mark.parametrize(("name", "func"), VALIDATED, ids=[n for n, _ in VALIDATED])
def test_params_model_fields_equal_keywords(name: str, func: object) -> None:
    model = func.__scsnake_params__
    signature = inspect.signature(func)
    keywords = {
        p.name
        for p in signature.parameters.values()
        if p.name not in EXEMPT and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    }
    members = getattr(model, "model_fields", None)
    if members is None:  # a tagged union: the union of its members' fields
        fields: set[str] = set()
        for member in TypeAdapter(model).json_schema().get("$defs", {}).values():
            fields |= set(member.get("properties", {}))
    else:
        fields = set(members)
    assert fields == keywords, f"{name}: model-only {fields - keywords}, signature-only {keywords - fields}"


@pytest.mark.parametrize(("name", "func"), _public_functions(), ids=[n for n, _ in _public_functions()])
def test_signature_shape(name: str, func: object) -> None:
    params = list(inspect.signature(func).parameters.values())
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    assert len(positional) <= 3, f"{name} takes {len(positional)} positional parameters"
    if "copy" in {p.name for p in params}:
        copy = next(p for p in params if p.name == "copy")
        assert copy.kind is copy.KEYWORD_ONLY and copy.default is False
    if name.split(".")[0] in {"pp", "tl", "pl"}:
        assert params[0].name == NO_ADATA.get(name, "adata"), f"{name}: adata must come first"


def test_every_stage_has_one_rule_and_a_config_section() -> None:
    rules = "\n".join(p.read_text() for p in (REPO / "workflow" / "rules").glob("*.smk"))
    for stage, declaration in STAGES.items():
        assert len(re.findall(rf"^rule {stage}:", rules, flags=re.M)) == 1, stage
        assert (declaration.section or stage) in WorkflowConfig.model_fields


def test_src_never_imports_scanpy() -> None:
    offenders = [
        str(p.relative_to(REPO))
        for p in (REPO / "src").rglob("*.py")
        if re.search(r"^\s*(import scanpy|from scanpy)", p.read_text(), flags=re.M)
    ]
    assert offenders == []


def test_numba_kernels_use_the_caching_wrapper() -> None:
    offenders = [
        str(p.relative_to(REPO))
        for p in (REPO / "src").rglob("*.py")
        if p.name != "_numba.py"
        and re.search(r"numba\.(njit|jit)\b|from numba import .*\b(njit|jit)\b", p.read_text())
    ]
    assert offenders == []
