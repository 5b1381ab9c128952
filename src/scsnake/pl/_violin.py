"""Violin plots of obs columns or genes, optionally split by a categorical obs column."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import NonNegativeFloat, PositiveFloat, PositiveInt
from scipy.stats import gaussian_kde

from scsnake._matrix import get_obs_column
from scsnake.errors import ParamError

from ._figure import check_one_panel, one_axes, panels
from ._show_save import AxesOutputParams, plot_function, show_or_save
from ._style import category_colors, default_palette, get_values, use_raw_default

if TYPE_CHECKING:
    from anndata import AnnData
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["ViolinParams", "draw_violins", "violin", "violin_density"]

_WIDTH = 0.8  # widest violin, in units of the distance between violins
_N_GRID = 100  # density evaluation points per violin


class ViolinParams(AxesOutputParams):
    """Parameters of :func:`violin`."""

    keys: str | Sequence[str]
    """Numeric obs column(s) or gene(s)."""
    groupby: str | None = None
    """Categorical obs column: one violin per category in a panel per key."""
    log: bool = False
    """Logarithmic y axis."""
    use_raw: bool | None = None
    """Read genes from ``raw``; None uses ``raw`` when present and no ``layer`` is given."""
    stripplot: bool = True
    """Draw the cells as jittered points on top."""
    jitter: NonNegativeFloat | bool = True
    """Half-width of the jitter (True: 0.2); False or 0 puts points on the centre line."""
    size: PositiveFloat = 1.0
    """Point size of the strip plot."""
    layer: str | None = None
    """Read genes from this layer."""
    density_norm: Literal["width", "area", "count"] = "width"
    """Scale violins to equal width, equal area, or area proportional to the cell count."""
    order: Sequence[str] | None = None
    """Categories to show, in this order (default: all, in category order)."""
    palette: str | Sequence[str] | dict[str, str] | None = None
    """Colours of the groupby categories (stored in ``uns[f"{groupby}_colors"]``)."""
    xlabel: str = ""
    """x-axis label (default: ``groupby``)."""
    ylabel: str | Sequence[str] | None = None
    """y-axis label(s) (default: the key)."""
    rotation: float | None = None
    """Rotation of the x tick labels; None rotates long labels by 90°."""
    ncols: PositiveInt = 4
    """Panels per row (with ``groupby``)."""
    title: str | Sequence[str] | None = None
    """Panel title(s)."""
    multi_panel: bool | None = None
    """Without ``groupby``: one panel per key (each on its own scale) instead of one panel."""
    scale: Literal["width", "area", "count"] | None = None
    """scanpy's older name of ``density_norm``."""


