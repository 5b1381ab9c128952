"""Drawing parts of the grouped plots: figure grid, brackets, dendrograms, group bars, colourbars."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib import colors as mcolors
from matplotlib import pyplot as plt
from matplotlib.cm import ScalarMappable

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.gridspec import GridSpec, SubplotSpec

    from ._grouped import Grouped, Span

__all__ = [
    "colorbar_legend",
    "decorate",
    "draw_brackets",
    "draw_colorbar",
    "draw_dendrogram",
    "draw_ranking",
    "frame",
    "group_bar",
    "label_grid",
    "ranking_grid",
    "summary_frame",
]


def frame(
    main_w: float,
    main_h: float,
    *,
    top: float = 0.0,
    right: float = 0.0,
    legend: float = 0.0,
    totals: float = 0.0,
    figsize: tuple[float, float] | None = None,
    ax: Axes | None = None,
) -> tuple[Figure, GridSpec]:
    """A constrained figure (or ``ax``'s area) with a 2 × 4 grid: [top slot; main] × [main, totals,
    right slot, legend]."""
    width, height = (main_w + right + legend + totals, main_h + top) if figsize is None else figsize
    ratios = {
        "width_ratios": [
            max(width - right - legend - totals, 0.5),
            totals or 0.01,
            right or 0.01,
            legend or 0.01,
        ],
        "height_ratios": [top or 0.01, max(height - top, 0.5)],
    }
    if ax is not None:
        fig, spec = ax.figure, ax.get_subplotspec()
        ax.remove()
        return fig, spec.subgridspec(2, 4, **ratios)
    fig = plt.figure(figsize=(width, height), layout="constrained")
    return fig, fig.add_gridspec(2, 4, **ratios)


def summary_frame(
    grouped: Grouped,
    *,
    swap_axes: bool,
    figsize: tuple[float, float] | None,
    cell: tuple[float, float],
    legend: float,
    pad: tuple[float, float] = (1.0, 0.8),
    min_height: float = 2.6,
    totals: float = 0.0,
    ax: Axes | None = None,
) -> tuple[Figure, GridSpec]:
    """The :func:`frame` of a groups × genes grid: ``cell`` inches per column and row, plus room
    for labels (``pad``), brackets and the dendrogram, a ``legend`` column and a ``totals`` one."""
    rows, cols = (grouped.genes, grouped.groups) if swap_axes else (grouped.groups, grouped.genes)
    brackets, tree = bool(grouped.spans), grouped.dendrogram is not None
    main_w = max(len(cols) * cell[0] + pad[0] + max(map(len, rows)) * 0.07, 2.0)
    main_h = max(len(rows) * cell[1] + pad[1] + max(map(len, cols)) * 0.07, min_height)
    top = 0.6 if (brackets and not swap_axes) else 0.8 if (tree and swap_axes) else 0.0
    right = (
        (0.25 + 0.07 * max(len(s[0]) for s in grouped.spans) if brackets else 0.0)
        if swap_axes
        else 0.8 * tree
    )
    return frame(main_w, main_h, top=top, right=right, legend=legend, totals=totals, figsize=figsize, ax=ax)


def label_grid(ax: Axes, rows: list[str], cols: list[str], *, rotation: float = 90) -> None:
    """Label the rows and columns of a grid whose cell ``(i, j)`` covers ``[j, j + 1) × [i, i + 1)``,
    first row on top."""
    ax.set_xticks(np.arange(len(cols)) + 0.5, cols, rotation=rotation, fontsize="small")
    ax.set_yticks(np.arange(len(rows)) + 0.5, rows, fontsize="small")
    ax.set_xlim(0, len(cols))
    ax.set_ylim(len(rows), 0)


def decorate(
    fig: Figure, grid: GridSpec, grouped: Grouped, *, swap_axes: bool, rotation: float | None = None
) -> dict[str, Axes]:
    """Brackets over gene blocks and the dendrogram beside the groups (top / right slots); returns
    their Axes as ``gene_group_ax`` and ``group_extra_ax``.

    The main panel must span ``0..n`` in both directions (cell ``i`` covers ``[i, i + 1)``),
    with rows drawn top to bottom.
    """
    n_groups = len(grouped.groups)
    drawn = {}
    if grouped.spans:
        ax = drawn["gene_group_ax"] = fig.add_subplot(grid[1, 2] if swap_axes else grid[0, 0])
        draw_brackets(ax, grouped.spans, len(grouped.genes), vertical=swap_axes, rotation=rotation)
    if grouped.dendrogram is not None:
        ax = drawn["group_extra_ax"] = fig.add_subplot(grid[0, 0] if swap_axes else grid[1, 2])
        ticks = np.arange(n_groups) + 0.5
        draw_dendrogram(ax, grouped.dendrogram, orientation="top" if swap_axes else "right", ticks=ticks)
        if swap_axes:
            ax.set_xlim(0, n_groups)
        else:
            ax.set_ylim(n_groups, 0)
    return drawn


def draw_brackets(
    ax: Axes, spans: list[Span], n_genes: int, *, vertical: bool, rotation: float | None = None
) -> None:
    """Labelled brackets over blocks of ``n_genes`` genes; gene ``i`` covers ``[i, i + 1)`` (top to bottom
    when ``vertical``)."""
    for name, start, stop in spans:
        a, b = start + 0.2, stop - 0.2
        if vertical:
            ax.plot([0, 0.15, 0.15, 0], [a, a, b, b], color="black", lw=0.8)
            ax.text(0.25, (start + stop) / 2, name, va="center", ha="left", fontsize="small")
            continue
        ax.plot([a, a, b, b], [0, 0.4, 0.4, 0], color="black", lw=0.8)
        turn = rotation if rotation is not None else 90 if len(name) > 3 * (stop - start) + 1 else 0
        ax.text(
            (start + stop) / 2, 0.6, name, ha="center" if turn == 0 else "left", va="bottom", fontsize="small",
            rotation=turn, rotation_mode="anchor" if turn else "default",
        )  # fmt: skip
    ax.set_axis_off()
    if vertical:
        ax.set_xlim(0, 1)
        ax.set_ylim(n_genes, 0)
    else:
        ax.set_ylim(0, 1)
        ax.set_xlim(0, n_genes)


def draw_dendrogram(
    ax: Axes,
    info: Mapping[str, Any],
    *,
    orientation: str = "top",
    ticks: np.ndarray | None = None,
    remove_labels: bool = True,
) -> None:
    """Draw scipy's ``dendrogram`` output (as stored by ``tl.dendrogram``), leaves at ``ticks``."""
    leaves = [str(v) for v in info["ivl"]]
    old = np.arange(5, len(leaves) * 10 + 5, 10, dtype=float)
    new = old if ticks is None else np.asarray(ticks, dtype=float)
    for xs, ys in zip(
        np.asarray(info["icoord"], dtype=float), np.asarray(info["dcoord"], dtype=float), strict=True
    ):
        xs = np.interp(xs, old, new)
        if orientation in ("left", "right"):
            xs, ys = ys, xs
        ax.plot(xs, ys, color="#555555", lw=1)
    ax.tick_params(bottom=False, top=False, left=False, right=False)
    if orientation in ("left", "right"):
        ax.set_yticks(new, leaves, fontsize="small")
        ax.tick_params(labelbottom=False)
        if orientation == "left":
            ax.invert_xaxis()
            ax.tick_params(labelleft=False, labelright=True)
    else:
        ax.set_xticks(new, leaves, fontsize="small", rotation=90)
        ax.tick_params(labelleft=False)
        if orientation == "bottom":
            ax.invert_yaxis()
            ax.tick_params(labeltop=True, labelbottom=False)
    if remove_labels:
        ax.tick_params(labelbottom=False, labeltop=False, labelleft=False, labelright=False)
    for spine in ax.spines.values():
        spine.set_visible(False)


