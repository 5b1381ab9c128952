"""regress_out: hand-checked residuals (continuous, categorical, singular), layouts, errors."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from scsnake.errors import InputDataError, MissingKeyError, ParamError
from scsnake.pp import regress_out

FORMATS = {"dense": np.asarray, "csr": sparse.csr_matrix, "csc": sparse.csc_matrix}

# 5 cells × 4 genes; t is continuous, grp a categorical with exact float32 group means
X = np.array(
    [
        [1.0, 0.0, 5.0, 2.0],
        [3.0, 2.0, 5.0, 2.0],
        [2.0, 4.0, 5.0, 7.0],
        [6.0, 6.0, 5.0, 7.0],
        [4.0, 8.0, 5.0, 7.0],
    ]
)
OBS = pd.DataFrame(
    {
        "t": [0.0, 1.0, 2.0, 3.0, 4.0],
        "u": [1.0, 0.0, 1.0, 0.0, 2.0],
        "flat": 3.0,
        "grp": pd.Categorical(["a", "a", "b", "b", "b"]),
        "label": ["a", "a", "b", "b", "b"],
        "flag": [True, False, True, False, False],
    },
    index=[f"c{i}" for i in range(5)],
)


def make(fmt: str = "dense", dtype: type = np.float64) -> ad.AnnData:
    return ad.AnnData(FORMATS[fmt](X.astype(dtype)), obs=OBS.copy())


def least_squares_residuals(design: np.ndarray) -> np.ndarray:
    coef, *_ = np.linalg.lstsq(design, X, rcond=None)
    return X - design @ coef


@pytest.mark.parametrize("fmt", FORMATS)
def test_continuous_keys_by_hand(fmt):
    adata = make(fmt)
    regress_out(adata, ["t", "u"])
    design = np.column_stack([np.ones(5), OBS["t"], OBS["u"]])
    assert isinstance(adata.X, np.ndarray)  # sparse input becomes dense, like scanpy
    np.testing.assert_allclose(adata.X, least_squares_residuals(design), atol=1e-12)
    # gene 1 is exactly linear in t: nothing is left
    single = make(fmt)
    regress_out(single, "t")
    np.testing.assert_allclose(single.X[:, 1], 0, atol=1e-12)


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [(np.float32, np.float32), (np.float64, np.float64), (np.int32, np.float32), (np.int64, np.float64)],
)
def test_continuous_dtype_like_scanpy(dtype, expected):
    adata = make("dense", dtype)
    regress_out(adata, "t")
    assert adata.X.dtype == expected


def test_dense_float_is_corrected_in_place():
    adata = make("dense")
    x = adata.X
    regress_out(adata, "t")
    assert adata.X is x


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("key", ["grp", "label"])
def test_categorical_key_by_hand(fmt, key):
    adata = make(fmt, np.float32)
    regress_out(adata, key)
    assert adata.X.dtype == np.float64
    expected = X - np.vstack([X[:2].mean(axis=0)] * 2 + [X[2:].mean(axis=0)] * 3)
    expected[:, 2] = 5.0  # a gene with one value everywhere is left alone (scanpy's GLM rule)
    expected[:, 3] = 0.0  # a gene the categories predict perfectly becomes 0
    np.testing.assert_allclose(adata.X, expected, atol=1e-12)


def test_cells_without_category_get_regressor_zero():
    adata = make()
    adata.obs["grp"] = pd.Categorical(["a", "a", None, "b", "b"])
    regress_out(adata, "grp")
    # scanpy's regressor: the category mean, 0 for the cell without a category
    y = X[:, 0]
    m = np.array([2.0, 2.0, 0.0, 5.0, 5.0])
    design = np.column_stack([np.ones(5), m])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    np.testing.assert_allclose(adata.X[:, 0], y - design @ coef, atol=1e-12)


def test_singular_design_uses_the_column_space():
    adata = make()
    regress_out(adata, ["flat"])  # a constant key: the design [1, 3] has rank 1
    assert adata.X.dtype == np.float64
    expected = X - X.mean(axis=0)
    expected[:, 2] = 5.0  # constant gene unchanged, as in scanpy's GLM fallback
    np.testing.assert_allclose(adata.X, expected, atol=1e-12)


def test_bool_key_is_numeric():
    adata = make()
    regress_out(adata, ["flag"])
    design = np.column_stack([np.ones(5), OBS["flag"].astype(float)])
    np.testing.assert_allclose(adata.X, least_squares_residuals(design), atol=1e-12)


def test_layer_copy_and_view():
    adata = make()
    adata.layers["log"] = X.copy()
    out = regress_out(adata, "t", layer="log", copy=True)
    np.testing.assert_array_equal(adata.layers["log"], X)
    np.testing.assert_array_equal(out.X, X)
    np.testing.assert_allclose(out.layers["log"][:, 1], 0, atol=1e-12)
    parent = make()
    view = parent[:4]
    regress_out(view, "t")
    np.testing.assert_array_equal(parent.X, X)


@pytest.mark.parametrize(
    ("keys", "error", "match"),
    [
        ("tt", MissingKeyError, "key 'tt' not found in adata.obs \\(close matches: t"),
        (["t", "nope"], MissingKeyError, "'nope' not found"),
        (["grp", "t"], ParamError, "categorical key must be the only key"),
        (["t", "label"], ParamError, "obs\\['label'\\] is not numeric"),
        ([], ParamError, "keys is empty"),
    ],
)
def test_bad_keys(keys, error, match):
    with pytest.raises(error, match=match):
        regress_out(make(), keys)


def test_missing_values_in_key_and_data():
    adata = make()
    adata.obs.loc["c1", "t"] = np.nan
    with pytest.raises(InputDataError, match="obs\\['t'\\] has 1 missing"):
        regress_out(adata, "t")
    adata = make()
    adata.X[0, 0] = np.inf
    with pytest.raises(InputDataError, match="NaN or infinite"):
        regress_out(adata, "t")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"n_jobs": 0}, "n_jobs"), ({"keys": 3}, "keys"), ({"keys": "t", "layer": 1}, "layer")],
)
def test_bad_params(kwargs, match):
    with pytest.raises(ParamError, match=match):
        regress_out(make(), **({"keys": "t"} | kwargs))
