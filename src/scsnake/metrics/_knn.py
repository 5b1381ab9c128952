"""Neighbourhoods the metrics look at: kNN in a representation, or shortest paths in a stored graph.

With ``use_rep`` an obsm key, the neighbours are an exact kNN search there. With
``use_rep=None`` they are the nearest cells by shortest-path distance in the stored
``obsp`` distances graph of ``uns['neighbors']`` (made undirected), so that methods that
only change the graph (BBKNN) can be scored, as scib's graph LISI does. Both give each
cell's ``n_neighbors - 1`` nearest other cells, sorted by distance.
"""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING

import numba
import numpy as np
import pandas as pd
from scipy import sparse

from scsnake._matrix import close_matches, get_obs_column
from scsnake._numba import njit, prange
from scsnake.errors import AdjustedParamWarning, InputDataError, MissingKeyError
from scsnake.neighbors._knn import knn_exact
from scsnake.neighbors._neighbors import _prepare, choose_representation

if TYPE_CHECKING:
    from anndata import AnnData
    from numpy.typing import NDArray

__all__ = ["category_codes", "graph_distances", "neighbourhoods", "representation"]

logger = logging.getLogger(__name__)


def category_codes(adata: AnnData, key: str, *, step: str) -> tuple[NDArray[np.int64], list[str]]:
    """Integer code per cell of the obs column ``key`` (observed categories only)."""
    column = get_obs_column(adata, key, what="key")
    values = column.array if isinstance(column.dtype, pd.CategoricalDtype) else pd.Categorical(column)
    values = values.remove_unused_categories()
    if values.isna().any():
        msg = f"{step}: {int(values.isna().sum())} cell(s) have no value in obs[{key!r}] (missing value); fill or drop them"
        raise InputDataError(msg)
    return np.asarray(values.codes, dtype=np.int64), [str(c) for c in values.categories]


def representation(adata: AnnData, use_rep: str) -> NDArray[np.floating]:
    """``obsm[use_rep]`` (or ``X``) checked for NaN, dense as float64; MissingKeyError lists close keys."""
    x = _prepare(choose_representation(adata, use_rep=use_rep))
    return x if sparse.issparse(x) else np.asarray(x, dtype=np.float64)


def graph_distances(adata: AnnData, *, step: str) -> sparse.csr_matrix:
    """The distances graph of ``uns['neighbors']`` (as ``neighbors`` / ``bbknn`` store it)."""
    if "neighbors" not in adata.uns:
        msg = f"{step}: use_rep=None needs the graph of uns['neighbors']{close_matches('neighbors', adata.uns.keys())}; run neighbors or bbknn first, or pass use_rep"
        raise MissingKeyError(msg)
    key = adata.uns["neighbors"].get("distances_key", "distances")
    if key not in adata.obsp:
        msg = f"{step}: obsp[{key!r}] (distances of uns['neighbors']) not found{close_matches(key, adata.obsp.keys())}; run neighbors or bbknn first"
        raise MissingKeyError(msg)
    graph = adata.obsp[key]
    if not sparse.issparse(graph):
        msg = f"{step}: obsp[{key!r}] is a dense matrix; use_rep=None needs a kNN graph (neighbors with knn=True, or bbknn)"
        raise InputDataError(msg)
    return sparse.csr_matrix(graph)


# --- shortest paths -------------------------------------------------------------------------


@njit
def _heap_push(keys, values, size, key, value):
    i = size
    keys[i], values[i] = key, value
    while i > 0:
        parent = (i - 1) // 2
        if keys[parent] <= keys[i]:
            break
        keys[parent], keys[i] = keys[i], keys[parent]
        values[parent], values[i] = values[i], values[parent]
        i = parent
    return size + 1


@njit
def _heap_pop(keys, values, size):
    key, value = keys[0], values[0]
    size -= 1
    keys[0], values[0] = keys[size], values[size]
    i = 0
    while True:
        left, smallest = 2 * i + 1, i
        if left < size and keys[left] < keys[smallest]:
            smallest = left
        if left + 1 < size and keys[left + 1] < keys[smallest]:
            smallest = left + 1
        if smallest == i:
            break
        keys[smallest], keys[i] = keys[i], keys[smallest]
        values[smallest], values[i] = values[i], values[smallest]
        i = smallest
    return key, value, size


