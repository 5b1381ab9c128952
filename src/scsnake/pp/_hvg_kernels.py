"""Per-gene sums for HVG selection and PCA: numba kernels over dense, CSR and CSC matrices.

Kernels take arrays and return arrays. Every sum is accumulated in float64; the dense and
CSR moments sum a fixed number of row chunks in parallel, so results do not depend on the
number of threads. Rows are
assigned to groups (batches) by an integer code; a code below zero skips the row, so a
batch never has to be copied out of the matrix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import sparse

from scsnake._numba import njit, prange

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "FLOAT32_SQUARES_RTOL",
    "column_mean_var",
    "grouped_clipped_sums",
    "grouped_moments",
    "mean_var_from_sums",
    "squares_rtol",
]


@njit
def _square(v: float, f32: bool) -> float:
    # the float64 product of two float32 numbers is exact, so rounding it once gives the
    # float32 product numpy computes for float32 arrays
    sq = v * v
    if f32:
        sq = np.float64(np.float32(sq))
    return sq


#: Row chunks summed separately (in parallel) and then added in order: a fixed number, so
#: sums do not depend on the number of threads, and the same in every layout.
_ROW_CHUNKS = 8
#: Cap on the values held by the per-chunk partial sums (``chunks × groups × columns``).
_PARTIAL_VALUES = 1 << 22


def _n_chunks(n_rows: int, n_groups: int, n_cols: int) -> int:
    """Row chunks for one pass over a whole matrix (1 when the partial sums would be large)."""
    per_chunk = max(n_groups * n_cols, 1)
    return max(1, min(_ROW_CHUNKS, n_rows, _PARTIAL_VALUES // per_chunk))


@njit
def _partials(sums, sumsq, n_pos, n_chunks):
    """Per-chunk sums (chunks × groups × columns); one chunk adds straight into the running
    sums (blocks of a bigger matrix)."""
    n_groups, n_cols = sums.shape
    if n_chunks == 1:
        shape = (1, n_groups, n_cols)
        return sums.reshape(shape), sumsq.reshape(shape), n_pos.reshape(shape)
    shape = (n_chunks, n_groups, n_cols)
    return np.zeros(shape), np.zeros(shape), np.zeros(shape, dtype=np.int64)


@njit
def _add_partials(sums, sumsq, n_pos, part_sums, part_sumsq, part_pos):
    """Add the chunks' sums to the running sums, in chunk order (nothing for one chunk)."""
    if part_sums.shape[0] > 1:
        for t in range(part_sums.shape[0]):
            sums += part_sums[t]
            sumsq += part_sumsq[t]
            n_pos += part_pos[t]


