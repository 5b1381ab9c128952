"""Parity with scanpy for sqrt, subsample, downsample_counts, regress_out, combat and recipes.

Both libraries get copies of the same data: 2,000 cells of the real ``mouse10k`` counts and
seeded ``make_counts`` data (log-normalised by scanpy where a step expects that), as dense,
CSR and CSC. Exact steps agree within rtol 1e-5 (most bit for bit); random draws are equal.
"""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

import scsnake.pp as pp
from factories import make_counts
from scanpy_reference import scanpy_at_least

sc = pytest.importorskip("scanpy")

pytestmark = pytest.mark.parity

RTOL = 1e-5
FORMATS = ["dense", "csr", "csc"]


def dense(x: object) -> np.ndarray:
    return x.toarray() if sparse.issparse(x) else np.asarray(x)


def with_format(adata: ad.AnnData, fmt: str) -> ad.AnnData:
    adata = adata.copy()
    adata.X = (
        dense(adata.X)
        if fmt == "dense"
        else sparse.csr_matrix(adata.X)
        if fmt == "csr"
        else sparse.csc_matrix(adata.X)
    )
    return adata


def lognormalise(counts: ad.AnnData, seed: int) -> ad.AnnData:
    """scanpy's normalize_total + log1p of the expressed genes, with obs columns to regress on."""
    adata = counts.copy()
    sc.pp.filter_genes(adata, min_cells=1)
    totals = np.asarray(adata.X.sum(axis=1)).ravel()
    adata.obs["log_total"] = np.log1p(totals)
    adata.obs["n_expressed"] = np.asarray((adata.X > 0).sum(axis=1)).ravel().astype(np.float64)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Some cells have zero counts", UserWarning)  # mouse10k has one
        sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    del adata.uns["log1p"]
    rng = np.random.default_rng(seed)
    batch = rng.choice(["b1", "b2", "b3"], adata.n_obs)
    adata.obs["batch"] = pd.Categorical(batch)
    adata.obs["cond"] = pd.Categorical(rng.choice(["x", "y"], adata.n_obs))
    adata.obs["cond01"] = (adata.obs["cond"] == "y").astype(np.float64)
    shift = pd.Series({"b1": 0.0, "b2": 0.4, "b3": -0.3})[batch].to_numpy(dtype=np.float32)
    adata.X = sparse.csr_matrix(adata.X.toarray() + shift[:, None])  # a batch effect for combat
    return adata


@pytest.fixture(scope="module")
def mouse_counts(mouse10k: ad.AnnData) -> ad.AnnData:
    return mouse10k[:2000].copy()


@pytest.fixture(scope="module", params=["mouse10k", "make_counts"])
def lognorm(request: pytest.FixtureRequest) -> ad.AnnData:
    if request.param == "mouse10k":
        return lognormalise(request.getfixturevalue("mouse_counts"), seed=0)
    return lognormalise(make_counts(300, 120, seed=1), seed=1)


def nb_counts(n_cells: int, n_genes: int, seed: int) -> ad.AnnData:
    """Negative-binomial counts with many genes and a wide spread of means (CSR float32):
    data on which the Seurat and Weinreb recipes keep genes (mouse10k's 1,000 genes give
    too few genes per cell for ``min_genes=200`` and no gene passes Weinreb's CV filter)."""
    rng = np.random.default_rng(seed)
    mean = rng.lognormal(-2.0, 1.5, size=n_genes)
    dispersion = rng.lognormal(0.0, 1.0, size=n_genes)
    depth = rng.lognormal(0.0, 0.3, size=(n_cells, 1))
    counts = rng.poisson(rng.gamma(1 / dispersion, mean * depth * dispersion)).astype(np.float32)
    adata = ad.AnnData(sparse.csr_matrix(counts))
    adata.obs_names = [f"c{i}" for i in range(n_cells)]
    adata.var_names = [f"g{i}" for i in range(n_genes)]
    return adata


# --- sqrt, subsample, downsample_counts -------------------------------------------------


@pytest.fixture(scope="module", params=["mouse10k", "make_counts"])
def counts(request: pytest.FixtureRequest) -> ad.AnnData:
    if request.param == "mouse10k":
        return request.getfixturevalue("mouse_counts")
    return make_counts(300, 120, seed=1)


@pytest.mark.parametrize("fmt", FORMATS)
def test_sqrt(counts, fmt):
    adata = with_format(counts, fmt)
    ours, theirs = adata.copy(), adata.copy()
    pp.sqrt(ours)
    sc.pp.sqrt(theirs)
    assert type(ours.X) is type(theirs.X)
    np.testing.assert_allclose(dense(ours.X), dense(theirs.X), rtol=RTOL, atol=0)


