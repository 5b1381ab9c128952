"""filter_cells / filter_genes: hand-checked values, layouts, dtypes, errors."""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pytest
from scipy import sparse

from scsnake.errors import InputDataError, ParamError
from scsnake.pp import filter_cells, filter_genes

# row sums 5, 1, 9; genes per cell 2, 1, 2; column sums 5, 7, 3; cells per gene 2, 2, 1
X = np.array([[0, 2, 3], [1, 0, 0], [4, 5, 0]])
FORMATS = {"dense": np.asarray, "csr": sparse.csr_matrix, "csc": sparse.csc_matrix}


def make(fmt: str = "csr", dtype: type = np.float32) -> ad.AnnData:
    return ad.AnnData(FORMATS[fmt](X.astype(dtype)))


def dense(x: object) -> np.ndarray:
    return x.toarray() if sparse.issparse(x) else np.asarray(x)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("dtype", [np.int64, np.float32])
@pytest.mark.parametrize(
    ("kwargs", "mask", "key", "numbers"),
    [
        ({"min_counts": 5}, [True, False, True], "n_counts", [5, 1, 9]),
        ({"max_counts": 5}, [True, True, False], "n_counts", [5, 1, 9]),
        ({"min_genes": 2}, [True, False, True], "n_genes", [2, 1, 2]),
        ({"max_genes": 1}, [False, True, False], "n_genes", [2, 1, 2]),
    ],
)
def test_filter_cells(fmt, dtype, kwargs, mask, key, numbers):
    adata = make(fmt, dtype)
    got_mask, got_numbers = filter_cells(adata, **kwargs, inplace=False)
    np.testing.assert_array_equal(got_mask, mask)
    np.testing.assert_array_equal(got_numbers, numbers)
    assert adata.n_obs == 3  # inplace=False changes nothing

    filter_cells(adata, **kwargs)
    np.testing.assert_array_equal(dense(adata.X), X[mask])
    np.testing.assert_array_equal(adata.obs[key], np.asarray(numbers)[mask])
    assert sparse.issparse(adata.X) == (fmt != "dense")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("kwargs", "mask", "key", "numbers"),
    [
        ({"min_counts": 5}, [True, True, False], "n_counts", [5, 7, 3]),
        ({"max_counts": 5}, [True, False, True], "n_counts", [5, 7, 3]),
        ({"min_cells": 2}, [True, True, False], "n_cells", [2, 2, 1]),
        ({"max_cells": 1}, [False, False, True], "n_cells", [2, 2, 1]),
    ],
)
def test_filter_genes(fmt, kwargs, mask, key, numbers):
    adata = make(fmt)
    got_mask, got_numbers = filter_genes(adata, **kwargs, inplace=False)
    np.testing.assert_array_equal(got_mask, mask)
    np.testing.assert_array_equal(got_numbers, numbers)

    filter_genes(adata, **kwargs)
    np.testing.assert_array_equal(dense(adata.X), X[:, mask])
    np.testing.assert_array_equal(adata.var[key], np.asarray(numbers)[mask])


def test_counts_keep_dtype_like_scanpy():
    _, numbers = filter_cells(make(dtype=np.float32), min_counts=0, inplace=False)
    assert numbers.dtype == np.float32
    _, numbers = filter_cells(make(dtype=np.int32), min_counts=0, inplace=False)
    assert numbers.dtype == np.int64
    _, numbers = filter_genes(make(), min_cells=0, inplace=False)
    assert numbers.dtype == np.int64


def test_copy_leaves_input_alone():
    adata = make()
    out = filter_cells(adata, min_genes=2, copy=True)
    assert adata.n_obs == 3
    assert "n_genes" not in adata.obs
    assert out.n_obs == 2
    out = filter_genes(adata, min_cells=2, copy=True)
    assert adata.n_vars == 3
    assert out.n_vars == 2


def test_view_is_subset_without_touching_parent():
    parent = make()
    view = parent[:2]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        filter_cells(view, min_counts=2)
    assert view.n_obs == 1
    assert parent.n_obs == 3
    assert "n_counts" not in parent.obs


def test_negative_values_are_not_expressed():
    adata = ad.AnnData(np.array([[-1.0, 2.0], [0.0, 3.0]]))
    _, n_genes = filter_cells(adata, min_genes=0, inplace=False)
    np.testing.assert_array_equal(n_genes, [1, 1])


