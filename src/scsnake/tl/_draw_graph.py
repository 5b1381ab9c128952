"""Force-directed layouts of the neighbour graph: ForceAtlas2 (numba) and igraph's layouts."""

from __future__ import annotations

import logging
import random
import warnings
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import NonNegativeInt
from scipy import sparse

from scsnake._matrix import close_matches
from scsnake._numba import njit
from scsnake._params import StageParams, validated
from scsnake._rng import as_seed
from scsnake.errors import InputDataError, MissingKeyError, ParamError

from ._graph import choose_graph, igraph_from_adjacency

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["DrawGraphParams", "draw_graph"]

logger = logging.getLogger(__name__)

Layout = Literal["fr", "drl", "kk", "grid_fr", "lgl", "rt", "rt_circular", "fa"]
#: igraph layouts that start from the initial positions (scanpy passes them as ``seed``).
SEEDED_LAYOUTS = ("fr", "drl", "kk", "grid_fr")
#: ForceAtlas2 settings of scanpy's ``fa2_positions``.
FA2_THETA, FA2_SCALING, FA2_GRAVITY, FA2_JITTER = 1.2, 2.0, 1.0, 1.0
FA2_ITERATIONS = 500


class DrawGraphParams(StageParams):
    """Parameters of :func:`draw_graph`."""

    layout: Layout = "fa"
    """``"fa"`` (ForceAtlas2) or an igraph layout: ``fr``, ``grid_fr``, ``kk``, ``drl``, ``lgl``, ``rt``, ``rt_circular``."""
    init_pos: str | bool | None = None
    """Start positions: an ``obsm`` key, ``"paga"``/True (PAGA layout), or None/False (random)."""
    root: NonNegativeInt | None = None
    """Root cell of the tree layouts (``rt``, ``rt_circular``)."""
    random_state: int | None = 0
    """Seed of the random start positions and igraph's random numbers (None means 0)."""
    n_jobs: int | None = None
    """Accepted for scanpy compatibility; unused."""
    adjacency: Any = None
    """Adjacency matrix to lay out; None takes the connectivities (see ``neighbors_key``, ``obsp``)."""
    key_added_ext: str | None = None
    """Store under ``obsm['X_draw_graph_<key_added_ext>']`` instead of ``..._<layout>``."""
    neighbors_key: str | None = None
    """``uns`` key of the ``neighbors`` result whose connectivities are drawn."""
    obsp: str | None = None
    """``obsp`` key of the adjacency (instead of ``neighbors_key``)."""


# --- ForceAtlas2 (the algorithm of fa2-modified with scanpy's settings) -------------------


@njit
def _build_regions(x, y, mass, perm, buf, r_start, r_count, r_child, r_n_child, r_mass, r_cx, r_cy, r_size):
    """Barnes-Hut regions of fa2's ``Region.buildSubRegions``; returns the number of regions.

    Region ``r`` holds ``perm[r_start[r]: r_start[r] + r_count[r]]`` (nodes in input
    order); its children are ``r_child[r] ... + r_n_child[r]`` in fa2's quadrant order
    (top-left, bottom-left, top-right, bottom-right). A quadrant holding every node is
    split into single-node leaves, as in fa2.
    """
    n = x.size
    for i in range(n):
        perm[i] = i
    r_start[0], r_count[0] = 0, n
    n_regions = 1
    stack = np.empty(r_start.size, dtype=np.int64)
    stack[0], top = 0, 1
    counts = np.zeros(4, dtype=np.int64)
    quad = np.empty(n, dtype=np.int8)
    while top > 0:
        top -= 1
        r = stack[top]
        start, count = r_start[r], r_count[r]
        r_n_child[r] = 0
        if count < 2:
            continue
        total, sx, sy = 0.0, 0.0, 0.0
        for k in range(start, start + count):
            i = perm[k]
            total += mass[i]
            sx += x[i] * mass[i]
            sy += y[i] * mass[i]
        cx, cy = sx / total, sy / total
        size = 0.0
        for k in range(start, start + count):
            i = perm[k]
            size = max(size, 2 * np.sqrt((x[i] - cx) ** 2 + (y[i] - cy) ** 2))
        r_mass[r], r_cx[r], r_cy[r], r_size[r] = total, cx, cy, size
        counts[:] = 0
        for k in range(start, start + count):  # 0 top-left, 1 bottom-left, 2 top-right, 3 bottom-right
            i = perm[k]
            q = (0 if y[i] >= cy else 1) if x[i] < cx else (2 if y[i] >= cy else 3)
            quad[k] = q
            counts[q] += 1
        pos = start
        r_child[r] = n_regions
        for q in range(4):  # stable partition of the nodes into the quadrants, in order
            if counts[q] == 0:
                continue
            first = pos
            for k in range(start, start + count):
                if quad[k] == q:
                    buf[pos] = perm[k]
                    pos += 1
            sizes = counts[q] if counts[q] < count else 1  # all in one quadrant: single leaves
            for s in range(first, pos, sizes):
                r_start[n_regions], r_count[n_regions] = s, sizes
                n_regions += 1
        perm[start : start + count] = buf[start : start + count]
        r_n_child[r] = n_regions - r_child[r]
        for c in range(r_child[r] + r_n_child[r] - 1, r_child[r] - 1, -1):
            stack[top] = c
            top += 1
    return n_regions


