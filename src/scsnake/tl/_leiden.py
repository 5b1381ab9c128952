"""Leiden clustering of the neighbour graph (leidenalg or igraph, as scanpy runs them)."""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, PositiveFloat, model_validator

from scsnake._matrix import get_obs_column
from scsnake._params import StageParams, validated
from scsnake._rng import as_seed
from scsnake.errors import InputDataError, ParamError

from ._graph import choose_graph, igraph_from_adjacency

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["LeidenParams", "leiden"]

logger = logging.getLogger(__name__)


class LeidenParams(StageParams):
    """Parameters of :func:`leiden`."""

    resolution: PositiveFloat | None = 1
    """Higher values give more, smaller clusters; None for partition types without one."""
    restrict_to: tuple[str, Sequence[str]] | None = None
    """``(obs_key, categories)``: cluster only these cells again, into ``<category>,<n>`` labels."""
    random_state: int | None = 0
    """Seed (None means 0)."""
    key_added: str = "leiden"
    """``obs`` column of the labels (``leiden_R`` when ``restrict_to`` is set and this is ``leiden``)."""
    adjacency: Any = None
    """Graph to cluster; None takes the connectivities of ``neighbors_key`` or ``obsp``."""
    directed: bool | None = None
    """Treat the graph as directed (leidenalg default True; igraph must be undirected)."""
    use_weights: bool = True
    """Use the edge weights."""
    n_iterations: Annotated[int, Field(ge=-1)] = -1
    """Iterations; -1 runs until the partition stops improving."""
    partition_type: Any = None
    """leidenalg partition class (default ``RBConfigurationVertexPartition``); leidenalg only."""
    neighbors_key: str | None = None
    """``uns`` key of the ``neighbors`` result whose connectivities are clustered."""
    obsp: str | None = None
    """``obsp`` key of the graph (instead of ``neighbors_key``)."""
    flavor: Literal["leidenalg", "igraph"] = "leidenalg"
    """Implementation: leidenalg (scanpy's default) or igraph's ``community_leiden``."""

    @model_validator(mode="after")
    def _igraph_limits(self) -> LeidenParams:
        if self.flavor == "igraph" and self.directed:
            msg = "flavor='igraph' clusters undirected graphs only; pass directed=False or flavor='leidenalg'"
            raise ValueError(msg)
        if self.flavor == "igraph" and self.partition_type is not None:
            msg = "partition_type is a leidenalg option; leave it None with flavor='igraph'"
            raise ValueError(msg)
        return self


class _IgraphRng:
    """igraph's random number generator on a seeded ``RandomState`` (scanpy's ``_RNGIgraph``)."""

    def __init__(self, seed: int) -> None:
        self._rng = np.random.RandomState(seed)

    def getrandbits(self, k: int) -> int:
        return self._rng.tomaxint() & ((1 << k) - 1)

    def randint(self, a: int, b: int) -> int:
        return self._rng.randint(a, b + 1)

    def random(self) -> float:
        return self._rng.random()

    def gauss(self, mu: float, sigma: float) -> float:
        return self._rng.normal(mu, sigma)


def _natural_key(label: str) -> tuple[Any, ...]:
    """Sort key of natural order (``"2" < "10"``), like natsort's default."""
    return tuple(int(part) if i % 2 else part for i, part in enumerate(re.split(r"(\d+)", label)))


def _restrict(
    adata: AnnData, adjacency: Any, restrict_to: tuple[str, Sequence[str]]
) -> tuple[Any, np.ndarray]:
    key, categories = restrict_to
    column = get_obs_column(adata, key, what="restrict_to key")
    if not isinstance(column.dtype, pd.CategoricalDtype):
        msg = f"restrict_to: obs[{key!r}] must be categorical, got dtype {column.dtype}"
        raise InputDataError(msg)
    if isinstance(categories, str) or len(categories) == 0 or not all(isinstance(c, str) for c in categories):
        msg = f"restrict_to: categories must be a non-empty list of strings (e.g. ['1'], not [1]); got {categories!r}"
        raise ParamError(msg)
    allowed = list(column.cat.categories)
    for category in categories:
        if category not in allowed:
            msg = f"restrict_to: {category!r} is not a category of obs[{key!r}] (categories: {', '.join(map(str, allowed))})"
            raise ParamError(msg)
    mask = column.isin(categories).to_numpy()
    adjacency = adjacency[mask, :][:, mask]
    return adjacency, mask


