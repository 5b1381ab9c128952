"""A sample's report files: figures, the validated config and the package versions.

Two figure rules share the ``plots`` section: ``qc_plots`` draws the QC figures from the
``qc`` artifact (so each sample gets them even where samples are merged after QC), and
``plots`` draws the rest from ``final``. ``run_info`` writes ``config.yaml`` and
``versions.csv``; :func:`caption_values` gives the report captions the parameter values.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, PositiveInt

from .._params import StageParams

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = [
    "FIGURES",
    "QC_FIGURES",
    "PlotsParams",
    "caption_values",
    "figure_names",
    "plots",
    "qc_figure_names",
    "qc_plots",
    "sample_config_json",
    "write_run_info",
]

#: Figures drawn from ``final`` in every run (files ``<name>.<format>`` in the figures directory).
FIGURES = (
    "hvg", "pca_variance_ratio", "umap_clusters", "umap_qc", "cluster_sizes",
    "markers_dotplot", "markers_heatmap",
)  # fmt: skip
#: Figures drawn from the ``qc`` artifact.
QC_FIGURES = ("qc_violin", "qc_overview")
#: Figures of optional stages: figure name → the stage that enables it.
OPTIONAL_FIGURES = {"tsne": "tsne", "draw_graph": "draw_graph", "paga": "paga", "dpt": "dpt"}
#: Config sections whose values the captions of each figure rule quote.
CAPTION_SECTIONS = {
    "plots": ("hvg", "pca", "neighbors", "umap", "leiden", "markers", "plots"),
    "qc_plots": ("qc", "plots"),
    "de_plots": ("pseudobulk", "de", "plots"),
}
_QC_KEYS = ("n_genes_by_counts", "total_counts", "pct_counts_mt")


def figure_names(config: Any) -> list[str]:
    """Every figure the ``plots`` rule draws from ``final`` under ``config`` (the rule declares them)."""
    from . import enabled_side_stages

    names = list(FIGURES)
    if config.leiden.sweep:
        names.append("umap_sweep")
    on = enabled_side_stages(config)
    names += [figure for figure, stage in OPTIONAL_FIGURES.items() if stage in on]
    return names


def qc_figure_names(config: Any) -> list[str]:
    """The figures the ``qc_plots`` rule draws from each sample's ``qc`` artifact."""
    return list(QC_FIGURES)


class PlotsParams(StageParams):
    """The ``plots`` section."""

    format: Literal["png", "pdf", "svg"] = "png"
    """File format of the figures."""
    dpi: Annotated[int, Field(ge=50, le=600)] = 150
    """Resolution of raster figures."""
    n_marker_genes: PositiveInt = 3
    """Top marker genes per cluster shown in the dot plot."""
    color: list[str] = ["leiden"]
    """``obs`` columns or genes shown on the cluster UMAP (``truth`` and ``sample`` are added when present)."""


def plots(adata: AnnData, params: PlotsParams, *, outdir: Path) -> dict[str, Path]:
    """Draw the figures of ``final`` into ``outdir``; returns ``{figure name: path}``."""
    import matplotlib

    matplotlib.use("Agg")
    from .. import pl

    outdir.mkdir(parents=True, exist_ok=True)
    paths = {name: outdir / f"{name}.{params.format}" for name in FIGURES}
    qc_keys = _qc_keys(adata)
    colors = list(dict.fromkeys([*params.color, *[k for k in ("truth", "sample") if k in adata.obs]]))
    if "sample" in colors and adata.obs["sample"].nunique() < 2:
        colors.remove("sample")
    _write(pl.umap(adata, color=colors, return_fig=True), paths["umap_clusters"], params.dpi)
    _write(pl.umap(adata, color=qc_keys, return_fig=True), paths["umap_qc"], params.dpi)
    result = adata.uns["rank_genes_groups"]
    groupby_markers = result["params"]["groupby"]
    _write(pl.cluster_sizes(adata, groupby_markers, return_fig=True), paths["cluster_sizes"], params.dpi)
    genes = {
        group: [str(g) for g in result["names"][group][: params.n_marker_genes]]
        for group in result["names"].dtype.names
    }
    _write(pl.dotplot(adata, genes, groupby_markers, return_fig=True), paths["markers_dotplot"], params.dpi)
    heatmap = pl.rank_genes_groups_heatmap(
        adata,
        n_genes=params.n_marker_genes,
        dendrogram=f"dendrogram_{groupby_markers}" in adata.uns,
        return_fig=True,
    )
    _write(heatmap, paths["markers_heatmap"], params.dpi)
    _write(pl.highly_variable_genes(adata, return_fig=True), paths["hvg"], params.dpi)
    n_pcs = min(30, adata.obsm["X_pca"].shape[1]) if "X_pca" in adata.obsm else 30
    variance = pl.pca_variance_ratio(adata, n_pcs=n_pcs, log=True, return_fig=True)
    _write(variance, paths["pca_variance_ratio"], params.dpi)
    paths.update(_optional_figures(adata, params, outdir, colors))
    return paths


