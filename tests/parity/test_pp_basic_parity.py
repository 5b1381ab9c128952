"""Parity with scanpy for QC, filtering, normalize_total, log1p and scale (exact: rtol 1e-5).

Both libraries get copies of the same data: the real ``mouse10k`` counts (10,000 cells ×
1,000 genes, one cell without counts) and seeded ``make_counts`` data, as dense, CSR and CSC.
"""

from __future__ import annotations

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
FORMATS = {
    "dense": lambda x: x.toarray() if sparse.issparse(x) else np.asarray(x),
    "csr": sparse.csr_matrix,
    "csc": sparse.csc_matrix,
}


def dense(x: object) -> np.ndarray:
    return x.toarray() if sparse.issparse(x) else np.asarray(x)


@pytest.fixture(params=["make_counts", "mouse10k"])
def counts(request: pytest.FixtureRequest) -> ad.AnnData:
    """Raw counts (CSR float32) with bool ``mt`` / ``ribo`` gene columns."""
    if request.param == "mouse10k":
        adata = request.getfixturevalue("mouse10k").copy()
    else:
        adata = make_counts(300, 120, seed=1)
    names = adata.var_names.str.lower()
    adata.var["mt"] = names.str.startswith("mt-")
    adata.var["ribo"] = names.str.startswith(("rps", "rpl"))
    return adata


@pytest.fixture
def lognorm(counts: ad.AnnData) -> ad.AnnData:
    """The counts normalised to 1e4 and log1p-transformed (by scanpy), without uns['log1p']."""
    adata = counts[counts.X.sum(axis=1).A1 > 0].copy()
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    del adata.uns["log1p"]
    adata.obs["half"] = np.arange(adata.n_obs) % 2 == 0
    return adata


def with_format(adata: ad.AnnData, fmt: str) -> ad.AnnData:
    adata = adata.copy()
    adata.X = FORMATS[fmt](adata.X)
    return adata


def assert_frames_match(ours, theirs) -> None:
    assert list(ours.columns) == list(theirs.columns)
    assert ours.index.equals(theirs.index)
    for column in theirs.columns:
        if pd.api.types.is_numeric_dtype(theirs[column]):
            np.testing.assert_allclose(ours[column], theirs[column], rtol=RTOL, err_msg=column)
        else:
            assert ours[column].equals(theirs[column]), column


# --- calculate_qc_metrics ---------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
# scanpy's dense path divides by mouse10k's empty cell's zero total (NaN on both sides)
@pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning:scanpy.*")
def test_calculate_qc_metrics(counts, fmt):
    adata = with_format(counts, fmt)
    kwargs = {"qc_vars": ["mt", "ribo"], "percent_top": (5, 50, 100)}
    ours = pp.calculate_qc_metrics(adata, **kwargs)
    theirs = sc.pp.calculate_qc_metrics(adata.copy(), **kwargs)
    assert_frames_match(ours[0], theirs[0])
    assert_frames_match(ours[1], theirs[1])


def test_calculate_qc_metrics_inplace(counts):
    ours, theirs = counts.copy(), counts.copy()
    pp.calculate_qc_metrics(ours, qc_vars="ribo", percent_top=None, log1p=False, inplace=True)
    sc.pp.calculate_qc_metrics(theirs, qc_vars="ribo", percent_top=None, log1p=False, inplace=True)
    assert_frames_match(ours.obs, theirs.obs)
    assert_frames_match(ours.var, theirs.var)


# --- filter_cells / filter_genes --------------------------------------------------------


def _threshold(values: np.ndarray) -> int:
    """A threshold that keeps part of the data: the median, rounded down."""
    return int(np.median(values))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", ["min_counts", "min_genes", "max_counts", "max_genes"])
def test_filter_cells(counts, fmt, name):
    adata = with_format(counts, fmt)
    x = counts.X
    values = x.sum(axis=1).A1 if name.endswith("counts") else x.getnnz(axis=1)
    kwargs = {name: _threshold(values)}
    mask, numbers = pp.filter_cells(adata, **kwargs, inplace=False)
    ref_mask, ref_numbers = sc.pp.filter_cells(adata.copy(), **kwargs, inplace=False)
    np.testing.assert_array_equal(mask, ref_mask)
    np.testing.assert_allclose(numbers, ref_numbers, rtol=RTOL)
    assert 0 < mask.sum() < mask.size

    ours, theirs = adata.copy(), adata.copy()
    pp.filter_cells(ours, **kwargs)
    sc.pp.filter_cells(theirs, **kwargs)
    assert ours.obs_names.equals(theirs.obs_names)
    assert_frames_match(ours.obs, theirs.obs)
    np.testing.assert_array_equal(dense(ours.X), dense(theirs.X))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", ["min_counts", "min_cells", "max_counts", "max_cells"])
def test_filter_genes(counts, fmt, name):
    adata = with_format(counts, fmt)
    x = counts.X
    values = x.sum(axis=0).A1 if name.endswith("counts") else x.getnnz(axis=0)
    kwargs = {name: _threshold(values)}
    mask, numbers = pp.filter_genes(adata, **kwargs, inplace=False)
    ref_mask, ref_numbers = sc.pp.filter_genes(adata.copy(), **kwargs, inplace=False)
    np.testing.assert_array_equal(mask, ref_mask)
    np.testing.assert_allclose(numbers, ref_numbers, rtol=RTOL)
    assert 0 < mask.sum() < mask.size

    ours, theirs = adata.copy(), adata.copy()
    pp.filter_genes(ours, **kwargs)
    sc.pp.filter_genes(theirs, **kwargs)
    assert ours.var_names.equals(theirs.var_names)
    assert_frames_match(ours.var, theirs.var)


