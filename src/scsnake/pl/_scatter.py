"""Scatter plot of two obs columns / genes (or var columns), and the most expressed genes as boxplots."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

import matplotlib as mpl
import numpy as np
from matplotlib import colors as mcolors
from pydantic import Field, PositiveFloat, PositiveInt
from pydantic.json_schema import SkipJsonSchema

from scsnake._matrix import close_matches, get_matrix, is_sparse
from scsnake.errors import MissingKeyError, ParamError

from ._embedding import embedding
from ._figure import check_one_panel, one_axes
from ._points import Coloring, LegendLoc, draw_points, panel_titles, point_panels, point_size
from ._show_save import AxesOutputParams, plot_function, show_or_save
from ._style import get_values, symbols_column, use_raw_default

if TYPE_CHECKING:
    from anndata import AnnData
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["HighestExprGenesParams", "ScatterParams", "highest_expr_genes", "scatter"]


class ScatterParams(AxesOutputParams):
    """Parameters of :func:`scatter`."""

    x: str | None = None
    """obs column or gene on the x axis (or a var column, with ``y`` and ``color`` too)."""
    y: str | None = None
    """obs column or gene on the y axis."""
    color: str | Sequence[str] | None = None
    """obs column(s), gene(s) or a colour; several give one panel each."""
    use_raw: bool | None = None
    """Read genes from ``raw``; None uses ``raw`` when present and no layer is given."""
    layers: str | Sequence[str] | None = None
    """Layer of all genes, or (x, y, color) layers."""
    sort_order: bool = True
    """Draw high values (and non-missing categories) on top."""
    alpha: Annotated[float, Field(ge=0, le=1)] | None = None
    """Point opacity."""
    basis: str | None = None
    """Plot this ``obsm`` embedding instead (as :func:`embedding`)."""
    groups: str | Sequence[str] | None = None
    """Categories to highlight; the others are grey."""
    components: str | None = None
    """Components of ``basis`` as ``"1,2"`` (1-based)."""
    legend_loc: LegendLoc | None = "right margin"
    """Category legend location."""
    legend_fontsize: float | str | None = None
    """Legend font size."""
    legend_fontweight: int | str | None = None
    """Weight of labels drawn on the data (default bold)."""
    legend_fontoutline: PositiveFloat | None = None
    """White outline of labels drawn on the data."""
    color_map: str | SkipJsonSchema[mcolors.Colormap] | None = None
    """Colormap of continuous values."""
    palette: str | Sequence[str] | dict[str, str] | None = None
    """Category colours (stored in ``uns[f"{key}_colors"]``)."""
    frameon: bool | None = None
    """Draw the axes frame (default True)."""
    size: PositiveFloat | None = None
    """Point size (default ``120000 / n_obs``, at most 200)."""
    marker: str = "."
    """Point marker."""
    title: str | Sequence[str] | None = None
    """Panel title(s)."""


@plot_function(ScatterParams)
def scatter(
    adata: AnnData,
    x: str | None = None,
    y: str | None = None,
    *,
    color: str | Sequence[str] | None = None,
    use_raw: bool | None = None,
    layers: str | Sequence[str] | None = None,
    sort_order: bool = True,
    alpha: float | None = None,
    basis: str | None = None,
    groups: str | Sequence[str] | None = None,
    components: str | None = None,
    legend_loc: LegendLoc | None = "right margin",
    legend_fontsize: float | str | None = None,
    legend_fontweight: int | str | None = None,
    legend_fontoutline: float | None = None,
    color_map: str | mcolors.Colormap | None = None,
    palette: str | Sequence[str] | dict[str, str] | None = None,
    frameon: bool | None = None,
    size: float | None = None,
    marker: str = ".",
    title: str | Sequence[str] | None = None,
    show: bool | None = None,
    save: bool | str | None = None,
    return_fig: bool | None = False,
    dpi: int | None = None,
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes | list[Axes] | Figure | None:
    """Cells at (``x``, ``y``), coloured by ``color`` (scanpy's ``pl.scatter``).

    ``x`` and ``y`` are obs columns or genes. When ``x``, ``y`` and ``color`` are all var
    columns, genes are plotted instead (e.g. ``means`` against ``dispersions``). With
    ``basis``, this is :func:`embedding`. Categorical colours use ``uns[f"{key}_colors"]``.

    Parameters
    ----------
    adata
        Annotated data matrix.
    x, y, color, use_raw, layers, sort_order, alpha, basis, groups, components
        What is plotted; see :class:`ScatterParams`.
    legend_loc, legend_fontsize, legend_fontweight, legend_fontoutline, color_map, palette
        Legend and colours.
    frameon, size, marker, title
        Look.
    show, save, dpi, ax
        Output: ``save`` writes ``.png``/``.pdf``/``.svg`` and closes the figure.

    Returns
    -------
    The :class:`~matplotlib.figure.Figure`. Writes ``uns[f"{key}_colors"]`` for categorical
    keys without valid stored colours.
    """
    layer_x, layer_y, layer_c = _layers(layers)
    groups = [groups] if isinstance(groups, str) else groups
    if basis is not None:
        if x is not None or y is not None:
            msg = f"scatter: pass x and y, or basis={basis!r}, not both"
            raise ParamError(msg)
        dims = (0, 1) if components is None else tuple(int(c) - 1 for c in components.split(","))
        return embedding(
            adata, basis, color=color, use_raw=use_raw, layer=layer_c, dimensions=dims, groups=groups,
            sort_order=sort_order, palette=palette, cmap=color_map, size=size, frameon=frameon,
            legend_loc=legend_loc, legend_fontsize=legend_fontsize, legend_fontweight=legend_fontweight or "bold",
            legend_fontoutline=legend_fontoutline, title=title, show=show, save=save, return_fig=return_fig,
            dpi=dpi, ax=ax, **kwargs,
        )  # fmt: skip
    if x is None or y is None:
        msg = "scatter: pass both x and y (obs columns or genes), or basis"
        raise ParamError(msg)
    keys: list[str | None] = [None] if color is None else [color] if isinstance(color, str) else list(color)
    on_var = all(k in adata.var.columns for k in (x, y, *[k for k in keys if k is not None]))
    on_var = on_var and x not in adata.obs.columns
    source = adata.T if on_var else adata
    raw = False if on_var else use_raw_default(adata, use_raw, layer_c if layers is not None else None)
    xy = np.column_stack(
        [
            _numeric(source, k, raw, layer, axis="var" if on_var else "obs")
            for k, layer in ((x, layer_x), (y, layer_y))
        ]
    )
    values = [
        (None, False) if k is None or (mcolors.is_color_like(k) and k not in source.obs.columns and not _is_gene(source, k, raw))
        else get_values(source, k, use_raw=raw, layer=layer_c)
        for k in keys
    ]  # fmt: skip
    check_one_panel(ax, len(keys), f"color has {len(keys)} keys")
    fig, axes = point_panels(ax, values, legend_loc=legend_loc)
    coloring = Coloring(
        palette=palette, groups=groups, na_color="lightgray", sort_order=sort_order, legend_loc=legend_loc,
        fontsize=legend_fontsize, fontweight=legend_fontweight or "bold", outline=legend_fontoutline, cmap=color_map,
    )  # fmt: skip
    style = {
        "s": point_size(source.n_obs, size),
        "linewidths": 0,
        "rasterized": True,
        "plotnonfinite": True,
        "marker": marker,
        "alpha": alpha,
        **kwargs,
    }
    for key, key_values, panel, panel_title in zip(
        keys, values, axes, panel_titles(title, keys), strict=True
    ):
        draw_points(fig, panel, source, key, key_values, xy, style, coloring, plain=key or "gray")
        panel.set_title("" if key is None or key_values[0] is None else panel_title)
        panel.set_xlabel(x)
        panel.set_ylabel(y)
        if frameon is False:
            panel.set_frame_on(False)
    if on_var:  # colours of var categories were stored on the transposed view
        adata.uns.update({k: v for k, v in source.uns.items() if k.endswith("_colors")})
    shown = axes if len(axes) > 1 else axes[0]
    return show_or_save(fig, shown, writekey="scatter", show=show, save=save, return_fig=return_fig, dpi=dpi)


def _layers(layers: str | Sequence[str] | None) -> tuple[str | None, str | None, str | None]:
    if layers is None or isinstance(layers, str):
        return layers, layers, layers
    if len(layers) != 3:
        msg = f"layers must be one layer name or three (x, y, color), got {list(layers)!r}"
        raise ParamError(msg)
    return tuple(layers)  # type: ignore[return-value]


def _is_gene(adata: AnnData, key: str, raw: bool) -> bool:
    return key in (adata.raw.var_names if raw else adata.var_names)


def _numeric(adata: AnnData, key: str, raw: bool, layer: str | None, *, axis: str) -> np.ndarray:
    if axis == "var" and key not in adata.obs.columns:
        msg = f"scatter: {key!r} is not a var column{close_matches(key, adata.obs.columns)}"
        raise MissingKeyError(msg)
    vals, categorical = get_values(adata, key, use_raw=raw, layer=layer)
    if categorical:
        msg = f"scatter: {key!r} is categorical; x and y need numbers (use it as color)"
        raise ParamError(msg)
    return np.asarray(vals, dtype=np.float64)


class HighestExprGenesParams(AxesOutputParams):
    """Parameters of :func:`highest_expr_genes`."""

    n_top: PositiveInt = 30
    """Number of genes shown."""
    layer: str | None = None
    """Counts layer (default ``X``)."""
    gene_symbols: str | None = None
    """var column with the names to show."""
    log: bool = False
    """Logarithmic x axis."""


@plot_function(HighestExprGenesParams)
def highest_expr_genes(
    adata: AnnData,
    n_top: int = 30,
    *,
    layer: str | None = None,
    gene_symbols: str | None = None,
    log: bool = False,
    show: bool | None = None,
    save: bool | str | None = None,
    return_fig: bool | None = False,
    dpi: int | None = None,
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes | Figure | None:
    """Boxplots of each cell's percentage of counts in the ``n_top`` genes with the highest mean percentage.

    As scanpy's: per cell, counts are scaled to sum to 100; genes are ranked by the mean
    over cells. Only the top genes' columns are densified.

    Parameters
    ----------
    adata
        Annotated data matrix of counts.
    n_top, layer, gene_symbols, log
        See :class:`HighestExprGenesParams`.
    show, save, dpi, ax
        Output: ``save`` writes ``.png``/``.pdf``/``.svg`` and closes the figure.

    Returns
    -------
    The :class:`~matplotlib.figure.Figure`; nothing in ``adata`` is changed.
    """
    x = get_matrix(adata, layer=layer)
    totals = np.asarray(x.sum(axis=1), dtype=np.float64).ravel()
    inverse = np.divide(100.0, totals, out=np.zeros_like(totals), where=totals > 0)
    mean_percent = np.asarray(x.T @ inverse, dtype=np.float64).ravel() / max(adata.n_obs, 1)
    top = np.argsort(mean_percent)[::-1][:n_top]
    columns = x[:, top]
    columns = columns.toarray() if is_sparse(columns) else np.asarray(columns)
    percent = columns.astype(np.float64) * inverse[:, None]
    if gene_symbols is None:
        names = adata.var_names[top].astype(str)
    else:
        names = symbols_column(adata.var, gene_symbols).iloc[top].astype(str)
    fig, ax = one_axes(ax, (5, len(top) * 0.2 + 1.5))
    color = mpl.rcParams["axes.prop_cycle"].by_key()["color"][0]
    ax.boxplot(
        percent, orientation="horizontal", tick_labels=list(names), patch_artist=True, widths=0.7,
        boxprops={"facecolor": color, "alpha": 0.8}, medianprops={"color": "black"},
        flierprops={"markersize": 1, "marker": "o", "markerfacecolor": "black"}, **kwargs,
    )  # fmt: skip
    ax.set_ylim(len(top) + 0.5, 0.5)  # highest on top
    ax.tick_params(axis="y", labelsize="small")
    ax.set_xlabel("% of total counts")
    if log:
        ax.set_xscale("log")
    return show_or_save(
        fig, ax, writekey="highest_expr_genes", show=show, save=save, return_fig=return_fig, dpi=dpi
    )
