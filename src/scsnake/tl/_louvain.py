"""Louvain clustering of the neighbour graph (igraph's multilevel, or the ``louvain`` package)."""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from pydantic import PositiveFloat, model_validator

from scsnake._params import StageParams, validated
from scsnake._rng import as_seed
from scsnake.errors import InputDataError, ParamError

from ._graph import choose_graph, igraph_from_adjacency
from ._leiden import _IgraphRng, _natural_key, _restrict, _restricted_labels

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["LouvainParams", "louvain"]

logger = logging.getLogger(__name__)


class LouvainParams(StageParams):
    """Parameters of :func:`louvain`."""

    resolution: PositiveFloat | None = None
    """Higher values give more, smaller clusters (``vtraag`` only; None means 1)."""
    random_state: int | None = 0
    """Seed (None means 0); with ``igraph`` it seeds igraph's random numbers."""
    restrict_to: tuple[str, Sequence[str]] | None = None
    """``(obs_key, categories)``: cluster only these cells again, into ``<category>,<n>`` labels."""
    key_added: str = "louvain"
    """``obs`` column of the labels (``louvain_R`` when ``restrict_to`` is set and this is ``louvain``)."""
    adjacency: Any = None
    """Graph to cluster; None takes the connectivities of ``neighbors_key`` or ``obsp``."""
    flavor: Literal["vtraag", "igraph"] = "vtraag"
    """``vtraag`` (the ``louvain`` package, if installed) or ``igraph`` (``community_multilevel``)."""
    directed: bool = True
    """Treat the graph as directed (``vtraag`` only; igraph clusters it undirected)."""
    use_weights: bool = False
    """Use the edge weights."""
    partition_type: Any = None
    """``louvain`` partition class (default ``RBConfigurationVertexPartition``); vtraag only."""
    partition_kwargs: Mapping[str, Any] | None = None
    """Keyword arguments of ``louvain.find_partition`` (vtraag only)."""
    neighbors_key: str | None = None
    """``uns`` key of the ``neighbors`` result whose connectivities are clustered."""
    obsp: str | None = None
    """``obsp`` key of the graph (instead of ``neighbors_key``)."""

    @model_validator(mode="after")
    def _vtraag_only_options(self) -> LouvainParams:
        if self.flavor != "vtraag" and self.partition_type is not None:
            msg = f"partition_type is an option of flavor='vtraag'; leave it None with flavor={self.flavor!r}"
            raise ValueError(msg)
        return self


def _run_vtraag(
    graph: Any,
    *,
    resolution: float | None,
    use_weights: bool,
    partition_type: Any,
    partition_kwargs: dict[str, Any],
    seed: int | None,
) -> list[int]:
    try:
        import louvain as louvain_package
    except ImportError:
        msg = (
            "flavor='vtraag' needs the 'louvain' package, which is not installed "
            "(it must be compiled); use flavor='igraph' or tl.leiden instead"
        )
        raise ParamError(msg) from None
    kwargs = dict(partition_kwargs)
    if partition_type is None:
        partition_type = louvain_package.RBConfigurationVertexPartition
    if resolution is not None:
        kwargs["resolution_parameter"] = resolution
    if use_weights:
        kwargs["weights"] = np.array(graph.es["weight"]).astype(np.float64)
    return louvain_package.find_partition(graph, partition_type, seed=seed, **kwargs).membership


def _run_igraph(graph: Any, *, use_weights: bool, seed: int) -> list[int]:
    import igraph

    weights = np.array(graph.es["weight"]).astype(np.float64) if use_weights else None
    igraph.set_random_number_generator(_IgraphRng(seed))
    try:
        return graph.community_multilevel(weights=weights).membership
    finally:
        igraph.set_random_number_generator(random)


