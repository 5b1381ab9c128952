"""Trajectory plots: DPT's ordering and groups, PAGA next to the embedding, and genes along a PAGA path."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib import colors as mcolors
from matplotlib import pyplot as plt
from pydantic import PositiveInt
from pydantic.json_schema import SkipJsonSchema

from scsnake._matrix import get_matrix, is_sparse
from scsnake.errors import MissingKeyError, ParamError

from ._embedding import embedding
from ._graph_plots import paga
from ._show_save import OutputParams, plot_function, show_or_save
from ._style import as_colormap, category_colors, gene_columns, gene_index, use_raw_default

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = [
    "DptGroupsPseudotimeParams",
    "DptTimeseriesParams",
    "PagaCompareParams",
    "PagaPathParams",
    "dpt_groups_pseudotime",
    "dpt_timeseries",
    "paga_compare",
    "paga_path",
]


def _needs(adata: AnnData, obs: Sequence[str], uns: Sequence[str], fix: str) -> None:
    missing = [f"obs[{k!r}]" for k in obs if k not in adata.obs] + [
        f"uns[{k!r}]" for k in uns if k not in adata.uns
    ]
    if missing:
        msg = f"{', '.join(missing)} not found; {fix}"
        raise MissingKeyError(msg)


class DptTimeseriesParams(OutputParams):
    """Parameters of :func:`dpt_timeseries`."""

    color_map: str | SkipJsonSchema[mcolors.Colormap] | None = None
    """Colormap of the heatmap."""
    as_heatmap: bool = True
    """A heatmap (genes × cells in DPT order); False: each gene's values as points."""
    marker: str = "."
    """Marker of the points (``as_heatmap=False``)."""


@plot_function(DptTimeseriesParams)
def dpt_timeseries(
    adata: AnnData,
    *,
    color_map: str | mcolors.Colormap | None = None,
    as_heatmap: bool = True,
    marker: str = ".",
    show: bool | None = None,
    save: bool | str | None = None,
    return_fig: bool | None = False,
    dpi: int | None = None,
) -> Any:
    """Every gene in the cells' DPT order, with the branching points marked (scanpy's).

    Reads ``obs["dpt_order_indices"]`` and ``uns["dpt_changepoints"]`` (``tl.dpt`` with
    ``n_branchings > 0``) and ``X``.

    Parameters
    ----------
    adata
        Annotated data matrix after ``tl.dpt(n_branchings=...)``; best a few genes (HVGs).
    color_map, as_heatmap, marker
        See :class:`DptTimeseriesParams`.
    show, save, return_fig, dpi
        scanpy's output keywords (:mod:`scsnake.pl._show_save`).

    Returns
    -------
    With ``show=False`` the Axes, with ``return_fig=True`` the Figure, else None.
    """
    _needs(adata, ["dpt_order_indices"], ["dpt_changepoints"], "run tl.dpt with n_branchings >= 1 first")
    x = get_matrix(adata)[adata.obs["dpt_order_indices"].to_numpy()]
    x = np.asarray(x.toarray() if is_sparse(x) else x, dtype=np.float64)
    names = [str(n) for n in adata.var_names]
    changes = np.asarray(adata.uns["dpt_changepoints"])
    fig, ax = plt.subplots(figsize=(6, 8) if as_heatmap else (6, 4), layout="constrained")
    if as_heatmap:
        image = ax.imshow(x.T, aspect="auto", interpolation="nearest", cmap=as_colormap(color_map))
        fig.colorbar(image, ax=ax, shrink=0.5)
        ax.set_yticks(range(len(names)), names)
        ax.vlines(changes, -0.5, len(names) - 0.5, linestyles="--", color="black")
    else:
        for j, name in enumerate(names):
            ax.scatter(np.arange(x.shape[0]), x[:, j], marker=marker, s=8, label=name)
        ax.vlines(changes, *ax.get_ylim(), linestyles="--", color="black")
        ax.set_xlim(0, 1.3 * x.shape[0])
        ax.legend(fontsize="small", frameon=False)
    ax.set_xlabel("dpt order")
    return show_or_save(
        fig, ax, writekey="dpt_timeseries", show=show, save=save, return_fig=return_fig, dpi=dpi
    )


