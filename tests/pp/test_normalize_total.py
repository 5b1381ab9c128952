"""normalize_total: hand-checked values, layouts, dtypes, options, errors."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest
from scipy import sparse

from scsnake.errors import DataWarning, InputDataError, MissingKeyError, ParamError
from scsnake.pp import normalize_total
from scsnake.pp._normalize_total import NormalizeTotalParams

# totals 4, 4, 10: the median is 4
X = np.array([[1, 3], [2, 2], [0, 10]])
FORMATS = {"dense": np.asarray, "csr": sparse.csr_matrix, "csc": sparse.csc_matrix}


def make(fmt: str = "csr", dtype: type = np.float32, x: np.ndarray = X) -> ad.AnnData:
    return ad.AnnData(FORMATS[fmt](x.astype(dtype)))


def dense(x: object) -> np.ndarray:
    return x.toarray() if sparse.issparse(x) else np.asarray(x)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("dtype", [np.int64, np.float32, np.float64])
def test_values_by_hand(fmt, dtype):
    adata = make(fmt, dtype)
    normalize_total(adata, key_added="size_factor")
    np.testing.assert_allclose(dense(adata.X), [[1, 3], [2, 2], [0, 4]], rtol=1e-6)
    np.testing.assert_allclose(adata.obs["size_factor"], [1, 1, 2.5], rtol=1e-6)
    # like scanpy: integers become float32, floats keep their precision
    assert adata.X.dtype == (np.float64 if dtype == np.float64 else np.float32)
    assert adata.obs["size_factor"].dtype == adata.X.dtype
    assert type(adata.X) is type(FORMATS[fmt](X))


@pytest.mark.parametrize("fmt", FORMATS)
def test_target_sum(fmt):
    adata = make(fmt)
    normalize_total(adata, target_sum=1)
    np.testing.assert_allclose(dense(adata.X), [[0.25, 0.75], [0.5, 0.5], [0, 1]])


@pytest.mark.parametrize("fmt", FORMATS)
def test_exclude_highly_expressed(fmt):
    # scanpy's docstring example: genes 1, 3, 4 exceed 20% of some cell's counts
    x = np.array([[3, 3, 3, 6, 6], [1, 1, 1, 2, 2], [1, 22, 1, 2, 2]])
    adata = make(fmt, x=x)
    result = normalize_total(
        adata, target_sum=1, exclude_highly_expressed=True, max_fraction=0.2, inplace=False
    )
    np.testing.assert_allclose(
        dense(result["X"]), [[0.5, 0.5, 0.5, 1, 1], [0.5, 0.5, 0.5, 1, 1], [0.5, 11, 0.5, 1, 1]]
    )
    np.testing.assert_allclose(result["norm_factor"], [6, 2, 2])


@pytest.mark.parametrize("fmt", FORMATS)
def test_float_data_is_scaled_in_place(fmt):
    adata = make(fmt)
    x = adata.X
    normalize_total(adata)
    assert adata.X is x


@pytest.mark.parametrize("fmt", FORMATS)
def test_inplace_false_returns_dict_and_leaves_adata_alone(fmt):
    adata = make(fmt)
    result = normalize_total(adata, target_sum=1, key_added="sf", inplace=False)
    assert set(result) == {"X", "norm_factor"}
    np.testing.assert_array_equal(dense(adata.X), X)
    assert "sf" not in adata.obs
    np.testing.assert_allclose(result["norm_factor"], [4, 4, 10])


def test_copy_returns_new_object():
    adata = make()
    out = normalize_total(adata, target_sum=1, copy=True)
    np.testing.assert_array_equal(dense(adata.X), X)
    np.testing.assert_allclose(dense(out.X).sum(axis=1), 1)


@pytest.mark.parametrize("fmt", FORMATS)
def test_zero_count_cells_warn_and_stay_zero(fmt):
    adata = make(fmt, x=np.array([[1, 3], [0, 0], [2, 6], [2, 6]]))
    with pytest.warns(DataWarning, match="1 cell"):
        normalize_total(adata, key_added="sf")
    # target: the median of the nonzero totals (8), not of all totals (6)
    np.testing.assert_allclose(dense(adata.X), [[2, 6], [0, 0], [2, 6], [2, 6]])
    np.testing.assert_allclose(adata.obs["sf"], [0.5, 0, 1, 1])


def test_layer():
    adata = make()
    adata.layers["counts"] = adata.X.copy()
    normalize_total(adata, target_sum=1, layer="counts")
    np.testing.assert_array_equal(dense(adata.X), X)
    np.testing.assert_allclose(dense(adata.layers["counts"]).sum(axis=1), 1, rtol=1e-6)


def test_missing_layer():
    with pytest.raises(MissingKeyError, match="layer 'cuonts' not found"):
        normalize_total(make(), layer="cuonts")


def test_view_does_not_touch_parent():
    parent = make(x=X.copy())
    view = parent[:2]
    normalize_total(view, target_sum=1)
    np.testing.assert_array_equal(dense(parent.X), X)
    np.testing.assert_allclose(dense(view.X), [[0.25, 0.75], [0.5, 0.5]])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"target_sum": 0}, "target_sum"),
        ({"target_sum": -1.0}, "target_sum"),
        ({"max_fraction": 0}, "max_fraction"),
        ({"max_fraction": 1.5}, "max_fraction"),
        ({"inplace": False, "copy": True}, "copy=True cannot be combined with inplace=False"),
    ],
)
def test_bad_params(kwargs, match):
    with pytest.raises(ParamError, match=match):
        normalize_total(make(), **kwargs)


def test_params_model_reads_yaml_style_numbers():
    # YAML 1.1 reads 1e4 as text; the config's params model turns it back into a number
    assert NormalizeTotalParams(target_sum="1e4").target_sum == 1e4


def test_empty_data():
    with pytest.raises(InputDataError, match="no cells"):
        normalize_total(ad.AnnData(np.zeros((0, 3), dtype=np.float32)))


def test_all_zero_cells_without_target_sum():
    with pytest.raises(InputDataError, match="every cell has zero counts"):
        normalize_total(ad.AnnData(np.zeros((2, 3), dtype=np.float32)))


def test_all_zero_cells_with_target_sum_warns():
    adata = ad.AnnData(np.zeros((2, 3), dtype=np.float32))
    with pytest.warns(DataWarning, match="2 cell"):
        normalize_total(adata, target_sum=1)
    np.testing.assert_array_equal(adata.X, 0)


@pytest.mark.parametrize("fmt", FORMATS)
def test_formats_agree_on_random_counts(fmt):
    from factories import make_counts

    ref = make_counts(fmt="dense")
    adata = make_counts(fmt=fmt)
    normalize_total(ref, exclude_highly_expressed=True, max_fraction=0.3, key_added="sf")
    normalize_total(adata, exclude_highly_expressed=True, max_fraction=0.3, key_added="sf")
    np.testing.assert_allclose(dense(adata.X), ref.X, rtol=1e-6)
    np.testing.assert_allclose(adata.obs["sf"], ref.obs["sf"], rtol=1e-6)
