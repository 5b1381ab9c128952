"""Preprocessing recipes from the literature: Zheng et al. 2017, Seurat, Weinreb et al. 2017.

Each recipe is composed of scsnake's own steps and reproduces scanpy's recipe, including
the gene selection of scanpy's deprecated ``filter_genes_dispersion`` (which the recipes
use: no logarithm with ``log=False``, an absolute normalised dispersion for
``cell_ranger``, a float32 cut-off for ``n_top_genes``) and Weinreb's per-cell
normalisation, coefficient-of-variation filter and z-scoring.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, NonNegativeFloat, PositiveFloat, PositiveInt, field_validator

from scsnake._matrix import check_finite, is_sparse, view_to_actual
from scsnake._params import StageParams, validated
from scsnake.errors import AdjustedParamWarning, DataWarning
from scsnake.pp._filter import filter_cells, filter_genes
from scsnake.pp._hvg_kernels import grouped_moments, mean_var_from_sums
from scsnake.pp._hvg_seurat import _mad, _mean_bins
from scsnake.pp._kernels import (
    _excluded_row_sums_csr,
    _excluded_row_sums_dense,
    _row_sums_csr,
    _row_sums_dense,
    _scale_rows_csr,
    _scale_rows_dense,
)
from scsnake.pp._log1p import log1p
from scsnake.pp._normalize_total import normalize_total
from scsnake.pp._pca import pca
from scsnake.pp._scale import scale

if TYPE_CHECKING:
    from anndata import AnnData
    from numpy.typing import NDArray

__all__ = [
    "RecipeSeuratParams",
    "RecipeWeinreb17Params",
    "RecipeZheng17Params",
    "recipe_seurat",
    "recipe_weinreb17",
    "recipe_zheng17",
]


class _PlotParams(StageParams):
    log: bool = True
    """Log-transform the data (pass False if they are logarithmised already)."""
    plot: bool = False
    """Not supported: plot with ``scsnake.pl`` instead."""

    @field_validator("plot")
    @classmethod
    def _no_plot(cls, value: bool) -> bool:
        if value:
            msg = "plot=True is not supported; use scsnake.pl to plot"
            raise ValueError(msg)
        return value


class RecipeZheng17Params(_PlotParams):
    """Parameters of :func:`recipe_zheng17`."""

    n_top_genes: PositiveInt = 1000
    """Number of highly variable genes to keep."""


class RecipeSeuratParams(_PlotParams):
    """Parameters of :func:`recipe_seurat`."""


class RecipeWeinreb17Params(StageParams):
    """Parameters of :func:`recipe_weinreb17`."""

    log: bool = True
    """Log-transform the data first (pass False if they are logarithmised already)."""
    mean_threshold: NonNegativeFloat = 0.01
    """Keep genes whose mean is above this."""
    cv_threshold: PositiveFloat = 2
    """Keep genes whose coefficient of variation (sd / (mean + 1e-4)) is above this."""
    n_pcs: PositiveInt = 50
    """Number of principal components."""
    svd_solver: Literal["arpack", "randomized", "covariance_eigh"] = "randomized"
    """PCA solver."""
    random_state: Annotated[int, Field(ge=0, lt=2**32)] | None = 0
    """Seed of the PCA solver (None means 0)."""


# --- scanpy's deprecated filter_genes_dispersion (matrix input) -------------------------


def _normalized_dispersion(
    mean: NDArray[np.float64], dispersion: NDArray[np.float64], flavor: str, n_bins: int
) -> NDArray[np.float64]:
    df = pd.DataFrame({"mean": mean, "dispersion": dispersion})
    df["mean_bin"] = _mean_bins(df["mean"], flavor, n_bins)
    grouped = df.groupby("mean_bin", observed=True)["dispersion"]
    if flavor == "seurat":
        avg, dev = grouped.mean(), grouped.std(ddof=1)
        single = dev.isna()  # a bin with one gene: its normalised dispersion becomes 1
        dev[single] = avg[single]
        avg[single] = 0
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # empty and all-NaN bins
            avg, dev = grouped.median(), grouped.apply(_mad)
    bins = df["mean_bin"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        deviation = df["dispersion"].to_numpy() - avg[bins].to_numpy()
        if flavor == "cell_ranger":
            deviation = np.abs(deviation)  # the deprecated function's absolute value
        return deviation / dev[bins].to_numpy()


def dispersion_table(
    x: Any, *, flavor: Literal["seurat", "cell_ranger"], log: bool, n_bins: int = 20
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Gene means, dispersions and normalised dispersions as scanpy's deprecated function."""
    sums, sumsq, _ = grouped_moments(x, count_positive=False)
    mean, var = mean_var_from_sums(sums[0], sumsq[0], x.shape[0])
    mean[mean == 0] = 1e-12
    with np.errstate(divide="ignore", invalid="ignore"):
        dispersion = var / mean
        if log:  # logarithmised mean and dispersion, as in Seurat
            dispersion[dispersion == 0] = np.nan
            dispersion = np.log(dispersion)
            mean = np.log1p(mean)
    return mean, dispersion, _normalized_dispersion(mean, dispersion, flavor, n_bins)


