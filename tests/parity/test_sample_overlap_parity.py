"""Parity with scanpy 1.11's ``pp.sample`` (the same draws for the same ``rng``) and
``tl.marker_gene_overlap`` (the same scores from the same ``rank_genes_groups`` result)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

import scsnake as ss
from factories import make_counts

sc = pytest.importorskip("scanpy")

pytestmark = pytest.mark.parity


# with replace=True cells are drawn more than once: anndata warns of the repeated names
@pytest.mark.filterwarnings("ignore:Observation names are not unique:UserWarning")
@pytest.mark.parametrize(
    "kwargs",
    [
        {"fraction": 0.5, "rng": 0},
        {"n": 7, "rng": 3, "axis": "var"},
        {"n": 80, "rng": 1, "replace": True},
        {"fraction": 0.3, "rng": 2, "p": "in_mask"},
    ],
)
def test_sample_equal_scanpy(kwargs: dict) -> None:
    adata = make_counts()
    adata.obs["in_mask"] = np.arange(adata.n_obs) % 3 == 0
    ours = ss.pp.sample(adata, copy=True, **kwargs)
    theirs = sc.pp.sample(adata, copy=True, **kwargs)
    pd.testing.assert_index_equal(ours.obs_names, theirs.obs_names)
    pd.testing.assert_index_equal(ours.var_names, theirs.var_names)
    in_place = adata.copy()
    assert ss.pp.sample(in_place, **kwargs) is None
    pd.testing.assert_index_equal(in_place.obs_names, theirs.obs_names)
    x, indices = ss.pp.sample(sparse.csr_matrix(adata.X), 0.5, rng=0)
    x_ref, indices_ref = sc.pp.sample(sparse.csr_matrix(adata.X), 0.5, rng=0)
    np.testing.assert_array_equal(indices, indices_ref)
    assert (x != x_ref).nnz == 0
    with pytest.raises(ValueError, match="fraction or n"):
        ss.pp.sample(adata)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"method": "jaccard", "top_n_markers": 5},
        {"method": "overlap_coef", "adj_pval_threshold": 0.05},
        {"normalize": "reference", "top_n_markers": 10},
        {"normalize": "data", "top_n_markers": 10},
    ],
)
def test_marker_gene_overlap_equal_scanpy(kwargs: dict) -> None:
    adata = make_counts(90, 40)
    ss.pp.normalize_total(adata)  # scsnake's steps (equal to scanpy's, see test_markers_parity):
    ss.pp.log1p(adata)  # scanpy 1.12 would compile its t-test kernels first (~25 s)
    ss.tl.rank_genes_groups(adata, "group", method="t-test")
    reference = {"a": {"Gene5", "Gene6", "Gene30"}, "b": ["Gene10", "Gene11"], "c": {"nope"}}
    expected = sc.tl.marker_gene_overlap(adata, reference, **kwargs)
    pd.testing.assert_frame_equal(ss.tl.marker_gene_overlap(adata, reference, **kwargs), expected)
    ss.tl.marker_gene_overlap(adata, reference, inplace=True, key_added="overlap", **kwargs)
    pd.testing.assert_frame_equal(adata.uns["overlap"], expected)


@pytest.mark.filterwarnings("ignore::FutureWarning")  # scanpy deprecates normalize_per_cell
@pytest.mark.parametrize("fmt", ["dense", "csr", "csc"])
@pytest.mark.parametrize(
    "kwargs",
    [{}, {"counts_per_cell_after": 1e4, "min_counts": 60}, {"layers": "all", "use_rep": "X"}],
)
def test_normalize_per_cell_equal_scanpy(fmt: str, kwargs: dict) -> None:
    adata = make_counts(fmt=fmt)
    adata.layers["counts"] = adata.X.copy()
    ours = ss.pp.normalize_per_cell(adata, copy=True, **kwargs)
    theirs = sc.pp.normalize_per_cell(adata, copy=True, **kwargs)
    pd.testing.assert_frame_equal(ours.obs, theirs.obs)
    for name in (None, "counts"):
        a, b = (ours.X, theirs.X) if name is None else (ours.layers[name], theirs.layers[name])
        x, y = (a.toarray(), b.toarray()) if sparse.issparse(a) else (a, b)
        np.testing.assert_array_equal(x, y)
    x = ss.pp.normalize_per_cell(adata.X, copy=True)  # a matrix: cells removed, normalised
    y = sc.pp.normalize_per_cell(adata.X, copy=True)
    np.testing.assert_array_equal(*(m.toarray() if sparse.issparse(m) else m for m in (x, y)))


@pytest.mark.filterwarnings("ignore::FutureWarning")  # scanpy deprecates filter_genes_dispersion
# scanpy warns with n_top_genes even without cut-offs (its AnnData path passes its defaults on)
@pytest.mark.filterwarnings("ignore:If you pass `n_top_genes`:UserWarning")
@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"flavor": "cell_ranger", "n_top_genes": 10},
        {"n_top_genes": 12, "log": False},
        {"min_mean": 0.1, "max_disp": 2, "subset": False},
    ],
)
def test_filter_genes_dispersion_equal_scanpy(kwargs: dict) -> None:
    adata = make_counts(80, 60)
    ss.pp.normalize_total(adata)
    ours = ss.pp.filter_genes_dispersion(adata, copy=True, **kwargs)
    theirs = sc.pp.filter_genes_dispersion(adata, copy=True, **kwargs)
    pd.testing.assert_frame_equal(ours.var, theirs.var)
    record = ss.pp.filter_genes_dispersion(adata.X, **kwargs)
    expected = sc.pp.filter_genes_dispersion(adata.X, **kwargs)
    for name in expected.dtype.names:
        np.testing.assert_array_equal(record[name], expected[name])
