"""Dot plot: per group and gene, mean expression (colour) and fraction expressing (dot size)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from matplotlib import colors as mcolors
from pydantic import Field, NonNegativeFloat, PositiveFloat
from pydantic.json_schema import SkipJsonSchema

from scsnake.errors import ParamError

from ._decorations import decorate, draw_colorbar, label_grid, summary_frame
from ._figure import finish, plot_function
from ._grouped import SummaryParams, color_norm, fitted, lookup_table, prepare, scale
from ._grouped import summaries as _summaries
from ._style import as_colormap

if TYPE_CHECKING:
    from anndata import AnnData
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["DotplotParams", "dotplot"]

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
    save: str | Path | None = None,
    dpi: int | None = None,
) -> Figure:
    """Dot plot of genes by groups, as scanpy's ``pl.dotplot``.

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
        Labels, layout and orientation; ``dendrogram`` needs ``uns["dendrogram_<groupby>"]``.
    var_group_positions, var_group_labels, var_group_rotation, layer
        Gene blocks given by position; the layer to read.
    show, save, dpi
        Output: ``save`` writes ``.png``/``.pdf``/``.svg`` and closes the figure.

    Returns
    -------
    The :class:`~matplotlib.figure.Figure`; nothing in ``adata`` is changed.
    """
    grouped = prepare(
        adata, var_names, groupby, use_raw=use_raw, layer=layer, what="dotplot", log=log,
        num_categories=num_categories, categories_order=categories_order, gene_symbols=gene_symbols,
        var_group_positions=var_group_positions, var_group_labels=var_group_labels, dendrogram=dendrogram,
    )  # fmt: skip
    groups, genes = grouped.groups, grouped.genes
    mean, frac = _summaries(grouped.x, grouped.labels, groups, expression_cutoff, mean_only_expressed)
    mean = scale(mean, standard_scale)
    if dot_color_df is not None:
        mean = lookup_table(dot_color_df, groups, genes, what="dot_color_df")
    dot_max = float(np.ceil(frac.max() * 10) / 10) if dot_max is None else dot_max
    dot_min = 0.0 if dot_min is None else dot_min
    if dot_min >= dot_max:
        msg = f"dotplot: dot_min ({dot_min}) must be below dot_max ({dot_max})"
        raise ParamError(msg)
    sizes = {
        "dot_min": dot_min,
        "dot_max": dot_max,
        "smallest": smallest_dot,
        "largest": largest_dot,
        "exponent": size_exponent,
    }
    colormap = as_colormap(cmap, "Reds")
    color_scale = fitted(color_norm(vmin, vmax, vcenter, norm), mean)

    rows, cols = (genes, groups) if swap_axes else (groups, genes)
    fig, grid = summary_frame(
        grouped, swap_axes=swap_axes, figsize=figsize, cell=(_CELL_W, _CELL_H), legend=_LEGEND_W, pad=(1.2, 1.0),
        min_height=3.2 - 0.6 * bool(grouped.spans),
    )  # fmt: skip
    ax = fig.add_subplot(grid[1, 0])
    values = (mean.T, frac.T) if swap_axes else (mean, frac)
    _dots(ax, *values, rows, cols, colormap, color_scale, sizes)
    decorate(fig, grid, grouped, swap_axes=swap_axes, rotation=var_group_rotation)
    legend = grid[:, 2].subgridspec(5, 1, height_ratios=[0.5, 1.1, 0.3, 0.25, 4])
    _size_legend(fig.add_subplot(legend[1]), sizes, size_title)
    draw_colorbar(fig, fig.add_subplot(legend[3]), color_scale, colormap, colorbar_title)
    if title is not None:
        fig.suptitle(title)
    return finish(fig, save=save, show=show, dpi=dpi)


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
) -> None:
    y, x = np.indices(mean.shape)
    ax.scatter(
        x.ravel() + 0.5,
        y.ravel() + 0.5,
        s=_sizes(frac.ravel(), scale),
        c=cmap(norm(mean.ravel())),
        edgecolors="none",
        linewidths=0,
    )
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
