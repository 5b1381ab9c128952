"""Random subsets of cells (``subsample``) and of counts (``downsample_counts``).

Both reproduce scanpy's random draws exactly: ``subsample`` uses numpy's legacy
``RandomState`` (scanpy seeds the global one; a local one gives the same stream without
touching numpy's global state) and ``downsample_counts`` numba's ``np.random``, which
scanpy's kernel uses, reseeded for every cell as scanpy does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
from pydantic import Field, NonNegativeInt, WithJsonSchema, field_validator, model_validator

from scsnake._matrix import check_counts, is_sparse, view_to_actual
from scsnake._numba import njit
from scsnake._params import Seed, StageParams, validated
from scsnake._rng import as_seed
from scsnake.errors import InputDataError, ParamError

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["DownsampleCountsParams", "SubsampleParams", "downsample_counts", "subsample"]

_COUNT = {"type": "integer", "minimum": 0}
_COUNTS_SCHEMA = WithJsonSchema({"anyOf": [_COUNT, {"type": "array", "items": _COUNT}, {"type": "null"}]})


class SubsampleParams(StageParams):
    """Parameters of :func:`subsample`."""

    fraction: Annotated[float, Field(ge=0, le=1)] | None = None
    """Keep this fraction of the cells (rounded down); give this or ``n_obs``."""
    n_obs: NonNegativeInt | None = None
    """Keep this many cells; give this or ``fraction``."""
    random_state: Seed | None = 0
    """Seed of numpy's legacy generator (None means 0)."""

    @model_validator(mode="after")
    def _one_size(self) -> SubsampleParams:
        if (self.fraction is None) == (self.n_obs is None):
            msg = "give exactly one of fraction and n_obs"
            raise ValueError(msg)
        return self


class DownsampleCountsParams(StageParams):
    """Parameters of :func:`downsample_counts`."""

    counts_per_cell: Annotated[Any, _COUNTS_SCHEMA] = None
    """Cells with more counts are downsampled to this total (an int, or one per cell)."""
    total_counts: NonNegativeInt | None = None
    """If the whole matrix has more counts, downsample it to this total."""
    random_state: Seed | None = 0
    """Seed of the draws (None means 0); every cell is drawn with this seed, like scanpy."""
    replace: bool = False
    """Draw the counts with replacement."""

    @field_validator("counts_per_cell")
    @classmethod
    def _counts(cls, value: Any) -> Any:
        if value is None:
            return value
        array = np.asarray(value)
        if (
            array.ndim > 1
            or array.dtype.kind not in "iuf"
            or (array.size and (array.min() < 0 or not np.array_equal(array, np.round(array))))
        ):
            msg = "must be a non-negative integer or a 1-D sequence of them (one per cell)"
            raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _one_target(self) -> DownsampleCountsParams:
        if (self.counts_per_cell is None) == (self.total_counts is None):
            msg = "give exactly one of counts_per_cell and total_counts"
            raise ValueError(msg)
        return self


@validated(SubsampleParams)
def subsample(
    adata: AnnData,
    fraction: float | None = None,
    *,
    n_obs: int | None = None,
    random_state: int | None = 0,
    copy: bool = False,
) -> AnnData | None:
    """Keep a random subset of the cells, drawn without replacement.

    The cells chosen (and their order, which is the order of the draws) equal scanpy's
    for the same seed.

    Parameters
    ----------
    adata
        Cells × genes data.
    fraction
        Keep ``int(fraction * n_obs)`` cells.
    n_obs
        Keep this many cells.
    random_state
        Seed of numpy's legacy ``RandomState`` (None means 0).
    copy
        Return the subset as a new object and leave ``adata`` unchanged.

    Returns
    -------
    None (or the copy), with ``adata`` subset to the drawn cells, in the order drawn.

    Examples
    --------
    >>> import anndata as ad, numpy as np
    >>> adata = ad.AnnData(np.arange(20, dtype=np.float32).reshape(10, 2))
    >>> subsample(adata, n_obs=3)
    >>> adata.obs_names.tolist()
    ['2', '8', '4']
    """
    total = adata.n_obs
    n = int(fraction * total) if fraction is not None else int(n_obs)  # type: ignore[arg-type]
    if n > total:
        msg = f"subsample: n_obs={n} is more than the {total} cells; pass at most {total}"
        raise ParamError(msg)
    # scanpy seeds numpy's global legacy generator and draws from it; a local RandomState
    # with the same seed gives the same permutation
    indices = np.random.RandomState(as_seed(random_state)).choice(total, size=n, replace=False)
    if copy:
        return adata[indices].copy()
    adata._inplace_subset_obs(indices)
    return None


