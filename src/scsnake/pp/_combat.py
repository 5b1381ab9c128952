"""ComBat batch correction (Johnson et al. 2007): parametric empirical Bayes, as in scanpy.

The computation follows scanpy's ``combat`` step by step (same estimators, same prior
formulas, same stopping rule of the iterative solver) on a cells × genes float64 array
that becomes the result. Per-cell quantities are computed on the fly by numba kernels, so
no further matrix of the data's size is built, and the solver's sums of squares come from
per-batch statistics instead of a pass over the data per iteration.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np
import pandas as pd
from pydantic import model_validator

from scsnake._matrix import check_finite, get_matrix, get_obs_column, is_sparse, view_to_actual
from scsnake._numba import njit
from scsnake._params import StageParams, validated
from scsnake.errors import InputDataError
from scsnake.pp._regress_out import _crossprod

if TYPE_CHECKING:
    from collections.abc import Collection

    from anndata import AnnData
    from numpy.typing import NDArray

__all__ = ["CombatParams", "combat"]

logger = logging.getLogger(__name__)

#: Convergence threshold of the iterative solver (scanpy's ``conv``).
_CONV = 1e-4


class CombatParams(StageParams):
    """Parameters of :func:`combat`."""

    key: str = "batch"
    """obs column with the batch of each cell."""
    covariates: list[str] | None = None
    """obs columns to keep (biological covariates): numeric, or categorical (treatment-coded)."""

    @model_validator(mode="after")
    def _distinct(self) -> CombatParams:
        covariates = self.covariates or []
        if self.key in covariates:
            msg = f"covariates: the batch key {self.key!r} cannot also be a covariate"
            raise ValueError(msg)
        if len(set(covariates)) != len(covariates):
            twice = sorted({c for c in covariates if covariates.count(c) > 1})
            msg = f"covariates: {twice} given more than once; each covariate must be unique"
            raise ValueError(msg)
        return self


# --- kernels ----------------------------------------------------------------------------


@njit
def _residual_sq_mean(y, design, coef):
    """Per gene: mean over cells of ``(y - design @ coef)²``."""
    n_rows, n_cols = y.shape
    total = np.zeros(n_cols)
    fit = np.empty(n_cols)
    for i in range(n_rows):
        fit[:] = 0.0
        for k in range(design.shape[1]):
            d = design[i, k]
            for g in range(n_cols):
                fit[g] += d * coef[k, g]
        for g in range(n_cols):
            r = y[i, g] - fit[g]
            total[g] += r * r
    return total / n_rows


@njit
def _stand_mean_row(i, grand_mean, cov_design, cov_coef, out):
    out[:] = grand_mean
    for k in range(cov_design.shape[1]):
        d = cov_design[i, k]
        for g in range(out.size):
            out[g] += d * cov_coef[k, g]


@njit
def _standardize(y, grand_mean, cov_design, cov_coef, sd, codes, n_batches):
    """``y = (y - stand_mean) / sd`` in place (0 where ``sd == 0``); returns per-batch sums."""
    n_rows, n_cols = y.shape
    sums = np.zeros((n_batches, n_cols))
    mean = np.empty(n_cols)
    for i in range(n_rows):
        _stand_mean_row(i, grand_mean, cov_design, cov_coef, mean)
        b = codes[i]
        for g in range(n_cols):
            v = 0.0 if sd[g] == 0 else (y[i, g] - mean[g]) / sd[g]
            y[i, g] = v
            sums[b, g] += v
    return sums


@njit
def _squared_deviations(y, codes, means):
    """Per batch and gene: sum over the batch's cells of ``(y - means[batch])²``."""
    n_rows, n_cols = y.shape
    out = np.zeros(means.shape)
    for i in range(n_rows):
        b = codes[i]
        for g in range(n_cols):
            d = y[i, g] - means[b, g]
            out[b, g] += d * d
    return out


@njit
def _adjust(y, codes, gamma, delta_sqrt, sd, grand_mean, cov_design, cov_coef):
    """``y = (y - gamma[batch]) / delta_sqrt[batch] * sd + stand_mean`` in place."""
    n_rows, n_cols = y.shape
    mean = np.empty(n_cols)
    for i in range(n_rows):
        _stand_mean_row(i, grand_mean, cov_design, cov_coef, mean)
        b = codes[i]
        for g in range(n_cols):
            y[i, g] = (y[i, g] - gamma[b, g]) / delta_sqrt[b, g] * sd[g] + mean[g]


# --- design -----------------------------------------------------------------------------


