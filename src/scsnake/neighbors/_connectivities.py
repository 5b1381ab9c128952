"""Connectivities from kNN distances: UMAP's fuzzy simplicial set, scanpy's Gaussian kernel
and the Jaccard index of the neighbourhoods (PhenoGraph's, as scanpy 1.12 computes it).

:func:`umap_connectivities` reproduces ``umap.umap_.fuzzy_simplicial_set`` (with
``set_op_mix_ratio=1``, ``local_connectivity=1``, as scanpy calls it) in cached numba
kernels with the same float32 arithmetic. umap-learn compiles its kernels in every
new process (they are not cached) and takes seconds to import, ~12 s per workflow job
here; the cached kernels take milliseconds.
"""

from __future__ import annotations

import numpy as np
from numba.types import float32
from scipy import sparse

from scsnake._numba import njit, prange

__all__ = [
    "gauss_connectivities",
    "gauss_connectivities_dense",
    "jaccard_connectivities",
    "umap_connectivities",
]

_SMOOTH_K_TOLERANCE = 1e-5
_MIN_K_DIST_SCALE = 1e-3
_FLOAT32_MAX = np.finfo(np.float32).max


@njit(
    parallel=True,
    locals={"psum": float32, "lo": float32, "mid": float32, "hi": float32},
)
def _smooth_knn_dist(distances, k, n_iter, local_connectivity):
    """umap's ``smooth_knn_dist`` (bandwidth 1): per-cell ``sigma`` and ``rho``, float32."""
    target = np.log2(k)
    n_obs = distances.shape[0]
    rho = np.zeros(n_obs, dtype=np.float32)
    result = np.zeros(n_obs, dtype=np.float32)
    mean_distances = np.mean(distances)
    for i in prange(n_obs):
        lo = 0.0
        hi = _FLOAT32_MAX
        mid = 1.0
        ith_distances = distances[i]
        non_zero_dists = ith_distances[ith_distances > 0.0]
        if non_zero_dists.shape[0] >= local_connectivity:
            index = int(np.floor(local_connectivity))
            interpolation = local_connectivity - index
            if index > 0:
                rho[i] = non_zero_dists[index - 1]
                if interpolation > _SMOOTH_K_TOLERANCE:
                    rho[i] += interpolation * (non_zero_dists[index] - non_zero_dists[index - 1])
            else:
                rho[i] = interpolation * non_zero_dists[0]
        elif non_zero_dists.shape[0] > 0:
            rho[i] = np.max(non_zero_dists)
        for _ in range(n_iter):
            psum = 0.0
            for j in range(1, distances.shape[1]):
                d = distances[i, j] - rho[i]
                if d > 0:
                    psum += np.exp(-(d / mid))
                else:
                    psum += 1.0
            if np.fabs(psum - target) < _SMOOTH_K_TOLERANCE:
                break
            if psum > target:
                hi = mid
                mid = (lo + hi) / 2.0
            else:
                lo = mid
                if hi >= _FLOAT32_MAX:
                    mid *= 2
                else:
                    mid = (lo + hi) / 2.0
        result[i] = mid
        if rho[i] > 0.0:
            mean_ith_distances = np.mean(ith_distances)
            if result[i] < _MIN_K_DIST_SCALE * mean_ith_distances:
                result[i] = _MIN_K_DIST_SCALE * mean_ith_distances
        elif result[i] < _MIN_K_DIST_SCALE * mean_distances:
            result[i] = _MIN_K_DIST_SCALE * mean_distances
    return result, rho


@njit(parallel=True, locals={"val": float32})
def _membership_strengths(knn_indices, knn_dists, sigmas, rhos):
    """umap's ``compute_membership_strengths``: one float32 weight per kNN edge (self: 0)."""
    n_obs, n_neighbors = knn_indices.shape
    vals = np.zeros(knn_indices.size, dtype=np.float32)
    for i in prange(n_obs):
        for j in range(n_neighbors):
            if knn_indices[i, j] == -1 or knn_indices[i, j] == i:
                val = 0.0
            elif knn_dists[i, j] - rhos[i] <= 0.0 or sigmas[i] == 0.0:
                val = 1.0
            else:
                val = np.exp(-((knn_dists[i, j] - rhos[i]) / (sigmas[i])))
            vals[i * n_neighbors + j] = val
    return vals


def umap_connectivities(knn_indices: np.ndarray, knn_dists: np.ndarray, *, n_obs: int) -> sparse.csr_matrix:
    """UMAP connectivities: the fuzzy union ``A + Aᵀ − A∘Aᵀ`` of the cells' fuzzy sets (float32 CSR).

    Equals ``umap.umap_.fuzzy_simplicial_set(..., set_op_mix_ratio=1, local_connectivity=1)``
    on the same ``knn_indices`` / ``knn_dists`` (the self column included, as scanpy passes it).
    """
    n_neighbors = knn_indices.shape[1]
    dists = np.ascontiguousarray(knn_dists, dtype=np.float32)
    indices = np.ascontiguousarray(knn_indices)
    sigmas, rhos = _smooth_knn_dist(dists, float(n_neighbors), 64, 1.0)
    vals = _membership_strengths(indices, dists, sigmas, rhos)
    rows = np.repeat(np.arange(n_obs, dtype=np.int64), n_neighbors)
    keep = indices.ravel() != -1
    fuzzy = sparse.coo_matrix((vals[keep], (rows[keep], indices.ravel()[keep])), shape=(n_obs, n_obs))
    fuzzy.eliminate_zeros()
    transpose = fuzzy.transpose()
    # same float32 operations, in the same order, as umap-learn (set_op_mix_ratio=1)
    result = fuzzy + transpose - fuzzy.multiply(transpose)
    result = sparse.csr_matrix(result)
    result.eliminate_zeros()
    result.sort_indices()
    return result