@njit
def _repulse(
    x, y, mass, dx, dy, perm, r_start, r_count, r_child, r_n_child, r_mass, r_cx, r_cy, r_size, theta, coef
):
    """fa2's ``applyForceOnNodes``: Barnes-Hut repulsion, node by node, regions depth-first."""
    stack = np.empty(r_start.size, dtype=np.int64)
    for n in range(x.size):
        stack[0], top = 0, 1
        while top > 0:
            top -= 1
            r = stack[top]
            if r_count[r] < 2:  # a single node: both nodes are pushed (as in fa2)
                m = perm[r_start[r]]
                xd, yd = x[n] - x[m], y[n] - y[m]
                dist = np.sqrt(xd * xd + yd * yd)
                if dist > 0:
                    factor = coef * mass[n] * mass[m] / dist / dist
                    dx[n] += xd * factor
                    dy[n] += yd * factor
                    dx[m] -= xd * factor
                    dy[m] -= yd * factor
                continue
            xd, yd = x[n] - r_cx[r], y[n] - r_cy[r]
            dist = np.sqrt(xd**2 + yd**2)
            if dist * theta > r_size[r]:
                if dist > 0:
                    factor = coef * mass[n] * r_mass[r] / dist / dist
                    dx[n] += xd * factor
                    dy[n] += yd * factor
            else:
                for c in range(r_child[r] + r_n_child[r] - 1, r_child[r] - 1, -1):
                    stack[top] = c
                    top += 1


@njit
def _forceatlas2(
    x, y, mass, edge_from, edge_to, edge_weight, n_iterations, theta, scaling, gravity, jitter_tolerance
):
    """Run ForceAtlas2 (linear attraction, Barnes-Hut repulsion, adaptive speed) in place."""
    n = x.size
    dx, dy = np.zeros(n), np.zeros(n)
    old_dx, old_dy = np.zeros(n), np.zeros(n)
    perm, buf = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    n_max = 2 * n + 1
    r_start, r_count = np.empty(n_max, dtype=np.int64), np.empty(n_max, dtype=np.int64)
    r_child, r_n_child = np.empty(n_max, dtype=np.int64), np.empty(n_max, dtype=np.int64)
    r_mass, r_cx, r_cy, r_size = np.zeros(n_max), np.zeros(n_max), np.zeros(n_max), np.zeros(n_max)
    speed, efficiency = 1.0, 1.0
    for _ in range(n_iterations):
        old_dx[:], old_dy[:] = dx, dy
        dx[:], dy[:] = 0.0, 0.0
        _build_regions(
            x, y, mass, perm, buf, r_start, r_count, r_child, r_n_child, r_mass, r_cx, r_cy, r_size
        )
        _repulse(
            x,
            y,
            mass,
            dx,
            dy,
            perm,
            r_start,
            r_count,
            r_child,
            r_n_child,
            r_mass,
            r_cx,
            r_cy,
            r_size,
            theta,
            scaling,
        )
        for i in range(n):  # gravity towards the origin
            dist = np.sqrt(x[i] * x[i] + y[i] * y[i])
            if dist > 0:
                factor = mass[i] * gravity / dist
                dx[i] -= x[i] * factor
                dy[i] -= y[i] * factor
        for e in range(edge_from.size):  # linear attraction along the edges
            a, b = edge_from[e], edge_to[e]
            xd, yd = x[a] - x[b], y[a] - y[b]
            factor = -1.0 * edge_weight[e]
            dx[a] += xd * factor
            dy[a] += yd * factor
            dx[b] -= xd * factor
            dy[b] -= yd * factor
        speed, efficiency = _apply_forces(
            x, y, mass, dx, dy, old_dx, old_dy, speed, efficiency, jitter_tolerance
        )


