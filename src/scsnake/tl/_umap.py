"""UMAP embedding of the neighbour graph (umap-learn's layout optimisation, as scanpy runs it)."""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import Field, NonNegativeFloat, PositiveFloat, PositiveInt
from scipy import sparse

from scsnake._matrix import close_matches, get_obs_column
from scsnake._params import StageParams, validated
from scsnake._rng import as_seed
from scsnake.errors import AdjustedParamWarning, InputDataError, MissingKeyError, ParamError

from ._graph import neighbors_entry
from ._spectral_start import LEAN_SPECTRAL_MIN_OBS, spectral_start

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["UmapParams", "umap"]

logger = logging.getLogger(__name__)


class UmapParams(StageParams):
    """Parameters of :func:`umap`."""

    min_dist: NonNegativeFloat = 0.5
    """Minimum distance between embedded points; smaller values clump clusters tighter."""
    spread: PositiveFloat = 1.0
    """Scale of the embedded points (with ``min_dist`` it sets ``a`` and ``b``)."""
    n_components: PositiveInt = 2
    """Dimensions of the embedding."""
    maxiter: Annotated[int, Field(ge=0)] | None = None
    """Optimisation epochs; None: 500 up to 10,000 cells, else 200."""
    alpha: PositiveFloat = 1.0
    """Initial learning rate."""
    gamma: PositiveFloat = 1.0
    """Weight of the negative samples."""
    negative_sample_rate: PositiveInt = 5
    """Negative samples per positive edge sample."""
    init_pos: str | Any = "spectral"
    """``"spectral"``, ``"random"``, ``"paga"``, an ``obsm`` key (e.g. ``"X_pca"``) or an array."""
    random_state: int | None = 0
    """Seed (None means 0)."""
    a: PositiveFloat | None = None
    """Curve parameter ``a``; None derives it from ``min_dist`` and ``spread``."""
    b: PositiveFloat | None = None
    """Curve parameter ``b``; None derives it from ``min_dist`` and ``spread``."""
    method: Literal["umap", "parallel"] = "umap"
    """``umap``: umap-learn's serial seeded layout (as scanpy); ``parallel``: the same updates in
    blocks of cells on every core, deterministic for a seed on any number of threads."""
    key_added: str | None = None
    """Store under ``obsm[key_added]`` and ``uns[key_added]`` instead of ``X_umap`` / ``umap``."""
    neighbors_key: str | None = "neighbors"
    """``uns`` key of the ``neighbors`` result to embed."""


def _paga_init(adata: AnnData, n_obs: int, random_state: int) -> np.ndarray:
    """Initial positions from a PAGA layout (scanpy's ``get_init_pos_from_paga``)."""
    paga = adata.uns["paga"]
    for key in ("pos", "groups", "connectivities"):
        if key not in paga:
            msg = f"init_pos='paga' needs uns['paga'][{key!r}]: run paga and plot it first"
            raise MissingKeyError(msg)
    groups = get_obs_column(adata, paga["groups"], what="uns['paga']['groups']")
    pos, coarse = paga["pos"], paga["connectivities"]
    rng = np.random.RandomState(random_state)
    init = np.ones((n_obs, 2))
    for i, group_pos in enumerate(pos):
        subset = (groups == groups.cat.categories[i]).to_numpy()
        neighbours = coarse[i].nonzero()
        if len(neighbours[1]) > 0:
            nearest = neighbours[1][np.argmax(coarse[i][neighbours])]
            noise = rng.random_sample((int(subset.sum()), 2))
            dist = group_pos - pos[nearest]
            init[subset] = group_pos - 0.5 * dist + noise * dist
        else:
            init[subset] = group_pos
    return init


def _initial_positions(adata: AnnData, init_pos: Any, n_components: int, random_state: int) -> Any:
    """``"spectral"`` / ``"random"`` for umap-learn, or a float32 array of shape (n_obs, n_components)."""
    if isinstance(init_pos, str):
        if init_pos in adata.obsm:
            coords: Any = adata.obsm[init_pos]
        elif init_pos == "paga":
            if "paga" not in adata.uns:
                msg = "init_pos='paga' needs uns['paga']: run paga first, or use init_pos='spectral'"
                raise MissingKeyError(msg)
            coords = _paga_init(adata, adata.n_obs, random_state)
        elif init_pos in ("spectral", "random"):
            return init_pos
        else:
            msg = (
                f"init_pos={init_pos!r} is not 'spectral', 'random', 'paga' or an obsm key"
                f"{close_matches(init_pos, adata.obsm.keys())}"
            )
            raise MissingKeyError(msg)
    else:
        coords = init_pos
    coords = np.asarray(coords, dtype=np.float32)
    if coords.shape != (adata.n_obs, n_components):
        msg = f"init_pos has shape {coords.shape}, expected (n_obs, n_components) = ({adata.n_obs}, {n_components})"
        raise ParamError(msg)
    if not np.isfinite(coords).all():
        msg = "init_pos contains NaN or infinite values"
        raise InputDataError(msg)
    return np.ascontiguousarray(coords)


