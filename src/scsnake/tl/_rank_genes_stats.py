"""Array kernels of ``rank_genes_groups``: per-group moments, Wilcoxon rank sums, corrections.

Arrays in, arrays out, no AnnData. Cells carry a group code (``-1``: in no tested group);
row ``n_groups`` of the moment arrays collects those cells, so every column total is the
whole matrix and "rest" statistics are totals minus the group.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import sparse, special

from scsnake._numba import njit, prange

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "adjust_pvalues",
    "group_moments",
    "select_top",
    "t_test",
    "value_flags",
    "wilcoxon_rank_sums",
]

#: Stored entries per CSC chunk when a CSR matrix is ranked chunk by chunk.
_CHUNK_NNZ = 1 << 24
#: Chunks of columns (or rows) that numba threads share out; no result depends on it.
_N_CHUNKS = 64


# ----------------------------------------------------------------------------- moments


@njit
def _moments_dense(x, codes, n_groups):
    n_cells, n_genes = x.shape
    sums = np.zeros((n_groups + 1, n_genes))
    sumsq = np.zeros((n_groups + 1, n_genes))
    nnz = np.zeros((n_groups + 1, n_genes), dtype=np.int64)
    for i in range(n_cells):
        g = codes[i] if codes[i] >= 0 else n_groups
        for j in range(n_genes):
            v = np.float64(x[i, j])
            if v != 0:
                sums[g, j] += v
                sumsq[g, j] += v * v
                nnz[g, j] += 1
    return sums, sumsq, nnz


@njit
def _moments_csr(indptr, indices, data, codes, n_groups, n_genes):
    sums = np.zeros((n_groups + 1, n_genes))
    sumsq = np.zeros((n_groups + 1, n_genes))
    nnz = np.zeros((n_groups + 1, n_genes), dtype=np.int64)
    for i in range(indptr.shape[0] - 1):
        g = codes[i] if codes[i] >= 0 else n_groups
        for p in range(indptr[i], indptr[i + 1]):
            v = np.float64(data[p])
            if v != 0:
                j = indices[p]
                sums[g, j] += v
                sumsq[g, j] += v * v
                nnz[g, j] += 1
    return sums, sumsq, nnz


@njit
def _moments_csc(indptr, indices, data, codes, n_groups):
    n_genes = indptr.shape[0] - 1
    sums = np.zeros((n_groups + 1, n_genes))
    sumsq = np.zeros((n_groups + 1, n_genes))
    nnz = np.zeros((n_groups + 1, n_genes), dtype=np.int64)
    for j in range(n_genes):
        for p in range(indptr[j], indptr[j + 1]):
            v = np.float64(data[p])
            if v != 0:
                g = codes[indices[p]]
                if g < 0:
                    g = n_groups
                sums[g, j] += v
                sumsq[g, j] += v * v
                nnz[g, j] += 1
    return sums, sumsq, nnz


def group_moments(x: Any, codes: NDArray[np.int64], n_groups: int) -> tuple[NDArray, NDArray, NDArray]:
    """Per-group sums, sums of squares and non-zero counts of each gene, in one pass.

    Returns three ``(n_groups + 1, n_genes)`` arrays; the last row holds ungrouped cells.
    Values are squared and summed in float64 (as scanpy ≥ 1.12.3; scanpy 1.11 squared
    float32 data in float32), so every layout and input precision gives the same numbers.
    """
    if sparse.issparse(x) and x.format == "csr":
        return _moments_csr(x.indptr, x.indices, x.data, codes, n_groups, x.shape[1])
    if sparse.issparse(x) and x.format == "csc":
        return _moments_csc(x.indptr, x.indices, x.data, codes, n_groups)
    if sparse.issparse(x):
        return group_moments(x.tocsr(), codes, n_groups)
    return _moments_dense(np.asarray(x), codes, n_groups)


@njit
def _value_flags(values):
    """(all finite, all non-negative integers) of a flat array, stopping early."""
    counts_like = True
    for v in values:
        f = np.float64(v)
        if not np.isfinite(f):
            return False, False
        if counts_like and (f < 0 or f != np.floor(f)):
            counts_like = False
    return True, counts_like


def value_flags(x: Any) -> tuple[bool, bool]:
    """Whether ``x`` is all finite, and whether it looks like raw counts."""
    values = x.data if sparse.issparse(x) else np.ravel(np.asarray(x), order="K")
    if values.size == 0:
        return True, False
    return _value_flags(values)


# ----------------------------------------------------------------------------- ranks


@njit
def _rank_sorted(vals, cells, m, codes, n_universe, sizes, acc, seen):
    """Rank sums of each group from one column's sorted non-zero values.

    The ``n_universe - m`` absent cells are zeros and share one tied rank. Adds each
    group's rank sum to ``acc`` and returns the tie term ``sum(t**3 - t)``.
    """
    n_zero = n_universe - m
    n_neg = 0
    for k in range(m):
        if vals[k] < 0:
            n_neg += 1
    seen[:] = 0
    tie = np.float64(n_zero) ** 3 - n_zero
    k = 0
    while k < m:
        v = vals[k]
        e = k + 1
        while e < m and vals[e] == v:
            e += 1
        t = e - k
        smaller = k if v < 0 else k + n_zero
        avg = smaller + (t + 1) / 2.0
        for q in range(k, e):
            g = codes[cells[q]]
            if g >= 0:
                acc[g] += avg
                seen[g] += 1
        tie += np.float64(t) ** 3 - t
        k = e
    zero_rank = n_neg + (n_zero + 1) / 2.0
    for g in range(acc.shape[0]):
        if sizes[g] > 0:
            acc[g] += (sizes[g] - seen[g]) * zero_rank
    return tie


@njit
def _rank_column(m, codes, sizes, n_cells, targets, ref, pair_sizes, sums, ties, j, bufs):
    """Rank one gene once; store rank sums (and tie terms) of every comparison in column ``j``.

    The gene's ``m`` non-zero values and their cells are ``vals[:m]`` and ``cells[:m]`` of
    ``bufs``; the other buffers are scratch space.
    """
    vals, cells, sv, sc, fv, fc, acc, seen = bufs
    order = np.argsort(vals[:m], kind="mergesort")
    for k in range(m):
        sv[k] = vals[order[k]]
        sc[k] = cells[order[k]]
    if ref < 0:  # every group against the rest: one ranking of all cells
        acc[:] = 0.0
        ties[0, j] = _rank_sorted(sv, sc, m, codes, n_cells, sizes, acc, seen)
        for g in range(sums.shape[0]):
            sums[g, j] = acc[g]
        return
    for p in range(targets.shape[0]):  # each target against the reference: rank within the pair
        t = targets[p]
        n = 0
        for k in range(m):
            g = codes[sc[k]]
            if g in (t, ref):
                fv[n] = sv[k]
                fc[n] = sc[k]
                n += 1
        acc[:] = 0.0
        ties[p, j] = _rank_sorted(fv, fc, n, codes, sizes[t] + sizes[ref], pair_sizes[p], acc, seen)
        sums[p, j] = acc[t]


@njit
def _buffers(length, n_groups):
    """Scratch space of one chunk of columns: vals, cells, sv, sc, fv, fc (``length``), acc, seen."""
    return (
        np.empty(length, dtype=np.float64),
        np.empty(length, dtype=np.int64),
        np.empty(length, dtype=np.float64),
        np.empty(length, dtype=np.int64),
        np.empty(length, dtype=np.float64),
        np.empty(length, dtype=np.int64),
        np.zeros(n_groups, dtype=np.float64),
        np.zeros(n_groups, dtype=np.int64),
    )


@njit(parallel=True)
def _rank_sums_dense(x, codes, sizes, targets, ref, pair_sizes, sums, ties, bounds):
    """Rank sums of every column; chunks ``bounds[c]:bounds[c + 1]`` of columns run in parallel."""
    n_cells = x.shape[0]
    for c in prange(bounds.shape[0] - 1):
        bufs = _buffers(n_cells, sizes.shape[0])
        vals, cells = bufs[0], bufs[1]
        for j in range(bounds[c], bounds[c + 1]):
            m = 0
            for i in range(n_cells):
                v = x[i, j]
                if v != 0:
                    vals[m] = v
                    cells[m] = i
                    m += 1
            _rank_column(m, codes, sizes, n_cells, targets, ref, pair_sizes, sums, ties, j, bufs)


@njit(parallel=True)
def _rank_sums_csc(
    indptr, indices, data, n_cells, codes, sizes, targets, ref, pair_sizes, sums, ties, bounds
):
    """Rank sums of every column; chunks ``bounds[c]:bounds[c + 1]`` of columns run in parallel."""
    for c in prange(bounds.shape[0] - 1):
        length = 0
        for j in range(bounds[c], bounds[c + 1]):
            length = max(length, indptr[j + 1] - indptr[j])
        bufs = _buffers(length, sizes.shape[0])
        vals, cells = bufs[0], bufs[1]
        for j in range(bounds[c], bounds[c + 1]):
            m = 0
            for p in range(indptr[j], indptr[j + 1]):
                if data[p] != 0:
                    vals[m] = data[p]
                    cells[m] = indices[p]
                    m += 1
            _rank_column(m, codes, sizes, n_cells, targets, ref, pair_sizes, sums, ties, j, bufs)


def _column_chunks(n_cols: int, indptr: NDArray | None = None) -> NDArray[np.int64]:
    """Edges of at most ``_N_CHUNKS`` chunks of columns with about equal work.

    A column's work is its stored entries (``indptr``, CSC) plus one; without ``indptr``
    every column weighs the same. A column's result never depends on its chunk.
    """
    n_chunks = max(1, min(n_cols, _N_CHUNKS))
    if indptr is None:
        return np.arange(n_chunks + 1, dtype=np.int64) * n_cols // n_chunks
    work = np.asarray(indptr[1:], dtype=np.int64) - indptr[0] + np.arange(1, n_cols + 1)
    inner = np.searchsorted(work, work[-1] * np.arange(1, n_chunks) / n_chunks) if n_cols else []
    return np.concatenate(([0], inner, [n_cols])).astype(np.int64)


@njit(parallel=True)
def _csr_block_to_csc(indptr, indices, data, cursor, start, stop, n_chunks):
    """Columns ``start:stop`` of a CSR matrix (sorted indices) as CSC arrays.

    ``cursor[i]`` is row ``i``'s first unread entry; it advances, so consecutive blocks
    read every stored entry once. ``n_chunks`` chunks of rows run in parallel, each
    placing its entries after those of earlier chunks, so every column keeps row order.
    """
    n_rows = indptr.shape[0] - 1
    width = stop - start
    counts = np.zeros((n_chunks, width), dtype=np.int64)
    ends = np.empty(n_rows, dtype=np.int64)
    for t in prange(n_chunks):
        for i in range(n_rows * t // n_chunks, n_rows * (t + 1) // n_chunks):
            p = cursor[i]
            while p < indptr[i + 1] and indices[p] < stop:
                counts[t, indices[p] - start] += 1
                p += 1
            ends[i] = p
    colptr = np.zeros(width + 1, dtype=np.int64)
    for c in range(width):  # counts become each chunk's first slot in column c
        slot = colptr[c]
        for t in range(n_chunks):
            n = counts[t, c]
            counts[t, c] = slot
            slot += n
        colptr[c + 1] = slot
    rows = np.empty(colptr[width], dtype=np.int64)
    vals = np.empty(colptr[width], dtype=data.dtype)
    for t in prange(n_chunks):
        for i in range(n_rows * t // n_chunks, n_rows * (t + 1) // n_chunks):
            for p in range(cursor[i], ends[i]):
                c = indices[p] - start
                rows[counts[t, c]] = i
                vals[counts[t, c]] = data[p]
                counts[t, c] += 1
            cursor[i] = ends[i]
    return colptr, rows, vals


def wilcoxon_rank_sums(
    x: Any, codes: NDArray[np.int64], sizes: NDArray[np.int64], targets: NDArray[np.int64], ref: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Rank sums and tie terms, ranking each gene once.

    With ``ref < 0`` all cells are ranked together and ``sums[g]`` is group ``g``'s rank
    sum (``ties`` has one row). Otherwise ``sums[p]`` is ``targets[p]``'s rank sum among the
    cells of ``targets[p]`` and ``ref`` (``ties[p]`` its tie term). Genes are ranked in
    parallel on all numba threads; each gene is ranked alone, so the result does not
    depend on the number of threads.
    """
    n_cells, n_genes = x.shape
    n_groups = sizes.shape[0]
    n_rows = n_groups if ref < 0 else targets.shape[0]
    sums = np.zeros((n_rows, n_genes))
    ties = np.zeros((1 if ref < 0 else n_rows, n_genes))
    pair_sizes = np.zeros((max(targets.shape[0], 1), n_groups), dtype=np.int64)
    for p, t in enumerate(targets):
        pair_sizes[p, t] = sizes[t]
        pair_sizes[p, ref] = sizes[ref]
    args = (codes, sizes, targets, ref, pair_sizes)
    if not sparse.issparse(x):
        _rank_sums_dense(np.asarray(x), *args, sums, ties, _column_chunks(n_genes))
    elif x.format == "csc":
        bounds = _column_chunks(n_genes, x.indptr)
        _rank_sums_csc(x.indptr, x.indices, x.data, n_cells, *args, sums, ties, bounds)
    else:
        _rank_sums_csr(x, args, sums, ties)
    return sums, ties


