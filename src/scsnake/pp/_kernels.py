"""Numba kernels for QC, filtering, normalisation and scaling: arrays in, arrays out.

Sparse kernels take the three CSR arrays. A CSC matrix of ``X`` is the CSR matrix of
``X.T``, so the same kernels serve both layouts with "major" and "minor" swapped.
All sums are accumulated in float64, whatever the input dtype.
"""

from __future__ import annotations

import numpy as np

from scsnake._numba import njit, prange

# --- counts per row and column (filtering, normalisation) -------------------------------


@njit
def _excluded_row_sums_csr(indptr, indices, data, row_sums, max_fraction, n_minor, rows_major):
    """Row sums over the genes that never exceed ``max_fraction`` of a cell's total.

    ``rows_major`` says whether cells are the major axis (CSR of X) or the minor axis
    (CSR of X.T, i.e. CSC of X). Returns ``(sums, highly_expressed_gene_mask)``.
    """
    n_major = indptr.size - 1
    n_genes = n_minor if rows_major else n_major
    high = np.zeros(n_genes, dtype=np.bool_)
    for i in range(n_major):
        for k in range(indptr[i], indptr[i + 1]):
            row = i if rows_major else indices[k]
            gene = indices[k] if rows_major else i
            if data[k] > max_fraction * row_sums[row]:
                high[gene] = True
    sums = np.zeros(row_sums.size)
    for i in range(n_major):
        for k in range(indptr[i], indptr[i + 1]):
            row = i if rows_major else indices[k]
            gene = indices[k] if rows_major else i
            if not high[gene]:
                sums[row] += data[k]
    return sums, high


@njit
def _excluded_row_sums_dense(x, row_sums, max_fraction):
    """Dense version of :func:`_excluded_row_sums_csr`."""
    n_rows, n_cols = x.shape
    high = np.zeros(n_cols, dtype=np.bool_)
    for i in range(n_rows):
        limit = max_fraction * row_sums[i]
        for j in range(n_cols):
            if x[i, j] > limit:
                high[j] = True
    sums = np.zeros(n_rows)
    for i in range(n_rows):
        total = 0.0
        for j in range(n_cols):
            if not high[j]:
                total += x[i, j]
        sums[i] = total
    return sums, high


@njit
def _row_sums_csr(indptr, indices, data, n_rows, rows_major):
    """Row sums of a CSR matrix (``rows_major``) or of the CSR matrix of ``X.T`` (CSC of X)."""
    sums = np.zeros(n_rows)
    for i in range(indptr.size - 1):
        if rows_major:
            total = 0.0
            for k in range(indptr[i], indptr[i + 1]):
                total += data[k]
            sums[i] = total
        else:
            for k in range(indptr[i], indptr[i + 1]):
                sums[indices[k]] += data[k]
    return sums


@njit
def _scale_rows_csr(indptr, indices, data, divisors, rows_major):
    """Divide each stored value by its row's divisor, in place (float64 arithmetic)."""
    for i in range(indptr.size - 1):
        for k in range(indptr[i], indptr[i + 1]):
            row = i if rows_major else indices[k]
            data[k] = data[k] / divisors[row]


@njit(fastmath={"reassoc"})  # lets the sum vectorise; only the rounding order changes
def _row_sums_dense(x):
    """Row sums of a dense matrix, accumulated in float64."""
    n_rows, n_cols = x.shape
    sums = np.zeros(n_rows)
    for i in range(n_rows):
        total = 0.0
        for j in range(n_cols):
            total += x[i, j]
        sums[i] = total
    return sums


@njit
def _scale_rows_dense(x, divisors):
    """Divide each row of ``x`` by its divisor, in place (float64 arithmetic)."""
    n_rows, n_cols = x.shape
    for i in range(n_rows):
        d = divisors[i]
        for j in range(n_cols):
            x[i, j] = x[i, j] / d


# --- QC metrics -------------------------------------------------------------------------


@njit
def _top_cumsums(values, n_zeros, ns, out):
    """Cumulative sums of a row's largest values, read at the ranks ``ns`` (sorted, 1-based).

    ``values`` holds the row's nonzero entries, ``n_zeros`` how many zeros it has; in
    the descending order the zeros come after the positive and before the negative values.
    """
    n_max = ns[-1]
    if values.size > n_max:  # only the n_max largest can matter
        values = -np.partition(-values, n_max - 1)[:n_max]
    ordered = np.sort(values)
    hi = ordered.size - 1
    zeros_left = n_zeros
    acc = 0.0
    j = 0
    for rank in range(n_max):
        if hi >= 0 and (ordered[hi] > 0 or zeros_left == 0):
            acc += ordered[hi]
            hi -= 1
        else:
            zeros_left -= 1
        while j < ns.size and ns[j] == rank + 1:
            out[j] = acc
            j += 1


@njit
def _qc_csr(indptr, indices, data, n_vars, qc_masks, ns):
    """Every per-cell and per-gene QC sum in one pass over a CSR matrix.

    ``qc_masks`` is ``(n_qc, n_vars)`` bool; ``ns`` sorted ranks (may be empty).
    Returns ``(n_genes, totals, top_cumsums, qc_totals, gene_n_cells, gene_totals)``.
    """
    n_obs = indptr.size - 1
    n_qc = qc_masks.shape[0]
    n_genes = np.zeros(n_obs, dtype=np.int64)
    totals = np.zeros(n_obs)
    top = np.zeros((n_obs, ns.size))
    qc_totals = np.zeros((n_obs, n_qc))
    gene_n = np.zeros(n_vars, dtype=np.int64)
    gene_totals = np.zeros(n_vars)
    longest = 0
    for i in range(n_obs):
        longest = max(longest, indptr[i + 1] - indptr[i])
    row = np.empty(longest)  # not n_vars: a non-canonical CSR row may repeat a column
    for i in range(n_obs):
        start, end = indptr[i], indptr[i + 1]
        total = 0.0
        n = 0
        for k in range(start, end):
            v = data[k]
            if v == 0:
                continue
            g = indices[k]
            total += v
            n += 1
            gene_n[g] += 1
            gene_totals[g] += v
            for q in range(n_qc):
                if qc_masks[q, g]:
                    qc_totals[i, q] += v
        totals[i] = total
        n_genes[i] = n
        if ns.size > 0:
            m = 0
            for k in range(start, end):
                if data[k] != 0:
                    row[m] = data[k]
                    m += 1
            _top_cumsums(row[:m], n_vars - n, ns, top[i])
    return n_genes, totals, top, qc_totals, gene_n, gene_totals


