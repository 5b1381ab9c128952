"""The graph stages: ``neighbors``, ``umap`` and ``leiden``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

import pandas as pd
from pydantic import Field, PositiveFloat, PositiveInt

from .._params import Seed, StageParams
from ._integration import BbknnOptions

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = [
    "BbknnRun",
    "LeidenStageParams",
    "NeighborsRunParams",
    "NeighborsStageParams",
    "UmapStageParams",
    "clustering_table",
    "leiden",
    "neighbors",
    "sweep_key",
    "umap",
]


class NeighborsStageParams(StageParams):
    """The ``neighbors`` section: the kNN graph on the PCA."""

    n_neighbors: Annotated[int, Field(ge=2)] = 15
    """Number of nearest neighbours, the cell itself included (as in scanpy)."""
    n_pcs: PositiveInt | None = None
    """Use the first ``n_pcs`` components of ``use_rep`` (None: all)."""
    use_rep: str = "X_pca"
    """``obsm`` key of the representation (``X`` for the expression matrix)."""
    metric: Literal["euclidean", "cosine", "manhattan", "correlation", "chebyshev", "minkowski"] = "euclidean"
    """Distance metric."""
    method: Literal["umap", "gauss"] = "umap"
    """How distances become connectivities: UMAP's fuzzy simplicial set or a Gaussian kernel."""
    transformer: Literal["auto", "exact", "pynndescent"] = "auto"
    """kNN search: ``exact`` brute force, ``pynndescent`` (approximate) or ``auto`` (exact on small data)."""
    random_state: Seed | None = None
    """Seed of the approximate search; None takes the config's ``seed``."""


class BbknnRun(BbknnOptions):
    """Batch-balanced kNN in the ``neighbors`` stage (``integration.method: bbknn``)."""

    batch_key: str
    """``obs`` column of the batches."""


class NeighborsRunParams(NeighborsStageParams):
    """What the ``neighbors`` stage runs with: its section, plus what the workflow takes from
    ``integration`` (``use_rep: X_pca_harmony`` for Harmony, ``bbknn`` for BBKNN)."""

    bbknn: BbknnRun | None = None
    """Build a batch-balanced graph (``pp.bbknn``) instead of the plain kNN graph."""


class UmapStageParams(StageParams):
    """The ``umap`` section (umap-learn's layout optimisation on our graph)."""

    min_dist: Annotated[float, Field(ge=0)] = 0.5
    """Minimum distance between embedded points."""
    spread: PositiveFloat = 1.0
    """Scale of the embedded points."""
    n_components: PositiveInt = 2
    """Dimensions of the embedding."""
    maxiter: PositiveInt | None = None
    """Optimisation epochs (None: 500 for small data, 200 for large, like umap-learn)."""
    alpha: PositiveFloat = 1.0
    """Initial learning rate."""
    gamma: PositiveFloat = 1.0
    """Weight of negative samples."""
    negative_sample_rate: PositiveInt = 5
    """Negative samples per positive sample."""
    init_pos: Literal["spectral", "random", "paga"] = "spectral"
    """Initial positions; ``paga`` starts from the PAGA graph layout (turns on the ``paga`` stage)."""
    method: Literal["umap", "parallel"] = "umap"
    """``umap``: umap-learn's serial seeded layout, as scanpy; ``parallel``: the same updates in
    blocks of cells on every core, deterministic for a seed (as good as, not identical to, umap-learn's)."""
    random_state: Seed | None = None
    """Seed; None takes the config's ``seed``."""


class LeidenStageParams(StageParams):
    """The ``leiden`` section."""

    resolution: PositiveFloat = 1.0
    """Higher values give more, smaller clusters."""
    flavor: Literal["igraph", "leidenalg"] = "igraph"
    """Implementation: igraph's (fast; scanpy's recommended future default) or leidenalg."""
    n_iterations: Annotated[int, Field(ge=-1)] = 2
    """Iterations of the algorithm (-1: until no improvement, as leidenalg's default)."""
    key_added: str = "leiden"
    """``obs`` column of the cluster labels."""
    sweep: list[PositiveFloat] = []
    """More resolutions to try: each adds ``obs['<key_added>_res<r>']``; all are compared in
    ``results/<sample>/clustering.csv`` (clusters, modularity, silhouette) and the sweep figure."""
    random_state: Seed | None = None
    """Seed; None takes the config's ``seed``."""