@njit(parallel=True)
def _moments_csr(data, raw, indices, indptr, groups, sums, sumsq, n_pos, f32_squares, count_pos, n_chunks):
    n_rows = indptr.size - 1
    part_sums, part_sumsq, part_pos = _partials(sums, sumsq, n_pos, n_chunks)
    for t in prange(n_chunks):
        for r in range(n_rows * t // n_chunks, n_rows * (t + 1) // n_chunks):
            g = groups[r]
            if g < 0:
                continue
            for j in range(indptr[r], indptr[r + 1]):
                v = np.float64(data[j])
                c = indices[j]
                part_sums[t, g, c] += v
                part_sumsq[t, g, c] += _square(v, f32_squares)
                if count_pos and raw[j] > 0:
                    part_pos[t, g, c] += 1
    _add_partials(sums, sumsq, n_pos, part_sums, part_sumsq, part_pos)


@njit(parallel=True)
def _moments_csc(
    data, raw, indices, indptr, first_col, groups, sums, sumsq, n_pos, f32_squares, count_pos, n_chunks
):
    # Columns in parallel. With sorted row indices, a column's values are summed per row
    # chunk and the chunk sums added in order, exactly as the CSR and dense kernels do.
    n_rows = groups.size
    n_groups = sums.shape[0]
    for k in prange(indptr.size - 1):
        c = first_col + k
        part_sums = np.zeros(n_groups)
        part_sumsq = np.zeros(n_groups)
        chunk = 0
        for j in range(indptr[k], indptr[k + 1]):
            r = indices[j]
            g = groups[r]
            if g < 0:
                continue
            t = (n_chunks * (r + 1) - 1) // n_rows
            if t != chunk:
                for h in range(n_groups):
                    sums[h, c] += part_sums[h]
                    sumsq[h, c] += part_sumsq[h]
                    part_sums[h] = 0.0
                    part_sumsq[h] = 0.0
                chunk = t
            v = np.float64(data[j])
            part_sums[g] += v
            part_sumsq[g] += _square(v, f32_squares)
            if count_pos and raw[j] > 0:
                n_pos[g, c] += 1
        for h in range(n_groups):
            sums[h, c] += part_sums[h]
            sumsq[h, c] += part_sumsq[h]


@njit(parallel=True)
def _moments_dense(x, raw, groups, sums, sumsq, n_pos, f32_squares, count_pos, n_chunks):
    n_rows, n_cols = x.shape
    part_sums, part_sumsq, part_pos = _partials(sums, sumsq, n_pos, n_chunks)
    for t in prange(n_chunks):
        for r in range(n_rows * t // n_chunks, n_rows * (t + 1) // n_chunks):
            g = groups[r]
            if g < 0:
                continue
            for c in range(n_cols):
                v = np.float64(x[r, c])
                part_sums[t, g, c] += v
                part_sumsq[t, g, c] += _square(v, f32_squares)
                if count_pos and raw[r, c] > 0:
                    part_pos[t, g, c] += 1
    _add_partials(sums, sumsq, n_pos, part_sums, part_sumsq, part_pos)


@njit
def _clipped_sums_csr(data, indices, indptr, groups, clip):
    n_groups, n_cols = clip.shape
    sums = np.zeros((n_groups, n_cols))
    sumsq = np.zeros((n_groups, n_cols))
    for r in range(indptr.size - 1):
        g = groups[r]
        if g < 0:
            continue
        for j in range(indptr[r], indptr[r + 1]):
            c = indices[j]
            v = min(np.float64(data[j]), clip[g, c])
            sums[g, c] += v
            sumsq[g, c] += v * v
    return sums, sumsq


@njit
def _clipped_sums_csc(data, indices, indptr, groups, clip):
    n_groups, n_cols = clip.shape
    sums = np.zeros((n_groups, n_cols))
    sumsq = np.zeros((n_groups, n_cols))
    for c in range(n_cols):
        for j in range(indptr[c], indptr[c + 1]):
            g = groups[indices[j]]
            if g < 0:
                continue
            v = min(np.float64(data[j]), clip[g, c])
            sums[g, c] += v
            sumsq[g, c] += v * v
    return sums, sumsq


@njit
def _clipped_sums_dense(x, groups, clip):
    n_groups, n_cols = clip.shape
    sums = np.zeros((n_groups, n_cols))
    sumsq = np.zeros((n_groups, n_cols))
    for r in range(x.shape[0]):
        g = groups[r]
        if g < 0:
            continue
        for c in range(n_cols):
            v = min(np.float64(x[r, c]), clip[g, c])
            sums[g, c] += v
            sumsq[g, c] += v * v
    return sums, sumsq


def _groups_or_all(x: Any, groups: NDArray[np.integer] | None) -> tuple[NDArray[np.int64], int]:
    if groups is None:
        return np.zeros(x.shape[0], dtype=np.int64), 1
    groups = np.asarray(groups, dtype=np.int64)
    return groups, int(groups.max(initial=-1)) + 1


def _as_supported(x: Any) -> Any:
    """CSR/CSC stay as they are, other sparse formats become CSR, anything else an ndarray."""
    if sparse.issparse(x):
        return x if x.format in ("csr", "csc") else x.tocsr()
    return np.asarray(x)


def _expm1(values: NDArray[Any], scale: float) -> NDArray[Any]:
    """``expm1(values * scale)`` in the values' float type, computed by numpy as scanpy does."""
    if scale != 1.0:
        values = np.multiply(values, scale, dtype=np.float64).astype(values.dtype, copy=False)
    return np.expm1(values)


def _block_size(n: int, per_item: float) -> int:
    """Rows (or columns) per block so a block holds about ``_BLOCK_VALUES`` values."""
    return max(1, min(n, int(_BLOCK_VALUES / max(per_item, 1.0))))


#: Values transformed at a time by ``expm1`` (bounds the temporary copy).
_BLOCK_VALUES = 1 << 22


def grouped_moments(
    x: Any,
    groups: NDArray[np.integer] | None = None,
    *,
    expm1: bool = False,
    scale: float = 1.0,
    float32_rounding: bool | None = None,
    count_positive: bool = True,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
    """Per group and column: sum, sum of squares and number of positive values.

    With ``expm1`` the values summed are ``expm1(x * scale)`` (the positive count is of
    ``x``), transformed by numpy a block at a time so the results equal scanpy's, which
    transforms a copy of the whole matrix. ``float32_rounding`` (default: for float32
    data) squares in float32 where scanpy's numpy code does, dense and CSR data (scanpy
    squares CSC data in float64). Returns three ``(n_groups, n_cols)`` arrays;
    ``groups=None`` is one group of all rows. ``count_positive=False`` skips the positive
    counts (returned as zeros), which saves a scatter per value.
    """
    x = _as_supported(x)
    codes, n_groups = _groups_or_all(x, groups)
    n_rows, n_cols = x.shape
    f32 = x.dtype == np.float32 if float32_rounding is None else float32_rounding
    sums = np.zeros((n_groups, n_cols))
    sumsq = np.zeros((n_groups, n_cols))
    n_pos = np.zeros((n_groups, n_cols), dtype=np.int64)
    # blocked (expm1) passes add straight into the running sums, one chunk per block
    chunks = 1 if expm1 else _n_chunks(n_rows, n_groups, n_cols)

    def values(raw: NDArray[Any]) -> NDArray[Any]:
        return _expm1(raw, scale) if expm1 else raw

    if sparse.issparse(x):
        csr = x.format == "csr"
        n_major = n_rows if csr else n_cols
        step = _block_size(n_major, x.nnz / max(n_major, 1)) if expm1 else max(n_major, 1)
        for start in range(0, n_major, step):
            stop = min(start + step, n_major)
            lo, hi = x.indptr[start], x.indptr[stop]
            raw = x.data[lo:hi]
            indptr = x.indptr[start : stop + 1] - lo
            if csr:
                _moments_csr(
                    values(raw),
                    raw,
                    x.indices[lo:hi],
                    indptr,
                    codes[start:stop],
                    sums,
                    sumsq,
                    n_pos,
                    f32,
                    count_positive,
                    chunks,
                )
            else:
                _moments_csc(
                    values(raw),
                    raw,
                    x.indices[lo:hi],
                    indptr,
                    start,
                    codes,
                    sums,
                    sumsq,
                    n_pos,
                    False,
                    count_positive,
                    chunks,
                )
        return sums, sumsq, n_pos
    step = _block_size(n_rows, n_cols) if expm1 else max(n_rows, 1)
    for start in range(0, n_rows, step):
        raw = x[start : start + step]
        _moments_dense(
            values(raw), raw, codes[start : start + step], sums, sumsq, n_pos, f32, count_positive, chunks
        )
    return sums, sumsq, n_pos


def grouped_clipped_sums(
    x: Any, groups: NDArray[np.integer] | None, clip: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per group and column: sum and sum of squares of ``min(x, clip[group, column])``."""
    x = _as_supported(x)
    codes, _ = _groups_or_all(x, groups)
    clip = np.ascontiguousarray(clip, dtype=np.float64)
    if sparse.issparse(x) and x.format == "csr":
        return _clipped_sums_csr(x.data, x.indices, x.indptr, codes, clip)
    if sparse.issparse(x):
        return _clipped_sums_csc(x.data, x.indices, x.indptr, codes, clip)
    return _clipped_sums_dense(x, codes, clip)


#: Relative rounding error of sums of squares of float32 data (squared in float32 for dense
#: and CSR data, in float64 for CSC, as scanpy does): a variance below this fraction of the
#: mean square is rounding noise, and is set to 0 so constant genes agree across formats.
FLOAT32_SQUARES_RTOL = 2.0**-22


def squares_rtol(x: Any) -> float:
    """The ``rtol`` of :func:`mean_var_from_sums` for sums of squares of ``x``."""
    return FLOAT32_SQUARES_RTOL if x.dtype == np.float32 else 0.0


def mean_var_from_sums(
    sums: NDArray[np.float64], sumsq: NDArray[np.float64], n: NDArray[np.integer] | int, *, rtol: float = 0.0
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Mean and unbiased variance (ddof=1, none for a single row) from sums, like scanpy.

    A variance within ``rtol`` times the mean square of 0 (rounding noise) becomes 0.
    """
    n = np.asarray(n, dtype=np.float64)
    n_col = n[..., None] if n.ndim else n
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = sums / n_col
        mean_sq = sumsq / n_col
        var = mean_sq - mean**2
        if rtol:
            var = np.where(np.abs(var) <= rtol * mean_sq, 0.0, var)
        var = np.where(n_col > 1, var * (n_col / (n_col - 1)), var)
    return mean, var


def column_mean_var(x: Any) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-column mean and variance (ddof=1) of a dense, CSR or CSC matrix, all in float64."""
    sums, sumsq, _ = grouped_moments(x, float32_rounding=False, count_positive=False)
    mean, var = mean_var_from_sums(sums[0], sumsq[0], x.shape[0])
    return mean, var
