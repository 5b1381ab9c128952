"""Dispersion-based HVG selection (``seurat`` and ``cell_ranger``), one batch or several."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from scsnake.errors import AdjustedParamWarning

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["Cutoffs", "combine_batches", "dispersion_table", "with_unexpressed"]

#: Normal consistency constant of the median absolute deviation (norm.ppf(3/4)).
_MAD_SCALE = 0.6744897501960817


@dataclass(frozen=True)
class Cutoffs:
    """Bounds on the mean and the normalised dispersion (used when ``n_top_genes`` is None)."""

    min_disp: float
    max_disp: float
    min_mean: float
    max_mean: float

    def in_bounds(self, mean: NDArray[np.float64], disp_norm: NDArray[np.float64]) -> NDArray[np.bool_]:
        return (
            (mean > self.min_mean)
            & (mean < self.max_mean)
            & (disp_norm > self.min_disp)
            & (disp_norm < self.max_disp)
        )


def _mad(values: pd.Series) -> float:
    """Median absolute deviation scaled to the normal sd (NaN if any value is NaN)."""
    a = values.to_numpy(dtype=np.float64)
    if a.size == 0:
        return np.nan
    return float(np.median(np.abs(a - np.median(a)) / _MAD_SCALE))


def _mean_bins(means: pd.Series, flavor: str, n_bins: int) -> pd.Series:
    """Bin of each gene's mean: a categorical labelled ``"(lo, hi]"``, as scanpy ≥ 1.12 has it."""
    if flavor == "seurat":
        bins = pd.cut(means, bins=n_bins)
    else:
        edges = np.r_[-np.inf, np.percentile(means, np.arange(10, 105, 5)), np.inf]
        # scanpy fails on repeated percentiles (many genes with the same mean); merging them
        # gives the bins scanpy would use whenever it does not fail
        bins = pd.cut(means, bins=edges, duplicates="drop")
    # text labels instead of Interval categories (which h5ad and zarr cannot store)
    return bins.cat.rename_categories(bins.cat.categories.astype("string"))


def dispersion_table(
    mean: NDArray[np.float64],
    var: NDArray[np.float64],
    *,
    flavor: Literal["seurat", "cell_ranger"],
    n_bins: int,
    cutoff: Cutoffs | int,
) -> pd.DataFrame:
    """One batch: ``means, dispersions, mean_bin, dispersions_norm, highly_variable``.

    ``mean`` and ``var`` are per gene, of ``expm1(X)`` for ``seurat`` and of ``X`` for
    ``cell_ranger``; ``cutoff`` is a number of top genes or the bounds to apply.
    """
    mean = mean.copy()
    mean[mean == 0] = 1e-12
    with np.errstate(divide="ignore", invalid="ignore"):
        dispersion = var / mean
        if flavor == "seurat":  # logarithmised mean and dispersion, as in Seurat
            dispersion[dispersion == 0] = np.nan
            dispersion = np.log(dispersion)
            mean = np.log1p(mean)
    df = pd.DataFrame({"means": mean, "dispersions": dispersion})
    df["mean_bin"] = _mean_bins(df["means"], flavor, n_bins)
    grouped = df.groupby("mean_bin", observed=True)["dispersions"]
    if flavor == "seurat":
        stats = grouped.agg(avg="mean", dev="std")
        # a bin with a single gene has no sd: its normalised dispersion becomes 1
        single = stats["dev"].isna()
        stats.loc[single, "dev"] = stats.loc[single, "avg"]
        stats.loc[single, "avg"] = 0
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            stats = grouped.agg(avg="median", dev=_mad)
    per_gene = stats.loc[df["mean_bin"]].set_index(df.index)
    with np.errstate(divide="ignore", invalid="ignore"):
        df["dispersions_norm"] = (df["dispersions"] - per_gene["avg"]) / per_gene["dev"]
    df["highly_variable"] = _select(df["means"].to_numpy(), df["dispersions_norm"].to_numpy(), cutoff)
    return df


def _select(
    mean: NDArray[np.float64], disp_norm: NDArray[np.float64], cutoff: Cutoffs | int
) -> NDArray[np.bool_]:
    if isinstance(cutoff, Cutoffs):
        return cutoff.in_bounds(mean, np.nan_to_num(disp_norm))
    n_top = min(cutoff, disp_norm.size)
    finite = disp_norm[~np.isnan(disp_norm)]
    if n_top > finite.size:
        msg = (
            f"n_top_genes={n_top} is more than the {finite.size} genes with a normalised "
            "dispersion; returning all of them"
        )
        warnings.warn(msg, AdjustedParamWarning, stacklevel=5)
        n_top = finite.size
    if n_top == 0:
        return np.zeros(disp_norm.size, dtype=bool)
    threshold = np.sort(finite)[::-1][n_top - 1]
    # ties at the threshold are all kept, as in scanpy
    return np.nan_to_num(disp_norm, nan=-np.inf) >= threshold


def combine_batches(tables: list[pd.DataFrame], names: pd.Index, cutoff: Cutoffs | int) -> pd.DataFrame:
    """Merge per-batch tables (gene order, zeros for genes unexpressed in a batch) like scanpy.

    Statistics are averaged over batches; with ``n_top_genes`` genes are ranked by the number
    of batches they are highly variable in, ties broken by the mean normalised dispersion
    (NaN last) and then by gene name.
    """
    stack = {
        col: np.vstack([t[col].to_numpy(dtype=np.float64) for t in tables])
        for col in ("means", "dispersions", "dispersions_norm")
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN genes stay NaN
        df = pd.DataFrame({col: np.nanmean(values, axis=0) for col, values in stack.items()}, index=names)
    nbatches = np.sum([t["highly_variable"].to_numpy(dtype=np.int64) for t in tables], axis=0)
    df["highly_variable_nbatches"] = nbatches.astype(np.int64)
    df["highly_variable_intersection"] = nbatches == len(tables)
    if isinstance(cutoff, Cutoffs):
        df["dispersions_norm"] = df["dispersions_norm"].fillna(0)  # similar to Seurat
        df["highly_variable"] = cutoff.in_bounds(df["means"].to_numpy(), df["dispersions_norm"].to_numpy())
    else:
        disp = df["dispersions_norm"].to_numpy()
        missing = np.isnan(disp)
        name_rank = np.argsort(np.argsort(np.asarray(names, dtype=object), kind="stable"), kind="stable")
        order = np.lexsort((name_rank, -np.where(missing, 0.0, disp), missing, -nbatches))
        hvg = np.zeros(len(names), dtype=bool)
        hvg[order[:cutoff]] = True
        df["highly_variable"] = hvg
    return df[
        [
            "means",
            "dispersions",
            "dispersions_norm",
            "highly_variable",
            "highly_variable_nbatches",
            "highly_variable_intersection",
        ]
    ]


def with_unexpressed(part: pd.DataFrame, expressed: NDArray[np.bool_], columns: list[str]) -> pd.DataFrame:
    """``part`` (the expressed genes) with zero rows for the others, as scanpy adds them:
    0 (False for ``highly_variable``; ``mean_bin`` becomes an object column holding 0.0)."""
    full = {}
    for col in columns:
        values = part[col].to_numpy()
        if values.dtype == bool:
            out = np.zeros(expressed.size, dtype=bool)
        elif values.dtype.kind == "f":
            out = np.zeros(expressed.size)
        else:
            values = values.astype(object)
            out = np.full(expressed.size, 0.0, dtype=object)
        out[expressed] = values
        full[col] = out
    return pd.DataFrame(full)
