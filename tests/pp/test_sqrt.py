"""sqrt: hand-checked values, layouts, dtypes, in-place work, chunks, errors."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest
from scipy import sparse

from scsnake.errors import InputDataError, ParamError
from scsnake.pp import sqrt

X = np.array([[0, 1, 4], [9, 0, 16]])
ROOT = np.array([[0, 1, 2], [3, 0, 4]])
FORMATS = {"dense": np.asarray, "csr": sparse.csr_matrix, "csc": sparse.csc_matrix}


def make(fmt: str = "csr", dtype: type = np.float32) -> ad.AnnData:
    return ad.AnnData(FORMATS[fmt](X.astype(dtype)))


def dense(x: object) -> np.ndarray:
    return x.toarray() if sparse.issparse(x) else np.asarray(x)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.float32, np.float64])
def test_values_by_hand(fmt, dtype):
    adata = make(fmt, dtype)
    sqrt(adata)
    np.testing.assert_array_equal(dense(adata.X), ROOT)
    # like numpy: integers become float64, floats keep their precision
    assert adata.X.dtype == (np.float32 if dtype == np.float32 else np.float64)
    assert type(adata.X) is type(FORMATS[fmt](X))


@pytest.mark.parametrize("fmt", FORMATS)
def test_float_data_in_place_and_sparse_stays_sparse(fmt):
    adata = make(fmt)
    x = adata.X
    sqrt(adata)
    assert adata.X is x
    if fmt != "dense":
        assert adata.X.nnz == 4


@pytest.mark.parametrize("chunk_size", [None, 1, 5])
@pytest.mark.parametrize("fmt", FORMATS)
def test_chunked_equals_unchunked(fmt, chunk_size):
    adata = make(fmt)
    sqrt(adata, chunked=True, chunk_size=chunk_size)
    np.testing.assert_array_equal(dense(adata.X), ROOT)


def test_copy_returns_new_object():
    adata = make()
    out = sqrt(adata, copy=True)
    np.testing.assert_array_equal(dense(adata.X), X)
    np.testing.assert_array_equal(dense(out.X), ROOT)


def test_view_does_not_touch_parent():
    parent = make("dense")
    view = parent[1:]
    sqrt(view)
    np.testing.assert_array_equal(parent.X, X)
    np.testing.assert_array_equal(view.X, ROOT[1:])


def test_empty_data():
    adata = ad.AnnData(np.zeros((0, 3), dtype=np.float32))
    sqrt(adata)
    assert adata.X.shape == (0, 3)


@pytest.mark.parametrize("fmt", FORMATS)
def test_negative_values_are_rejected_and_data_untouched(fmt):
    adata = ad.AnnData(FORMATS[fmt](np.array([[4.0, -1.0], [9.0, 0.0]])))
    with pytest.raises(InputDataError, match="negative values"):
        sqrt(adata)
    np.testing.assert_array_equal(dense(adata.X), [[4, -1], [9, 0]])


def test_nan_is_rejected():
    with pytest.raises(InputDataError, match="NaN"):
        sqrt(ad.AnnData(np.array([[np.nan, 1.0]])))


@pytest.mark.parametrize(
    ("kwargs", "match"), [({"chunk_size": 0}, "chunk_size"), ({"chunked": "often"}, "chunked")]
)
def test_bad_params(kwargs, match):
    with pytest.raises(ParamError, match=match):
        sqrt(make(), **kwargs)
