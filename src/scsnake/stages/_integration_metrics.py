"""The ``integration_metrics`` stage: every integration method run on the PCA, and scored.

Turned on by ``integration.compare: true``; its section has no options of its own. It reads
the ``pca`` artifact and, for each method (``none``, ``combat``, ``harmony``, ``bbknn``),
builds the corrected representation and kNN graph with the config's ``pca`` and
``neighbors`` settings, clusters it with Leiden at the ``leiden`` section's resolution and
seed, and scores it with :func:`scsnake.metrics.integration_scores`. The table
``results/<name>/integration_metrics.csv`` has one row per method.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import pandas as pd

from .._params import Seed, StageParams
from ._graph import BbknnRun, LeidenStageParams, NeighborsRunParams, NeighborsStageParams
from ._integration import METHODS, IntegrationParams, check_batches
from ._pca import PcaRunParams

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["SCORES", "IntegrationMetricsParams", "IntegrationMetricsRun", "integration_metrics"]

logger = logging.getLogger(__name__)

#: Score columns of the table, first in this order (then any other score the metrics return).
SCORES = ("ilisi", "clisi", "kbet_acceptance", "ari", "nmi", "asw_label")
#: obs column of the uncorrected data's Leiden clusters, the labels when no ``label_key`` is known.
UNCORRECTED_CLUSTERS = "leiden_uncorrected"


class IntegrationMetricsParams(StageParams):
    """The ``integration_metrics`` section (no options: ``integration.compare: true`` runs it)."""


class IntegrationMetricsRun(StageParams):
    """What the stage runs with: the sections it takes its settings from (the workflow fills them in)."""

    integration: IntegrationParams = IntegrationParams()
    """Batch key, label key and the options of each method."""
    pca: PcaRunParams = PcaRunParams()
    """PCA settings (``combat`` recomputes the PCA with ComBat on the batch key)."""
    neighbors: NeighborsStageParams = NeighborsStageParams()
    """kNN graph settings of every method."""
    leiden: LeidenStageParams = LeidenStageParams()
    """Resolution, flavor and iterations of the clustering of every method."""
    random_state: Seed | None = None
    """Seed of Harmony, and of the steps whose section sets none; None takes the config's ``seed``."""


def integration_metrics(adata: AnnData, params: IntegrationMetricsRun, *, random_state: int) -> pd.DataFrame:
    """Run and score every integration method on a ``pca`` artifact.

    Returns
    -------
    A table with one row per method (``none``, ``combat``, ``harmony``, ``bbknn``; ``combat``
    empty after ``normalize.method: pearson_residuals``, whose PCA skips ComBat): ``method``,
    the scores (``ilisi``, ``clisi``, ``kbet_acceptance``, ``ari``, ``nmi``, ``asw_label``, then
    ``ilisi_norm``, ``clisi_norm``), ``n_clusters``, and the ``batch_key`` and ``label_key``
    used. ``adata`` is not changed.
    """
    from .. import metrics

    batch_key = params.integration.batch_key or "sample"
    check_batches(adata, batch_key, "integration_metrics")
    label_key, labels = _labels(adata, params.integration.label_key)
    embeddings = _embeddings(adata, params, batch_key, random_state)
    rows = []
    for method in METHODS:
        if embeddings[method] is None:  # not applicable to this data: an empty row
            rows.append({"method": method})
            continue
        cells = _graph(adata, embeddings[method], method, params, batch_key, random_state)
        if labels is None:  # METHODS starts with "none": its clusters serve as the labels
            label_key, labels = UNCORRECTED_CLUSTERS, cells.obs["leiden"].to_numpy()
        cells.obs[label_key] = pd.Categorical(labels)
        use_rep = None if method == "bbknn" else "X_emb"  # BBKNN changes only the graph
        scores = metrics.integration_scores(
            cells, batch_key, label_key, use_rep=use_rep, cluster_key="leiden"
        )
        rows.append({"method": method, **scores, "n_clusters": int(cells.obs["leiden"].nunique())})
        logger.info("integration_metrics: scored %s", method)
    table = pd.DataFrame(rows)
    first = ["method", *[c for c in SCORES if c in table]]
    table = table[[*first, *[c for c in table.columns if c not in first]]]
    return table.assign(batch_key=batch_key, label_key=label_key)