# --- normalize_total --------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("target_sum", [None, 1e4])
@pytest.mark.parametrize(("exclude", "max_fraction"), [(False, 0.05), (True, 0.05), (True, 0.2)])
# mouse10k has a cell without counts, and excluding genes empties more: both sides warn
@pytest.mark.filterwarnings("ignore:Some cells have zero counts:UserWarning")
@pytest.mark.filterwarnings("ignore::scsnake.errors.DataWarning")
def test_normalize_total(counts, fmt, target_sum, exclude, max_fraction):
    adata = with_format(counts, fmt)
    kwargs = {
        "target_sum": target_sum,
        "exclude_highly_expressed": exclude,
        "max_fraction": max_fraction,
        "key_added": "size_factor",
    }
    ours, theirs = adata.copy(), adata.copy()
    pp.normalize_total(ours, **kwargs)
    sc.pp.normalize_total(theirs, **kwargs)
    np.testing.assert_allclose(dense(ours.X), dense(theirs.X), rtol=RTOL)
    np.testing.assert_allclose(ours.obs["size_factor"], theirs.obs["size_factor"], rtol=RTOL)
    assert ours.X.dtype == theirs.X.dtype

    result = pp.normalize_total(adata, **kwargs, inplace=False)
    reference = sc.pp.normalize_total(adata, **kwargs, inplace=False)
    np.testing.assert_allclose(dense(result["X"]), dense(reference["X"]), rtol=RTOL)
    np.testing.assert_allclose(result["norm_factor"], reference["norm_factor"], rtol=RTOL)


@pytest.mark.filterwarnings("ignore:Some cells have zero counts:UserWarning")  # on purpose here
@pytest.mark.filterwarnings("ignore::scsnake.errors.DataWarning")
def test_normalize_total_median_skips_zero_cells():
    # scanpy's dense path takes the median of the nonzero totals; so do we, for every layout
    # (scanpy's CSR path too since 1.12.4, scverse/scanpy#4256; before, it counted the zeros)
    adata = make_counts(50, 30, fmt="dense")
    adata.X[:20] = 0
    theirs = sc.pp.normalize_total(adata.copy(), inplace=False)
    for fmt in FORMATS:
        ours = pp.normalize_total(with_format(adata, fmt), inplace=False)
        np.testing.assert_allclose(dense(ours["X"]), theirs["X"], rtol=RTOL)
        if fmt == "csr" and scanpy_at_least("1.12.4"):
            theirs_csr = sc.pp.normalize_total(with_format(adata, fmt), inplace=False)
            np.testing.assert_allclose(dense(ours["X"]), dense(theirs_csr["X"]), rtol=RTOL)


def test_normalize_total_int_counts():
    adata = make_counts(fmt="csr", dtype=np.int64)
    ours, theirs = adata.copy(), adata.copy()
    pp.normalize_total(ours)
    sc.pp.normalize_total(theirs)
    assert ours.X.dtype == theirs.X.dtype == np.float32
    np.testing.assert_allclose(ours.X.toarray(), theirs.X.toarray(), rtol=RTOL)


# --- log1p ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("base", [None, 2])
def test_log1p(counts, fmt, base):
    adata = with_format(counts, fmt)
    ours, theirs = adata.copy(), adata.copy()
    pp.log1p(ours, base=base)
    sc.pp.log1p(theirs, base=base)
    np.testing.assert_allclose(dense(ours.X), dense(theirs.X), rtol=RTOL)
    assert ours.X.dtype == theirs.X.dtype
    assert ours.uns["log1p"] == theirs.uns["log1p"]


# --- scale ------------------------------------------------------------------------------


def _mask_kwargs(lognorm: ad.AnnData, mask: str | None) -> dict:
    if mask == "column":
        return {"mask_obs": "half"}
    if mask == "array":
        return {"mask_obs": lognorm.obs["half"].to_numpy()}
    return {}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("zero_center", [True, False])
@pytest.mark.parametrize("max_value", [None, 3.0])
@pytest.mark.parametrize("mask", [None, "column", "array"])
# scanpy warns that zero-centring densifies sparse data, and (with a mask) about writing
# rows of a sparse matrix; neither is about our code
@pytest.mark.filterwarnings("ignore:zero-centering a sparse array/matrix densifies it:UserWarning")
@pytest.mark.filterwarnings("ignore::scipy.sparse.SparseEfficiencyWarning")
def test_scale(lognorm, fmt, zero_center, max_value, mask):
    adata = with_format(lognorm, fmt)
    kwargs = {"zero_center": zero_center, "max_value": max_value, **_mask_kwargs(lognorm, mask)}
    ours, theirs = adata.copy(), adata.copy()
    pp.scale(ours, **kwargs)
    sc.pp.scale(theirs, **kwargs)
    np.testing.assert_allclose(dense(ours.X), dense(theirs.X), rtol=RTOL, atol=0)
    assert list(ours.var.columns) == list(theirs.var.columns)
    for column in theirs.var.columns.difference(lognorm.var.columns):
        np.testing.assert_allclose(ours.var[column], theirs.var[column], rtol=RTOL, err_msg=column)
    if not zero_center:
        assert sparse.issparse(ours.X) == (fmt != "dense")
