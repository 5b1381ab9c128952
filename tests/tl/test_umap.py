"""umap: stored keys, determinism, initialisations, separation of clusters, errors."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from scsnake.errors import InputDataError, MissingKeyError, ParamError
from scsnake.neighbors import neighbors
from scsnake.tl import umap

N_EPOCHS = 50  # enough to separate the clusters, fast


def two_blobs(n: int = 40) -> ad.AnnData:
    """Two well-separated groups of cells, ``n // 2`` each, in 5 dimensions (X used directly)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 5)).astype(np.float32)
    x[n // 2 :, 0] += 20
    adata = ad.AnnData(x)
    adata.obs["group"] = pd.Categorical(["a"] * (n // 2) + ["b"] * (n - n // 2))
    neighbors(adata, n_neighbors=8)
    return adata


@pytest.fixture(scope="module")
def blobs() -> ad.AnnData:
    return two_blobs()


def test_keys_and_separation(blobs):
    adata = blobs.copy()
    umap(adata, maxiter=N_EPOCHS)
    emb = adata.obsm["X_umap"]
    assert emb.shape == (40, 2) and emb.dtype == np.float32 and np.isfinite(emb).all()
    params = adata.uns["umap"]["params"]
    assert set(params) == {"a", "b"}  # random_state only when not 0, like scanpy
    np.testing.assert_allclose([params["a"], params["b"]], [0.583, 1.334], rtol=1e-3)
    a, b = emb[:20], emb[20:]
    gap = np.linalg.norm(a.mean(0) - b.mean(0))
    assert gap > 3 * max(a.std(0).max(), b.std(0).max())


def test_deterministic_for_a_seed(blobs):
    first = umap(blobs, maxiter=N_EPOCHS, copy=True).obsm["X_umap"]
    second = umap(blobs, maxiter=N_EPOCHS, copy=True).obsm["X_umap"]
    np.testing.assert_array_equal(first, second)
    other = umap(blobs, maxiter=N_EPOCHS, random_state=3, copy=True)
    assert not np.array_equal(first, other.obsm["X_umap"])
    assert other.uns["umap"]["params"]["random_state"] == 3


def test_options(blobs):
    adata = blobs.copy()
    umap(adata, maxiter=N_EPOCHS, n_components=3, a=1.0, b=1.0, key_added="u3")
    assert adata.obsm["u3"].shape == (40, 3)
    assert adata.uns["u3"]["params"] == {"a": 1.0, "b": 1.0}
    assert "X_umap" not in adata.obsm
    neighbors(adata, n_neighbors=5, key_added="small")
    umap(adata, maxiter=N_EPOCHS, neighbors_key="small", min_dist=0.1)
    assert adata.obsm["X_umap"].shape == (40, 2)
    neighbors(adata, n_neighbors=5, method="gauss", knn=False, key_added="dense")
    umap(adata, maxiter=N_EPOCHS, neighbors_key="dense", key_added="from_dense")
    assert np.isfinite(adata.obsm["from_dense"]).all()


@pytest.mark.parametrize("init", ["random", "X_start", "array"])
def test_initial_positions(blobs, init):
    adata = blobs.copy()
    start = np.random.default_rng(1).normal(size=(40, 2))
    adata.obsm["X_start"] = start
    umap(adata, maxiter=0, init_pos=start if init == "array" else init)
    emb = adata.obsm["X_umap"]
    assert emb.shape == (40, 2)
    if init != "random":  # umap-learn rescales the given positions to [0, 10] before optimising
        scaled = 10 * (start - start.min(0)) / (start.max(0) - start.min(0))
        np.testing.assert_allclose(emb, scaled, rtol=1e-4, atol=1e-4)


def test_paga_init_needs_paga(blobs):
    with pytest.raises(MissingKeyError, match=r"init_pos='paga' needs uns\['paga'\]: run paga first"):
        umap(blobs, init_pos="paga", copy=True)
    adata = blobs.copy()
    adata.uns["paga"] = {
        "pos": np.array([[0.0, 0.0], [10.0, 5.0]]),
        "groups": "group",
        "connectivities": sparse.csr_matrix(np.array([[0, 0.5], [0.5, 0]])),
    }
    umap(adata, init_pos="paga", maxiter=N_EPOCHS)
    assert np.isfinite(adata.obsm["X_umap"]).all()


def test_sparse_x_representation():
    adata = two_blobs()
    adata.X = sparse.csr_matrix(adata.X)
    neighbors(adata, n_neighbors=8, use_rep="X")
    umap(adata, maxiter=N_EPOCHS)
    assert adata.obsm["X_umap"].shape == (40, 2)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"min_dist": -0.1}, ParamError, "min_dist"),
        ({"spread": 0}, ParamError, "spread"),
        ({"n_components": 0}, ParamError, "n_components"),
        ({"maxiter": -1}, ParamError, "maxiter"),
        ({"method": "rapids"}, ParamError, "method"),
        (
            {"init_pos": "pca"},
            MissingKeyError,
            r"init_pos='pca' is not 'spectral', 'random', 'paga' or an obsm key",
        ),
        ({"init_pos": np.zeros((3, 2))}, ParamError, r"init_pos has shape \(3, 2\), expected"),
        ({"init_pos": np.full((40, 2), np.nan)}, InputDataError, "NaN"),
        ({"neighbors_key": "knn"}, MissingKeyError, r"uns\['knn'\] not found.*run neighbors first"),
    ],
)
def test_bad_input(blobs, kwargs, error, match):
    with pytest.raises(error, match=match):
        umap(blobs, copy=True, **kwargs)


def test_needs_neighbors():
    with pytest.raises(MissingKeyError, match="run neighbors first"):
        umap(ad.AnnData(np.zeros((5, 2), dtype=np.float32)))