def _restricted_labels(
    adata: AnnData, restrict_to: tuple[str, Sequence[str]], mask: np.ndarray, labels: np.ndarray
) -> np.ndarray:
    """The labels of ``obs[key]``, with the cells of ``mask`` relabelled ``<categories>,<label>``."""
    key, categories = restrict_to
    # a copy: with pandas' copy-on-write (pandas >= 3) the array a Series gives is read-only
    all_labels = adata.obs[key].astype("U").to_numpy(dtype=object, copy=True)
    all_labels[mask] = [f"{'-'.join(categories)},{label}" for label in labels]
    return all_labels.astype("U")


def _run_leidenalg(
    graph: Any,
    *,
    resolution: float | None,
    use_weights: bool,
    n_iterations: int,
    partition_type: Any,
    seed: int,
    clustering_args: dict[str, Any],
) -> Any:
    """leidenalg's partition (a ``VertexClustering``)."""
    import leidenalg

    args = dict(clustering_args, n_iterations=n_iterations)
    if resolution is not None:
        args["resolution_parameter"] = resolution
    if use_weights:
        args["weights"] = np.array(graph.es["weight"]).astype(np.float64)
    args["seed"] = seed
    partition_type = leidenalg.RBConfigurationVertexPartition if partition_type is None else partition_type
    return leidenalg.find_partition(graph, partition_type, **args)


def _run_igraph(
    graph: Any,
    *,
    resolution: float | None,
    use_weights: bool,
    n_iterations: int,
    seed: int,
    clustering_args: dict[str, Any],
) -> Any:
    """igraph's partition (a ``VertexClustering``)."""
    import igraph

    args = dict(clustering_args, n_iterations=n_iterations)
    if use_weights:
        args["weights"] = "weight"
    if resolution is not None:
        args["resolution"] = resolution
    args.setdefault("objective_function", "modularity")
    igraph.set_random_number_generator(_IgraphRng(seed))
    try:
        return graph.community_leiden(**args)
    finally:
        igraph.set_random_number_generator(random)