@pytest.mark.parametrize("kwargs", [{"fraction": 0.3}, {"n_obs": 123, "random_state": 7}, {"n_obs": 2000}])
def test_subsample_draws_the_same_cells(mouse_counts, kwargs):
    ours = pp.subsample(mouse_counts, **kwargs, copy=True)
    theirs = sc.pp.subsample(mouse_counts, **kwargs, copy=True)
    assert ours.obs_names.equals(theirs.obs_names)  # same cells, same order
    np.testing.assert_array_equal(dense(ours.X), dense(theirs.X))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "kwargs",
    [
        {"counts_per_cell": 50},
        {"counts_per_cell": 30, "replace": True, "random_state": 3},
        {"total_counts": 20000},
        {"total_counts": 20000, "replace": True},
    ],
)
def test_downsample_counts_draws_the_same_counts(mouse_counts, fmt, kwargs):
    adata = with_format(mouse_counts, fmt)
    ours = pp.downsample_counts(adata, **kwargs, copy=True)
    theirs = sc.pp.downsample_counts(adata, **kwargs, copy=True)
    assert type(ours.X) is type(theirs.X)
    assert ours.X.dtype == theirs.X.dtype
    np.testing.assert_array_equal(dense(ours.X), dense(theirs.X))


def test_downsample_counts_per_cell_array(mouse_counts):
    targets = np.random.default_rng(0).integers(0, 80, mouse_counts.n_obs)
    ours = pp.downsample_counts(mouse_counts, counts_per_cell=targets, copy=True)
    theirs = sc.pp.downsample_counts(mouse_counts, counts_per_cell=targets, copy=True)
    np.testing.assert_array_equal(dense(ours.X), dense(theirs.X))


# --- regress_out ------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("keys", [["log_total", "n_expressed"], "log_total"])
def test_regress_out_continuous(lognorm, fmt, keys):
    adata = with_format(lognorm, fmt)
    ours, theirs = adata.copy(), adata.copy()
    pp.regress_out(ours, keys)
    sc.pp.regress_out(theirs, keys, n_jobs=1)
    assert ours.X.dtype == theirs.X.dtype
    np.testing.assert_allclose(ours.X, theirs.X, rtol=RTOL, atol=0)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("key", ["batch", "cond"])
def test_regress_out_categorical(lognorm, fmt, key):
    # scanpy fits a statsmodels GLM per gene: keep the reference to ~300 genes × 1,000 cells
    adata = with_format(lognorm[:1000, :300], fmt)
    ours, theirs = adata.copy(), adata.copy()
    pp.regress_out(ours, key)
    sc.pp.regress_out(theirs, key, n_jobs=1)
    assert ours.X.dtype == theirs.X.dtype == np.float64
    # Where a category has only zeros for a gene, the exact residual of its cells is the
    # fit's intercept, which is 0 up to rounding; both libraries return rounding noise
    # there (|value| < 1e-16 here), so those entries cannot agree in relative terms. An
    # atol of 1e-12 (data are log-counts of order 1) covers them and nothing else.
    np.testing.assert_allclose(ours.X, theirs.X, rtol=RTOL, atol=1e-12)


# --- combat -----------------------------------------------------------------------------

# genes without counts in a whole batch have zero variance there; scanpy divides by it
# while iterating (the result stays finite and equal to ours)
SCANPY_COMBAT_DIVIDES = "ignore:divide by zero encountered in divide:RuntimeWarning:scanpy.*"


@pytest.mark.parametrize("covariates", [None, ["log_total"], ["log_total", "cond01"]])
@pytest.mark.filterwarnings(SCANPY_COMBAT_DIVIDES)
def test_combat(lognorm, covariates):
    adata = with_format(lognorm, "dense")
    ours = pp.combat(adata.copy(), covariates=covariates, inplace=False)
    theirs = sc.pp.combat(adata.copy(), covariates=covariates, inplace=False)
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=0)
    if covariates is None:  # the added batch shift is gone
        assert np.ptp([ours[(adata.obs["batch"] == b).to_numpy()].mean() for b in ("b1", "b2", "b3")]) < 0.05


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.filterwarnings(SCANPY_COMBAT_DIVIDES)
def test_combat_sparse_inplace(lognorm, fmt):
    adata = with_format(lognorm, fmt)
    ours, theirs = adata.copy(), adata.copy()
    pp.combat(ours, covariates=["log_total"])
    sc.pp.combat(theirs, covariates=["log_total"])
    np.testing.assert_allclose(ours.X, theirs.X, rtol=RTOL, atol=0)