# --- downsample_counts ------------------------------------------------------------------


@njit
def _downsample_rows(indptr, data, targets, seed, replace, when_equal):
    """Downsample every segment ``data[indptr[i]:indptr[i+1]]`` whose sum exceeds its target
    (or equals it, with ``when_equal``), in place.

    Each segment is redrawn exactly like scanpy's ``_downsample_array``: reseed numba's
    generator, draw ``target`` of the ``total`` counts, give each draw to the entry it
    falls into.
    """
    for i in range(indptr.size - 1):
        col = data[indptr[i] : indptr[i + 1]]
        if col.size == 0:
            continue
        total_f = 0.0
        for v in col:
            total_f += v
        if total_f < targets[i] or (total_f == targets[i] and not when_equal):
            continue
        np.random.seed(seed)
        cumcounts = col.cumsum()
        col[:] = 0
        total = np.int_(cumcounts[-1])
        sample = np.random.choice(total, targets[i], replace=replace)
        sample.sort()
        geneptr = 0
        for count in sample:
            while count >= cumcounts[geneptr]:
                geneptr += 1
            col[geneptr] += 1


def _segments(x: Any) -> tuple[np.ndarray, np.ndarray]:
    """(indptr, values) of the rows of a CSR matrix or a C-contiguous dense array."""
    if is_sparse(x):
        return x.indptr, x.data
    n_obs, n_vars = x.shape
    return np.arange(n_obs + 1, dtype=np.int64) * n_vars, x.reshape(-1)


def _cell_targets(counts_per_cell: Any, n_obs: int) -> np.ndarray:
    targets = np.asarray(counts_per_cell)
    if targets.ndim == 0:
        return np.full(n_obs, int(targets), dtype=np.int64)
    if targets.size != n_obs:
        msg = f"downsample_counts: counts_per_cell has {targets.size} values but there are {n_obs} cells; give one per cell or a single int"
        raise ParamError(msg)
    return targets.astype(np.int64)


@validated(DownsampleCountsParams)
def downsample_counts(
    adata: AnnData,
    counts_per_cell: int | Any | None = None,
    total_counts: int | None = None,
    *,
    random_state: int | None = 0,
    replace: bool = False,
    copy: bool = False,
) -> AnnData | None:
    """Randomly remove counts, per cell or from the whole matrix.

    With ``counts_per_cell``, each cell with more counts is downsampled to that total;
    with ``total_counts``, the whole matrix is, if it has more. Draws equal scanpy's for
    the same seed (each cell is drawn with the same seed, as in scanpy). The matrix keeps
    its type and dtype; sparse data drop the entries that become zero.

    Parameters
    ----------
    adata
        Cells × genes raw counts (non-negative integers) in ``X``.
    counts_per_cell
        Target total per cell: an int, or one int per cell.
    total_counts
        Target total of the whole matrix.
    random_state
        Seed of the draws (None means 0).
    replace
        Draw counts with replacement.
    copy
        Work on a copy of ``adata`` and return it.

    Returns
    -------
    None (or the copy), with ``X`` the downsampled counts.

    Examples
    --------
    >>> import anndata as ad, numpy as np
    >>> adata = ad.AnnData(np.array([[5, 5, 0], [1, 0, 1]], dtype=np.float32))
    >>> downsample_counts(adata, counts_per_cell=4)
    >>> adata.X.sum(axis=1).tolist()
    [4.0, 2.0]
    """
    adata = adata.copy() if copy else adata
    view_to_actual(adata)
    x = adata.X
    if x is None:
        msg = "downsample_counts: adata.X is empty (None)"
        raise InputDataError(msg)
    check_counts(x, step="downsample_counts")
    fmt = x.format if is_sparse(x) else None
    if fmt is not None and fmt != "csr":
        x = x.tocsr()  # cells must be rows (scanpy converts too, so draws follow CSR order)
    elif fmt is None:
        x = np.ascontiguousarray(x)
    seed = as_seed(random_state)
    indptr, values = _segments(x)
    if total_counts is not None:  # the whole matrix is one segment (scanpy: its CSR data)
        whole = np.array([0, values.size], dtype=np.int64)
        _downsample_rows(whole, values, np.array([total_counts], dtype=np.int64), seed, replace, True)
    else:
        targets = _cell_targets(counts_per_cell, x.shape[0])
        _downsample_rows(indptr, values, targets, seed, replace, False)
    if fmt is not None:
        x.eliminate_zeros()
        if fmt != "csr":
            x = x.asformat(fmt)
    adata.X = x
    return adata if copy else None
