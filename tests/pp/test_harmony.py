"""harmony_integrate: batches mixed and cell types kept on strong batch effects, the ridge step
by hand, determinism, several keys, bad input."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

import scsnake as ss
from scsnake.errors import InputDataError, MissingKeyError, ParamError


@pytest.fixture(scope="module")
def batched() -> ad.AnnData:
    """1,500 cells, 4 types, 3 batches with a strong effect (uncorrected iLISI ≈ 1.01); 30 PCs."""
    adata = ss.datasets.synthetic(
        n_cells=1500, n_genes=1000, n_types=4, n_batches=3, batch_effect=0.7, seed=0
    )
    ss.pp.normalize_total(adata)
    ss.pp.log1p(adata)
    ss.pp.highly_variable_genes(adata, n_top_genes=500, subset=True)
    ss.pp.scale(adata, max_value=10)
    ss.pp.pca(adata, n_comps=30)
    ss.pp.harmony_integrate(adata, "batch")
    return adata


def tiny(n_per_batch: int = 40, seed: int = 0) -> ad.AnnData:
    """Two well-separated types in two batches shifted apart; 6 dimensions."""
    rng = np.random.default_rng(seed)
    n = 2 * n_per_batch
    types = np.tile(np.repeat([0, 1], n_per_batch // 2), 2)
    batch = np.repeat(["a", "b"], n_per_batch)
    x = (
        rng.normal(size=(n, 6))
        + types[:, None] * 6.0
        + (batch == "b")[:, None] * np.array([3.0, -2, 1, 0, 0, 0])
    )
    obs = pd.DataFrame(
        {
            "batch": pd.Categorical(batch),
            "type": types.astype(str),
            "half": np.where(np.arange(n) % 2, "x", "y"),
        },
        index=[f"c{i}" for i in range(n)],
    )
    adata = ad.AnnData(obs=obs)
    adata.obsm["X_pca"] = x.astype(np.float32)
    return adata


def test_mixes_batches_and_keeps_cell_types(batched: ad.AnnData) -> None:
    # measured (seed 0): iLISI 1.013 -> 2.57, kBET 0.026 -> 0.82, cLISI norm 0.966 -> 0.995
    before = ss.metrics.lisi(batched, "batch", use_rep="X_pca")
    after = ss.metrics.lisi(batched, "batch", use_rep="X_pca_harmony")
    assert np.median(before) < 1.1
    assert np.median(after) > 2.3
    assert ss.metrics.kbet(batched, "batch", use_rep="X_pca") < 0.1
    assert ss.metrics.kbet(batched, "batch", use_rep="X_pca_harmony") > 0.65
    clisi = np.median(ss.metrics.lisi(batched, "truth", use_rep="X_pca_harmony"))
    assert 1 - (clisi - 1) / 3 > 0.98


def test_clusters_of_corrected_embedding_find_the_types(batched: ad.AnnData) -> None:
    # measured: leiden (resolution 0.3) ARI vs truth 0.31 uncorrected, 0.92 after harmony
    adata = batched.copy()
    aris = {}
    for rep in ("X_pca", "X_pca_harmony"):
        ss.pp.neighbors(adata, use_rep=rep)
        ss.tl.leiden(adata, resolution=0.3)
        aris[rep] = adjusted_rand_score(adata.obs["truth"], adata.obs["leiden"])
    assert aris["X_pca"] < 0.5
    assert aris["X_pca_harmony"] > 0.85


def test_stores_cells_by_components_and_leaves_basis(batched: ad.AnnData) -> None:
    corrected = batched.obsm["X_pca_harmony"]
    assert corrected.shape == batched.obsm["X_pca"].shape
    assert corrected.dtype == np.float64
    assert corrected.flags.c_contiguous
    assert not np.allclose(corrected, batched.obsm["X_pca"])


def test_one_cluster_is_a_ridge_regression_of_the_batches() -> None:
    # nclust=1: every cell belongs to the one cluster, so the correction is
    # Z - Φ_bᵀ W_b with W = (Φ Φᵀ + diag(0, λ…))⁻¹ Φ Z, Φ = [1; one-hot batch]
    adata = tiny()
    lamb = 2.5
    ss.pp.harmony_integrate(adata, "batch", nclust=1, lamb=lamb)
    z = adata.obsm["X_pca"].astype(np.float64)
    onehot = pd.get_dummies(adata.obs["batch"]).to_numpy(dtype=float)
    design = np.column_stack([np.ones(adata.n_obs), onehot])
    w = np.linalg.solve(design.T @ design + np.diag([0.0, lamb, lamb]), design.T @ z)
    expected = z - onehot @ w[1:]
    np.testing.assert_allclose(adata.obsm["X_pca_harmony"], expected, rtol=1e-10, atol=1e-10)


def test_weak_ridge_penalty_aligns_batch_means() -> None:
    adata = tiny()
    ss.pp.harmony_integrate(adata, "batch", nclust=1, lamb=1e-8)
    out, is_b = adata.obsm["X_pca_harmony"], (adata.obs["batch"] == "b").to_numpy()
    np.testing.assert_allclose(out[is_b].mean(axis=0), out[~is_b].mean(axis=0), atol=1e-6)


def test_same_seed_same_result_other_seed_runs() -> None:
    first, second, other = tiny(), tiny(), tiny()
    for adata, seed in ((first, 3), (second, 3), (other, 4)):
        ss.pp.harmony_integrate(adata, "batch", nclust=4, random_state=seed)
    np.testing.assert_array_equal(first.obsm["X_pca_harmony"], second.obsm["X_pca_harmony"])
    assert np.isfinite(other.obsm["X_pca_harmony"]).all()


def test_options_change_the_result() -> None:
    base = tiny()
    ss.pp.harmony_integrate(base, "batch", nclust=4)
    for options in ({"theta": 0.0}, {"tau": 5.0}, {"sigma": 0.5}, {"block_size": 0.5}, {"lamb": 5.0}):
        adata = tiny()
        ss.pp.harmony_integrate(adata, "batch", nclust=4, **options)
        assert not np.allclose(adata.obsm["X_pca_harmony"], base.obsm["X_pca_harmony"]), options


def test_several_keys_with_one_value_each() -> None:
    adata = tiny()
    ss.pp.harmony_integrate(
        adata,
        ["batch", "half"],
        theta=[2.0, 1.0],
        lamb=[1.0, 0.5],
        nclust=4,
        basis="X_pca",
        adjusted_basis="X_both",
    )
    assert adata.obsm["X_both"].shape == (adata.n_obs, 6)
    assert np.isfinite(adata.obsm["X_both"]).all()
    assert "X_pca_harmony" not in adata.obsm


def test_view_input_is_made_actual() -> None:
    parent = tiny()
    view = parent[:60]
    ss.pp.harmony_integrate(view, "batch", nclust=3)
    assert view.obsm["X_pca_harmony"].shape == (60, 6)
    assert "X_pca_harmony" not in parent.obsm


def test_missing_key_names_close_matches() -> None:
    with pytest.raises(MissingKeyError, match=r"'batchh' not found in adata.obs \(close matches: batch"):
        ss.pp.harmony_integrate(tiny(), "batchh")
    with pytest.raises(MissingKeyError, match=r"key 'nope' not found in adata.obs"):
        ss.pp.harmony_integrate(tiny(), ["batch", "nope"])


def test_missing_basis_names_close_matches() -> None:
    with pytest.raises(
        MissingKeyError, match=r"obsm\['X_pcaa'\] not found \(close matches: X_pca\); run pca first"
    ):
        ss.pp.harmony_integrate(tiny(), "batch", basis="X_pcaa")


def test_single_batch_and_missing_batch_values() -> None:
    adata = tiny()
    adata.obs["one"] = "same"
    with pytest.raises(InputDataError, match=r"obs\['one'\] has a single batch"):
        ss.pp.harmony_integrate(adata, "one")
    adata.obs["holes"] = pd.Categorical(
        np.where(np.arange(adata.n_obs) == 3, None, adata.obs["batch"].astype(str))
    )
    with pytest.raises(InputDataError, match=r"1 cell\(s\) have no batch in obs\['holes'\]"):
        ss.pp.harmony_integrate(adata, "holes")


def test_non_finite_basis() -> None:
    adata = tiny()
    adata.obsm["X_pca"][0, 0] = np.nan
    with pytest.raises(InputDataError, match=r"obsm\['X_pca'\] contains 1 NaN"):
        ss.pp.harmony_integrate(adata, "batch")


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"sigma": 0}, "sigma"),
        ({"lamb": 0}, "lamb"),
        ({"theta": -1}, "theta"),
        ({"block_size": 0}, "block_size"),
        ({"block_size": 1.5}, "block_size"),
        ({"nclust": 0}, "nclust"),
        ({"max_iter_harmony": 0}, "max_iter_harmony"),
        ({"theta": [1.0, 2.0]}, r"theta: 2 value\(s\) given for 1 key"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_bad_parameters(options: dict, match: str) -> None:
    with pytest.raises((ParamError, TypeError), match=match):
        ss.pp.harmony_integrate(tiny(), "batch", **options)


def test_more_clusters_than_cells() -> None:
    with pytest.raises(ParamError, match=r"nclust=500 is more than the 80 cells"):
        ss.pp.harmony_integrate(tiny(), "batch", nclust=500)
