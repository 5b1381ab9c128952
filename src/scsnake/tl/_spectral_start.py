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
after its own spectral start. Below it umap-learn's start is used unchanged (the layout
is then identical to scanpy's).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
    graph: sparse.spmatrix, n_components: int, n_epochs: int, random_state: np.random.RandomState
) -> NDArray[np.float32] | None:
    """The start umap-learn's ``init="spectral"`` makes, or None for a disconnected graph
    (umap-learn then places the components itself; call this first, with a fresh generator).

    ``random_state`` advances as umap-learn's would: its solver's random start (drawn,
    unused here) and the noise added to the coordinates.
    """
    n_obs = graph.shape[0]
    # umap-learn first draws a random start for its solver (Gaussian, n × k), unused by eigsh
    random_state.normal(size=(n_obs, n_components + 1))
    graph = sparse.coo_matrix(graph)
    graph.sum_duplicates()
    if n_epochs > 10:  # umap-learn drops edges too weak to be sampled before the layout
        graph.data[graph.data < graph.data.max() / float(n_epochs)] = 0.0
    graph.eliminate_zeros()
    adjacency = graph.tocsr().astype(np.float64)  # eigenvalues near 1 are 1e-5 apart: float32 is too coarse
    if connected_components(adjacency)[0] > 1:
        return None
    scale = 1.0 / np.sqrt(np.asarray(adjacency.sum(axis=0)).ravel())
    normalised = sparse.diags(scale) @ adjacency @ sparse.diags(scale)
    k = n_components + 1
    values, vectors = eigsh(normalised, k, which="LA", tol=1e-8, v0=np.ones(adjacency.shape[0]),
                            maxiter=adjacency.shape[0] * 5)
    coords = vectors[:, np.argsort(-values)[1:k]]  # largest of D^-½AD^-½ = smallest of L, minus the trivial one
    expansion = 10.0 / np.abs(coords).max()  # umap-learn's noisy_scale_coords
    coords = (coords * expansion).astype(np.float32)
    return coords + random_state.normal(scale=0.0001, size=coords.shape).astype(np.float32)
