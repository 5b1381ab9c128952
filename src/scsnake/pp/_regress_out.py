"""Regress out unwanted sources of variation with per-gene least squares, as scanpy does.

All genes are solved at once. Continuous keys: the design is ``[1, keys...]`` and the
coefficients come from scanpy's normal equations, ``inv(DᵀD) · DᵀX``. One categorical
key: each gene is regressed on ``[1, m]``, where ``m`` is the gene's mean in the cell's
category (a running sum in the data's float type, as scanpy's numba kernel computes it);
the fit is a closed form on per-category sums. Where scanpy falls back to its per-gene
GLM (a categorical key, or a singular continuous design) its two rules are kept: a gene
with one value in every cell is left as it is, and a gene the fit predicts perfectly
(all residuals within 1e-8) becomes zero.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pydantic import PositiveInt

from scsnake._matrix import check_finite, get_matrix, get_obs_column, is_sparse, set_matrix, view_to_actual
from scsnake._numba import njit
from scsnake._params import StageParams, validated
from scsnake.errors import InputDataError, ParamError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from anndata import AnnData
    from numpy.typing import NDArray

__all__ = ["RegressOutParams", "regress_out"]

logger = logging.getLogger(__name__)

#: statsmodels' perfect-prediction test: every |fitted - value| within this.
_PERFECT_FIT_ATOL = 1e-8


class RegressOutParams(StageParams):
    """Parameters of :func:`regress_out`."""

    keys: str | list[str]
    """obs column(s) to regress on: numeric columns, or a single categorical column."""
    layer: str | None = None
    """Layer to correct instead of ``X``."""
    n_jobs: PositiveInt | None = None
    """Accepted for scanpy compatibility; the computation is vectorised over genes."""


# --- kernels ----------------------------------------------------------------------------


@njit
def _subtract_fit(x, design, coef):
    """``x[i] -= design[i] @ coef`` for every row, in place (float64 arithmetic)."""
    n_rows, n_cols = x.shape
    fit = np.empty(n_cols)
    for i in range(n_rows):
        fit[:] = 0.0
        for k in range(design.shape[1]):
            d = design[i, k]
            for g in range(n_cols):
                fit[g] += d * coef[k, g]
        for g in range(n_cols):
            x[i, g] = x[i, g] - fit[g]


@njit
def _crossprod(design, x):
    """``designᵀ · x`` accumulated in float64, one pass over the rows of ``x``."""
    n_rows, n_cols = x.shape
    out = np.zeros((design.shape[1], n_cols))
    for i in range(n_rows):
        for k in range(design.shape[1]):
            d = design[i, k]
            for g in range(n_cols):
                out[k, g] += d * x[i, g]
    return out


@njit
def _group_sums(x, codes, acc):
    """Per-group column sums in float64, the same sums accumulated in ``acc``'s float type
    (in row order, as numba's ``mean`` adds them in scanpy), and which columns are constant."""
    n_rows, n_cols = x.shape
    sums = np.zeros(acc.shape)
    constant = np.ones(n_cols, dtype=np.bool_)
    for i in range(n_rows):
        c = codes[i]
        for g in range(n_cols):
            v = x[i, g]
            sums[c, g] += v
            acc[c, g] = acc[c, g] + v  # exact sum, rounded once to acc's type
            if v != x[0, g]:
                constant[g] = False
    return sums, constant


@njit
def _subtract_group_fit(x, codes, fitted, skip):
    """``x[i, g] -= fitted[codes[i], g]`` where not ``skip[g]``; returns max |residual| per gene."""
    n_rows, n_cols = x.shape
    largest = np.zeros(n_cols)
    for i in range(n_rows):
        c = codes[i]
        for g in range(n_cols):
            if skip[g]:
                continue
            r = x[i, g] - fitted[c, g]
            x[i, g] = r
            largest[g] = max(largest[g], abs(r))
    return largest


@njit
def _column_extremes(x):
    """Max |value| per column and whether each column is constant."""
    n_rows, n_cols = x.shape
    largest = np.zeros(n_cols)
    constant = np.ones(n_cols, dtype=np.bool_)
    for i in range(n_rows):
        for g in range(n_cols):
            largest[g] = max(largest[g], abs(x[i, g]))
            if x[i, g] != x[0, g]:
                constant[g] = False
    return largest, constant


# --- helpers ----------------------------------------------------------------------------


def _work_dtype(dtype: np.dtype) -> np.dtype:
    """scanpy's float type for the data: floats stay, small integers float32, others float64."""
    if np.issubdtype(dtype, np.floating):
        return dtype
    return np.dtype(np.float32 if dtype.itemsize <= 4 else np.float64)


def _dense(x: Any, dtype: np.dtype) -> NDArray[np.floating]:
    """A C-ordered dense ``dtype`` matrix: float data of that type are used as they are."""
    if is_sparse(x):
        return x.astype(dtype, copy=False).toarray()
    if x.dtype == dtype and x.flags.c_contiguous:
        return x
    return np.array(x, dtype=dtype, order="C")


def _numeric_column(adata: AnnData, key: str) -> NDArray[np.float64]:
    column = get_obs_column(adata, key, what="key")
    if isinstance(column.dtype, pd.CategoricalDtype) or not (
        pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(column.dtype)
    ):
        msg = f"regress_out: obs[{key!r}] is not numeric (dtype {column.dtype}); a categorical key must be the only key"
        raise ParamError(msg)
    values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    if not np.isfinite(values).all():
        msg = f"regress_out: obs[{key!r}] has {int((~np.isfinite(values)).sum())} missing or infinite value(s); fill or drop those cells"
        raise InputDataError(msg)
    return values


def _categories(column: pd.Series) -> tuple[NDArray[np.int64], int] | None:
    """Category codes (missing values get their own code, after the rest) or None if numeric."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        values = column.array
    elif pd.api.types.is_string_dtype(column.dtype) or column.dtype == object:
        values = pd.Categorical(column)  # scanpy turns string columns into categoricals first
    else:
        return None
    n_categories = len(values.categories)
    codes = np.array(values.codes, dtype=np.int64)  # a copy: Categorical.codes is read-only
    codes[codes < 0] = n_categories  # scanpy's regressor is 0 for these cells
    return codes, n_categories


# --- the two regressions ----------------------------------------------------------------


def _regress_continuous(x: NDArray[np.floating], design: NDArray[np.float64]) -> NDArray[np.floating]:
    """Residuals of every gene on ``design`` (cells × regressors, first column ones)."""
    gram = design.T @ design
    if np.linalg.det(gram) != 0 and np.linalg.matrix_rank(design) == design.shape[1]:
        coef = np.linalg.inv(gram) @ _crossprod(design, x)  # scanpy's normal equations
        _subtract_fit(x, design, coef)  # in place, in the data's float type
        return x
    # singular design: scanpy fits each gene with a GLM, i.e. least squares on the
    # column space of the design; project on an orthonormal basis of it instead
    logger.info("regress_out: the design is singular; fitting on its column space")
    u, s, _ = np.linalg.svd(design, full_matrices=False)
    rank = int((s > s[0] * max(design.shape) * np.finfo(np.float64).eps).sum())
    basis = np.ascontiguousarray(u[:, :rank])
    out = np.array(x, dtype=np.float64)
    _, constant = _column_extremes(out)
    _subtract_fit(out, basis, basis.T @ out)
    largest, _ = _column_extremes(out)
    _glm_rules(out, x, constant, largest)
    return out


def _glm_rules(
    out: NDArray[np.float64],
    original: NDArray[Any],
    constant: NDArray[np.bool_],
    largest: NDArray[np.float64],
) -> None:
    """scanpy's per-gene GLM: constant genes unchanged, perfectly predicted genes zero."""
    perfect = (largest <= _PERFECT_FIT_ATOL) & ~constant
    if perfect.any():
        logger.warning(
            "regress_out: %d gene(s) are predicted perfectly; set to 0 as in R", int(perfect.sum())
        )
        out[:, perfect] = 0.0
    if constant.any():
        out[:, constant] = original[:1, constant]


def _regress_categorical(x: Any, codes: NDArray[np.int64], n_categories: int) -> NDArray[np.float64]:
    """Residuals of every gene on ``[1, its per-category mean]`` (float64, like scanpy's GLM)."""
    dtype = _work_dtype(x.dtype)
    out = x.astype(np.float64).toarray() if is_sparse(x) else _dense(x, np.dtype(np.float64))
    n_groups = n_categories + 1  # the last group: cells without a category (regressor 0)
    acc = np.zeros((n_groups, out.shape[1]), dtype=dtype)
    sums, constant = _group_sums(out, codes, acc)
    sizes = np.bincount(codes, minlength=n_groups).astype(np.float64)[:, None]
    # scanpy's regressor: numba's mean (a running sum in the data's float type, divided in
    # float64), stored as float32; 0 for cells without a category
    with np.errstate(divide="ignore", invalid="ignore"):
        means = (acc.astype(np.float64) / sizes).astype(dtype).astype(np.float32).astype(np.float64)
    means[-1] = 0.0
    means[sizes[:, 0] == 0] = 0.0
    n = float(out.shape[0])
    # least squares of y on [1, m] with m constant within groups, from group sums (centred)
    y_bar = sums.sum(axis=0) / n
    m_bar = (sizes * means).sum(axis=0) / n
    dm = means - m_bar
    ss_m = (sizes * dm**2).sum(axis=0)
    s_my = (dm * (sums - sizes * y_bar)).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(ss_m > 0, s_my / ss_m, 0.0)
    fitted = y_bar + slope * dm
    largest = _subtract_group_fit(out, codes, fitted, constant)
    _glm_rules(out, out, constant, largest)
    return out


@validated(RegressOutParams)
def regress_out(
    adata: AnnData,
    keys: str | Sequence[str],
    *,
    layer: str | None = None,
    n_jobs: int | None = None,
    copy: bool = False,
) -> AnnData | None:
    """Regress out (mostly) unwanted sources of variation, by per-gene linear regression.

    Numeric keys are regressed on together with an intercept. A single categorical key
    (or string column) is handled as in scanpy: each gene is regressed on its mean within
    each cell's category. Sparse data become dense (as in scanpy), converted once.

    Parameters
    ----------
    adata
        Cells × genes data, usually log-normalised.
    keys
        obs column(s) to regress on: numeric (or boolean) columns, or one categorical.
    layer
        Layer to correct instead of ``X``.
    n_jobs
        Accepted for compatibility; genes are solved all at once.
    copy
        Work on a copy of ``adata`` and return it.

    Returns
    -------
    None (or the copy), with ``X`` (or ``layers[layer]``) the residuals, dense: the
    data's float type for numeric keys (dense float data are corrected in place),
    float64 for a categorical key or a singular design.

    Examples
    --------
    >>> import anndata as ad, numpy as np, pandas as pd
    >>> adata = ad.AnnData(np.array([[1.0, 2.0], [2.0, 4.0], [3.0, 7.0]]),
    ...                    obs=pd.DataFrame({"t": [0.0, 1.0, 2.0]}, index=list("abc")))
    >>> regress_out(adata, "t")
    >>> adata.X.round(4).tolist()
    [[0.0, 0.1667], [0.0, -0.3333], [0.0, 0.1667]]
    """
    del n_jobs  # vectorised: nothing to split over processes
    keys = [keys] if isinstance(keys, str) else list(keys)
    if not keys:
        msg = "regress_out: keys is empty; name at least one obs column"
        raise ParamError(msg)
    adata = adata.copy() if copy else adata
    view_to_actual(adata)
    x = get_matrix(adata, layer=layer)
    check_finite(x, where="X" if layer is None else f"layer {layer!r}")
    categorical = _categories(get_obs_column(adata, keys[0], what="key"))
    if categorical is not None:
        if len(keys) > 1:
            msg = f"regress_out: obs[{keys[0]!r}] is categorical; a categorical key must be the only key (got {keys})"
            raise ParamError(msg)
        logger.info("regress_out: regressing on per-gene means within the categories of %r", keys[0])
        result = _regress_categorical(x, *categorical)
    else:
        design = np.column_stack([np.ones(adata.n_obs)] + [_numeric_column(adata, k) for k in keys])
        result = _regress_continuous(_dense(x, _work_dtype(x.dtype)), design)
    set_matrix(adata, result, layer=layer)
    return adata if copy else None
