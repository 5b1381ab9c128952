"""Get and set the matrix a function works on: ``X``, a layer, ``raw`` or an ``obsm`` key."""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import sparse

from .errors import InputDataError, MissingKeyError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from anndata import AnnData

__all__ = [
    "check_counts",
    "check_finite",
    "check_nonempty",
    "close_matches",
    "get_matrix",
    "get_obs_column",
    "get_obsm",
    "get_var_column",
    "is_sparse",
    "set_matrix",
    "view_to_actual",
]


#: Up to this many values, :func:`check_counts` uses numpy (no numba import, no compilation).
_FEW_VALUES = 1 << 17


def is_sparse(x: Any) -> bool:
    """True for any scipy sparse matrix or array."""
    return sparse.issparse(x)


def close_matches(name: str, candidates: Iterable[str], n: int = 5) -> str:
    """A ``' (close matches: a, b)'`` hint, or ``' (available: …)'`` when none are close."""
    candidates = [str(c) for c in candidates]
    matches = difflib.get_close_matches(str(name), candidates, n=n, cutoff=0.6)
    if matches:
        return f" (close matches: {', '.join(matches)})"
    if not candidates:
        return " (none available)"
    shown = ", ".join(candidates[:10]) + (", …" if len(candidates) > 10 else "")
    return f" (available: {shown})"


def get_matrix(adata: AnnData, *, layer: str | None = None, use_raw: bool = False) -> Any:
    """The matrix selected by ``layer`` / ``use_raw`` (``X`` by default), not copied."""
    if layer is not None and use_raw:
        msg = f"use_raw=True and layer={layer!r} both select a matrix; pick one"
        raise InputDataError(msg)
    if use_raw:
        if adata.raw is None:
            msg = "use_raw=True but the AnnData has no .raw; set use_raw=False"
            raise MissingKeyError(msg)
        return adata.raw.X
    if layer is not None:
        if layer not in adata.layers:
            msg = f"layer {layer!r} not found in adata.layers{close_matches(layer, adata.layers.keys())}"
            raise MissingKeyError(msg)
        return adata.layers[layer]
    if adata.X is None:
        msg = "adata.X is empty (None); pass layer= to select a matrix"
        raise MissingKeyError(msg)
    return adata.X


def set_matrix(adata: AnnData, value: Any, *, layer: str | None = None) -> None:
    """Store ``value`` as ``X`` or ``layers[layer]``."""
    if layer is None:
        adata.X = value
    else:
        adata.layers[layer] = value


def get_obs_column(adata: AnnData, key: str, *, what: str = "key") -> Any:
    """``adata.obs[key]`` or a :class:`MissingKeyError` that lists close matches."""
    if key not in adata.obs.columns:
        msg = f"{what} {key!r} not found in adata.obs{close_matches(key, adata.obs.columns)}"
        raise MissingKeyError(msg)
    return adata.obs[key]


def get_obsm(adata: AnnData, key: str, *, hint: str = "") -> Any:
    """``adata.obsm[key]`` or a :class:`MissingKeyError` with an optional fix."""
    if key not in adata.obsm:
        msg = f"obsm[{key!r}] not found{close_matches(key, adata.obsm.keys())}{hint}"
        raise MissingKeyError(msg)
    return adata.obsm[key]


def _values(x: Any) -> np.ndarray:
    return x.data if is_sparse(x) else np.asarray(x)


def check_finite(x: Any, *, where: str = "X") -> None:
    """Raise :class:`InputDataError` if ``x`` holds NaN or infinite values (counted in the message)."""
    values = _values(x)
    if values.dtype.kind not in "fc" or values.size == 0:
        return
    # fast path without a temporary of the matrix's size: a finite sum means finite values
    # (float64 accumulation cannot overflow on float32 data; on float64 it falls through)
    if np.isfinite(np.sum(values, dtype=np.float64 if values.dtype.kind == "f" else None)):
        return
    n_bad = int(values.size - np.count_nonzero(np.isfinite(values)))
    if n_bad:
        msg = f"{where} contains {n_bad} NaN or infinite value(s); clean or impute them first"
        raise InputDataError(msg)


def check_nonempty(x: Any, *, where: str = "X", step: str = "this step") -> None:
    """Raise :class:`InputDataError` if ``x`` has no cells or no genes."""
    n_obs, n_vars = x.shape[0], (x.shape[1] if x.ndim > 1 else 1)
    if n_obs == 0 or n_vars == 0:
        missing = "no cells" if n_obs == 0 else "no genes"
        msg = f"{step}: {where} has {missing} (shape ({n_obs}, {n_vars})); check the filters that ran before"
        raise InputDataError(msg)


def check_counts(x: Any, *, where: str = "X", step: str = "this step") -> None:
    """Raise :class:`InputDataError` unless ``x`` holds non-negative integer counts.

    One pass over the values, without a temporary of their size; a few values (a slice read
    to validate an input) are checked with numpy, without importing numba.
    """
    check_finite(x, where=where)
    values = _values(x)
    if values.size == 0:
        return
    if values.size <= _FEW_VALUES:
        values = np.ravel(values)
        n_negative, low = int(np.count_nonzero(values < 0)), values.min()
        n_fraction = 0 if values.dtype.kind in "iub" else int(np.count_nonzero(values != np.floor(values)))
    else:
        from ._matrix_kernels import count_problems  # numba: imported when counts are checked

        n_negative, low, n_fraction = count_problems(np.ravel(values, order="K"))
    if n_negative:
        msg = f"{step} needs raw counts, but {where} has {n_negative} negative value(s) (min {float(low):g}); pass the counts layer (e.g. layer='counts')"
        raise InputDataError(msg)
    if n_fraction:
        msg = f"{step} needs raw counts, but {where} has non-integer values (looks normalised or log-transformed); pass the counts layer (e.g. layer='counts')"
        raise InputDataError(msg)


def get_var_column(adata: AnnData, key: str, *, hint: str = "") -> Any:
    """``adata.var[key]`` or a :class:`MissingKeyError` listing close matches."""
    if key not in adata.var.columns:
        msg = f"var[{key!r}] not found{close_matches(key, adata.var.columns)}{hint}"
        raise MissingKeyError(msg)
    return adata.var[key]


def view_to_actual(adata: AnnData) -> None:
    """Turn an AnnData view into a real object in place, so writes never reach its parent."""
    if adata.is_view:
        adata._init_as_actual(adata.copy())
