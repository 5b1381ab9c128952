"""Plots of preprocessing results: variable genes, PCA variance and loadings, and a QC overview."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib import pyplot as plt
from pydantic import PositiveInt
from pydantic.json_schema import SkipJsonSchema

from scsnake._matrix import close_matches
from scsnake.errors import InputDataError, MissingKeyError, ParamError

from ._decorations import draw_ranking, ranking_grid
from ._show_save import OutputParams, plot_function, show_or_save
from ._style import stored_colors
from ._violin import draw_violins

if TYPE_CHECKING:
    from anndata import AnnData
    from matplotlib.axes import Axes

__all__ = [
    "HighlyVariableGenesParams",
    "PcaLoadingsParams",
    "PcaVarianceRatioParams",
    "QcOverviewParams",
    "highly_variable_genes",
    "pca_loadings",
    "pca_variance_ratio",
    "qc_overview",
]


class HighlyVariableGenesParams(OutputParams):
    """Parameters of :func:`highly_variable_genes`."""

    log: bool = False
    """Logarithmic axes."""
    highly_variable_genes: bool = True
    """Mark ``var["highly_variable"]`` (False: the older ``gene_subset`` column)."""


@plot_function(HighlyVariableGenesParams)
def highly_variable_genes(
    adata: AnnData | pd.DataFrame,
    *,
    log: bool = False,
    show: bool | None = None,
    save: bool | str | None = None,
    return_fig: bool | None = False,
    dpi: int | None = None,
    highly_variable_genes: bool = True,
) -> Any:
    """Normalised and raw dispersions (or variances, for seurat_v3) against mean expression.

    Parameters
    ----------
    adata
        Annotated data matrix after ``pp.highly_variable_genes``, or its ``var`` DataFrame
        (scanpy names this ``adata_or_result``).
    log, highly_variable_genes
        See :class:`HighlyVariableGenesParams`.
    show, save, return_fig, dpi
        scanpy's output keywords (:mod:`scsnake.pl._show_save`); ``save`` writes ``{figdir}/filter_genes_dispersion{save}``.

    Returns
    -------
    With ``show=False`` the two Axes, with ``return_fig=True`` the Figure, else None; nothing in
    ``adata`` is changed.
    """
    if isinstance(adata, pd.DataFrame):
        result, flavor = adata, None
    else:
        result, flavor = adata.var, adata.uns.get("hvg", {}).get("flavor")
    v3 = flavor in ("seurat_v3", "seurat_v3_paper") or (flavor is None and "variances_norm" in result.columns)
    kind = "variances" if v3 else "dispersions"
    flag = "highly_variable" if highly_variable_genes else "gene_subset"
    for column in (flag, "means", kind, f"{kind}_norm"):
        if column not in result.columns:
            msg = f"var[{column!r}] not found{close_matches(column, result.columns)}; run pp.highly_variable_genes first"
            raise MissingKeyError(msg)
    chosen = result[flag].to_numpy(dtype=bool)
    means = result["means"].to_numpy(dtype=float)
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.6), layout="constrained")
    for ax, column, normalized in zip(axes, (f"{kind}_norm", kind), (True, False), strict=True):
        values = result[column].to_numpy(dtype=float)
        for label, color, mask in (
            ("highly variable genes", "black", chosen),
            ("other genes", "grey", ~chosen),
        ):
            ax.scatter(means[mask], values[mask], s=1, c=color, label=label, rasterized=True)
        if log:
            ax.set_xscale("log")
            ax.set_yscale("log")
            low = np.nanmin(values[values > 0]) if (values > 0).any() else 0.1
            ax.set_xlim(0.95 * np.nanmin(means[means > 0], initial=1e-3), 1.05 * np.nanmax(means))
            ax.set_ylim(0.95 * low, 1.05 * np.nanmax(values))
        ax.set_xlabel("mean expressions of genes")
        ax.set_ylabel(f"{kind} of genes ({'' if normalized else 'not '}normalized)")
    axes[0].legend(fontsize="small", markerscale=4)
    return show_or_save(
        fig,
        list(axes),
        writekey="filter_genes_dispersion",
        show=show,
        save=save,
        return_fig=return_fig,
        dpi=dpi,
    )


class PcaVarianceRatioParams(OutputParams):
    """Parameters of :func:`pca_variance_ratio`."""

    n_pcs: PositiveInt = 30
    """Number of PCs shown."""
    log: bool = False
    """Show the natural log of the ratios (as scanpy)."""


@plot_function(PcaVarianceRatioParams)
def pca_variance_ratio(
    adata: AnnData,
    n_pcs: int = 30,
    *,
    log: bool = False,
    show: bool | None = None,
    save: bool | str | None = None,
    return_fig: bool | None = False,
    dpi: int | None = None,
) -> Any:
    """Explained variance ratio of each PC (``uns["pca"]["variance_ratio"]``), labelled ``PC1`` … .

    Parameters
    ----------
    adata
        Annotated data matrix after ``pp.pca``.
    n_pcs, log
        See :class:`PcaVarianceRatioParams`.
    show, save, return_fig, dpi
        scanpy's output keywords (:mod:`scsnake.pl._show_save`); ``save`` writes ``{figdir}/pca_variance_ratio{save}``.

    Returns
    -------
    With ``show=False`` the Axes, with ``return_fig=True`` the Figure, else None; nothing in
    ``adata`` is changed.
    """
    if "variance_ratio" not in adata.uns.get("pca", {}):
        msg = "uns['pca']['variance_ratio'] not found; run pp.pca first"
        raise MissingKeyError(msg)
    ratio = np.asarray(adata.uns["pca"]["variance_ratio"])[:n_pcs]
    scores = np.log(ratio) if log else ratio
    fig, ax = plt.subplots(figsize=(max(4.0, 0.16 * len(ratio) + 1.5), 3.6), layout="constrained")
    draw_ranking(
        [ax],
        scores[:, None],
        [f"PC{i + 1}" for i in range(len(ratio))],
        ["variance ratio"],
        n_points=len(ratio),
        include_lowest=False,
    )
    ax.set_ylabel("log variance ratio" if log else "variance ratio")
    ax.set_title("")
    return show_or_save(
        fig, ax, writekey="pca_variance_ratio", show=show, save=save, return_fig=return_fig, dpi=dpi
    )


class PcaLoadingsParams(OutputParams):
    """Parameters of :func:`pca_loadings`."""

    components: str | Sequence[int] | None = None
    """1-based PCs, e.g. ``"1,2,3"`` (default: the first three)."""
    include_lowest: bool = True
    """Show the genes with the lowest loadings too."""
    n_points: PositiveInt | None = None
    """Genes per PC (default: 30, at most all)."""


@plot_function(PcaLoadingsParams)
def pca_loadings(
    adata: AnnData,
    components: str | Sequence[int] | None = None,
    *,
    include_lowest: bool = True,
    n_points: int | None = None,
    show: bool | None = None,
    save: bool | str | None = None,
    return_fig: bool | None = False,
    dpi: int | None = None,
) -> Any:
    """Genes with the highest (and lowest) loadings of each PC (``varm["PCs"]``), one panel per PC.

    Parameters
    ----------
    adata
        Annotated data matrix after ``pp.pca``.
    components, include_lowest, n_points
        See :class:`PcaLoadingsParams`.
    show, save, return_fig, dpi
        scanpy's output keywords (:mod:`scsnake.pl._show_save`); ``save`` writes ``{figdir}/pca_loadings{save}``.

    Returns
    -------
    With ``show=False`` the Axes (a list), with ``return_fig=True`` the Figure, else None; nothing in
    ``adata`` is changed.
    """
    if "PCs" not in adata.varm:
        msg = "varm['PCs'] not found; run pp.pca first"
        raise MissingKeyError(msg)
    loadings = np.asarray(adata.varm["PCs"])  # its own dtype: label positions as scanpy's
    picked = [1, 2, 3] if components is None else components
    picked = [int(c) for c in picked.split(",")] if isinstance(picked, str) else [int(c) for c in picked]
    bad = [c for c in picked if not 1 <= c <= loadings.shape[1]]
    if bad:
        msg = f"components {bad} out of range: varm['PCs'] has PCs 1..{loadings.shape[1]}"
        raise ParamError(msg)
    if n_points is None:
        n_points = min(30, adata.n_vars)
    elif n_points > adata.n_vars:
        msg = f"n_points={n_points} but there are only {adata.n_vars} genes"
        raise ParamError(msg)
    n_rows, n_cols = (1, len(picked)) if len(picked) <= 5 else (2, (len(picked) + 1) // 2)
    fig, axes = ranking_grid(
        n_rows,
        n_cols,
        loadings[:, [c - 1 for c in picked]],
        list(adata.var_names.astype(str)),
        [f"PC{c}" for c in picked],
        n_points=n_points,
        include_lowest=include_lowest,
    )
    return show_or_save(
        fig,
        axes,
        writekey="pca_loadings",
        show=show,
        save=save,
        return_fig=return_fig,
        dpi=dpi,
    )


class QcOverviewParams(OutputParams):
    """Parameters of :func:`qc_overview`."""

    keys: str | Sequence[str] = ("n_genes_by_counts", "total_counts", "pct_counts_mt")
    """Numeric obs columns (QC metrics), one panel each."""
    groupby: str | None = None
    """Draw violins per category of this obs column instead of histograms."""
    thresholds: Mapping[str, tuple[float | None, float | None]] | None = None
    """Metric → (min, max) filter limits drawn as red lines (None: no limit on that side)."""
    before: SkipJsonSchema[Any] = None
    """The unfiltered AnnData (or its obs) to compare with ``adata``."""
    bins: PositiveInt = 50
    """Histogram bins."""
    log: bool = False
    """Logarithmic value axes."""


@plot_function(QcOverviewParams)
def qc_overview(
    adata: AnnData,
    *,
    keys: str | Sequence[str] = ("n_genes_by_counts", "total_counts", "pct_counts_mt"),
    groupby: str | None = None,
    thresholds: Mapping[str, tuple[float | None, float | None]] | None = None,
    before: AnnData | pd.DataFrame | None = None,
    bins: int = 50,
    log: bool = False,
    show: bool | None = None,
    save: bool | str | None = None,
    return_fig: bool | None = False,
    dpi: int | None = None,
) -> Any:
    """QC metrics at a glance: a histogram (or violins per group) per metric, filter limits marked.

    With ``before`` the unfiltered cells are shown too: as a grey histogram behind the kept
    cells, or as an extra row of violins; the title counts the cells kept.

    Parameters
    ----------
    adata
        Annotated data matrix with QC metrics in ``obs`` (``pp.calculate_qc_metrics``).
    keys, groupby, thresholds, before, bins, log
        See :class:`QcOverviewParams`.
    show, save, dpi
        Output: ``save`` writes ``.png``/``.pdf``/``.svg`` and closes the figure.

    Returns
    -------
    The :class:`~matplotlib.figure.Figure`. With ``groupby``, writes
    ``uns[f"{groupby}_colors"]`` when no valid colours are stored.
    """
    keys = [keys] if isinstance(keys, str) else list(keys)
    thresholds = dict(thresholds or {})
    unknown = [k for k in thresholds if k not in keys]
    if unknown:
        msg = f"thresholds has metrics not in keys: {', '.join(map(repr, unknown))} (keys: {', '.join(keys)})"
        raise ParamError(msg)
    tables = {"after": adata.obs}
    if before is not None:
        tables = {"before": before if isinstance(before, pd.DataFrame) else before.obs, **tables}
    for name, obs in tables.items():
        for key in [*keys, *([groupby] if groupby else [])]:
            if key not in obs.columns:
                where = "adata.obs" if name == "after" else "before"
                msg = f"qc_overview: {key!r} not found in {where}{close_matches(key, obs.columns)}; run pp.calculate_qc_metrics first"
                raise MissingKeyError(msg)
        for key in keys:
            if not pd.api.types.is_numeric_dtype(obs[key].dtype) or pd.api.types.is_bool_dtype(
                obs[key].dtype
            ):
                msg = f"qc_overview: obs[{key!r}] has dtype {obs[key].dtype}; QC metrics must be numbers"
                raise InputDataError(msg)
    rows = list(tables) if groupby else ["after"]
    fig, axes = plt.subplots(
        len(rows), len(keys), figsize=(3.4 * len(keys), 3.0 * len(rows)), layout="constrained", squeeze=False
    )
    for j, key in enumerate(keys):
        low, high = thresholds.get(key, (None, None))
        for i, row in enumerate(rows):
            ax = axes[i, j]
            if groupby:
                _violins(ax, adata, tables[row], key, groupby, log)
                ax.set_title(f"{key} ({row})" if before is not None else key, fontsize="medium")
                lines, span = ax.axhline, ax.axhspan
            else:
                _histograms(ax, tables, key, bins, log)
                ax.set_title(key, fontsize="medium")
                lines, span = ax.axvline, ax.axvspan
            lo_view, hi_view = _view_with(ax.get_ylim() if groupby else ax.get_xlim(), (low, high), log=log)
            for limit, (a, b) in ((low, (lo_view, low)), (high, (high, hi_view))):
                if limit is not None:
                    lines(limit, color="tab:red", ls="--", lw=1)
                    span(a, b, color="tab:red", alpha=0.07, lw=0)
            (ax.set_ylim if groupby else ax.set_xlim)(lo_view, hi_view)
    if before is not None:
        n_before = len(tables["before"])
        fig.suptitle(
            f"{adata.n_obs} of {n_before} cells kept ({adata.n_obs / max(n_before, 1):.0%})",
            fontsize="medium",
        )
    return show_or_save(
        fig, axes, writekey="qc_overview", show=show, save=save, return_fig=return_fig, dpi=dpi
    )


def _view_with(
    view: tuple[float, float], limits: tuple[float | None, float | None], *, log: bool
) -> tuple[float, float]:
    """The axis range ``view`` widened so that every threshold in ``limits`` is inside it."""
    lo, hi = view
    shown = [x for x in limits if x is not None and (x > 0 or not log)]
    if not shown:
        return lo, hi
    if log:
        pad = (np.log10(hi) - np.log10(lo)) * 0.03
        return min(lo, 10 ** (np.log10(min(shown)) - pad)), max(hi, 10 ** (np.log10(max(shown)) + pad))
    pad = (hi - lo) * 0.03
    return min(lo, min(shown) - pad), max(hi, max(shown) + pad)


def _histograms(ax: Axes, tables: dict[str, pd.DataFrame], key: str, bins: int, log: bool) -> None:
    values = {name: obs[key].to_numpy(dtype=float) for name, obs in tables.items()}
    every = np.concatenate([v[np.isfinite(v)] for v in values.values()])
    if log:
        positive = every[every > 0]
        edges = np.geomspace(positive.min(), positive.max(), bins + 1) if positive.size else bins
        ax.set_xscale("log")
    elif every.size and np.array_equal(every, np.round(every)):  # counts: whole-number bins, no gaps
        step = max(1, int(np.ceil((every.max() - every.min() + 1) / bins)))
        edges = np.arange(every.min() - 0.5, every.max() + step + 0.5, step)
    else:
        edges = np.histogram_bin_edges(every, bins=bins) if every.size else bins
    colors = {"before": "lightgray", "after": mpl.rcParams["axes.prop_cycle"].by_key()["color"][0]}
    for name, v in values.items():
        ax.hist(
            v[np.isfinite(v)],
            bins=edges,
            color=colors[name],
            label=f"{name} (n={v.size})" if len(values) > 1 else None,
        )
    ax.set_ylabel("cells")
    if len(values) > 1:
        ax.legend(fontsize="x-small", frameon=False)


def _violins(ax: Axes, adata: AnnData, obs: pd.DataFrame, key: str, groupby: str, log: bool) -> None:
    column = adata.obs[groupby].astype("category")
    cats = [str(c) for c in column.cat.categories]
    colors = stored_colors(adata, groupby, cats)
    labels = obs[groupby].astype(str).to_numpy()
    values = obs[key].to_numpy(dtype=float)
    draw_violins(
        ax, [values[labels == c] for c in cats], cats, colors, density_norm="width", strip=True,
        jitter=0.2, size=0.5, rng=np.random.default_rng(0),
    )  # fmt: skip
    ax.set_xticklabels(cats, rotation=90 if max(map(len, cats)) > 3 else 0, fontsize="small")
    ax.set_xlabel(groupby)
    if log:
        ax.set_yscale("log")
