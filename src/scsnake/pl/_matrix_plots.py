"""Matrix plot (mean per group and gene as coloured cells) and stacked violins (one row per group)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import matplotlib as mpl
import numpy as np
from matplotlib import colors as mcolors
from pydantic import NonNegativeFloat, PositiveFloat
from pydantic.json_schema import SkipJsonSchema

from ._decorations import colorbar_legend, decorate, label_grid, summary_frame
from ._figure import finish, plot_function
from ._grouped import SummaryParams, color_norm, fitted, lookup_table, prepare, scale, summaries
from ._style import as_colormap, palette_colors
from ._violin import draw_violins

if TYPE_CHECKING:
    from anndata import AnnData
    from matplotlib.figure import Figure

__all__ = ["MatrixplotParams", "StackedViolinParams", "matrixplot", "stacked_violin"]

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
    save: str | Path | None = None,
    dpi: int | None = None,
) -> Figure:
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
        Layout; ``dendrogram`` needs ``uns["dendrogram_<groupby>"]`` (``tl.dendrogram``).
    show, save, dpi
        Output: ``save`` writes ``.png``/``.pdf``/``.svg`` and closes the figure.

    Returns
    -------
    The :class:`~matplotlib.figure.Figure`; nothing in ``adata`` is changed.
    """
    grouped = prepare(
        adata, var_names, groupby, use_raw=use_raw, layer=layer, what="matrixplot", log=log,
        num_categories=num_categories, categories_order=categories_order, gene_symbols=gene_symbols,
        var_group_positions=var_group_positions, var_group_labels=var_group_labels, dendrogram=dendrogram,
    )  # fmt: skip
    if values_df is None:
        values = scale(summaries(grouped.x, grouped.labels, grouped.groups)[0], standard_scale)
    else:
        values = lookup_table(values_df, grouped.groups, grouped.genes, what="values_df")
    rows, cols = (grouped.genes, grouped.groups) if swap_axes else (grouped.groups, grouped.genes)
    values = values.T if swap_axes else values
    colormap, color_scale = as_colormap(cmap), fitted(color_norm(vmin, vmax, vcenter, norm), values)
    fig, grid = summary_frame(
        grouped, swap_axes=swap_axes, figsize=figsize, cell=(0.35, 0.35), legend=_LEGEND_W
    )
    ax = fig.add_subplot(grid[1, 0])
    ax.pcolormesh(values, cmap=colormap, norm=color_scale, edgecolors="gray", linewidth=0.1)
    label_grid(ax, rows, cols)
    for spine in ax.spines.values():
        spine.set_linewidth(1.5)
    decorate(fig, grid, grouped, swap_axes=swap_axes, rotation=var_group_rotation)
    colorbar_legend(fig, grid[:, 2], color_scale, colormap, colorbar_title)
    if title is not None:
        fig.suptitle(title)
    return finish(fig, save=save, show=show, dpi=dpi)


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
    show: bool | None = None,
    save: str | Path | None = None,
    dpi: int | None = None,
) -> Figure:
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
    stripplot, jitter, size, density_norm, yticklabels
        Violins and points.
    title, figsize, dendrogram, var_group_positions, var_group_labels, var_group_rotation, swap_axes
        Layout; ``dendrogram`` needs ``uns["dendrogram_<groupby>"]`` (``tl.dendrogram``).
    show, save, dpi
        Output: ``save`` writes ``.png``/``.pdf``/``.svg`` and closes the figure.

    Returns
    -------
    The :class:`~matplotlib.figure.Figure`; nothing in ``adata`` is changed.
    """
    grouped = prepare(
        adata, var_names, groupby, use_raw=use_raw, layer=layer, what="stacked_violin", log=log,
        num_categories=num_categories, categories_order=categories_order, gene_symbols=gene_symbols,
        var_group_positions=var_group_positions, var_group_labels=var_group_labels, dendrogram=dendrogram,
    )  # fmt: skip
    x = scale(grouped.x, standard_scale)  # "group" scales each cell, as scanpy's stacked_violin does
    # cells[r][c]: values of row r, column c
    cells = [[x[grouped.labels == g, j] for j in range(x.shape[1])] for g in grouped.groups]
    if swap_axes:
        cells = [list(column) for column in zip(*cells, strict=True)]
    medians = np.array([[np.median(c) if c.size else np.nan for c in row] for row in cells])
    rows, cols = (grouped.genes, grouped.groups) if swap_axes else (grouped.groups, grouped.genes)
    colormap, color_scale = as_colormap(cmap), fitted(color_norm(vmin, vmax, vcenter, norm), medians)
    row_colors = None if row_palette is None else _row_colors(row_palette, len(rows))
    fig, grid = summary_frame(
        grouped, swap_axes=swap_axes, figsize=figsize, cell=(0.45, 0.5), legend=_LEGEND_W
    )
    main = fig.add_subplot(grid[1, 0])  # labels and frame; each row is an inset
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
            ax, row, cols, fills, density_norm=density_norm, strip=False, jitter=0.0, size=size, rng=rng
        )
        if stripplot:
            spread = 0.2 if jitter is True else float(jitter)
            for c, values in enumerate(row):
                values = values[np.isfinite(values)]
                ax.scatter(
                    c + rng.uniform(-spread, spread, values.size),
                    values,
                    s=size,
                    c="black",
                    linewidths=0,
                    rasterized=True,
                    zorder=3,
                )
        ax.set_xlim(-0.5, len(cols) - 0.5)
        ax.patch.set_alpha(0)
        ax.tick_params(axis="x", bottom=False, labelbottom=False)
        ax.tick_params(
            axis="y",
            left=False,
            labelleft=False,
            right=yticklabels,
            labelright=yticklabels,
            labelsize="x-small",
        )
        if yticklabels:
            ax.yaxis.set_major_locator(mpl.ticker.MaxNLocator(nbins=2))
        for side, spine in ax.spines.items():
            spine.set_visible(side == "bottom" and r < len(rows) - 1)
            spine.set_linewidth(0.5)
    decorate(fig, grid, grouped, swap_axes=swap_axes, rotation=var_group_rotation)
    if row_colors is None:
        colorbar_legend(fig, grid[:, 2], color_scale, colormap, colorbar_title)
    if title is not None:
        fig.suptitle(title)
    return finish(fig, save=save, show=show, dpi=dpi)