@njit
def _apply_forces(x, y, mass, dx, dy, old_dx, old_dy, speed, efficiency, jitter_tolerance):
    """fa2's ``adjustSpeedAndApplyForces``: adapt the global speed, then move every node."""
    n = x.size
    swinging_sum, traction_sum = 0.0, 0.0
    for i in range(n):
        swinging_sum += mass[i] * np.sqrt((old_dx[i] - dx[i]) ** 2 + (old_dy[i] - dy[i]) ** 2)
        traction_sum += 0.5 * mass[i] * np.sqrt((old_dx[i] + dx[i]) ** 2 + (old_dy[i] + dy[i]) ** 2)
    estimated = 0.05 * np.sqrt(n)
    jt = jitter_tolerance * max(np.sqrt(estimated), min(10.0, estimated * traction_sum / (n * n)))
    if traction_sum != 0 and swinging_sum / traction_sum > 2.0:
        if efficiency > 0.05:
            efficiency *= 0.5
        jt = max(jt, jitter_tolerance)
    target = np.inf if swinging_sum == 0 else jt * efficiency * traction_sum / swinging_sum
    if swinging_sum > jt * traction_sum:
        if efficiency > 0.05:
            efficiency *= 0.7
    elif speed < 1000:
        efficiency *= 1.3
    speed = speed + min(target - speed, 0.5 * speed)
    for i in range(n):
        swinging = mass[i] * np.sqrt((old_dx[i] - dx[i]) ** 2 + (old_dy[i] - dy[i]) ** 2)
        factor = speed / (1.0 + np.sqrt(speed * swinging))
        x[i] += dx[i] * factor
        y[i] += dy[i] * factor
    return speed, efficiency


def forceatlas2(adjacency: Any, init_coords: np.ndarray, n_iterations: int = FA2_ITERATIONS) -> np.ndarray:
    """ForceAtlas2 positions ``(n, 2)`` with scanpy's settings (fa2-modified's algorithm).

    Node mass is 1 + the number of stored entries in its row; each edge ``i < j`` of the
    upper triangle attracts with its weight (scanpy's ``fa2_positions``).
    """
    csr = sparse.csr_matrix(adjacency, dtype=np.float64)
    csr.sum_duplicates()
    mass = 1.0 + np.diff(csr.indptr).astype(np.float64)
    upper = sparse.triu(csr, k=1, format="csr")
    upper.eliminate_zeros()
    upper.sort_indices()
    edge_from = np.repeat(np.arange(upper.shape[0], dtype=np.int64), np.diff(upper.indptr))
    coords = np.array(init_coords[:, :2], dtype=np.float64, order="F")
    x, y = coords[:, 0].copy(), coords[:, 1].copy()
    _forceatlas2(
        x, y, mass, edge_from, upper.indices.astype(np.int64), upper.data, n_iterations,
        FA2_THETA, FA2_SCALING, FA2_GRAVITY, FA2_JITTER,
    )  # fmt: skip
    return np.column_stack([x, y])