def dispersion_genes(
    x: Any,
    *,
    flavor: Literal["seurat", "cell_ranger"],
    log: bool,
    n_top_genes: int | None = None,
    min_mean: float = 0.0125,
    max_mean: float = 3,
    min_disp: float = 0.5,
    max_disp: float = np.inf,
    n_bins: int = 20,
    table: tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]] | None = None,
) -> NDArray[np.bool_]:
    """The genes scanpy's deprecated ``filter_genes_dispersion(x, ...)`` keeps."""
    mean, _, norm = table if table is not None else dispersion_table(x, flavor=flavor, log=log, n_bins=n_bins)
    norm32 = norm.astype(np.float32)
    if n_top_genes is None:
        norm32[np.isnan(norm32)] = 0  # similar to Seurat
        return (mean > min_mean) & (mean < max_mean) & (norm32 > min_disp) & (norm32 < max_disp)
    ranked = np.sort(norm32[~np.isnan(norm32)])[::-1]
    if n_top_genes > ranked.size:
        msg = f"n_top_genes={n_top_genes} is more than the {ranked.size} genes with a normalised dispersion; keeping all of them"
        warnings.warn(msg, AdjustedParamWarning, stacklevel=4)
        n_top_genes = ranked.size
    # scanpy compares the float64 values with the float32 cut-off
    with np.errstate(invalid="ignore"):
        return norm >= ranked[n_top_genes - 1]


# --- Weinreb et al. 2017 ----------------------------------------------------------------


def _normalize_weinreb(x: Any, max_fraction: float) -> Any:
    """Divide each cell by its total over the genes never above ``max_fraction`` of a
    cell's counts, times the mean cell total (scanpy's ``normalize_per_cell_weinreb16``)."""
    if is_sparse(x) and x.format not in ("csr", "csc"):
        x = x.tocsr()
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    n_obs, n_vars = x.shape
    if is_sparse(x):
        rows_major = x.format == "csr"
        totals = _row_sums_csr(x.indptr, x.indices, x.data, n_obs, rows_major)
        included, _ = _excluded_row_sums_csr(
            x.indptr, x.indices, x.data, totals, max_fraction, n_vars if rows_major else n_obs, rows_major
        )
    else:
        x = np.ascontiguousarray(x)
        totals = _row_sums_dense(x)
        included, _ = _excluded_row_sums_dense(x, totals, max_fraction)
    divisors = included / totals.mean()
    empty = divisors == 0
    if empty.any():
        msg = f"recipe_weinreb17: {int(empty.sum())} cell(s) have no counts in the genes used for normalisation; they are left unscaled"
        warnings.warn(msg, DataWarning, stacklevel=4)
        divisors[empty] = 1.0
    if is_sparse(x):
        _scale_rows_csr(x.indptr, x.indices, x.data, divisors, x.format == "csr")
    else:
        _scale_rows_dense(x, divisors)
    return x


def _mean_std(x: Any) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-gene mean and population standard deviation (ddof=0), in float64."""
    sums, sumsq, _ = grouped_moments(x, float32_rounding=False, count_positive=False)
    n = x.shape[0]
    mean = sums[0] / n
    return mean, np.sqrt(np.maximum(sumsq[0] / n - mean**2, 0.0))


def _zscore(x: Any, mean: NDArray[np.float64], std: NDArray[np.float64]) -> NDArray[np.floating]:
    """``(x - mean) / (std + 1e-4)`` as a dense array of ``x``'s float type."""
    dense = x.toarray() if is_sparse(x) else np.array(x)
    dtype = dense.dtype
    dense -= mean.astype(dtype)
    dense /= std.astype(dtype) + dtype.type(1e-4)
    return dense


# --- the recipes ------------------------------------------------------------------------


