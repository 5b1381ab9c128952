"""scanpy's deprecated ``pp.filter_genes_dispersion`` (``highly_variable_genes`` replaces it)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from anndata import AnnData
from pydantic import PositiveInt

from scsnake._matrix import view_to_actual
from scsnake._params import StageParams, validated

from ._recipes import dispersion_genes, dispersion_table

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["FilterGenesDispersionParams", "filter_genes_dispersion"]


class FilterGenesDispersionParams(StageParams):
    """Parameters of :func:`filter_genes_dispersion`."""

    flavor: Literal["seurat", "cell_ranger"] = "seurat"
    """Normalise dispersions by mean/std (``seurat``) or median/MAD (``cell_ranger``) per mean bin."""
    min_disp: float | None = None
    """Lowest normalised dispersion kept (None: 0.5); ignored with ``n_top_genes``."""
    max_disp: float | None = None
    """Highest normalised dispersion kept (None: no limit)."""
    min_mean: float | None = None
    """Lowest mean kept (None: 0.0125)."""
    max_mean: float | None = None
    """Highest mean kept (None: 3)."""
    n_bins: PositiveInt = 20
    """Number of mean bins (``seurat``)."""
    n_top_genes: PositiveInt | None = None
    """Keep this many genes of largest normalised dispersion instead of the cut-offs."""
    log: bool = True
    """Logarithmise mean and dispersion (as Seurat) before binning."""
    subset: bool = True
    """Keep only the selected genes; False adds ``var['highly_variable']``."""


@validated(FilterGenesDispersionParams)
def filter_genes_dispersion(
    adata: AnnData | Any,
    *,
    flavor: Literal["seurat", "cell_ranger"] = "seurat",
    min_disp: float | None = None,
    max_disp: float | None = None,
    min_mean: float | None = None,
    max_mean: float | None = None,
    n_bins: int = 20,
    n_top_genes: int | None = None,
    log: bool = True,
    subset: bool = True,
    copy: bool = False,
) -> AnnData | np.recarray | None:
    """Select genes by normalised dispersion, as scanpy's deprecated ``filter_genes_dispersion``.

    Unlike :func:`highly_variable_genes`, the matrix is used as it is (no ``expm1``).
    Prefer :func:`scsnake.pp.highly_variable_genes`.

    Parameters
    ----------
    adata
        Cells × genes (an array or sparse matrix returns scanpy's record array).
    flavor
        ``seurat`` or ``cell_ranger`` normalisation of the dispersions.
    min_disp, max_disp, min_mean, max_mean
        Cut-offs (defaults 0.5, inf, 0.0125, 3), ignored with ``n_top_genes``.
    n_bins
        Number of mean bins.
    n_top_genes
        Number of genes to keep.
    log
        Logarithmise mean and dispersion first.
    subset
        Subset to the selected genes; else flag them in ``var['highly_variable']``.
    copy
        Work on a copy and return it.

    Returns
    -------
    For an AnnData None (or the copy) with ``var['means']``, ``var['dispersions']``,
    ``var['dispersions_norm']`` and the genes subset (or ``var['highly_variable']``); for a
    matrix a record array of ``gene_subset``, ``means``, ``dispersions``, ``dispersions_norm``.
    """
    x = adata.X if isinstance(adata, AnnData) else adata
    table = dispersion_table(x, flavor=flavor, log=log, n_bins=n_bins)
    keep = dispersion_genes(
        x, flavor=flavor, log=log, n_top_genes=n_top_genes, n_bins=n_bins, table=table,
        min_mean=0.0125 if min_mean is None else min_mean, max_mean=3 if max_mean is None else max_mean,
        min_disp=0.5 if min_disp is None else min_disp, max_disp=np.inf if max_disp is None else max_disp,
    )  # fmt: skip
    result = _record(keep, table)
    if not isinstance(adata, AnnData):
        return result
    adata = adata.copy() if copy else adata
    view_to_actual(adata)
    for name in ("means", "dispersions", "dispersions_norm"):
        adata.var[name] = result[name]
    if subset:
        adata._inplace_subset_var(result["gene_subset"])
    else:
        adata.var["highly_variable"] = result["gene_subset"]
    return adata if copy else None


def _record(keep: NDArray[np.bool_], table: tuple[NDArray[Any], NDArray[Any], NDArray[Any]]) -> np.recarray:
    mean, dispersion, norm = table
    return np.rec.fromarrays(
        (keep, mean, dispersion, norm.astype(np.float32, copy=False)),
        dtype=[
            ("gene_subset", bool),
            ("means", "float32"),
            ("dispersions", "float32"),
            ("dispersions_norm", "float32"),
        ],
    )
