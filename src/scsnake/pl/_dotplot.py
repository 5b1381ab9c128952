"""Dot plot: per group and gene, mean expression (colour) and fraction expressing (dot size)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from matplotlib import colors as mcolors
from pydantic import Field, NonNegativeFloat, PositiveFloat
from pydantic.json_schema import SkipJsonSchema

from scsnake.errors import ParamError

from ._baseplot import BasePlot, finish_plot
from ._decorations import draw_colorbar, label_grid
from ._grouped import SummaryParams, color_norm, fitted, lookup_table, scale
from ._grouped import summaries as _summaries
from ._show_save import plot_function
from ._style import as_colormap

if TYPE_CHECKING:
    from anndata import AnnData
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.gridspec import SubplotSpec

__all__ = ["DotPlot", "DotplotParams", "dotplot"]

_CELL_W, _CELL_H = 0.37, 0.35  # inches per gene column / group row (scanpy's)
_LEGEND_W = 1.6  # inches for the size legend and colourbar
Fraction = Annotated[float, Field(ge=0, le=1)]


class DotplotParams(SummaryParams):
    """Parameters of :func:`dotplot` (shared ones: :class:`~scsnake.pl._grouped.SummaryParams`)."""

    expression_cutoff: float = 0.0
    """A cell expresses a gene when its value is above this."""
    mean_only_expressed: bool = False
    """Average over expressing cells only."""
    cmap: str | SkipJsonSchema[mcolors.Colormap] | None = "Reds"
    """Colormap of the mean expression."""
    colorbar_title: str | None = "Mean expression\nin group"
    """Title of the colourbar."""
    dot_color_df: SkipJsonSchema[Any] = None
    """A groups × genes DataFrame coloured instead of the mean (e.g. rank_genes_groups scores)."""
    dot_max: Fraction | None = None
    """Fraction shown by the largest dot (default: the largest fraction, rounded up to 0.1)."""
    dot_min: Fraction | None = None
    """Fraction shown by the smallest dot (default 0)."""
    smallest_dot: NonNegativeFloat = 0.0
    """Size of a dot at ``dot_min``."""
    largest_dot: PositiveFloat = 200.0
    """Size of a dot at ``dot_max``."""
    size_exponent: PositiveFloat = 1.5
    """Dot size grows as fraction ** size_exponent."""
    size_title: str = "Fraction of cells\nin group (%)"
    """Title of the dot-size legend."""


class DotPlot(BasePlot):
    """scanpy's ``DotPlot``: mean expression (colour) and fraction expressing (dot size).

    Build, chain settings, then draw: ``DotPlot(adata, genes, "leiden").style(cmap="Blues")
    .legend(colorbar_title="mean").add_dendrogram().show()``.
    """

    DEFAULT_SAVE_PREFIX = "dotplot_"
    DEFAULT_LEGENDS_WIDTH = _LEGEND_W
    DEFAULT_COLOR_LEGEND_TITLE = "Mean expression\nin group"
    DEFAULT_SIZE_LEGEND_TITLE = "Fraction of cells\nin group (%)"
    CELL, PAD, MIN_HEIGHT = (_CELL_W, _CELL_H), (1.2, 1.0), 3.2

    def __init__(
        self,
        adata: AnnData,
        var_names: str | Sequence[str] | Mapping[str, str | Sequence[str]],
        groupby: str | Sequence[str],
        *,
        expression_cutoff: float = 0.0,
        mean_only_expressed: bool = False,
        standard_scale: Literal["var", "group"] | None = None,
        dot_color_df: Any = None,
        dot_size_df: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(adata, var_names, groupby, **kwargs)
        self.expression_cutoff, self.mean_only_expressed = expression_cutoff, mean_only_expressed
        self.standard_scale, self.dot_color_df, self.dot_size_df = standard_scale, dot_color_df, dot_size_df
        self.size_title = self.DEFAULT_SIZE_LEGEND_TITLE
        self.show_size_legend = self.show_colorbar = True
        self._style = {
            "cmap": "Reds", "color_on": "dot", "dot_max": None, "dot_min": None, "smallest_dot": 0.0,
            "largest_dot": 200.0, "dot_edge_color": None, "dot_edge_lw": None, "size_exponent": 1.5,
            "grid": False,
        }  # fmt: skip
        self._style_nullable = ("dot_max", "dot_min", "dot_edge_color", "dot_edge_lw")

    def legend(  # type: ignore[override]
        self,
        show: bool | None = True,
        show_size_legend: bool | None = True,
        show_colorbar: bool | None = True,
        size_title: str | None = None,
        colorbar_title: str | None = None,
        width: float | None = None,
    ) -> DotPlot:
        """Show the size legend and the colourbar (or not); their titles; the legend width."""
        self.show_size_legend, self.show_colorbar = bool(show_size_legend), bool(show_colorbar)
        self.size_title = self.size_title if size_title is None else size_title
        super().legend(show=show, title=colorbar_title, width=width)
        return self

    def _values(self) -> tuple[np.ndarray, np.ndarray]:
        grouped = self.grouped
        groups, genes = grouped.groups, grouped.genes
        mean, frac = _summaries(
            grouped.x, grouped.labels, groups, self.expression_cutoff, self.mean_only_expressed
        )
        mean = scale(mean, self.standard_scale)
        if self.dot_color_df is not None:
            mean = lookup_table(self.dot_color_df, groups, genes, what="dot_color_df")
        if self.dot_size_df is not None:
            frac = lookup_table(self.dot_size_df, groups, genes, what="dot_size_df")
        return mean, frac

    def _scales(self) -> tuple[np.ndarray, np.ndarray, dict, mcolors.Colormap, mcolors.Normalize]:
        mean, frac = self._values()
        style = self._style
        dot_max = float(np.ceil(frac.max() * 10) / 10) if style["dot_max"] is None else style["dot_max"]
        dot_min = 0.0 if style["dot_min"] is None else style["dot_min"]
        if dot_min >= dot_max:
            msg = f"dotplot: dot_min ({dot_min}) must be below dot_max ({dot_max})"
            raise ParamError(msg)
        sizes = {
            "dot_min": dot_min, "dot_max": dot_max, "smallest": style["smallest_dot"],
            "largest": style["largest_dot"], "exponent": style["size_exponent"],
        }  # fmt: skip
        colormap = as_colormap(style["cmap"], "Reds")
        return mean, frac, sizes, colormap, fitted(color_norm(**self.vboundnorm), mean)

    def _mainplot(self, ax: Axes) -> None:
        mean, frac, sizes, colormap, color_scale = self._scales()
        grouped = self.grouped
        rows, cols = (
            (grouped.genes, grouped.groups) if self.are_axes_swapped else (grouped.groups, grouped.genes)
        )
        values = (mean.T, frac.T) if self.are_axes_swapped else (mean, frac)
        _dots(ax, *values, rows, cols, colormap, color_scale, sizes, self._style, self.kwds)

    def _plot_legend(self, fig: Figure, spec: SubplotSpec) -> dict[str, Axes]:
        _, _, sizes, colormap, color_scale = self._scales()
        legend = spec.subgridspec(5, 1, height_ratios=[0.5, 1.1, 0.3, 0.25, 4])
        axes = {}
        if self.show_size_legend:
            axes["size_legend_ax"] = fig.add_subplot(legend[1])
            _size_legend(axes["size_legend_ax"], sizes, self.size_title)
        if self.show_colorbar:
            axes["color_legend_ax"] = fig.add_subplot(legend[3])
            draw_colorbar(fig, axes["color_legend_ax"], color_scale, colormap, self.legend_title)
        return axes


@plot_function(DotplotParams)
def dotplot(
    adata: AnnData,
    var_names: str | Sequence[str] | Mapping[str, str | Sequence[str]],
    groupby: str | Sequence[str],
    *,
    use_raw: bool | None = None,
    log: bool = False,
    num_categories: int = 7,
    categories_order: Sequence[str] | None = None,
    expression_cutoff: float = 0.0,
    mean_only_expressed: bool = False,
    standard_scale: Literal["var", "group"] | None = None,
    title: str | None = None,
    colorbar_title: str | None = "Mean expression\nin group",
    size_title: str = "Fraction of cells\nin group (%)",
    figsize: tuple[float, float] | None = None,
    dendrogram: bool | str = False,
    gene_symbols: str | None = None,
    var_group_positions: Sequence[tuple[int, int]] | None = None,
    var_group_labels: Sequence[str] | None = None,
    var_group_rotation: float | None = None,
    layer: str | None = None,
    swap_axes: bool = False,
    dot_color_df: Any = None,
    vmin: float | None = None,
    vmax: float | None = None,
    vcenter: float | None = None,
    norm: mcolors.Normalize | None = None,
    cmap: str | mcolors.Colormap | None = "Reds",
    dot_max: float | None = None,
    dot_min: float | None = None,
    smallest_dot: float = 0.0,
    largest_dot: float = 200.0,
    size_exponent: float = 1.5,
    show: bool | None = None,
    save: bool | str | None = None,
    return_fig: bool | None = False,
    dpi: int | None = None,
    ax: Axes | None = None,
    **kwds: Any,
) -> DotPlot | dict[str, Any] | None:
    """Dot plot of genes by groups, as scanpy's ``pl.dotplot`` (built on :class:`DotPlot`).

    Colour is the mean expression in the group, dot size the fraction of its cells with
    a value above ``expression_cutoff``; a colourbar and a size legend explain both.
    Only the listed genes are read (densified), never the whole matrix.

    Parameters
    ----------
    adata
        Annotated data matrix.
    var_names
        Genes, or a dict label → genes drawn as labelled blocks.
    groupby
        obs column(s); numeric columns are cut into ``num_categories`` bins.
    use_raw, log, num_categories, categories_order, expression_cutoff, mean_only_expressed
        What is summarised; see :class:`DotplotParams`.
    standard_scale, dot_color_df, vmin, vmax, vcenter, norm, cmap
        Colour scale.
    dot_max, dot_min, smallest_dot, largest_dot, size_exponent
        Dot-size scale (scanpy's defaults).
    title, colorbar_title, size_title, figsize, dendrogram, gene_symbols, swap_axes
        Labels, layout and orientation; ``dendrogram=True`` computes ``uns["dendrogram_<groupby>"]``
        with ``tl.dendrogram`` when it is missing, as scanpy does.
    var_group_positions, var_group_labels, var_group_rotation, layer
        Gene blocks given by position; the layer to read.
    show, save, return_fig, dpi, ax
        scanpy's output keywords (:mod:`scsnake.pl._show_save`); ``save`` writes ``{figdir}/dotplot_{save}``.
    **kwds
        Passed to :meth:`matplotlib.axes.Axes.scatter` (the dots).

    Returns
    -------
    With ``return_fig=True`` the :class:`DotPlot`, with ``show=False`` a dict of its Axes,
    else None. With ``dendrogram=True`` and none stored, writes ``uns["dendrogram_<groupby>"]``.
    """
    plot = DotPlot(
        adata, var_names, groupby, use_raw=use_raw, log=log, num_categories=num_categories,
        categories_order=categories_order, expression_cutoff=expression_cutoff,
        mean_only_expressed=mean_only_expressed, standard_scale=standard_scale, title=title, figsize=figsize,
        gene_symbols=gene_symbols, var_group_positions=var_group_positions, var_group_labels=var_group_labels,
        var_group_rotation=var_group_rotation, layer=layer, dot_color_df=dot_color_df, ax=ax, vmin=vmin,
        vmax=vmax, vcenter=vcenter, norm=norm, **kwds,
    )  # fmt: skip
    if dendrogram:
        plot.add_dendrogram(dendrogram_key=dendrogram if isinstance(dendrogram, str) else None)
    if swap_axes:
        plot.swap_axes()
    plot.style(
        cmap=cmap, dot_max=dot_max, dot_min=dot_min, smallest_dot=smallest_dot, largest_dot=largest_dot,
        size_exponent=size_exponent,
    )  # fmt: skip
    plot.legend(colorbar_title=colorbar_title, size_title=size_title)
    return finish_plot(plot, show=show, save=save, return_fig=return_fig, dpi=dpi)


def _sizes(frac: np.ndarray, scale: dict) -> np.ndarray:
    lo, hi = scale["dot_min"], scale["dot_max"]
    rel = (np.clip(frac, lo, hi) - lo) / (hi - lo)
    return rel ** scale["exponent"] * (scale["largest"] - scale["smallest"]) + scale["smallest"]


def _dots(
    ax: Axes,
    mean: np.ndarray,
    frac: np.ndarray,
    rows: list[str],
    cols: list[str],
    cmap: mcolors.Colormap,
    norm: mcolors.Normalize,
    scale: dict,
    style: dict,
    kwds: dict,
) -> None:
    y, x = np.indices(mean.shape)
    colors = cmap(norm(mean.ravel()))
    if style["color_on"] == "square":  # coloured squares, dots in the edge colour on top
        ax.pcolormesh(mean, cmap=cmap, norm=norm, edgecolors="white", linewidth=0.5)
        colors = style["dot_edge_color"] or "black"
    dots = {"edgecolors": style["dot_edge_color"] or "none", "linewidths": style["dot_edge_lw"] or 0, **kwds}
    ax.scatter(x.ravel() + 0.5, y.ravel() + 0.5, s=_sizes(frac.ravel(), scale), c=colors, **dots)
    if style["grid"]:
        ax.set_xticks(np.arange(mean.shape[1] + 1), minor=True)
        ax.set_yticks(np.arange(mean.shape[0] + 1), minor=True)
        ax.grid(which="minor", color="gray", linewidth=0.3)
    label_grid(ax, rows, cols)
    ax.tick_params(length=2)
    ax.set_axisbelow(True)


def _size_legend(ax: Axes, scale: dict, title: str) -> None:
    lo, hi = scale["dot_min"], scale["dot_max"]
    diff = hi - lo
    step = 0.1 if 0.3 < diff <= 0.6 else 0.05 if diff <= 0.3 else 0.2
    levels = np.arange(hi, lo, -step)[::-1]
    ax.scatter(
        np.arange(len(levels)) + 0.5,
        np.zeros(len(levels)),
        s=_sizes(levels, scale),
        color="gray",
        edgecolors="black",
        linewidths=0.2,
        zorder=3,
        clip_on=False,
    )
    ax.set_xticks(np.arange(len(levels)) + 0.5, [f"{round(v * 100):d}" for v in levels], fontsize="small")
    ax.tick_params(axis="y", left=False, labelleft=False)
    ax.tick_params(axis="x", length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_xlim(0, max(len(levels), 1))
    ax.set_ylim(-0.7, 0.9)
    ax.set_title(title, fontsize="small")