class DptGroupsPseudotimeParams(OutputParams):
    """Parameters of :func:`dpt_groups_pseudotime`."""

    color_map: str | SkipJsonSchema[mcolors.Colormap] | None = None
    """Colormap of the pseudotime."""
    palette: Sequence[str] | None = None
    """Colours of the DPT groups (default: ``uns["dpt_groups_colors"]`` or scanpy's)."""
    marker: str = "."
    """Point marker."""


@plot_function(DptGroupsPseudotimeParams)
def dpt_groups_pseudotime(
    adata: AnnData,
    *,
    color_map: str | mcolors.Colormap | None = None,
    palette: Sequence[str] | None = None,
    marker: str = ".",
    show: bool | None = None,
    save: bool | str | None = None,
    return_fig: bool | None = False,
    dpi: int | None = None,
) -> Any:
    """DPT groups (top) and pseudotime (bottom) of the cells in DPT order (scanpy's).

    Reads ``obs["dpt_groups"]``, ``obs["dpt_order"]``, ``obs["dpt_pseudotime"]`` and
    ``uns["dpt_changepoints"]``.

    Parameters
    ----------
    adata
        Annotated data matrix after ``tl.dpt(n_branchings=...)``.
    color_map, palette, marker
        See :class:`DptGroupsPseudotimeParams`.
    show, save, return_fig, dpi
        scanpy's output keywords (:mod:`scsnake.pl._show_save`).

    Returns
    -------
    With ``show=False`` the two Axes, with ``return_fig=True`` the Figure, else None.
    """
    keys = ["dpt_groups", "dpt_order", "dpt_pseudotime"]
    _needs(adata, keys, ["dpt_changepoints"], "run tl.dpt with n_branchings >= 1 first")
    groups = adata.obs["dpt_groups"].astype("category")
    cats = [str(c) for c in groups.cat.categories]
    colors = np.array(category_colors(adata, "dpt_groups", cats, palette))
    order = adata.obs["dpt_order"].to_numpy()
    time = adata.obs["dpt_pseudotime"].to_numpy(dtype=float)
    changes = np.asarray(adata.uns["dpt_changepoints"])
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6, 5), layout="constrained")
    codes = groups.cat.codes.to_numpy()
    for code, cat in enumerate(cats):
        mask = codes == code
        top.scatter(order[mask], codes[mask], c=colors[code], marker=marker, s=8, label=cat)
    top.set_ylabel("dpt groups")
    if len(cats) < 5:
        top.set_yticks(range(len(cats)))
    top.legend(fontsize="small", frameon=False, loc="center left", bbox_to_anchor=(1, 0.5))
    points = bottom.scatter(order, time, c=time, cmap=as_colormap(color_map), marker=marker, s=8)
    fig.colorbar(points, ax=bottom, fraction=0.05)
    bottom.set_ylabel("pseudotime")
    bottom.set_yticks([0, 1])
    bottom.set_xlabel("dpt order")
    for ax in (top, bottom):
        ax.vlines(changes, *ax.get_ylim(), linestyles="--", color="black", lw=0.8)
    return show_or_save(
        fig,
        [top, bottom],
        writekey="dpt_groups_pseudotime",
        show=show,
        save=save,
        return_fig=return_fig,
        dpi=dpi,
    )


class PagaCompareParams(OutputParams):
    """Parameters of :func:`paga_compare` (other keywords go to :func:`~scsnake.pl.paga`)."""

    basis: str | None = None
    """Embedding shown (default: the first of draw_graph_fa, umap, tsne, diffmap, pca present)."""
    color: str | None = None
    """Colour of the cells and nodes (default: the PAGA groups)."""
    components: str | None = None
    """Components of the embedding, ``"1,2"``."""
    legend_loc: str = "on data"
    """Legend of the embedding."""
    size: float | None = None
    """Point size of the embedding."""
    title: str | None = None
    """Title of the embedding panel."""
    title_graph: str | None = None
    """Title of the graph panel (default: ``title``)."""
    groups: Sequence[str] | None = None
    """Categories highlighted in the embedding."""
    color_map: str | SkipJsonSchema[mcolors.Colormap] | None = None
    """Colormap of a continuous ``color``."""
    pos: SkipJsonSchema[Any] = None
    """Node positions (default: each group's median in the embedding)."""


