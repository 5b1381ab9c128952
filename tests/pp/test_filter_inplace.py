"""filter_cells / filter_genes compact CSR/CSC matrices inside their own arrays.

The result must equal anndata's ``adata[mask].copy()`` and the copy path (``_take``)
exactly, while allocating a small fraction of the matrix; matrices that share memory
with another matrix of the AnnData fall back to the copy.
"""

from __future__ import annotations

import tracemalloc

import anndata as ad
import numpy as np
import pytest
from scipy import sparse

from scsnake.errors import InputDataError
from scsnake.pp import filter_cells, filter_genes
from scsnake.pp._filter import _compact, _take

CLASSES = {
    "csr": sparse.csr_matrix,
    "csc": sparse.csc_matrix,
    "csr_array": sparse.csr_array,
    "csc_array": sparse.csc_array,
}
FILTERS = {"cells": (filter_cells, {"min_genes": 3}, 0), "genes": (filter_genes, {"min_cells": 3}, 1)}


def random_counts(
    shape: tuple[int, int] = (60, 40),
    *,
    cls: type = sparse.csr_matrix,
    dtype: type = np.float32,
    index_dtype: type = np.int32,
    sorted_indices: bool = True,
    density: float = 0.15,
    seed: int = 0,
) -> sparse.spmatrix:
    """Random counts with some silent cells and genes, indices as asked (arrays own their buffers)."""
    rng = np.random.default_rng(seed)
    dense = rng.poisson(0.3, size=shape) * (rng.random(shape) < density * 4)
    dense[rng.choice(shape[0], shape[0] // 6, replace=False)] = 0
    dense[:, rng.choice(shape[1], shape[1] // 6, replace=False)] = 0
    x = cls(dense.astype(dtype))
    if not sorted_indices:  # reverse the entries of every major row
        for i in range(x.indptr.size - 1):
            sl = slice(x.indptr[i], x.indptr[i + 1])
            x.indices[sl], x.data[sl] = x.indices[sl][::-1].copy(), x.data[sl][::-1].copy()
        vars(x).pop("_has_sorted_indices", None)
        vars(x).pop("_has_canonical_format", None)
    x.indices = x.indices.astype(index_dtype)  # bypasses the constructor's index narrowing
    x.indptr = x.indptr.astype(index_dtype)
    x.data = x.data.copy()
    return x


def assert_same_matrix(got: sparse.spmatrix, expected: sparse.spmatrix, *, exact: bool = True) -> None:
    """Same class, shape, dtypes and values; with ``exact`` also the same stored arrays."""
    assert type(got) is type(expected)
    assert got.shape == expected.shape
    assert got.dtype == expected.dtype
    assert got.indices.dtype == expected.indices.dtype and got.indptr.dtype == expected.indptr.dtype
    np.testing.assert_array_equal(got.toarray(), expected.toarray())
    if exact:
        np.testing.assert_array_equal(got.indptr, expected.indptr)
        np.testing.assert_array_equal(got.indices, expected.indices)
        np.testing.assert_array_equal(got.data, expected.data)
        assert got.has_sorted_indices == expected.has_sorted_indices
        assert got.has_canonical_format == expected.has_canonical_format


def subset_like_anndata(adata: ad.AnnData, which: str) -> ad.AnnData:
    func, kwargs, axis = FILTERS[which]
    mask, numbers = func(adata, **kwargs, inplace=False)
    assert 0 < mask.sum() < mask.size
    out = adata[mask].copy() if axis == 0 else adata[:, mask].copy()
    names = out.obs if axis == 0 else out.var
    names["n_genes" if axis == 0 else "n_cells"] = numbers[mask]
    return out


@pytest.mark.parametrize("which", FILTERS)
@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sorted_indices", [True, False])
def test_in_place_equals_copies(which, cls, index_dtype, dtype, sorted_indices):
    x = random_counts(cls=CLASSES[cls], dtype=dtype, index_dtype=index_dtype, sorted_indices=sorted_indices)
    func, kwargs, axis = FILTERS[which]
    adata = ad.AnnData(x)
    adata.layers["counts"] = random_counts(cls=CLASSES[cls], dtype=dtype, index_dtype=index_dtype, seed=1)
    ref = subset_like_anndata(adata.copy(), which)
    mask, _ = func(adata, **kwargs, inplace=False)
    via_copy = {key: _take(m, mask, axis) for key, m in [("X", adata.X), ("counts", adata.layers["counts"])]}
    layer = adata.layers["counts"]

    func(adata, **kwargs)
    assert adata.X is x and adata.layers["counts"] is layer  # compacted, not copied
    for got, key in ((adata.X, "X"), (adata.layers["counts"], "counts")):
        assert_same_matrix(got, via_copy[key])
        assert_same_matrix(got, ref.X if key == "X" else ref.layers[key], exact=False)
    assert adata.X.has_sorted_indices == sorted_indices
    assert adata.obs.equals(ref.obs) and adata.var.equals(ref.var)


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("kept", ["all", "none", "first", "last"])
def test_compact_edge_masks(cls, index_dtype, axis, kept):
    x = random_counts(cls=CLASSES[cls], index_dtype=index_dtype, sorted_indices=False)
    keep = np.zeros(x.shape[axis], dtype=bool)
    keep[{"all": slice(None), "none": slice(0), "first": slice(0, 1), "last": slice(-1, None)}[kept]] = True
    expected = _take(x, keep, axis)
    assert _compact(x, keep, axis)
    assert_same_matrix(x, expected)
    x.check_format(full_check=True)


def test_csr_matrix_int64_indices_narrow_inside_their_buffer():
    x = random_counts(index_dtype=np.int64)
    old_indices = x.indices
    adata = ad.AnnData(x)
    filter_genes(adata, min_cells=3)
    assert adata.X.indices.dtype == np.int32  # as scipy's constructor on the copy path
    assert np.shares_memory(adata.X.indices, old_indices)


def test_owned_buffers_are_cut_to_size():
    adata = ad.AnnData(random_counts())
    filter_cells(adata, min_genes=3)
    for values in (adata.X.data, adata.X.indices):
        assert values.flags.owndata and values.size == adata.X.nnz


def test_a_held_reference_to_the_values_stays_valid():
    x = random_counts()
    data = x.data
    adata = ad.AnnData(x)
    filter_genes(adata, min_cells=3)
    assert np.shares_memory(adata.X.data, data)  # a view of the prefix, not a resized buffer
    np.testing.assert_array_equal(data[: adata.X.nnz], adata.X.data)


def _share_same_object(adata: ad.AnnData) -> None:
    adata.layers["counts"] = adata.X


def _share_arrays(adata: ad.AnnData) -> None:
    x = adata.X
    adata.layers["counts"] = type(x)((x.data, x.indices, x.indptr), shape=x.shape)


def _share_raw(adata: ad.AnnData) -> None:
    adata.raw = adata


def _share_obsm(adata: ad.AnnData) -> None:
    adata.obsm["counts"] = adata.X


@pytest.mark.parametrize("which", FILTERS)
@pytest.mark.parametrize("share", [_share_same_object, _share_arrays, _share_raw, _share_obsm])
def test_shared_memory_falls_back_to_a_copy(which, share):
    x = random_counts()
    before = x.toarray()
    adata = ad.AnnData(x)
    adata.layers["other"] = other = random_counts(seed=2)
    share(adata)
    func, kwargs, _ = FILTERS[which]
    ref = subset_like_anndata(adata.copy(), which)

    func(adata, **kwargs)
    assert adata.X is not x
    np.testing.assert_array_equal(x.toarray(), before)  # the shared matrix is left alone
    for key in ref.layers:
        assert_same_matrix(adata.layers[key], ref.layers[key], exact=False)
    assert_same_matrix(adata.X, ref.X, exact=False)
    if adata.raw is not None:
        np.testing.assert_array_equal(adata.raw.X.toarray(), ref.raw.X.toarray())
    for key in ref.obsm:
        np.testing.assert_array_equal(adata.obsm[key].toarray(), ref.obsm[key].toarray())
    assert adata.layers["other"] is other  # shares nothing: still compacted in place


def test_memory_mapped_values_are_not_written(tmp_path):
    x = random_counts()
    data = np.memmap(tmp_path / "data.bin", dtype=x.data.dtype, mode="w+", shape=x.data.shape)
    data[:] = x.data
    x.data = data
    before = np.array(data)
    adata = ad.AnnData(x)
    filter_genes(adata, min_cells=3)
    assert adata.X is not x
    np.testing.assert_array_equal(np.asarray(data), before)


def test_dense_and_view_keep_the_copy():
    adata = ad.AnnData(random_counts().toarray())
    old = adata.X
    filter_genes(adata, min_cells=3)
    assert adata.X is not old
    parent = ad.AnnData(random_counts())
    before = parent.X.toarray()
    filter_genes(parent[:50], min_cells=3)
    np.testing.assert_array_equal(parent.X.toarray(), before)


def test_everything_kept_or_removed_leaves_x_alone():
    x = random_counts()
    before = x.copy()
    adata = ad.AnnData(x)
    filter_genes(adata, min_cells=0)
    assert adata.X is x
    assert_same_matrix(adata.X, before)
    with pytest.raises(InputDataError, match="removed all"):
        filter_cells(adata, min_genes=10_000)
    assert_same_matrix(adata.X, before)


def _big_counts() -> sparse.csr_matrix:
    """2,000 × 3,000 CSR float32 counts with ~1M stored values; 300 genes and 200 cells silent."""
    rng = np.random.default_rng(0)
    n_rows, n_cols, nnz = 2000, 3000, 1_000_000
    x = sparse.random(
        n_rows, n_cols, density=nnz / (n_rows * n_cols), format="csr", dtype=np.float32, rng=rng
    )
    x.data[:] = rng.integers(1, 10, x.nnz)
    x.data[x.indices < 300] = 0
    x.data[: x.indptr[200]] = 0
    x.eliminate_zeros()
    x.data = x.data.copy()  # own buffers, like a matrix read from disk
    x.indices = x.indices.copy()
    return x


@pytest.mark.parametrize("which", FILTERS)
def test_filter_allocates_a_small_fraction_of_the_matrix(which):
    func, kwargs, axis = FILTERS[which]
    func(ad.AnnData(random_counts()), **kwargs)  # compile outside the trace
    x = _big_counts()
    matrix_bytes = x.data.nbytes + x.indices.nbytes
    adata = ad.AnnData(x)
    tracemalloc.start()
    try:
        func(adata, **kwargs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert adata.X is x
    assert adata.shape[axis] == (1800, 2700)[axis]
    assert peak < 0.25 * matrix_bytes, f"peak {peak / 1e6:.2f} MB for a {matrix_bytes / 1e6:.2f} MB matrix"
