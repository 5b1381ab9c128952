"""Filter cells and genes on their counts or numbers of expressed genes / cells."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np
from pydantic import NonNegativeFloat, NonNegativeInt, model_validator

from scsnake._matrix import check_finite, get_matrix, is_sparse
from scsnake._params import StageParams, validated
from scsnake.errors import InputDataError, ParamError
from scsnake.pp._filter_inplace import _compact, _compactable, _matrices, _named_layers
from scsnake.pp._filter_kernels import (
    _axis_stats_dense,
    _major_stats_csr,
    _minor_stats_csr,
    _take_major_csr,
    _take_minor_csr,
)

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["FilterCellsParams", "FilterGenesParams", "filter_cells", "filter_genes"]

logger = logging.getLogger(__name__)


def _exactly_one(values: dict[str, Any]) -> None:
    if sum(v is not None for v in values.values()) != 1:
        msg = f"give exactly one of {', '.join(values)} per call; call again for another criterion"
        raise ValueError(msg)


class FilterCellsParams(StageParams):
    """Parameters of :func:`filter_cells`: exactly one criterion per call."""

    min_counts: NonNegativeFloat | None = None
    """Keep cells with at least this many counts."""
    min_genes: NonNegativeInt | None = None
    """Keep cells with at least this many genes expressed (count > 0)."""
    max_counts: NonNegativeFloat | None = None
    """Keep cells with at most this many counts."""
    max_genes: NonNegativeInt | None = None
    """Keep cells with at most this many genes expressed."""

    @model_validator(mode="after")
    def _one_criterion(self) -> FilterCellsParams:
        _exactly_one(self.model_dump())
        return self


class FilterGenesParams(StageParams):
    """Parameters of :func:`filter_genes`: exactly one criterion per call."""

    min_counts: NonNegativeFloat | None = None
    """Keep genes with at least this many counts."""
    min_cells: NonNegativeInt | None = None
    """Keep genes expressed (count > 0) in at least this many cells."""
    max_counts: NonNegativeFloat | None = None
    """Keep genes with at most this many counts."""
    max_cells: NonNegativeInt | None = None
    """Keep genes expressed in at most this many cells."""

    @model_validator(mode="after")
    def _one_criterion(self) -> FilterGenesParams:
        _exactly_one(self.model_dump())
        return self


def _per_axis(x: Any, axis: Literal[0, 1]) -> tuple[np.ndarray, np.ndarray]:
    """Sums and numbers of positive entries per row (axis=1) or column (axis=0)."""
    if is_sparse(x):
        if x.format not in ("csr", "csc"):
            x = x.tocsr()
        if (axis == 1) == (x.format == "csr"):
            return _major_stats_csr(x.indptr, x.indices, x.data, True)
        return _minor_stats_csr(x.indptr, x.indices, x.data, x.shape[1 - axis], True)
    row_sums, row_n, col_sums, col_n = _axis_stats_dense(np.asarray(x), True)
    return (row_sums, row_n) if axis == 1 else (col_sums, col_n)


def _take(x: Any, keep: np.ndarray, axis: Literal[0, 1]) -> Any:
    """``x`` restricted to the rows (axis 0) or columns (axis 1) where ``keep`` is True.

    One copy of the kept entries (CSR/CSC: in parallel, same class and index dtypes);
    None for a matrix type this does not handle.
    """
    if isinstance(x, np.ndarray):
        return x[keep] if axis == 0 else x[:, keep]
    if not _can_take(x):
        return None
    shape = (int(keep.sum()), x.shape[1]) if axis == 0 else (x.shape[0], int(keep.sum()))
    if (axis == 0) == (x.format == "csr"):
        indptr, indices, data = _take_major_csr(x.indptr, x.indices, x.data, np.flatnonzero(keep))
    else:
        position = np.where(keep, np.cumsum(keep) - 1, -1)
        indptr, indices, data = _take_minor_csr(x.indptr, x.indices, x.data, position)
    out = type(x)((data, indices, indptr), shape=shape)
    if x.has_sorted_indices:  # subsetting keeps the order within rows
        out.has_sorted_indices = True
    return out


def _can_take(x: Any) -> bool:
    """Whether :func:`_take` handles ``x``: a numpy array or a CSR/CSC matrix."""
    return isinstance(x, np.ndarray) or (is_sparse(x) and x.format in ("csr", "csc"))


def _subset_matrix(
    slot: str, x: Any, keep: np.ndarray, axis: Literal[0, 1], matrices: list[tuple[str, Any]]
) -> Any:
    """``x`` subset in place when :func:`_compactable`, else a copy (None if not handled)."""
    if _compactable(slot, x, matrices) and _compact(x, keep, axis):
        return x
    return _take(x, keep, axis)


def _subset(adata: AnnData, keep: np.ndarray, axis: Literal[0, 1]) -> None:
    """Subset ``adata`` in place like ``_inplace_subset_obs`` / ``_inplace_subset_var``.

    Nothing happens when everything is kept. Otherwise ``X`` and the layers (when all
    are arrays or CSR/CSC matrices) are subset here and anndata subsets the rest; views
    and backed objects are left to anndata entirely. A CSR/CSC matrix that shares no
    memory with another matrix of ``adata`` is compacted inside its own arrays (the
    same object, no copy); anything else is copied once.
    """
    if keep.all():
        return
    inplace_subset = adata._inplace_subset_obs if axis == 0 else adata._inplace_subset_var
    if adata.is_view or adata.isbacked:
        inplace_subset(keep)
        return
    matrices = _matrices(adata)
    x = adata.X if _can_take(adata.X) else None
    layers = _named_layers(adata)
    layers = layers if all(map(_can_take, layers.values())) else {}  # else anndata does all
    if x is not None:  # detached first: anndata checks the shapes of what it holds
        adata.X = None
    for key in layers:
        del adata.layers[key]
    x_kept = None if x is None else _subset_matrix("X", x, keep, axis, matrices)
    layers = {
        key: _subset_matrix(f"layers/{key}", value, keep, axis, matrices) for key, value in layers.items()
    }
    inplace_subset(keep)
    if x_kept is not None:
        adata.X = x_kept
    for key, value in layers.items():
        adata.layers[key] = value


def _filter_mask(
    adata: AnnData, axis: Literal[0, 1], criteria: dict[str, float | None], func: str, what: str, by: str
) -> tuple[np.ndarray, np.ndarray, str]:
    """The keep-mask, the numbers it thresholds and their obs/var column name."""
    x = get_matrix(adata)
    if 0 in x.shape:
        msg = f"{func}: adata is empty ({adata.n_obs} cells × {adata.n_vars} genes); nothing to filter"
        raise InputDataError(msg)
    check_finite(x, where="X")
    [(name, threshold)] = [(k, v) for k, v in criteria.items() if v is not None]
    sums, n_expressed = _per_axis(x, axis)
    by_counts = name.endswith("_counts")
    values = sums if by_counts else n_expressed
    mask = values >= threshold if name.startswith("min_") else values <= threshold
    key = "n_counts" if by_counts else f"n_{by}"
    n_total = values.size
    n_kept = int(mask.sum())
    if n_kept == 0:
        extreme, best = ("largest", values.max()) if name.startswith("min_") else ("smallest", values.min())
        msg = f"{func}({name}={threshold!r}) removed all {n_total} {what}; the {extreme} {key} is {best:g}"
        raise InputDataError(msg)
    if n_kept < n_total:
        logger.info("%s(%s=%r): removed %d of %d %s", func, name, threshold, n_total - n_kept, n_total, what)
    if by_counts:
        # like scanpy: counts keep the matrix's float dtype; integer matrices give integers
        dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.int64
        values = values.astype(dtype)
    return mask, values, key


def _check_flags(func: str, inplace: bool, copy: bool) -> None:
    if copy and not inplace:
        msg = f"{func}: copy=True cannot be combined with inplace=False (which returns arrays, not AnnData)"
        raise ParamError(msg)


@overload
def filter_cells(
    adata: AnnData,
    *,
    min_counts: float | None = ...,
    min_genes: int | None = ...,
    max_counts: float | None = ...,
    max_genes: int | None = ...,
    inplace: Literal[True] = ...,
    copy: bool = ...,
) -> AnnData | None: ...
@overload
def filter_cells(
    adata: AnnData,
    *,
    min_counts: float | None = ...,
    min_genes: int | None = ...,
    max_counts: float | None = ...,
    max_genes: int | None = ...,
    inplace: Literal[False],
    copy: bool = ...,
) -> tuple[np.ndarray, np.ndarray]: ...


@validated(FilterCellsParams)
def filter_cells(
    adata: AnnData,
    *,
    min_counts: float | None = None,
    min_genes: int | None = None,
    max_counts: float | None = None,
    max_genes: int | None = None,
    inplace: bool = True,
    copy: bool = False,
) -> AnnData | tuple[np.ndarray, np.ndarray] | None:
    """Keep the cells that pass one threshold on counts or genes expressed.

    Give exactly one of ``min_counts``, ``min_genes``, ``max_counts``, ``max_genes``;
    call again for another criterion. A gene is expressed in a cell when its count is > 0.

    Parameters
    ----------
    adata
        Cells × genes counts in ``X``.
    min_counts, min_genes, max_counts, max_genes
        The threshold (inclusive) on total counts or on genes expressed per cell.
    inplace
        Subset ``adata`` (True) or return the mask and the numbers (False).
    copy
        Return a filtered copy and leave ``adata`` unchanged.

    Returns
    -------
    With ``inplace=True``: None (or the copy), with cells subset and
    ``obs["n_counts"]`` (counts criteria) or ``obs["n_genes"]`` (genes criteria) added.
    With ``inplace=False``: ``(cell_subset, number_per_cell)``, a bool mask (True = keep)
    and the thresholded numbers for every cell.

    Raises
    ------
    InputDataError
        If the threshold removes every cell, or ``adata`` is empty.

    Notes
    -----
    A CSR/CSC ``X`` or layer is subset inside its own arrays, without a copy of the
    counts: it stays the same object, so other references to it see the filtered
    matrix. Dense matrices, and matrices sharing memory with another matrix of
    ``adata`` (as after ``adata.raw = adata``), are copied.

    Examples
    --------
    >>> import anndata as ad, numpy as np
    >>> adata = ad.AnnData(np.array([[0, 2, 3], [1, 0, 0], [4, 5, 6]], dtype=np.float32))
    >>> filter_cells(adata, min_genes=2)
    >>> adata.obs["n_genes"].tolist()
    [2, 3]
    """
    _check_flags("filter_cells", inplace, copy)
    criteria = {
        "min_counts": min_counts,
        "min_genes": min_genes,
        "max_counts": max_counts,
        "max_genes": max_genes,
    }
    mask, numbers, key = _filter_mask(adata, 1, criteria, "filter_cells", "cells", "genes")
    if not inplace:
        return mask, numbers
    if copy:
        out = adata[mask].copy()
        out.obs[key] = numbers[mask]
        return out
    _subset(adata, mask, 0)
    adata.obs[key] = numbers[mask]
    return None


@overload
def filter_genes(
    adata: AnnData,
    *,
    min_counts: float | None = ...,
    min_cells: int | None = ...,
    max_counts: float | None = ...,
    max_cells: int | None = ...,
    inplace: Literal[True] = ...,
    copy: bool = ...,
) -> AnnData | None: ...
@overload
def filter_genes(
    adata: AnnData,
    *,
    min_counts: float | None = ...,
    min_cells: int | None = ...,
    max_counts: float | None = ...,
    max_cells: int | None = ...,
    inplace: Literal[False],
    copy: bool = ...,
) -> tuple[np.ndarray, np.ndarray]: ...


@validated(FilterGenesParams)
def filter_genes(
    adata: AnnData,
    *,
    min_counts: float | None = None,
    min_cells: int | None = None,
    max_counts: float | None = None,
    max_cells: int | None = None,
    inplace: bool = True,
    copy: bool = False,
) -> AnnData | tuple[np.ndarray, np.ndarray] | None:
    """Keep the genes that pass one threshold on counts or cells expressing them.

    Give exactly one of ``min_counts``, ``min_cells``, ``max_counts``, ``max_cells``;
    call again for another criterion. A cell expresses a gene when its count is > 0.

    Parameters
    ----------
    adata
        Cells × genes counts in ``X``.
    min_counts, min_cells, max_counts, max_cells
        The threshold (inclusive) on total counts or on cells expressing each gene.
    inplace
        Subset ``adata`` (True) or return the mask and the numbers (False).
    copy
        Return a filtered copy and leave ``adata`` unchanged.

    Returns
    -------
    With ``inplace=True``: None (or the copy), with genes subset and
    ``var["n_counts"]`` (counts criteria) or ``var["n_cells"]`` (cells criteria) added.
    With ``inplace=False``: ``(gene_subset, number_per_gene)``, a bool mask (True = keep)
    and the thresholded numbers for every gene.

    Raises
    ------
    InputDataError
        If the threshold removes every gene, or ``adata`` is empty.

    Notes
    -----
    A CSR/CSC ``X`` or layer is subset inside its own arrays, without a copy of the
    counts: it stays the same object, so other references to it see the filtered
    matrix. Dense matrices, and matrices sharing memory with another matrix of
    ``adata`` (as after ``adata.raw = adata``), are copied.

    Examples
    --------
    >>> import anndata as ad, numpy as np
    >>> adata = ad.AnnData(np.array([[0, 2, 3], [1, 0, 0], [4, 5, 6]], dtype=np.float32))
    >>> filter_genes(adata, min_counts=6)
    >>> adata.var["n_counts"].tolist()
    [7.0, 9.0]
    """
    _check_flags("filter_genes", inplace, copy)
    criteria = {
        "min_counts": min_counts,
        "min_cells": min_cells,
        "max_counts": max_counts,
        "max_cells": max_cells,
    }
    mask, numbers, key = _filter_mask(adata, 0, criteria, "filter_genes", "genes", "cells")
    if not inplace:
        return mask, numbers
    if copy:
        out = adata[:, mask].copy()
        out.var[key] = numbers[mask]
        return out
    _subset(adata, mask, 1)
    adata.var[key] = numbers[mask]
    return None