@njit
def _qc_dense(x, qc_masks, ns):
    """Dense version of :func:`_qc_csr`."""
    n_obs, n_vars = x.shape
    n_qc = qc_masks.shape[0]
    n_genes = np.zeros(n_obs, dtype=np.int64)
    totals = np.zeros(n_obs)
    top = np.zeros((n_obs, ns.size))
    qc_totals = np.zeros((n_obs, n_qc))
    gene_n = np.zeros(n_vars, dtype=np.int64)
    gene_totals = np.zeros(n_vars)
    row = np.empty(n_vars)
    for i in range(n_obs):
        total = 0.0
        n = 0
        for g in range(n_vars):
            v = x[i, g]
            if v == 0:
                continue
            row[n] = v
            total += v
            n += 1
            gene_n[g] += 1
            gene_totals[g] += v
            for q in range(n_qc):
                if qc_masks[q, g]:
                    qc_totals[i, q] += v
        totals[i] = total
        n_genes[i] = n
        if ns.size > 0:
            _top_cumsums(row[:n], n_vars - n, ns, top[i])
    return n_genes, totals, top, qc_totals, gene_n, gene_totals


# --- scaling ----------------------------------------------------------------------------


@njit
def _sum_sumsq_dense(x, mask):
    """Column sums and sums of squares over the rows where ``mask`` is True."""
    n_rows, n_cols = x.shape
    sums = np.zeros(n_cols)
    sumsq = np.zeros(n_cols)
    for i in range(n_rows):
        if not mask[i]:
            continue
        for j in range(n_cols):
            v = np.float64(x[i, j])
            sums[j] += v
            sumsq[j] += v * v
    return sums, sumsq


@njit
def _minor_sum_sumsq_csr(indptr, indices, data, n_minor, major_mask):
    """Per-column sums and sums of squares of a CSR matrix over masked rows."""
    sums = np.zeros(n_minor)
    sumsq = np.zeros(n_minor)
    for i in range(indptr.size - 1):
        if not major_mask[i]:
            continue
        for k in range(indptr[i], indptr[i + 1]):
            v = np.float64(data[k])
            sums[indices[k]] += v
            sumsq[indices[k]] += v * v
    return sums, sumsq


@njit
def _major_sum_sumsq_csr(indptr, indices, data, minor_mask):
    """Per-row sums and sums of squares of a CSR matrix over masked columns.

    Used on CSC input, where the genes are the major axis and cells the minor one.
    """
    n_major = indptr.size - 1
    sums = np.zeros(n_major)
    sumsq = np.zeros(n_major)
    for i in range(n_major):
        s = 0.0
        sq = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            if minor_mask[indices[k]]:
                v = np.float64(data[k])
                s += v
                sq += v * v
        sums[i] = s
        sumsq[i] = sq
    return sums, sumsq


@njit
def _clip(v, lower, upper):
    if v > upper:
        return upper
    if v < lower:
        return lower
    return v


@njit(parallel=True)
def _scale_dense(x, mean, std, mask, lower, upper):
    """``x[i] = clip((x[i] - mean) / std)`` in place for the rows where ``mask`` is True."""
    n_rows, n_cols = x.shape
    for i in prange(n_rows):
        if not mask[i]:
            continue
        for j in range(n_cols):
            x[i, j] = _clip((np.float64(x[i, j]) - mean[j]) / std[j], lower, upper)


@njit
def _scale_data_csr(indptr, indices, data, std, mask, upper, rows_major):
    """Divide stored values by their gene's ``std`` and clip above ``upper``, in place.

    Only rows (cells) where ``mask`` is True change. ``rows_major`` as in
    :func:`_excluded_row_sums_csr`.
    """
    for i in range(indptr.size - 1):
        for k in range(indptr[i], indptr[i + 1]):
            row = i if rows_major else indices[k]
            gene = indices[k] if rows_major else i
            if mask[row]:
                data[k] = min(upper, data[k] / std[gene])


@njit(parallel=True)
def _densify_scaled_csr(indptr, indices, data, mean, std, mask, lower, upper, out):
    """Fill ``out`` (float64, rows × genes) with the scaled rows of a CSR matrix.

    One pass, rows in parallel: each row is densified (duplicate entries summed) and
    scaled while it is in cache. Rows where ``mask`` is False get their original values.
    """
    n_rows, n_cols = out.shape
    for i in prange(n_rows):
        row = out[i]
        row[:] = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            row[indices[k]] += data[k]
        if mask[i]:
            for j in range(n_cols):
                row[j] = _clip((row[j] - mean[j]) / std[j], lower, upper)


@njit
def _densify_csc(indptr, indices, data, out):
    """Add the stored values of a CSC matrix into ``out`` (rows × genes, zero-filled)."""
    for j in range(indptr.size - 1):
        for k in range(indptr[j], indptr[j + 1]):
            out[indices[k], j] += data[k]
