"""UMAP's lean spectral start: umap-learn's start (to ARPACK's tolerance) without its √n Lanczos vectors."""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pytest
from scipy import sparse
from sklearn.manifold import trustworthiness

import scsnake as ss
from scsnake.tl import _umap
from scsnake.tl._spectral_start import spectral_start


def _curve(n: int = 1500, seed: int = 0) -> ad.AnnData:
    """Cells along a noisy curve in 10 dimensions: one connected kNN graph, no symmetries."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0, 3 * np.pi, n))
    x = np.column_stack([np.cos(t), np.sin(1.3 * t), t / 3, *(np.sin(k * t) / k for k in range(2, 9))])
    adata = ad.AnnData(
        obsm={"X_pca": (x + rng.normal(scale=0.05, size=x.shape)).astype(np.float32)}, obs={"i": np.arange(n)}
    )
    ss.pp.neighbors(adata, n_neighbors=15, use_rep="X_pca")
    return adata


def _umap_learn_start(
    graph: sparse.spmatrix, n_epochs: int, random_state: np.random.RandomState, data: np.ndarray | None = None
) -> np.ndarray:
    """What umap-learn's simplicial_set_embedding starts from with init="spectral"."""
    with warnings.catch_warnings():  # umap-learn warns on import that tensorflow is absent
        warnings.filterwarnings("ignore", message=r"Tensorflow not installed", category=ImportWarning)
        from umap.spectral import spectral_layout
        from umap.umap_ import noisy_scale_coords

    g = sparse.coo_matrix(graph)
    g.sum_duplicates()
    g.data[g.data < g.data.max() / float(n_epochs)] = 0.0
    g.eliminate_zeros()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a failed eigsh (random fallback) would not be a spectral start
        coords = spectral_layout(data, g, 2, random_state)
    return noisy_scale_coords(coords, random_state, max_coord=10, noise=0.0001)


def _exact_vectors(graph: sparse.spmatrix, n_epochs: int) -> np.ndarray:
    """Eigenvectors 2 and 3 of the pruned graph's normalised Laplacian, from a dense eigh."""
    g = sparse.coo_matrix(graph)
    g.sum_duplicates()
    g.data[g.data < g.data.max() / float(n_epochs)] = 0.0
    a = g.toarray().astype(np.float64)
    scale = 1 / np.sqrt(a.sum(axis=0))
    laplacian = np.eye(len(a)) - scale[:, None] * a * scale[None, :]
    return np.linalg.eigh(laplacian)[1][:, 1:3]


def _abs_cosines(coords: np.ndarray, exact: np.ndarray) -> np.ndarray:
    c = coords.astype(np.float64)
    return np.abs((c * exact).sum(axis=0)) / np.linalg.norm(c, axis=0) / np.linalg.norm(exact, axis=0)


@pytest.mark.parametrize("n_epochs", [200, 500])
def test_same_start_and_generator_state_as_umap_learn(n_epochs: int) -> None:
    graph = _curve().obsp["connectivities"]
    ours_rng, theirs_rng = np.random.RandomState(3), np.random.RandomState(3)
    ours = spectral_start(graph, 2, n_epochs, ours_rng)
    theirs = _umap_learn_start(graph, n_epochs, theirs_rng)
    assert ours.dtype == np.float32 and ours.shape == theirs.shape
    assert np.abs(ours).max() == pytest.approx(10, abs=1e-3)  # umap-learn's scale: max |coordinate| 10
    assert ours_rng.randint(0, 2**31) == theirs_rng.randint(0, 2**31)  # umap-learn goes on identically
    # the same eigenvectors (up to sign), at least as accurately as umap-learn's
    exact = _exact_vectors(graph, n_epochs)
    ours_cos, theirs_cos = _abs_cosines(ours, exact), _abs_cosines(theirs, exact)
    assert (ours_cos > 0.99999).all(), ours_cos
    assert (ours_cos >= theirs_cos - 1e-6).all(), (ours_cos, theirs_cos)


def test_few_epochs_prune_the_graph_as_umap_learn_does() -> None:
    # with 10 epochs or fewer umap-learn drops edges below max / its default epochs (500 here)
    graph = _curve().obsp["connectivities"]
    before = graph.copy()
    ours = spectral_start(graph, 2, 5, np.random.RandomState(3))
    exact = _exact_vectors(graph, 500)
    assert (_abs_cosines(ours, exact) > 0.99999).all()
    assert (graph != before).nnz == 0  # the cells' graph is left as it is


@pytest.mark.parametrize("n_parts", [2, 6])  # 6 > 2 * dim: placed by the spectral embedding of the centroids
def test_disconnected_graph_is_laid_out_like_umap_learn(n_parts: int) -> None:
    parts = [_curve(300, seed=s) for s in range(n_parts)]
    graph = sparse.block_diag([p.obsp["connectivities"] for p in parts], format="csr")
    data = np.vstack([p.obsm["X_pca"] + 5 * s for s, p in enumerate(parts)])
    ours_rng, theirs_rng = np.random.RandomState(1), np.random.RandomState(1)
    ours = spectral_start(graph, 2, 200, ours_rng, data=data)
    theirs = _umap_learn_start(graph, 200, theirs_rng, data=data)
    assert ours_rng.randint(0, 2**31) == theirs_rng.randint(0, 2**31)
    ratios = []
    for s in range(n_parts):  # each component: the same eigenvectors (up to sign) at the same size
        rows = slice(300 * s, 300 * (s + 1))
        for j in range(2):
            assert abs(np.corrcoef(ours[rows, j], theirs[rows, j])[0, 1]) > 0.9999
        ratios.append(np.ptp(ours[rows], axis=0) / np.ptp(theirs[rows], axis=0))
    # about one common factor: the final scaling to |coordinate| <= 10 sees where sign flips put the
    # extremes, and each component is scaled by its largest entry, which umap-learn's looser
    # tolerance (1e-4) moves by a few percent
    np.testing.assert_allclose(ratios, np.median(ratios), rtol=0.1)


def test_large_data_path_is_deterministic_and_as_trustworthy(monkeypatch: pytest.MonkeyPatch) -> None:
    adata = _curve()
    reference = ss.tl.umap(adata, copy=True)  # umap-learn's own start (below the threshold)
    monkeypatch.setattr(_umap, "LEAN_SPECTRAL_MIN_OBS", 0)
    lean = ss.tl.umap(adata, copy=True)
    again = ss.tl.umap(adata, copy=True)
    np.testing.assert_array_equal(lean.obsm["X_umap"], again.obsm["X_umap"])
    high = adata.obsm["X_pca"]
    assert (
        trustworthiness(high, lean.obsm["X_umap"]) >= trustworthiness(high, reference.obsm["X_umap"]) - 0.01
    )
