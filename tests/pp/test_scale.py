"""scale: hand-checked values, layouts, dtypes, clipping, masks, errors."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest
from scipy import sparse

from scsnake.errors import InputDataError, MissingKeyError, ParamError
from scsnake.pp import scale

# gene 0: mean 2, std 1; gene 1: mean 5, std sqrt(13) (ddof=1); gene 2: constant 0 -> std 1
X = np.array([[1, 2, 0], [2, 4, 0], [3, 9, 0]])
MEAN = np.array([2.0, 5.0, 0.0])
STD = np.array([1.0, np.sqrt(13), 1.0])
FORMATS = {"dense": np.asarray, "csr": sparse.csr_matrix, "csc": sparse.csc_matrix}


def make(fmt: str = "dense", dtype: type = np.float32) -> ad.AnnData:
    return ad.AnnData(FORMATS[fmt](X.astype(dtype)))


def dense(x: object) -> np.ndarray:
    return x.toarray() if sparse.issparse(x) else np.asarray(x)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("dtype", [np.int64, np.float32, np.float64])
def test_zero_center_by_hand(fmt, dtype):
    adata = make(fmt, dtype)
    scale(adata)
    np.testing.assert_allclose(adata.X, (X - MEAN) / STD, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(adata.var["mean"], MEAN)
    np.testing.assert_allclose(adata.var["std"], STD)
    assert isinstance(adata.X, np.ndarray)  # zero-centring densifies
    # like scanpy: dense float32 stays float32; densified sparse and integers are float64
    assert adata.X.dtype == (np.float32 if (fmt, dtype) == ("dense", np.float32) else np.float64)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("dtype", [np.int64, np.float32])
def test_no_zero_center_keeps_sparse(fmt, dtype):
    adata = make(fmt, dtype)
    scale(adata, zero_center=False)
    np.testing.assert_allclose(dense(adata.X), X / STD, rtol=1e-6)
    assert type(adata.X) is type(FORMATS[fmt](X))
    assert adata.X.dtype == (np.float32 if dtype == np.float32 else np.float64)


@pytest.mark.parametrize("fmt", ["dense", "csr", "csc"])
def test_float_data_without_centring_is_scaled_in_place(fmt):
    adata = make(fmt)
    x = adata.X
    scale(adata, zero_center=False)
    assert adata.X is x


@pytest.mark.parametrize("fmt", FORMATS)
def test_max_value_clips_both_sides_when_centred(fmt):
    adata = ad.AnnData(FORMATS[fmt](np.array([[0.0], [0.0], [0.0], [10.0]])))
    # mean 2.5, std 5: scaled [-0.5, -0.5, -0.5, 1.5]
    scale(adata, max_value=0.4)
    np.testing.assert_allclose(adata.X.ravel(), [-0.4, -0.4, -0.4, 0.4])


@pytest.mark.parametrize("fmt", FORMATS)
def test_max_value_clips_only_above_without_centring(fmt):
    adata = ad.AnnData(FORMATS[fmt](np.array([[-10.0], [0.0], [0.0], [10.0]])))
    std = np.std([-10, 0, 0, 10], ddof=1)
    scale(adata, zero_center=False, max_value=1)
    np.testing.assert_allclose(dense(adata.X).ravel(), [-10 / std, 0, 0, 1])


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("zero_center", [True, False])
def test_mask_obs(fmt, zero_center):
    adata = make(fmt)
    adata.obs["keep"] = np.array([True, False, True])
    scale(adata, mask_obs="keep", zero_center=zero_center)
    sub = X[[0, 2]]
    mean, std = sub.mean(axis=0), sub.std(axis=0, ddof=1)
    std[std == 0] = 1
    expected = X.astype(float)
    expected[[0, 2]] = (sub - mean) / std if zero_center else sub / std
    np.testing.assert_allclose(dense(adata.X), expected, rtol=1e-6, atol=1e-7)
    # scanpy's keys for a masked scaling
    np.testing.assert_allclose(adata.var["mean of keep"], mean)
    np.testing.assert_allclose(adata.var["std of keep"], std)
    assert "mean" not in adata.var


def test_mask_obs_array_keys():
    adata = make()
    scale(adata, mask_obs=np.array([True, True, False]))
    assert {"mean with mask", "std with mask"} <= set(adata.var.columns)


def test_single_cell_has_unit_std():
    adata = ad.AnnData(np.array([[1.0, 2.0]]))
    scale(adata)
    np.testing.assert_array_equal(adata.X, 0)
    np.testing.assert_array_equal(adata.var["std"], 1)


def test_layer_and_obsm():
    adata = make()
    adata.layers["log"] = X.astype(np.float64)
    scale(adata, layer="log")
    np.testing.assert_array_equal(adata.X, X)
    np.testing.assert_allclose(adata.layers["log"], (X - MEAN) / STD, atol=1e-12)
    adata = make()
    adata.obsm["emb"] = np.array([[1.0], [2.0], [3.0]])
    scale(adata, obsm="emb")
    np.testing.assert_allclose(adata.obsm["emb"].ravel(), [-1, 0, 1])
    assert "mean" not in adata.var  # the statistics of obsm columns are not gene statistics


def test_copy_and_view_leave_the_original_alone():
    adata = make()
    out = scale(adata, copy=True)
    np.testing.assert_array_equal(adata.X, X)
    assert "mean" not in adata.var
    np.testing.assert_allclose(out.var["mean"], MEAN)
    view = adata[:2]
    scale(view)
    np.testing.assert_array_equal(adata.X, X)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_value": 0}, "max_value"),
        ({"max_value": -1}, "max_value"),
        ({"mask_obs": np.array([1, 0, 1])}, "mask_obs"),
        ({"mask_obs": np.ones((3, 1), dtype=bool)}, "mask_obs"),
        ({"layer": "a", "obsm": "b"}, "pick one"),
    ],
)
def test_bad_params(kwargs, match):
    with pytest.raises(ParamError, match=match):
        scale(make(), **kwargs)


def test_bad_masks():
    adata = make()
    adata.obs["label"] = ["a", "b", "c"]
    with pytest.raises(MissingKeyError, match="mask_obs column 'kep' not found"):
        scale(adata, mask_obs="kep")
    with pytest.raises(InputDataError, match=r"obs\['label'\] has dtype .*; it must be bool"):
        scale(adata, mask_obs="label")
    with pytest.raises(InputDataError, match="mask_obs has 2 entries but adata has 3 cells"):
        scale(adata, mask_obs=np.array([True, False]))
    with pytest.raises(InputDataError, match="mask_obs selects no cells"):
        scale(adata, mask_obs=np.zeros(3, dtype=bool))


def test_missing_layer_and_obsm():
    with pytest.raises(MissingKeyError, match="layer 'log' not found"):
        scale(make(), layer="log")
    with pytest.raises(MissingKeyError, match="obsm\\['X_pca'\\] not found"):
        scale(make(), obsm="X_pca")


def test_empty_data():
    with pytest.raises(InputDataError, match="no cells"):
        scale(ad.AnnData(np.zeros((0, 3), dtype=np.float32)))


@pytest.mark.parametrize("fmt", FORMATS)
def test_formats_agree_on_random_counts(fmt):
    from factories import make_counts

    ref = make_counts(fmt="dense", dtype=np.float64)
    adata = make_counts(fmt=fmt, dtype=np.float64)
    scale(ref, max_value=2)
    scale(adata, max_value=2)
    np.testing.assert_allclose(adata.X, ref.X, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(adata.var["std"], ref.var["std"], rtol=1e-12)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_duplicate_sparse_entries_are_summed_when_densified(fmt):
    # X[0, 1] = 2 stored as 0.5 + 1.5 (a non-canonical matrix)
    coo = sparse.coo_matrix(X.astype(np.float32))
    data = np.concatenate([coo.data, [0.5]]).astype(np.float32)
    data[np.flatnonzero((coo.row == 0) & (coo.col == 1))] = 1.5
    rows, cols = np.concatenate([coo.row, [0]]), np.concatenate([coo.col, [1]])
    major, minor = (rows, cols) if fmt == "csr" else (cols, rows)
    order = np.argsort(major, kind="stable")
    indptr = np.concatenate([[0], np.cumsum(np.bincount(major, minlength=3))])
    cls = sparse.csr_matrix if fmt == "csr" else sparse.csc_matrix
    adata = ad.AnnData(cls((data[order], minor[order], indptr), shape=X.shape))
    assert adata.X.nnz == coo.nnz + 1  # still holds both parts
    mask = np.array([True, True, False])
    scale(adata, mask_obs=mask)
    ref = make("dense", np.float64)
    scale(ref, mask_obs=mask)
    np.testing.assert_allclose(adata.X, ref.X, rtol=1e-12)
    assert adata.X.dtype == np.float64


@pytest.mark.parametrize("fmt", FORMATS)
def test_zero_center_many_rows_clipped(fmt):
    # more rows than a parallel kernel's chunk; clipping on both sides
    rng = np.random.default_rng(0)
    x = rng.poisson(0.3, size=(3000, 7)).astype(np.float32)
    x[:5] = 40  # far out: clipped at +max_value
    x64 = x.astype(np.float64)
    expected = np.clip((x64 - x64.mean(0)) / x64.std(0, ddof=1), -3, 3)
    adata = ad.AnnData(FORMATS[fmt](x))
    scale(adata, max_value=3)
    np.testing.assert_allclose(adata.X, expected, rtol=1e-6 if fmt == "dense" else 1e-12, atol=1e-6)
    assert adata.X.max() == 3
