"""scsnake has every public compute function of scanpy, under its name, taking its arguments.

For each public function of ``sc.pp``, ``sc.tl``, ``sc.get``, ``sc.metrics``,
``sc.experimental.pp``, the top-level readers (``sc.read*``) and ``sc.write``, scsnake must
have a function of the same name that accepts every scanpy parameter name. The installed
scanpy decides which functions exist (1.12 adds some). The only exceptions are those in
``EXCEPTIONS``, each with its reason; an exception that no longer applies fails the test, so
the list cannot go stale.
"""

from __future__ import annotations

import functools
import inspect
from types import ModuleType

import pytest

import scsnake as ss

sc = pytest.importorskip("scanpy")

SPATIAL = "spatial data is out of scope (issue 21)"
TODO = "not yet implemented (issue 21)"

# "namespace.function" -> reason the whole function is missing, or
# "namespace.function(param)" -> reason one scanpy parameter is not accepted.
EXCEPTIONS: dict[str, str] = {
    "read_visium": SPATIAL,
}

NAMESPACES = ("pp", "tl", "get", "metrics", "experimental.pp")


def _resolve(module: ModuleType, dotted: str) -> ModuleType | None:
    for part in dotted.split("."):
        module = getattr(module, part, None)
        if module is None:
            return None
    return module


def _scanpy_functions() -> list[tuple[str, object]]:
    found: list[tuple[str, object]] = []
    for namespace in NAMESPACES:
        module = _resolve(sc, namespace)
        names = getattr(module, "__all__", None) or [n for n in dir(module) if not n.startswith("_")]
        for name in sorted(names):
            if name.startswith("_"):  # sc.get.__all__ lists private helpers
                continue
            func = getattr(module, name)
            if inspect.isfunction(func) or (
                callable(func) and not inspect.isclass(func) and not inspect.ismodule(func)
            ):
                found.append((f"{namespace}.{name}", func))
    for name in sorted(dir(sc)):
        if (name.startswith("read") or name == "write") and callable(getattr(sc, name)):
            found.append((name, getattr(sc, name)))
    return found


SCANPY = _scanpy_functions()


def _parameters(func: object) -> list[str]:
    """Names a caller can pass by keyword; scanpy's first ``data`` is scsnake's ``adata``."""
    params = list(inspect.signature(func).parameters.values())
    kind = inspect.Parameter
    skipped = (kind.VAR_POSITIONAL, kind.VAR_KEYWORD, kind.POSITIONAL_ONLY)
    names = [p.name for p in params if p.kind not in skipped]
    if names and names[0] == "data":
        names[0] = "adata"
    return names


def _accepts_any_keyword(func: object) -> bool:
    params = inspect.signature(func).parameters.values()
    return any(p.kind is p.VAR_KEYWORD for p in params)


@functools.cache
def _gaps() -> dict[str, str]:
    """Every missing function or parameter, as an ``EXCEPTIONS`` key, with what is wrong."""
    gaps: dict[str, str] = {}
    for name, func in SCANPY:
        ours = _resolve(ss, name)
        if ours is None or not callable(ours):
            gaps[name] = "missing"
            continue
        accepted = None if _accepts_any_keyword(ours) else set(_parameters(ours))
        for param in _parameters(func):
            if accepted is not None and param not in accepted:
                gaps[f"{name}({param})"] = "parameter not accepted"
    return gaps


def test_scanpy_api_is_covered() -> None:
    gaps = _gaps()
    unexplained = {
        key: what
        for key, what in gaps.items()
        if key not in EXCEPTIONS and key.split("(")[0] not in EXCEPTIONS
    }
    assert not unexplained, f"{len(unexplained)} scanpy names missing from scsnake: {sorted(unexplained)}"


def test_every_exception_still_applies() -> None:
    gaps = _gaps()
    functions = {key.split("(")[0] for key in gaps}
    # Keys of functions and parameters this scanpy has (1.12 adds some).
    known = {name for name, _ in SCANPY}
    known |= {f"{name}({param})" for name, func in SCANPY for param in _parameters(func)}
    stale = [key for key in EXCEPTIONS if key in known and key not in gaps and key not in functions]
    assert not stale, f"exceptions that no longer apply (remove them): {stale}"