@plot_function(PagaCompareParams)
def paga_compare(
    adata: AnnData,
    basis: str | None = None,
    *,
    color: str | None = None,
    components: str | None = None,
    legend_loc: str = "on data",
    size: float | None = None,
    title: str | None = None,
    title_graph: str | None = None,
    groups: Sequence[str] | None = None,
    color_map: str | mcolors.Colormap | None = None,
    pos: Any = None,
    show: bool | None = None,
    save: bool | str | None = None,
    return_fig: bool | None = False,
    dpi: int | None = None,
    **paga_graph_params: Any,
) -> Any:
    """The embedding and the PAGA graph side by side, nodes at their groups' medians (scanpy's).

    Parameters
    ----------
    adata
        Annotated data matrix after ``tl.paga`` and an embedding.
    basis, color, components, legend_loc, size, title, title_graph, groups, color_map, pos
        See :class:`PagaCompareParams`.
    show, save, return_fig, dpi
        scanpy's output keywords (:mod:`scsnake.pl._show_save`).
    **paga_graph_params
        Passed to :func:`~scsnake.pl.paga` (``threshold``, ``node_size_scale`` …).

    Returns
    -------
    With ``show=False`` the two Axes, with ``return_fig=True`` the Figure, else None. Writes
    ``uns["paga"]["pos"]`` (as :func:`~scsnake.pl.paga`).
    """
    _needs(adata, [], ["paga"], "run tl.paga first")
    groups_key = str(adata.uns["paga"]["groups"])
    if basis is None:
        present = [b for b in ("draw_graph_fa", "umap", "tsne", "diffmap", "pca") if f"X_{b}" in adata.obsm]
        if not present:
            msg = "paga_compare: no embedding in obsm (X_umap, X_draw_graph_fa …); run tl.umap first"
            raise MissingKeyError(msg)
        basis = present[0]
    basis = basis.removeprefix("X_")
    color = color or groups_key
    dims = [0, 1] if components is None else [int(c) - 1 for c in components.split(",")]
    if pos is None:
        xy = np.asarray(adata.obsm[f"X_{basis}"])[:, dims]
        labels = adata.obs[groups_key].astype("category")
        pos = np.array([np.median(xy[(labels == c).to_numpy()], axis=0) for c in labels.cat.categories])
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 4.2), layout="constrained")
    embedding(
        adata, basis, color=color, dimensions=tuple(dims), legend_loc=legend_loc, size=size, title=title,
        groups=groups, cmap=color_map, frameon=False, ax=left, show=False,
    )  # fmt: skip
    paga_graph_params.setdefault("color", color)
    paga_graph_params.setdefault("cmap", color_map)
    paga(adata, pos=pos, title=title_graph or title, frameon=False, ax=right, show=False, **paga_graph_params)
    right.set_xlim(left.get_xlim())
    right.set_ylim(left.get_ylim())
    return show_or_save(
        fig, [left, right], writekey="paga_compare", show=show, save=save, return_fig=return_fig, dpi=dpi
    )


class PagaPathParams(OutputParams):
    """Parameters of :func:`paga_path`."""

    nodes: Sequence[str | int]
    """PAGA groups along the path, in order (names or indices)."""
    keys: Sequence[str]
    """Genes (or numeric obs columns) shown, a row each."""
    use_raw: bool = True
    """Read genes from ``raw`` when present."""
    annotations: Sequence[str] = ("dpt_pseudotime",)
    """Numeric obs columns shown as extra rows on top."""
    color_map: str | SkipJsonSchema[mcolors.Colormap] | None = None
    """Colormap of the genes."""
    n_avg: PositiveInt = 1
    """Running mean over this many cells."""
    groups_key: str | None = None
    """obs column of the nodes (default: PAGA's groups)."""
    normalize_to_zero_one: bool = False
    """Scale each row to 0–1."""
    as_heatmap: bool = True
    """A heatmap; False: lines."""
    return_data: bool = False
    """Return the values drawn (a DataFrame) too."""
    title: str | None = None
    """Figure title."""
    show_node_names: bool = True
    """Label the nodes under the plot."""
    ax: SkipJsonSchema[Any] = None
    """Draw into this Axes instead of a new figure."""


