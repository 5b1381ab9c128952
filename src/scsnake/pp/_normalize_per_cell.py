"""scanpy's older per-cell normalisation, ``pp.normalize_per_cell`` (``normalize_total`` replaces it)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from anndata import AnnData
from pydantic import NonNegativeInt, PositiveFloat
from pydantic.json_schema import SkipJsonSchema

from scsnake._matrix import close_matches, is_sparse, view_to_actual
from scsnake._params import StageParams, validated
from scsnake.errors import MissingKeyError, ParamError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from numpy.typing import NDArray

__all__ = ["NormalizePerCellParams", "normalize_per_cell"]

logger = logging.getLogger(__name__)


class NormalizePerCellParams(StageParams):
    """Parameters of :func:`normalize_per_cell`."""

    counts_per_cell_after: PositiveFloat | None = None
    """Total each cell is scaled to; None takes the median of the cells' totals."""
    counts_per_cell: SkipJsonSchema[Any] = None
    """Precomputed totals per cell (then no cells are removed)."""
    key_n_counts: str = "n_counts"
    """obs column for each cell's total before normalisation."""
    layers: Literal["all"] | list[str] | tuple[str, ...] = ()
    """Layers to normalise as well (``"all"`` for every layer)."""
    use_rep: Literal["after", "X"] | None = None
    """Layers' target: ``counts_per_cell_after``, the median total of ``X``, or their own median."""
    min_counts: NonNegativeInt = 1
    """Cells with fewer counts are removed first."""


def _row_sums(x: Any) -> NDArray[Any]:
    return np.asarray(x.sum(axis=1)).ravel()


def _scale(x: Any, counts_per_cell: NDArray[Any], after: float | None) -> tuple[Any, NDArray[Any]]:
    """scanpy's arithmetic: totals (the matrix's dtype) over ``after``, rows divided in place.

    Returns the matrix and the size factors (``total / after``)."""
    counts = np.array(counts_per_cell, copy=True)
    if after is None:
        after = np.median(counts)
    counts += counts == 0
    counts /= after
    if is_sparse(x):  # scikit-learn's inplace_row_scale, as scanpy: times the reciprocal
        scale = 1 / counts
        rows = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr)) if x.format == "csr" else x.indices
        x.data *= scale[rows]
    else:
        x /= counts[:, np.newaxis]
    return x, counts


@validated(NormalizePerCellParams)
def normalize_per_cell(
    adata: AnnData | Any,
    *,
    counts_per_cell_after: float | None = None,
    counts_per_cell: NDArray[Any] | None = None,
    key_n_counts: str = "n_counts",
    copy: bool = False,
    layers: Literal["all"] | Iterable[str] = (),
    use_rep: Literal["after", "X"] | None = None,
    min_counts: int = 1,
) -> AnnData | Any | None:
    """Normalise each cell to the same total, as scanpy's (deprecated) ``normalize_per_cell``.

    Cells with fewer than ``min_counts`` counts are removed, ``obs[key_n_counts]`` gets each
    cell's total, and each cell is divided by ``total / counts_per_cell_after`` (the median
    total by default). Prefer :func:`scsnake.pp.normalize_total`.

    Parameters
    ----------
    adata
        Cells × genes float counts; an array or sparse matrix needs ``copy=True`` unless
        ``counts_per_cell`` is given.
    counts_per_cell_after
        Total each cell is scaled to; None: the median total.
    counts_per_cell
        Precomputed totals (then no cells are removed).
    key_n_counts
        obs column for the totals.
    copy
        Work on a copy and return it.
    layers
        Layers to normalise too (``"all"``).
    use_rep
        Target of the layers: ``"after"`` (``counts_per_cell_after``), ``"X"`` (as scanpy: the
        median of ``X``'s size factors, about 1) or None (each layer's own median total).
    min_counts
        Minimum counts of a cell to be kept.

    Returns
    -------
    For an AnnData None (or the copy) with ``X`` (and ``layers``) normalised, cells with too
    few counts removed and ``obs[key_n_counts]``; for a matrix the normalised matrix.
    """
    if not isinstance(adata, AnnData):
        x = adata.copy() if copy else adata
        if counts_per_cell is None:
            if not copy:
                msg = (
                    "normalize_per_cell: a matrix without counts_per_cell needs copy=True (cells are removed)"
                )
                raise ParamError(msg)
            counts_per_cell = _row_sums(x)
            keep = counts_per_cell >= min_counts
            x, counts_per_cell = x[keep], counts_per_cell[keep]
        return _scale(x, np.asarray(counts_per_cell), counts_per_cell_after)[0] if copy else None
    adata = adata.copy() if copy else adata
    view_to_actual(adata)
    if counts_per_cell is None:
        counts_per_cell = _row_sums(adata.X)
        keep = counts_per_cell >= min_counts
        adata.obs[key_n_counts] = counts_per_cell
        if not keep.all():
            logger.info(
                "normalize_per_cell: %d cells with fewer than %d counts removed",
                int((~keep).sum()),
                min_counts,
            )
            adata._inplace_subset_obs(keep)
        counts_per_cell = counts_per_cell[keep]
    counts_per_cell = np.asarray(counts_per_cell)
    adata.X, factors = _scale(adata.X, counts_per_cell, counts_per_cell_after)
    names = list(adata.layers.keys()) if layers == "all" else list(layers)
    # use_rep="X": scanpy takes the median of X's size factors (its totals, divided in place)
    after = {"after": counts_per_cell_after, "X": np.median(factors), None: None}[use_rep]
    for name in names:
        if name not in adata.layers:
            msg = f"layer {name!r} not found in adata.layers{close_matches(name, adata.layers.keys())}"
            raise MissingKeyError(msg)
        layer = adata.layers[name].copy()
        adata.layers[name] = _scale(layer, _row_sums(layer), after)[0]
    return adata if copy else None