def neighbors(adata: AnnData, params: NeighborsStageParams, *, random_state: int) -> AnnData:
    """kNN graph (batch-balanced with ``params.bbknn``).

    Returns the AnnData with ``obsp['distances']``, ``obsp['connectivities']``, ``uns['neighbors']``.
    """
    from ..neighbors import neighbors as compute_neighbors

    bbknn = getattr(params, "bbknn", None)
    if bbknn is not None:
        from .. import pp
        from ._integration import check_batches

        check_batches(adata, bbknn.batch_key, "neighbors (bbknn)")
        pp.bbknn(
            adata,
            bbknn.batch_key,
            use_rep=params.use_rep,
            n_pcs=params.n_pcs,
            neighbors_within_batch=bbknn.neighbors_within_batch,
            trim=bbknn.trim,
            metric=params.metric,
        )
        return adata
    transformer = {"auto": None, "exact": "sklearn", "pynndescent": "pynndescent"}[params.transformer]
    compute_neighbors(
        adata,
        n_neighbors=params.n_neighbors,
        n_pcs=params.n_pcs,
        use_rep=params.use_rep,
        metric=params.metric,
        method=params.method,
        transformer=transformer,
        random_state=random_state,
    )
    return adata


def umap(adata: AnnData, params: UmapStageParams, *, random_state: int) -> AnnData:
    """UMAP embedding. Returns the AnnData with ``obsm['X_umap']`` and ``uns['umap']``."""
    from .. import tl

    kwargs = params.model_dump(exclude={"random_state"})
    tl.umap(adata, **kwargs, random_state=random_state)
    return adata


def leiden(adata: AnnData, params: LeidenStageParams, *, random_state: int) -> AnnData:
    """Leiden clusters. Returns the AnnData with ``obs[key_added]`` and ``uns[key_added]``."""
    from .. import tl

    rows = []
    for resolution, key in [
        (params.resolution, params.key_added),
        *((r, sweep_key(params, r)) for r in params.sweep),
    ]:
        tl.leiden(
            adata,
            resolution=resolution,
            flavor=params.flavor,
            n_iterations=params.n_iterations,
            key_added=key,
            random_state=random_state,
        )
        rows.append(_clustering_scores(adata, key, resolution, random_state))
    adata.uns[f"{params.key_added}_sweep"] = pd.DataFrame(rows).set_index("key")
    return adata


def sweep_key(params: LeidenStageParams, resolution: float) -> str:
    """``obs`` column of one sweep resolution (``leiden_res0.5``)."""
    return f"{params.key_added}_res{resolution:g}"


def clustering_table(adata: AnnData, params: LeidenStageParams) -> pd.DataFrame:
    """The per-resolution comparison as a flat table (written as ``clustering.csv``)."""
    return adata.uns[f"{params.key_added}_sweep"].reset_index()


def _clustering_scores(adata: AnnData, key: str, resolution: float, random_state: int) -> dict[str, object]:
    """Number of clusters, modularity on the kNN graph and silhouette on the PCA of one clustering."""
    import igraph
    from scipy import sparse
    from sklearn.metrics import silhouette_score

    labels = adata.obs[key].cat.codes.to_numpy()
    graph = sparse.triu(adata.obsp["connectivities"], k=1).tocoo()
    g = igraph.Graph(n=adata.n_obs, edges=list(zip(graph.row.tolist(), graph.col.tolist(), strict=True)))
    modularity = g.modularity(labels.tolist(), weights=graph.data.tolist())
    n_clusters = int(labels.max()) + 1
    silhouette = float("nan")
    if 1 < n_clusters < adata.n_obs and "X_pca" in adata.obsm:
        sample = min(adata.n_obs, 5000)
        silhouette = float(
            silhouette_score(adata.obsm["X_pca"], labels, sample_size=sample, random_state=random_state)
        )
    return {
        "key": key,
        "resolution": resolution,
        "n_clusters": n_clusters,
        "modularity": modularity,
        "silhouette": silhouette,
    }
