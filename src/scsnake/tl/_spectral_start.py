"""UMAP's spectral start for large graphs, without umap-learn's √n Lanczos vectors.

umap-learn's ``spectral_layout`` asks ARPACK for the smallest eigenvectors of the
normalised Laplacian ``L = I - D^-½ A D^-½`` with ``ncv = √n`` Lanczos vectors: at 1M
cells that basis alone is 1,000 × 1M float64 (8 GB), and re-orthogonalising against it
takes minutes. The same eigenvectors are the largest of ``D^-½ A D^-½``, which ARPACK
finds with its default 2k + 1 vectors in a fraction of the time (here to a tolerance of
1e-8 rather than umap-learn's 1e-4, in float64). Above
:data:`LEAN_SPECTRAL_MIN_OBS` cells :func:`spectral_start` computes them that way, on
the graph umap-learn would use (weights below ``max / n_epochs`` dropped) and scaled
with the same noise drawn from the same generator, so umap-learn continues exactly as
after its own spectral start. Disconnected graphs are laid out component by component as
umap-learn does (each component's eigenvectors computed the lean way). Below it umap-learn's start is used unchanged (the layout
is then identical to scanpy's).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import eigsh

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["LEAN_SPECTRAL_MIN_OBS", "spectral_start"]

#: From this many cells on, the spectral start is computed here (umap-learn's Lanczos basis,
#: √n × n float64, is 0.7 GB at 200k cells and 8 GB at 1M).
LEAN_SPECTRAL_MIN_OBS = 200_000


def spectral_start(
    graph: sparse.spmatrix,
    n_components: int,
    n_epochs: int,
    random_state: np.random.RandomState,
    data: Any = None,
    metric: Any = "euclidean",
    metric_kwds: dict[str, Any] | None = None,
) -> NDArray[np.float32]:
    """The start umap-learn's ``init="spectral"`` makes, with the lean eigensolver.

    A disconnected graph is laid out as umap-learn does it: the components placed by a
    spectral embedding of their centroids in ``data`` (``metric``), each component by its
    own eigenvectors. ``random_state`` advances as umap-learn's would (its solver's unused
    random starts, the placement and the noise added to the coordinates).
    """
    from ._umap_layout import layout_graph

    adjacency = (
        layout_graph(graph, n_epochs).tocsr().astype(np.float64)
    )  # eigenvalues near 1 are 1e-5 apart: float32 is too coarse
    n_parts, labels = connected_components(adjacency)
    if n_parts > 1:
        coords = _components_layout(
            adjacency, n_parts, labels, n_components, random_state, data, metric, metric_kwds or {}
        )
    else:
        coords = _connected_layout(adjacency, n_components, random_state)
    expansion = 10.0 / np.abs(coords).max()  # umap-learn's noisy_scale_coords
    coords = (coords * expansion).astype(np.float32)
    return coords + random_state.normal(scale=0.0001, size=coords.shape).astype(np.float32)


def _connected_layout(
    adjacency: sparse.csr_matrix, dim: int, random_state: np.random.RandomState
) -> NDArray[np.float64]:
    """Eigenvectors 2 … dim + 1 of a connected graph's normalised Laplacian (umap-learn's
    ``_spectral_layout``, which first draws an n × (dim + 1) Gaussian start that eigsh does not use)."""
    from scipy.sparse.linalg import ArpackError

    n_obs = adjacency.shape[0]
    k = dim + 1
    random_state.normal(size=(n_obs, k))
    scale = 1.0 / np.sqrt(np.asarray(adjacency.sum(axis=0)).ravel())
    normalised = sparse.diags(scale) @ adjacency @ sparse.diags(scale)
    try:
        values, vectors = eigsh(normalised, k, which="LA", tol=1e-8, v0=np.ones(n_obs), maxiter=n_obs * 5)
    except ArpackError:  # as umap-learn: a random start (it warns too)
        warnings.warn("Spectral initialisation failed; falling back to random initialisation", stacklevel=3)
        return random_state.uniform(low=-10.0, high=10.0, size=(n_obs, dim))
    return vectors[:, np.argsort(-values)[1:k]]  # largest of D^-½AD^-½ = smallest of L, minus the trivial one


def _components_layout(
    adjacency: sparse.csr_matrix,
    n_parts: int,
    labels: NDArray[np.int32],
    dim: int,
    random_state: np.random.RandomState,
    data: Any,
    metric: Any,
    metric_kwds: dict[str, Any],
) -> NDArray[np.float32]:
    """umap-learn's ``multi_component_layout`` with :func:`_connected_layout` per component."""
    from sklearn.metrics import pairwise_distances

    with warnings.catch_warnings():  # umap-learn warns on import that tensorflow is absent
        warnings.filterwarnings("ignore", message=r"Tensorflow not installed", category=ImportWarning)
        from umap.spectral import component_layout

    if n_parts > 2 * dim:
        meta = component_layout(
            data, n_parts, labels, dim, random_state, metric=metric, metric_kwds=metric_kwds
        )
    else:
        k = int(np.ceil(n_parts / 2.0))
        base = np.hstack([np.eye(k), np.zeros((k, dim - k))])
        meta = np.vstack([base, -base])[:n_parts]
    result = np.empty((adjacency.shape[0], dim), dtype=np.float32)
    for label in range(n_parts):
        members = labels == label
        distances = pairwise_distances([meta[label]], meta)
        data_range = distances[distances > 0.0].min() / 2.0
        size = int(members.sum())
        if size < 2 * dim or size <= dim + 1:
            result[members] = (
                random_state.uniform(low=-data_range, high=data_range, size=(size, dim)) + meta[label]
            )
        else:
            part = _connected_layout(adjacency[members][:, members], dim, random_state)
            result[members] = part * (data_range / np.max(np.abs(part))) + meta[label]
    return result
