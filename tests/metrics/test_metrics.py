"""Integration metrics: LISI (against a plain reference), graph neighbourhoods, kBET, the score
summary, known cases (mixed / separated / identical labels) and bad input."""

from __future__ import annotations

import inspect

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from scipy.sparse.csgraph import dijkstra
from sklearn.neighbors import NearestNeighbors

import scsnake as ss
from scsnake.errors import AdjustedParamWarning, InputDataError, MissingKeyError, ParamError
from scsnake.metrics._kbet import kbet_pvalues
from scsnake.metrics._knn import _nearest_by_path_csr, _undirected


def mixed(n: int = 600, n_batches: int = 3, seed: int = 0, dims: int = 6) -> ad.AnnData:
    """One Gaussian cloud; batches assigned at random (perfectly mixed)."""
    rng = np.random.default_rng(seed)
    obs = pd.DataFrame(
        {"batch": rng.choice([f"b{i}" for i in range(n_batches)], n)}, index=[f"c{i}" for i in range(n)]
    )
    adata = ad.AnnData(obs=obs)
    adata.obsm["X_pca"] = rng.normal(size=(n, dims))
    return adata


def separated(n: int = 600, n_batches: int = 3, seed: int = 0) -> ad.AnnData:
    """Each batch its own far-away cloud."""
    adata = mixed(n, n_batches, seed)
    codes = pd.Categorical(adata.obs["batch"]).codes
    adata.obsm["X_pca"] = adata.obsm["X_pca"] + codes[:, None] * 100.0
    return adata


def reference_lisi(
    x: np.ndarray, labels: np.ndarray, perplexity: float = 30, n_neighbors: int = 90
) -> np.ndarray:
    """harmony's compute_lisi, written plainly: per-cell binary search on β, Euclidean distances."""
    dist, idx = NearestNeighbors(n_neighbors=n_neighbors).fit(x).kneighbors(x)
    dist, idx = dist[:, 1:], idx[:, 1:]
    categories = np.unique(labels)
    out = np.empty(x.shape[0])
    log_u = np.log(perplexity)
    for i in range(x.shape[0]):
        d = dist[i]

        def entropy(beta: float, d: np.ndarray = d) -> tuple[float, np.ndarray]:
            p = np.exp(-d * beta)
            h = np.log(p.sum()) + beta * np.sum(d * p) / p.sum()
            return h, p / p.sum()

        beta, lo, hi = 1.0, -np.inf, np.inf
        h, p = entropy(beta)
        for _ in range(50):
            if abs(h - log_u) < 1e-5:
                break
            if h - log_u > 0:
                lo = beta
                beta = beta * 2 if not np.isfinite(hi) else (beta + hi) / 2
            else:
                hi = beta
                beta = beta / 2 if not np.isfinite(lo) else (beta + lo) / 2
            h, p = entropy(beta)
        out[i] = 1 / sum(p[labels[idx[i]] == c].sum() ** 2 for c in categories)
    return out


# --- LISI ------------------------------------------------------------------------------------


def test_lisi_equals_reference_implementation() -> None:
    adata = mixed(n=400, seed=3)
    adata.obsm["X_pca"][:200] += 1.5  # some structure, so values spread between 1 and 3
    labels = adata.obs["batch"].to_numpy()
    expected = reference_lisi(adata.obsm["X_pca"], labels)
    np.testing.assert_allclose(ss.metrics.lisi(adata, "batch"), expected, rtol=1e-9)
    expected = reference_lisi(adata.obsm["X_pca"], labels, perplexity=5, n_neighbors=20)
    np.testing.assert_allclose(
        ss.metrics.lisi(adata, "batch", n_neighbors=20, perplexity=5), expected, rtol=1e-9
    )


def test_lisi_mixed_is_near_the_number_of_batches() -> None:
    for n_batches in (2, 3, 4):
        values = ss.metrics.lisi(mixed(n_batches=n_batches), "batch")
        assert 0.8 * n_batches < np.median(values) <= n_batches  # measured: 1.93, 2.67, 3.39
        assert values.min() >= 1 and values.max() <= n_batches + 1e-9


def test_lisi_separated_is_one() -> None:
    np.testing.assert_allclose(ss.metrics.lisi(separated(), "batch"), 1.0, atol=1e-12)