@pytest.mark.parametrize("kwargs", [{}, {"min_genes": 1, "max_genes": 3}, {"min_counts": 1, "min_genes": 1}])
def test_filter_cells_needs_exactly_one_criterion(kwargs):
    with pytest.raises(ParamError, match="exactly one of min_counts, min_genes, max_counts, max_genes"):
        filter_cells(make(), **kwargs)


@pytest.mark.parametrize("kwargs", [{}, {"min_cells": 1, "max_counts": 3}])
def test_filter_genes_needs_exactly_one_criterion(kwargs):
    with pytest.raises(ParamError, match="exactly one of min_counts, min_cells, max_counts, max_cells"):
        filter_genes(make(), **kwargs)


@pytest.mark.parametrize("name", ["min_counts", "min_genes", "max_counts", "max_genes"])
def test_filter_cells_thresholds_are_non_negative(name):
    with pytest.raises(ParamError, match=name):
        filter_cells(make(), **{name: -1})


@pytest.mark.parametrize("name", ["min_counts", "min_cells", "max_counts", "max_cells"])
def test_filter_genes_thresholds_are_non_negative(name):
    with pytest.raises(ParamError, match=name):
        filter_genes(make(), **{name: -1})


def test_counts_of_genes_must_be_integers():
    with pytest.raises(ParamError, match="min_genes"):
        filter_cells(make(), min_genes=1.5)


def test_removing_every_cell_names_threshold_and_best_value():
    with pytest.raises(
        InputDataError, match=r"filter_cells\(min_genes=3\) removed all 3 cells; the largest n_genes is 2"
    ):
        filter_cells(make(), min_genes=3)
    with pytest.raises(
        InputDataError, match=r"filter_cells\(max_counts=0\) removed all 3 cells; the smallest n_counts is 1"
    ):
        filter_cells(make(), max_counts=0)


def test_removing_every_gene_names_threshold_and_best_value():
    with pytest.raises(
        InputDataError, match=r"filter_genes\(min_cells=5\) removed all 3 genes; the largest n_cells is 2"
    ):
        filter_genes(make(), min_cells=5)
    with pytest.raises(
        InputDataError, match=r"filter_genes\(min_counts=100\) removed all 3 genes; the largest n_counts is 7"
    ):
        filter_genes(make(), min_counts=100)


def test_failed_filter_leaves_adata_unchanged():
    adata = make()
    with pytest.raises(InputDataError):
        filter_cells(adata, min_genes=3)
    assert adata.shape == (3, 3)
    assert "n_genes" not in adata.obs


@pytest.mark.parametrize("shape", [(0, 3), (3, 0)])
def test_empty_data(shape):
    adata = ad.AnnData(np.zeros(shape, dtype=np.float32))
    with pytest.raises(InputDataError, match="empty"):
        filter_cells(adata, min_genes=1)
    with pytest.raises(InputDataError, match="empty"):
        filter_genes(adata, min_cells=1)


def test_copy_with_inplace_false_is_rejected():
    with pytest.raises(ParamError, match="copy=True cannot be combined with inplace=False"):
        filter_cells(make(), min_genes=1, inplace=False, copy=True)


# --- subsetting: no copy when everything is kept, at most one copy otherwise ----------


def _rich(fmt: str, layer_fmt: str = "csr") -> ad.AnnData:
    """Random counts with a layer, obsm/varm/obsp/varp, raw and obs/var columns."""
    rng = np.random.default_rng(3)
    counts = rng.poisson(0.8, size=(30, 12)).astype(np.float32)
    counts[5] = 0  # a cell and a gene without counts
    counts[:, 7] = 0
    adata = ad.AnnData(FORMATS[fmt](counts))
    adata.layers["counts"] = FORMATS[layer_fmt](counts * 2)
    adata.obsm["X_pca"] = rng.normal(size=(30, 3))
    adata.varm["PCs"] = rng.normal(size=(12, 3))
    adata.obsp["connectivities"] = sparse.random(30, 30, density=0.2, format="csr", random_state=1)
    adata.varp["corr"] = rng.normal(size=(12, 12))
    adata.obs["label"] = [f"c{i}" for i in range(30)]
    adata.var["symbol"] = [f"g{i}" for i in range(12)]
    adata.raw = adata.copy()
    return adata