# --- igraph layouts and the stage ----------------------------------------------------------


def _igraph_layout(
    adjacency: Any, layout: str, init_coords: np.ndarray, root: int | None, seed: int, kwds: dict
) -> np.ndarray:
    """An igraph layout, igraph's random numbers drawn from ``random.Random(seed)`` (as scanpy seeds them)."""
    import igraph as ig

    graph = igraph_from_adjacency(adjacency)
    kwds = dict(kwds)
    if layout in ("fr", "grid_fr") and "maxiter" in kwds:  # scanpy's docs name it; igraph calls it niter
        kwds["niter"] = kwds.pop("maxiter")
    if layout in SEEDED_LAYOUTS:
        kwds = {"seed": init_coords.tolist(), **kwds}
    elif layout.startswith("rt"):
        kwds = {"root": None if root is None else [root], **kwds}
    name = layout
    if layout == "grid_fr":  # igraph ≥ 0.10 has no "grid_fr" layout name: it is "fr" on a grid
        name, kwds = "fr", {"grid": "grid", **kwds}
    ig.set_random_number_generator(random.Random(seed))
    try:
        # igraph's warnings (e.g. lgl on a disconnected graph) must not turn into errors
        # inside its C code: record them and log them instead
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            coords = graph.layout(name, **kwds).coords
    except (TypeError, ValueError, KeyError, ig.InternalError) as err:
        msg = f"igraph layout {layout!r} failed with options {sorted(kwds)}: {err}"
        raise ParamError(msg) from err
    finally:
        ig.set_random_number_generator(random)
    for warning in caught:
        logger.warning("igraph: %s", warning.message)
    return np.array(coords, dtype=np.float64)


def _init_coords(adata: AnnData, init_pos: str | bool | None, n_obs: int, seed: int) -> np.ndarray:
    """Start positions ``(n_obs, 2)``: an ``obsm`` key, PAGA's layout, or uniform random in [0, 1)."""
    if isinstance(init_pos, str) and init_pos in adata.obsm:
        coords = np.asarray(adata.obsm[init_pos], dtype=np.float64)
        if coords.ndim != 2 or coords.shape[1] < 2:
            msg = f"init_pos={init_pos!r}: obsm[{init_pos!r}] has shape {coords.shape}, needs at least 2 columns"
            raise InputDataError(msg)
        if not np.isfinite(coords[:, :2]).all():
            msg = f"init_pos={init_pos!r}: obsm[{init_pos!r}] contains NaN or infinite values"
            raise InputDataError(msg)
        return coords[:, :2]
    if init_pos is True or init_pos == "paga":
        from ._umap import _paga_init

        if "paga" not in adata.uns:
            msg = "init_pos='paga' needs uns['paga']: run paga (and plot it) first, or use init_pos=None"
            raise MissingKeyError(msg)
        return _paga_init(adata, n_obs, seed)
    if isinstance(init_pos, str):
        msg = (
            f"init_pos={init_pos!r} is not an obsm key{close_matches(init_pos, adata.obsm.keys())} nor 'paga'"
        )
        raise MissingKeyError(msg)
    return np.random.RandomState(seed).random_sample((n_obs, 2))  # scanpy: np.random.seed + random


