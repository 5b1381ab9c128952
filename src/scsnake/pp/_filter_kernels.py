"""Numba kernels of the filters: counts per row / column, and subsetting a CSR matrix.

Arrays in, arrays out. A CSC matrix of ``X`` is the CSR matrix of ``X.T``, so the same
kernels serve both layouts with "major" and "minor" swapped. Rows run in parallel.
"""

from __future__ import annotations

import numpy as np

from scsnake._numba import njit, prange

#: Row chunks (per thread) whose column totals are summed at the end.
_N_CHUNKS = 8


@njit(parallel=True)
def _major_stats_csr(indptr, indices, data, positive_only):
    """Sums and numbers of expressed entries of each major row of a CSR matrix.

    An entry counts as expressed when it is > 0 (``positive_only``) or != 0.
    """
    n_major = indptr.size - 1
    sums = np.zeros(n_major)
    n_expressed = np.zeros(n_major, dtype=np.int64)
    for i in prange(n_major):
        total = 0.0
        n = 0
        for k in range(indptr[i], indptr[i + 1]):
            v = data[k]
            total += v
            if v > 0 or (v != 0 and not positive_only):
                n += 1
        sums[i] = total
        n_expressed[i] = n
    return sums, n_expressed


@njit(parallel=True)
def _minor_stats_csr(indptr, indices, data, n_minor, positive_only):
    """Sums and numbers of expressed entries of each minor column of a CSR matrix.

    Chunks of rows accumulate into their own totals (in parallel), summed at the end
    in chunk order, so the result does not depend on the number of threads.
    """
    n_major = indptr.size - 1
    sums = np.zeros((_N_CHUNKS, n_minor))
    counts = np.zeros((_N_CHUNKS, n_minor), dtype=np.int64)
    step = (n_major + _N_CHUNKS - 1) // _N_CHUNKS
    for c in prange(_N_CHUNKS):
        for i in range(c * step, min((c + 1) * step, n_major)):
            for k in range(indptr[i], indptr[i + 1]):
                v = data[k]
                j = indices[k]
                sums[c, j] += v
                if v > 0 or (v != 0 and not positive_only):
                    counts[c, j] += 1
    total = np.zeros(n_minor)
    n_expressed = np.zeros(n_minor, dtype=np.int64)
    for c in range(_N_CHUNKS):
        total += sums[c]
        n_expressed += counts[c]
    return total, n_expressed


@njit
def _axis_stats_dense(x, positive_only):
    """Row and column sums and numbers of expressed entries of a dense matrix.

    Returns ``(row_sums, row_n, col_sums, col_n)``.
    """
    n_rows, n_cols = x.shape
    row_sums = np.zeros(n_rows)
    row_n = np.zeros(n_rows, dtype=np.int64)
    col_sums = np.zeros(n_cols)
    col_n = np.zeros(n_cols, dtype=np.int64)
    for i in range(n_rows):
        total = 0.0
        n = 0
        for j in range(n_cols):
            v = x[i, j]
            if v == 0:
                continue
            total += v
            col_sums[j] += v
            if v > 0 or not positive_only:
                n += 1
                col_n[j] += 1
        row_sums[i] = total
        row_n[i] = n
    return row_sums, row_n, col_sums, col_n


@njit(parallel=True)
def _take_major_csr(indptr, indices, data, keep):
    """The rows ``keep`` (sorted indices) of a CSR matrix: ``(indptr, indices, data)``."""
    n_keep = keep.size
    new_indptr = np.zeros(n_keep + 1, dtype=indptr.dtype)
    for r in range(n_keep):
        new_indptr[r + 1] = new_indptr[r] + indptr[keep[r] + 1] - indptr[keep[r]]
    new_indices = np.empty(new_indptr[n_keep], dtype=indices.dtype)
    new_data = np.empty(new_indptr[n_keep], dtype=data.dtype)
    for r in prange(n_keep):
        src = indptr[keep[r]]
        dst = new_indptr[r]
        for m in range(new_indptr[r + 1] - dst):
            new_indices[dst + m] = indices[src + m]
            new_data[dst + m] = data[src + m]
    return new_indptr, new_indices, new_data


@njit(parallel=True)
def _take_minor_csr(indptr, indices, data, new_position):
    """Keep the columns whose ``new_position`` is >= 0, renumbered to it (order kept)."""
    n_major = indptr.size - 1
    lengths = np.zeros(n_major, dtype=np.int64)
    for i in prange(n_major):
        n = 0
        for k in range(indptr[i], indptr[i + 1]):
            if new_position[indices[k]] >= 0:
                n += 1
        lengths[i] = n
    new_indptr = np.zeros(n_major + 1, dtype=indptr.dtype)
    for i in range(n_major):
        new_indptr[i + 1] = new_indptr[i] + lengths[i]
    new_indices = np.empty(new_indptr[n_major], dtype=indices.dtype)
    new_data = np.empty(new_indptr[n_major], dtype=data.dtype)
    for i in prange(n_major):
        dst = new_indptr[i]
        for k in range(indptr[i], indptr[i + 1]):
            j = new_position[indices[k]]
            if j >= 0:
                new_indices[dst] = j
                new_data[dst] = data[k]
                dst += 1
    return new_indptr, new_indices, new_data


# --- in-place subsetting: the kept entries move to the front of the same arrays ----------
# Entries only move towards the front (destination <= source), so one sequential pass
# never overwrites an entry before it is read. Rows are not run in parallel for that reason.


@njit
def _compact_major_csr(indptr, indices, data, keep):
    """Move the rows ``keep`` (sorted) of a CSR matrix to the front of ``indices`` / ``data``.

    Overwrites ``indices`` and ``data`` in place; returns the new indptr (its last
    value is the number of entries kept, the length of the valid prefix).
    """
    n_keep = keep.size
    new_indptr = np.empty(n_keep + 1, dtype=indptr.dtype)
    new_indptr[0] = 0
    dst = 0
    for r in range(n_keep):
        start = indptr[keep[r]]
        stop = indptr[keep[r] + 1]
        if start != dst:
            for k in range(start, stop):
                indices[dst + k - start] = indices[k]
                data[dst + k - start] = data[k]
        dst += stop - start
        new_indptr[r + 1] = dst
    return new_indptr


@njit
def _compact_minor_csr(indptr, indices, data, new_position):
    """Keep the columns whose ``new_position`` is >= 0, renumbered to it, in place.

    Like :func:`_take_minor_csr`, but the kept entries move to the front of ``indices``
    and ``data`` themselves; returns the new indptr.
    """
    n_major = indptr.size - 1
    new_indptr = np.empty(n_major + 1, dtype=indptr.dtype)
    new_indptr[0] = 0
    dst = 0
    for i in range(n_major):
        for k in range(indptr[i], indptr[i + 1]):
            j = new_position[indices[k]]
            if j >= 0:
                indices[dst] = j
                data[dst] = data[k]
                dst += 1
        new_indptr[i + 1] = dst
    return new_indptr


@njit
def _narrow_front(src, dst, n):
    """Copy ``src[:n]`` into ``dst[:n]`` front to back.

    ``dst`` may be a narrower view of the same buffer (int32 over int64): each write
    lands on bytes of entries already read.
    """
    for k in range(n):
        dst[k] = src[k]
