"""Partition-based graph abstraction (PAGA): how strongly groups of cells are connected."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from pydantic import model_validator
from scipy import sparse
from scipy.sparse.csgraph import minimum_spanning_tree

from scsnake._matrix import close_matches, get_obs_column
from scsnake._params import StageParams, validated
from scsnake.errors import InputDataError, MissingKeyError

from ._graph import neighbors_entry

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["PagaParams", "paga"]

logger = logging.getLogger(__name__)


class PagaParams(StageParams):
    """Parameters of :func:`paga`."""

    groups: str | None = None
    """Categorical ``obs`` column of the groups; None takes ``leiden`` or else ``louvain``."""
    use_rna_velocity: bool = False
    """Orient edges by RNA velocity (not supported: always False)."""
    model: Literal["v1.2", "v1.0"] = "v1.2"
    """Connectivity model: ``v1.2`` (kNN edges vs. a random null model) or ``v1.0``."""
    neighbors_key: str | None = None
    """``uns`` key of the ``neighbors`` result."""

    @model_validator(mode="after")
    def _no_velocity(self) -> PagaParams:
        if self.use_rna_velocity:
            msg = "use_rna_velocity=True (PAGA transitions from an RNA-velocity graph) is not supported; leave it False"
            raise ValueError(msg)
        return self


def _group_codes(adata: AnnData, groups: str | None) -> tuple[str, np.ndarray]:
    """The groups key and each cell's category code (strings become categorical in place)."""
    if groups is None:
        groups = next((k for k in ("leiden", "louvain") if k in adata.obs.columns), None)
        if groups is None:
            msg = (
                f"paga needs groups: neither obs['leiden'] nor obs['louvain'] exists{close_matches('leiden', adata.obs.columns)}; "
                "run leiden first or pass groups='an_obs_column'"
            )
            raise MissingKeyError(msg)
    column = get_obs_column(adata, groups, what="groups")
    if not isinstance(column.dtype, pd.CategoricalDtype):
        if not (pd.api.types.is_string_dtype(column) or pd.api.types.is_object_dtype(column)):
            msg = f"groups: obs[{groups!r}] must be categorical (or strings), got dtype {column.dtype}"
            raise InputDataError(msg)
        adata.obs[groups] = pd.Categorical(column)  # as scanpy's sanitize_anndata does
        column = adata.obs[groups]
    codes = np.asarray(column.cat.codes, dtype=np.int64)
    if (codes < 0).any():
        msg = (
            f"groups: obs[{groups!r}] has {int((codes < 0).sum())} missing value(s); every cell needs a group"
        )
        raise InputDataError(msg)
    return groups, codes