@validated(LouvainParams)
def louvain(
    adata: AnnData,
    resolution: float | None = None,
    *,
    random_state: int | None = 0,
    restrict_to: tuple[str, Sequence[str]] | None = None,
    key_added: str = "louvain",
    adjacency: Any = None,
    flavor: Literal["vtraag", "igraph"] = "vtraag",
    directed: bool = True,
    use_weights: bool = False,
    partition_type: Any = None,
    partition_kwargs: Mapping[str, Any] | None = None,
    neighbors_key: str | None = None,
    obsp: str | None = None,
    copy: bool = False,
) -> AnnData | None:
    """Cluster the cells with the Louvain algorithm on the neighbour graph.

    Runs what scanpy 1.11 runs: ``flavor="vtraag"`` (scanpy's default) calls the
    ``louvain`` package, which scsnake does not install (it needs compiling; a
    :class:`~scsnake.errors.ParamError` says so when it is missing);
    ``flavor="igraph"`` runs igraph's ``community_multilevel`` on the undirected graph
    (one edge per nonzero entry, unweighted unless ``use_weights``). scanpy does not seed
    igraph here; scsnake seeds it from ``random_state`` so results are reproducible, and
    equal scanpy's under the same igraph random numbers.

    Parameters
    ----------
    adata
        Cells with ``obsp['connectivities']`` (run ``neighbors`` first) or ``adjacency``.
    resolution
        Higher values give more, smaller clusters (``vtraag`` only; ignored by igraph).
    random_state
        Seed of the optimisation (None means 0).
    restrict_to
        ``(obs_key, categories)``: re-cluster only the cells of these categories.
    key_added
        ``obs`` column of the labels.
    adjacency
        Sparse adjacency matrix to cluster instead of the stored graph.
    flavor
        ``"vtraag"`` (needs the ``louvain`` package) or ``"igraph"``.
    directed
        Directed graph (``vtraag`` only).
    use_weights
        Use the edge weights (scanpy's default is not to).
    partition_type, partition_kwargs
        ``louvain`` partition class and options (``vtraag`` only).
    neighbors_key, obsp
        Which stored graph to cluster (at most one of them).
    copy
        Return a changed copy instead of writing to ``adata``.

    Returns
    -------
    None, or the copy if ``copy=True``. Writes:

    ``adata.obs[key_added]``
        Categorical cluster labels ``"0"``, ``"1"``, … (natural order).
    ``adata.uns[key_added]['params']``
        ``resolution`` and ``random_state``.

    Examples
    --------
    >>> import numpy as np, anndata as ad, scsnake as ss
    >>> x = np.repeat(np.eye(2, 4, dtype="float32") * 10, 20, axis=0)
    >>> adata = ad.AnnData(x + np.random.default_rng(0).normal(size=(40, 4)).astype("float32"))
    >>> ss.pp.neighbors(adata, n_neighbors=10)
    >>> ss.tl.louvain(adata, flavor="igraph")
    >>> adata.obs["louvain"].value_counts().tolist()
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
    if flavor == "igraph":
        if resolution is not None:
            logger.warning("resolution has no effect with flavor='igraph'")
        graph = igraph_from_adjacency(adjacency, directed=False)
        membership = _run_igraph(graph, use_weights=use_weights, seed=as_seed(random_state))
    else:
        graph = igraph_from_adjacency(adjacency, directed=directed)
        membership = _run_vtraag(
            graph,
            resolution=resolution,
            use_weights=use_weights,
            partition_type=partition_type,
            partition_kwargs=dict(partition_kwargs or {}),
            seed=random_state,
        )
    labels = np.array(membership).astype("U")
    if restrict_to is not None:
        if key_added == "louvain":
            key_added += "_R"
        labels = _restricted_labels(adata, restrict_to, mask, labels)
    adata.obs[key_added] = pd.Categorical(
        values=labels, categories=sorted(map(str, np.unique(labels)), key=_natural_key)
    )
    adata.uns[key_added] = {"params": {"resolution": resolution, "random_state": random_state}}
    logger.info("found %d clusters; added obs[%r]", adata.obs[key_added].cat.categories.size, key_added)
    return adata if copy else None