@validated(DrawGraphParams)
def draw_graph(
    adata: AnnData,
    layout: Layout = "fa",
    *,
    init_pos: str | bool | None = None,
    root: int | None = None,
    random_state: int | None = 0,
    n_jobs: int | None = None,
    adjacency: Any = None,
    key_added_ext: str | None = None,
    neighbors_key: str | None = None,
    obsp: str | None = None,
    copy: bool = False,
    **kwds: Any,
) -> AnnData | None:
    """Lay out the neighbour graph with a force-directed algorithm.

    ``layout="fa"`` runs ForceAtlas2 with scanpy's settings (Barnes-Hut repulsion,
    θ = 1.2, scaling 2, gravity 1, 500 iterations) in scsnake's own numba port of the
    algorithm of fa2-modified, the package scanpy uses, so no extra package is needed
    (scanpy falls back to ``"fr"`` without it). Other layouts are igraph's, seeded like
    scanpy's. Results are the same for the same ``random_state``.

    Parameters
    ----------
    adata
        Cells with a ``neighbors`` result (run ``neighbors`` first), unless ``adjacency`` is given.
    layout
        ``"fa"`` (ForceAtlas2), ``"fr"`` (Fruchterman-Reingold), ``"grid_fr"``, ``"kk"``
        (Kamada-Kawai), ``"drl"``, ``"lgl"``, ``"rt"`` or ``"rt_circular"`` (trees).
    init_pos
        An ``obsm`` key (first two columns), ``"paga"``/True (needs ``uns['paga']``
        with positions), or None/False: uniform random positions in [0, 1).
    root
        Root cell of ``rt`` / ``rt_circular``.
    random_state
        Seed of the random start positions and of igraph's random numbers.
    n_jobs
        Unused (scanpy compatibility).
    adjacency
        Square matrix to lay out instead of the stored connectivities.
    key_added_ext
        Suffix of the ``obsm`` key instead of ``layout``.
    neighbors_key, obsp
        Which connectivities: ``uns[neighbors_key]``'s, or ``obsp[obsp]``; not both.
    copy
        Return a changed copy instead of writing to ``adata``.
    **kwds
        ``fa``: ``maxiter`` (or ``iterations``), default 500. igraph layouts: options of
        the igraph layout function (``maxiter`` is passed to ``fr`` as ``niter``).

    Returns
    -------
    None, or the copy if ``copy=True``. Writes:

    ``adata.obsm['X_draw_graph_<layout>']`` (or ``X_draw_graph_<key_added_ext>``)
        Coordinates, ``(n_obs, 2)``.
    ``adata.uns['draw_graph']['params']``
        ``layout`` and ``random_state``.

    Examples
    --------
    >>> import numpy as np, anndata as ad
    >>> from scsnake.neighbors import neighbors
    >>> adata = ad.AnnData(np.random.default_rng(0).normal(size=(30, 3)).astype("float32"))
    >>> neighbors(adata, n_neighbors=5)
    >>> draw_graph(adata, maxiter=20)
    >>> adata.obsm["X_draw_graph_fa"].shape
    (30, 2)
    """
    adata = adata.copy() if copy else adata
    if adjacency is None:
        adjacency = choose_graph(adata, obsp, neighbors_key)
    if adjacency.ndim != 2 or adjacency.shape != (adata.n_obs, adata.n_obs):
        msg = f"adjacency has shape {adjacency.shape}, expected (n_obs, n_obs) = {(adata.n_obs,) * 2}"
        raise InputDataError(msg)
    seed = as_seed(random_state)
    init_coords = _init_coords(adata, init_pos, adata.n_obs, seed)
    if layout == "fa":
        unknown = sorted(set(kwds) - {"maxiter", "iterations"})
        if unknown:
            msg = f"layout='fa' takes only maxiter (or iterations) as extra options, got {unknown}"
            raise ParamError(msg)
        n_iterations = kwds.get("maxiter", kwds.get("iterations", FA2_ITERATIONS))
        if not isinstance(n_iterations, int | np.integer) or n_iterations < 0:
            msg = f"maxiter={n_iterations!r}: must be a non-negative integer"
            raise ParamError(msg)
        positions = forceatlas2(adjacency, init_coords, int(n_iterations))
    else:
        if root is not None and root >= adata.n_obs:
            msg = f"root={root} is not a cell index (there are {adata.n_obs} cells)"
            raise ParamError(msg)
        positions = _igraph_layout(adjacency, layout, init_coords, root, seed, dict(kwds))
    key = f"X_draw_graph_{key_added_ext or layout}"
    adata.uns["draw_graph"] = {"params": {"layout": layout, "random_state": random_state}}
    adata.obsm[key] = positions
    logger.info("added obsm[%r] and uns['draw_graph']", key)
    return adata if copy else None
