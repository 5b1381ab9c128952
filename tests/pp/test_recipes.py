"""Recipes (zheng17, seurat, weinreb17): steps, stored keys, layouts, errors."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest
from scipy import sparse

from scsnake.errors import AdjustedParamWarning, ParamError
from scsnake.pp import recipe_seurat, recipe_weinreb17, recipe_zheng17

FORMATS = {"dense": np.asarray, "csr": sparse.csr_matrix, "csc": sparse.csc_matrix}


def nb_counts(n_cells: int = 120, n_genes: int = 900, *, fmt: str = "csr", seed: int = 0) -> ad.AnnData:
    """Negative-binomial counts with a wide spread of gene means and dispersions (float32)."""
    rng = np.random.default_rng(seed)
    mean = rng.lognormal(-1.0, 1.5, size=n_genes)
    dispersion = rng.lognormal(0.0, 1.0, size=n_genes)
    depth = rng.lognormal(0.0, 0.3, size=(n_cells, 1))
    counts = rng.poisson(rng.gamma(1 / dispersion, mean * depth * dispersion)).astype(np.float32)
    adata = ad.AnnData(FORMATS[fmt](counts))
    adata.obs_names = [f"c{i}" for i in range(n_cells)]
    adata.var_names = [f"g{i}" for i in range(n_genes)]
    return adata


def dense(x: object) -> np.ndarray:
    return x.toarray() if sparse.issparse(x) else np.asarray(x)


# --- zheng17 ----------------------------------------------------------------------------


@pytest.mark.parametrize("log", [True, False])
def test_zheng17_steps_and_keys(log):
    adata = nb_counts()
    out = recipe_zheng17(adata, n_top_genes=100, log=log, copy=True)
    assert adata.n_vars == 900 and "n_counts_all" not in adata.obs  # input untouched
    assert 90 <= out.n_vars <= 100  # ties at the float32 cut-off can drop a gene, as in scanpy
    assert {"n_counts_all"} <= set(out.obs.columns)
    assert {"n_counts", "mean", "std"} <= set(out.var.columns)
    assert ("log1p" in out.uns) == log
    np.testing.assert_allclose(out.X.mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(out.X.std(axis=0, ddof=1), 1, rtol=1e-5)


def test_zheng17_is_the_same_for_every_format():
    results = [recipe_zheng17(nb_counts(fmt=fmt), n_top_genes=50, copy=True) for fmt in FORMATS]
    for other in results[1:]:
        assert other.var_names.equals(results[0].var_names)
        np.testing.assert_allclose(dense(other.X), dense(results[0].X), rtol=1e-5, atol=1e-5)


def test_zheng17_integer_counts_equal_float32_counts():
    float_counts = nb_counts()
    int_counts = float_counts.copy()
    int_counts.X = int_counts.X.astype(np.int64)
    a = recipe_zheng17(float_counts, n_top_genes=50, copy=True)
    b = recipe_zheng17(int_counts, n_top_genes=50, copy=True)
    assert a.var_names.equals(b.var_names)
    np.testing.assert_allclose(b.X, a.X, rtol=1e-6, atol=1e-6)


def test_zheng17_more_genes_than_available_warns():
    with pytest.warns(AdjustedParamWarning, match="n_top_genes=5000 is more than"):
        out = recipe_zheng17(nb_counts(), n_top_genes=5000, copy=True)
    assert out.n_vars == (nb_counts().X.sum(axis=0) >= 1).sum()


# --- seurat -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_seurat_steps_and_keys(fmt):
    adata = nb_counts(n_genes=2500, fmt=fmt, seed=1)
    recipe_seurat(adata)
    assert adata.n_obs > 0 and 0 < adata.n_vars < 2500
    assert (adata.obs["n_genes"] >= 200).all()
    assert (adata.var["n_cells"] >= 3).all()
    assert "log1p" in adata.uns
    assert {"mean", "std"} <= set(adata.var.columns)
    assert dense(adata.X).max() <= 10


def test_seurat_without_log_selects_on_log_statistics():
    with_log = recipe_seurat(nb_counts(n_genes=2500, seed=1), copy=True)
    without = recipe_seurat(nb_counts(n_genes=2500, seed=1), log=False, copy=True)
    assert "log1p" not in without.uns
    assert not without.var_names.equals(with_log.var_names)


# --- weinreb17 --------------------------------------------------------------------------


def test_weinreb17_steps_and_keys():
    adata = nb_counts(fmt="dense")
    recipe_weinreb17(adata, n_pcs=10, cv_threshold=1.0)
    assert adata.obsm["X_pca"].shape == (120, 10)
    assert adata.obsm["X_pca"].dtype == np.float32
    assert "log1p" in adata.uns
    x = adata.X
    mean, std = x.mean(axis=0), x.std(axis=0)
    assert (mean > 0.01).all() and (std / (mean + 1e-4) > 1.0).all()


def test_weinreb17_normalisation_by_hand():
    # gene 0 has more than 5% of some cell's counts, so only genes 1.. count for the totals
    x = np.array([[10.0] + [1.0] * 40, [0.0] + [2.0] * 40], dtype=np.float32)
    x = np.vstack([x, x * 3])
    adata = ad.AnnData(x.copy())
    from scsnake.pp._recipes import _normalize_weinreb

    out = _normalize_weinreb(adata.X, 0.05)
    included = x[:, 1:].sum(axis=1)
    np.testing.assert_allclose(out, x / included[:, None] * x.sum(axis=1).mean(), rtol=1e-6)


def test_weinreb17_sparse_equals_dense():
    sparse_result = recipe_weinreb17(nb_counts(fmt="csr"), n_pcs=5, cv_threshold=1.0, copy=True)
    dense_result = recipe_weinreb17(nb_counts(fmt="dense"), n_pcs=5, cv_threshold=1.0, copy=True)
    assert sparse.issparse(sparse_result.X)
    assert sparse_result.var_names.equals(dense_result.var_names)
    np.testing.assert_allclose(sparse_result.X.toarray(), dense_result.X, rtol=1e-6)
    np.testing.assert_allclose(sparse_result.obsm["X_pca"], dense_result.obsm["X_pca"], rtol=1e-3, atol=1e-4)


# --- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("recipe", "kwargs", "match"),
    [
        (recipe_zheng17, {"plot": True}, "plot=True is not supported; use scsnake.pl"),
        (recipe_seurat, {"plot": True}, "use scsnake.pl"),
        (recipe_zheng17, {"n_top_genes": 0}, "n_top_genes"),
        (recipe_weinreb17, {"cv_threshold": -1}, "cv_threshold"),
        (recipe_weinreb17, {"mean_threshold": -0.1}, "mean_threshold"),
        (recipe_weinreb17, {"n_pcs": 0}, "n_pcs"),
        (recipe_weinreb17, {"svd_solver": "lapack"}, "svd_solver"),
        (recipe_weinreb17, {"random_state": -1}, "random_state"),
        (recipe_seurat, {"log": "maybe"}, "log"),
    ],
)
def test_bad_params(recipe, kwargs, match):
    with pytest.raises(ParamError, match=match):
        recipe(nb_counts(), **kwargs)
