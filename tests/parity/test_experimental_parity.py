"""Parity with scanpy's ``sc.experimental.pp`` (Pearson-residual HVGs, normalisation, PCA, recipe)
on ~600 real mouse10k cells: the recipe runs all three (each is also compared on its own in
test_pearson_scrublet_parity.py)."""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import scsnake as ss

sc = pytest.importorskip("scanpy")

pytestmark = pytest.mark.parity


@pytest.fixture(scope="module")
def counts(mouse10k: ad.AnnData) -> ad.AnnData:
    """Cells with counts in each of the 60 genes of largest Pearson-residual variance (no NaN)."""
    adata = mouse10k[:600, :300].copy()
    adata = adata[:, np.asarray(adata.X.sum(axis=0)).ravel() > 0].copy()
    hvg = ss.experimental.pp.highly_variable_genes(adata, n_top_genes=60, inplace=False)["highly_variable"]
    return adata[np.asarray(adata[:, hvg.to_numpy()].X.sum(axis=1)).ravel() > 0].copy()


def _pcs_equal(ours: np.ndarray, theirs: np.ndarray) -> None:
    """Equal up to the sign of each component."""
    signs = np.sign((ours * theirs).sum(axis=0))
    np.testing.assert_allclose(ours * signs, theirs, rtol=1e-3, atol=1e-4)


@pytest.mark.slow  # scanpy 1.12 compiles its Pearson-residual kernels on each run (~15 s)
def test_residual_pca_and_recipe_equal_scanpy(counts: ad.AnnData) -> None:
    ours, theirs = counts.copy(), counts.copy()
    for adata, lib in ((ours, ss), (theirs, sc)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            lib.experimental.pp.recipe_pearson_residuals(adata, n_top_genes=60, n_comps=10)
    np.testing.assert_array_equal(ours.var["highly_variable"], theirs.var["highly_variable"])
    _pcs_equal(ours.obsm["X_pca"], theirs.obsm["X_pca"])
    assert (ours.varm["PCs"][~ours.var["highly_variable"].to_numpy()] == 0).all()
    pd.testing.assert_frame_equal(
        ours.uns["pearson_residuals_normalization"]["pearson_residuals_df"],
        theirs.uns["pearson_residuals_normalization"]["pearson_residuals_df"],
        rtol=1e-5,
        atol=1e-6,
        check_dtype=False,  # scsnake keeps float32 counts' residuals in float32 (see pp parity)
    )
    again = counts.copy()
    again.var["highly_variable"] = ours.var["highly_variable"]
    ss.experimental.pp.normalize_pearson_residuals_pca(again, n_comps=10)
    _pcs_equal(again.obsm["X_pca"], theirs.obsm["X_pca"])
