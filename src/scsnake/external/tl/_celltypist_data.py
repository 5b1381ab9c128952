"""What the CellTypist wrappers share: importing celltypist cleanly and the expression it reads.

CellTypist trains and predicts on ``log1p`` of counts normalised to 10,000 per cell, over all
genes (``ss.pp.normalize_total(adata, target_sum=1e4)`` then ``ss.pp.log1p(adata)``). Like
``celltypist.annotate``, the matrix is ``X`` if it holds such values, else ``raw.X``; unlike
it, every cell is checked (celltypist looks at the first one), and a matrix that cannot be
log-normalised (negative values, values above ``log1p(10,000)``) is refused with the fix.
"""

from __future__ import annotations

import hashlib
import logging
import sys
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import sparse

from scsnake._matrix import check_finite, check_nonempty, get_matrix
from scsnake.errors import InputDataError, ParamError

from .._optional import import_extra

if TYPE_CHECKING:
    from pathlib import Path
    from types import ModuleType

    from anndata import AnnData
    from numpy.typing import NDArray

__all__ = ["TARGET_SUM", "Expression", "expression", "file_sha256", "import_celltypist", "n_cells_off_target"]

logger = logging.getLogger(__name__)

TARGET_SUM = 1e4
#: The largest value log1p-normalised data can hold: all of a cell's counts in one gene.
_LOG1P_MAX = float(np.log1p(TARGET_SUM)) + 1e-3
#: Rows per block when summing ``expm1`` of a matrix (bounds the temporary).
_BLOCK = 8192
_FIX = "CellTypist needs log1p(counts normalised to 10,000 per cell): ss.pp.normalize_total(adata, target_sum=1e4); ss.pp.log1p(adata)"


def import_celltypist(what: str) -> ModuleType:
    """Import celltypist without its changes to the whole process.

    celltypist 1.7's import turns off every ``FutureWarning``, ``UserWarning`` and
    ``RuntimeWarning`` of the process (``warnings.simplefilter("ignore", ...)`` in
    ``celltypist.classifier``; scsnake's own warnings are ``UserWarning``\\s) and, where logging
    is not configured, sets the root logger to print INFO messages (``logging.basicConfig``
    in ``celltypist.logger``). Both are undone; the filters that other packages imported on
    the way (scanpy, requests) add are kept.
    """
    loaded = sys.modules.get("celltypist")
    if loaded is not None:
        return loaded
    before = list(warnings.filters)
    root = logging.getLogger()
    guard = None if root.handlers else logging.NullHandler()
    if guard is not None:
        root.addHandler(guard)  # basicConfig does nothing when the root logger has a handler
    try:
        with warnings.catch_warnings():
            module = import_extra("celltypist", "celltypist", what=what)
            added = [f for f in warnings.filters if f not in before and not _blanket_ignore(f)]
    finally:
        if guard is not None:
            root.removeHandler(guard)
    for action, message, category, module_re, lineno in reversed(added):
        warnings.filterwarnings(
            action,
            message.pattern if message is not None else "",
            category,
            module_re.pattern if module_re is not None else "",
            lineno,
        )
    return module


def _blanket_ignore(entry: tuple[Any, ...]) -> bool:
    action, message, category, module, _ = entry
    return action == "ignore" and message is None and module is None and category in _SILENCED


_SILENCED = (FutureWarning, UserWarning, RuntimeWarning)


@dataclass(frozen=True)
class Expression:
    """The log1p-normalised matrix CellTypist reads, its genes and where it came from."""

    matrix: Any
    genes: pd.Index
    where: str


def expression(adata: AnnData, *, use_raw: bool | None, layer: str | None, step: str) -> Expression:
    """``X`` (or ``layers[layer]`` / ``raw.X``) after checking it holds log1p-normalised values.

    ``use_raw=None`` takes ``X`` if its values can be log1p-normalised, else ``raw.X`` if
    its can (as celltypist does); a layer or ``use_raw=True`` is taken as asked.
    """
    if layer is not None and use_raw:
        msg = f"{step}: use_raw=True and layer={layer!r} both select a matrix; pick one"
        raise ParamError(msg)
    if use_raw is None and layer is None:
        problem = _log1p_problem(get_matrix(adata), where="X", step=step)
        if problem is None:
            return Expression(adata.X, adata.var_names, "X")
        if adata.raw is not None and _log1p_problem(adata.raw.X, where="raw.X", step=step) is None:
            logger.info("%s: X %s; using raw.X", step, problem)
            return Expression(adata.raw.X, adata.raw.var_names, "raw.X")
        also = "" if adata.raw is None else " (and so does raw.X)"
        msg = f"{step}: X {problem}{also}; pass the log-normalised values with layer= or use_raw=True. {_FIX}"
        raise InputDataError(msg)
    matrix = get_matrix(adata, layer=layer, use_raw=bool(use_raw))
    where = "raw.X" if use_raw else "X" if layer is None else f"layers[{layer!r}]"
    problem = _log1p_problem(matrix, where=where, step=step)
    if problem is not None:
        msg = f"{step}: {where} {problem}. {_FIX}"
        raise InputDataError(msg)
    genes = adata.raw.var_names if use_raw else adata.var_names
    return Expression(matrix, genes, where)


def _log1p_problem(matrix: Any, *, where: str, step: str) -> str | None:
    """Why ``matrix`` cannot hold log1p-normalised values, or None."""
    check_nonempty(matrix, where=where, step=step)
    check_finite(matrix, where=where)
    values = matrix.data if sparse.issparse(matrix) else np.asarray(matrix)
    if values.size == 0:
        return None
    low, high = float(values.min()), float(values.max())
    if low < 0:
        return f"has negative values (min {low:.3g}; scaled?)"
    if high > _LOG1P_MAX:
        return f"has values up to {high:.4g}, above log1p(10,000) = 9.21 (counts, or not log-transformed?)"
    return None


def n_cells_off_target(matrix: Any) -> tuple[int, int, float]:
    """Cells whose ``expm1`` total is not 10,000 (±1, celltypist's tolerance): count, first one, its total."""
    totals = _expm1_totals(matrix)
    off = np.flatnonzero(np.abs(totals - TARGET_SUM) > 1)
    if off.size == 0:
        return 0, -1, TARGET_SUM
    return int(off.size), int(off[0]), float(totals[off[0]])


def _expm1_totals(matrix: Any) -> NDArray[np.float64]:
    """Row sums of ``expm1(matrix)`` in float64, a block of rows at a time."""
    n_rows = matrix.shape[0]
    totals = np.zeros(n_rows)
    if sparse.issparse(matrix) and matrix.format == "csc":
        data, rows = matrix.data, matrix.indices
        for start in range(0, data.size, _BLOCK * 64):
            stop = start + _BLOCK * 64
            totals += np.bincount(
                rows[start:stop], weights=np.expm1(data[start:stop], dtype=np.float64), minlength=n_rows
            )
        return totals
    if sparse.issparse(matrix) and matrix.format != "csr":
        matrix = sparse.csr_matrix(matrix)
    for start in range(0, n_rows, _BLOCK):
        block = matrix[start : start + _BLOCK]
        if sparse.issparse(block):
            block = block.copy()
            block.data = np.expm1(block.data, dtype=np.float64)
            totals[start : start + _BLOCK] = np.asarray(block.sum(axis=1)).ravel()
        else:
            totals[start : start + _BLOCK] = np.expm1(np.asarray(block), dtype=np.float64).sum(axis=1)
    return totals


def file_sha256(path: Path) -> str | None:
    """SHA-256 of a file's bytes (None for a directory, e.g. a .zarr store)."""
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