@validated(RecipeZheng17Params)
def recipe_zheng17(
    adata: AnnData, *, n_top_genes: int = 1000, log: bool = True, plot: bool = False, copy: bool = False
) -> AnnData | None:
    """Normalise and select genes as Zheng et al. (2017) (the Cell Ranger R kit).

    Steps: ``filter_genes(min_counts=1)``; ``normalize_total(key_added='n_counts_all')``;
    keep the ``n_top_genes`` genes with the largest absolute normalised dispersion
    (``cell_ranger`` bins, as scanpy's deprecated ``filter_genes_dispersion``);
    ``normalize_total()`` again; ``log1p`` (if ``log``); ``scale``.

    Parameters
    ----------
    adata
        Cells × genes raw counts (not logarithmised).
    n_top_genes
        Number of genes to keep.
    log
        Log-transform after normalising.
    plot
        Not supported (use ``scsnake.pl``).
    copy
        Work on a copy of ``adata`` and return it.

    Returns
    -------
    None (or the copy), with genes subset, ``X`` normalised, logarithmised and scaled,
    ``var["n_counts"]``, ``obs["n_counts_all"]`` (size factors of the first
    normalisation), ``uns["log1p"]`` and ``var["mean"]`` / ``var["std"]``.
    """
    adata = adata.copy() if copy else adata
    view_to_actual(adata)
    filter_genes(adata, min_counts=1)
    normalize_total(adata, key_added="n_counts_all")
    adata._inplace_subset_var(
        dispersion_genes(adata.X, flavor="cell_ranger", log=False, n_top_genes=n_top_genes)
    )
    # the median of the nonzero totals, as scanpy >= 1.12.4 on every layout (scverse/scanpy#4256;
    # before, its CSR path counted cells left without counts by the gene selection)
    normalize_total(adata)
    if log:
        log1p(adata)
    scale(adata)
    return adata if copy else None


@validated(RecipeSeuratParams)
def recipe_seurat(
    adata: AnnData, *, log: bool = True, plot: bool = False, copy: bool = False
) -> AnnData | None:
    """Normalise and select genes as Seurat (Satija et al. 2015) in scanpy's recipe.

    Steps: ``filter_cells(min_genes=200)``; ``filter_genes(min_cells=3)``;
    ``normalize_total(target_sum=1e4)``; keep genes with mean in (0.0125, 3) and
    normalised dispersion above 0.5 (``seurat`` bins, logarithmised statistics only when
    ``log=False``, as in scanpy); ``log1p`` (if ``log``); ``scale(max_value=10)``.

    Parameters
    ----------
    adata
        Cells × genes raw counts (not logarithmised).
    log
        Log-transform after selecting genes.
    plot
        Not supported (use ``scsnake.pl``).
    copy
        Work on a copy of ``adata`` and return it.

    Returns
    -------
    None (or the copy), with cells and genes subset, ``X`` normalised, logarithmised
    and scaled, ``obs["n_genes"]``, ``var["n_cells"]``, ``uns["log1p"]`` and
    ``var["mean"]`` / ``var["std"]``.
    """
    adata = adata.copy() if copy else adata
    view_to_actual(adata)
    filter_cells(adata, min_genes=200)
    filter_genes(adata, min_cells=3)
    normalize_total(adata, target_sum=1e4)
    adata._inplace_subset_var(dispersion_genes(adata.X, flavor="seurat", log=not log))
    if log:
        log1p(adata)
    scale(adata, max_value=10)
    return adata if copy else None


@validated(RecipeWeinreb17Params)
def recipe_weinreb17(
    adata: AnnData,
    *,
    log: bool = True,
    mean_threshold: float = 0.01,
    cv_threshold: float = 2,
    n_pcs: int = 50,
    svd_solver: Literal["arpack", "randomized", "covariance_eigh"] = "randomized",
    random_state: int | None = 0,
    copy: bool = False,
) -> AnnData | None:
    """Normalise, filter genes and compute PCA as Weinreb et al. (2017).

    Steps (scanpy's order): ``log1p`` (if ``log``); divide each cell by its total over
    the genes that never exceed 5% of a cell's total, times the mean cell total; keep
    genes with mean > ``mean_threshold`` and sd / (mean + 1e-4) > ``cv_threshold``; PCA
    of the z-scored genes (sd + 1e-4). Sparse data are supported (scanpy refuses them):
    only the z-scored copy given to PCA is dense.

    Parameters
    ----------
    adata
        Cells × genes raw counts (pass ``log=False`` if logarithmised).
    log
        Log-transform first.
    mean_threshold
        Minimum gene mean.
    cv_threshold
        Minimum coefficient of variation.
    n_pcs
        Number of principal components.
    svd_solver
        PCA solver.
    random_state
        Seed of the PCA solver.
    copy
        Work on a copy of ``adata`` and return it.

    Returns
    -------
    None (or the copy), with genes subset, ``X`` normalised, ``uns["log1p"]`` (if
    ``log``) and ``obsm["X_pca"]`` (cells × ``n_pcs``, float32).
    """
    adata = adata.copy() if copy else adata
    view_to_actual(adata)
    check_finite(adata.X)
    if log:
        log1p(adata)
    adata.X = _normalize_weinreb(adata.X, max_fraction=0.05)
    mean, std = _mean_std(adata.X)
    keep = (mean > mean_threshold) & (std / (mean + 1e-4) > cv_threshold)
    adata._inplace_subset_var(np.flatnonzero(keep))
    z = _zscore(adata.X, mean[keep], std[keep])
    adata.obsm["X_pca"] = pca(z, n_comps=n_pcs, svd_solver=svd_solver, random_state=random_state)
    return adata if copy else None