def qc_plots(adata: AnnData, params: PlotsParams, *, outdir: Path) -> dict[str, Path]:
    """Draw the QC figures of a ``qc`` artifact into ``outdir``; returns ``{figure name: path}``.

    ``qc_overview`` shows every input cell (``uns['qc']['before']``) behind the kept ones,
    with the ``qc`` thresholds drawn; ``qc_violin`` the kept cells' metrics.
    """
    import matplotlib
    import pandas as pd

    matplotlib.use("Agg")
    from .. import pl

    outdir.mkdir(parents=True, exist_ok=True)
    paths = {name: outdir / f"{name}.{params.format}" for name in QC_FIGURES}
    qc_keys = _qc_keys(adata)
    groupby = "sample" if "sample" in adata.obs and adata.obs["sample"].nunique() > 1 else None
    _write(pl.violin(adata, qc_keys, groupby=groupby, return_fig=True), paths["qc_violin"], params.dpi)
    before = adata.uns.get("qc", {}).get("before")
    before = pd.DataFrame({k: before[k] for k in qc_keys}) if before is not None else None
    overview = pl.qc_overview(
        adata, keys=qc_keys, thresholds=_qc_thresholds(adata), before=before, return_fig=True
    )
    _write(overview, paths["qc_overview"], params.dpi)
    return paths


def _write(figure: Any, path: Path, dpi: int) -> None:
    """Write a plot's Figure (or DotPlot & co., which draw it) to ``path``, then close it."""
    from matplotlib import pyplot as plt

    figure.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(getattr(figure, "fig", figure))


def _qc_keys(adata: AnnData) -> list[str]:
    return [k for k in _QC_KEYS if k in adata.obs]


def _qc_thresholds(adata: AnnData) -> dict[str, tuple[float | None, float | None]]:
    """The qc stage's cell thresholds as ``metric → (min, max)`` for drawing."""
    raw = adata.uns.get("qc", {}).get("params")
    if not raw:
        return {}
    qc = json.loads(raw)
    thresholds = {
        "n_genes_by_counts": (qc.get("min_genes"), qc.get("max_genes")),
        "total_counts": (qc.get("min_counts"), qc.get("max_counts")),
        "pct_counts_mt": (None, qc.get("max_pct_mt")),
    }
    return {k: v for k, v in thresholds.items() if k in adata.obs and any(x is not None for x in v)}