def test_lisi_sparse_and_dense_x_agree() -> None:
    adata = mixed(n=200)
    dense = ad.AnnData(adata.obsm["X_pca"], obs=adata.obs)
    csr = ad.AnnData(sparse.csr_matrix(adata.obsm["X_pca"]), obs=adata.obs)
    expected = ss.metrics.lisi(adata, "batch", n_neighbors=30, perplexity=9)
    for data in (dense, csr):
        np.testing.assert_allclose(
            ss.metrics.lisi(data, "batch", use_rep="X", n_neighbors=30, perplexity=9), expected, rtol=1e-9
        )


def test_lisi_on_the_stored_graph() -> None:
    adata = separated()
    ss.pp.neighbors(adata, n_neighbors=15, use_rep="X_pca")
    np.testing.assert_allclose(ss.metrics.lisi(adata, "batch", use_rep=None), 1.0, atol=1e-12)
    adata = mixed()
    ss.pp.neighbors(adata, n_neighbors=15, use_rep="X_pca")
    assert np.median(ss.metrics.lisi(adata, "batch", use_rep=None)) > 2.5


def test_graph_neighbourhoods_are_shortest_paths() -> None:
    n = 60
    graph = sparse.random(n, n, density=0.08, random_state=1, format="csr") * 3
    graph.setdiag(0)
    graph.eliminate_zeros()
    indptr, indices, data = _undirected(graph)
    found_idx, found_dist = _nearest_by_path_csr(indptr, indices, data, 7, 3)
    all_paths = dijkstra(graph, directed=False)
    for i in range(n):
        row = all_paths[i].copy()
        row[i] = np.inf
        expected = np.sort(row)[:7]
        np.testing.assert_allclose(found_dist[i], expected, rtol=1e-12)
        reachable = found_idx[i] >= 0
        np.testing.assert_allclose(
            all_paths[i, found_idx[i][reachable]], found_dist[i][reachable], rtol=1e-12
        )


def test_lisi_bad_input() -> None:
    adata = mixed(n=100)
    with pytest.raises(MissingKeyError, match=r"key 'batchh' not found in adata.obs \(close matches: batch"):
        ss.metrics.lisi(adata, "batchh")
    with pytest.raises(
        MissingKeyError, match=r"use_rep='X_pcaa' not found in adata.obsm \(close matches: X_pca"
    ):
        ss.metrics.lisi(adata, "batch", use_rep="X_pcaa")
    with pytest.raises(MissingKeyError, match=r"use_rep=None needs the graph of uns\['neighbors'\]"):
        ss.metrics.lisi(adata, "batch", use_rep=None)
    with pytest.raises(ParamError, match=r"perplexity=30 must be below n_neighbors - 1 = 29"):
        ss.metrics.lisi(adata, "batch", n_neighbors=30)
    with pytest.raises(ParamError, match="n_neighbors"):
        ss.metrics.lisi(adata, "batch", n_neighbors=1)


def test_lisi_fewer_cells_than_neighbours_warns() -> None:
    adata = mixed(n=40)
    with pytest.warns(AdjustedParamWarning, match=r"n_neighbors=90 is more than the 40 cells"):
        values = ss.metrics.lisi(adata, "batch")
    assert values.shape == (40,) and np.isfinite(values).all()


# --- kBET ------------------------------------------------------------------------------------


def test_kbet_high_for_mixed_low_for_separated() -> None:
    assert ss.metrics.kbet(mixed(), "batch") > 0.85
    assert ss.metrics.kbet(separated(), "batch") == 0.0


def test_kbet_pvalues_by_hand() -> None:
    # 3 batches of equal size; neighbourhoods (self + 2 others) of compositions 1:1:1 and 3:0:0
    codes = np.array([0, 1, 2, 0, 1, 2, 0, 0, 1, 2, 1, 2])
    indices = np.array([[1, 2], [0, 2], [0, 1], [6, 7]] + [[0, 1]] * 8)
    p = kbet_pvalues(indices, codes, 3, np.array([0, 3]))
    np.testing.assert_allclose(p[0], 1.0)
    # observed (3, 0, 0), expected (1, 1, 1): χ² = 4 + 1 + 1 = 6 with 2 df → exp(-3)
    np.testing.assert_allclose(p[1], np.exp(-3.0))


def test_kbet_is_deterministic_and_samples_large_data() -> None:
    adata = mixed(n=6000, dims=3)
    first = ss.metrics.kbet(adata, "batch", n_neighbors=20, random_state=1)
    assert first == ss.metrics.kbet(adata, "batch", n_neighbors=20, random_state=1)
    assert 0.8 < first <= 1.0
    assert first * 600 == pytest.approx(round(first * 600))  # 10% of the cells tested