def _assert_same_anndata(ours: ad.AnnData, ref: ad.AnnData) -> None:
    assert ours.shape == ref.shape
    for got, expected in [(ours.X, ref.X), *((ours.layers[k], ref.layers[k]) for k in ref.layers)]:
        assert type(got) is type(expected)
        assert got.dtype == expected.dtype
        if sparse.issparse(got):
            assert got.indices.dtype == expected.indices.dtype
            assert got.has_canonical_format
        np.testing.assert_array_equal(dense(got), dense(expected))
    assert list(ours.layers) == list(ref.layers)
    assert ours.obs.equals(ref.obs) and ours.var.equals(ref.var)
    for slot in ("obsm", "varm", "obsp", "varp"):
        assert list(getattr(ours, slot)) == list(getattr(ref, slot))
        for key in getattr(ref, slot):
            np.testing.assert_array_equal(dense(getattr(ours, slot)[key]), dense(getattr(ref, slot)[key]))
    assert ours.raw.shape == ref.raw.shape
    np.testing.assert_array_equal(dense(ours.raw.X), dense(ref.raw.X))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("layer_fmt", ["csr", "dense"])
def test_subset_equals_anndatas_own(fmt, layer_fmt):
    for func, kwargs, axis in ((filter_cells, {"min_genes": 1}, 0), (filter_genes, {"min_cells": 1}, 1)):
        ours, ref = _rich(fmt, layer_fmt), _rich(fmt, layer_fmt)
        func(ours, **kwargs)
        mask, numbers = func(ref, **kwargs, inplace=False)
        assert not mask.all()
        if axis == 0:
            ref._inplace_subset_obs(mask)
            ref.obs["n_genes"] = numbers[mask]
        else:
            ref._inplace_subset_var(mask)
            ref.var["n_cells"] = numbers[mask]
        _assert_same_anndata(ours, ref)


@pytest.mark.parametrize("fmt", FORMATS)
def test_nothing_removed_keeps_the_matrices(fmt):
    adata = _rich(fmt)
    x, layer = adata.X, adata.layers["counts"]
    filter_cells(adata, min_genes=0)
    filter_genes(adata, min_cells=0)
    assert adata.X is x and adata.layers["counts"] is layer  # no copy
    assert adata.obs["n_genes"].tolist() == (dense(x) > 0).sum(axis=1).tolist()
    assert adata.var["n_cells"].tolist() == (dense(x) > 0).sum(axis=0).tolist()


def test_subset_compacts_csr_in_place_and_copies_dense():
    adata = _rich("csr")
    old = adata.X
    expected = old.toarray()[:, (old.toarray() > 0).any(axis=0)]
    filter_genes(adata, min_cells=1)
    assert adata.X is old and adata.n_vars == 11  # the same matrix, compacted (see test_filter_inplace)
    np.testing.assert_array_equal(old.toarray(), expected)
    adata = _rich("dense")
    old = adata.X
    before = old.copy()
    filter_genes(adata, min_cells=1)
    assert adata.X is not old and adata.n_vars == 11
    np.testing.assert_array_equal(old, before)


@pytest.mark.parametrize("cls", [sparse.csr_array, sparse.csc_array])
def test_sparse_array_class_and_index_dtype_kept(cls):
    x = cls(X.astype(np.float32))
    x.indices = x.indices.astype(np.int64)
    x.indptr = x.indptr.astype(np.int64)
    adata = ad.AnnData(x)
    filter_cells(adata, min_genes=2)
    filter_genes(adata, min_counts=4)
    assert type(adata.X) is cls and adata.X.indices.dtype == np.int64
    np.testing.assert_array_equal(dense(adata.X), [[0, 2], [4, 5]])


def test_non_canonical_matrix_is_subset_as_stored():
    x = sparse.csr_matrix(
        (np.array([1.0, 2.0, 3.0, 4.0], dtype=np.float32), np.array([2, 0, 0, 1]), np.array([0, 2, 2, 4])),
        shape=(3, 3),
    )
    assert not x.has_sorted_indices
    adata = ad.AnnData(x.copy())
    filter_cells(adata, min_counts=1)
    np.testing.assert_array_equal(dense(adata.X), x.toarray()[[0, 2]])
    filter_genes(adata, min_counts=3)
    np.testing.assert_array_equal(dense(adata.X), x.toarray()[[0, 2]][:, [0, 1]])
