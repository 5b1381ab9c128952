"""Graphs of groups: the PAGA graph (``uns["paga"]``) and a dendrogram (``uns["dendrogram_<key>"]``)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib import colors as mcolors
from matplotlib import patheffects
from matplotlib.collections import LineCollection
from pydantic import NonNegativeFloat, PositiveFloat
from pydantic.json_schema import SkipJsonSchema
from scipy import sparse

from scsnake._matrix import close_matches, get_obs_column
from scsnake._rng import as_seed
from scsnake.errors import InputDataError, MissingKeyError, ParamError

from ._decorations import draw_dendrogram
from ._figure import check_one_panel, one_axes, panels
from ._show_save import AxesOutputParams, plot_function, show_or_save
from ._style import get_values, stored_colors

if TYPE_CHECKING:
    from anndata import AnnData
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["DendrogramParams", "PagaParams", "dendrogram", "paga"]

Layout = Literal["fr", "drl", "kk", "circle", "rt", "rt_circular"]


class PagaParams(AxesOutputParams):
    """Parameters of :func:`paga`."""

    threshold: NonNegativeFloat | None = None
    """Edges with a smaller weight are not drawn (default 0.01)."""
    color: str | Sequence[str] | None = None
    """Node colour: the groups (default), a colour, a gene, or an obs column (categorical: pie charts)."""
    layout: Layout | None = None
    """igraph layout of the nodes (default ``"fr"``, Fruchterman–Reingold, as scanpy)."""
    init_pos: SkipJsonSchema[Any] = None
    """``(n_groups, 2)`` start positions of force-directed layouts."""
    root: int | str | Sequence[int] = 0
    """Root node(s) of the tree layouts ``"rt"`` / ``"rt_circular"``."""
    labels: str | Sequence[str] | None = None
    """Node labels (default: the group names)."""
    solid_edges: str = "connectivities"
    """``uns["paga"]`` key of the edges drawn solid; it also drives the layout."""
    dashed_edges: str | None = None
    """``uns["paga"]`` key of edges drawn dashed (e.g. ``"connectivities_tree"``)."""
    fontsize: PositiveFloat | None = None
    """Label size (default ``rcParams["legend.fontsize"]``)."""
    fontweight: str = "bold"
    """Label weight."""
    fontoutline: PositiveFloat | None = None
    """Width of a white outline around labels."""
    node_size_scale: PositiveFloat = 1.0
    """Scale of the node sizes."""
    node_size_power: NonNegativeFloat = 0.5
    """Node size grows as (group size / median) ** node_size_power."""
    edge_width_scale: PositiveFloat = 1.0
    """Scale of the edge widths (weight × 5 × rcParams["lines.linewidth"])."""
    min_edge_width: NonNegativeFloat | None = None
    """Thinnest edge drawn."""
    max_edge_width: PositiveFloat | None = None
    """Thickest edge drawn."""
    title: str | Sequence[str] | None = None
    """Panel title(s)."""
    random_state: int | None = 0
    """Seed of the layout (None: 0)."""
    pos: SkipJsonSchema[Any] = None
    """``(n_groups, 2)`` node positions to use instead of a layout."""
    cmap: str | SkipJsonSchema[mcolors.Colormap] | None = None
    """Colormap of continuous node colours."""
    frameon: bool | None = None
    """Draw the axes frame (default True)."""
    add_pos: bool = True
    """Store the positions in ``uns["paga"]["pos"]``."""
    use_raw: bool = True
    """Read gene colours from ``raw`` when present."""
    groups: str | Sequence[str] | None = None
    """scanpy's older name of ``labels``."""


