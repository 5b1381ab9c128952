"""Scrublet's array steps: doublet simulation, embedding, kNN doublet scores, threshold.

Arrays in, arrays out, no AnnData. The steps follow scanpy 1.11.5 (itself a port of
Wolock et al.'s ``scrublet`` package) operation for operation where that decides the
result: the same pairs of parents for a seed (scikit-learn's sampler on a legacy
``RandomState``), the same ARPACK start vector, and skimage's ``threshold_minimum``.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import sparse

from scsnake._numba import njit
from scsnake.errors import AdjustedParamWarning, InputDataError
from scsnake.neighbors._knn import EXACT_MAX_OBS, knn_exact, knn_pynndescent
from scsnake.pp._hvg_kernels import column_mean_var
from scsnake.pp._pca_solvers import _arpack, _operator, _svd_flip

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["doublet_scores", "embed", "neighbor_parents", "simulate_doublets", "threshold_minimum"]

# --- automatic threshold: skimage.filters.threshold_minimum ------------------------------


@njit
def _smooth_until_bimodal(hist, max_iter):
    """Smooth ``hist`` (float32) with a 3-bin mean until it has fewer than 3 local maxima.

    The mean is scipy's ``uniform_filter1d(size=3, mode='reflect')``: computed in float64,
    stored in float32. A maximum is where the histogram starts to fall after rising (a
    plateau counts once). Returns the smoothed histogram, the number of maxima, the first
    two maxima and the last iteration index.
    """
    n = hist.size
    h = hist.copy()
    ext = np.empty(n + 2)
    n_max, first, second, it = 0, -1, -1, 0
    while True:
        ext[0] = h[0]
        ext[n + 1] = h[n - 1]
        for i in range(n):
            ext[i + 1] = h[i]
        for i in range(n):
            h[i] = np.float32((ext[i] + ext[i + 1] + ext[i + 2]) / 3.0)
        n_max, first, second = 0, -1, -1
        rising = True
        for i in range(n - 1):
            if rising and h[i + 1] < h[i]:
                rising = False
                if n_max == 0:
                    first = i
                elif n_max == 1:
                    second = i
                n_max += 1
            elif not rising and h[i + 1] > h[i]:
                rising = True
        if n_max < 3 or it == max_iter - 1:
            break
        it += 1
    return h, n_max, first, second, it


def threshold_minimum(
    values: NDArray[np.floating], *, nbins: int = 256, max_iter: int = 10_000
) -> float | None:
    """The minimum between the two modes of the histogram of ``values``, or None.

    skimage's ``filters.threshold_minimum`` (Glasbey 1993) without skimage: a 256-bin
    histogram over ``[min, max]`` is smoothed until it has two local maxima, and the centre
    of the lowest bin between them is returned. None when smoothing never leaves exactly
    two maxima within ``max_iter`` rounds (where skimage raises) or the values are not finite.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size == 0 or not np.isfinite(values).all():
        return None
    counts, edges = np.histogram(values, bins=nbins)
    centers = (edges[:-1] + edges[1:]) / 2.0
    smooth, n_max, first, second, it = _smooth_until_bimodal(counts.astype(np.float32), max_iter)
    if n_max != 2 or it == max_iter - 1:
        return None
    return float(centers[first + int(np.argmin(smooth[first : second + 1]))])


# --- doublet simulation ------------------------------------------------------------------


def simulate_doublets(
    counts: Any, *, sim_doublet_ratio: float, subsampling: float, rng: np.random.RandomState
) -> tuple[sparse.csr_matrix, NDArray[Any], NDArray[np.int64]]:
    """Add the counts of random pairs of cells: ``(doublets, their totals, parent pairs)``.

    ``int(n_obs * sim_doublet_ratio)`` distinct ordered pairs are drawn from the
    ``n_obs²`` possible (a cell may pair with itself), as scanpy does. With
    ``subsampling < 1`` each summed count is binomially thinned at that rate, and so is
    the rest of each doublet's total.
    """
    from sklearn.utils.random import sample_without_replacement

    counts = sparse.csc_matrix(counts)  # scanpy's layout: decides which entry gets which draw
    n_obs = counts.shape[0]
    n_sim = int(n_obs * sim_doublet_ratio)
    if n_sim < 1 or n_sim > n_obs * n_obs:
        msg = (
            f"scrublet: sim_doublet_ratio={sim_doublet_ratio} asks for {n_sim} doublets from {n_obs} cells; "
            f"between 1 and {n_obs * n_obs} (n_obs²) are possible"
        )
        raise InputDataError(msg)
    flat = sample_without_replacement(n_obs * n_obs, n_sim, random_state=rng, method="auto")
    pairs = np.vstack(np.unravel_index(flat, (n_obs, n_obs))).T.astype(np.int64)
    totals_obs = np.asarray(counts.sum(axis=1)).ravel()
    doublets = counts[pairs[:, 0]] + counts[pairs[:, 1]]
    totals = totals_obs[pairs[:, 0]] + totals_obs[pairs[:, 1]]
    if subsampling < 1:
        doublets.data = rng.binomial(np.round(doublets.data).astype(np.int64), subsampling).astype(
            doublets.dtype
        )
        current = np.asarray(doublets.sum(axis=1)).ravel()
        rest = rng.binomial(np.round(totals - current).astype(np.int64), subsampling)
        totals = current + rest
    return sparse.csr_matrix(doublets), totals, pairs


