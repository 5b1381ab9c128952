"""Analytic Pearson residuals (Lause et al. 2021): normalisation and gene selection.

Under a negative binomial offset model with overdispersion ``theta`` shared by all genes
the expected count of gene ``j`` in cell ``i`` is ``mu = n_i * n_j / n`` (cell total times
gene total over the grand total), and the residual ``(x - mu) / sqrt(mu + mu² / theta)``
is clipped to ``[-clip, clip]``. Zeros never need reading: their residual follows from
``mu`` alone, so sparse data is never densified to rank genes.
"""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np
import pandas as pd
from pydantic import NonNegativeFloat, PositiveFloat, PositiveInt, model_validator

from scsnake._matrix import (
    check_counts,
    get_matrix,
    get_obs_column,
    get_obsm,
    is_sparse,
    set_matrix,
    view_to_actual,
)
from scsnake._params import StageParams, validated
from scsnake.errors import DataWarning, InputDataError, ParamError
from scsnake.pp._hvg_kernels import _as_supported, column_mean_var, grouped_moments
from scsnake.pp._pearson_residuals_kernels import (
    _residual_var_csc,
    _residual_var_csr,
    _residual_var_dense,
    _residuals_dense,
    _residuals_stored,
    _residuals_zeros,
)

if TYPE_CHECKING:
    from anndata import AnnData
    from numpy.typing import NDArray

__all__ = [
    "NormalizePearsonResidualsParams",
    "PearsonResidualsHvgParams",
    "highly_variable_genes_pearson_residuals",
    "normalize_pearson_residuals",
]

logger = logging.getLogger(__name__)


class NormalizePearsonResidualsParams(StageParams):
    """Parameters of :func:`normalize_pearson_residuals`."""

    theta: PositiveFloat = 100
    """Overdispersion of the negative binomial model, shared by all genes (inf: Poisson)."""
    clip: NonNegativeFloat | None = None
    """Residuals are clipped to [-clip, clip]; None means sqrt(n_obs)."""
    check_values: bool = True
    """Check that the matrix holds non-negative integer counts."""
    layer: str | None = None
    """Layer to normalise instead of ``X``."""
    obsm: str | None = None
    """obsm key of a cells × genes matrix to normalise instead of ``X`` (scanpy 1.12)."""

    @model_validator(mode="after")
    def _one_matrix(self) -> NormalizePearsonResidualsParams:
        if self.layer is not None and self.obsm is not None:
            msg = f"layer={self.layer!r} and obsm={self.obsm!r} both select a matrix; pick one"
            raise ValueError(msg)
        return self


class PearsonResidualsHvgParams(StageParams):
    """Parameters of :func:`highly_variable_genes_pearson_residuals`."""

    theta: PositiveFloat = 100
    """Overdispersion of the negative binomial model, shared by all genes."""
    clip: NonNegativeFloat | None = None
    """Residuals are clipped to [-clip, clip]; None means sqrt(number of cells of the first batch)."""
    n_top_genes: PositiveInt | None = None
    """Number of genes to flag (required)."""
    batch_key: str | None = None
    """obs column of batches: genes are ranked per batch and the rankings combined."""
    chunksize: PositiveInt = 1000
    """Accepted for scanpy compatibility; the residuals are never materialised, so unused."""
    layer: str | None = None
    """Layer to use instead of ``X``."""
    subset: bool = False
    """Keep only the selected genes instead of flagging them."""
    check_values: bool = True
    """Check that the matrix holds non-negative integer counts."""


# --- helpers -----------------------------------------------------------------------------


