"""Matrix plot (mean per group and gene as coloured cells) and stacked violins (one row per group)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import matplotlib as mpl
import numpy as np
from matplotlib import colors as mcolors
from pydantic import NonNegativeFloat, PositiveFloat
from pydantic.json_schema import SkipJsonSchema

from scsnake.errors import ParamError

from ._baseplot import BasePlot, finish_plot
from ._decorations import colorbar_legend, label_grid
from ._grouped import SummaryParams, color_norm, fitted, lookup_table, scale, summaries
from ._show_save import plot_function
from ._style import as_colormap, palette_colors
from ._violin import draw_violins

if TYPE_CHECKING:
    from anndata import AnnData
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.gridspec import SubplotSpec

__all__ = [
    "MatrixPlot",
    "MatrixplotParams",
    "StackedViolin",
    "StackedViolinParams",
    "matrixplot",
    "stacked_violin",
]

_LEGEND_W = 1.4  # inches for the colourbar column


class MatrixplotParams(SummaryParams):
    """Parameters of :func:`matrixplot` (shared ones: :class:`~scsnake.pl._grouped.SummaryParams`)."""

    cmap: str | SkipJsonSchema[mcolors.Colormap] | None = "viridis"
    """Colormap of the mean expression."""
    colorbar_title: str | None = "Mean expression\nin group"
    """Title of the colourbar."""
    values_df: SkipJsonSchema[Any] = None
    """A groups × genes DataFrame shown instead of the mean (e.g. rank_genes_groups scores)."""


class StackedViolinParams(SummaryParams):
    """Parameters of :func:`stacked_violin` (shared ones: :class:`~scsnake.pl._grouped.SummaryParams`)."""

    cmap: str | SkipJsonSchema[mcolors.Colormap] | None = "Blues"
    """Colormap of the median expression that fills each violin."""
    colorbar_title: str | None = "Median expression\nin group"
    """Title of the colourbar."""
    stripplot: bool = False
    """Draw the cells as points on top."""
    jitter: NonNegativeFloat | bool = False
    """Half-width of the points' jitter (True: 0.2)."""
    size: PositiveFloat = 1.0
    """Point size of the strip plot."""
    row_palette: str | None = None
    """Fill each row with one colour from this palette (or colour) instead of the colormap."""
    density_norm: Literal["width", "area", "count"] = "width"
    """Scale violins to equal width, equal area, or area proportional to the cell count."""
    order: Sequence[str] | None = None
    """scanpy's older name of ``categories_order``."""
    scale: Literal["width", "area", "count"] | None = None
    """scanpy's older name of ``density_norm``."""
    yticklabels: bool = False
    """Show the y range of each row."""


def _row_colors(palette: str, n: int) -> list[str]:
    """One colour, or the first ``n`` of a qualitative palette (as seaborn's), else spread over a colormap."""
    if mcolors.is_color_like(palette):
        return [mcolors.to_hex(palette)] * n
    cmap = mpl.colormaps.get(palette)
    if isinstance(cmap, mcolors.ListedColormap) and cmap.N <= 20:
        return [mcolors.to_hex(cmap(i % cmap.N)) for i in range(n)]
    return palette_colors(palette, [str(i) for i in range(n)])


