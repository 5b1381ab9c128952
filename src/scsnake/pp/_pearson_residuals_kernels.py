"""Numba kernels of the analytic Pearson residuals (:mod:`scsnake.pp._pearson_residuals`): arrays in, arrays out."""

from __future__ import annotations

import numpy as np

from scsnake._numba import njit

__all__ = [
    "_residual_var_csc",
    "_residual_var_csr",
    "_residual_var_dense",
    "_residuals_dense",
    "_residuals_stored",
    "_residuals_zeros",
]


@njit(error_model="numpy")
def _residual(v, mu, theta, clip):
    """Clipped Pearson residual of count ``v`` with expectation ``mu`` (0/0 gives NaN)."""
    r = (v - mu) / np.sqrt(mu + mu * mu / theta)
    return min(max(r, -clip), clip)


@njit(error_model="numpy")
def _residuals_dense(x, sums_cells, sums_genes, total, theta, clip, out):
    """Residuals of a dense matrix into ``out`` (may be ``x`` itself), in ``out``'s precision."""
    n_rows, n_cols = x.shape
    for i in range(n_rows):
        for j in range(n_cols):
            mu = sums_cells[i] * sums_genes[j] / total
            out[i, j] = _residual(x[i, j], mu, theta, clip)


@njit(error_model="numpy")
def _residuals_zeros(sums_cells, sums_genes, total, theta, clip, zero, out):
    """The residual of a zero count (``zero``: 0 in the working precision) everywhere in ``out``."""
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = _residual(zero, sums_cells[i] * sums_genes[j] / total, theta, clip)


@njit(error_model="numpy")
def _residuals_stored(indptr, indices, data, sums_cells, sums_genes, total, theta, clip, out, rows_major):
    """Overwrite ``out`` at the stored entries of a CSR matrix (of ``X.T`` for CSC)."""
    for a in range(indptr.size - 1):
        for k in range(indptr[a], indptr[a + 1]):
            i, j = (a, indices[k]) if rows_major else (indices[k], a)
            mu = sums_cells[i] * sums_genes[j] / total
            out[i, j] = _residual(data[k], mu, theta, clip)


@njit(error_model="numpy")
def _residual_var_csr(indptr, indices, data, rows, genes, sums_cells, sums_genes, total, theta, clip):
    """Variance (ddof=0) of the residuals of ``genes`` over ``rows`` of a CSR matrix.

    Column indices must be sorted. Each gene's residuals are summed in row order, twice
    (mean, then squared deviations), all in float64: scanpy's order of operations.
    """
    n_genes = genes.size
    acc = np.zeros(n_genes)
    for step in range(2):
        mean = acc / rows.size
        if step == 1:
            acc[:] = 0.0
        for i in rows:
            k, stop = indptr[i], indptr[i + 1]
            for p in range(n_genes):
                j = genes[p]
                while k < stop and indices[k] < j:
                    k += 1
                v = data[k] if k < stop and indices[k] == j else 0.0
                r = _residual(np.float64(v), sums_genes[j] * sums_cells[i] / total, theta, clip)
                acc[p] += r if step == 0 else (r - mean[p]) * (r - mean[p])
    return acc / rows.size


@njit(error_model="numpy")
def _residual_var_dense(x, rows, genes, sums_cells, sums_genes, total, theta, clip):
    """Dense version of :func:`_residual_var_csr`."""
    n_genes = genes.size
    acc = np.zeros(n_genes)
    for step in range(2):
        mean = acc / rows.size
        if step == 1:
            acc[:] = 0.0
        for i in rows:
            for p in range(n_genes):
                j = genes[p]
                r = _residual(np.float64(x[i, j]), sums_genes[j] * sums_cells[i] / total, theta, clip)
                acc[p] += r if step == 0 else (r - mean[p]) * (r - mean[p])
    return acc / rows.size


@njit(error_model="numpy")
def _residual_var_csc(
    indptr, indices, data, rows, row_pos, genes, sums_cells, sums_genes, total, theta, clip
):
    """CSC version of :func:`_residual_var_csr`: one column at a time, zeros from ``mu``.

    ``row_pos[i]`` is cell ``i``'s position in ``rows`` (-1 when not in the batch).
    """
    n = rows.size
    out = np.zeros(genes.size)
    buf = np.empty(n)
    for p in range(genes.size):
        j = genes[p]
        for q in range(n):
            buf[q] = _residual(0.0, sums_genes[j] * sums_cells[rows[q]] / total, theta, clip)
        for k in range(indptr[j], indptr[j + 1]):
            q = row_pos[indices[k]]
            if q >= 0:
                mu = sums_genes[j] * sums_cells[indices[k]] / total
                buf[q] = _residual(np.float64(data[k]), mu, theta, clip)
        total_r = 0.0
        for q in range(n):
            total_r += buf[q]
        mean = total_r / n
        ss = 0.0
        for q in range(n):
            ss += (buf[q] - mean) * (buf[q] - mean)
        out[p] = ss / n
    return out