def _row_col_sums(
    x: Any, rows: NDArray[np.intp] | None = None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Cell and gene totals in float64 (exact for counts), optionally over ``rows`` only."""
    codes = None
    if rows is not None:
        codes = np.full(x.shape[0], 1, dtype=np.int64)
        codes[rows] = 0
    sums_genes = grouped_moments(x, codes, float32_rounding=False, count_positive=False)[0][0]
    sums_cells = np.asarray(x.sum(axis=1, dtype=np.float64)).ravel()
    return sums_cells, sums_genes


def _where(layer: str | None) -> str:
    return "X" if layer is None else f"layers[{layer!r}]"


def _warn_empty(sums_cells: NDArray[np.float64], sums_genes: NDArray[np.float64], where: str) -> None:
    n_cells, n_genes = int((sums_cells == 0).sum()), int((sums_genes == 0).sum())
    if n_cells or n_genes:
        msg = (
            f"normalize_pearson_residuals: {where} has {n_cells} cell(s) and {n_genes} gene(s) without counts; "
            "their residuals are undefined (NaN); filter them first"
        )
        warnings.warn(msg, DataWarning, stacklevel=4)


# --- normalisation -----------------------------------------------------------------------


@overload
def normalize_pearson_residuals(
    adata: AnnData,
    *,
    theta: float = ...,
    clip: float | None = ...,
    check_values: bool = ...,
    layer: str | None = ...,
    obsm: str | None = ...,
    inplace: Literal[True] = ...,
    copy: bool = ...,
) -> AnnData | None: ...
@overload
def normalize_pearson_residuals(
    adata: AnnData,
    *,
    theta: float = ...,
    clip: float | None = ...,
    check_values: bool = ...,
    layer: str | None = ...,
    obsm: str | None = ...,
    inplace: Literal[False],
    copy: bool = ...,
) -> dict[str, Any]: ...


@validated(NormalizePearsonResidualsParams)
def normalize_pearson_residuals(
    adata: AnnData,
    *,
    theta: float = 100,
    clip: float | None = None,
    check_values: bool = True,
    layer: str | None = None,
    obsm: str | None = None,
    inplace: bool = True,
    copy: bool = False,
) -> AnnData | dict[str, Any] | None:
    """Replace counts by analytic Pearson residuals (Lause et al. 2021), as scanpy does.

    ``mu = n_cell * n_gene / n_total``, residual ``(x - mu) / sqrt(mu + mu² / theta)``
    clipped to ``[-clip, clip]``. The result is dense (residuals of zeros are not zero);
    a dense float input of the working precision is overwritten in place, otherwise one
    dense array is allocated, with no other full-size temporaries. Float32 data gives
    float32 residuals, anything else float64. Cells or genes without counts get NaN
    (with a :class:`~scsnake.errors.DataWarning`).

    Parameters
    ----------
    adata
        Cells × genes raw counts (dense, CSR or CSC).
    theta
        Overdispersion shared by all genes; larger is closer to Poisson.
    clip
        Clip residuals to ``[-clip, clip]``; None means ``sqrt(n_obs)``.
    check_values
        Raise :class:`~scsnake.errors.InputDataError` unless the matrix holds counts.
    layer
        Layer to normalise instead of ``X``.
    obsm
        obsm key of a cells × genes count matrix to normalise instead of ``X``
        (scanpy 1.12); not together with ``layer``.
    inplace
        Update ``adata`` (True) or return the results (False).
    copy
        Work on a copy of ``adata`` and return it.

    Returns
    -------
    With ``inplace=True`` None (or the copy), with ``X`` (or ``layers[layer]``, or
    ``obsm[obsm]``) the residuals and ``uns['pearson_residuals_normalization']`` =
    ``{'theta', 'clip', 'computed_on'}`` (``clip`` as given, ``computed_on``
    ``'adata.X'``, the layer or the obsm key).
    With ``inplace=False`` a dict with the residuals as ``'X'`` and the same three keys.

    Examples
    --------
    >>> import anndata as ad, numpy as np
    >>> adata = ad.AnnData(np.array([[1, 1], [1, 3]]))
    >>> normalize_pearson_residuals(adata, theta=np.inf)
    >>> np.round(adata.X, 3).tolist()
    [[0.408, -0.289], [-0.289, 0.204]]
    """
    if copy and not inplace:
        msg = "normalize_pearson_residuals: copy=True cannot be combined with inplace=False (which returns a dict)"
        raise ParamError(msg)
    adata = adata.copy() if copy else adata
    if inplace:
        view_to_actual(adata)
    where = _where(layer) if obsm is None else f"obsm[{obsm!r}]"
    if obsm is None:
        x = get_matrix(adata, layer=layer)
    else:
        x = get_obsm(adata, obsm)
        x = x.to_numpy() if isinstance(x, pd.DataFrame) else x
    x = _as_supported(x)
    if check_values:
        check_counts(x, where=where, step="normalize_pearson_residuals")
    if x.dtype == np.float16:
        x = x.astype(np.float32)
    clip_value = float(np.sqrt(x.shape[0])) if clip is None else float(clip)
    dtype = np.dtype(np.float32 if x.dtype == np.float32 else np.float64)
    sums_cells, sums_genes = _row_col_sums(x)
    _warn_empty(sums_cells, sums_genes, where)
    # scanpy's precision: totals, mu and residuals in the matrix's float type
    args = (
        sums_cells.astype(dtype),
        sums_genes.astype(dtype),
        dtype.type(sums_genes.sum()),
        dtype.type(theta),
        dtype.type(clip_value),
    )
    logger.info("normalize_pearson_residuals: theta=%g, clip=%g on %s", theta, clip_value, where)
    if is_sparse(x):
        out = np.empty(x.shape, dtype=dtype)
        _residuals_zeros(*args, dtype.type(0), out)
        _residuals_stored(x.indptr, x.indices, x.data, *args, out, x.format == "csr")
    else:
        in_place = inplace and x.dtype == dtype and x.flags.writeable and x.flags.c_contiguous
        out = x if in_place else np.empty(x.shape, dtype=dtype)
        _residuals_dense(x, *args, out)
    settings = {"theta": theta, "clip": clip, "computed_on": layer or obsm or "adata.X"}
    if not inplace:
        return {"X": out, **settings}
    if obsm is None:
        set_matrix(adata, out, layer=layer)
    else:
        adata.obsm[obsm] = out
    adata.uns["pearson_residuals_normalization"] = settings
    return adata if copy else None


# --- gene selection ----------------------------------------------------------------------


def _batches(adata: AnnData, batch_key: str | None) -> list[NDArray[np.intp]]:
    """Row indices of each batch, batches in sorted order (``np.unique``, as scanpy)."""
    if batch_key is None:
        return [np.arange(adata.n_obs)]
    values = np.asarray(get_obs_column(adata, batch_key, what="batch_key"))
    if pd.isna(values).any():
        msg = f"batch_key {batch_key!r}: {int(pd.isna(values).sum())} cell(s) have no batch (missing value); fill or drop them"
        raise InputDataError(msg)
    names, codes = np.unique(values, return_inverse=True)
    return [np.flatnonzero(codes == b) for b in range(names.size)]


def _residual_variances(x: Any, rows: NDArray[np.intp], theta: float, clip: float) -> NDArray[np.float64]:
    """Per gene, the variance of the clipped residuals within ``rows`` (0 for unexpressed genes)."""
    sums_cells, sums_genes = _row_col_sums(x, rows if rows.size < x.shape[0] else None)
    genes = np.flatnonzero(sums_genes != 0)
    out = np.zeros(x.shape[1])
    if genes.size == 0:
        return out
    args = (sums_cells, sums_genes, float(sums_genes.sum()), float(theta), float(clip))
    if not is_sparse(x):
        out[genes] = _residual_var_dense(x, rows, genes, *args)
    elif x.format == "csr":
        out[genes] = _residual_var_csr(x.indptr, x.indices, x.data, rows, genes, *args)
    else:
        row_pos = np.full(x.shape[0], -1, dtype=np.int64)
        row_pos[rows] = np.arange(rows.size)
        out[genes] = _residual_var_csc(x.indptr, x.indices, x.data, rows, row_pos, genes, *args)
    return out


def _rank_genes(residual_vars: NDArray[np.float64], n_top_genes: int) -> pd.DataFrame:
    """scanpy's combination of per-batch rankings: rank, number of batches, selection."""
    # argsort twice gives ranks (0 = most variable), exactly as scanpy computes them
    ranks = np.argsort(np.argsort(-residual_vars, axis=1), axis=1).astype(np.float32)
    nbatches = (ranks < n_top_genes).sum(axis=0)
    ranks[ranks >= n_top_genes] = np.nan
    median_rank = np.ma.median(np.ma.masked_invalid(ranks), axis=0).filled(np.nan)
    # by number of batches (descending), then median rank (ascending, NaN last); stable
    order = np.lexsort((np.where(np.isnan(median_rank), np.inf, median_rank), -nbatches))
    selected = np.zeros(residual_vars.shape[1], dtype=bool)
    selected[order[:n_top_genes]] = True
    return pd.DataFrame(
        {
            "residual_variances": residual_vars.mean(axis=0),
            "highly_variable_rank": median_rank,
            "highly_variable_nbatches": nbatches.astype(np.int64),
            "highly_variable_intersection": nbatches == residual_vars.shape[0],
            "highly_variable": selected,
        }
    )


@overload
def highly_variable_genes_pearson_residuals(
    adata: AnnData,
    *,
    theta: float = ...,
    clip: float | None = ...,
    n_top_genes: int | None = ...,
    batch_key: str | None = ...,
    chunksize: int = ...,
    layer: str | None = ...,
    subset: bool = ...,
    inplace: Literal[True] = ...,
    check_values: bool = ...,
) -> None: ...
@overload
def highly_variable_genes_pearson_residuals(
    adata: AnnData,
    *,
    theta: float = ...,
    clip: float | None = ...,
    n_top_genes: int | None = ...,
    batch_key: str | None = ...,
    chunksize: int = ...,
    layer: str | None = ...,
    subset: bool = ...,
    inplace: Literal[False],
    check_values: bool = ...,
) -> pd.DataFrame: ...


@validated(PearsonResidualsHvgParams)
def highly_variable_genes_pearson_residuals(
    adata: AnnData,
    *,
    theta: float = 100,
    clip: float | None = None,
    n_top_genes: int | None = None,
    batch_key: str | None = None,
    chunksize: int = 1000,
    layer: str | None = None,
    subset: bool = False,
    inplace: bool = True,
    check_values: bool = True,
) -> pd.DataFrame | None:
    """Flag the genes with the largest Pearson residual variance (scanpy's ``flavor='pearson_residuals'``).

    Within each batch (in sorted order), genes without counts are left out (variance 0),
    the residual variance of the others is computed from the batch's own totals and
    genes are ranked. A gene's rank is the median of its ranks in the batches that put it
    among the top ``n_top_genes``; genes are ordered by that number of batches, then by
    median rank, and the first ``n_top_genes`` are flagged. As in scanpy 1.11.5,
    ``clip=None`` means ``sqrt(n)`` for ``n`` the number of cells of the *first* batch,
    used for every batch. Sparse data is read in place (never densified or converted).

    Parameters
    ----------
    adata
        Cells × genes raw counts (dense, CSR or CSC).
    theta
        Overdispersion shared by all genes.
    clip
        Clip residuals to ``[-clip, clip]``; None: see above.
    n_top_genes
        Number of genes to flag (required).
    batch_key
        obs column of batches.
    chunksize
        Accepted for scanpy compatibility; memory use is ``O(n_genes)`` beyond the input.
    layer
        Layer to use instead of ``X``.
    subset
        Keep only the flagged genes (in ``adata``, or in the returned frame).
    inplace
        Store the results in ``adata`` (True) or return them (False).
    check_values
        Raise :class:`~scsnake.errors.InputDataError` unless the matrix holds counts.

    Returns
    -------
    With ``inplace=True`` None, and ``adata`` gets ``var['means']``, ``var['variances']``
    (ddof=1), ``var['residual_variances']`` (mean over batches), ``var['highly_variable_rank']``,
    with ``batch_key`` also ``var['highly_variable_nbatches']`` and
    ``var['highly_variable_intersection']``, then ``var['highly_variable']``; and
    ``uns['hvg'] = {'flavor': 'pearson_residuals', 'computed_on': ...}``. With
    ``inplace=False`` a DataFrame with these columns.

    Examples
    --------
    >>> import anndata as ad, numpy as np
    >>> x = np.array([[0, 5, 1], [9, 5, 1], [0, 5, 2], [8, 6, 1]], dtype=np.float32)
    >>> adata = ad.AnnData(x)
    >>> highly_variable_genes_pearson_residuals(adata, n_top_genes=1)
    >>> adata.var["highly_variable"].tolist()
    [True, False, False]
    """
    if n_top_genes is None:
        msg = "highly_variable_genes(flavor='pearson_residuals') needs n_top_genes (the number of genes to flag)"
        raise ParamError(msg)
    if inplace:
        view_to_actual(adata)
    where = _where(layer)
    x = _as_supported(get_matrix(adata, layer=layer))
    if check_values:
        check_counts(x, where=where, step="highly_variable_genes(flavor='pearson_residuals')")
    if is_sparse(x) and x.format == "csr" and not x.has_sorted_indices:
        x = x.sorted_indices()
    batches = _batches(adata, batch_key)
    clip_value = float(np.sqrt(batches[0].size)) if clip is None else float(clip)
    residual_vars = np.vstack([_residual_variances(x, rows, theta, clip_value) for rows in batches])
    df = _rank_genes(residual_vars, n_top_genes)
    means, variances = column_mean_var(x)
    df.insert(0, "variances", variances)
    df.insert(0, "means", means)
    df.index = adata.var_names
    if batch_key is None:
        df = df.drop(columns=["highly_variable_nbatches", "highly_variable_intersection"])
    hvg = df["highly_variable"].to_numpy()
    logger.info("highly_variable_genes (pearson_residuals): %d of %d genes flagged", int(hvg.sum()), hvg.size)
    if not inplace:
        return df.loc[hvg] if subset else df
    for col in df.columns:
        adata.var[col] = df[col].to_numpy()
    adata.uns["hvg"] = {"flavor": "pearson_residuals", "computed_on": "adata.X" if layer is None else layer}
    if subset:
        adata._inplace_subset_var(hvg)
    return None
