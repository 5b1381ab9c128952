"""Pearson residuals: hand-checked values, formats, dtypes, batches, errors."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from factories import make_counts
from scsnake import pp
from scsnake.errors import DataWarning, InputDataError, MissingKeyError, ParamError
from scsnake.pp._pearson_residuals import highly_variable_genes_pearson_residuals as hvg_pr

FORMATS = ["dense", "csr", "csc"]


def _residuals(x: np.ndarray, theta: float = 100, clip: float | None = None) -> np.ndarray:
    """The textbook formula in float64."""
    x = np.asarray(x, dtype=np.float64)
    mu = x.sum(axis=1, keepdims=True) * x.sum(axis=0, keepdims=True) / x.sum()
    r = (x - mu) / np.sqrt(mu + mu**2 / theta)
    c = np.sqrt(x.shape[0]) if clip is None else clip
    return np.clip(r, -c, c)


def _fmt(x: np.ndarray, fmt: str) -> object:
    return x if fmt == "dense" else getattr(sparse, f"{fmt}_matrix")(x)


def _data(seed: int = 0, fmt: str = "csr", dtype: type = np.float32) -> ad.AnnData:
    """80 cells × 30 genes; every gene and cell has counts (no NaN residuals)."""
    x = make_counts(80, 30, seed=seed, fmt="dense").X
    x[np.arange(80), np.arange(80) % 30] += 1
    adata = make_counts(80, 30, seed=seed)
    adata.X = _fmt(x.astype(dtype), fmt)
    return adata


# --- normalize_pearson_residuals ----------------------------------------------------


def test_residuals_by_hand() -> None:
    x = np.array([[1, 1], [1, 3]], dtype=np.float32)
    adata = ad.AnnData(x.copy())
    pp.normalize_pearson_residuals(adata, theta=np.inf)
    # cell totals 2, 4; gene totals 2, 4; total 6 → mu = [[2/3, 4/3], [4/3, 8/3]]
    mu = np.array([[2 / 3, 4 / 3], [4 / 3, 8 / 3]])
    np.testing.assert_allclose(adata.X, (x - mu) / np.sqrt(mu), rtol=1e-6)
    assert adata.uns["pearson_residuals_normalization"] == {
        "theta": np.inf,
        "clip": None,
        "computed_on": "adata.X",
    }


def test_clip_and_theta() -> None:
    x = np.array([[0, 10, 1], [5, 0, 2], [1, 1, 30], [2, 3, 0]], dtype=np.float32)
    for theta, clip in [(100, None), (1.5, 0.5), (10, 0.0)]:
        got = pp.normalize_pearson_residuals(ad.AnnData(x), theta=theta, clip=clip, inplace=False)["X"]
        np.testing.assert_allclose(got, _residuals(x, theta, clip), rtol=1e-5, atol=1e-6)
    clipped = pp.normalize_pearson_residuals(ad.AnnData(x), clip=0.5, inplace=False)["X"]
    assert np.abs(clipped).max() == pytest.approx(0.5)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_formats_and_dtypes_agree(fmt: str, dtype: type) -> None:
    dense = _data(fmt="dense", dtype=np.float32).X
    adata = ad.AnnData(_fmt(dense.astype(dtype), fmt))
    pp.normalize_pearson_residuals(adata)
    assert isinstance(adata.X, np.ndarray)
    assert adata.X.dtype == (np.float32 if dtype == np.float32 else np.float64)
    np.testing.assert_allclose(adata.X, _residuals(dense), rtol=1e-5, atol=1e-6)
    reference = ad.AnnData(dense.astype(dtype))
    pp.normalize_pearson_residuals(reference)
    np.testing.assert_array_equal(adata.X, reference.X)


def test_dense_float32_is_overwritten_in_place() -> None:
    adata = _data(fmt="dense")
    buffer = adata.X
    pp.normalize_pearson_residuals(adata)
    assert adata.X is buffer


def test_inplace_false_copy_and_layer() -> None:
    adata = _data()
    adata.layers["counts"] = adata.X.copy()
    before = adata.X.copy()
    result = pp.normalize_pearson_residuals(adata, layer="counts", clip=3, inplace=False)
    assert set(result) == {"X", "theta", "clip", "computed_on"}
    assert result["computed_on"] == "counts" and result["clip"] == 3
    assert (before != adata.X).nnz == 0 and "pearson_residuals_normalization" not in adata.uns
    copied = pp.normalize_pearson_residuals(adata, layer="counts", clip=3, copy=True)
    assert copied is not adata and sparse.issparse(adata.layers["counts"])
    np.testing.assert_array_equal(copied.layers["counts"], result["X"])
    assert copied.uns["pearson_residuals_normalization"]["computed_on"] == "counts"


def test_obsm_is_normalised_in_obsm() -> None:
    adata = _data(fmt="dense")
    adata.obsm["counts"] = adata.X[:, :20].copy()
    before = adata.X.copy()
    pp.normalize_pearson_residuals(adata, obsm="counts", theta=50)
    np.testing.assert_allclose(adata.obsm["counts"], _residuals(before[:, :20], theta=50), rtol=1e-5)
    np.testing.assert_array_equal(adata.X, before)
    assert adata.uns["pearson_residuals_normalization"]["computed_on"] == "counts"
    with pytest.raises(ParamError, match="obsm"):
        pp.normalize_pearson_residuals(adata, obsm="counts", layer="counts")
    with pytest.raises(MissingKeyError, match="count"):
        pp.normalize_pearson_residuals(adata, obsm="count")


def test_view_is_made_actual() -> None:
    parent = _data()
    view = parent[:40]
    pp.normalize_pearson_residuals(view)
    assert not view.is_view and sparse.issparse(parent.X)


def test_empty_genes_give_nan_with_warning() -> None:
    x = np.array([[1, 0, 2], [3, 0, 1]], dtype=np.float32)
    with pytest.warns(DataWarning, match="1 gene"):
        got = pp.normalize_pearson_residuals(ad.AnnData(x), inplace=False)["X"]
    assert np.isnan(got[:, 1]).all() and np.isfinite(got[:, [0, 2]]).all()


def test_normalize_errors() -> None:
    adata = ad.AnnData(np.array([[0.5, 1.0], [1.0, 2.0]], dtype=np.float32))
    with pytest.raises(InputDataError, match="non-integer"):
        pp.normalize_pearson_residuals(adata)
    pp.normalize_pearson_residuals(adata.copy(), check_values=False)  # allowed when asked
    with pytest.raises(ParamError, match="theta"):
        pp.normalize_pearson_residuals(_data(), theta=0)
    with pytest.raises(ParamError, match="clip"):
        pp.normalize_pearson_residuals(_data(), clip=-1)
    with pytest.raises(ParamError, match="copy=True"):
        pp.normalize_pearson_residuals(_data(), copy=True, inplace=False)
    with pytest.raises(MissingKeyError, match="counts"):
        pp.normalize_pearson_residuals(_data(), layer="counts")
    negative = ad.AnnData(np.array([[-1, 2], [1, 2]], dtype=np.float32))
    with pytest.raises(InputDataError, match="negative"):
        pp.normalize_pearson_residuals(negative)


# --- highly_variable_genes(flavor="pearson_residuals") --------------------------------


def _ranked(variances: np.ndarray, n_top: int) -> np.ndarray:
    return np.argsort(-variances, kind="stable")[:n_top]


def test_hvg_by_hand() -> None:
    adata = _data(fmt="dense")
    df = hvg_pr(adata, n_top_genes=5, inplace=False)
    expected = _residuals(adata.X).var(axis=0)
    np.testing.assert_allclose(df["residual_variances"], expected, rtol=1e-10)
    assert set(np.flatnonzero(df["highly_variable"])) == set(_ranked(expected, 5))
    assert df["highly_variable_rank"].dtype == np.float32
    np.testing.assert_array_equal(df["highly_variable_rank"].to_numpy()[_ranked(expected, 5)], np.arange(5))
    assert df["highly_variable_rank"].isna().sum() == 25
    assert list(df.columns) == [
        "means",
        "variances",
        "residual_variances",
        "highly_variable_rank",
        "highly_variable",
    ]
    np.testing.assert_allclose(df["variances"], adata.X.astype(np.float64).var(axis=0, ddof=1), rtol=1e-10)


def test_hvg_unexpressed_gene_has_zero_variance() -> None:
    adata = _data(fmt="dense")
    adata.X[:, 3] = 0
    adata.X = sparse.csr_matrix(adata.X)
    df = hvg_pr(adata, n_top_genes=3, inplace=False)
    assert df["residual_variances"].iloc[3] == 0


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("dtype", [np.float32, np.int64])
@pytest.mark.parametrize("batch_key", [None, "group"])
def test_hvg_formats_agree(fmt: str, dtype: type, batch_key: str | None) -> None:
    reference = hvg_pr(_data(fmt="dense"), n_top_genes=8, batch_key=batch_key, inplace=False)
    got = hvg_pr(_data(fmt=fmt, dtype=dtype), n_top_genes=8, batch_key=batch_key, inplace=False)
    pd.testing.assert_frame_equal(got, reference, rtol=1e-12)


def test_hvg_unsorted_csr_indices() -> None:
    adata = _data(fmt="csr")
    reference = hvg_pr(adata, n_top_genes=6, inplace=False)
    x = adata.X
    order = np.concatenate([np.arange(x.indptr[i], x.indptr[i + 1])[::-1] for i in range(x.shape[0])])
    shuffled = sparse.csr_matrix((x.data[order], x.indices[order], x.indptr), shape=x.shape)
    shuffled.has_sorted_indices = False
    adata.X = shuffled
    pd.testing.assert_frame_equal(hvg_pr(adata, n_top_genes=6, inplace=False), reference)


def test_hvg_batches_by_hand() -> None:
    adata = _data(fmt="dense")
    batches = np.where(np.arange(adata.n_obs) < 30, "b", "a")  # "a" (50 cells) comes first
    adata.obs["batch"] = batches
    n_top = 6
    df = hvg_pr(adata, n_top_genes=n_top, batch_key="batch", inplace=False)
    clip = np.sqrt(50)  # like scanpy: sqrt(n) of the first batch, for every batch
    per_batch = np.vstack([_residuals(adata.X[batches == b], clip=clip).var(axis=0) for b in ("a", "b")])
    np.testing.assert_allclose(df["residual_variances"], per_batch.mean(axis=0), rtol=1e-10)
    ranks = np.argsort(np.argsort(-per_batch, axis=1), axis=1)
    top = ranks < n_top
    np.testing.assert_array_equal(df["highly_variable_nbatches"], top.sum(axis=0))
    np.testing.assert_array_equal(df["highly_variable_intersection"], top.all(axis=0))
    median = np.array(
        [np.median(ranks[top[:, g], g]) if top[:, g].any() else np.nan for g in range(adata.n_vars)]
    )
    np.testing.assert_allclose(df["highly_variable_rank"], median, equal_nan=True)
    key = np.where(np.isnan(median), np.inf, median)
    order = sorted(range(adata.n_vars), key=lambda g: (-top[:, g].sum(), key[g], g))
    assert set(np.flatnonzero(df["highly_variable"])) == set(order[:n_top])
    with_clip = hvg_pr(adata, n_top_genes=n_top, batch_key="batch", clip=clip, inplace=False)
    pd.testing.assert_frame_equal(with_clip, df)


def test_hvg_inplace_and_subset() -> None:
    adata = _data()
    adata.obs["batch"] = adata.obs["group"]
    hvg_pr(adata, n_top_genes=7, batch_key="batch")
    assert list(adata.var.columns) == [
        "means",
        "variances",
        "residual_variances",
        "highly_variable_rank",
        "highly_variable_nbatches",
        "highly_variable_intersection",
        "highly_variable",
    ]
    assert adata.var["highly_variable"].sum() == 7
    assert adata.uns["hvg"] == {"flavor": "pearson_residuals", "computed_on": "adata.X"}
    subset = _data()
    subset.layers["counts"] = subset.X.copy()
    hvg_pr(subset, n_top_genes=7, layer="counts", subset=True)
    assert subset.n_vars == 7 and subset.uns["hvg"]["computed_on"] == "counts"
    frame = hvg_pr(_data(), n_top_genes=7, subset=True, inplace=False)
    assert frame.shape[0] == 7 and frame["highly_variable"].all()


def test_hvg_errors() -> None:
    with pytest.raises(ParamError, match="n_top_genes"):
        hvg_pr(_data())
    with pytest.raises(ParamError, match="n_top_genes"):
        hvg_pr(_data(), n_top_genes=0)
    with pytest.raises(ParamError, match="theta"):
        hvg_pr(_data(), n_top_genes=5, theta=-1)
    with pytest.raises(MissingKeyError, match=r"batch_key 'btch'.*close matches"):
        adata = _data()
        adata.obs["batch"] = "x"
        hvg_pr(adata, n_top_genes=5, batch_key="btch")
    logged = _data()
    logged.X = logged.X.astype(np.float32) * 0.5
    with pytest.raises(InputDataError, match="raw counts"):
        hvg_pr(logged, n_top_genes=5)
    missing = _data()
    missing.obs["batch"] = pd.Categorical(["a"] * 79 + [None])
    with pytest.raises(InputDataError, match="missing value"):
        hvg_pr(missing, n_top_genes=5, batch_key="batch")
