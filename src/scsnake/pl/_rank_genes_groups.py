"""Plots of ``uns["rank_genes_groups"]``: score rankings and marker genes in the grouped plots."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from matplotlib import pyplot as plt
from pydantic import PositiveInt
from pydantic.json_schema import SkipJsonSchema

from scsnake._params import validated
from scsnake.errors import MissingKeyError, ParamError

from ._dotplot import dotplot
from ._heatmap import heatmap, tracksplot
from ._markers import gene_labels, marker_genes, result, result_groups, result_table, values_table
from ._matrix_plots import matrixplot, stacked_violin
from ._show_save import OutputParams, plot_function, show_or_save

if TYPE_CHECKING:
    from anndata import AnnData
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "rank_genes_groups",
    "rank_genes_groups_dotplot",
    "rank_genes_groups_heatmap",
    "rank_genes_groups_matrixplot",
    "rank_genes_groups_stacked_violin",
    "rank_genes_groups_tracksplot",
]

ValuesToPlot = Literal["scores", "logfoldchanges", "pvals", "pvals_adj", "log10_pvals", "log10_pvals_adj"]


class RankGenesGroupsParams(OutputParams):
    """Parameters of :func:`rank_genes_groups`."""

    groups: str | Sequence[str] | None = None
    """Groups to show (default: every group in the result)."""
    n_genes: PositiveInt = 20
    """Genes per group."""
    gene_symbols: str | None = None
    """var column with the names to show."""
    key: str | None = "rank_genes_groups"
    """uns key of the result."""
    fontsize: PositiveInt = 8
    """Font size of the gene names."""
    ncols: PositiveInt = 4
    """Panels per row."""
    sharey: bool = True
    """One y range for all panels."""
    ax: SkipJsonSchema[Any] = None
    """Draw the panels into the area of this Axes."""


@plot_function(RankGenesGroupsParams)
def rank_genes_groups(
    adata: AnnData,
    groups: str | Sequence[str] | None = None,
    *,
    n_genes: int = 20,
    gene_symbols: str | None = None,
    key: str | None = "rank_genes_groups",
    fontsize: int = 8,
    ncols: int = 4,
    sharey: bool = True,
    show: bool | None = None,
    save: bool | str | None = None,
    return_fig: bool | None = False,
    dpi: int | None = None,
    ax: Axes | None = None,
    **kwds: Any,
) -> list[Axes] | Figure | None:
    """The top genes of each group, written at their score against their rank (scanpy's layout).

    Parameters
    ----------
    adata
        Annotated data matrix with ``uns[key]`` from ``tl.rank_genes_groups``.
    groups, n_genes, gene_symbols, key, fontsize, ncols, sharey
        What is shown; see :class:`RankGenesGroupsParams`.
    show, save, return_fig, dpi, ax
        scanpy's output keywords (:mod:`scsnake.pl._show_save`); ``save`` writes
        ``{figdir}/rank_genes_groups_<groupby>{save}``.
    **kwds
        ``n_panels_per_row`` (scanpy's older name of ``ncols``); the rest go to
        :meth:`matplotlib.axes.Axes.text` (the gene names).

    Returns
    -------
    With ``show=False`` the Axes (a list), with ``return_fig=True`` the Figure, else None;
    nothing in ``adata`` is changed.
    """
    ncols = kwds.pop("n_panels_per_row", ncols)
    key, entry = result(adata, key)
    names, scores = result_table(entry, "names", key), result_table(entry, "scores", key)
    chosen = result_groups(names, groups, key)
    reference = str(entry.get("params", {}).get("reference", "rest"))
    n_cols = min(ncols, len(chosen))
    n_rows = math.ceil(len(chosen) / n_cols)
    if ax is None:
        fig = plt.figure(figsize=(n_cols * 3.6, n_rows * 3.6), layout="constrained")
        grid = fig.add_gridspec(n_rows, n_cols)
    else:
        fig, spec = ax.figure, ax.get_subplotspec()
        ax.remove()
        grid = spec.subgridspec(n_rows, n_cols)
    axes: list[Axes] = []
    for i, group in enumerate(chosen):
        panel = fig.add_subplot(grid[i], sharey=axes[0] if axes and sharey else None)
        axes.append(panel)
        values = scores[group].to_numpy(dtype=float)[:n_genes]
        labels = gene_labels(adata, entry, names[group].to_numpy()[:n_genes], gene_symbols)
        for rank, (label, value) in enumerate(zip(labels, values, strict=True)):
            panel.text(
                rank,
                value,
                label,
                **{"rotation": "vertical", "va": "bottom", "ha": "center", "fontsize": fontsize, **kwds},
            )
        panel.set_xlim(-0.9, n_genes - 0.1)
        panel.set_title(f"{group} vs. {reference}")
        if i >= n_cols * (n_rows - 1):
            panel.set_xlabel("ranking")
        if i % n_cols == 0:
            panel.set_ylabel("score")
        if not sharey:
            low, high = np.nanmin(values), np.nanmax(values)
            panel.set_ylim(low, high + 0.3 * (high - low) + 1e-9)
    if sharey:
        shown = np.concatenate([scores[g].to_numpy(dtype=float)[:n_genes] for g in chosen])
        low, high = np.nanmin(shown), np.nanmax(shown)
        axes[0].set_ylim(low, high + 0.3 * (high - low) + 1e-9)
    groupby = entry.get("params", {}).get("groupby")
    return show_or_save(
        fig,
        axes,
        writekey=f"rank_genes_groups_{groupby}",
        show=show,
        save=save,
        return_fig=return_fig,
        dpi=dpi,
    )


class RankGenesGroupsGroupedParams(OutputParams):
    """Parameters of the ``rank_genes_groups_*`` grouped plots (other keywords go to the plot)."""

    groups: str | Sequence[str] | None = None
    """Groups whose marker genes are shown (default: all in the result)."""
    n_genes: int | None = None
    """Genes per group (default 10; negative: the lowest-ranked ones)."""
    groupby: str | None = None
    """obs column the cells are grouped by (default: the one ranked)."""
    var_names: Sequence[str] | Mapping[str, Sequence[str]] | None = None
    """Genes to show instead of the top-ranked ones."""
    gene_symbols: str | None = None
    """var column with the names to show."""
    min_logfoldchange: float | None = None
    """Only genes with a larger log fold change."""
    key: str | None = None
    """uns key of the result (default ``"rank_genes_groups"``)."""


class RankGenesGroupsValuesParams(RankGenesGroupsGroupedParams):
    """Parameters of :func:`rank_genes_groups_dotplot` and :func:`rank_genes_groups_matrixplot`."""

    values_to_plot: ValuesToPlot | None = None
    """Colour by this result field (needs every gene ranked) instead of the mean expression."""


def _grouped_plot(
    plot: Any, adata: AnnData, groups: Any, *, n_genes: int | None, groupby: str | None, var_names: Any,
    gene_symbols: str | None, min_logfoldchange: float | None, key: str | None, values_to_plot: str | None = None,
    kwds: dict[str, Any],
) -> Any:  # fmt: skip
    key, entry = result(adata, key)
    names = result_table(entry, "names", key)
    chosen = result_groups(names, groups, key)
    groupby = str(entry.get("params", {}).get("groupby")) if groupby is None else groupby
    if var_names is not None and n_genes is not None:
        msg = "n_genes and var_names are mutually exclusive; pass one of them"
        raise ParamError(msg)
    if var_names is None:
        var_names = marker_genes(
            adata, entry, key, names, chosen, n_genes=10 if n_genes is None else n_genes, gene_symbols=gene_symbols,
            min_logfoldchange=min_logfoldchange,
        )  # fmt: skip
    kwds.setdefault("dendrogram", True)  # computed when missing, as scanpy does
    if values_to_plot is not None:
        genes = (
            [g for block in var_names.values() for g in block]
            if isinstance(var_names, Mapping)
            else list(var_names)
        )
        table = values_table(adata, entry, key, values_to_plot, chosen, gene_symbols)
        missing = [g for g in genes if g not in table.index]
        if missing:
            msg = f"gene {missing[0]!r} has no {values_to_plot} in uns[{key!r}]"
            raise MissingKeyError(msg)
        kwds["dot_color_df" if plot is dotplot else "values_df"] = table.loc[genes].T
        title = (
            "log fold change"
            if values_to_plot == "logfoldchanges"
            else values_to_plot.replace("_", " ").replace("pvals", "p-value")
        )
        kwds.setdefault("colorbar_title", title)
    return plot(adata, var_names, groupby, gene_symbols=gene_symbols, **kwds)


_SEE = """
    The top ``n_genes`` (default 10) genes of each group of ``uns[key]`` (``tl.rank_genes_groups``)
    form labelled blocks; other keywords go to the plot. ``dendrogram`` defaults to True when
    ``uns["dendrogram_<groupby>"]`` exists (scanpy would compute one: run ``tl.dendrogram``).

    Returns
    -------
    The :class:`~matplotlib.figure.Figure`; nothing in ``adata`` is changed (but see the plot's
    own Returns for colours it stores).
"""


def _public(
    func: Callable[..., Figure], plot: Callable[..., Figure], model: type, doc: str
) -> Callable[..., Figure]:
    """``func`` as ``rank_genes_groups_<plot>``, documented and validated by ``model``."""
    func.__name__ = func.__qualname__ = f"rank_genes_groups_{plot.__name__}"
    func.__doc__ = doc + "\n" + _SEE
    return validated(model)(func)


def _markers_in(plot: Callable[..., Figure], doc: str) -> Callable[..., Figure]:
    """The marker genes in ``plot`` (heatmap, stacked_violin, tracksplot)."""

    def marker_plot(
        adata: AnnData, groups: str | Sequence[str] | None = None, *, n_genes: int | None = None,
        groupby: str | None = None, gene_symbols: str | None = None,
        var_names: Sequence[str] | Mapping[str, Sequence[str]] | None = None, min_logfoldchange: float | None = None,
        key: str | None = None, show: bool | None = None, save: bool | str | None = None,
        return_fig: bool | None = False, dpi: int | None = None, **kwds: Any,
    ) -> Any:  # fmt: skip
        return _grouped_plot(
            plot, adata, groups, n_genes=n_genes, groupby=groupby, var_names=var_names, gene_symbols=gene_symbols,
            min_logfoldchange=min_logfoldchange, key=key,
            kwds={**kwds, "show": show, "save": save, "return_fig": return_fig, "dpi": dpi},
        )  # fmt: skip

    return _public(marker_plot, plot, RankGenesGroupsGroupedParams, doc)


def _values_in(plot: Callable[..., Figure], doc: str) -> Callable[..., Figure]:
    """The marker genes in ``plot`` (dotplot, matrixplot), optionally coloured by a result field."""

    def marker_plot(
        adata: AnnData, groups: str | Sequence[str] | None = None, *, n_genes: int | None = None,
        groupby: str | None = None, values_to_plot: ValuesToPlot | None = None,
        var_names: Sequence[str] | Mapping[str, Sequence[str]] | None = None, gene_symbols: str | None = None,
        min_logfoldchange: float | None = None, key: str | None = None, show: bool | None = None,
        save: bool | str | None = None, return_fig: bool | None = False, dpi: int | None = None, **kwds: Any,
    ) -> Any:  # fmt: skip
        return _grouped_plot(
            plot, adata, groups, n_genes=n_genes, groupby=groupby, var_names=var_names, gene_symbols=gene_symbols,
            min_logfoldchange=min_logfoldchange, key=key, values_to_plot=values_to_plot,
            kwds={**kwds, "show": show, "save": save, "return_fig": return_fig, "dpi": dpi},
        )  # fmt: skip

    return _public(marker_plot, plot, RankGenesGroupsValuesParams, doc)


rank_genes_groups_dotplot = _values_in(
    dotplot, "Marker genes in a :func:`~scsnake.pl.dotplot`; ``values_to_plot`` colours by a result field."
)
rank_genes_groups_matrixplot = _values_in(
    matrixplot,
    "Marker genes in a :func:`~scsnake.pl.matrixplot`; ``values_to_plot`` colours by a result field.",
)
rank_genes_groups_heatmap = _markers_in(heatmap, "Marker genes in a :func:`~scsnake.pl.heatmap`.")
rank_genes_groups_stacked_violin = _markers_in(
    stacked_violin, "Marker genes in a :func:`~scsnake.pl.stacked_violin`."
)
rank_genes_groups_tracksplot = _markers_in(tracksplot, "Marker genes in a :func:`~scsnake.pl.tracksplot`.")