@plot_function(PagaParams)
def paga(
    adata: AnnData,
    *,
    threshold: float | None = None,
    color: str | Sequence[str] | None = None,
    layout: Layout | None = None,
    init_pos: np.ndarray | None = None,
    root: int | str | Sequence[int] = 0,
    labels: str | Sequence[str] | None = None,
    solid_edges: str = "connectivities",
    dashed_edges: str | None = None,
    fontsize: float | None = None,
    fontweight: str = "bold",
    fontoutline: float | None = None,
    node_size_scale: float = 1.0,
    node_size_power: float = 0.5,
    edge_width_scale: float = 1.0,
    min_edge_width: float | None = None,
    max_edge_width: float | None = None,
    title: str | Sequence[str] | None = None,
    random_state: int | None = 0,
    pos: np.ndarray | None = None,
    cmap: str | mcolors.Colormap | None = None,
    frameon: bool | None = None,
    add_pos: bool = True,
    use_raw: bool = True,
    groups: str | Sequence[str] | None = None,
    show: bool | None = None,
    save: bool | str | None = None,
    return_fig: bool | None = False,
    dpi: int | None = None,
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes | list[Axes] | Figure | None:
    """The PAGA graph of ``tl.paga``: one node per group (area ~ its size), edges by connectivity.

    Positions come from igraph's layouts seeded exactly as scanpy seeds them, so the
    same ``uns["paga"]`` gives scanpy's positions.

    Parameters
    ----------
    adata
        Annotated data matrix with ``uns["paga"]`` (``connectivities``, ``groups``).
    threshold, color, layout, init_pos, root, labels, solid_edges, dashed_edges
        What is drawn and where; see :class:`PagaParams`.
    fontsize, fontweight, fontoutline, node_size_scale, node_size_power, edge_width_scale
        Labels, nodes and edges.
    min_edge_width, max_edge_width, title, random_state, pos, cmap, frameon, add_pos, use_raw
        Edge limits, layout seed and node colours.
    groups
        scanpy's older name of ``labels``.
    show, save, return_fig, dpi, ax
        scanpy's output keywords (:mod:`scsnake.pl._show_save`); ``save`` writes ``{figdir}/paga{save}``.
    **kwargs
        Passed to :meth:`matplotlib.axes.Axes.scatter` (the nodes).

    Returns
    -------
    With ``show=False`` the Axes (a list for several panels), with ``return_fig=True`` the
    Figure, else None. Writes ``uns["paga"]["pos"]`` (with ``add_pos``, not on a view)
    and ``uns[f"{groups}_colors"]`` when the groups have no valid stored colours.
    """
    entry = adata.uns.get("paga")
    if entry is None or "groups" not in entry:
        msg = "uns['paga'] not found (or has no 'groups'); run tl.paga first"
        raise MissingKeyError(msg)
    groups_key = str(entry["groups"])
    cats = [
        str(c)
        for c in get_obs_column(adata, groups_key, what="paga groups").astype("category").cat.categories
    ]
    solid = _adjacency(entry, solid_edges, threshold, len(cats))
    dashed = None if dashed_edges is None else _adjacency(entry, dashed_edges, threshold, len(cats))
    if groups is not None:
        if labels is not None:
            msg = "paga: pass labels or groups (its older name), not both"
            raise ParamError(msg)
        labels = groups
    node_labels = _node_labels(labels, groups_key, cats)
    if isinstance(root, str):
        if root not in node_labels:
            msg = f"root={root!r} is not a node label (labels: {', '.join(node_labels)})"
            raise ParamError(msg)
        root = node_labels.index(root)
    if pos is None:
        tree = entry.get("connectivities_tree") if layout in ("rt", "rt_circular") else None
        pos = _positions(solid, layout or "fr", as_seed(random_state), init_pos, tree, root)
    pos = np.asarray(pos, dtype=float)
    if pos.shape != (len(cats), 2):
        msg = (
            f"pos has shape {pos.shape}; expected ({len(cats)}, 2), one row per group of obs[{groups_key!r}]"
        )
        raise ParamError(msg)
    keys = [color] if color is None or isinstance(color, str) else list(color)
    titles = [title] * len(keys) if title is None or isinstance(title, str) else list(title)
    if len(titles) != len(keys):
        msg = f"title has {len(titles)} entries but there are {len(keys)} panels"
        raise ParamError(msg)
    check_one_panel(ax, len(keys), f"color has {len(keys)} keys")
    fig, axes = panels(ax, len(keys), len(keys), (4.6, 4))
    sizes = np.asarray(adata.uns.get(f"{groups_key}_sizes", np.ones(len(cats))), dtype=float)
    sizes = 2000 / (np.sqrt(len(cats)) + 10) * node_size_scale * (sizes / np.median(sizes)) ** node_size_power
    base_width = edge_width_scale * 5 * mpl.rcParams["lines.linewidth"]
    text = {
        "fontsize": fontsize or mpl.rcParams["legend.fontsize"],
        "fontweight": fontweight,
        "ha": "center",
        "va": "center",
    }
    if fontoutline is not None:
        text["path_effects"] = [patheffects.withStroke(linewidth=fontoutline, foreground="w")]
    for panel, key, panel_title in zip(axes, keys, titles, strict=True):
        if dashed is not None:
            _edges(
                panel,
                dashed,
                pos,
                base_width,
                None,
                max_edge_width,
                color="grey",
                linestyle="dashed",
                alpha=0.5,
            )
        _edges(panel, solid, pos, base_width, min_edge_width, max_edge_width, color="black")
        _nodes(fig, panel, adata, key, groups_key, cats, pos, sizes, cmap, use_raw, kwargs)
        for (x, y), label in zip(pos, node_labels, strict=True):
            panel.text(x, y, label, **text)
        panel.set_xticks([])
        panel.set_yticks([])
        panel.set_frame_on(frameon is not False)
        panel.margins(0.12)
        if panel_title is not None:
            panel.set_title(panel_title)
        elif len(keys) > 1 and key is not None:
            panel.set_title(key)
    if add_pos and not adata.is_view:  # storing into a view would copy it
        entry["pos"] = pos
    return show_or_save(
        fig,
        axes if len(axes) > 1 else axes[0],
        writekey="paga",
        show=show,
        save=save,
        return_fig=return_fig,
        dpi=dpi,
    )


def _adjacency(entry: Any, key: str, threshold: float | None, n: int) -> sparse.csr_matrix:
    if key not in entry:
        msg = f"uns['paga'][{key!r}] not found{close_matches(key, entry.keys())}; run tl.paga first"
        raise MissingKeyError(msg)
    adjacency = sparse.csr_matrix(entry[key], dtype=np.float64, copy=True)
    if adjacency.shape != (n, n):
        msg = f"uns['paga'][{key!r}] has shape {adjacency.shape}, but there are {n} groups; run tl.paga again"
        raise InputDataError(msg)
    threshold = 0.01 if threshold is None else threshold
    if threshold > 0:
        adjacency.data[adjacency.data < threshold] = 0
        adjacency.eliminate_zeros()
    return adjacency


def _node_labels(labels: str | Sequence[str] | None, groups_key: str, cats: list[str]) -> list[str]:
    if labels is None or labels == groups_key:
        return cats
    if isinstance(labels, str) or len(labels) != len(cats):
        msg = f"labels must be one label per group of obs[{groups_key!r}] ({len(cats)}), got {labels!r}"
        raise ParamError(msg)
    return [str(label) for label in labels]


def _positions(
    adjacency: sparse.csr_matrix, layout: str, seed: int, init_pos: Any, tree: Any, root: Any
) -> np.ndarray:
    """scanpy's ``_compute_pos`` for igraph layouts: same seeding, so the same positions."""
    from scsnake.tl._graph import igraph_from_adjacency  # lazy: tl pulls in umap

    rs = np.random.RandomState(seed)  # scanpy's legacy RandomState, for identical positions
    saved = random.getstate()  # igraph draws from Python's `random`; leave it as it was
    random.seed(rs.bytes(8))
    try:
        graph = igraph_from_adjacency(adjacency)
        if layout in ("rt", "rt_circular"):
            if tree is None:
                msg = f"layout={layout!r} needs uns['paga']['connectivities_tree']; run tl.paga first"
                raise MissingKeyError(msg)
            roots = list(root) if isinstance(root, Sequence) else [root]
            coords = igraph_from_adjacency(sparse.csr_matrix(tree)).layout(layout, root=roots).coords
        elif layout == "circle":
            coords = graph.layout(layout).coords
        else:
            if init_pos is None:
                start = rs.random_sample((adjacency.shape[0], 2)).tolist()
            else:
                start = np.array(init_pos, dtype=float) * [1, -1]
                start = start.tolist()
            weights = "weight" if graph.ecount() else None
            coords = graph.layout(layout, seed=start, weights=weights).coords
    finally:
        random.setstate(saved)
    pos = np.array([(x, -y) for x, y in coords], dtype=float).reshape(-1, 2)
    if len(pos) == 1:
        pos[0] = (0.5, 0.5)
    return pos


def _edges(
    ax: Axes, adjacency: sparse.csr_matrix, pos: np.ndarray, base: float, lo: Any, hi: Any, **style: Any
) -> None:
    upper = sparse.triu(adjacency, k=1).tocoo()
    widths = base * upper.data
    if lo is not None or hi is not None:
        widths = np.clip(widths, lo, hi)
    segments = np.stack([pos[upper.row], pos[upper.col]], axis=1)
    ax.add_collection(LineCollection(segments, linewidths=widths, zorder=1, **style))


def _nodes(
    fig: Figure, ax: Axes, adata: AnnData, key: str | None, groups_key: str, cats: list[str],
    pos: np.ndarray, sizes: np.ndarray, cmap: Any, use_raw: bool, kwargs: dict,
) -> None:  # fmt: skip
    style = {"s": sizes, "edgecolors": "face", "zorder": 2, **kwargs}
    if key is None or key == groups_key:
        ax.scatter(pos[:, 0], pos[:, 1], c=stored_colors(adata, groups_key, cats), **style)
        return
    if key not in adata.obs.columns and mcolors.is_color_like(key):
        ax.scatter(pos[:, 0], pos[:, 1], c=key, **style)
        return
    values, categorical = get_values(adata, key, use_raw=use_raw and adata.raw is not None, layer=None)
    groups = adata.obs[groups_key].astype(str).to_numpy()
    if not categorical:
        means = np.array([np.nanmean(values[groups == c]) if (groups == c).any() else np.nan for c in cats])
        points = ax.scatter(pos[:, 0], pos[:, 1], c=means, cmap=cmap, **style)
        fig.colorbar(points, ax=ax, fraction=0.05, pad=0.02)
        return
    other = [str(c) for c in values.categories]
    colors = stored_colors(adata, key, other)
    table = pd.crosstab(
        pd.Categorical(groups, categories=cats),
        pd.Categorical(np.asarray(values, dtype=str), categories=other),
        dropna=False,
    )
    fractions = table.to_numpy(dtype=float) / np.maximum(table.to_numpy().sum(1, keepdims=True), 1)
    for (x, y), row, size in zip(pos, fractions, sizes, strict=True):  # pie charts, as scanpy draws them
        start = 0.0
        for fraction, color in zip(row, colors, strict=True):
            if fraction <= 0:
                continue
            angles = np.linspace(2 * np.pi * start, 2 * np.pi * (start + fraction), 20)
            marker = np.column_stack([[0, *np.cos(angles)], [0, *np.sin(angles)]])
            ax.scatter([x], [y], marker=marker, s=np.abs(marker).max() ** 2 * size, color=color, zorder=2)
            start += fraction
    for cat, color in zip(other, colors, strict=True):
        ax.scatter([], [], c=color, label=cat, s=40)
    ax.legend(frameon=False, loc="center left", bbox_to_anchor=(1, 0.5), fontsize="small")


class DendrogramParams(AxesOutputParams):
    """Parameters of :func:`dendrogram`."""

    groupby: str
    """obs column the dendrogram was computed for."""
    dendrogram_key: str | None = None
    """uns key (default ``"dendrogram_<groupby>"``)."""
    orientation: Literal["top", "bottom", "left", "right"] = "top"
    """Where the root is drawn."""
    remove_labels: bool = False
    """Hide the group names."""


@plot_function(DendrogramParams)
def dendrogram(
    adata: AnnData,
    groupby: str,
    *,
    dendrogram_key: str | None = None,
    orientation: Literal["top", "bottom", "left", "right"] = "top",
    remove_labels: bool = False,
    show: bool | None = None,
    save: bool | str | None = None,
    return_fig: bool | None = False,
    dpi: int | None = None,
    ax: Axes | None = None,
) -> Axes | Figure | None:
    """The dendrogram of the groups computed by ``tl.dendrogram`` (``uns["dendrogram_<groupby>"]``).

    Parameters
    ----------
    adata
        Annotated data matrix.
    groupby
        obs column the dendrogram was computed for.
    dendrogram_key, orientation, remove_labels
        See :class:`DendrogramParams`.
    show, save, return_fig, dpi, ax
        scanpy's output keywords (:mod:`scsnake.pl._show_save`); ``save`` writes ``{figdir}/dendrogram{save}``.

    Returns
    -------
    With ``show=False`` the Axes, with ``return_fig=True`` the Figure, else None.
    """
    key = f"dendrogram_{groupby}" if dendrogram_key is None else dendrogram_key
    if key not in adata.uns:
        stored = [k for k in adata.uns if str(k).startswith("dendrogram")]
        msg = (
            f"uns[{key!r}] not found{close_matches(key, stored)}; run tl.dendrogram(adata, {groupby!r}) first"
        )
        raise MissingKeyError(msg)
    if "dendrogram_info" not in adata.uns[key]:
        msg = f"uns[{key!r}] holds no dendrogram (no 'dendrogram_info'); run tl.dendrogram again"
        raise InputDataError(msg)
    info = adata.uns[key]["dendrogram_info"]
    n = len(info["ivl"])
    long = max((len(str(v)) for v in info["ivl"]), default=1) * 0.08
    size = (
        (max(3.0, 0.35 * n + 1), 2.5 + long)
        if orientation in ("top", "bottom")
        else (2.5 + long, max(3.0, 0.3 * n + 1))
    )
    fig, ax = one_axes(ax, size)
    draw_dendrogram(ax, info, orientation=orientation, remove_labels=remove_labels)
    return show_or_save(fig, ax, writekey="dendrogram", show=show, save=save, return_fig=return_fig, dpi=dpi)
