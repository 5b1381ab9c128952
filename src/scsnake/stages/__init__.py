"""The workflow's stages: each is one :class:`Stage` declaration in :data:`STAGES`.

Every stage reads the artifact(s) of its upstream stages (the first is its main input) and
writes its own artifact ``results/<sample>/<stage>.<h5ad|zarr>``. ``load`` reads the
sample's input instead; ``merge`` reads every sample's ``qc`` artifact and writes
``results/<merge.name>/merge.<format>``; ``plots`` and ``qc_plots`` write figures and
``integration_metrics`` a table instead of an artifact. Users add stages of their own
(:mod:`scsnake.stages._custom`): they join ``final``.
"""

from __future__ import annotations

from typing import Any

from ..neighbors._neighbors import NeighborsParams
from ..pp._highly_variable_genes import HighlyVariableGenesParams
from ..pp._pca import PcaParams
from ..pp._qc import CalculateQcMetricsParams
from ..tl._dpt import DptParams
from ..tl._draw_graph import DrawGraphParams
from ..tl._leiden import LeidenParams
from ..tl._paga import PagaParams
from ..tl._pseudobulk import PseudobulkParams
from ..tl._pseudobulk_de import PseudobulkDeParams
from ..tl._rank_genes_groups import RankGenesGroupsParams
from ..tl._tsne import TsneParams
from ..tl._umap import UmapParams
from . import _dataflow as flow
from ._annotate import AnnotateParams, annotate, annotation_table
from ._de import DeRun, de, de_plots, de_table, de_view
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
from ._load import LoadRun, SampleSpec, SyntheticSpec, load
from ._markers import MarkersParams, markers, markers_table
from ._merge import MergeParams, merge
from ._normalize import NormalizeParams, normalize
from ._pca import PcaRunParams, pca
from ._plots import FIGURES, PlotsParams, plots, qc_plots
from ._pseudobulk import PseudobulkRun, pseudobulk
from ._qc import QcParams, qc, qc_cells_table
from ._stage import Stage
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
    "batch_key",
    "counts_holder",
    "enabled_side_stages",
    "matrix_holder",
    "stage",
    "upstream",
]

batch_key = flow.batch_key
_GRAPH = ("obsp/connectivities",)
_PCA = ("obsm/X_pca",)