def _gauss_weights(
    d_sq: np.ndarray, sigmas: np.ndarray, sigmas_sq: np.ndarray, i: np.ndarray, j: np.ndarray
) -> np.ndarray:
    num = 2 * sigmas[i] * sigmas[j]
    den = sigmas_sq[i] + sigmas_sq[j]
    return np.sqrt(num / den) * np.exp(-d_sq / den)


def gauss_connectivities(knn_indices: np.ndarray, knn_dists: np.ndarray, *, n_obs: int) -> sparse.csr_matrix:
    """Gaussian-kernel connectivities of a kNN graph (scanpy's ``gauss`` with ``knn=True``).

    With ``σ_i²`` the median squared distance to the ``n_neighbors - 1`` other
    neighbours, ``w_ij = sqrt(2 σ_i σ_j / (σ_i² + σ_j²)) · exp(−d_ij² / (σ_i² + σ_j²))``
    on the kNN edges, made symmetric by copying ``w_ij`` to ``(j, i)`` where ``i`` is
    not among ``j``'s neighbours.
    """
    others = knn_indices[:, 1:]
    d_sq = np.power(knn_dists[:, 1:], 2)
    sigmas_sq = np.median(d_sq, axis=1)
    sigmas = np.sqrt(sigmas_sq)
    rows = np.repeat(np.arange(n_obs), others.shape[1])
    cols = others.ravel()
    weights = _gauss_weights(d_sq.ravel(), sigmas, sigmas_sq, rows, cols)
    w = sparse.csr_matrix((weights, (rows, cols)), shape=(n_obs, n_obs))
    # entries (j, i) whose (i, j) is an edge but not vice versa get w_ij
    pattern = sparse.csr_matrix((np.ones(rows.size, dtype=np.int8), (rows, cols)), shape=(n_obs, n_obs))
    pattern_t = pattern.T.tocsr()
    only_in_t = pattern_t - pattern_t.multiply(pattern)
    only_in_t.eliminate_zeros()
    added = w.T.tocsr().multiply(only_in_t.astype(bool))
    result = sparse.csr_matrix(w + added)
    result.sort_indices()
    return result


def gauss_connectivities_dense(distances: np.ndarray, n_neighbors: int) -> np.ndarray:
    """Dense Gaussian-kernel connectivities (scanpy's ``gauss`` with ``knn=False``).

    ``σ_i`` is half the distance to the ``n_neighbors``-th nearest cell (self counted);
    weights below 1e-14 are set to 0.
    """
    d_sq = np.power(distances, 2)
    rows = np.arange(d_sq.shape[0])[:, None]
    nearest = np.argpartition(d_sq, n_neighbors - 1, axis=1)[:, :n_neighbors]
    nearest = nearest[rows, np.argsort(d_sq[rows, nearest])]
    sigmas_sq = d_sq[rows, nearest][:, -1] / 4
    sigmas = np.sqrt(sigmas_sq)
    num = 2 * np.multiply.outer(sigmas, sigmas)
    den = np.add.outer(sigmas_sq, sigmas_sq)
    w = np.sqrt(num / den) * np.exp(-d_sq / den)
    w[~(w > 1e-14)] = 0
    return w


@njit(parallel=True)
def _shared_neighbours(others):
    """``|N(i) ∩ N(j)|`` for every listed neighbour ``j = others[i, c]`` (rows of ``others`` are the sets)."""
    n_obs, width = others.shape
    ordered = np.empty_like(others)
    for i in prange(n_obs):
        ordered[i] = np.sort(others[i])
    shared = np.zeros(others.shape, dtype=np.int64)
    for i in prange(n_obs):
        a = ordered[i]
        for c in range(width):
            b = ordered[others[i, c]]
            p = q = count = 0
            while p < width and q < width:  # merge of two sorted rows
                if a[p] < b[q]:
                    p += 1
                elif a[p] > b[q]:
                    q += 1
                else:
                    count += 1
                    p += 1
                    q += 1
            shared[i, c] = count
    return shared


def jaccard_connectivities(knn_indices: np.ndarray, *, n_obs: int) -> sparse.csr_matrix:
    """Jaccard connectivities (PhenoGraph's weights), as scanpy 1.12's ``method="jaccard"``.

    ``N(i)`` is the cell's ``k - 1`` neighbours without itself (``knn_indices[:, 1:]``, the
    first column being the cell); each kNN edge ``(i, j)`` gets
    ``|N(i) ∩ N(j)| / (2 (k - 1) - |N(i) ∩ N(j)|)`` (the Jaccard index of two sets of
    ``k - 1``), edges without shared neighbours are dropped, and the matrix is made
    symmetric by averaging, ``(J + Jᵀ) / 2`` (float64 CSR).
    """
    others = np.ascontiguousarray(knn_indices[:, 1:], dtype=np.int64)
    width = others.shape[1]
    shared = _shared_neighbours(others).ravel()
    jaccard = shared / (2 * width - shared)
    rows = np.repeat(np.arange(n_obs), width)
    keep = jaccard != 0
    weights = sparse.csr_matrix((jaccard[keep], (rows[keep], others.ravel()[keep])), shape=(n_obs, n_obs))
    result = sparse.csr_matrix((weights + weights.T) / 2)
    result.sort_indices()
    return result