# --- embedding ---------------------------------------------------------------------------


def _n_components(requested: int, shape: tuple[int, int]) -> int:
    """ARPACK needs fewer components than the smaller side; lower ``requested`` if needed."""
    most = min(shape) - 1
    if most < 1:
        msg = f"scrublet: cannot embed {shape[0]} cells × {shape[1]} genes; at least 2 of each are needed"
        raise InputDataError(msg)
    if requested > most:
        msg = f"scrublet: n_prin_comps={requested} is too many for {shape[0]} cells × {shape[1]} genes; using {most}"
        warnings.warn(msg, AdjustedParamWarning, stacklevel=7)
        return most
    return requested


def embed(
    obs: Any, sim: Any, *, mean_center: bool, normalize_variance: bool, n_comps: int, seed: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Principal components of the observed cells, with the doublets projected onto them.

    Genes are centred (``mean_center``) and scaled to unit variance (``normalize_variance``,
    ddof=1) with the observed cells' statistics; without centring a truncated SVD is used
    (as scikit-learn's ``TruncatedSVD``). The scaled, centred matrix is never built: the
    SVD runs on a linear operator over the (sparse) data, with scikit-learn's ARPACK start
    vector for ``seed``.
    """
    obs = obs.astype(np.float64) if sparse.issparse(obs) else np.asarray(obs, dtype=np.float64)
    mean, var = column_mean_var(obs)
    scale = np.ones_like(mean)
    if normalize_variance:
        std = np.sqrt(var)
        # a constant gene carries no information; scanpy would divide by zero
        scale = np.divide(1.0, std, out=np.zeros_like(std), where=std > 0)
    scaled = obs @ sparse.diags(scale) if sparse.issparse(obs) else obs * scale
    center = mean * scale if mean_center else None
    k = _n_components(n_comps, obs.shape)
    u, _, vt = _arpack(_operator(scaled, center), k, np.random.RandomState(seed))
    _, vt = _svd_flip(u, vt)
    weights = vt.T * scale[:, None]  # gene space → components, scaling folded in
    offset = (mean @ weights) if mean_center else 0.0
    return np.asarray(obs @ weights) - offset, np.asarray(sim @ weights) - offset


# --- kNN classifier ----------------------------------------------------------------------


def _knn(
    manifold: NDArray[np.float64], k: int, *, approx: bool | None, metric: Any, seed: int
) -> NDArray[np.int64]:
    """The ``k - 1`` nearest other points of every point (the point itself left out).

    This is what scanpy 1.11.5 effectively counts: with ``use_approx_neighbors=True`` it
    drops the self column explicitly, and on its exact path it loses the self column
    whenever two points coincide (which simulated doublets almost always do: a pair and
    its reverse give the same doublet); only without any duplicate it counts the point
    itself as one of the ``k``.
    """
    n_total = manifold.shape[0]
    if k > n_total:
        adjusted = 1 + int(0.5 * n_total)
        msg = f"scrublet: {k} neighbours asked for {n_total} points (observed + simulated); using {adjusted}"
        warnings.warn(msg, AdjustedParamWarning, stacklevel=7)
        k = adjusted
    use_approx = n_total > EXACT_MAX_OBS if approx is None else approx
    if use_approx:
        indices, _ = knn_pynndescent(manifold, k, metric=metric, random_state=seed)
    else:
        indices, _ = knn_exact(manifold, k, metric=metric)
    return indices[:, 1:]


def doublet_scores(
    manifold_obs: NDArray[np.float64],
    manifold_sim: NDArray[np.float64],
    *,
    n_neighbors: int,
    expected_doublet_rate: float,
    approx: bool | None,
    metric: Any,
    seed: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
    """Scrublet's scores of observed cells and simulated doublets, and the kNN indices.

    ``k_adj = round(n_neighbors * (1 + n_sim / n_obs))`` neighbours are searched among all
    points (the point itself is one of them and is not counted, see :func:`_knn`); with ``q = (n_doublet_neighbours + 1) / (k_adj + 2)``, ``r = n_sim / n_obs``
    and ``rho`` the expected rate, the score is ``q·rho/r / (1 - rho - q·(1 - rho - rho/r))``.
    """
    n_obs, n_sim = manifold_obs.shape[0], manifold_sim.shape[0]
    k_adj = round(n_neighbors * (1 + n_sim / float(n_obs)))
    manifold = np.vstack([manifold_obs, manifold_sim])
    neighbors = _knn(manifold, k_adj, approx=approx, metric=metric, seed=seed)
    n_sim_neigh = (neighbors >= n_obs).sum(axis=1).astype(np.float64)
    rho, r, n = expected_doublet_rate, n_sim / float(n_obs), float(k_adj)
    q = (n_sim_neigh + 1) / (n + 2)
    ld = q * rho / r / (1 - rho - q * (1 - rho - rho / r))
    return ld[:n_obs], ld[n_obs:], neighbors


def neighbor_parents(
    neighbors: NDArray[np.int64], n_obs: int, parents: NDArray[np.int64]
) -> list[NDArray[np.int64]]:
    """For each observed cell, the sorted distinct parents of its simulated-doublet neighbours."""
    out = []
    for row in neighbors[:n_obs]:
        sim = row[row >= n_obs] - n_obs
        out.append(np.unique(parents[sim].ravel()) if sim.size else np.array([], dtype=np.int64))
    return out