@pytest.mark.filterwarnings(SCANPY_COMBAT_DIVIDES)
def test_combat_categorical_covariate(lognorm):
    # scanpy codes every level of a categorical covariate (its design is then singular),
    # scsnake drops the first; for two levels that is scanpy's result with a 0/1 column
    ours = pp.combat(lognorm.copy(), covariates=["cond", "log_total"], inplace=False)
    theirs = sc.pp.combat(lognorm.copy(), covariates=["cond01", "log_total"], inplace=False)
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=0)


# --- recipes ----------------------------------------------------------------------------


def assert_same_annotations(ours: ad.AnnData, theirs: ad.AnnData) -> None:
    assert ours.obs_names.equals(theirs.obs_names)
    assert ours.var_names.equals(theirs.var_names)
    assert list(ours.obs.columns) == list(theirs.obs.columns)
    assert list(ours.var.columns) == list(theirs.var.columns)
    assert set(ours.uns) == set(theirs.uns)
    for frame, ref in ((ours.obs, theirs.obs), (ours.var, theirs.var)):
        for column in ref.columns:
            if pd.api.types.is_numeric_dtype(ref[column]):
                np.testing.assert_allclose(frame[column], ref[column], rtol=RTOL, err_msg=column)


# The scaled recipes end in z-scores (unit sd); scanpy's normalize_total sums float32 counts
# in float32 on CSR data, scsnake in float64, so the normalised values can differ in their
# last float32 bit (relative 6e-8). Zero-centring turns that into absolute differences of up
# to ~3e-6 sd where a gene's mean is many sds from zero; hence atol 1e-5 (in sd units).
SCALED_ATOL = 1e-5
# scanpy's scale warns that zero-centring densifies its sparse input (so does ours, silently)
SCANPY_SCALE_DENSIFIES = "ignore:zero-centering a sparse array/matrix densifies it:UserWarning"


@pytest.mark.parametrize("log", [True, False])
@pytest.mark.filterwarnings(SCANPY_SCALE_DENSIFIES)
@pytest.mark.filterwarnings("ignore:Some cells have zero counts:UserWarning")  # mouse10k has one
@pytest.mark.filterwarnings("ignore::scsnake.errors.DataWarning")  # the same cell, on our side
def test_recipe_zheng17(mouse_counts, log):
    ours = pp.recipe_zheng17(mouse_counts, n_top_genes=300, log=log, copy=True)
    # scanpy < 1.12.4's normalize_total took the median of all cell totals on CSR data, zeros
    # included (the cells the gene selection leaves without counts), its dense path and
    # scanpy >= 1.12.4 (scverse/scanpy#4256) the median of the nonzero ones, as scsnake
    reference = mouse_counts if scanpy_at_least("1.12.4") else with_format(mouse_counts, "dense")
    theirs = sc.pp.recipe_zheng17(reference, n_top_genes=300, log=log, copy=True)
    assert_same_annotations(ours, theirs)
    np.testing.assert_allclose(ours.X, theirs.X, rtol=RTOL, atol=SCALED_ATOL)


@pytest.mark.parametrize("log", [True, False])
@pytest.mark.filterwarnings(SCANPY_SCALE_DENSIFIES)
def test_recipe_seurat(log):
    counts = nb_counts(400, 3000, seed=1)
    ours = pp.recipe_seurat(counts, log=log, copy=True)
    theirs = sc.pp.recipe_seurat(counts, log=log, copy=True)
    assert ours.n_vars > 20
    assert_same_annotations(ours, theirs)
    np.testing.assert_allclose(ours.X, theirs.X, rtol=RTOL, atol=SCALED_ATOL)


@pytest.mark.parametrize("log", [True, False])
def test_recipe_weinreb17(log):
    counts = nb_counts(300, 1500, seed=1)
    counts.X = counts.X.toarray()  # scanpy's recipe refuses sparse data
    ours = pp.recipe_weinreb17(counts, log=log, n_pcs=20, copy=True)
    theirs = sc.pp.recipe_weinreb17(counts, log=log, n_pcs=20, copy=True)
    assert_same_annotations(ours, theirs)
    np.testing.assert_allclose(ours.X, theirs.X, rtol=RTOL, atol=0)
    # the PCA solvers' own parity is tested with pca: same components and signs
    a, b = ours.obsm["X_pca"].astype(np.float64), theirs.obsm["X_pca"].astype(np.float64)
    assert ours.obsm["X_pca"].dtype == theirs.obsm["X_pca"].dtype
    cosine = (a * b).sum(axis=0) / np.linalg.norm(a, axis=0) / np.linalg.norm(b, axis=0)
    assert cosine.min() >= 0.999, cosine