_REGISTRY = (
    Stage("load", LoadRun, load, kind="source", derive=flow.load_derive),
    Stage(
        "qc", QcParams, qc, after=("load",), seeded=True, writes=("uns/qc",), table=qc_cells_table,
        table_name="qc_cells", derive=flow.qc_derive, library=CalculateQcMetricsParams,
    ),
    Stage("merge", MergeParams, merge, after=("qc",), kind="gather"),
    Stage("normalize", NormalizeParams, normalize, route=flow.normalize_route, input_as_counts=True),
    Stage(
        "hvg", HvgParams, hvg, after=("normalize",), keeps_matrix=True, reads=flow.hvg_reads,
        reads_counts=True, derive=flow.hvg_derive, library=HighlyVariableGenesParams,
    ),
    Stage(
        "pca", PcaRunParams, pca, after=("hvg",), seeded=True, writes=_PCA, keeps_matrix=True,
        reads=flow.pca_reads, reads_counts=True, derive=flow.pca_derive, library=PcaParams,
    ),
    Stage(
        "integration", IntegrationParams, integration, after=("pca",), needs=_PCA, seeded=True,
        keeps_matrix=True, reads=None, derive=flow.integration_derive,
    ),
    Stage(
        "integration_metrics", IntegrationMetricsRun, integration_metrics, after=("pca",), kind="table",
        seeded=True, reads_counts=True, derive=flow.integration_metrics_derive,
    ),
    Stage(
        "neighbors", NeighborsRunParams, neighbors, route=flow.neighbors_route, needs=_PCA, seeded=True,
        writes=("obsp/connectivities", "obsp/distances"), keeps_matrix=True, reads=flow.embedding_reads,
        derive=flow.neighbors_derive, library=NeighborsParams,
    ),
    Stage(
        "umap", UmapStageParams, umap, route=flow.umap_route, needs=_GRAPH, seeded=True,
        writes=("obsm/X_umap",), keeps_matrix=True, reads=flow.umap_reads, library=UmapParams,
    ),
    Stage(
        "leiden", LeidenStageParams, leiden, after=("neighbors",), needs=_GRAPH, seeded=True,
        table=clustering_table, table_name="clustering", keeps_matrix=True, reads=None, library=LeidenParams,
    ),
    Stage(
        "markers", MarkersParams, markers, after=("leiden",), writes=("uns/rank_genes_groups",),
        table=markers_table, table_name="markers", keeps_matrix=True, reads="X", library=RankGenesGroupsParams,
    ),
    Stage(
        "annotate", AnnotateParams, annotate, after=("markers",), optional=True, table=annotation_table,
        table_name="cell_types", keeps_matrix=True, reads="X",
    ),
    Stage(
        "tsne", TsneStageParams, tsne, after=("pca",), needs=_PCA, seeded=True, optional=True,
        keeps_matrix=True, reads=flow.embedding_reads, library=TsneParams,
    ),
    Stage(
        "draw_graph", DrawGraphStageParams, draw_graph, after=("neighbors",), needs=_GRAPH, seeded=True,
        optional=True, keeps_matrix=True, reads=None, library=DrawGraphParams,
    ),
    Stage(
        "paga", PagaStageParams, paga, after=("leiden",), needs=_GRAPH, optional=True, keeps_matrix=True,
        reads=None, library=PagaParams,
    ),
    Stage(
        "dpt", DptStageParams, dpt, after=("leiden",), needs=_GRAPH, seeded=True, optional=True,
        keeps_matrix=True, reads=None, library=DptParams,
    ),
    Stage(
        "final", FinalParams, final, after=("markers", "umap"), route=lambda config: final_route(config),
        needs=("uns/rank_genes_groups",), reads_counts=True, copies_matrix=True,
    ),
    Stage(
        "plots", PlotsParams, plots, after=("final",), kind="figures", needs=("obsm/X_umap", "uns/rank_genes_groups"),
    ),
    Stage("qc_plots", PlotsParams, qc_plots, after=("qc",), kind="figures", needs=("uns/qc",), section="plots"),
    # comparing conditions (merged samples; switched on by their sections' `enabled`)
    Stage(
        "pseudobulk", PseudobulkRun, pseudobulk, after=("final",), aggregates=True, derive=flow.pseudobulk_derive,
        library=PseudobulkParams,
    ),
    Stage(
        "de", DeRun, de, after=("pseudobulk",), seeded=True, writes=("uns/de",), table=de_table, table_name="de",
        view=de_view, reads="X", derive=flow.de_derive, library=PseudobulkDeParams,
    ),
    Stage("de_plots", PlotsParams, de_plots, after=("de",), kind="figures", needs=("uns/de",), section="plots"),
)  # fmt: skip

#: Stage name → :class:`Stage`, in workflow order.
STAGES: dict[str, Stage] = {s.name: s for s in _REGISTRY}


def enabled_side_stages(config: Any) -> list[str]:
    """Optional stages switched on in ``config`` (``paga`` also when UMAP starts from it),
    then the config's own stages (``custom_stages``)."""
    on = [s.name for s in _REGISTRY if s.optional and getattr(config, s.name).enabled]
    if config.umap.init_pos == "paga" and "paga" not in on:
        on.append("paga")
    return [*on, *getattr(config, "custom_stages", {})]


def final_route(config: Any) -> list[str]:
    """``final`` gathers ``markers`` (its main input), ``umap`` and every enabled side stage."""
    return ["markers", "umap", *[s for s in enabled_side_stages(config) if s not in ("markers", "umap")]]


def stage(name: str, config: Any = None) -> Stage:
    """The stage called ``name``: a built-in one, or one of ``config``'s own stages."""
    from ..errors import ParamError

    if name in STAGES:
        return STAGES[name]
    custom = getattr(config, "custom_stages", {}) if config is not None else {}
    if name in custom:
        return custom[name].stage(name)
    msg = f"unknown stage {name!r} (stages: {', '.join([*STAGES, *custom])})"
    raise ParamError(msg)


def upstream(config: Any, name: str) -> list[str]:
    """The stages whose artifacts ``name`` reads under ``config`` (the first is its main input)."""
    return stage(name, config).upstream(config)


def matrix_holder(config: Any, name: str) -> str:
    """The stage whose artifact holds the matrix that ``name``'s main input (maybe lean) has:
    the nearest upstream stage that writes it in full."""
    holder = upstream(config, name)[0]
    while stage(holder, config).keeps_matrix:
        holder = upstream(config, holder)[0]
    return holder


def counts_holder(config: Any, name: str) -> str:
    """The stage whose artifact holds the raw counts that ``name`` may read (as ``X``)."""
    holder = matrix_holder(config, name)
    return upstream(config, holder)[0] if stage(holder, config).input_as_counts else holder