def _labels(adata: AnnData, label_key: str | None) -> tuple[str, Any]:
    """The known cell types: ``label_key``, else ``truth`` when every cell has one; else none yet."""
    from .._matrix import get_obs_column
    from ..errors import InputDataError

    if label_key is None:
        if "truth" in adata.obs and adata.obs["truth"].notna().all():
            return "truth", adata.obs["truth"].to_numpy()
        return UNCORRECTED_CLUSTERS, None
    values = get_obs_column(adata, label_key, what="integration.label_key")
    missing = int(values.isna().sum())
    if missing:
        msg = (
            f"integration.label_key {label_key!r} is missing for {missing} of {adata.n_obs} cells; "
            "label every cell or unset it"
        )
        raise InputDataError(msg)
    return label_key, values.to_numpy()


def _embeddings(
    adata: AnnData, params: IntegrationMetricsRun, batch_key: str, random_state: int
) -> dict[str, Any]:
    """The representation of each method: the uncorrected PCA, ComBat's PCA, Harmony's (BBKNN: the PCA)."""
    import anndata as ad

    from .. import pp
    from ._pca import pca

    def pca_of(combat_key: str | None) -> Any:
        work = ad.AnnData(
            X=adata.X, obs=adata.obs, var=adata.var, layers=dict(adata.layers), uns=dict(adata.uns)
        )
        options = params.pca.model_copy(update={"combat_key": combat_key})
        pca(work, options, random_state=_seed(params.pca, random_state))
        return work.obsm["X_pca"]

    uncorrected = pca_of(None)
    pearson = params.pca.residuals is not None
    if pearson:
        logger.warning(
            "integration_metrics: no ComBat row (the PCA of Pearson residuals does not use ComBat)"
        )
    harmony = ad.AnnData(obs=adata.obs[[batch_key]].copy(), obsm={"X_pca": uncorrected})
    options = params.integration.harmony
    pp.harmony_integrate(
        harmony, batch_key, theta=options.theta, lamb=options.lamb, max_iter_harmony=options.max_iter_harmony,
        random_state=random_state,
    )  # fmt: skip
    return {
        "none": uncorrected,
        "combat": None if pearson else pca_of(batch_key),
        "harmony": harmony.obsm["X_pca_harmony"],
        "bbknn": uncorrected,
    }


def _graph(adata: AnnData, embedding: Any, method: str, params: IntegrationMetricsRun, batch_key: str,
           random_state: int) -> AnnData:  # fmt: skip
    """Cells with the method's representation (``obsm['X_emb']``), kNN graph and Leiden clusters."""
    import anndata as ad

    from .. import tl
    from ._graph import neighbors

    cells = ad.AnnData(obs=adata.obs[[batch_key]].copy(), obsm={"X_emb": embedding})
    bbknn = None
    if method == "bbknn":
        options = params.integration.bbknn
        bbknn = BbknnRun(batch_key=batch_key, **options.model_dump())
    graph = NeighborsRunParams(**{**params.neighbors.model_dump(), "use_rep": "X_emb", "bbknn": bbknn})
    neighbors(cells, graph, random_state=_seed(params.neighbors, random_state))
    leiden = params.leiden
    tl.leiden(
        cells, resolution=leiden.resolution, flavor=leiden.flavor, n_iterations=leiden.n_iterations,
        key_added="leiden", random_state=_seed(leiden, random_state),
    )  # fmt: skip
    return cells


def _seed(section: Any, default: int) -> int:
    """A section's own ``random_state`` (as the main workflow ran it), else ``default``."""
    return default if section.random_state is None else section.random_state
