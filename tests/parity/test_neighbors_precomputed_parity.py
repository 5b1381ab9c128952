"""neighbors(method="jaccard") and neighbors(distances=...) against scanpy 1.12 (new there).

Synthetic data (``make_counts(500, 100)`` normalised, log1p, 20 PCs; no duplicate cells,
so exact kNN is scanpy's): Jaccard connectivities of the exact kNN graph are identical
(bit for bit) to scanpy's. With a precomputed distance matrix, dense (all pairs) or
sparse (a kNN graph, with as many or more entries per row than ``n_neighbors - 1``, or
rows of unequal length), ``obsp['distances']``, ``obsp['connectivities']`` (their type,
dtype and every value) and ``uns['neighbors']`` are identical for umap, gauss and jaccard.
"""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pytest
from scipy import sparse
from sklearn.metrics import pairwise_distances

from factories import make_counts
from scanpy_reference import SCANPY_1_12
from scsnake.errors import ScsnakeWarning
from scsnake.neighbors import neighbors

sc = pytest.importorskip("scanpy")

pytestmark = [
    pytest.mark.parity,
    pytest.mark.skipif(not SCANPY_1_12, reason="method='jaccard' and distances= are new in scanpy 1.12"),
]

METHODS = ["umap", "gauss", "jaccard"]


@pytest.fixture(scope="module")
def small() -> ad.AnnData:
    adata = make_counts(500, 100, seed=2)
    sc.pp.normalize_total(adata)
    sc.pp.log1p(adata)
    sc.pp.pca(adata, n_comps=20)
    return ad.AnnData(obs=adata.obs[[]], obsm={"X_pca": adata.obsm["X_pca"]})


def _assert_identical(ours: object, ref: object) -> None:
    assert type(ours) is type(ref)
    assert ours.dtype == ref.dtype
    if sparse.issparse(ref):
        assert ours.nnz == ref.nnz
        ours, ref = ours.toarray(), ref.toarray()
    np.testing.assert_array_equal(ours, ref)


def _assert_same_graph(ours: ad.AnnData, ref: ad.AnnData) -> None:
    for key in ("distances", "connectivities"):
        _assert_identical(ours.obsp[key], ref.obsp[key])
    assert ours.uns["neighbors"] == ref.uns["neighbors"]


@pytest.mark.parametrize("n_neighbors", [5, 15])
def test_jaccard(small: ad.AnnData, n_neighbors: int) -> None:
    ref, ours = small.copy(), small.copy()
    sc.pp.neighbors(ref, n_neighbors=n_neighbors, method="jaccard", use_rep="X_pca", transformer="sklearn")
    neighbors(ours, n_neighbors=n_neighbors, method="jaccard", use_rep="X_pca")
    _assert_same_graph(ours, ref)
    assert (ours.obsp["connectivities"] != ours.obsp["connectivities"].T).nnz == 0


def _knn_graph(small: ad.AnnData, n_neighbors: int) -> sparse.csr_matrix:
    graph = small.copy()
    neighbors(graph, n_neighbors=n_neighbors, use_rep="X_pca")
    return graph.obsp["distances"]


def _distances(small: ad.AnnData, kind: str) -> object:
    if kind == "dense":
        return pairwise_distances(small.obsm["X_pca"])
    if kind == "knn":  # 14 entries per row, as many as n_neighbors=15 uses
        return _knn_graph(small, 15)
    if kind == "knn_longer":  # 29 entries per row: scanpy takes the first 14 as stored
        return _knn_graph(small, 30)
    # rows of unequal length (scanpy: the 14 smallest of each row)
    graph = _knn_graph(small, 30).tolil()
    for row in range(0, graph.shape[0], 7):
        graph[row, graph.rows[row][-1]] = 0
    graph = graph.tocsr()
    graph.eliminate_zeros()
    return graph


@pytest.mark.parametrize("kind", ["dense", "knn", "knn_longer", "unequal_rows"])
@pytest.mark.parametrize("method", METHODS)
def test_precomputed_distances(small: ad.AnnData, kind: str, method: str) -> None:
    distances = _distances(small, kind)
    given = distances.copy()
    ref, ours = small.copy(), small.copy()
    with warnings.catch_warnings():
        # scanpy: "Sparse matrix has no constant number of neighbors per row" (a speed note)
        warnings.filterwarnings("ignore", "Sparse matrix has no constant", RuntimeWarning)
        sc.pp.neighbors(ref, n_neighbors=15, distances=distances.copy(), method=method)
    neighbors(ours, n_neighbors=15, distances=distances, method=method)
    _assert_same_graph(ours, ref)
    _assert_identical(distances, given)  # the argument is not changed


def test_precomputed_distances_record_and_warn_like_scanpy(small: ad.AnnData) -> None:
    distances = pairwise_distances(small.obsm["X_pca"])
    ref, ours = small.copy(), small.copy()
    with pytest.warns(UserWarning, match="ignored"):
        sc.pp.neighbors(ref, distances=distances.copy(), use_rep="X_pca", metric="cosine", random_state=3)
    with pytest.warns(ScsnakeWarning, match="random_state, use_rep ignored"):
        neighbors(ours, distances=distances, use_rep="X_pca", metric="cosine", random_state=3)
    _assert_same_graph(ours, ref)