@plot_function(MatrixplotParams)
def matrixplot(
    adata: AnnData,
    var_names: str | Sequence[str] | Mapping[str, str | Sequence[str]],
    groupby: str | Sequence[str],
    *,
    use_raw: bool | None = None,
    log: bool = False,
    num_categories: int = 7,
    categories_order: Sequence[str] | None = None,
    figsize: tuple[float, float] | None = None,
    dendrogram: bool | str = False,
    title: str | None = None,
    cmap: str | mcolors.Colormap | None = "viridis",
    colorbar_title: str | None = "Mean expression\nin group",
    gene_symbols: str | None = None,
    var_group_positions: Sequence[tuple[int, int]] | None = None,
    var_group_labels: Sequence[str] | None = None,
    var_group_rotation: float | None = None,
    layer: str | None = None,
    standard_scale: Literal["var", "group"] | None = None,
    values_df: Any = None,
    swap_axes: bool = False,
    vmin: float | None = None,
    vmax: float | None = None,
    vcenter: float | None = None,
    norm: mcolors.Normalize | None = None,
    show: bool | None = None,
    save: bool | str | None = None,
    return_fig: bool | None = False,
    dpi: int | None = None,
    ax: Axes | None = None,
    **kwds: Any,
) -> MatrixPlot | dict[str, Any] | None:
    """Mean expression of each gene in each group as a grid of coloured cells (scanpy's ``pl.matrixplot``).

    Parameters
    ----------
    adata
        Annotated data matrix.
    var_names
        Genes, or a dict label → genes drawn as labelled blocks.
    groupby
        obs column(s); numeric columns are cut into ``num_categories`` bins.
    use_raw, log, num_categories, categories_order, layer, gene_symbols, standard_scale, values_df
        What is shown; see :class:`MatrixplotParams`.
    cmap, vmin, vmax, vcenter, norm, colorbar_title
        Colour scale.
    figsize, dendrogram, title, var_group_positions, var_group_labels, var_group_rotation, swap_axes
        Layout; ``dendrogram=True`` computes a missing ``uns["dendrogram_<groupby>"]`` (``tl.dendrogram``).
    show, save, return_fig, dpi, ax
        scanpy's output keywords (:mod:`scsnake.pl._show_save`); ``save`` writes ``{figdir}/matrixplot_{save}``.
    **kwds
        Passed to :meth:`matplotlib.axes.Axes.pcolormesh`.

    Returns
    -------
    With ``return_fig=True`` the :class:`MatrixPlot`, with ``show=False`` a dict of its Axes,
    else None. With ``dendrogram=True`` and none stored, writes ``uns["dendrogram_<groupby>"]``.
    """
    plot = MatrixPlot(
        adata, var_names, groupby, use_raw=use_raw, log=log, num_categories=num_categories,
        categories_order=categories_order, standard_scale=standard_scale, title=title, figsize=figsize,
        gene_symbols=gene_symbols, var_group_positions=var_group_positions, var_group_labels=var_group_labels,
        var_group_rotation=var_group_rotation, layer=layer, values_df=values_df, ax=ax, vmin=vmin, vmax=vmax,
        vcenter=vcenter, norm=norm, **kwds,
    )  # fmt: skip
    if dendrogram:
        plot.add_dendrogram(dendrogram_key=dendrogram if isinstance(dendrogram, str) else None)
    if swap_axes:
        plot.swap_axes()
    plot.style(cmap=cmap).legend(title=colorbar_title)
    return finish_plot(plot, show=show, save=save, return_fig=return_fig, dpi=dpi)


