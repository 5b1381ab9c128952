"""Batch-balanced kNN (BBKNN, Polański et al. 2020): a neighbour graph that draws from every batch.

For every cell, the ``neighbors_within_batch`` nearest cells *of each batch* are found
(exact search per batch, as bbknn's ``cKDTree``/``KDTree`` computations); merged and
sorted they form a kNN graph with ``k = n_batches × neighbors_within_batch`` neighbours,
the cell itself first. Its connectivities are UMAP's fuzzy simplicial set (the kernels of
:mod:`scsnake.neighbors`), optionally trimmed to each cell's strongest ``trim`` edges.
The result is stored like :func:`scsnake.pp.neighbors`, so ``umap``, ``leiden`` and the
other graph tools use it unchanged.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import pandas as pd
from pydantic import Field, NonNegativeInt, PositiveInt
from scipy import sparse

from scsnake._matrix import get_obs_column, view_to_actual
from scsnake._numba import njit
from scsnake._params import StageParams, validated
from scsnake.errors import InputDataError, ParamError
from scsnake.neighbors._connectivities import _membership_strengths, _smooth_knn_dist, umap_connectivities
from scsnake.neighbors._knn import _check_sparse_metric, _put_self_first, knn_to_csr
from scsnake.neighbors._neighbors import Metric, _prepare, choose_representation

if TYPE_CHECKING:
    from anndata import AnnData
    from numpy.typing import NDArray

__all__ = ["BbknnParams", "bbknn"]

logger = logging.getLogger(__name__)


class BbknnParams(StageParams):
    """Parameters of :func:`bbknn`."""

    batch_key: str = "batch"
    """obs column with the batch of each cell."""
    use_rep: str = "X_pca"
    """obsm key of the representation to search in (``"X"``: the data matrix)."""
    n_pcs: PositiveInt | None = None
    """Use the first ``n_pcs`` columns of the representation (None: all)."""
    neighbors_within_batch: PositiveInt = 3
    """Neighbours taken from each batch (the cell itself counts in its own batch)."""
    trim: NonNegativeInt | None = None
    """Keep each cell's strongest ``trim`` connectivities (None: ``10 × k``; 0: no trimming)."""
    metric: Metric = "euclidean"
    """Distance metric of the search."""
    set_op_mix_ratio: Annotated[float, Field(ge=0, le=1)] = 1.0
    """Fuzzy union (1) or intersection (0) of the cells' fuzzy neighbourhoods, or a blend."""
    local_connectivity: Annotated[float, Field(ge=0)] = 1.0
    """Nearest neighbours assumed fully connected (connectivity 1)."""
    key_added: str | None = None
    """Store under ``uns[key_added]``, ``obsp[key_added + '_distances' | '_connectivities']``."""


# --- kernels ----------------------------------------------------------------------------


@njit
def _trim_thresholds_csr(indptr, data, trim):
    """Per row: the ``trim``-th largest stored value, or 0 where a row has ≤ ``trim`` values."""
    n_rows = indptr.size - 1
    out = np.zeros(n_rows, dtype=data.dtype)
    for i in range(n_rows):
        start, stop = indptr[i], indptr[i + 1]
        if stop - start > trim:
            row = np.sort(data[start:stop])
            out[i] = row[row.size - trim]
    return out


# --- steps --------------------------------------------------------------------------------


def _batch_codes(
    adata: AnnData, batch_key: str, neighbors_within_batch: int
) -> tuple[NDArray[np.int64], list[str]]:
    """Batch code per cell and batch names; every batch needs ``neighbors_within_batch`` cells."""
    column = get_obs_column(adata, batch_key, what="batch_key")
    values = column.array if isinstance(column.dtype, pd.CategoricalDtype) else pd.Categorical(column)
    values = values.remove_unused_categories()
    if values.isna().any():
        msg = f"bbknn: {int(values.isna().sum())} cell(s) have no batch in obs[{batch_key!r}] (missing value); fill or drop them"
        raise InputDataError(msg)
    codes = np.asarray(values.codes, dtype=np.int64)
    names = [str(c) for c in values.categories]
    sizes = np.bincount(codes, minlength=len(names))
    small = [f"{n!r} ({s})" for n, s in zip(names, sizes, strict=True) if s < neighbors_within_batch]
    if small:
        msg = (
            f"bbknn: batch(es) {', '.join(small)} of obs[{batch_key!r}] have fewer cells than "
            f"neighbors_within_batch={neighbors_within_batch}; lower it or merge small batches"
        )
        raise InputDataError(msg)
    return codes, names


