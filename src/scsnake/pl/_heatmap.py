"""Cell-level plots of genes by groups: heatmap (one pixel row per cell) and tracksplot (one track per gene)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from matplotlib import colors as mcolors
from matplotlib import pyplot as plt

from ._decorations import draw_brackets, draw_dendrogram, group_bar
from ._grouped import GroupedParams, ScaledParams, color_norm, fitted, group_colors, prepare, scale
from ._show_save import plot_function, show_or_save
from ._style import as_colormap

if TYPE_CHECKING:
    from anndata import AnnData
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["HeatmapParams", "TracksplotParams", "heatmap", "tracksplot"]


class HeatmapParams(ScaledParams):
    """Parameters of :func:`heatmap` (shared ones: :class:`~scsnake.pl._grouped.ScaledParams`)."""

    standard_scale: Literal["var", "obs"] | None = None
    """Scale values to 0–1 per gene (``"var"``) or per cell (``"obs"``)."""
    show_gene_labels: bool | None = None
    """Label the genes (default: when there are at most 50)."""


class TracksplotParams(GroupedParams):
    """Parameters of :func:`tracksplot` (see :class:`~scsnake.pl._grouped.GroupedParams`)."""


@plot_function(HeatmapParams)
def heatmap(
    adata: AnnData,
    var_names: str | Sequence[str] | Mapping[str, str | Sequence[str]],
    groupby: str | Sequence[str],
    *,
    use_raw: bool | None = None,
    log: bool = False,
    num_categories: int = 7,
    dendrogram: bool | str = False,
    gene_symbols: str | None = None,
    var_group_positions: Sequence[tuple[int, int]] | None = None,
    var_group_labels: Sequence[str] | None = None,
    var_group_rotation: float | None = None,
    layer: str | None = None,
    standard_scale: Literal["var", "obs"] | None = None,
    swap_axes: bool = False,
    show_gene_labels: bool | None = None,
    cmap: str | mcolors.Colormap | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    vcenter: float | None = None,
    norm: mcolors.Normalize | None = None,
    figsize: tuple[float, float] | None = None,
    show: bool | None = None,
    save: bool | str | None = None,
    return_fig: bool | None = False,
    dpi: int | None = None,
    **kwargs: Any,
) -> dict[str, Axes] | Figure | None:
    """Expression of every cell (rows, sorted by group) for each gene (scanpy's ``pl.heatmap``).

    A colour strip beside the rows shows the groups in the colours of
    ``uns[f"{groupby}_colors"]``; black lines separate them.

    Parameters
    ----------
    adata
        Annotated data matrix.
    var_names
        Genes, or a dict label → genes drawn as labelled blocks.
    groupby
        obs column(s); numeric columns are cut into ``num_categories`` bins.
    use_raw, log, num_categories, layer, gene_symbols, standard_scale
        What is shown; see :class:`HeatmapParams`.
    cmap, vmin, vmax, vcenter, norm
        Colour scale (default colormap ``rcParams["image.cmap"]``).
    dendrogram, var_group_positions, var_group_labels, var_group_rotation, swap_axes, show_gene_labels, figsize
        Layout; ``dendrogram`` needs ``uns["dendrogram_<groupby>"]`` (``tl.dendrogram``).
    show, save, return_fig, dpi
        scanpy's output keywords (:mod:`scsnake.pl._show_save`); ``save`` writes ``{figdir}/heatmap{save}``.
    **kwargs
        Passed to :meth:`matplotlib.axes.Axes.imshow`.

    Returns
    -------
    With ``show=False`` a dict of the Axes (``heatmap_ax``, ``groupby_ax``, and
    ``dendrogram_ax`` / ``gene_groups_ax`` when drawn), with ``return_fig=True`` the Figure,
    else None. Writes ``uns[f"{groupby}_colors"]`` for a categorical ``groupby`` without
    valid stored colours.
    """
    grouped = prepare(
        adata, var_names, groupby, use_raw=use_raw, layer=layer, what="heatmap", log=log,
        num_categories=num_categories, gene_symbols=gene_symbols, var_group_positions=var_group_positions,
        var_group_labels=var_group_labels, dendrogram=dendrogram,
    )  # fmt: skip
    order = grouped.order()
    values = scale(grouped.x[order], standard_scale)
    counts, colors, genes = grouped.counts(), group_colors(adata, grouped), grouped.genes
    labels = len(genes) <= 50 if show_gene_labels is None else show_gene_labels
    colormap = as_colormap(cmap)
    color_scale = fitted(color_norm(vmin, vmax, vcenter, norm), values)
    tree, brackets = grouped.dendrogram is not None, bool(grouped.spans)
    label_w = 0.1 + 0.07 * max(len(g) for g in grouped.groups)
    if not swap_axes:
        width, height = figsize or (
            label_w + max(len(genes) * 0.3 if labels else 8, 2.5) + 0.8 * tree + 1.0,
            5.0,
        )
        fig = plt.figure(figsize=(width, height), layout="constrained")
        grid = fig.add_gridspec(
            2, 4, width_ratios=[0.2, max(width - 1.2 - 0.8 * tree, 1), 0.8 * tree or 0.01, 0.2],
            height_ratios=[0.6 if brackets else 0.01, height], wspace=0.01,
        )  # fmt: skip
        ax = fig.add_subplot(grid[1, 1])
        image = ax.imshow(
            values,
            **{"aspect": "auto", "interpolation": "nearest", "cmap": colormap, "norm": color_scale, **kwargs},
        )
        ax.hlines(np.cumsum(counts)[:-1] - 0.5, -0.5, len(genes) - 0.5, lw=1, color="black", zorder=10)
        ax.set_yticks([])
        if labels:
            ax.set_xticks(np.arange(len(genes)), genes, rotation=90, fontsize="small")
        else:
            ax.set_xticks([])
        bar_ax = fig.add_subplot(grid[1, 0], sharey=ax)
        centres = group_bar(bar_ax, counts, colors, grouped.groups, vertical=True)
        slots = {"tree": (grid[1, 2], "right", "sharey"), "brackets": (grid[0, 1], False)}
        cbar_spec = grid[1, 3]
    else:
        width, height = figsize or (10.0, max(len(genes) * 0.18 if labels else 4, 1.5) + 0.8 * tree + 0.5)
        fig = plt.figure(figsize=(width, height), layout="constrained")
        grid = fig.add_gridspec(
            3, 3, height_ratios=[0.8 * tree or 0.01, max(height - 0.5 - 0.8 * tree, 1), 0.2],
            width_ratios=[width, 0.3 + 0.07 * max(len(s[0]) for s in grouped.spans) if brackets else 0.01, 0.2],
        )  # fmt: skip
        ax = fig.add_subplot(grid[1, 0])
        image = ax.imshow(
            values.T,
            **{"aspect": "auto", "interpolation": "nearest", "cmap": colormap, "norm": color_scale, **kwargs},
        )
        ax.vlines(np.cumsum(counts)[:-1] - 0.5, -0.5, len(genes) - 0.5, lw=1, color="black", zorder=10)
        ax.set_xticks([])
        if labels:
            ax.set_yticks(np.arange(len(genes)), genes, fontsize="small")
        else:
            ax.set_yticks([])
        bar_ax = fig.add_subplot(grid[2, 0], sharex=ax)
        centres = group_bar(bar_ax, counts, colors, grouped.groups, vertical=False)
        slots = {"tree": (grid[0, 0], "top", "sharex"), "brackets": (grid[1, 1], True)}
        cbar_spec = grid[1, 2]
    shown = {"heatmap_ax": ax, "groupby_ax": bar_ax}
    if tree:
        spec, orientation, share = slots["tree"]
        shown["dendrogram_ax"] = fig.add_subplot(spec, **{share: ax})
        draw_dendrogram(shown["dendrogram_ax"], grouped.dendrogram, orientation=orientation, ticks=centres)
    if brackets:
        spec, vertical = slots["brackets"]
        shown["gene_groups_ax"] = fig.add_subplot(spec)
        draw_brackets(
            shown["gene_groups_ax"], grouped.spans, len(genes), vertical=vertical, rotation=var_group_rotation
        )
    ax.tick_params(
        **({"bottom": False, "labelbottom": False} if swap_axes else {"left": False, "labelleft": False})
    )
    holder = fig.add_subplot(cbar_spec)  # a nested gridspec here can collapse the constrained layout
    holder.set_axis_off()
    cbar_ax = holder.inset_axes((0, 0.2, 1, 0.6) if height > 3 else (0, 0, 1, 1))
    fig.colorbar(image, cax=cbar_ax)
    cbar_ax.tick_params(labelsize="small")
    return show_or_save(fig, shown, writekey="heatmap", show=show, save=save, return_fig=return_fig, dpi=dpi)


@plot_function(TracksplotParams)
def tracksplot(
    adata: AnnData,
    var_names: str | Sequence[str] | Mapping[str, str | Sequence[str]],
    groupby: str | Sequence[str],
    *,
    use_raw: bool | None = None,
    log: bool = False,
    dendrogram: bool | str = False,
    gene_symbols: str | None = None,
    var_group_positions: Sequence[tuple[int, int]] | None = None,
    var_group_labels: Sequence[str] | None = None,
    layer: str | None = None,
    figsize: tuple[float, float] | None = None,
    show: bool | None = None,
    save: bool | str | None = None,
    return_fig: bool | None = False,
    dpi: int | None = None,
    **kwargs: Any,
) -> dict[str, Any] | Figure | None:
    """One track per gene: each cell's value as a bar, cells sorted and coloured by group (``pl.tracksplot``).

    Parameters
    ----------
    adata
        Annotated data matrix.
    var_names
        Genes, or a dict label → genes (blocks marked with a bracket on the right).
    groupby
        Categorical obs column(s).
    use_raw, log, dendrogram, gene_symbols, var_group_positions, var_group_labels, layer, figsize
        See :class:`TracksplotParams`; ``log`` shows ``log1p`` of the values.
    show, save, return_fig, dpi
        scanpy's output keywords (:mod:`scsnake.pl._show_save`); ``save`` writes ``{figdir}/tracksplot{save}``.
    **kwargs
        Passed to :meth:`matplotlib.axes.Axes.fill_between`, which draws each track.

    Returns
    -------
    With ``show=False`` a dict of the Axes (``track_axes``, a list, ``groupby_ax``), with
    ``return_fig=True`` the Figure, else None. Writes ``uns[f"{groupby}_colors"]`` for a
    categorical ``groupby`` without valid stored colours.
    """
    grouped = prepare(
        adata, var_names, groupby, use_raw=use_raw, layer=layer, what="tracksplot", log=log,
        gene_symbols=gene_symbols, var_group_positions=var_group_positions, var_group_labels=var_group_labels,
        dendrogram=dendrogram,
    )  # fmt: skip
    values = grouped.x[grouped.order()]
    counts, colors, genes = grouped.counts(), group_colors(adata, grouped), grouped.genes
    bounds = np.concatenate([[0], np.cumsum(counts)])
    tree, brackets = grouped.dendrogram is not None, bool(grouped.spans)
    track_h = 0.3
    width, height = figsize or (8.0, 0.8 * tree + track_h * len(genes) + 0.6)
    track_h = (height - 0.8 * tree - 0.6) / len(genes)
    fig = plt.figure(figsize=(width, height), layout="constrained")
    side = 0.3 + 0.07 * max(len(s[0]) for s in grouped.spans) if brackets else 0.01
    grid = fig.add_gridspec(
        3, 2, height_ratios=[0.8 * tree or 0.01, track_h * len(genes), 0.25], width_ratios=[width, side], hspace=0.02,
    )  # fmt: skip
    tracks = grid[1, 0].subgridspec(len(genes), 1, hspace=0)
    first = None
    track_axes = []
    for i, gene in enumerate(genes):
        ax = fig.add_subplot(tracks[i], sharex=first)
        first = first or ax
        track_axes.append(ax)
        for j, color in enumerate(colors):
            span = np.arange(bounds[j], bounds[j + 1])
            ax.fill_between(span, 0, values[span, i], **{"lw": 0.1, "color": color, "step": "mid", **kwargs})
        ax.vlines(bounds[1:-1] - 0.5, 0, 1, transform=ax.get_xaxis_transform(), lw=0.5, ls="--", color="gray")
        top = float(np.nanmax(values[:, i])) if values.shape[0] else 0.0
        ax.set_ylim(0, top * 1.05 if top > 0 else 1)
        ax.set_yticks([top], [f"{top:.3g}"], fontsize="x-small")
        ax.tick_params(axis="y", left=False, labelleft=False, right=True, labelright=True, length=2)
        ax.tick_params(axis="x", bottom=False, labelbottom=False)
        ax.set_ylabel(gene, rotation=0, fontsize="small", ha="right", va="center")
        for side_name in ("left", "top", "bottom"):
            ax.spines[side_name].set_visible(False)
    first.set_xlim(-0.5, values.shape[0] - 0.5)
    bar_ax = fig.add_subplot(grid[2, 0], sharex=first)
    centres = group_bar(bar_ax, counts, colors, grouped.groups, vertical=False)
    if tree:
        draw_dendrogram(
            fig.add_subplot(grid[0, 0], sharex=first), grouped.dendrogram, orientation="top", ticks=centres
        )
    if brackets:
        draw_brackets(fig.add_subplot(grid[1, 1]), grouped.spans, len(genes), vertical=True)
    shown = {"track_axes": track_axes, "groupby_ax": bar_ax}
    return show_or_save(
        fig, shown, writekey="tracksplot", show=show, save=save, return_fig=return_fig, dpi=dpi
    )