@plot_function(StackedViolinParams)
def stacked_violin(
    adata: AnnData,
    var_names: str | Sequence[str] | Mapping[str, str | Sequence[str]],
    groupby: str | Sequence[str],
    *,
    log: bool = False,
    use_raw: bool | None = None,
    num_categories: int = 7,
    title: str | None = None,
    colorbar_title: str | None = "Median expression\nin group",
    figsize: tuple[float, float] | None = None,
    dendrogram: bool | str = False,
    gene_symbols: str | None = None,
    var_group_positions: Sequence[tuple[int, int]] | None = None,
    var_group_labels: Sequence[str] | None = None,
    standard_scale: Literal["var", "group"] | None = None,
    var_group_rotation: float | None = None,
    layer: str | None = None,
    categories_order: Sequence[str] | None = None,
    swap_axes: bool = False,
    vmin: float | None = None,
    vmax: float | None = None,
    vcenter: float | None = None,
    norm: mcolors.Normalize | None = None,
    cmap: str | mcolors.Colormap | None = "Blues",
    stripplot: bool = False,
    jitter: float | bool = False,
    size: float = 1.0,
    row_palette: str | None = None,
    density_norm: Literal["width", "area", "count"] = "width",
    yticklabels: bool = False,
    order: Sequence[str] | None = None,
    scale: Literal["width", "area", "count"] | None = None,
    show: bool | None = None,
    save: bool | str | None = None,
    return_fig: bool | None = False,
    dpi: int | None = None,
    ax: Axes | None = None,
    **kwds: Any,
) -> StackedViolin | dict[str, Any] | None:
    """A row of violins per group (one per gene), filled by the median (scanpy's ``pl.stacked_violin``).

    ``standard_scale`` scales the values drawn (per gene or per group) before the
    densities are estimated; densities are Gaussian KDEs cut at the data range.

    Parameters
    ----------
    adata
        Annotated data matrix.
    var_names
        Genes, or a dict label → genes drawn as labelled blocks.
    groupby
        obs column(s); numeric columns are cut into ``num_categories`` bins.
    log, use_raw, num_categories, layer, gene_symbols, standard_scale, categories_order
        What is shown; see :class:`StackedViolinParams`.
    cmap, vmin, vmax, vcenter, norm, colorbar_title, row_palette
        Fill colours: the median by colormap, or one colour per row.
    stripplot, jitter, size, density_norm, yticklabels, order, scale
        Violins and points; ``order`` and ``scale`` are scanpy's older names of
        ``categories_order`` and ``density_norm``.
    title, figsize, dendrogram, var_group_positions, var_group_labels, var_group_rotation, swap_axes
        Layout; ``dendrogram=True`` computes a missing ``uns["dendrogram_<groupby>"]`` (``tl.dendrogram``).
    show, save, return_fig, dpi, ax
        scanpy's output keywords (:mod:`scsnake.pl._show_save`); ``save`` writes ``{figdir}/stacked_violin_{save}``.
    **kwds
        Passed to :meth:`matplotlib.axes.Axes.fill_betweenx` (the violins).

    Returns
    -------
    With ``return_fig=True`` the :class:`StackedViolin`, with ``show=False`` a dict of its Axes,
    else None. With ``dendrogram=True`` and none stored, writes ``uns["dendrogram_<groupby>"]``.
    """
    if order is not None:
        if categories_order is not None:
            msg = "stacked_violin: pass categories_order or order (its older name), not both"
            raise ParamError(msg)
        categories_order = order
    density_norm = density_norm if scale is None else scale
    plot = StackedViolin(
        adata, var_names, groupby, use_raw=use_raw, log=log, num_categories=num_categories,
        categories_order=categories_order, standard_scale=standard_scale, title=title, figsize=figsize,
        gene_symbols=gene_symbols, var_group_positions=var_group_positions, var_group_labels=var_group_labels,
        var_group_rotation=var_group_rotation, layer=layer, ax=ax, vmin=vmin, vmax=vmax, vcenter=vcenter,
        norm=norm, **kwds,
    )  # fmt: skip
    if dendrogram:
        plot.add_dendrogram(dendrogram_key=dendrogram if isinstance(dendrogram, str) else None)
    if swap_axes:
        plot.swap_axes()
    plot.style(
        cmap=cmap,
        stripplot=stripplot,
        jitter=jitter,
        jitter_size=size,
        row_palette=row_palette,
        density_norm=density_norm,
        yticklabels=yticklabels,
    ).legend(title=colorbar_title)
    return finish_plot(plot, show=show, save=save, return_fig=return_fig, dpi=dpi)


