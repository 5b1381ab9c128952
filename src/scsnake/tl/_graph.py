"""The neighbour graph stored by ``neighbors``: find it in an AnnData, turn it into an igraph."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import sparse

from scsnake._matrix import close_matches
from scsnake.errors import InputDataError, MissingKeyError, ParamError

if TYPE_CHECKING:
    import igraph
    from anndata import AnnData

__all__ = ["choose_graph", "igraph_from_adjacency", "neighbors_entry"]


def neighbors_entry(adata: AnnData, neighbors_key: str | None = None) -> tuple[dict[str, Any], Any]:
    """``(uns[neighbors_key], connectivities)`` as written by ``neighbors`` (scanpy's layout).

    ``neighbors_key=None`` or ``"neighbors"`` reads ``obsp['connectivities']``; another key
    reads ``obsp[uns[key]['connectivities_key']]``.
    """
    key = "neighbors" if neighbors_key is None else neighbors_key
    if key not in adata.uns:
        msg = f"uns[{key!r}] not found{close_matches(key, adata.uns.keys())}: run neighbors first"
        raise MissingKeyError(msg)
    entry = adata.uns[key]
    conns_key = "connectivities" if key == "neighbors" else entry.get("connectivities_key")
    if conns_key is None or conns_key not in adata.obsp:
        msg = f"obsp[{conns_key!r}] (connectivities of uns[{key!r}]) not found: run neighbors first"
        raise MissingKeyError(msg)
    return entry, adata.obsp[conns_key]


def choose_graph(adata: AnnData, obsp: str | None = None, neighbors_key: str | None = None) -> Any:
    """The adjacency to cluster: ``obsp[obsp]`` or the connectivities of ``neighbors_key``."""
    if obsp is not None and neighbors_key is not None:
        msg = f"pass obsp={obsp!r} or neighbors_key={neighbors_key!r}, not both"
        raise ParamError(msg)
    if obsp is not None:
        if obsp not in adata.obsp:
            msg = f"obsp[{obsp!r}] not found{close_matches(obsp, adata.obsp.keys())}"
            raise MissingKeyError(msg)
        return adata.obsp[obsp]
    return neighbors_entry(adata, neighbors_key)[1]


def igraph_from_adjacency(adjacency: Any, *, directed: bool = False) -> igraph.Graph:
    """An igraph with one vertex per row and one ``weight``-ed edge per nonzero entry.

    Edges come in the order of ``adjacency.nonzero()`` (row-major for CSR, as scanpy
    builds them), so clustering results match scanpy's. An undirected graph gets both
    ``(i, j)`` and ``(j, i)`` of a symmetric matrix, like scanpy.
    """
    import igraph as ig

    if adjacency.ndim != 2 or adjacency.shape[0] != adjacency.shape[1]:
        msg = f"the adjacency matrix must be square, got shape {adjacency.shape}"
        raise InputDataError(msg)
    if sparse.issparse(adjacency):
        coo = adjacency.tocoo()
        if not getattr(adjacency, "has_canonical_format", False) and _has_duplicates(coo):
            coo.sum_duplicates()
        keep = coo.data != 0
        sources, targets, weights = coo.row[keep], coo.col[keep], coo.data[keep]
    else:
        dense = np.asarray(adjacency)
        sources, targets = np.nonzero(dense)
        weights = dense[sources, targets]
    # a list of int pairs builds 2-3x faster than igraph's own numpy (memoryview) path
    edges = list(zip(np.asarray(sources).tolist(), np.asarray(targets).tolist(), strict=True))
    graph = ig.Graph(n=adjacency.shape[0], edges=edges, directed=directed)
    del edges
    graph.es["weight"] = np.asarray(weights, dtype=np.float64).tolist()
    return graph


def _has_duplicates(coo: sparse.coo_matrix) -> bool:
    """True if some (row, col) pair is stored more than once."""
    keys = coo.row.astype(np.int64) * coo.shape[1] + coo.col
    return np.unique(keys).size < keys.size