def _batches(adata: AnnData, key: str) -> tuple[NDArray[np.int64], list[str]]:
    """Batch code per cell (observed batches in scanpy's group order) and batch names."""
    column = get_obs_column(adata, key, what="key")
    values = column.array if isinstance(column.dtype, pd.CategoricalDtype) else pd.Categorical(column)
    values = values.remove_unused_categories()
    if values.isna().any():
        msg = f"combat: {int(values.isna().sum())} cell(s) have no batch in obs[{key!r}] (missing value); fill or drop them"
        raise InputDataError(msg)
    codes = np.asarray(values.codes, dtype=np.int64)
    names = [str(c) for c in values.categories]
    sizes = np.bincount(codes, minlength=len(names))
    if (sizes < 2).any():
        small = [n for n, s in zip(names, sizes, strict=True) if s < 2]
        msg = f"combat: batch(es) {small} of obs[{key!r}] have a single cell; ComBat needs at least 2 cells per batch (merge or drop them)"
        raise InputDataError(msg)
    return codes, names


def _covariate_columns(adata: AnnData, covariates: list[str]) -> tuple[NDArray[np.float64], list[str]]:
    """Design columns of the covariates: treatment-coded categoricals first, then numbers."""
    factors: list[tuple[str, NDArray[np.float64]]] = []
    numbers: list[tuple[str, NDArray[np.float64]]] = []
    for name in covariates:
        column = get_obs_column(adata, name, what="covariate")
        if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
            values = column.to_numpy(dtype=np.float64, na_value=np.nan)
            if not np.isfinite(values).all():
                msg = f"combat: covariate obs[{name!r}] has missing or infinite values; fill or drop those cells"
                raise InputDataError(msg)
            numbers.append((name, values))
            continue
        levels = pd.Categorical(column).remove_unused_categories()
        if levels.isna().any():
            msg = f"combat: covariate obs[{name!r}] has missing values; fill or drop those cells"
            raise InputDataError(msg)
        if len(levels.categories) < 2:
            msg = f"combat: covariate obs[{name!r}] has a single value ({levels.categories[0]!r}), so it is confounded with the batches; drop it"
            raise InputDataError(msg)
        codes = np.asarray(levels.codes)
        for c, level in enumerate(levels.categories[1:], start=1):
            factors.append((f"{name}[T.{level}]", (codes == c).astype(np.float64)))
    names = [label for label, _ in factors + numbers]
    columns = [values for _, values in factors + numbers]
    matrix = np.column_stack(columns) if columns else np.zeros((adata.n_obs, 0))
    return matrix, names


def _check_design(design: NDArray[np.float64], key: str, covariates: list[str]) -> None:
    if np.linalg.matrix_rank(design) < design.shape[1]:
        msg = (
            f"combat: the covariates {covariates} are confounded with the batches of obs[{key!r}] "
            "(the design matrix is singular: a covariate is constant within batches, or a "
            "combination of them); drop or merge those covariates"
        )
        raise InputDataError(msg)


# --- empirical Bayes --------------------------------------------------------------------


def _priors(gamma_hat: NDArray[np.float64], delta_hat: NDArray[np.float64]) -> tuple[Any, ...]:
    """Hyperparameters per batch: gamma's mean and variance, the inverse gamma's a and b."""
    gamma_bar = gamma_hat.mean(axis=1)
    t2 = gamma_hat.var(axis=1)
    m = delta_hat.mean(axis=1)
    s2 = delta_hat.var(axis=1, ddof=1)  # scanpy takes these from pandas Series (ddof=1)
    return gamma_bar, t2, (2 * s2 + m**2) / s2, (m * s2 + m**3) / s2