def group_bar(
    ax: Axes, counts: np.ndarray, colors: list[str], groups: list[str], *, vertical: bool
) -> np.ndarray:
    """A strip of group colours (one pixel per cell) labelled at each group's centre; returns the centres."""
    codes = np.repeat(np.arange(len(groups)), counts)
    rgba = mcolors.to_rgba_array(colors)[codes]
    ax.imshow(rgba[:, None] if vertical else rgba[None, :], aspect="auto", interpolation="nearest")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    centres = starts + counts / 2 - 0.5
    for spine in ax.spines.values():
        spine.set_visible(False)
    if vertical:
        ax.set_xticks([])
        ax.set_yticks(centres, groups, fontsize="small")
    else:
        ax.set_yticks([])
        long = max(len(g) for g in groups) * 0.08 > ax.figure.get_figwidth() / max(len(groups), 1)
        ax.set_xticks(centres, groups, fontsize="small", rotation=90 if long else 0)
    ax.tick_params(length=0)
    return centres


def colorbar_legend(
    fig: Figure,
    spec: SubplotSpec,
    norm: mcolors.Normalize,
    cmap: mcolors.Colormap,
    title: str | None,
) -> Axes:
    """A short horizontal colourbar near the top of the legend column."""
    cax = fig.add_subplot(spec.subgridspec(3, 1, height_ratios=[0.6, 0.22, 4])[1])
    draw_colorbar(fig, cax, norm, cmap, title)
    return cax


