"""The workflow's stages: one params model, one function and one registry entry each.

Every stage reads the artifact(s) of the stages in ``after`` (the first is its main input)
and writes its own artifact ``results/<sample>/<stage>.<h5ad|zarr>``. ``load`` reads the
sample's input instead; ``merge`` reads every sample's ``qc`` artifact and writes
``results/<merge.name>/merge.<format>``; ``plots`` writes figures and
``integration_metrics`` a table instead of an artifact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._annotate import AnnotateParams, annotate, annotation_table
from ._final import FinalParams, final
from ._graph import (
    LeidenStageParams,
    NeighborsRunParams,
    UmapStageParams,
    clustering_table,
    leiden,
    neighbors,
    umap,
)
from ._hvg import HvgParams, hvg
from ._integration import IntegrationParams, integration
from ._integration_metrics import IntegrationMetricsRun, integration_metrics
from ._load import LoadParams, SampleSpec, SyntheticSpec, load
from ._markers import MarkersParams, markers, markers_table
from ._merge import MergeParams, merge
from ._normalize import NormalizeParams, normalize
from ._pca import PcaStageParams, pca
from ._plots import FIGURES, PlotsParams, plots
from ._qc import QcParams, qc, qc_cells_table
from ._trajectory import (
    DptStageParams,
    DrawGraphStageParams,
    PagaStageParams,
    TsneStageParams,
    dpt,
    draw_graph,
    paga,
    tsne,
)

__all__ = [
    "FIGURES",
    "STAGES",
    "SampleSpec",
    "Stage",
    "SyntheticSpec",
    "enabled_side_stages",
    "stage",
    "upstream",
]


@dataclass(frozen=True)
class Stage:
    """A workflow stage: its config section's model, its function and its place in the DAG."""

    name: str
    params: Any
    """The pydantic model (or annotated union of models) of the config section, or a subclass
    that adds what the workflow derives from other sections (``neighbors``: ``integration``)."""
    func: Any
    after: tuple[str, ...] = ()
    """Upstream stages whose artifacts this stage reads; the first is the main input."""
    needs: tuple[str, ...] = ()
    """Slots the main input must have, as ``"<attr>/<key>"`` (e.g. ``"obsp/connectivities"``)."""
    seeded: bool = False
    """Takes ``random_state`` (default: the config's top-level ``seed``)."""
    artifact: bool = True
    """Writes an AnnData artifact (False: writes files such as figures)."""
    optional: bool = False
    """Off unless its section says ``enabled: true``; its results join ``final``."""
    table: Any = None
    """``table(adata, params) -> DataFrame`` written next to the artifact as ``<table_name>.csv``."""
    table_name: str | None = None
    gathers: bool = False
    """Reads the ``after`` artifact of every sample (``merge``): ``func(adatas, params)``."""
    returns_table: bool = False
    """The function returns a table, written as the stage's output CSV (no artifact)."""


_REGISTRY = (
    Stage("load", LoadParams, load),
    Stage("qc", QcParams, qc, after=("load",), seeded=True, table=qc_cells_table, table_name="qc_cells"),
    Stage("merge", MergeParams, merge, after=("qc",), gathers=True),
    Stage("normalize", NormalizeParams, normalize, after=("qc",)),
    Stage("hvg", HvgParams, hvg, after=("normalize",)),
    Stage("pca", PcaStageParams, pca, after=("hvg",), seeded=True),
    Stage("integration", IntegrationParams, integration, after=("pca",), needs=("obsm/X_pca",), seeded=True),
    Stage(
        "integration_metrics",
        IntegrationMetricsRun,
        integration_metrics,
        after=("pca",),
        seeded=True,
        artifact=False,
        returns_table=True,
    ),
    Stage("neighbors", NeighborsRunParams, neighbors, after=("pca",), needs=("obsm/X_pca",), seeded=True),
    Stage("umap", UmapStageParams, umap, after=("neighbors",), needs=("obsp/connectivities",), seeded=True),
    Stage(
        "leiden",
        LeidenStageParams,
        leiden,
        after=("neighbors",),
        needs=("obsp/connectivities",),
        seeded=True,
        table=clustering_table,
        table_name="clustering",
    ),
    Stage("markers", MarkersParams, markers, after=("leiden",), table=markers_table, table_name="markers"),
    Stage(
        "annotate",
        AnnotateParams,
        annotate,
        after=("markers",),
        optional=True,
        table=annotation_table,
        table_name="cell_types",
    ),
    Stage("tsne", TsneStageParams, tsne, after=("pca",), needs=("obsm/X_pca",), seeded=True, optional=True),
    Stage(
        "draw_graph",
        DrawGraphStageParams,
        draw_graph,
        after=("neighbors",),
        needs=("obsp/connectivities",),
        seeded=True,
        optional=True,
    ),
    Stage("paga", PagaStageParams, paga, after=("leiden",), needs=("obsp/connectivities",), optional=True),
    Stage(
        "dpt",
        DptStageParams,
        dpt,
        after=("leiden",),
        needs=("obsp/connectivities",),
        seeded=True,
        optional=True,
    ),
    Stage("final", FinalParams, final, after=("markers", "umap"), needs=("uns/rank_genes_groups",)),
    Stage(
        "plots",
        PlotsParams,
        plots,
        after=("final",),
        needs=("obsm/X_umap", "uns/rank_genes_groups"),
        artifact=False,
    ),
)

#: Stage name → :class:`Stage`, in workflow order.
STAGES: dict[str, Stage] = {s.name: s for s in _REGISTRY}


def enabled_side_stages(config: Any) -> list[str]:
    """Optional stages switched on in ``config`` (``paga`` also when UMAP starts from it)."""
    on = [s.name for s in _REGISTRY if s.optional and getattr(config, s.name).enabled]
    if config.umap.init_pos == "paga" and "paga" not in on:
        on.append("paga")
    return on


def upstream(config: Any, name: str) -> list[str]:
    """The stages whose artifacts ``name`` reads under ``config`` (the first is its main input)."""
    if name == "umap" and config.umap.init_pos == "paga":
        return ["paga"]
    if name == "normalize" and config.merge.enabled:
        return ["merge"]
    if name == "neighbors" and config.integration.method == "harmony":
        return ["integration"]
    if name == "final":
        return ["markers", "umap", *[s for s in enabled_side_stages(config) if s not in ("markers", "umap")]]
    return list(STAGES[name].after)


def stage(name: str) -> Stage:
    """The registered stage called ``name``."""
    from ..errors import ParamError

    if name not in STAGES:
        msg = f"unknown stage {name!r} (stages: {', '.join(STAGES)})"
        raise ParamError(msg)
    return STAGES[name]