def _optional_figures(
    adata: AnnData, params: PlotsParams, outdir: Path, colors: list[str]
) -> dict[str, Path]:
    """Figures of what the optional stages and the clustering sweep added (drawn when present)."""
    from .. import pl

    drawn: dict[str, Path] = {}

    def path(name: str) -> Path:
        drawn[name] = outdir / f"{name}.{params.format}"
        return drawn[name]

    sweep = [c for c in adata.obs.columns if c.startswith(f"{colors[0]}_res")]
    if sweep:
        _write(pl.umap(adata, color=[colors[0], *sweep], return_fig=True), path("umap_sweep"), params.dpi)
    if "X_tsne" in adata.obsm:
        _write(pl.tsne(adata, color=colors, return_fig=True), path("tsne"), params.dpi)
    layouts = [k.removeprefix("X_draw_graph_") for k in adata.obsm if k.startswith("X_draw_graph_")]
    if layouts:
        graph = pl.draw_graph(adata, color=colors, layout=layouts[0], return_fig=True)
        _write(graph, path("draw_graph"), params.dpi)
    if "paga" in adata.uns:
        threshold = float(adata.uns["paga"].get("threshold", 0.03))
        _write(pl.paga(adata, threshold=threshold, return_fig=True), path("paga"), params.dpi)
    if "dpt_pseudotime" in adata.obs:
        dpt = pl.diffmap(adata, color=["dpt_pseudotime", colors[0]], return_fig=True)
        _write(dpt, path("dpt"), params.dpi)
    return drawn


# ----------------------------------------------------------------------------- report text


def caption_values(config: Any, rule: str) -> dict[str, dict[str, Any]]:
    """The config sections a figure rule's captions quote, as plain values (defaults filled in).

    The rules pass this as ``params.caption``, so a caption says
    ``{{ snakemake.params.caption["leiden"]["resolution"] }}``; seeded sections carry the
    ``random_state`` they ran with. Optional stages are included when enabled.
    """
    from ..config import stage_params_json
    from . import enabled_side_stages

    sections = list(CAPTION_SECTIONS[rule])
    if rule == "plots":
        sections += enabled_side_stages(config)
    return {name: json.loads(stage_params_json(config, name)) for name in sections}


def sample_config_json(config: Any, sample: str) -> str:
    """The validated config of one sample as JSON: every key, defaults filled in, in model order.

    The sample sheet keeps only ``sample``; a name not in it (the merged samples' ``merge.name``)
    keeps every sample.
    """
    values = config.model_dump(mode="json")
    if sample in values["samples"]:
        values["samples"] = {sample: values["samples"][sample]}
    return json.dumps(values, separators=(",", ":"))


def write_run_info(
    config_json: str, *, config_path: Path, versions_path: Path, snakemake_version: str | None = None
) -> None:
    """Write the validated config (YAML) and the package versions (CSV) of a run, atomically.

    Parameters
    ----------
    config_json
        A sample's config (:func:`sample_config_json`); validated again here.
    config_path
        ``config.yaml`` to write: every key in the order of ``config/config.yaml``, reusable
        as ``--configfile``.
    versions_path
        ``versions.csv`` to write: columns ``package``, ``version`` (``python`` first; a
        package not installed in the job's environment says ``not installed``).
    snakemake_version
        Version of the Snakemake running the workflow (it may live outside the job's environment).
    """
    import pandas as pd
    import yaml
    from pydantic import ValidationError

    from .._params import format_validation_error
    from ..config import WorkflowConfig
    from ..errors import ParamError
    from ..runner import PROVENANCE_PACKAGES, package_versions, write_atomic

    try:
        config = WorkflowConfig.model_validate(json.loads(config_json))
    except (json.JSONDecodeError, ValidationError) as err:
        lines = (
            format_validation_error(err, model=WorkflowConfig)
            if isinstance(err, ValidationError)
            else [str(err)]
        )
        msg = "run-info: invalid config:\n" + "\n".join(f"  - {line}" for line in lines)
        raise ParamError(msg) from None
    header = (
        f"# The validated scsnake config of sample {', '.join(config.samples)}: every key, defaults filled in.\n"
        f"# Re-run it with `snakemake --configfile {config_path}`.\n"
    )
    text = header + yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
    versions = package_versions(PROVENANCE_PACKAGES)
    if snakemake_version:
        versions["snakemake"] = snakemake_version
    rows = [(name, versions.get(name, "not installed")) for name in ("python", *PROVENANCE_PACKAGES)]
    write_atomic(config_path, lambda tmp: tmp.write_text(text))
    write_atomic(
        versions_path, lambda tmp: pd.DataFrame(rows, columns=["package", "version"]).to_csv(tmp, index=False)
    )