@njit
def _nearest_by_path_source(
    s, indptr, indices, data, out_idx, out_dist, best, seen, done, heap_keys, heap_values
):
    """Dijkstra from ``s``, stopped once ``out_idx.shape[1]`` other nodes are settled."""
    n_nearest = out_idx.shape[1]
    size = _heap_push(heap_keys, heap_values, 0, 0.0, s)
    best[s], seen[s] = 0.0, s
    count = 0
    while size > 0 and count < n_nearest:
        d, v, size = _heap_pop(heap_keys, heap_values, size)
        if done[v] == s:
            continue
        done[v] = s
        if v != s:
            out_idx[s, count], out_dist[s, count] = v, d
            count += 1
            if count == n_nearest:
                break
        for p in range(indptr[v], indptr[v + 1]):
            u = indices[p]
            nd = d + data[p]
            if done[u] != s and (seen[u] != s or nd < best[u]):
                best[u], seen[u] = nd, s
                size = _heap_push(heap_keys, heap_values, size, nd, u)


@njit(parallel=True)
def _nearest_by_path_csr(indptr, indices, data, n_nearest, n_chunks):
    """Dijkstra from every node, stopped after ``n_nearest`` other nodes are settled.

    Returns ``(knn_indices, knn_distances)`` of shape ``(n_nodes, n_nearest)``, padded
    with -1 / inf where a node's component is smaller. Sources are split into
    ``n_chunks`` chunks run in parallel, each with its own work arrays.
    """
    n = indptr.size - 1
    out_idx = np.full((n, n_nearest), -1, dtype=np.int64)
    out_dist = np.full((n, n_nearest), np.inf)
    max_degree = 0
    for v in range(n):
        max_degree = max(max_degree, indptr[v + 1] - indptr[v])
    # pushes per source: at most one per edge scanned from a settled node, plus the source
    capacity = min(indices.size, (n_nearest + 1) * max_degree) + 1
    for c in prange(n_chunks):
        best = np.full(n, np.inf)
        seen = np.full(n, -1, dtype=np.int64)  # source that last set best[v]
        done = np.full(n, -1, dtype=np.int64)  # source that settled v
        heap_keys = np.empty(capacity)
        heap_values = np.empty(capacity, dtype=np.int64)
        for s in range(c * n // n_chunks, (c + 1) * n // n_chunks):
            _nearest_by_path_source(
                s, indptr, indices, data, out_idx, out_dist, best, seen, done, heap_keys, heap_values
            )
    return out_idx, out_dist


def _undirected(graph: sparse.csr_matrix) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """CSR arrays of the graph and its transpose together (explicit zero distances kept)."""
    coo = graph.tocoo()
    rows = np.concatenate([coo.row, coo.col]).astype(np.int64)
    cols = np.concatenate([coo.col, coo.row]).astype(np.int64)
    data = np.concatenate([coo.data, coo.data]).astype(np.float64)
    if (data < 0).any() or not np.isfinite(data).all():
        msg = (
            "the distances graph has negative, NaN or infinite entries; recompute it with neighbors or bbknn"
        )
        raise InputDataError(msg)
    order = np.argsort(rows, kind="stable")
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=graph.shape[0]))]).astype(np.int64)
    return indptr, cols[order], data[order]


def neighbourhoods(
    adata: AnnData, use_rep: str | None, n_neighbors: int, *, step: str
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Each cell's ``n_neighbors - 1`` nearest other cells: ``(indices, distances)``, self excluded.

    ``n_neighbors`` counts the cell itself, as in :func:`scsnake.pp.neighbors`; more than
    ``n_obs`` is lowered to ``n_obs`` with an :class:`~scsnake.errors.AdjustedParamWarning`.
    Graph neighbourhoods may be padded with -1 / inf (cells in small components).
    """
    n_obs = adata.n_obs
    if n_obs < 2:
        msg = f"{step} needs at least 2 cells, got {n_obs}"
        raise InputDataError(msg)
    if n_neighbors > n_obs:
        msg = f"{step}: n_neighbors={n_neighbors} is more than the {n_obs} cells; using n_neighbors={n_obs}"
        warnings.warn(msg, AdjustedParamWarning, stacklevel=4)
        n_neighbors = n_obs
    if use_rep is not None:
        x = representation(adata, use_rep)
        indices, distances = knn_exact(x, n_neighbors)
        return indices[:, 1:], np.asarray(distances[:, 1:], dtype=np.float64)
    graph = graph_distances(adata, step=step)
    if graph.shape != (n_obs, n_obs):
        msg = f"{step}: the distances graph has shape {graph.shape}, expected {(n_obs, n_obs)}"
        raise InputDataError(msg)
    indptr, indices, data = _undirected(graph)
    logger.info("%s: %d nearest cells by shortest path in the distances graph", step, n_neighbors - 1)
    n_chunks = min(adata.n_obs, 4 * numba.get_num_threads())
    return _nearest_by_path_csr(indptr, indices, data, n_neighbors - 1, n_chunks)
