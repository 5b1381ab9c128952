"""tsne: stored keys, determinism, both implementations, representations, errors."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from sklearn.manifold import trustworthiness

from scsnake.errors import InputDataError, MissingKeyError, ParamError
from scsnake.tl import _tsne, tsne

IMPLEMENTATIONS = [
    "sklearn",
    pytest.param(
        "openTSNE", marks=pytest.mark.skipif(not _tsne.has_opentsne(), reason="openTSNE not installed")
    ),
]


def blobs(n: int = 90, n_dims: int = 8, *, fmt: str = "dense") -> ad.AnnData:
    """Three separated groups of cells, ``n // 3`` each; ``X`` is used directly (few genes)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, n_dims)).astype(np.float32)
    groups = np.repeat([0, 1, 2], n // 3)
    x[:, 0] += 12 * groups
    adata = ad.AnnData(sparse.csr_matrix(x) if fmt == "csr" else x)
    adata.obs["group"] = pd.Categorical(groups.astype(str))
    adata.obsm["X_pca"] = x[:, :5] * 2
    return adata


@pytest.fixture(params=IMPLEMENTATIONS)
def implementation(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(_tsne, "has_opentsne", lambda: request.param == "openTSNE")
    return request.param


def test_keys_and_quality(implementation):
    adata = blobs()
    tsne(adata, perplexity=10, learning_rate=50)  # scanpy's 1000 is for thousands of cells
    emb = adata.obsm["X_tsne"]
    assert emb.shape == (90, 2) and emb.dtype == np.float32 and np.isfinite(emb).all()
    assert adata.uns["tsne"]["params"] == {
        "perplexity": 10, "early_exaggeration": 12, "learning_rate": 50, "n_jobs": 1, "metric": "euclidean",
        "n_components": 2,
    }  # fmt: skip
    assert trustworthiness(adata.X, emb, n_neighbors=5) > 0.9
    centres = np.array([emb[adata.obs["group"] == g].mean(0) for g in "012"])
    spread = max(emb[adata.obs["group"] == g].std(0).max() for g in "012")
    gaps = [np.linalg.norm(centres[i] - centres[j]) for i, j in [(0, 1), (0, 2), (1, 2)]]
    assert min(gaps) > 2 * spread


@pytest.mark.parametrize("n_components", [1, 3])
def test_n_components(implementation, n_components):
    adata = blobs()
    tsne(adata, perplexity=10, learning_rate=50, n_components=n_components)
    emb = adata.obsm["X_tsne"]
    assert emb.shape == (90, n_components) and np.isfinite(emb).all()
    assert adata.uns["tsne"]["params"]["n_components"] == n_components
    assert trustworthiness(adata.X, emb, n_neighbors=5) > 0.85


def test_deterministic_for_a_seed(implementation):
    adata = blobs(60)
    first = tsne(adata, perplexity=8, copy=True).obsm["X_tsne"]
    second = tsne(adata, perplexity=8, copy=True).obsm["X_tsne"]
    np.testing.assert_array_equal(first, second)
    # (the start is the PCA of the data, so the seed itself changes little: not tested)


@pytest.mark.slow
def test_two_threads_same_result(implementation):
    adata = blobs(60)
    one = tsne(adata, perplexity=8, copy=True).obsm["X_tsne"]
    two = tsne(adata, perplexity=8, n_jobs=2, copy=True)
    np.testing.assert_array_equal(one, two.obsm["X_tsne"])
    assert two.uns["tsne"]["params"]["n_jobs"] == 2


@pytest.mark.slow
def test_representations_and_key(implementation):
    adata = blobs(60)
    tsne(adata, use_rep="X_pca", n_pcs=3, perplexity=8, key_added="t3", metric="cosine")
    assert adata.obsm["t3"].shape == (60, 2) and "X_tsne" not in adata.obsm
    assert adata.uns["t3"]["params"]["use_rep"] == "X_pca"
    assert adata.uns["t3"]["params"]["metric"] == "cosine"
    dense = tsne(adata, use_rep="X", perplexity=8, copy=True).obsm["X_tsne"]
    sparse_x = tsne(blobs(60, fmt="csr"), use_rep="X", perplexity=8, copy=True).obsm["X_tsne"]
    np.testing.assert_array_equal(dense, sparse_x)  # a sparse X of ≤ 50 genes is densified


def test_errors():
    adata = blobs(30)
    with pytest.raises(ParamError, match="perplexity=40 must be less than the number of cells \\(30\\)"):
        tsne(adata, perplexity=40)
    with pytest.raises(ParamError, match="perplexity"):
        tsne(adata, perplexity=-1)
    with pytest.raises(ParamError, match="n_components"):
        tsne(adata, n_components=4)
    with pytest.raises(MissingKeyError, match="X_umap"):
        tsne(adata, use_rep="X_umap")
    many_genes = ad.AnnData(np.zeros((30, 60), dtype=np.float32))
    with pytest.raises(MissingKeyError, match="run pca first"):
        tsne(many_genes)
    many_sparse = ad.AnnData(sparse.random(30, 60, density=0.3, format="csr", dtype=np.float32))
    with pytest.raises(InputDataError, match="run pca first"):
        tsne(many_sparse, use_rep="X")
    adata.obsm["X_pca"][0, 0] = np.nan
    with pytest.raises(InputDataError, match="NaN"):
        tsne(adata, use_rep="X_pca", perplexity=5)
    with pytest.raises(ParamError, match="metric='nope'"):
        tsne(blobs(30), perplexity=5, metric="nope")
