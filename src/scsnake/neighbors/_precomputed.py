"""A precomputed distance matrix as the kNN graph (scanpy 1.12's ``neighbors(distances=...)``).

scanpy keeps the matrix (diagonal zeroed; sparse: a CSR copy without stored zeros) as
``obsp['distances']`` and takes each cell's neighbours from it: for a dense matrix the
``n_neighbors`` smallest entries of the row (the cell itself first, at distance 0); for a
sparse one the stored entries of the row, in storage order when every row holds as many
(else the smallest), the cell itself put first and the list cut to ``n_neighbors``.
The Gaussian kernel on it weights every stored pair (dense: every pair, then only kNN
pairs are kept), with scanpy's widths. The functions here do the same steps.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse

from scsnake._matrix import check_finite, is_sparse
from scsnake.errors import InputDataError

__all__ = ["gauss_from_distances", "knn_from_distances", "prepare_distances"]


def prepare_distances(distances: Any, n_obs: int) -> Any:
    """A copy of ``distances`` with a zero diagonal: CSR without stored zeros, or a dense array."""
    if is_sparse(distances):
        d = distances.tocsr(copy=True)
        d.setdiag(0)
        d.eliminate_zeros()
    else:
        d = np.array(distances)
        if d.ndim == 2 and d.shape[0] == d.shape[1]:
            np.fill_diagonal(d, 0)
    if d.ndim != 2 or d.shape != (n_obs, n_obs):
        msg = f"distances must be a square matrix of the {n_obs} cells (n_obs × n_obs), got shape {d.shape}"
        raise InputDataError(msg)
    if d.dtype.kind not in "fiu":
        msg = f"distances must hold numbers, got dtype {d.dtype}"
        raise InputDataError(msg)
    check_finite(d, where="distances")
    return d


def _knn_dense(d: np.ndarray, n_neighbors: int) -> tuple[np.ndarray, np.ndarray]:
    rows = np.arange(d.shape[0])[:, None]
    indices = np.argpartition(d, n_neighbors - 1, axis=1)[:, :n_neighbors]
    indices = indices[rows, np.argsort(d[rows, indices])]
    return indices, d[rows, indices]


def _knn_sparse(d: sparse.csr_matrix, n_neighbors: int) -> tuple[np.ndarray, np.ndarray]:
    n_obs = d.shape[0]
    counts = np.diff(d.indptr)
    if n_obs and (counts == counts[0]).all():  # every row as long: the rows as stored
        indices = d.indices.reshape(n_obs, counts[0])
        dists = d.data.reshape(n_obs, counts[0])
    else:  # the n_neighbors - 1 smallest non-zero entries of each row after the cell itself
        indices = np.zeros((n_obs, n_neighbors), dtype=int)
        dists = np.zeros((n_obs, n_neighbors), dtype=d.dtype)
        for i in range(n_obs):
            cols, vals = d.indices[d.indptr[i] : d.indptr[i + 1]], d.data[d.indptr[i] : d.indptr[i + 1]]
            cols, vals = cols[vals != 0], vals[vals != 0]
            if cols.size > n_neighbors - 1:
                order = np.argsort(vals)[: n_neighbors - 1]
                cols, vals = cols[order], vals[order]
            if cols.size < n_neighbors - 1:
                msg = f"distances: cell {i} has {cols.size} neighbours with a distance, fewer than n_neighbors - 1 = {n_neighbors - 1}"
                raise InputDataError(msg)
            indices[i, 0] = i
            indices[i, 1:], dists[i, 1:] = cols, vals
    if not (indices[:, 0] == np.arange(n_obs)).any():  # no self column: put it first
        indices = np.hstack([np.arange(n_obs)[:, None], indices])
        dists = np.hstack([np.zeros((n_obs, 1)), dists])
    return indices[:, :n_neighbors], dists[:, :n_neighbors]


def knn_from_distances(d: Any, n_neighbors: int) -> tuple[np.ndarray, np.ndarray]:
    """Neighbour indices and distances (the cell itself first) as scanpy reads them from ``d``."""
    return _knn_sparse(d, n_neighbors) if is_sparse(d) else _knn_dense(d, n_neighbors)


def gauss_from_distances(d: Any, n_neighbors: int) -> Any:
    """scanpy's Gaussian kernel (``knn=True``) on a precomputed matrix.

    Dense: ``σ_i² = d²(i, n_neighbors-th nearest) / 4``, weights of the kNN pairs (either
    direction) kept, a dense array. CSR: ``σ_i²`` the median ``d²`` over the neighbours,
    a weight for every stored pair, and ``w_ji = w_ij`` where ``j`` is among ``i``'s
    neighbours but not ``i`` among ``j``'s.
    """
    d_sq = d.power(2) if is_sparse(d) else np.power(d, 2)
    indices, dist_sq = knn_from_distances(d_sq, n_neighbors)
    others, dist_sq = indices[:, 1:], dist_sq[:, 1:]
    n_obs = d.shape[0]
    rows = np.repeat(np.arange(n_obs), others.shape[1])
    pattern = sparse.csr_matrix(
        (np.ones(rows.size, dtype=bool), (rows, others.ravel())), shape=(n_obs, n_obs)
    )
    if not is_sparse(d):
        sigmas_sq = dist_sq[:, -1] / 4
        sigmas = np.sqrt(sigmas_sq)
        den = np.add.outer(sigmas_sq, sigmas_sq)
        w = np.sqrt(2 * np.multiply.outer(sigmas, sigmas) / den) * np.exp(-d_sq / den)
        mask = pattern.toarray()
        return np.where(mask, w, np.where(mask.T, w.T, 0))
    sigmas_sq = np.median(dist_sq, axis=1)
    sigmas = np.sqrt(sigmas_sq)
    w = d_sq.copy()
    row_of = np.repeat(np.arange(n_obs), np.diff(d_sq.indptr))
    den = sigmas_sq[row_of] + sigmas_sq[d_sq.indices]
    w.data = np.sqrt(2 * sigmas[row_of] * sigmas[d_sq.indices] / den) * np.exp(-d_sq.data / den)
    # (j, i) gets w_ij where i lists j but j does not list i; stored values there are replaced
    one_way = (pattern.astype(np.int8) - pattern.multiply(pattern.T).astype(np.int8)).astype(bool)
    one_way.eliminate_zeros()
    copied = w.multiply(one_way).tocsr().T.tocsr()
    copied_pattern = one_way.T.tocsr().astype(w.dtype)
    kept = w - w.multiply(copied_pattern)
    result = sparse.csr_matrix(kept + copied)
    result.sort_indices()
    return result
