"""Scatter plots of an embedding (``obsm``), coloured by obs columns or genes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib import colors as mcolors
from pydantic import PositiveFloat, PositiveInt
from pydantic.json_schema import SkipJsonSchema

from scsnake._matrix import close_matches
from scsnake.errors import MissingKeyError, ParamError

from ._figure import AxesOutputParams, check_one_panel, finish, plot_function
from ._points import Coloring, LegendLoc, draw_points, panel_titles, point_panels, point_size
from ._style import get_values, use_raw_default

if TYPE_CHECKING:
    from anndata import AnnData
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["EmbeddingParams", "diffmap", "draw_graph", "embedding", "pca", "tsne", "umap"]

_NAMES = {"umap": "UMAP", "pca": "PC", "tsne": "tSNE", "diffmap": "DC"}


class EmbeddingParams(AxesOutputParams):
    """Parameters of :func:`embedding` (and of the ``umap`` / ``pca`` wrappers)."""

    basis: str
    """``obsm`` key, with or without the ``X_`` prefix (``"umap"`` reads ``obsm["X_umap"]``)."""
    color: str | Sequence[str] | None = None
    """obs column(s) or gene(s); several give a grid of panels."""
    use_raw: bool | None = None
    """Read genes from ``raw``; None uses ``raw`` when present and no ``layer`` is given."""
    layer: str | None = None
    """Read genes from this layer."""
    dimensions: tuple[int, int] = (0, 1)
    """Components shown on x and y (0-based)."""
    groups: Sequence[str] | None = None
    """Categories to highlight; the others are drawn in ``na_color`` and left out of the legend."""
    sort_order: bool = True
    """Draw high values (and non-missing categories) on top."""
    palette: str | Sequence[str] | dict[str, str] | None = None
    """Category colours: a colormap name, a list or a dict; stored in ``uns[f"{key}_colors"]``."""
    cmap: str | SkipJsonSchema[mcolors.Colormap] | None = None
    """Colormap of continuous values (default ``rcParams["image.cmap"]``)."""
    na_color: str = "lightgray"
    """Colour of missing values."""
    size: PositiveFloat | None = None
    """Point size; default ``120000 / n_obs`` (scanpy's), at most 200."""
    frameon: bool | None = None
    """Draw the axes frame (default True)."""
    legend_loc: LegendLoc | None = "right margin"
    """Category legend: ``"right margin"``, ``"on data"``, ``"none"`` or a matplotlib location."""
    legend_fontsize: float | str | None = None
    """Legend font size (points or a name like ``"small"``)."""
    legend_fontweight: int | str = "bold"
    """Font weight of labels drawn on the data."""
    legend_fontoutline: PositiveFloat | None = None
    """Width of a white outline around labels drawn on the data."""
    vmin: float | str | None = None
    """Lower colour limit: a number or a percentile like ``"p1"``."""
    vmax: float | str | None = None
    """Upper colour limit: a number or a percentile like ``"p99"``."""
    ncols: PositiveInt = 4
    """Panels per row."""
    wspace: float | None = None
    """Horizontal space between panels (fraction of a panel)."""
    hspace: float = 0.25
    """Vertical space between panels (fraction of a panel)."""
    title: str | Sequence[str] | None = None
    """Panel title(s); default the key."""


@plot_function(EmbeddingParams)
def embedding(
    adata: AnnData,
    basis: str,
    *,
    color: str | Sequence[str] | None = None,
    use_raw: bool | None = None,
    layer: str | None = None,
    dimensions: tuple[int, int] = (0, 1),
    groups: Sequence[str] | None = None,
    sort_order: bool = True,
    palette: str | Sequence[str] | dict[str, str] | None = None,
    cmap: str | mcolors.Colormap | None = None,
    na_color: str = "lightgray",
    size: float | None = None,
    frameon: bool | None = None,
    legend_loc: LegendLoc | None = "right margin",
    legend_fontsize: float | str | None = None,
    legend_fontweight: int | str = "bold",
    legend_fontoutline: float | None = None,
    vmin: float | str | None = None,
    vmax: float | str | None = None,
    ncols: int = 4,
    wspace: float | None = None,
    hspace: float = 0.25,
    title: str | Sequence[str] | None = None,
    show: bool | None = None,
    save: str | Path | None = None,
    dpi: int | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Scatter plot of an embedding, one panel per ``color`` key.

    Categorical keys use the colours in ``uns[f"{key}_colors"]`` when valid, else scanpy's
    default palettes (stored there, so every plot of the key agrees); continuous keys get
    a colourbar; missing values are drawn in ``na_color`` underneath.

    Parameters
    ----------
    adata
        Annotated data matrix.
    basis
        ``obsm`` key (``"umap"``, ``"X_pca"`` …).
    color, use_raw, layer, dimensions, groups, sort_order, palette, cmap, na_color, size, frameon
        What to colour by and how; see :class:`EmbeddingParams`.
    legend_loc, legend_fontsize, legend_fontweight, legend_fontoutline, vmin, vmax
        Legend and colour scale.
    ncols, wspace, hspace, title
        Panel grid and titles.
    show, save, dpi, ax
        Output: ``save`` writes ``.png``/``.pdf``/``.svg`` and closes the figure.

    Returns
    -------
    The :class:`~matplotlib.figure.Figure` (always; with ``ax`` the Axes' figure). Writes
    ``uns[f"{key}_colors"]`` for categorical keys without valid stored colours.
    """
    coords = _basis(adata, basis)
    if max(dimensions) >= coords.shape[1] or min(dimensions) < 0:
        msg = f"dimensions={tuple(dimensions)} out of range: obsm[{basis!r}] has {coords.shape[1]} components"
        raise ParamError(msg)
    keys: list[str | None] = [None] if color is None else [color] if isinstance(color, str) else list(color)
    if not keys:
        msg = "color is an empty list; pass an obs column or gene, or None"
        raise ParamError(msg)
    check_one_panel(ax, len(keys), f"color has {len(keys)} keys")
    raw = use_raw_default(adata, use_raw, layer)
    values = [(None, False) if k is None else get_values(adata, k, use_raw=raw, layer=layer) for k in keys]
    titles = panel_titles(title, keys)
    fig, axes = point_panels(ax, values, legend_loc=legend_loc, ncols=ncols, wspace=wspace, hspace=hspace)
    xy = np.asarray(coords[:, list(dimensions)], dtype=np.float64)
    coloring = Coloring(
        palette=palette, groups=groups, na_color=na_color, sort_order=sort_order, legend_loc=legend_loc,
        fontsize=legend_fontsize, fontweight=legend_fontweight, outline=legend_fontoutline, cmap=cmap, vmin=vmin, vmax=vmax,
    )  # fmt: skip
    style = {"s": point_size(adata.n_obs, size), "linewidths": 0, "rasterized": True, "plotnonfinite": True}
    name = basis.removeprefix("X_")
    name = _NAMES.get(
        name, name.removeprefix("draw_graph_").upper() if name.startswith("draw_graph_") else name
    )
    for key, key_values, panel_ax, panel_title in zip(keys, values, axes, titles, strict=True):
        draw_points(fig, panel_ax, adata, key, key_values, xy, style, coloring, plain=na_color)
        panel_ax.set_title(panel_title)
        panel_ax.set_xticks([])
        panel_ax.set_yticks([])
        panel_ax.set_xlabel(f"{name}{dimensions[0] + 1}")
        panel_ax.set_ylabel(f"{name}{dimensions[1] + 1}")
        if frameon is False:
            panel_ax.set_frame_on(False)
    return finish(fig, save=save, show=show, dpi=dpi)


def umap(adata: AnnData, **kwargs: Any) -> Figure:
    """:func:`embedding` of ``obsm["X_umap"]``; keywords as for :func:`embedding`."""
    return embedding(adata, "umap", **kwargs)


def pca(adata: AnnData, **kwargs: Any) -> Figure:
    """:func:`embedding` of ``obsm["X_pca"]`` (PC1 against PC2 by default)."""
    return embedding(adata, "pca", **kwargs)


def tsne(adata: AnnData, **kwargs: Any) -> Figure:
    """:func:`embedding` of ``obsm["X_tsne"]``."""
    return embedding(adata, "tsne", **kwargs)


def diffmap(adata: AnnData, **kwargs: Any) -> Figure:
    """:func:`embedding` of ``obsm["X_diffmap"]`` (DC1 against DC2 by default, as scanpy)."""
    return embedding(adata, "diffmap", **kwargs)


def draw_graph(adata: AnnData, *, layout: str | None = None, **kwargs: Any) -> Figure:
    """:func:`embedding` of ``obsm[f"X_draw_graph_{layout}"]``; ``layout`` defaults to ``tl.draw_graph``'s."""
    if layout is None:
        params = adata.uns.get("draw_graph", {}).get("params", {})
        layout = str(params.get("layout", "fa"))
    if f"X_draw_graph_{layout}" not in adata.obsm:
        msg = f"obsm['X_draw_graph_{layout}'] not found{close_matches(f'X_draw_graph_{layout}', adata.obsm.keys())}; run tl.draw_graph(adata, layout={layout!r}) first"
        raise MissingKeyError(msg)
    return embedding(adata, f"draw_graph_{layout}", **kwargs)


def _basis(adata: AnnData, basis: str) -> np.ndarray:
    for key in (basis, f"X_{basis}"):
        if key in adata.obsm:
            return np.asarray(adata.obsm[key])
    hint = {
        "umap": "; run tl.umap first",
        "pca": "; run pp.pca first",
        "tsne": "; run tl.tsne first",
        "diffmap": "; run tl.diffmap first",
    }.get(basis.removeprefix("X_"), "")
    msg = f"basis {basis!r}: neither obsm[{basis!r}] nor obsm['X_{basis}'] exists{close_matches(basis, adata.obsm.keys())}{hint}"
    raise MissingKeyError(msg)
