"""Scatter plots of an embedding (``obsm``), coloured by obs columns or genes."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib import colors as mcolors
from pydantic import PositiveFloat, PositiveInt
from pydantic.json_schema import SkipJsonSchema

from scsnake._matrix import close_matches
from scsnake.errors import MissingKeyError, ParamError

from ._figure import check_one_panel
from ._points import Coloring, LegendLoc, draw_points, panel_titles, point_panels, point_size
from ._show_save import AxesOutputParams, plot_function, show_or_save
from ._style import get_values, symbols_column, use_raw_default

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
    gene_symbols: str | None = None
    """var column holding the gene names used in ``color`` (instead of ``var_names``)."""
    components: str | Sequence[int] | None = None
    """Components shown, 1-based, as ``"1,2"`` (scanpy's form of ``dimensions``)."""
    color_map: str | SkipJsonSchema[mcolors.Colormap] | None = None
    """Alias of ``cmap`` (scanpy has both)."""
    vcenter: float | None = None
    """Centre of a diverging colour scale."""
    norm: SkipJsonSchema[Any] = None
    """A matplotlib ``Normalize`` (instead of vmin/vmax/vcenter)."""
    add_outline: bool = False
    """Draw a thin black outline (and a white gap) around the points, as scanpy does."""
    outline_width: tuple[float, float] = (0.3, 0.05)
    """Width of the outline and of the gap, as fractions of the point size."""
    outline_color: tuple[str, str] = ("black", "white")
    """Colours of the outline and of the gap."""


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
    gene_symbols: str | None = None,
    components: str | Sequence[int] | None = None,
    color_map: str | mcolors.Colormap | None = None,
    vcenter: float | None = None,
    norm: mcolors.Normalize | None = None,
    add_outline: bool = False,
    outline_width: tuple[float, float] = (0.3, 0.05),
    outline_color: tuple[str, str] = ("black", "white"),
    show: bool | None = None,
    save: bool | str | None = None,
    return_fig: bool | None = False,
    dpi: int | None = None,
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes | list[Axes] | Figure | None:
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
    gene_symbols, components, color_map, vcenter, norm, add_outline, outline_width, outline_color
        scanpy's gene names, components (``"1,2"``), colormap alias, colour norm and point outline.
    show, save, return_fig, dpi, ax
        Output, as scanpy's (see :mod:`scsnake.pl._show_save`); ``save`` writes
        ``{figdir}/{basis}{save}``.
    **kwargs
        Passed to :meth:`matplotlib.axes.Axes.scatter`.

    Returns
    -------
    With ``show=False`` the Axes (a list for several panels), with ``return_fig=True`` the
    Figure, else None. Writes ``uns[f"{key}_colors"]`` for categorical keys without valid
    stored colours.
    """
    if color_map is not None:
        if cmap is not None:
            msg = "embedding: pass cmap or color_map, not both"
            raise ParamError(msg)
        cmap = color_map
    if components is not None:
        picked = components.split(",") if isinstance(components, str) else list(components)
        if len(picked) != 2:
            msg = f"components={components!r}: give two components, e.g. '1,2'"
            raise ParamError(msg)
        dimensions = (int(picked[0]) - 1, int(picked[1]) - 1)
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
    titles = panel_titles(title, keys)
    lookup = [None if k is None else _gene_name(adata, k, gene_symbols, raw) for k in keys]
    values = [(None, False) if k is None else get_values(adata, k, use_raw=raw, layer=layer) for k in lookup]
    fig, axes = point_panels(ax, values, legend_loc=legend_loc, ncols=ncols, wspace=wspace, hspace=hspace)
    xy = np.asarray(coords[:, list(dimensions)], dtype=np.float64)
    coloring = Coloring(
        palette=palette, groups=groups, na_color=na_color, sort_order=sort_order, legend_loc=legend_loc,
        fontsize=legend_fontsize, fontweight=legend_fontweight, outline=legend_fontoutline, cmap=cmap, vmin=vmin, vmax=vmax, vcenter=vcenter, norm=norm,
    )  # fmt: skip
    style = {"s": point_size(adata.n_obs, size), "linewidths": 0, "rasterized": True, "plotnonfinite": True}
    style.update(kwargs)
    name = basis.removeprefix("X_")
    name = _NAMES.get(
        name, name.removeprefix("draw_graph_").upper() if name.startswith("draw_graph_") else name
    )
    for key, key_values, panel_ax, panel_title in zip(lookup, values, axes, titles, strict=True):
        if add_outline:
            _outline(panel_ax, xy, style["s"], outline_width, outline_color)
        draw_points(fig, panel_ax, adata, key, key_values, xy, style, coloring, plain=na_color)
        panel_ax.set_title(panel_title)
        panel_ax.set_xticks([])
        panel_ax.set_yticks([])
        panel_ax.set_xlabel(f"{name}{dimensions[0] + 1}")
        panel_ax.set_ylabel(f"{name}{dimensions[1] + 1}")
        if frameon is False:
            panel_ax.set_frame_on(False)
    shown = axes if len(axes) > 1 else axes[0]
    return show_or_save(
        fig, shown, writekey=basis.removeprefix("X_"), show=show, save=save, return_fig=return_fig, dpi=dpi
    )


def _gene_name(adata: AnnData, key: str, gene_symbols: str | None, raw: bool) -> str:
    """``key``, or the var name whose ``gene_symbols`` entry it is."""
    if gene_symbols is None or key in adata.obs.columns:
        return key
    var = adata.raw.var if raw else adata.var
    matches = var.index[symbols_column(var, gene_symbols).astype(str) == key]
    return str(matches[0]) if len(matches) else key


def _outline(
    ax: Axes, xy: np.ndarray, size: float, width: tuple[float, float], color: tuple[str, str]
) -> None:
    """scanpy's ``add_outline``: a black ring, then a white gap, under the points."""
    point = np.sqrt(size)
    gap = (point + point * width[1] * 2) ** 2
    ring = (np.sqrt(gap) + point * width[0] * 2) ** 2
    for s, c in ((ring, color[0]), (gap, color[1])):
        ax.scatter(xy[:, 0], xy[:, 1], s=s, c=c, linewidths=0, rasterized=True)


def umap(adata: AnnData, **kwargs: Any) -> Any:
    """:func:`embedding` of ``obsm["X_umap"]``; keywords as for :func:`embedding`."""
    return embedding(adata, "umap", **kwargs)


def pca(adata: AnnData, **kwargs: Any) -> Any:
    """:func:`embedding` of ``obsm["X_pca"]`` (PC1 against PC2 by default)."""
    return embedding(adata, "pca", **kwargs)


def tsne(adata: AnnData, **kwargs: Any) -> Any:
    """:func:`embedding` of ``obsm["X_tsne"]``."""
    return embedding(adata, "tsne", **kwargs)


def diffmap(adata: AnnData, **kwargs: Any) -> Any:
    """:func:`embedding` of ``obsm["X_diffmap"]`` (DC1 against DC2 by default, as scanpy)."""
    return embedding(adata, "diffmap", **kwargs)


def draw_graph(adata: AnnData, *, layout: str | None = None, **kwargs: Any) -> Any:
    """:func:`embedding` of ``obsm[f"X_draw_graph_{layout}"]``; ``layout`` defaults to ``tl.draw_graph``'s."""
    if layout is None:
        params = adata.uns.get("draw_graph", {}).get("params", {})
        layout = str(params.get("layout", "fa"))
    if f"X_draw_graph_{layout}" not in adata.obsm:
        msg = f"obsm['X_draw_graph_{layout}'] not found{close_matches(f'X_draw_graph_{layout}', adata.obsm.keys())}; run tl.draw_graph(adata, layout={layout!r}) first"
        raise MissingKeyError(msg)
    return embedding(adata, f"draw_graph_{layout}", **kwargs)


def _wrapper_signature(extra: tuple[inspect.Parameter, ...] = ()) -> inspect.Signature:
    """:func:`embedding`'s signature without ``basis`` (plus ``extra``): what the wrappers take."""
    params = [p for name, p in inspect.signature(embedding).parameters.items() if name != "basis"]
    keyword = [p for p in params if p.kind is p.KEYWORD_ONLY]
    rest = [p for p in params if p.kind is not p.KEYWORD_ONLY]
    return inspect.Signature([rest[0], *extra, *keyword, *rest[1:]])


for _wrapper in (umap, pca, tsne, diffmap):
    _wrapper.__signature__ = _wrapper_signature()  # type: ignore[attr-defined]
draw_graph.__signature__ = _wrapper_signature(  # type: ignore[attr-defined]
    (inspect.Parameter("layout", inspect.Parameter.KEYWORD_ONLY, default=None, annotation="str | None"),)
)


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
