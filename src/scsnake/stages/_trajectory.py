"""Optional side stages: ``tsne``, ``draw_graph``, ``paga`` and ``dpt`` (diffusion map + pseudotime).

Each is off by default (``enabled: false``); when on, its results join the ``final`` object.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Annotated, Literal

import numpy as np
from pydantic import Field, PositiveFloat, PositiveInt, model_validator

from .._params import Seed, StageParams
from ..errors import InputDataError

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = [
    "DptStageParams",
    "DrawGraphStageParams",
    "PagaStageParams",
    "TsneStageParams",
    "dpt",
    "draw_graph",
    "paga",
    "tsne",
]

logger = logging.getLogger(__name__)


class TsneStageParams(StageParams):
    """The ``tsne`` section (an embedding of the PCA)."""

    enabled: bool = False
    """Compute t-SNE (``obsm['X_tsne']``) and plot it."""
    perplexity: PositiveFloat = 30.0
    """Effective number of neighbours."""
    early_exaggeration: PositiveFloat = 12.0
    """Cluster separation in the early phase."""
    learning_rate: PositiveFloat = 1000.0
    """Optimisation step size."""
    n_pcs: PositiveInt | None = None
    """Use this many PCs (None: all)."""
    random_state: Seed | None = None
    """Seed; None takes the config's ``seed``."""


class DrawGraphStageParams(StageParams):
    """The ``draw_graph`` section (a force-directed layout of the kNN graph)."""

    enabled: bool = False
    """Compute the layout (``obsm['X_draw_graph_<layout>']``) and plot it."""
    layout: Literal["fa", "fr", "kk", "drl", "lgl", "rt"] = "fa"
    """``fa`` ForceAtlas2, or an igraph layout (``fr`` Fruchterman-Reingold, ``kk``, ``drl``…)."""
    random_state: Seed | None = None
    """Seed; None takes the config's ``seed``."""


class PagaStageParams(StageParams):
    """The ``paga`` section (graph abstraction of the clusters)."""

    enabled: bool = False
    """Compute PAGA (``uns['paga']``) on the ``groups`` clusters and plot it."""
    groups: str = "leiden"
    """``obs`` column of the clusters."""
    model: Literal["v1.2", "v1.0"] = "v1.2"
    """PAGA connectivity model."""
    threshold: Annotated[float, Field(ge=0, le=1)] = 0.03
    """Edges weaker than this are not drawn (and not used for the PAGA-initialised UMAP)."""


class DptStageParams(StageParams):
    """The ``dpt`` section: diffusion map and diffusion pseudotime from a root."""

    enabled: bool = False
    """Compute ``obsm['X_diffmap']`` and ``obs['dpt_pseudotime']``."""
    n_comps: Annotated[int, Field(ge=2)] = 15
    """Diffusion components."""
    n_dcs: Annotated[int, Field(ge=2)] = 10
    """Diffusion components used for the pseudotime."""
    n_branchings: Annotated[int, Field(ge=0)] = 0
    """Branchings to detect (``obs['dpt_groups']``)."""
    root_cell: str | None = None
    """Name of the root cell (an ``obs_names`` entry)."""
    root_key: str = "leiden"
    """With ``root_group``: the ``obs`` column holding the group."""
    root_group: str | None = None
    """Group whose most extreme cell on the first diffusion component is the root."""
    random_state: Seed | None = None
    """Seed of the eigen-solver start vector; None takes the config's ``seed``."""

    @model_validator(mode="after")
    def _one_root(self) -> DptStageParams:
        if self.enabled and (self.root_cell is None) == (self.root_group is None):
            msg = "set exactly one of dpt.root_cell and dpt.root_group (the start of the trajectory)"
            raise ValueError(msg)
        return self


def tsne(adata: AnnData, params: TsneStageParams, *, random_state: int) -> AnnData:
    """t-SNE of the PCA. Returns the AnnData with ``obsm['X_tsne']`` and ``uns['tsne']``."""
    from .. import tl

    tl.tsne(
        adata,
        n_pcs=params.n_pcs,
        perplexity=params.perplexity,
        early_exaggeration=params.early_exaggeration,
        learning_rate=params.learning_rate,
        random_state=random_state,
    )
    return adata


