"""Parity with scanpy 1.12's ``obsm=`` of ``pp.pca`` and ``pp.normalize_total``."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest

import scsnake as ss
from factories import make_counts
from scanpy_reference import scanpy_at_least

sc = pytest.importorskip("scanpy")

pytestmark = [
    pytest.mark.parity,
    pytest.mark.skipif(not scanpy_at_least("1.12"), reason="obsm= is new in scanpy 1.12"),
]


def _with_obsm() -> ad.AnnData:
    adata = make_counts(50, 20, fmt="dense")
    adata.obsm["emb"] = np.random.default_rng(0).poisson(3, size=(50, 8)).astype(np.float64)
    return adata


def test_pca_obsm_equal_scanpy() -> None:
    ours, theirs = _with_obsm(), _with_obsm()
    ss.pp.pca(ours, n_comps=4, obsm="emb")
    sc.pp.pca(theirs, n_comps=4, obsm="emb", svd_solver="arpack")
    np.testing.assert_allclose(ours.obsm["X_pca"], theirs.obsm["X_pca"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        ours.uns["pca"]["components"], theirs.uns["pca"]["components"], rtol=1e-4, atol=1e-6
    )
    np.testing.assert_allclose(
        ours.uns["pca"]["variance_ratio"], theirs.uns["pca"]["variance_ratio"], rtol=1e-6
    )
    assert ours.uns["pca"]["params"] == theirs.uns["pca"]["params"]
    assert "PCs" not in ours.varm
    with pytest.raises(ValueError, match="obsm"):
        ss.pp.pca(ours, obsm="emb", layer="counts")


def test_normalize_total_obsm_equal_scanpy() -> None:
    ours, theirs = _with_obsm(), _with_obsm()
    ss.pp.normalize_total(ours, obsm="emb", target_sum=100, key_added="factor")
    sc.pp.normalize_total(theirs, obsm="emb", target_sum=100, key_added="factor")
    np.testing.assert_allclose(ours.obsm["emb"], theirs.obsm["emb"], rtol=1e-6)
    np.testing.assert_allclose(ours.obs["factor"], theirs.obs["factor"], rtol=1e-6)
    np.testing.assert_array_equal(ours.X, theirs.X)  # X untouched
