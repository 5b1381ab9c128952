"""neighbors: hand-checked kNN and connectivities, stored keys, layouts, options, errors."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest
from scipy import sparse
from sklearn.neighbors import KNeighborsTransformer

from factories import make_counts
from scsnake.errors import AdjustedParamWarning, InputDataError, MissingKeyError, ParamError, ScsnakeWarning
from scsnake.neighbors import neighbors
from scsnake.neighbors._knn import knn_exact, knn_from_transformer

# five cells on a line, no ties: nearest neighbours are easy to read off
LINE = np.array([[0.0], [1.0], [3.0], [7.0], [12.0]], dtype=np.float32)
LINE_KNN = {0: {1: 1, 2: 3}, 1: {0: 1, 2: 2}, 2: {1: 2, 0: 3}, 3: {2: 4, 4: 5}, 4: {3: 5, 2: 9}}
FORMATS = {"dense": np.asarray, "csr": sparse.csr_matrix, "csc": sparse.csc_matrix}


def line_adata() -> ad.AnnData:
    return ad.AnnData(LINE.copy())


def as_dict(m: sparse.spmatrix) -> dict[int, dict[int, float]]:
    m = sparse.csr_matrix(m)
    return {
        i: dict(
            zip(
                m.indices[m.indptr[i] : m.indptr[i + 1]].tolist(),
                m.data[m.indptr[i] : m.indptr[i + 1]].tolist(),
                strict=True,
            )
        )
        for i in range(m.shape[0])
    }


def test_exact_knn_by_hand():
    adata = line_adata()
    neighbors(adata, n_neighbors=3)
    dist = adata.obsp["distances"]
    assert sparse.issparse(dist) and dist.format == "csr"
    assert as_dict(dist) == LINE_KNN
    # stored in distance order, nearest first
    np.testing.assert_array_equal(dist.indices.reshape(5, 2)[:, 0], [1, 0, 1, 2, 3])
    indices, distances = knn_exact(LINE, 3)
    np.testing.assert_array_equal(indices[:, 0], np.arange(5))
    np.testing.assert_array_equal(distances[:, 0], 0)


def test_umap_connectivities_by_hand():
    # with k=3 each cell's nearest neighbour gets weight 1 and its second log2(3) - 1;
    # the fuzzy union of a and b is a + b - ab
    adata = line_adata()
    neighbors(adata, n_neighbors=3)
    p = np.log2(3) - 1
    expected = np.zeros((5, 5))
    for (i, j), w in {(0, 1): 1, (0, 2): 2 * p - p * p, (1, 2): 1, (2, 3): 1, (3, 4): 1, (2, 4): p}.items():
        expected[i, j] = expected[j, i] = w
    conn = adata.obsp["connectivities"]
    assert conn.format == "csr" and conn.dtype == np.float32
    np.testing.assert_allclose(conn.toarray(), expected, atol=1e-4)


def test_gauss_connectivities_by_hand():
    adata = line_adata()
    neighbors(adata, n_neighbors=3, method="gauss")
    # sigma_i^2: median (= mean of two) of the squared distances to the other neighbours
    s2 = {0: (1 + 9) / 2, 1: (1 + 4) / 2, 2: (4 + 9) / 2, 3: (16 + 25) / 2, 4: (25 + 81) / 2}

    def w(i, j, d):
        den = s2[i] + s2[j]
        return np.sqrt(2 * np.sqrt(s2[i]) * np.sqrt(s2[j]) / den) * np.exp(-(d**2) / den)

    conn = adata.obsp["connectivities"].toarray()
    np.testing.assert_allclose(conn[0, 1], w(0, 1, 1), rtol=1e-12)
    np.testing.assert_allclose(conn[4, 2], w(4, 2, 9), rtol=1e-12)
    # (4, 2) is an edge of 4 only: copied to (2, 4); no diagonal
    assert conn[2, 4] == conn[4, 2]
    np.testing.assert_array_equal(np.diag(conn), 0)
    np.testing.assert_array_equal(conn, conn.T)


def test_jaccard_connectivities_by_hand():
    """N(i) without the cell: 0 {1, 2}, 1 {0, 2}, 2 {0, 1}, 3 {2, 4}, 4 {2, 3}; each edge
    sharing one neighbour gets 1 / (2·2 − 1); 3–2 and 4–2 share none and are dropped."""
    adata = line_adata()
    neighbors(adata, n_neighbors=3, method="jaccard")
    third = 1 / 3
    assert as_dict(adata.obsp["connectivities"]) == {
        0: {1: third, 2: third}, 1: {0: third, 2: third}, 2: {0: third, 1: third}, 3: {4: third}, 4: {3: third},
    }  # fmt: skip
    assert adata.obsp["connectivities"].dtype == np.float64
    assert adata.uns["neighbors"]["params"]["method"] == "jaccard"
    assert as_dict(adata.obsp["distances"]) == LINE_KNN


@pytest.mark.parametrize("method", ["umap", "gauss", "jaccard"])
def test_precomputed_knn_distances_give_the_searched_graph(method):
    searched = line_adata()
    neighbors(searched, n_neighbors=3, method=method)
    given = line_adata()
    knn_graph = searched.obsp["distances"].copy()
    neighbors(given, n_neighbors=3, method=method, distances=knn_graph)
    np.testing.assert_array_equal(
        given.obsp["connectivities"].toarray(), searched.obsp["connectivities"].toarray()
    )
    assert as_dict(given.obsp["distances"]) == LINE_KNN
    assert given.uns["neighbors"]["params"] == {
        "n_neighbors": 3,
        "method": method,
        "random_state": 0,
        "metric": None,
    }


def test_precomputed_dense_distances():
    d = np.abs(LINE - LINE.T)
    d[0, 0] = 5.0  # the diagonal is set to zero (in a copy)
    adata = line_adata()
    with pytest.warns(ScsnakeWarning, match="knn, use_rep ignored when distances are given"):
        neighbors(adata, n_neighbors=3, distances=d, use_rep="X", knn=False, metric="cityblock")
    assert d[0, 0] == 5.0
    stored = adata.obsp["distances"]
    assert isinstance(stored, np.ndarray) and stored[0, 0] == 0 and stored[0, 4] == 12
    searched = line_adata()
    neighbors(searched, n_neighbors=3)
    np.testing.assert_array_equal(
        adata.obsp["connectivities"].toarray(), searched.obsp["connectivities"].toarray()
    )
    assert adata.uns["neighbors"]["params"]["metric"] == "cityblock"
    assert adata.uns["neighbors"]["params"]["use_rep"] == "X"
    with pytest.raises(InputDataError, match="square matrix of the 5 cells"):
        neighbors(line_adata(), distances=np.zeros((4, 4)))
    with pytest.raises(InputDataError, match="distances contains 2 NaN"):
        neighbors(line_adata(), n_neighbors=3, distances=np.where(d == 12, np.nan, d))
    with pytest.raises(ParamError, match="n_neighbors=6 is more than the 5 cells"):
        neighbors(line_adata(), n_neighbors=6, distances=d)


def test_gauss_without_knn_is_dense():
    adata = line_adata()
    neighbors(adata, n_neighbors=3, method="gauss", knn=False)
    conn, dist = adata.obsp["connectivities"], adata.obsp["distances"]
    assert isinstance(conn, np.ndarray) and conn.shape == (5, 5)
    np.testing.assert_allclose(dist, np.abs(LINE - LINE.T), rtol=1e-6)
    np.testing.assert_allclose(np.diag(conn), 1)
    # sigma_i: half the distance to the 3rd nearest cell (self included)
    s2 = np.array([3, 2, 3, 5, 9]) ** 2 / 4
    den = s2[0] + s2[3]
    np.testing.assert_allclose(
        conn[0, 3], np.sqrt(2 * np.sqrt(s2[0] * s2[3]) / den) * np.exp(-49 / den), rtol=1e-6
    )


def test_uns_and_obsp_keys():
    adata = make_counts(60, 40)
    neighbors(adata, n_neighbors=5)
    assert adata.uns["neighbors"] == {
        "connectivities_key": "connectivities",
        "distances_key": "distances",
        "params": {"n_neighbors": 5, "method": "umap", "random_state": 0, "metric": "euclidean"},
    }
    adata.obsm["X_pca"] = np.random.default_rng(0).normal(size=(60, 10))
    neighbors(adata, 6, 4, use_rep="X_pca", metric="cosine", metric_kwds={}, key_added="pcs", method="gauss")
    assert set(adata.obsp) == {"distances", "connectivities", "pcs_distances", "pcs_connectivities"}
    assert adata.uns["pcs"] == {
        "connectivities_key": "pcs_connectivities",
        "distances_key": "pcs_distances",
        "params": {
            "n_neighbors": 6,
            "method": "gauss",
            "random_state": 0,
            "metric": "cosine",
            "use_rep": "X_pca",
            "n_pcs": 4,
        },
    }
    neighbors(adata, use_rep="X_pca", metric="minkowski", metric_kwds={"p": 3}, key_added="mink")
    assert adata.uns["mink"]["params"]["metric_kwds"] == {"p": 3}
    with pytest.raises(ParamError, match=r"metric='minkowski' does not work on a sparse representation"):
        neighbors(adata, use_rep="X", metric="minkowski")


@pytest.mark.parametrize("dtype", [np.int64, np.float32])
def test_dense_csr_csc_give_equal_graphs_by_hand(dtype):
    for fmt, to_format in FORMATS.items():
        adata = ad.AnnData(to_format((LINE * 2).astype(dtype)))
        neighbors(adata, n_neighbors=3)
        expected = {i: {j: 2 * d for j, d in row.items()} for i, row in LINE_KNN.items()}
        assert as_dict(adata.obsp["distances"]) == expected, fmt


def test_dense_csr_csc_give_equal_graphs():
    # log-normalised-like values: integer counts alone have many tied distances,
    # which dense and sparse distance code may break differently
    counts = make_counts(60, 40, fmt="dense").X
    values = np.log1p(counts * np.random.default_rng(0).uniform(0.5, 2, size=(60, 1))).astype(np.float32)
    results = []
    for to_format in FORMATS.values():
        adata = ad.AnnData(to_format(values))
        neighbors(adata, n_neighbors=8, use_rep="X")
        results.append(adata)
    for other in results[1:]:
        for key in ("distances", "connectivities"):
            np.testing.assert_allclose(other.obsp[key].toarray(), results[0].obsp[key].toarray(), rtol=1e-5)
            assert sparse.issparse(other.obsp[key])
    assert results[0].obsp["distances"].getnnz(axis=1).tolist() == [7] * 60


def test_graph_is_symmetric_without_self_loops_and_deterministic():
    adata = make_counts(80, 30)
    neighbors(adata, n_neighbors=10)
    conn = adata.obsp["connectivities"]
    assert abs(conn - conn.T).max() == 0
    assert conn.diagonal().max() == 0
    assert conn.data.min() > 0 and conn.data.max() <= 1
    again = neighbors(adata, n_neighbors=10, copy=True)
    assert (again.obsp["connectivities"] != conn).nnz == 0


def test_representation_choice():
    adata = make_counts(30, 60)  # > 50 genes: X_pca is required
    with pytest.raises(MissingKeyError, match=r"run pca first or pass use_rep='X'"):
        neighbors(adata)
    adata.obsm["X_pca"] = np.random.default_rng(1).normal(size=(30, 8))
    neighbors(adata, n_neighbors=5, n_pcs=3)
    by_hand = neighbors(ad.AnnData(adata.obsm["X_pca"][:, :3].copy()), n_neighbors=5, copy=True)
    assert (adata.obsp["distances"] != by_hand.obsp["distances"]).nnz == 0
    with pytest.raises(ParamError, match=r"n_pcs=9 but obsm\['X_pca'\] has only 8"):
        neighbors(adata, n_pcs=9)
    with pytest.raises(
        MissingKeyError, match=r"use_rep='X_umap' not found in adata.obsm \(available: X_pca\)"
    ):
        neighbors(adata, use_rep="X_umap")
    neighbors(adata, n_neighbors=5, n_pcs=0)  # n_pcs=0: X itself
    direct = neighbors(adata, n_neighbors=5, use_rep="X", copy=True)
    assert (adata.obsp["distances"] != direct.obsp["distances"]).nnz == 0


def test_small_data_uses_x_even_with_pca():
    adata = make_counts(30, 20)
    adata.obsm["X_pca"] = np.zeros((30, 5))  # would give all-zero distances
    neighbors(adata, n_neighbors=5)
    assert adata.obsp["distances"].data.max() > 0


def test_too_many_neighbours_is_adjusted():
    adata = line_adata()
    with pytest.warns(
        AdjustedParamWarning, match=r"n_neighbors=10 is more than the 5 cells; using n_neighbors=3"
    ):
        neighbors(adata, n_neighbors=10)
    assert adata.uns["neighbors"]["params"]["n_neighbors"] == 3
    assert adata.obsp["distances"].getnnz(axis=1).tolist() == [2] * 5


def test_transformer_instance_and_names():
    adata = make_counts(50, 30)
    neighbors(adata, n_neighbors=7, transformer="exact")
    inst = neighbors(adata, transformer=KNeighborsTransformer(n_neighbors=7), copy=True)
    assert inst.uns["neighbors"]["params"]["n_neighbors"] == 7
    for key in ("distances", "connectivities"):
        np.testing.assert_allclose(inst.obsp[key].toarray(), adata.obsp[key].toarray(), rtol=1e-6)
    sk = neighbors(adata, n_neighbors=7, transformer="sklearn", copy=True)
    assert (sk.obsp["distances"] != adata.obsp["distances"]).nnz == 0


def test_duplicate_cells_keep_self_first():
    x = np.repeat(np.arange(6, dtype=np.float32)[:, None] ** 2, 3, axis=0)  # each cell three times
    adata = ad.AnnData(x)
    neighbors(adata, n_neighbors=4)
    dist = adata.obsp["distances"]
    assert dist.getnnz(axis=1).tolist() == [3] * 18  # zero distances stay as stored zeros
    assert dist.diagonal().max() == 0 and all(
        i not in dist.indices[dist.indptr[i] : dist.indptr[i + 1]] for i in range(18)
    )
    conn = adata.obsp["connectivities"]
    assert conn.diagonal().max() == 0 and abs(conn - conn.T).max() == 0


def test_transformer_with_too_few_neighbours():
    class Short:
        def get_params(self):
            return {"n_neighbors": 3}

        def fit_transform(self, x):
            return sparse.csr_matrix((x.shape[0], x.shape[0]))  # no neighbours at all

    indices, _ = knn_from_transformer(KNeighborsTransformer(n_neighbors=2), LINE, 3)
    np.testing.assert_array_equal(indices[:, 0], np.arange(5))
    with pytest.raises(
        InputDataError, match=r"fewer than n_neighbors=3 neighbours \(self included\) for 5 cell"
    ):
        neighbors(line_adata(), transformer=Short())

    class NoK(Short):
        def get_params(self):
            return {}

    with pytest.raises(ParamError, match="transformer NoK must have an integer n_neighbors"):
        neighbors(line_adata(), transformer=NoK())


def test_copy_and_views():
    adata = make_counts(40, 30)
    out = neighbors(adata, n_neighbors=5, copy=True)
    assert "neighbors" not in adata.uns and "distances" in out.obsp
    view = adata[:20]
    neighbors(view, n_neighbors=5)
    assert view.obsp["distances"].shape == (20, 20)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_neighbors": 1}, "n_neighbors"),
        ({"method": "umapp"}, "method"),
        ({"method": "jacard"}, "method"),
        ({"distances": np.ones(5)}, "distances: .*square"),
        ({"distances": np.zeros((5, 5)), "metric": lambda a, b: 0.0}, "metric must be a name"),
        ({"transformer": "annoy"}, r"transformer.*one of \('sklearn', 'exact', 'pynndescent'\)"),
        ({"transformer": object()}, "transformer.*fit_transform"),
        ({"knn": False}, "knn=False needs method='gauss'"),
        ({"knn": False, "method": "gauss", "transformer": "sklearn"}, "knn=False needs"),
        ({"metric": "euclidian"}, "metric"),
        ({"n_pcs": -1}, "n_pcs"),
        ({"random_state": "seed"}, "random_state"),
        (
            {"metric": "seuclidean", "metric_kwds": {"V": [1, 2]}},
            r"metric='seuclidean', metric_kwds=\{'V': \[1, 2\]\} failed",
        ),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(ParamError, match=match):
        neighbors(line_adata(), **{"n_neighbors": 3, **kwargs})


def test_bad_data():
    with pytest.raises(InputDataError, match="at least 2 cells"):
        neighbors(ad.AnnData(np.ones((1, 3), dtype=np.float32)))
    x = LINE.copy()
    x[2, 0] = np.nan
    with pytest.raises(InputDataError, match="representation contains 1 NaN"):
        neighbors(ad.AnnData(x))


# --- exact search with BLAS tiles (used above BLOCKED_MIN_OBS cells) ----------------------


def _clustered(n_cells: int, n_dims: int = 12, seed: int = 0, dtype: type = np.float32) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=6, size=(8, n_dims))
    return (centres[rng.integers(0, 8, n_cells)] + rng.normal(size=(n_cells, n_dims))).astype(dtype)


def _blocked(monkeypatch: pytest.MonkeyPatch, **sizes: int) -> None:
    """Route knn_exact through the tiled search, with tiles small enough to need several."""
    from scsnake.neighbors import _knn

    monkeypatch.setattr(_knn, "BLOCKED_MIN_OBS", 0)
    monkeypatch.setattr(_knn, "_QUERY_BLOCK", sizes.get("query", 64))
    monkeypatch.setattr(_knn, "_REF_BLOCK", sizes.get("ref", 96))
    if "max_uncertain" in sizes:
        monkeypatch.setattr(_knn, "_MAX_UNCERTAIN", sizes["max_uncertain"])


def _assert_same_knn(got: tuple[np.ndarray, np.ndarray], expected: tuple[np.ndarray, np.ndarray]) -> None:
    (idx, dist), (ref_idx, ref_dist) = got, expected
    assert idx.shape == ref_idx.shape and dist.dtype == ref_dist.dtype == np.float64
    np.testing.assert_array_equal(idx[:, 0], np.arange(idx.shape[0]))  # self first
    assert all(set(a) == set(b) for a, b in zip(idx.tolist(), ref_idx.tolist(), strict=True))
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-5, atol=1e-5)
    assert (np.diff(dist, axis=1) >= 0).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_neighbors", [2, 15, 40])
def test_blocked_exact_search_equals_sklearn(
    monkeypatch: pytest.MonkeyPatch, dtype: type, n_neighbors: int
) -> None:
    x = _clustered(500, dtype=dtype)
    expected = knn_exact(x, n_neighbors)
    _blocked(monkeypatch)
    _assert_same_knn(knn_exact(x, n_neighbors), expected)


def test_blocked_exact_search_on_fewer_cells_than_candidates(monkeypatch: pytest.MonkeyPatch) -> None:
    x = _clustered(20)
    expected = knn_exact(x, 15)
    _blocked(monkeypatch)
    _assert_same_knn(knn_exact(x, 15), expected)


def test_blocked_exact_search_with_duplicate_cells(monkeypatch: pytest.MonkeyPatch) -> None:
    from scsnake.neighbors import _knn

    x = _clustered(300)
    x[50:90] = x[50]  # 40 identical cells: more ties at the k-th distance than candidates
    expected, _ = knn_exact(x, 10)
    calls = []
    exhaustive = _knn._exhaustive_rows
    monkeypatch.setattr(_knn, "_exhaustive_rows", lambda *args: calls.append(1) or exhaustive(*args))
    _blocked(monkeypatch)
    indices, distances = knn_exact(x, 10)
    assert calls  # the tied rows were searched exhaustively
    np.testing.assert_array_equal(indices[:, 0], np.arange(300))
    copies = np.zeros(300, dtype=bool)
    copies[50:90] = True
    assert (distances[copies] == 0).all() and copies[indices[copies]].all()
    # rows without copies among their neighbours have no ties: the same sets as scikit-learn
    clean = ~copies & ~copies[expected].any(axis=1)
    assert clean.sum() > 200
    assert all(
        set(a) == set(b) for a, b in zip(indices[clean].tolist(), expected[clean].tolist(), strict=True)
    )


def test_blocked_exact_search_falls_back_on_many_ties(monkeypatch: pytest.MonkeyPatch) -> None:
    from scsnake.neighbors import _knn

    x = np.zeros((200, 5), dtype=np.float32)  # every distance is 0
    _blocked(monkeypatch, max_uncertain=10)
    monkeypatch.setattr(
        _knn, "_exhaustive_rows", lambda *args: pytest.fail("should fall back to scikit-learn")
    )
    indices, distances = knn_exact(x, 6)
    np.testing.assert_array_equal(indices[:, 0], np.arange(200))
    assert (distances == 0).all()