def draw_colorbar(
    fig: Figure, cax: Axes, norm: mcolors.Normalize, cmap: mcolors.Colormap, title: str | None
) -> None:
    """A horizontal colourbar of ``norm`` and ``cmap`` in ``cax``, with small ticks and ``title``."""
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), cax=cax, orientation="horizontal")
    if title:
        cax.set_title(title, fontsize="small")
    cax.tick_params(labelsize="small")


def draw_ranking(
    axes: Sequence[Axes], scores: np.ndarray, labels: Sequence[str], titles: list[str], *,
    n_points: int, include_lowest: bool,
) -> None:  # fmt: skip
    """scanpy's ``ranking``: labels written at their score, highest first (and the lowest last)."""
    text = {"rotation": "vertical", "va": "bottom", "ha": "center", "fontsize": 8}
    for ax, score, title in zip(axes, scores.T, titles, strict=True):
        order = np.argsort(score)[::-1]
        top = order[: n_points // 2] if include_lowest else order[:n_points]
        low = order[len(order) - (n_points - n_points // 2) :] if include_lowest else order[:0]
        for rank, g in enumerate(top):
            ax.text(rank, score[g], labels[g], **text)
        if include_lowest:
            gap = 2 if len(top) + len(low) < len(order) else 0
            if gap:
                ax.text(len(top), (score[top[-1]] + score[low[0]]) / 2, "⋮", **text)
            for rank, g in enumerate(low):
                ax.text(rank + len(top) + gap, score[g], labels[g], **text)
            ax.set_xticks([])
        shown = score[np.concatenate([top, low])]
        lo, hi = np.nanmin(shown), np.nanmax(shown)
        headroom = 0.25 * (hi - lo)  # the labels rise above their score
        ax.set_ylim((0.95 if lo > 0 else 1.05) * lo, (1.05 if hi > 0 else 0.95) * hi + headroom + 1e-12)
        ax.set_xlim(-0.9, n_points + 0.9 + include_lowest)
        ax.set_title(title)
        ax.set_xlabel("ranking")


def ranking_grid(
    n_rows: int, n_cols: int, scores: np.ndarray, labels: Sequence[str], titles: list[str], *,
    n_points: int, include_lowest: bool,
) -> tuple[Figure, list[Axes]]:  # fmt: skip
    """A new figure of ``n_rows`` × ``n_cols`` panels, :func:`draw_ranking` in the first ``len(titles)``.

    Panels are 3.8 × 3.6 inches; those left over are blank. Returns the figure and the drawn panels.
    """
    fig, grid = plt.subplots(
        n_rows, n_cols, figsize=(3.8 * n_cols, 3.6 * n_rows), layout="constrained", squeeze=False
    )
    axes = list(grid.ravel()[: len(titles)])
    draw_ranking(axes, scores, labels, titles, n_points=n_points, include_lowest=include_lowest)
    for ax in grid.ravel()[len(titles) :]:
        ax.set_axis_off()
    return fig, axes