def batch_balanced_knn(
    x: Any,
    codes: NDArray[np.int64],
    n_batches: int,
    neighbors_within_batch: int,
    *,
    metric: str = "euclidean",
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """The ``neighbors_within_batch`` nearest cells of each batch, merged and sorted by distance.

    Returns ``(indices, distances)`` of shape ``(n_obs, n_batches × neighbors_within_batch)``,
    the cell itself first (as the kNN searches of :mod:`scsnake.neighbors` return them);
    ties keep batch order. Search is exact (scikit-learn, brute force, chunked), in float64.
    """
    from sklearn.neighbors import NearestNeighbors

    n_obs, nwb = x.shape[0], neighbors_within_batch
    if not sparse.issparse(x):
        x = np.asarray(x, dtype=np.float64)  # distances as exact as bbknn's (float64) trees
    indices = np.empty((n_obs, n_batches * nwb), dtype=np.int64)
    distances = np.empty((n_obs, n_batches * nwb), dtype=np.float64)
    for b in range(n_batches):
        members = np.flatnonzero(codes == b)
        nn = NearestNeighbors(n_neighbors=nwb, algorithm="brute", metric=metric)
        dist_b, idx_b = nn.fit(x[members]).kneighbors(x)
        indices[:, b * nwb : (b + 1) * nwb] = members[idx_b]
        distances[:, b * nwb : (b + 1) * nwb] = dist_b
    order = np.argsort(distances, axis=1, kind="stable")
    indices = np.take_along_axis(indices, order, axis=1)
    distances = np.take_along_axis(distances, order, axis=1)
    _put_self_first(indices, distances)  # only changes rows of exactly duplicated cells
    return indices, distances


def fuzzy_connectivities(
    knn_indices: NDArray[np.int64],
    knn_dists: NDArray[np.floating],
    *,
    n_obs: int,
    set_op_mix_ratio: float = 1.0,
    local_connectivity: float = 1.0,
) -> sparse.csr_matrix:
    """UMAP's fuzzy simplicial set with umap-learn's ``set_op_mix_ratio`` and ``local_connectivity``.

    ``mix · (A + Aᵀ − A∘Aᵀ) + (1 − mix) · A∘Aᵀ`` of the cells' fuzzy sets ``A``, in float32
    like umap-learn; the defaults give :func:`~scsnake.neighbors._connectivities.umap_connectivities`.
    """
    if set_op_mix_ratio == 1.0 and local_connectivity == 1.0:
        return umap_connectivities(knn_indices, knn_dists, n_obs=n_obs)
    n_neighbors = knn_indices.shape[1]
    dists = np.ascontiguousarray(knn_dists, dtype=np.float32)
    indices = np.ascontiguousarray(knn_indices)
    sigmas, rhos = _smooth_knn_dist(dists, float(n_neighbors), 64, float(local_connectivity))
    vals = _membership_strengths(indices, dists, sigmas, rhos)
    rows = np.repeat(np.arange(n_obs, dtype=np.int64), n_neighbors)
    fuzzy = sparse.coo_matrix((vals, (rows, indices.ravel())), shape=(n_obs, n_obs))
    fuzzy.eliminate_zeros()
    transpose = fuzzy.transpose()
    product = fuzzy.multiply(transpose)
    result = set_op_mix_ratio * (fuzzy + transpose - product) + (1.0 - set_op_mix_ratio) * product
    result = sparse.csr_matrix(result, dtype=np.float32)
    result.eliminate_zeros()
    result.sort_indices()
    return result


def trim_connectivities(connectivities: sparse.csr_matrix, trim: int) -> sparse.csr_matrix:
    """Keep an edge only if it is among the ``trim`` strongest of both its cells (bbknn's ``trimming``).

    Each cell's threshold is its ``trim``-th largest connectivity (0 when it has fewer
    edges); edge ``(i, j)`` survives if it reaches the thresholds of ``i`` and ``j``, so a
    symmetric matrix stays symmetric.
    """
    conn = sparse.csr_matrix(connectivities)
    thresholds = _trim_thresholds_csr(conn.indptr, conn.data, trim)
    rows = np.repeat(np.arange(conn.shape[0]), np.diff(conn.indptr))
    keep = (conn.data >= thresholds[rows]) & (conn.data >= thresholds[conn.indices])
    trimmed = sparse.csr_matrix((np.where(keep, conn.data, 0), conn.indices, conn.indptr), shape=conn.shape)
    trimmed.eliminate_zeros()
    return trimmed


# --- the stage ----------------------------------------------------------------------------


@validated(BbknnParams)
def bbknn(
    adata: AnnData,
    batch_key: str = "batch",
    *,
    use_rep: str = "X_pca",
    n_pcs: int | None = None,
    neighbors_within_batch: int = 3,
    trim: int | None = None,
    metric: str = "euclidean",
    set_op_mix_ratio: float = 1.0,
    local_connectivity: float = 1.0,
    key_added: str | None = None,
    copy: bool = False,
) -> AnnData | None:
    """Batch-balanced k-nearest-neighbour graph, in place of :func:`~scsnake.pp.neighbors`.

    Each cell's neighbours are its ``neighbors_within_batch`` nearest cells in every batch
    (exact search), so the graph connects similar cells across batches; connectivities
    are UMAP's fuzzy simplicial set of this ``k = n_batches × neighbors_within_batch``
    graph, trimmed to each cell's strongest ``trim`` edges. Like bbknn (which
    ``scanpy.external.pp.bbknn`` calls) with an exact ``computation``.

    Parameters
    ----------
    adata
        Cells with a representation in ``obsm[use_rep]``.
    batch_key
        obs column with the batch of each cell.
    use_rep
        obsm key of the representation (``"X"``: the data matrix).
    n_pcs
        Use this many leading columns of the representation (None: all).
    neighbors_within_batch
        Neighbours per batch; every batch needs at least this many cells.
    trim
        Keep each cell's strongest ``trim`` connectivities; None: ``10 × k``; 0: keep all.
    metric
        Distance metric.
    set_op_mix_ratio, local_connectivity
        UMAP's fuzzy set options: union (1) or intersection (0) of the neighbourhoods, and
        how many nearest neighbours are fully connected.
    key_added
        Store under ``uns[key_added]`` and ``obsp[f"{key_added}_distances"]`` /
        ``obsp[f"{key_added}_connectivities"]`` instead of the default keys.
    copy
        Return a changed copy instead of writing to ``adata``.

    Returns
    -------
    None, or the copy if ``copy=True``. Writes:

    ``adata.obsp['distances']`` (or ``<key_added>_distances``)
        CSR; each row holds the distances to the ``k - 1`` other neighbours (untrimmed).
    ``adata.obsp['connectivities']`` (or ``<key_added>_connectivities``)
        Symmetric CSR of edge weights, trimmed.
    ``adata.uns['neighbors']`` (or ``uns[key_added]``)
        ``connectivities_key``, ``distances_key`` and ``params`` (``n_neighbors`` = k,
        ``method='umap'``, ``metric``, ``use_rep``, ``n_pcs`` if given, and ``bbknn``:
        ``batch_key``, ``neighbors_within_batch``, ``trim``).

    Examples
    --------
    >>> import anndata as ad, numpy as np, pandas as pd, scsnake as ss
    >>> rng = np.random.default_rng(0)
    >>> adata = ad.AnnData(obs=pd.DataFrame({"batch": ["a", "b"] * 30}, index=[str(i) for i in range(60)]))
    >>> adata.obsm["X_pca"] = rng.normal(size=(60, 5))
    >>> ss.pp.bbknn(adata, neighbors_within_batch=2)
    >>> adata.uns["neighbors"]["params"]["n_neighbors"], adata.obsp["distances"].getnnz(axis=1)[:3]
    (4, array([3, 3, 3], dtype=int32))
    """
    adata = adata.copy() if copy else adata
    view_to_actual(adata)  # obsp cannot be written to a view
    if adata.n_obs < 2:
        msg = f"bbknn needs at least 2 cells, got {adata.n_obs}"
        raise InputDataError(msg)
    codes, names = _batch_codes(adata, batch_key, neighbors_within_batch)
    x = _prepare(choose_representation(adata, use_rep=use_rep, n_pcs=n_pcs))
    _check_sparse_metric(x, metric)
    n_obs, n_batches = adata.n_obs, len(names)
    k = n_batches * neighbors_within_batch
    if k < 2:
        msg = f"bbknn: {n_batches} batch × neighbors_within_batch={neighbors_within_batch} gives k={k}; the graph needs k ≥ 2"
        raise ParamError(msg)
    logger.info("bbknn: %d batches × %d neighbours = %d per cell", n_batches, neighbors_within_batch, k)
    indices, dists = batch_balanced_knn(x, codes, n_batches, neighbors_within_batch, metric=metric)
    distances = knn_to_csr(indices, dists)
    connectivities = fuzzy_connectivities(
        indices, dists, n_obs=n_obs, set_op_mix_ratio=set_op_mix_ratio, local_connectivity=local_connectivity
    )
    trim = 10 * k if trim is None else trim
    if trim > 0:
        connectivities = trim_connectivities(connectivities, trim)

    if key_added is None:
        key_added, conns_key, dists_key = "neighbors", "connectivities", "distances"
    else:
        conns_key, dists_key = f"{key_added}_connectivities", f"{key_added}_distances"
    params: dict[str, Any] = {"n_neighbors": k, "method": "umap", "metric": metric, "use_rep": use_rep}
    if n_pcs is not None:
        params["n_pcs"] = n_pcs
    params["bbknn"] = {"batch_key": batch_key, "neighbors_within_batch": neighbors_within_batch, "trim": trim}
    adata.uns[key_added] = {"connectivities_key": conns_key, "distances_key": dists_key, "params": params}
    adata.obsp[dists_key] = distances
    adata.obsp[conns_key] = connectivities
    logger.info("added obsp[%r], obsp[%r] and uns[%r]", dists_key, conns_key, key_added)
    return adata if copy else None