def test_kbet_bad_input() -> None:
    adata = mixed(n=100)
    adata.obs["one"] = "x"
    with pytest.raises(InputDataError, match=r"obs\['one'\] has 1 batch\(es\); the test needs at least 2"):
        ss.metrics.kbet(adata, "one")
    with pytest.raises(MissingKeyError, match=r"key 'batc' not found"):
        ss.metrics.kbet(adata, "batc")
    with pytest.raises(ParamError, match="alpha"):
        ss.metrics.kbet(adata, "batch", alpha=1.5)


# --- the summary ----------------------------------------------------------------------------


def labelled(seed: int = 0) -> ad.AnnData:
    """Two well separated types, batches mixed at random, clusters = types."""
    adata = mixed(n=400, n_batches=2, seed=seed)
    types = np.repeat(["t0", "t1"], 200)
    adata.obs["type"] = types
    adata.obsm["X_pca"][200:] += 12.0
    adata.obs["leiden"] = pd.Categorical(np.where(types == "t0", "0", "1"))
    return adata


def test_integration_scores_known_case() -> None:
    scores = ss.metrics.integration_scores(labelled(), "batch", "type")
    assert set(scores) == {
        "ilisi",
        "ilisi_norm",
        "clisi",
        "clisi_norm",
        "kbet_acceptance",
        "ari",
        "nmi",
        "asw_label",
    }
    assert all(isinstance(v, float) for v in scores.values())
    assert scores["ari"] == 1.0 and scores["nmi"] == pytest.approx(1.0)
    assert scores["clisi"] == pytest.approx(1.0) and scores["clisi_norm"] == pytest.approx(1.0)
    assert scores["ilisi"] > 1.8 and scores["ilisi_norm"] == pytest.approx(scores["ilisi"] - 1)
    assert scores["kbet_acceptance"] > 0.85
    assert 0.75 < scores["asw_label"] <= 1.0


@pytest.mark.parametrize("graph", [False, True])
def test_integration_scores_equal_the_single_metrics(graph: bool) -> None:
    adata = labelled(seed=2)
    adata.obsm["X_pca"][:100] += 1.0  # batches partly apart
    adata.obs.loc[adata.obs_names[:100], "batch"] = "b0"
    use_rep = None if graph else "X_pca"
    if graph:
        ss.pp.bbknn(adata, "batch")
    scores = ss.metrics.integration_scores(adata, "batch", "type", use_rep=use_rep)
    assert scores["ilisi"] == np.median(ss.metrics.lisi(adata, "batch", use_rep=use_rep))
    assert scores["clisi"] == np.median(ss.metrics.lisi(adata, "type", use_rep=use_rep))
    assert scores["kbet_acceptance"] == ss.metrics.kbet(adata, "batch", use_rep=use_rep)


def test_integration_scores_on_the_graph_use_its_representation() -> None:
    adata = labelled()
    ss.pp.bbknn(adata, "batch")
    on_graph = ss.metrics.integration_scores(adata, "batch", "type", use_rep=None)
    on_rep = ss.metrics.integration_scores(adata, "batch", "type")
    assert on_graph["asw_label"] == on_rep["asw_label"]
    assert on_graph["clisi"] == pytest.approx(1.0)
    assert on_graph["ilisi"] > 1.8


def test_integration_scores_bad_keys() -> None:
    adata = labelled()
    with pytest.raises(MissingKeyError, match=r"key 'typ' not found in adata.obs \(close matches: type"):
        ss.metrics.integration_scores(adata, "batch", "typ")
    with pytest.raises(MissingKeyError, match=r"cluster_key 'louvain' not found in adata.obs"):
        ss.metrics.integration_scores(adata, "batch", "type", cluster_key="louvain")
    with pytest.raises(MissingKeyError, match=r"key 'bach' not found"):
        ss.metrics.integration_scores(adata, "bach", "type")


@pytest.mark.parametrize("name", ss.metrics.__all__)
def test_metrics_are_validated_with_matching_params(name: str) -> None:
    func = getattr(ss.metrics, name)
    model = func.__scsnake_params__
    keywords = {p for p in inspect.signature(func).parameters if p != "adata"}
    assert set(model.model_fields) == keywords
    for field, p in inspect.signature(func).parameters.items():
        if field != "adata" and p.default is not inspect.Parameter.empty:
            assert model.model_fields[field].default == p.default, field