@plot_function(PagaPathParams)
def paga_path(
    adata: AnnData,
    nodes: Sequence[str | int],
    keys: Sequence[str],
    *,
    use_raw: bool = True,
    annotations: Sequence[str] = ("dpt_pseudotime",),
    color_map: str | mcolors.Colormap | None = None,
    n_avg: int = 1,
    groups_key: str | None = None,
    normalize_to_zero_one: bool = False,
    as_heatmap: bool = True,
    return_data: bool = False,
    title: str | None = None,
    show_node_names: bool = True,
    ax: Any = None,
    show: bool | None = None,
    save: bool | str | None = None,
    return_fig: bool | None = False,
    dpi: int | None = None,
) -> Any:
    """Genes along a path of PAGA groups: the cells of each node ordered by ``obs["dpt_pseudotime"]``.

    As scanpy's ``pl.paga_path``: cells of the nodes in turn, each node's cells by pseudotime,
    values smoothed over ``n_avg`` cells; one row per key, annotations on top.

    Parameters
    ----------
    adata
        Annotated data matrix after ``tl.paga`` and ``tl.dpt``.
    nodes, keys, use_raw, annotations, color_map, n_avg, groups_key, normalize_to_zero_one
        See :class:`PagaPathParams`.
    as_heatmap, return_data, title, show_node_names
        Look and what is returned.
    ax, show, save, return_fig, dpi
        scanpy's output keywords (:mod:`scsnake.pl._show_save`).

    Returns
    -------
    With ``show=False`` the Axes (and the values, a DataFrame, with ``return_data``), with
    ``return_fig=True`` the Figure, else None (or the values with ``return_data``).
    """
    import pandas as pd

    _needs(adata, ["dpt_pseudotime"], ["paga"], "run tl.paga and tl.dpt first")
    groups_key = groups_key or str(adata.uns["paga"]["groups"])
    labels = adata.obs[groups_key].astype("category")
    cats = [str(c) for c in labels.cat.categories]
    names = [cats[n] if isinstance(n, (int, np.integer)) else str(n) for n in nodes]
    unknown = [n for n in names if n not in cats]
    if unknown:
        msg = f"paga_path: nodes {unknown} are not groups of obs[{groups_key!r}] ({', '.join(cats)})"
        raise ParamError(msg)
    time = adata.obs["dpt_pseudotime"].to_numpy(dtype=float)
    text = labels.astype(str).to_numpy()
    cells = [np.flatnonzero(text == n)[np.argsort(time[text == n], kind="stable")] for n in names]
    order = np.concatenate(cells)
    raw = use_raw and use_raw_default(adata, None, None)
    genes = [k for k in keys if k not in adata.obs]
    values = {}
    if genes:
        columns = gene_columns(adata, gene_index(adata, genes, use_raw=raw), use_raw=raw, layer=None)[order]
        values.update(dict(zip(genes, columns.T, strict=True)))
    values.update({k: adata.obs[k].to_numpy(dtype=float)[order] for k in keys if k in adata.obs})
    rows = [*annotations, *keys]
    table = pd.DataFrame({**{a: adata.obs[a].to_numpy(dtype=float)[order] for a in annotations}, **values})[
        rows
    ]
    if n_avg > 1:
        table = table.rolling(n_avg, min_periods=1, center=True).mean()
    if normalize_to_zero_one:
        span = (table.max() - table.min()).replace(0, 1)
        table = (table - table.min()) / span
    if ax is None:
        size = (max(4.0, 0.02 * len(order) + 2), 0.35 * len(rows) + 1.2)
        fig, ax = plt.subplots(figsize=size, layout="constrained")
    else:
        fig = ax.figure
    if as_heatmap:
        image = ax.imshow(
            table.T.to_numpy(), aspect="auto", interpolation="nearest", cmap=as_colormap(color_map)
        )
        fig.colorbar(image, ax=ax, fraction=0.03)
        ax.set_yticks(range(len(rows)), rows)
    else:
        for row in rows:
            ax.plot(np.arange(len(order)), table[row].to_numpy(), label=row)
        ax.legend(fontsize="small", frameon=False, loc="center left", bbox_to_anchor=(1, 0.5))
    bounds = np.cumsum([len(c) for c in cells])
    ax.vlines(bounds[:-1] - 0.5, *ax.get_ylim(), color="black", lw=0.8)
    starts = np.concatenate([[0], bounds[:-1]])
    ax.set_xticks((starts + bounds) / 2 - 0.5, names if show_node_names else [""] * len(names))
    ax.set_xlabel(groups_key)
    if title is not None:
        ax.set_title(title)
    result = show_or_save(fig, ax, writekey="paga_path", show=show, save=save, return_fig=return_fig, dpi=dpi)
    if return_data:
        return table if result is None else (result, table)
    return result
