"""combat: batch effects removed, layouts, covariates, zero-variance genes, errors."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from scsnake.errors import InputDataError, MissingKeyError, ParamError
from scsnake.pp import combat

FORMATS = {"dense": np.asarray, "csr": sparse.csr_matrix, "csc": sparse.csc_matrix}


def make(fmt: str = "dense", n_per_batch: int = 30, n_genes: int = 12, seed: int = 0) -> ad.AnnData:
    """Three batches with additive and multiplicative effects; a 'cond' covariate."""
    rng = np.random.default_rng(seed)
    n = 3 * n_per_batch
    batch = np.repeat(["b1", "b2", "b3"], n_per_batch)
    # the condition is unbalanced across batches: 20%, 80% and 50% "y"
    cond = np.where(rng.random(n) < np.repeat([0.2, 0.8, 0.5], n_per_batch), "y", "x")
    base = rng.gamma(2.0, 1.0, size=(n, n_genes)) + (cond == "y")[:, None] * 1.5
    shift = np.repeat([0.0, 2.0, -1.0], n_per_batch)[:, None]
    spread = np.repeat([1.0, 2.0, 0.5], n_per_batch)[:, None]
    x = np.clip(base * spread + shift + 3.0, 0, None)
    obs = pd.DataFrame(
        {
            "batch": pd.Categorical(batch),
            "cond": pd.Categorical(cond),
            "cond01": (cond == "y").astype(float),
            "depth": rng.normal(size=n),
        },
        index=[f"c{i}" for i in range(n)],
    )
    return ad.AnnData(FORMATS[fmt](x), obs=obs)


def batch_means(x: np.ndarray, batch: pd.Series) -> np.ndarray:
    return np.vstack([x[(batch == b).to_numpy()].mean(axis=0) for b in batch.cat.categories])


def test_removes_batch_location_and_scale():
    adata = make()
    before = batch_means(adata.X, adata.obs["batch"])
    combat(adata)
    after = batch_means(adata.X, adata.obs["batch"])
    assert np.ptp(before, axis=0).mean() > 10 * np.ptp(after, axis=0).mean()
    sds = np.vstack([adata.X[(adata.obs["batch"] == b).to_numpy()].std(axis=0) for b in ("b1", "b2", "b3")])
    assert (sds.max(axis=0) / sds.min(axis=0)).max() < 1.6  # the 4-fold spread is gone
    assert adata.X.dtype == np.float64


def test_formats_give_the_same_result():
    results = [combat(make(fmt), inplace=False) for fmt in FORMATS]
    for other in results[1:]:
        np.testing.assert_allclose(other, results[0], rtol=1e-12)


def test_inplace_false_leaves_adata_alone():
    adata = make("csr")
    before = adata.X.toarray()
    out = combat(adata, inplace=False)
    assert isinstance(out, np.ndarray) and out.shape == adata.shape
    np.testing.assert_array_equal(adata.X.toarray(), before)
    assert combat(adata) is None
    assert isinstance(adata.X, np.ndarray)
    np.testing.assert_allclose(adata.X, out)


def test_covariate_keeps_its_effect():
    adata = make()
    y = (adata.obs["cond"] == "y").to_numpy()
    b1 = (adata.obs["batch"] == "b1").to_numpy()  # spread 1: the true effect is 1.5 there

    def effect(x: np.ndarray) -> float:
        return float((x[y & b1].mean(axis=0) - x[~y & b1].mean(axis=0)).mean())

    plain = combat(adata, inplace=False)
    kept = combat(adata, covariates=["cond"], inplace=False)
    # without the covariate part of the unbalanced condition effect is taken for batch
    assert abs(effect(kept) - effect(adata.X)) < abs(effect(plain) - effect(adata.X))


def test_two_level_categorical_covariate_equals_its_indicator():
    adata = make()
    np.testing.assert_allclose(
        combat(adata, covariates=["cond", "depth"], inplace=False),
        combat(adata, covariates=["cond01", "depth"], inplace=False),
        rtol=1e-10,
    )


def test_string_batch_column_and_single_batch():
    adata = make()
    adata.obs["batch_str"] = adata.obs["batch"].astype(str).astype(object)
    np.testing.assert_allclose(combat(adata, "batch_str", inplace=False), combat(adata, inplace=False))
    adata.obs["one"] = "all"
    out = combat(adata, "one", inplace=False)
    assert np.isfinite(out).all()


def test_zero_variance_gene_stays_constant():
    adata = make()
    adata.X[:, 0] = 4.0
    out = combat(adata, inplace=False)
    np.testing.assert_allclose(out[:, 0], 4.0)
    assert np.isfinite(out).all()


def test_view_is_made_actual():
    parent = make()
    before = parent.X.copy()
    view = parent[:60]
    combat(view)
    np.testing.assert_array_equal(parent.X, before)
    assert not view.is_view


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"key": "bacth"}, MissingKeyError, "key 'bacth' not found in adata.obs \\(close matches: batch"),
        ({"covariates": ["conf"]}, MissingKeyError, "covariate 'conf' not found.*close matches: cond"),
        ({"covariates": ["batch"]}, ParamError, "batch key 'batch' cannot also be a covariate"),
        ({"covariates": ["cond", "cond"]}, ParamError, "\\['cond'\\] given more than once"),
        ({"key": 3}, ParamError, "key"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        combat(make(), **kwargs)


def test_batch_of_one_cell():
    adata = make()
    adata.obs["batch"] = adata.obs["batch"].cat.add_categories("lonely")
    adata.obs.iloc[0, adata.obs.columns.get_loc("batch")] = "lonely"
    with pytest.raises(InputDataError, match="\\['lonely'\\] of obs\\['batch'\\] have a single cell"):
        combat(adata)


def test_missing_batch():
    adata = make()
    adata.obs.iloc[0, adata.obs.columns.get_loc("batch")] = np.nan
    with pytest.raises(InputDataError, match="1 cell\\(s\\) have no batch"):
        combat(adata)


@pytest.mark.parametrize("covariate", ["per_batch", "constant"])
def test_confounded_covariates(covariate):
    adata = make()
    adata.obs["per_batch"] = adata.obs["batch"].cat.codes.astype(float) * 2.0
    adata.obs["constant"] = 1.0
    with pytest.raises(
        InputDataError, match=f"covariates \\['{covariate}'\\] are confounded with the batches"
    ):
        combat(adata, covariates=[covariate])


def test_single_level_categorical_covariate():
    adata = make()
    adata.obs["tissue"] = "liver"
    with pytest.raises(InputDataError, match="covariate obs\\['tissue'\\] has a single value \\('liver'\\)"):
        combat(adata, covariates=["tissue"])


def test_nonfinite_data():
    adata = make()
    adata.X[3, 3] = np.nan
    with pytest.raises(InputDataError, match="NaN or infinite"):
        combat(adata)


def test_integer_data_give_the_float_result():
    adata = make()
    adata.X = np.round(adata.X * 10).astype(np.int64)
    as_float = combat(ad.AnnData(adata.X.astype(np.float32), obs=adata.obs), inplace=False)
    combat(adata)
    assert adata.X.dtype == np.float64
    np.testing.assert_allclose(adata.X, as_float, rtol=1e-12)