@validated(UmapParams)
def umap(
    adata: AnnData,
    *,
    min_dist: float = 0.5,
    spread: float = 1.0,
    n_components: int = 2,
    maxiter: int | None = None,
    alpha: float = 1.0,
    gamma: float = 1.0,
    negative_sample_rate: int = 5,
    init_pos: str | np.ndarray = "spectral",
    random_state: int | None = 0,
    a: float | None = None,
    b: float | None = None,
    method: Literal["umap", "parallel"] = "umap",
    key_added: str | None = None,
    neighbors_key: str | None = "neighbors",
    copy: bool = False,
) -> AnnData | None:
    """Embed the neighbour graph with UMAP.

    Optimises umap-learn's layout (``simplicial_set_embedding``) on the stored
    connectivities, with scanpy's settings, so a seed gives the same embedding as
    scanpy on the same graph. From 200,000 cells on, the spectral start is computed with
    far fewer Lanczos vectors than umap-learn keeps (8 GB less and minutes faster at 1M
    cells; same eigenvectors to ARPACK's tolerance, see :mod:`scsnake.tl._spectral_start`),
    so there the layout is as good as, not identical to, scanpy's. umap-learn is imported
    only here (it is slow to import).

    Parameters
    ----------
    adata
        Cells with a ``neighbors`` result (run ``neighbors`` first).
    min_dist, spread
        Shape of the embedding; they set the curve parameters ``a`` and ``b``.
    n_components
        Dimensions of the embedding.
    maxiter
        Epochs; None: 500 up to 10,000 cells, else 200.
    alpha, gamma, negative_sample_rate
        Learning rate, negative-sample weight, negative samples per positive one.
    init_pos
        ``"spectral"``, ``"random"``, ``"paga"`` (needs ``uns['paga']``), an ``obsm`` key or an array.
        ``"spectral"`` becomes ``"random"`` (with an :class:`~scsnake.errors.AdjustedParamWarning`)
        when there are no more than ``n_components + 1`` cells.
    random_state
        Seed (None means 0).
    a, b
        Curve parameters; None derives them from ``min_dist`` and ``spread``.
    method
        ``"umap"``: umap-learn's layout, serial with a seed, as scanpy runs it. ``"parallel"``:
        the same start and updates, optimised in 64 blocks of cells side by side on every
        core (:mod:`scsnake.tl._umap_layout`): the same result for a seed whatever the number
        of threads, about 1.9 times faster on 2 cores, as good as (not identical to) umap-learn's.
    key_added
        ``obsm`` and ``uns`` key instead of ``X_umap`` / ``umap``.
    neighbors_key
        ``uns`` key of the ``neighbors`` result.
    copy
        Return a changed copy instead of writing to ``adata``.

    Returns
    -------
    None, or the copy if ``copy=True``. Writes:

    ``adata.obsm['X_umap']`` (or ``obsm[key_added]``)
        The embedding, ``(n_obs, n_components)``.
    ``adata.uns['umap']['params']`` (or ``uns[key_added]``)
        ``a``, ``b`` and, if not 0, ``random_state``.
    """
    from scsnake.neighbors._neighbors import choose_representation

    adata = adata.copy() if copy else adata
    key_obsm, key_uns = ("X_umap", "umap") if key_added is None else (key_added, key_added)
    entry, connectivities = neighbors_entry(adata, neighbors_key)
    neigh_params = entry.get("params", {})
    if neigh_params.get("method") != "umap":
        logger.warning("obsp connectivities of uns[%r] were not computed with method='umap'", neighbors_key)
    if connectivities.shape != (adata.n_obs, adata.n_obs):
        msg = f"connectivities of uns[{neighbors_key!r}] have shape {connectivities.shape}, expected {(adata.n_obs,) * 2}"
        raise InputDataError(msg)
    seed = as_seed(random_state)
    init_coords = _initial_positions(adata, init_pos, n_components, seed)
    if isinstance(init_coords, str) and init_coords == "spectral" and adata.n_obs <= n_components + 1:
        # the spectral layout needs n_components + 1 eigenvectors of an n_obs × n_obs Laplacian
        msg = f"init_pos='spectral' needs more than n_components + 1 = {n_components + 1} cells, got {adata.n_obs}; using init_pos='random'"
        warnings.warn(msg, AdjustedParamWarning, stacklevel=3)
        init_coords = "random"

    with warnings.catch_warnings():  # umap-learn warns on import that tensorflow is absent
        warnings.filterwarnings("ignore", message=r"Tensorflow not installed", category=ImportWarning)
        from umap.umap_ import find_ab_params, simplicial_set_embedding

    if a is None or b is None:
        a, b = find_ab_params(spread, min_dist)
    params: dict[str, Any] = {"a": a, "b": b}
    if random_state != 0:
        params["random_state"] = random_state
    # the representation only places disconnected components of the spectral init
    x = choose_representation(adata, use_rep=neigh_params.get("use_rep"), n_pcs=neigh_params.get("n_pcs"))
    n_epochs = (500 if adata.n_obs <= 10_000 else 200) if maxiter is None else maxiter
    generator = np.random.RandomState(seed)
    if isinstance(init_coords, str) and init_coords == "spectral" and adata.n_obs >= LEAN_SPECTRAL_MIN_OBS:
        init_coords = spectral_start(
            connectivities,
            n_components,
            n_epochs,
            generator,
            data=x,
            metric=neigh_params.get("metric", "euclidean"),
            metric_kwds=neigh_params.get("metric_kwds", {}),
        )
    if method == "parallel":
        embedding = _embed_in_blocks(
            x,
            connectivities,
            n_components=n_components,
            alpha=alpha,
            a=a,
            b=b,
            gamma=gamma,
            negative_sample_rate=negative_sample_rate,
            n_epochs=n_epochs,
            init=init_coords,
            generator=generator,
            metric=neigh_params.get("metric", "euclidean"),
            metric_kwds=neigh_params.get("metric_kwds", {}),
        )
        params["method"] = "parallel"
    else:
        embedding, _ = simplicial_set_embedding(
            data=x,
            graph=sparse.coo_matrix(connectivities),
            n_components=n_components,
            initial_alpha=alpha,
            a=a,
            b=b,
            gamma=gamma,
            negative_sample_rate=negative_sample_rate,
            n_epochs=n_epochs,
            init=init_coords,
            random_state=generator,
            metric=neigh_params.get("metric", "euclidean"),
            metric_kwds=neigh_params.get("metric_kwds", {}),
            densmap=False,
            densmap_kwds={},
            output_dens=False,
            verbose=False,
        )
    adata.uns[key_uns] = {"params": params}
    adata.obsm[key_obsm] = embedding
    logger.info("added obsm[%r] and uns[%r]", key_obsm, key_uns)
    return adata if copy else None