@validated(LeidenParams)
def leiden(
    adata: AnnData,
    resolution: float | None = 1,
    *,
    restrict_to: tuple[str, Sequence[str]] | None = None,
    random_state: int | None = 0,
    key_added: str = "leiden",
    adjacency: Any = None,
    directed: bool | None = None,
    use_weights: bool = True,
    n_iterations: int = -1,
    partition_type: Any = None,
    neighbors_key: str | None = None,
    obsp: str | None = None,
    copy: bool = False,
    flavor: Literal["leidenalg", "igraph"] = "leidenalg",
    **clustering_args: Any,
) -> AnnData | None:
    """Cluster the cells with the Leiden algorithm on the neighbour graph.

    Runs exactly what scanpy runs, so a graph and seed give scanpy's clusters:
    ``flavor="leidenalg"`` (the default, as in scanpy; no FutureWarning is raised)
    builds a directed graph unless ``directed=False`` and optimises
    ``RBConfigurationVertexPartition``; ``flavor="igraph"`` uses igraph's
    ``community_leiden`` (modularity) on the undirected graph, seeded through a
    ``RandomState`` like scanpy. The graph has one edge per nonzero entry of the
    adjacency, weighted by it.

    Parameters
    ----------
    adata
        Cells with ``obsp['connectivities']`` (run ``neighbors`` first) or ``adjacency``.
    resolution
        Higher values give more, smaller clusters (> 0).
    restrict_to
        ``(obs_key, categories)``: re-cluster only the cells of these categories.
    random_state
        Seed of the optimisation (None means 0).
    key_added
        ``obs`` column of the labels.
    adjacency
        Sparse adjacency matrix to cluster instead of the stored graph.
    directed
        Directed graph (leidenalg: default True; igraph: must be False).
    use_weights
        Use the edge weights.
    n_iterations
        Iterations; -1 until no improvement (scanpy's default), 2 is faster.
    partition_type
        leidenalg partition class (default ``RBConfigurationVertexPartition``).
    neighbors_key, obsp
        Which stored graph to cluster (at most one of them).
    copy
        Return a changed copy instead of writing to ``adata``.
    flavor
        ``"leidenalg"`` or ``"igraph"``.
    **clustering_args
        Passed on to ``leidenalg.find_partition`` or ``igraph.Graph.community_leiden``.

    Returns
    -------
    None, or the copy if ``copy=True``. Writes:

    ``adata.obs[key_added]``
        Categorical cluster labels ``"0"``, ``"1"``, … (natural order; leidenalg
        numbers clusters by size, largest first).
    ``adata.uns[key_added]['params']``
        ``resolution``, ``random_state``, ``n_iterations``.
    ``adata.uns[key_added]['modularity']``
        Modularity of the clusters as the flavor computes it (scanpy ≥ 1.12): igraph's on
        the weighted, undirected graph at ``resolution``; leidenalg's on the graph without
        weights (directed unless ``directed=False``) at resolution 1.

    Examples
    --------
    >>> import numpy as np, anndata as ad, scsnake as ss
    >>> x = np.repeat(np.eye(2, 4, dtype="float32") * 10, 20, axis=0)
    >>> adata = ad.AnnData(x + np.random.default_rng(0).normal(size=(40, 4)).astype("float32"))
    >>> ss.pp.neighbors(adata, n_neighbors=10)
    >>> ss.tl.leiden(adata, resolution=0.2)
    >>> adata.obs["leiden"].value_counts().tolist()
    [20, 20]
    """
    adata = adata.copy() if copy else adata
    if adjacency is None:
        adjacency = choose_graph(adata, obsp, neighbors_key)
    elif adjacency.shape != (adata.n_obs, adata.n_obs):
        msg = f"adjacency has shape {adjacency.shape}, expected ({adata.n_obs}, {adata.n_obs})"
        raise InputDataError(msg)
    mask = None
    if restrict_to is not None:
        adjacency, mask = _restrict(adata, adjacency, restrict_to)
    seed = as_seed(random_state)
    if flavor == "leidenalg":
        graph = igraph_from_adjacency(adjacency, directed=True if directed is None else directed)
        partition = _run_leidenalg(
            graph,
            resolution=resolution,
            use_weights=use_weights,
            n_iterations=n_iterations,
            partition_type=partition_type,
            seed=seed,
            clustering_args=clustering_args,
        )
    else:
        graph = igraph_from_adjacency(adjacency, directed=False)
        partition = _run_igraph(
            graph,
            resolution=resolution,
            use_weights=use_weights,
            n_iterations=n_iterations,
            seed=seed,
            clustering_args=clustering_args,
        )
    labels = np.array(partition.membership).astype("U")
    if restrict_to is not None:
        if key_added == "leiden":
            key_added += "_R"
        labels = _restricted_labels(adata, restrict_to, mask, labels)
    adata.obs[key_added] = pd.Categorical(
        values=labels, categories=sorted(map(str, np.unique(labels)), key=_natural_key)
    )
    adata.uns[key_added] = {
        "params": {"resolution": resolution, "random_state": random_state, "n_iterations": n_iterations},
        "modularity": partition.modularity,
    }
    logger.info("found %d clusters; added obs[%r]", adata.obs[key_added].cat.categories.size, key_added)
    return adata if copy else None
