"""scrublet: simulation, threshold, scores on synthetic doublets, formats, batches, errors."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest
from scipy import sparse

from scsnake import pp
from scsnake.datasets import synthetic
from scsnake.errors import AdjustedParamWarning, InputDataError, MissingKeyError, ParamError
from scsnake.pp._scrublet_kernels import simulate_doublets, threshold_minimum


@pytest.fixture(scope="module")
def doublets() -> ad.AnnData:
    """400 cells, 10% doublets of two cell types (``obs['is_doublet']``)."""
    return synthetic(400, 400, 4, doublet_rate=0.1, seed=3)


def _auc(truth: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(truth, scores))


# --- threshold_minimum ----------------------------------------------------------------


def test_threshold_between_two_modes() -> None:
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(0, 1, 2000), rng.normal(10, 1, 500)])
    threshold = threshold_minimum(values)
    assert threshold is not None and 3 < threshold < 7
    assert (values > threshold).sum() == pytest.approx(500, abs=5)


def test_threshold_by_hand() -> None:
    # 12 bins over [0.5, 11.5] (width 11/12) with counts [1, 3, 5, 3, 1, 0, 0, 1, 3, 5, 3, 1];
    # one 3-bin mean gives [5/3, 3, 11/3, 3, 4/3, 1/3, 1/3, 4/3, 3, 11/3, 3, 5/3]: maxima in
    # bins 2 and 9, lowest point between them first in bin 5, whose centre is 0.5 + 5.5 * 11/12
    counts = [1, 3, 5, 3, 1, 0, 0, 1, 3, 5, 3, 1]
    values = np.repeat(np.arange(12) + 0.5, counts)
    assert threshold_minimum(values, nbins=12) == pytest.approx(0.5 + 5.5 * 11 / 12)


def test_threshold_not_found() -> None:
    one_peak = np.repeat(np.arange(9.0), [1, 2, 3, 4, 5, 4, 3, 2, 1])
    assert threshold_minimum(one_peak, nbins=9) is None
    assert threshold_minimum(np.array([1.0, np.nan])) is None
    assert threshold_minimum(np.array([])) is None
    three_peaks = np.repeat(np.arange(12) + 0.5, [5, 0, 0, 0, 5, 0, 0, 0, 5, 0, 0, 0])
    assert threshold_minimum(three_peaks, nbins=12, max_iter=1) is None


def test_threshold_matches_skimage() -> None:
    skimage_filters = pytest.importorskip("skimage.filters")
    rng = np.random.default_rng(1)
    for _ in range(100):
        n1, n2 = rng.integers(20, 3000, 2)
        values = np.concatenate(
            [rng.gamma(2, 0.05, n1), rng.normal(rng.uniform(0.3, 0.8), rng.uniform(0.01, 0.2), n2)]
        )
        try:
            expected = float(skimage_filters.threshold_minimum(values))
        except RuntimeError:
            expected = None
        assert threshold_minimum(values) == expected


# --- doublet simulation ---------------------------------------------------------------


def test_simulated_doublets_add_their_parents() -> None:
    counts = sparse.csr_matrix(np.random.default_rng(0).poisson(2, (30, 8)).astype(np.float32))
    sim, totals, pairs = simulate_doublets(
        counts, sim_doublet_ratio=1.5, subsampling=1.0, rng=np.random.RandomState(0)
    )
    assert sim.shape == (45, 8) and pairs.shape == (45, 2) and pairs.dtype == np.int64
    assert len({tuple(p) for p in pairs}) == 45  # distinct ordered pairs
    dense = counts.toarray()
    np.testing.assert_array_equal(sim.toarray(), dense[pairs[:, 0]] + dense[pairs[:, 1]])
    np.testing.assert_array_equal(totals, dense.sum(axis=1)[pairs].sum(axis=1))
    again = simulate_doublets(counts, sim_doublet_ratio=1.5, subsampling=1.0, rng=np.random.RandomState(0))
    np.testing.assert_array_equal(again[2], pairs)


def test_subsampled_doublets_lose_counts() -> None:
    counts = sparse.csr_matrix(np.random.default_rng(0).poisson(20, (50, 10)).astype(np.float32))
    full, _, _ = simulate_doublets(counts, sim_doublet_ratio=2, subsampling=1.0, rng=np.random.RandomState(0))
    thin, totals, _ = simulate_doublets(
        counts, sim_doublet_ratio=2, subsampling=0.5, rng=np.random.RandomState(0)
    )
    assert (thin.toarray() <= full.toarray()).all()
    assert thin.sum() / full.sum() == pytest.approx(0.5, abs=0.02)
    assert (totals >= thin.sum(axis=1).A1).all()


def test_scrublet_simulate_doublets_anndata() -> None:
    adata = ad.AnnData(np.random.default_rng(0).poisson(3, (20, 6)).astype(np.float32))
    adata.layers["raw"] = adata.X.copy()
    sim = pp.scrublet_simulate_doublets(adata, layer="raw", sim_doublet_ratio=0.5, random_seed=4)
    assert sim.shape == (10, 6) and sparse.issparse(sim.X)
    parents = sim.obsm["doublet_parents"]
    np.testing.assert_array_equal(sim.X.toarray(), adata.X[parents[:, 0]] + adata.X[parents[:, 1]])
    np.testing.assert_array_equal(sim.obs["n_counts"], adata.X.sum(axis=1)[parents].sum(axis=1))
    assert sim.uns["scrublet"] == {"parameters": {"sim_doublet_ratio": 0.5}}
    unseeded = pp.scrublet_simulate_doublets(adata, sim_doublet_ratio=0.5, random_seed=None)
    seeded = pp.scrublet_simulate_doublets(adata, sim_doublet_ratio=0.5, random_seed=0)
    np.testing.assert_array_equal(unseeded.obsm["doublet_parents"], seeded.obsm["doublet_parents"])


# --- scrublet ---------------------------------------------------------------------------


def test_scrublet_finds_synthetic_doublets(doublets: ad.AnnData) -> None:
    adata = doublets.copy()
    pp.scrublet(adata, verbose=False)
    scores = adata.obs["doublet_score"].to_numpy()
    assert scores.dtype == np.float64 and np.isfinite(scores).all() and ((scores > 0) & (scores < 1)).all()
    assert _auc(adata.obs["is_doublet"], scores) > 0.8
    uns = adata.uns["scrublet"]
    assert set(uns) == {"doublet_scores_sim", "doublet_parents", "parameters", "threshold"}
    assert uns["doublet_scores_sim"].shape == (800,) and uns["doublet_parents"].shape == (800, 2)
    assert uns["parameters"] == {
        "expected_doublet_rate": 0.05,
        "sim_doublet_ratio": 2.0,
        "n_neighbors": 10,
        "random_state": 0,
    }
    assert adata.obs["predicted_doublet"].dtype == bool
    np.testing.assert_array_equal(adata.obs["predicted_doublet"], scores > uns["threshold"])
    # the simulated doublets score higher than the cells
    assert np.median(uns["doublet_scores_sim"]) > np.median(scores)


@pytest.mark.parametrize("fmt", ["dense", "csc"])
def test_scrublet_formats_and_dtypes_agree(doublets: ad.AnnData, fmt: str) -> None:
    reference = doublets.copy()
    pp.scrublet(reference, verbose=False)
    other = doublets.copy()
    x = other.X.toarray() if fmt == "dense" else sparse.csc_matrix(other.X)
    other.X = x.astype(np.int64)
    pp.scrublet(other, verbose=False)
    np.testing.assert_allclose(other.obs["doublet_score"], reference.obs["doublet_score"], rtol=1e-10)
    np.testing.assert_array_equal(
        other.uns["scrublet"]["doublet_parents"], reference.uns["scrublet"]["doublet_parents"]
    )


def test_scrublet_seed_threshold_copy(doublets: ad.AnnData) -> None:
    first = pp.scrublet(doublets, threshold=0.3, random_state=1, copy=True, verbose=False)
    second = pp.scrublet(doublets, threshold=0.3, random_state=1, copy=True, verbose=False)
    assert "doublet_score" not in doublets.obs
    np.testing.assert_array_equal(first.obs["doublet_score"], second.obs["doublet_score"])
    assert first.uns["scrublet"]["threshold"] == 0.3
    np.testing.assert_array_equal(first.obs["predicted_doublet"], first.obs["doublet_score"] > 0.3)
    other_seed = pp.scrublet(doublets, threshold=0.3, random_state=2, copy=True, verbose=False)
    assert not np.array_equal(
        other_seed.uns["scrublet"]["doublet_parents"], first.uns["scrublet"]["doublet_parents"]
    )


def test_scrublet_options(doublets: ad.AnnData) -> None:
    adata = doublets.copy()
    pp.scrublet(
        adata,
        mean_center=False,
        log_transform=True,
        n_neighbors=8,
        sim_doublet_ratio=1.0,
        synthetic_doublet_umi_subsampling=0.8,
        get_doublet_neighbor_parents=True,
        knn_dist_metric="cosine",
        threshold=0.5,
        verbose=False,
    )
    uns = adata.uns["scrublet"]
    assert uns["parameters"]["n_neighbors"] == 8 and uns["doublet_scores_sim"].shape == (400,)
    parents = uns["doublet_neighbor_parents"]
    assert len(parents) == adata.n_obs and all(np.all(np.diff(p) > 0) for p in parents)
    assert _auc(adata.obs["is_doublet"], adata.obs["doublet_score"]) > 0.7


def test_scrublet_filtered_cells_get_nan() -> None:
    adata = synthetic(300, 300, 4, doublet_rate=0.1, seed=5)
    x = adata.X.tolil()
    x[0, :] = 0
    x[0, 5] = 4  # one gene: set aside by the 3-gene filter
    adata.X = x.tocsr()
    pp.scrublet(adata, threshold=0.4, verbose=False)
    assert np.isnan(adata.obs["doublet_score"].iloc[0]) and not adata.obs["predicted_doublet"].iloc[0]
    assert np.isfinite(adata.obs["doublet_score"].iloc[1:]).all()
    assert adata.uns["scrublet"]["doublet_scores_sim"].shape == (2 * 299,)


def test_scrublet_batches(doublets: ad.AnnData) -> None:
    adata = doublets.copy()
    adata.obs["sample"] = np.where(np.arange(adata.n_obs) % 2 == 0, "s2", "s1")
    pp.scrublet(adata, batch_key="sample", threshold=0.4, verbose=False)
    uns = adata.uns["scrublet"]
    assert uns["batched_by"] == "sample" and list(uns["batches"]) == ["s1", "s2"]
    alone = doublets[adata.obs["sample"] == "s1"].copy()
    pp.scrublet(alone, threshold=0.4, verbose=False)
    np.testing.assert_array_equal(
        adata.obs["doublet_score"][adata.obs["sample"] == "s1"], alone.obs["doublet_score"]
    )
    np.testing.assert_array_equal(
        uns["batches"]["s1"]["doublet_parents"], alone.uns["scrublet"]["doublet_parents"]
    )


def test_scrublet_with_adata_sim(doublets: ad.AnnData) -> None:
    obs = doublets[:, :200].copy()
    sim = pp.scrublet_simulate_doublets(obs, random_seed=0)
    for data in (obs, sim):
        pp.normalize_total(data, target_sum=1e6)
    pp.scrublet(obs, sim, threshold=0.4, verbose=False)
    assert obs.uns["scrublet"]["parameters"]["sim_doublet_ratio"] == 2.0
    assert np.isfinite(obs.obs["doublet_score"]).all()
    assert _auc(obs.obs["is_doublet"], obs.obs["doublet_score"]) > 0.7


def test_scrublet_lowers_too_many_components() -> None:
    adata = synthetic(60, 200, 3, doublet_rate=0.1, seed=0)
    with pytest.warns(AdjustedParamWarning, match="n_prin_comps"):
        pp.scrublet(adata, n_prin_comps=500, threshold=0.5, verbose=False)
    assert np.isfinite(adata.obs["doublet_score"]).all()


def test_scrublet_errors(doublets: ad.AnnData) -> None:
    logged = doublets.copy()
    logged.X = logged.X * 0.5
    with pytest.raises(InputDataError, match="raw counts"):
        pp.scrublet(logged)
    with pytest.raises(MissingKeyError, match="batch_key 'smple'"):
        pp.scrublet(doublets.copy(), batch_key="smple")
    with pytest.raises(ParamError, match="expected_doublet_rate"):
        pp.scrublet(doublets.copy(), expected_doublet_rate=0)
    with pytest.raises(ParamError, match="adata_sim"):
        pp.scrublet(doublets.copy(), np.zeros((3, 3)))
    with pytest.raises(ParamError, match="knn_dist_metric"):
        pp.scrublet(doublets.copy(), knn_dist_metric="eucledian")
    with pytest.raises(MissingKeyError, match="doublet_parents"):
        pp.scrublet(doublets.copy(), ad.AnnData(doublets.X[:10]))
    with pytest.raises(InputDataError, match="genes"):
        pp.scrublet(doublets.copy(), ad.AnnData(doublets.X[:10, :5]))
    with pytest.raises(InputDataError, match="sim_doublet_ratio"):
        pp.scrublet(doublets[:5].copy(), sim_doublet_ratio=40)
    empty = ad.AnnData(sparse.csr_matrix((5, 20), dtype=np.float32))
    with pytest.raises(InputDataError, match="at least 2"):
        pp.scrublet(empty)