@plot_function(ViolinParams)
def violin(
    adata: AnnData,
    keys: str | Sequence[str],
    groupby: str | None = None,
    *,
    log: bool = False,
    use_raw: bool | None = None,
    stripplot: bool = True,
    jitter: float | bool = True,
    size: float = 1.0,
    layer: str | None = None,
    density_norm: Literal["width", "area", "count"] = "width",
    order: Sequence[str] | None = None,
    palette: str | Sequence[str] | dict[str, str] | None = None,
    xlabel: str = "",
    ylabel: str | Sequence[str] | None = None,
    rotation: float | None = None,
    ncols: int = 4,
    title: str | Sequence[str] | None = None,
    multi_panel: bool | None = None,
    scale: Literal["width", "area", "count"] | None = None,
    show: bool | None = None,
    save: bool | str | None = None,
    return_fig: bool | None = False,
    dpi: int | None = None,
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes | list[Axes] | Figure | None:
    """Violin plot of values per key, or per category of ``groupby`` (one panel per key).

    Densities are Gaussian kernel estimates (Scott's bandwidth) cut at the data range,
    like scanpy's (seaborn's ``cut=0``); jitter is seeded, so plots are reproducible.

    Parameters
    ----------
    adata
        Annotated data matrix.
    keys
        Numeric obs column(s) or gene(s).
    groupby
        Categorical obs column.
    log, use_raw, stripplot, jitter, size, layer, density_norm, order, palette
        Values and drawing; see :class:`ViolinParams`.
    xlabel, ylabel, rotation, ncols, title, multi_panel, scale
        Labels and panel grid; ``scale`` is scanpy's older name of ``density_norm``.
    show, save, return_fig, dpi, ax
        scanpy's output keywords (:mod:`scsnake.pl._show_save`); ``save`` writes ``{figdir}/violin{save}``.
    **kwargs
        Passed to :meth:`matplotlib.axes.Axes.fill_betweenx`, which draws each violin.

    Returns
    -------
    With ``show=False`` the Axes (a list for several panels), with ``return_fig=True`` the
    Figure, else None. With ``groupby``, writes ``uns[f"{groupby}_colors"]`` when no valid
    colours are stored.
    """
    key_list = [keys] if isinstance(keys, str) else list(keys)
    if not key_list:
        msg = "violin: keys is empty; pass obs columns or genes"
        raise ParamError(msg)
    raw = use_raw_default(adata, use_raw, layer)
    values = {k: _numeric(adata, k, raw, layer) for k in key_list}
    jitter_width = 0.2 if jitter is True else float(jitter)
    rng = np.random.default_rng(0)
    if scale is not None:
        density_norm = scale
    if groupby is None and multi_panel and len(key_list) > 1:
        check_one_panel(ax, len(key_list), f"keys has {len(key_list)} entries", what="violin")
        fig, axes = panels(None, len(key_list), ncols, (2.2, 4))
        colors = default_palette(len(key_list)) if palette is None else _listed(palette, key_list)
        for key, color, panel_ax, panel_ylabel in zip(
            key_list, colors, axes, _many(ylabel, key_list, "ylabel"), strict=True
        ):
            draw_violins(
                panel_ax, [values[key]], [key], [color], density_norm=density_norm, strip=stripplot,
                jitter=jitter_width, size=size, rng=rng, **kwargs,
            )  # fmt: skip
            _labels(panel_ax, [key], rotation, xlabel, panel_ylabel, "", log)
        return show_or_save(
            fig, axes, writekey="violin", show=show, save=save, return_fig=return_fig, dpi=dpi
        )
    if groupby is None:
        fig, ax = one_axes(ax, (max(3.0, 1.0 + 1.1 * len(key_list)), 4))
        colors = default_palette(len(key_list)) if palette is None else _listed(palette, key_list)
        draw_violins(
            ax,
            [values[k] for k in key_list],
            key_list,
            colors,
            density_norm=density_norm,
            strip=stripplot,
            jitter=jitter_width,
            size=size,
            rng=rng,
            **kwargs,
        )
        _labels(ax, key_list, rotation, xlabel, _one(ylabel, ""), _one(title, ""), log)
        return show_or_save(fig, ax, writekey="violin", show=show, save=save, return_fig=return_fig, dpi=dpi)

    column = get_obs_column(adata, groupby, what="groupby")
    cats_all = [str(c) for c in column.astype("category").cat.categories]
    shown = cats_all if order is None else [str(c) for c in order]
    unknown = [c for c in shown if c not in cats_all]
    if unknown:
        msg = f"violin: order has categories not in obs[{groupby!r}]: {', '.join(map(repr, unknown))} (available: {', '.join(cats_all)})"
        raise ParamError(msg)
    colors_all = category_colors(adata, groupby, cats_all, palette)
    labels = np.asarray(column.astype(str).where(column.notna(), None), dtype=object)
    n = len(key_list)
    check_one_panel(ax, n, f"keys has {n} entries", what="violin")
    fig, axes = panels(ax, n, ncols, (max(3.0, 1.0 + 0.55 * len(shown)), 4))
    ylabels = _many(ylabel, key_list, "ylabel")
    titles = _many(title, [""] * n, "title")
    for key, panel_ax, panel_ylabel, panel_title in zip(key_list, axes, ylabels, titles, strict=True):
        groups = [values[key][labels == c] for c in shown]
        draw_violins(
            panel_ax,
            groups,
            shown,
            [colors_all[cats_all.index(c)] for c in shown],
            density_norm=density_norm,
            strip=stripplot,
            jitter=jitter_width,
            size=size,
            rng=rng,
            **kwargs,
        )
        _labels(panel_ax, shown, rotation, xlabel or groupby, panel_ylabel, panel_title, log)
    shown_axes = axes if len(axes) > 1 else axes[0]
    return show_or_save(
        fig, shown_axes, writekey="violin", show=show, save=save, return_fig=return_fig, dpi=dpi
    )


def _numeric(adata: AnnData, key: str, use_raw: bool, layer: str | None) -> np.ndarray:
    vals, categorical = get_values(adata, key, use_raw=use_raw, layer=layer)
    if categorical:
        msg = f"violin: obs[{key!r}] is categorical; violins need numbers (use it as groupby)"
        raise ParamError(msg)
    return np.asarray(vals, dtype=np.float64)


def _one(value: str | Sequence[str] | None, default: str) -> str:
    if value is None:
        return default
    return value if isinstance(value, str) else ", ".join(value)


def _many(value: str | Sequence[str] | None, defaults: list[str], what: str) -> list[str]:
    if value is None:
        return defaults
    if isinstance(value, str):
        return [value] * len(defaults)
    if len(value) != len(defaults):
        msg = f"violin: {what} has {len(value)} entries for {len(defaults)} panels"
        raise ParamError(msg)
    return list(value)


def _listed(palette: Any, names: list[str]) -> list[str]:
    if isinstance(palette, dict):
        return [palette.get(n, "grey") for n in names]
    if isinstance(palette, str):
        return [palette] * len(names)
    return [palette[i % len(palette)] for i in range(len(names))]


def violin_density(values: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(grid, density): Gaussian KDE (Scott's bandwidth) of the finite values on ``_N_GRID`` points
    over their range; None for fewer than two distinct values."""
    values = values[np.isfinite(values)]
    if values.size < 2 or np.ptp(values) == 0:
        return None
    grid = np.linspace(values.min(), values.max(), _N_GRID)
    return grid, gaussian_kde(values, bw_method="scott")(grid)


def draw_violins(
    ax: Axes,
    groups: list[np.ndarray],
    names: list[str],
    colors: list[str],
    *,
    density_norm: str,
    strip: bool,
    jitter: float,
    size: float,
    rng: np.random.Generator,
    **kwargs: Any,
) -> None:
    """One violin (plus jittered points) per group at x = 0, 1, …; ``kwargs`` go to ``fill_betweenx``."""
    shapes = []
    for vals in groups:
        vals = vals[np.isfinite(vals)]
        shapes.append((vals, *(violin_density(vals) or (None, None))))
    peak = [d.max() if d is not None else 0.0 for _, _, d in shapes]
    counts = [v.size for v, _, _ in shapes]
    for pos, ((vals, grid, density), color) in enumerate(zip(shapes, colors, strict=True)):
        if vals.size == 0:
            continue
        if density is None:  # one value (or one cell): a flat line
            ax.hlines(vals[0], pos - _WIDTH / 2, pos + _WIDTH / 2, color=color, lw=2)
        else:
            if density_norm == "width":
                half = density / density.max() * _WIDTH / 2
            elif density_norm == "area":
                half = density / max(peak) * _WIDTH / 2
            else:
                half = (
                    density * vals.size / max(p * c for p, c in zip(peak, counts, strict=True)) * _WIDTH / 2
                )
            style = {"facecolor": color, "edgecolor": "black", "lw": 0.6, "alpha": 0.9, **kwargs}
            ax.fill_betweenx(grid, pos - half, pos + half, **style)
        if strip:
            x = pos + (rng.uniform(-jitter, jitter, vals.size) if jitter > 0 else np.zeros(vals.size))
            ax.scatter(x, vals, s=size, c="black", linewidths=0, rasterized=True, zorder=3)
    ax.set_xticks(range(len(names)))
    ax.set_xlim(-0.6, len(names) - 0.4)


def _labels(
    ax: Axes, names: list[str], rotation: float | None, xlabel: str, ylabel: str, title: str, log: bool
) -> None:
    if rotation is None:  # rotate when the longest label is wider than its slot (~0.085 in per character)
        slot = ax.get_position().width * ax.figure.get_figwidth() / len(names)
        rotation = 90 if max(len(n) for n in names) * 0.085 > 0.9 * slot else 0
    ax.set_xticklabels(names, rotation=rotation, ha="center")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if log:
        ax.set_yscale("log")