def _edge_counts(graph: Any, codes: np.ndarray) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Stored edges between groups (``counts[i, j]``: from group i to j) and the group sizes."""
    n_obs = codes.size
    n_groups = int(codes.max()) + 1 if n_obs else 0
    pattern = (
        sparse.csr_matrix(graph, copy=True)
        if sparse.issparse(graph)
        else sparse.csr_matrix(np.asarray(graph))
    )
    pattern.data = np.ones(pattern.data.size)  # every stored entry is an edge, as scanpy counts
    onehot = sparse.csr_matrix((np.ones(n_obs), (np.arange(n_obs), codes)), shape=(n_obs, n_groups))
    counts = (onehot.T @ pattern @ onehot).tocsr()
    sizes = np.bincount(codes, minlength=n_groups)
    return counts, sizes


def _off_diagonal(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    coo = matrix.tocoo()
    keep = (coo.row != coo.col) & (coo.data != 0)
    return sparse.csr_matrix((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=matrix.shape)


def _with_values(structure: sparse.csr_matrix, values: np.ndarray) -> sparse.csr_matrix:
    out = structure.copy()
    out.data = values
    return out


def _tree(weights: sparse.csr_matrix, connectivities: sparse.csr_matrix) -> sparse.csr_matrix:
    """Edges of the maximum spanning tree of ``weights``, valued by ``connectivities``."""
    inverse = _with_values(weights, 1.0 / weights.data)
    mst = sparse.csr_matrix(minimum_spanning_tree(inverse))
    mst.eliminate_zeros()
    mst.sort_indices()
    rows = np.repeat(np.arange(mst.shape[0]), np.diff(mst.indptr))
    values = np.asarray(connectivities[rows, mst.indices]).ravel().astype(float) if mst.nnz else np.zeros(0)
    return _with_values(mst, values)


def _connectivities_v1_2(
    distances: Any, codes: np.ndarray
) -> tuple[sparse.csr_matrix, sparse.csr_matrix, np.ndarray]:
    """Observed / expected kNN edges between groups, capped at 1 (scanpy's model v1.2)."""
    counts, sizes = _edge_counts(distances, codes)
    n = int(sizes.sum())
    out_edges = np.asarray(counts.sum(axis=1)).ravel()  # all edges leaving each group
    between = _off_diagonal(counts)
    between = (between + between.T).tocsr()
    between.sort_indices()
    rows = np.repeat(np.arange(between.shape[0]), np.diff(between.indptr))
    cols = between.indices
    expected = (out_edges[rows] * sizes[cols] + out_edges[cols] * sizes[rows]) / (n - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = np.where(expected != 0, between.data / expected, 1.0)
    connectivities = _with_values(between, np.minimum(scaled, 1))
    return connectivities, _tree(connectivities, connectivities), sizes


def _connectivities_v1_0(
    connectivities: Any, codes: np.ndarray, n_neighbors: int
) -> tuple[sparse.csr_matrix, sparse.csr_matrix, np.ndarray]:
    """Edges between groups over ``n_neighbors · sqrt(n_i n_j)`` (scanpy's model v1.0)."""
    counts, sizes = _edge_counts(connectivities, codes)
    between = _off_diagonal(counts)
    between = ((between + between.T) / 2).tocsr()
    between.sort_indices()
    rows = np.repeat(np.arange(between.shape[0]), np.diff(between.indptr))
    geom_mean = np.sqrt(n_neighbors**2 * sizes[rows] * sizes[between.indices])
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = np.where(geom_mean != 0, between.data / geom_mean, 1.0)
    paga_conn = _with_values(between, scaled)
    return paga_conn, _tree(between, paga_conn), sizes


def _n_neighbors(entry: dict[str, Any], connectivities: Any) -> int:
    params = entry.get("params")
    if params is not None and "n_neighbors" in params:
        return int(params["n_neighbors"])
    nnz = (
        connectivities.count_nonzero()
        if sparse.issparse(connectivities)
        else np.count_nonzero(connectivities)
    )
    return int(nnz / connectivities.shape[0] / 2)


def _distances(adata: AnnData, entry: dict[str, Any], neighbors_key: str | None) -> Any:
    key = "neighbors" if neighbors_key is None else neighbors_key
    dists_key = "distances" if key == "neighbors" else entry.get("distances_key")
    if dists_key is None or dists_key not in adata.obsp:
        msg = f"obsp[{dists_key!r}] (distances of uns[{key!r}]) not found: run neighbors first (model='v1.2' needs the kNN distances)"
        raise MissingKeyError(msg)
    return adata.obsp[dists_key]


@validated(PagaParams)
def paga(
    adata: AnnData,
    groups: str | None = None,
    *,
    use_rna_velocity: bool = False,
    model: Literal["v1.2", "v1.0"] = "v1.2",
    neighbors_key: str | None = None,
    copy: bool = False,
) -> AnnData | None:
    """Abstract the neighbour graph into a graph of groups, weighted by connectivity.

    Each pair of groups gets a confidence that they are connected: with ``model="v1.2"``
    the number of kNN edges between them (from ``obsp['distances']``) over the number a
    random graph with the same edges per group would have, capped at 1; with ``"v1.0"``
    the connectivities' edges between them over ``n_neighbors · sqrt(n_i n_j)``. The tree
    is the maximum spanning tree of these confidences. Results equal scanpy's.

    Parameters
    ----------
    adata
        Cells with a neighbour graph (run ``neighbors`` first) and a grouping.
    groups
        Categorical ``obs`` column (strings are made categorical in place, as scanpy
        does); default ``leiden``, else ``louvain``.
    use_rna_velocity
        Not supported (must be False).
    model
        ``"v1.2"`` (default) or ``"v1.0"``.
    neighbors_key
        ``uns`` key of the ``neighbors`` result (default ``"neighbors"``).
    copy
        Return a changed copy instead of writing to ``adata``.

    Returns
    -------
    None, or the copy if ``copy=True``. Writes:

    ``adata.uns['paga']['connectivities']``
        Sparse ``n_groups × n_groups`` confidences (CSR, float64, symmetric).
    ``adata.uns['paga']['connectivities_tree']``
        The spanning tree's edges with their confidences (CSR, one entry per edge).
    ``adata.uns['paga']['groups']``
        The groups key.
    ``adata.uns[f'{groups}_sizes']``
        Cells per group.

    Examples
    --------
    >>> import numpy as np, anndata as ad, pandas as pd, scsnake as ss
    >>> x = np.repeat(np.eye(3, 4, dtype="float32") * 10, 20, axis=0)
    >>> adata = ad.AnnData(x + np.random.default_rng(0).normal(size=(60, 4)).astype("float32"))
    >>> adata.obs["leiden"] = pd.Categorical(np.repeat(["0", "1", "2"], 20))
    >>> ss.pp.neighbors(adata, n_neighbors=10)
    >>> ss.tl.paga(adata)
    >>> adata.uns["paga"]["connectivities"].shape, adata.uns["leiden_sizes"].tolist()
    ((3, 3), [20, 20, 20])
    """
    entry, connectivities = neighbors_entry(adata, neighbors_key)
    adata = adata.copy() if copy else adata
    groups, codes = _group_codes(adata, groups)
    if codes.size == 0:
        msg = "paga needs at least one cell"
        raise InputDataError(msg)
    if model == "v1.2":
        conn, tree, sizes = _connectivities_v1_2(_distances(adata, entry, neighbors_key), codes)
    else:
        conn, tree, sizes = _connectivities_v1_0(connectivities, codes, _n_neighbors(entry, connectivities))
    if "paga" not in adata.uns:
        adata.uns["paga"] = {}
    adata.uns["paga"]["connectivities"] = conn
    adata.uns["paga"]["connectivities_tree"] = tree
    adata.uns["paga"]["groups"] = groups
    adata.uns[f"{groups}_sizes"] = sizes
    logger.info("added uns['paga'] (%d groups of obs[%r])", sizes.size, groups)
    return adata if copy else None