def _embed_in_blocks(
    x: Any,
    connectivities: Any,
    *,
    n_components: int,
    alpha: float,
    a: float,
    b: float,
    gamma: float,
    negative_sample_rate: int,
    n_epochs: int,
    init: Any,
    generator: np.random.RandomState,
    metric: Any,
    metric_kwds: dict[str, Any],
) -> np.ndarray:
    """umap-learn's ``simplicial_set_embedding`` (Euclidean output, no densMAP) with the
    layout of :func:`~scsnake.tl._umap_layout.optimize_layout_blocks`: the same pruned graph,
    start and random draws, in the same order."""
    from umap.spectral import spectral_layout
    from umap.umap_ import INT32_MAX, INT32_MIN, make_epochs_per_sample, noisy_scale_coords

    from ._umap_layout import layout_graph, optimize_layout_blocks

    graph = layout_graph(connectivities, n_epochs)
    if isinstance(init, str) and init == "random":
        embedding = generator.uniform(low=-10.0, high=10.0, size=(graph.shape[0], n_components)).astype(
            np.float32
        )
    elif isinstance(init, str):  # spectral
        embedding = spectral_layout(x, graph, n_components, generator, metric=metric, metric_kwds=metric_kwds)
        embedding = noisy_scale_coords(embedding, generator, max_coord=10, noise=0.0001)
    else:
        embedding = np.asarray(init)
        if np.unique(embedding, axis=0).shape[0] < embedding.shape[0]:  # umap-learn jitters repeated points
            from sklearn.neighbors import KDTree

            distances, _ = KDTree(embedding).query(embedding, k=2)
            scale = 0.001 * np.mean(distances[:, 1])
            embedding = embedding + generator.normal(scale=scale, size=embedding.shape).astype(np.float32)
    epochs_per_sample = make_epochs_per_sample(graph.data, n_epochs)
    rng_state = generator.randint(INT32_MIN, INT32_MAX, 3).astype(np.int64)
    low, high = np.min(embedding, 0), np.max(embedding, 0)
    embedding = (10.0 * (embedding - low) / (high - low)).astype(np.float32, order="C")
    return optimize_layout_blocks(
        embedding,
        graph.row,
        graph.col,
        n_epochs,
        epochs_per_sample,
        a,
        b,
        rng_state,
        gamma=gamma,
        initial_alpha=alpha,
        negative_sample_rate=negative_sample_rate,
    )