class MatrixPlot(BasePlot):
    """scanpy's ``MatrixPlot``: the mean of each gene in each group as a coloured cell."""

    DEFAULT_SAVE_PREFIX = "matrixplot_"
    DEFAULT_LEGENDS_WIDTH = _LEGEND_W
    DEFAULT_COLOR_LEGEND_TITLE = "Mean expression\nin group"

    def __init__(
        self,
        adata: AnnData,
        var_names: str | Sequence[str] | Mapping[str, str | Sequence[str]],
        groupby: str | Sequence[str],
        *,
        standard_scale: Literal["var", "group"] | None = None,
        values_df: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(adata, var_names, groupby, **kwargs)
        self.standard_scale, self.values_df = standard_scale, values_df
        self._style = {"cmap": "viridis", "edge_color": "gray", "edge_lw": 0.1}

    def _values(self) -> tuple[np.ndarray, mcolors.Colormap, mcolors.Normalize]:
        grouped = self.grouped
        if self.values_df is None:
            values = scale(summaries(grouped.x, grouped.labels, grouped.groups)[0], self.standard_scale)
        else:
            values = lookup_table(self.values_df, grouped.groups, grouped.genes, what="values_df")
        values = values.T if self.are_axes_swapped else values
        return values, as_colormap(self._style["cmap"]), fitted(color_norm(**self.vboundnorm), values)

    def _mainplot(self, ax: Axes) -> None:
        values, colormap, color_scale = self._values()
        grouped = self.grouped
        rows, cols = (
            (grouped.genes, grouped.groups) if self.are_axes_swapped else (grouped.groups, grouped.genes)
        )
        style = {"edgecolors": self._style["edge_color"], "linewidth": self._style["edge_lw"], **self.kwds}
        ax.pcolormesh(values, cmap=colormap, norm=color_scale, **style)
        label_grid(ax, rows, cols)
        for spine in ax.spines.values():
            spine.set_linewidth(1.5)

    def _plot_legend(self, fig: Figure, spec: SubplotSpec) -> dict[str, Axes]:
        _, colormap, color_scale = self._values()
        return {"color_legend_ax": colorbar_legend(fig, spec, color_scale, colormap, self.legend_title)}


class StackedViolin(BasePlot):
    """scanpy's ``StackedViolin``: a row of violins per group, filled by the median."""

    DEFAULT_SAVE_PREFIX = "stacked_violin_"
    DEFAULT_LEGENDS_WIDTH = _LEGEND_W
    DEFAULT_COLOR_LEGEND_TITLE = "Median expression\nin group"
    CELL = (0.45, 0.5)

    def __init__(
        self,
        adata: AnnData,
        var_names: str | Sequence[str] | Mapping[str, str | Sequence[str]],
        groupby: str | Sequence[str],
        *,
        standard_scale: Literal["var", "group"] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(adata, var_names, groupby, **kwargs)
        self.standard_scale = standard_scale
        self._style = {
            "cmap": "Blues", "stripplot": False, "jitter": False, "jitter_size": 1.0, "linewidth": 0.6,
            "row_palette": None, "density_norm": "width", "yticklabels": False, "ylim": None,
        }  # fmt: skip
        self._style_nullable = ("row_palette", "ylim")

    def _cells(self) -> tuple[list[list[np.ndarray]], np.ndarray, mcolors.Colormap, mcolors.Normalize]:
        grouped = self.grouped
        x = scale(grouped.x, self.standard_scale)  # "group" scales each cell, as scanpy's stacked_violin
        cells = [[x[grouped.labels == g, j] for j in range(x.shape[1])] for g in grouped.groups]
        if self.are_axes_swapped:
            cells = [list(column) for column in zip(*cells, strict=True)]
        medians = np.array([[np.median(c) if c.size else np.nan for c in row] for row in cells])
        colormap = as_colormap(self._style["cmap"])
        return cells, medians, colormap, fitted(color_norm(**self.vboundnorm), medians)

    def _mainplot(self, main: Axes) -> None:
        cells, medians, colormap, color_scale = self._cells()
        grouped, style = self.grouped, self._style
        rows, cols = (
            (grouped.genes, grouped.groups) if self.are_axes_swapped else (grouped.groups, grouped.genes)
        )
        palette = style["row_palette"]
        row_colors = None if palette is None else _row_colors(palette, len(rows))
        label_grid(main, rows, cols, rotation=90 * (max(map(len, cols)) > 2))
        main.patch.set_alpha(0)
        rng = np.random.default_rng(0)
        for r, row in enumerate(cells):
            ax = main.inset_axes((0, 1 - (r + 1) / len(rows), 1, 1 / len(rows)))
            fills = (
                [row_colors[r]] * len(cols)
                if row_colors
                else [mcolors.to_hex(colormap(color_scale(m))) for m in medians[r]]
            )
            draw_violins(
                ax, row, cols, fills, density_norm=style["density_norm"], strip=False, jitter=0.0,
                size=style["jitter_size"], rng=rng, **{"lw": style["linewidth"], **self.kwds},
            )  # fmt: skip
            if style["stripplot"]:
                spread = 0.2 if style["jitter"] is True else float(style["jitter"])
                for c, values in enumerate(row):
                    values = values[np.isfinite(values)]
                    ax.scatter(
                        c + rng.uniform(-spread, spread, values.size), values, s=style["jitter_size"],
                        c="black", linewidths=0, rasterized=True, zorder=3,
                    )  # fmt: skip
            _row_axes(
                ax, len(cols), last=r == len(rows) - 1, yticklabels=style["yticklabels"], ylim=style["ylim"]
            )

    def _plot_legend(self, fig: Figure, spec: SubplotSpec) -> dict[str, Axes]:
        if self._style["row_palette"] is not None:
            return {}
        _, _, colormap, color_scale = self._cells()
        return {"color_legend_ax": colorbar_legend(fig, spec, color_scale, colormap, self.legend_title)}


def _row_axes(ax: Axes, n_cols: int, *, last: bool, yticklabels: bool, ylim: Any) -> None:
    ax.set_xlim(-0.5, n_cols - 0.5)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.patch.set_alpha(0)
    ax.tick_params(axis="x", bottom=False, labelbottom=False)
    ax.tick_params(
        axis="y", left=False, labelleft=False, right=yticklabels, labelright=yticklabels, labelsize="x-small"
    )
    if yticklabels:
        ax.yaxis.set_major_locator(mpl.ticker.MaxNLocator(nbins=2))
    for side, spine in ax.spines.items():
        spine.set_visible(side == "bottom" and not last)
        spine.set_linewidth(0.5)