def draw_graph(adata: AnnData, params: DrawGraphStageParams, *, random_state: int) -> AnnData:
    """Force-directed layout. Returns the AnnData with ``obsm['X_draw_graph_<layout>']``."""
    from .. import tl

    tl.draw_graph(adata, layout=params.layout, random_state=random_state)
    return adata


def paga(adata: AnnData, params: PagaStageParams) -> AnnData:
    """PAGA of the clusters, with positions for plotting and PAGA-initialised UMAP.

    Returns
    -------
    The AnnData with ``uns['paga']`` (connectivities, connectivities_tree, groups, pos).
    """
    from .. import tl

    tl.paga(adata, groups=params.groups, model=params.model)
    adata.uns["paga"]["pos"] = _paga_positions(adata.uns["paga"]["connectivities"], params.threshold)
    adata.uns["paga"]["threshold"] = params.threshold
    return adata


def _paga_positions(connectivities: object, threshold: float) -> np.ndarray:
    """Deterministic 2-D positions of the PAGA nodes (Fruchterman-Reingold on the thresholded graph)."""
    import igraph
    from scipy import sparse

    weights = sparse.csr_matrix(connectivities)
    weights.data[weights.data < threshold] = 0
    weights.eliminate_zeros()
    upper = sparse.triu(weights, k=1).tocoo()
    graph = igraph.Graph(
        n=weights.shape[0], edges=list(zip(upper.row.tolist(), upper.col.tolist(), strict=True))
    )
    n = weights.shape[0]
    start = [[np.cos(2 * np.pi * i / n), np.sin(2 * np.pi * i / n)] for i in range(n)]
    layout = graph.layout_fruchterman_reingold(weights=upper.data.tolist() or None, seed=start, niter=500)
    return np.asarray(layout.coords, dtype=float)


def dpt(adata: AnnData, params: DptStageParams, *, random_state: int) -> AnnData:
    """Diffusion map and pseudotime from the configured root.

    Returns
    -------
    The AnnData with ``obsm['X_diffmap']``, ``uns['diffmap_evals']``, ``uns['iroot']`` and
    ``obs['dpt_pseudotime']`` (plus ``obs['dpt_groups']`` with branchings).
    """
    from .. import tl

    tl.diffmap(adata, n_comps=params.n_comps, random_state=random_state)
    adata.uns["iroot"] = _root_index(adata, params)
    tl.dpt(adata, n_dcs=min(params.n_dcs, params.n_comps), n_branchings=params.n_branchings)
    return adata


def _root_index(adata: AnnData, params: DptStageParams) -> int:
    from .._matrix import close_matches, get_obs_column

    if params.root_cell is not None:
        if params.root_cell not in adata.obs_names:
            msg = f"dpt.root_cell {params.root_cell!r} is not a cell of this sample{close_matches(params.root_cell, adata.obs_names[:1000])}"
            raise InputDataError(msg)
        return int(adata.obs_names.get_loc(params.root_cell))
    labels = get_obs_column(adata, params.root_key, what="dpt.root_key").astype(str).to_numpy()
    members = np.flatnonzero(labels == str(params.root_group))
    if members.size == 0:
        msg = f"dpt.root_group {params.root_group!r} not found in obs[{params.root_key!r}]{close_matches(str(params.root_group), sorted(set(labels)))}"
        raise InputDataError(msg)
    dc1 = adata.obsm["X_diffmap"][:, 1]
    # the group's cell farthest out on the first non-trivial diffusion component, on the side the group lies
    side = np.sign(np.median(dc1[members]) - np.median(dc1)) or 1.0
    root = int(members[np.argmax(side * dc1[members])])
    logger.info(
        "dpt: root cell %s (group %s of %s)", adata.obs_names[root], params.root_group, params.root_key
    )
    return root
