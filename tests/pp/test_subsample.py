"""subsample and downsample_counts: draws, layouts, dtypes, copies, errors."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest
from scipy import sparse

from factories import make_counts
from scsnake.errors import InputDataError, ParamError
from scsnake.pp import downsample_counts, subsample

FORMATS = ["dense", "csr", "csc"]


def dense(x: object) -> np.ndarray:
    return x.toarray() if sparse.issparse(x) else np.asarray(x)


# --- subsample --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "n"),
    [({"n_obs": 7}, 7), ({"fraction": 0.25}, 15), ({"fraction": 0.26}, 15), ({"n_obs": 0}, 0)],
)
def test_subsample_size_and_legacy_draws(kwargs, n):
    adata = make_counts()
    original = adata.obs_names.copy()
    subsample(adata, **kwargs, random_state=3)
    assert adata.n_obs == n
    # the legacy generator's permutation, in the order drawn (as scanpy)
    expected = original[np.random.RandomState(3).permutation(60)[:n]]
    assert adata.obs_names.equals(expected)
    np.testing.assert_array_equal(dense(adata.X), dense(make_counts()[expected].X))


def test_subsample_copy_and_seeds():
    adata = make_counts()
    first = subsample(adata, n_obs=10, copy=True)
    assert adata.n_obs == 60
    assert first.obs_names.equals(subsample(adata, n_obs=10, copy=True, random_state=None).obs_names)
    assert not first.obs_names.equals(subsample(adata, n_obs=10, copy=True, random_state=1).obs_names)
    assert not first.is_view


def test_subsample_does_not_touch_numpy_global_state():
    np.random.seed(5)
    expected = np.random.random()
    np.random.seed(5)
    subsample(make_counts(), n_obs=5)
    assert np.random.random() == expected


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "exactly one of fraction and n_obs"),
        ({"fraction": 0.5, "n_obs": 3}, "exactly one"),
        ({"fraction": 1.5}, "fraction"),
        ({"n_obs": -1}, "n_obs"),
        ({"n_obs": 61}, "more than the 60 cells"),
        ({"n_obs": 3, "random_state": -1}, "random_state"),
    ],
)
def test_subsample_bad_params(kwargs, match):
    with pytest.raises(ParamError, match=match):
        subsample(make_counts(), **kwargs)


# --- downsample_counts ------------------------------------------------------------------


@pytest.fixture(params=FORMATS)
def counts(request: pytest.FixtureRequest) -> ad.AnnData:
    return make_counts(fmt=request.param, dtype=np.float32)


@pytest.mark.parametrize("replace", [False, True])
def test_per_cell_totals(counts, replace):
    before = dense(counts.X)
    totals = before.sum(axis=1)
    target = int(np.median(totals))
    downsample_counts(counts, counts_per_cell=target, replace=replace)
    after = dense(counts.X)
    new_totals = after.sum(axis=1)
    np.testing.assert_array_equal(new_totals[totals > target], target)
    np.testing.assert_array_equal(after[totals <= target], before[totals <= target])  # untouched
    if not replace:
        assert (after <= before).all()
    assert ((after > 0) <= (before > 0)).all()  # counts only move between a cell's own genes
    assert counts.X.dtype == np.float32
    if sparse.issparse(counts.X):
        assert (counts.X.data != 0).all()


def test_same_draws_in_every_format():
    results = []
    for fmt in FORMATS:
        adata = make_counts(fmt=fmt)
        downsample_counts(adata, counts_per_cell=20, random_state=4)
        results.append(dense(adata.X))
        assert type(adata.X) is type(make_counts(fmt=fmt).X)
    for other in results[1:]:
        np.testing.assert_array_equal(other, results[0])


@pytest.mark.parametrize("replace", [False, True])
def test_total_counts(counts, replace):
    before = dense(counts.X)
    downsample_counts(counts, total_counts=500, replace=replace)
    after = dense(counts.X)
    assert after.sum() == 500
    if not replace:
        assert (after <= before).all()


def test_total_counts_above_the_total_leaves_data_alone():
    adata = make_counts()
    before = adata.X.toarray()
    downsample_counts(adata, total_counts=int(before.sum()) + 1)
    np.testing.assert_array_equal(adata.X.toarray(), before)


def test_per_cell_array_and_int_counts():
    x = np.array([[5, 5, 0], [1, 0, 1], [0, 8, 2]], dtype=np.int64)
    adata = ad.AnnData(x.copy())
    downsample_counts(adata, counts_per_cell=[4, 1, 10])
    assert adata.X.dtype == np.int64
    np.testing.assert_array_equal(adata.X.sum(axis=1), [4, 1, 10])
    np.testing.assert_array_equal(adata.X[2], x[2])


def test_copy_and_view():
    parent = make_counts(fmt="dense")
    before = parent.X.copy()
    out = downsample_counts(parent, counts_per_cell=5, copy=True)
    np.testing.assert_array_equal(parent.X, before)
    assert (out.X.sum(axis=1) <= 5).all()
    view = parent[:10]
    downsample_counts(view, counts_per_cell=5)
    np.testing.assert_array_equal(parent.X, before)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "exactly one of counts_per_cell and total_counts"),
        ({"counts_per_cell": 5, "total_counts": 10}, "exactly one"),
        ({"counts_per_cell": -1}, "counts_per_cell"),
        ({"counts_per_cell": 2.5}, "counts_per_cell"),
        ({"counts_per_cell": [[1, 2]]}, "counts_per_cell"),
        ({"total_counts": -3}, "total_counts"),
        ({"counts_per_cell": [1, 2]}, "2 values but there are 60 cells"),
    ],
)
def test_downsample_bad_params(kwargs, match):
    with pytest.raises(ParamError, match=match):
        downsample_counts(make_counts(), **kwargs)


def test_downsample_needs_counts():
    adata = make_counts()
    adata.X = adata.X * 0.5
    with pytest.raises(InputDataError, match="raw counts"):
        downsample_counts(adata, counts_per_cell=5)