def _solve(
    gamma_hat: NDArray[np.float64],
    delta_hat: NDArray[np.float64],
    ss: NDArray[np.float64],
    n: float,
    g_bar: float,
    t2: float,
    a: float,
    b: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """One batch's posterior means of gamma and delta, iterated like scanpy's ``_it_sol``.

    ``ss`` is the batch's sum of squared deviations from its mean per gene, so that
    ``sum((s - g)²) = ss + n (gamma_hat - g)²`` needs no pass over the data.
    """
    g_old, d_old = gamma_hat, delta_hat
    g_new, d_new = g_old, d_old
    change = 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        while change > _CONV:  # a NaN change (0/0 for a zero-variance gene) stops, as in scanpy
            g_new = (t2 * n * gamma_hat + d_old * g_bar) / (t2 * n + d_old)
            sum2 = ss + n * (gamma_hat - g_new) ** 2
            d_new = (0.5 * sum2 + b) / (n / 2.0 + a - 1.0)
            change = max((abs(g_new - g_old) / g_old).max(), (abs(d_new - d_old) / d_old).max())
            g_old, d_old = g_new, d_new
    return g_new, d_new


def _as_float64(x: Any) -> NDArray[np.float64]:
    """A new C-ordered float64 copy of ``x`` (the result is built in it)."""
    if is_sparse(x):
        return x.astype(np.float64).toarray()
    return np.array(x, dtype=np.float64, order="C")


@overload
def combat(
    adata: AnnData, key: str = ..., *, covariates: Collection[str] | None = ..., inplace: Literal[True] = ...
) -> None: ...
@overload
def combat(
    adata: AnnData, key: str = ..., *, covariates: Collection[str] | None = ..., inplace: Literal[False]
) -> NDArray[np.float64]: ...


@validated(CombatParams)
def combat(
    adata: AnnData,
    key: str = "batch",
    *,
    covariates: Collection[str] | None = None,
    inplace: bool = True,
) -> NDArray[np.float64] | None:
    """ComBat batch-effect correction: location/scale model with empirical Bayes priors.

    Each gene is standardised with a linear model of batch (and covariates), batch
    effects are shrunk towards common priors across genes, and removed. Results equal
    scanpy's. Categorical covariates are treatment-coded (first level dropped): scanpy
    codes every level of the first one, which makes its design singular.

    Parameters
    ----------
    adata
        Cells × genes data in ``X`` (usually log-normalised); sparse data become dense.
    key
        obs column with the batch of each cell.
    covariates
        obs columns with effects to keep (e.g. cell type or condition).
    inplace
        Replace ``X`` (True) or return the corrected matrix (False).

    Returns
    -------
    With ``inplace=True`` None, with ``X`` the corrected data (dense float64).
    With ``inplace=False`` the corrected cells × genes array; ``adata`` is unchanged.

    Raises
    ------
    MissingKeyError
        If ``key`` or a covariate is not an obs column.
    InputDataError
        If a batch has a single cell or the covariates are confounded with the batches.

    Examples
    --------
    >>> import anndata as ad, numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(40, 5)) + np.repeat([[0.0], [3.0]], 20, axis=0)
    >>> adata = ad.AnnData(x, obs=pd.DataFrame({"batch": ["a"] * 20 + ["b"] * 20}, index=[str(i) for i in range(40)]))
    >>> combat(adata)
    >>> bool(abs(adata.X[:20].mean() - adata.X[20:].mean()) < 0.1)
    True
    """
    covariates = list(covariates or [])
    codes, names = _batches(adata, key)
    cov_design, cov_names = _covariate_columns(adata, covariates)
    n_batches, n = len(names), adata.n_obs
    design = np.column_stack([np.eye(n_batches)[codes], cov_design])
    _check_design(design, key, covariates)
    x = get_matrix(adata)
    check_finite(x)
    logger.info("combat: %d batches; covariate columns: %s", n_batches, ", ".join(cov_names) or "none")

    y = _as_float64(x)
    sizes = np.bincount(codes, minlength=n_batches).astype(np.float64)
    # standardise: fit batch + covariates, pooled variance, gene-wise grand mean
    b_hat = np.linalg.inv(design.T @ design) @ _crossprod(design, y)
    grand_mean = (sizes / n) @ b_hat[:n_batches]
    var_pooled = _residual_sq_mean(y, design, b_hat)
    n_flat = int((var_pooled == 0).sum())
    if n_flat:
        logger.info("combat: %d gene(s) with zero variance", n_flat)
    cov_design = np.ascontiguousarray(design[:, n_batches:])
    cov_coef = np.ascontiguousarray(b_hat[n_batches:])
    sd = np.sqrt(var_pooled)
    sums = _standardize(y, grand_mean, cov_design, cov_coef, sd, codes, n_batches)
    # L/S estimates per batch, priors, and the posterior means
    gamma_hat = sums / sizes[:, None]
    ss = _squared_deviations(y, codes, gamma_hat)
    delta_hat = ss / (sizes[:, None] - 1)
    gamma_bar, t2, a_prior, b_prior = _priors(gamma_hat, delta_hat)
    gamma_star, delta_star = np.empty_like(gamma_hat), np.empty_like(delta_hat)
    for i in range(n_batches):
        gamma_star[i], delta_star[i] = _solve(
            gamma_hat[i], delta_hat[i], ss[i], sizes[i], gamma_bar[i], t2[i], a_prior[i], b_prior[i]
        )
    _adjust(y, codes, gamma_star, np.sqrt(delta_star), sd, grand_mean, cov_design, cov_coef)
    if not inplace:
        return y
    view_to_actual(adata)
    adata.X = y
    return None