def _rank_sums_csr(x: Any, args: tuple, sums: NDArray[np.float64], ties: NDArray[np.float64]) -> None:
    """Rank sums of a (non-CSC) sparse matrix, converting about ``_CHUNK_NNZ`` entries at a time to CSC."""
    x = x.tocsr() if x.format != "csr" else x
    if not x.has_sorted_indices:
        x = x.sorted_indices()
    n_cells, n_genes = x.shape
    cursor = x.indptr[:-1].astype(np.int64)
    n_chunks = max(1, min(n_cells, _N_CHUNKS))
    step = max(1, int(_CHUNK_NNZ * n_genes / max(x.nnz, 1)))
    for start in range(0, n_genes, step):
        stop = min(start + step, n_genes)
        colptr, rows, vals = _csr_block_to_csc(x.indptr, x.indices, x.data, cursor, start, stop, n_chunks)
        bounds = _column_chunks(stop - start, colptr)
        _rank_sums_csc(colptr, rows, vals, n_cells, *args, sums[:, start:stop], ties[:, start:stop], bounds)


# ----------------------------------------------------------------------------- tests


def t_test(
    mean1: NDArray, var1: NDArray, n1: Any, mean2: NDArray, var2: NDArray, n2: Any
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Welch's t statistic and two-sided p-value from summary statistics (as scipy).

    NaN scores (equal means, zero variances) become 0 and NaN p-values 1, like scanpy.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        # scanpy passes standard deviations to scipy, which squares them again
        vn1 = np.sqrt(var1) ** 2 / n1
        vn2 = np.sqrt(var2) ** 2 / n2
        df = (vn1 + vn2) ** 2 / (vn1**2 / (n1 - 1) + vn2**2 / (n2 - 1))
        df = np.where(np.isnan(df), 1.0, df)
        scores = (mean1 - mean2) / np.sqrt(vn1 + vn2)
        pvals = 2 * special.stdtr(df, -np.abs(scores))
    scores[np.isnan(scores)] = 0
    pvals[np.isnan(pvals)] = 1
    return scores, pvals


def adjust_pvalues(pvals: NDArray[np.float64], method: str) -> NDArray[np.float64]:
    """Benjamini-Hochberg (``fdr_bh``) or Bonferroni adjusted p-values, capped at 1."""
    n = pvals.shape[0]
    if method == "bonferroni":
        return np.minimum(pvals * n, 1.0)
    pvals = np.where(np.isnan(pvals), 1.0, pvals)
    order = np.argsort(pvals)
    ranked = pvals[order] / (np.arange(1, n + 1) / n)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    ranked[ranked > 1] = 1
    adjusted = np.empty(n)
    adjusted[order] = ranked
    return adjusted


def select_top(scores: NDArray, n_top: int) -> NDArray[np.intp]:
    """Indices of the ``n_top`` highest scores, highest first (scanpy's partition order)."""
    partition = np.argpartition(scores, -n_top)[-n_top:]
    return partition[np.argsort(scores[partition])[::-1]]
