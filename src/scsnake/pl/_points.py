"""Points coloured by a key: category colours and legends, colour scales, and the panel grid.

Shared by :func:`~scsnake.pl.embedding` and :func:`~scsnake.pl.scatter`.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from matplotlib import colors as mcolors
from matplotlib import patheffects

from scsnake.errors import ParamError

from ._figure import panels
from ._style import as_colormap, category_colors

if TYPE_CHECKING:
    from anndata import AnnData
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["Coloring", "LegendLoc", "draw_points", "panel_titles", "point_panels", "point_size"]

LegendLoc = Literal[
    "right margin", "on data", "none", "best", "upper right", "upper left", "lower left",
    "lower right", "right", "center left", "center right", "lower center", "upper center", "center",
]  # fmt: skip
#: Panel size in inches; a right-margin legend or a colourbar widens a panel.
_PANEL = 4.0


@dataclass(frozen=True, kw_only=True)
class Coloring:
    """How points are coloured by a key: the colour and legend keywords of the point plots."""

    palette: Any
    groups: Sequence[str] | None
    na_color: str
    sort_order: bool
    legend_loc: str | None
    fontsize: Any
    fontweight: Any
    outline: float | None
    cmap: Any
    vmin: Any = None
    vmax: Any = None
    vcenter: float | None = None
    norm: Any = None


def point_size(n_obs: int, size: float | None) -> float:
    """``size``, or scanpy's default ``120000 / n_obs`` (at most 200)."""
    return min(120000 / max(n_obs, 1), 200.0) if size is None else size


def panel_titles(title: str | Sequence[str] | None, keys: list[str | None]) -> list[str]:
    """One title per key: ``title`` (one, or one per key), else the key."""
    if title is None:
        return ["" if k is None else k for k in keys]
    titles = [title] if isinstance(title, str) else list(title)
    if len(titles) != len(keys):
        msg = f"title has {len(titles)} entries but there are {len(keys)} panels"
        raise ParamError(msg)
    return titles


def point_panels(
    ax: Axes | None,
    values: list[tuple[Any, bool]],
    *,
    legend_loc: str | None,
    ncols: int = 4,
    wspace: float | None = None,
    hspace: float = 0.25,
) -> tuple[Figure, list[Axes]]:
    """A panel per key (``values`` as :func:`~scsnake.pl._style.get_values` gives them), widened
    for a right-margin legend or a colourbar; or just ``ax``."""
    legend = legend_loc == "right margin" and any(cat for _, cat in values)
    colorbar = any(not cat and v is not None for v, cat in values)
    width = _PANEL + (1.6 if legend else 0.7 if colorbar else 0.0)
    spacing = {"wspace": 0.02 if wspace is None else wspace, "hspace": hspace * 0.2}
    return panels(ax, len(values), ncols, (width, _PANEL), spacing=spacing)


def draw_points(
    fig: Figure,
    ax: Axes,
    adata: AnnData,
    key: str | None,
    values: tuple[Any, bool],
    xy: np.ndarray,
    style: dict,
    coloring: Coloring,
    *,
    plain: str,
) -> None:
    """Points at ``xy`` coloured by ``values`` of ``key``: categories with a legend, numbers with a
    colourbar, or all in the ``plain`` colour when there are no values."""
    vals, categorical = values
    if vals is None:
        ax.scatter(xy[:, 0], xy[:, 1], c=plain, **style)
    elif categorical:
        _categorical(ax, adata, str(key), vals, xy, style, coloring)
    else:
        _continuous(fig, ax, vals, xy, style, coloring)


def _categorical(
    ax: Axes, adata: AnnData, key: str, vals: pd.Categorical, xy: np.ndarray, style: dict, coloring: Coloring
) -> None:
    groups, na_color, legend_loc, fontsize = (
        coloring.groups,
        coloring.na_color,
        coloring.legend_loc,
        coloring.fontsize,
    )
    cats = [str(c) for c in vals.categories]
    colors = category_colors(adata, key, cats, coloring.palette)
    shown = cats if groups is None else [c for c in cats if c in set(map(str, groups))]
    if groups is not None and not shown:
        msg = f"groups={list(groups)!r}: none is a category of obs[{key!r}] (available: {', '.join(cats)})"
        raise ParamError(msg)
    shown_colors = [c if cat in shown else na_color for cat, c in zip(cats, colors, strict=True)]
    lookup = mcolors.to_rgba_array([*shown_colors, na_color])
    codes = np.asarray(vals.codes)
    point_colors = lookup[codes]  # code -1 (NaN) picks na_color
    missing = (codes < 0) | ~np.isin(codes, [cats.index(c) for c in shown])
    order = np.argsort(~missing, kind="stable") if coloring.sort_order else slice(None)
    ax.scatter(xy[order, 0], xy[order, 1], c=point_colors[order], **style)
    if legend_loc in (None, "none"):
        return
    if legend_loc == "on data":
        outline = coloring.outline
        effects = None if outline is None else [patheffects.withStroke(linewidth=outline, foreground="w")]
        frame = pd.DataFrame(xy, columns=["x", "y"])
        frame["cat"] = np.where(missing, None, vals.astype(object))
        for label, pos in frame.dropna().groupby("cat", sort=True)[["x", "y"]].median().iterrows():
            text = {"weight": coloring.fontweight, "fontsize": fontsize, "path_effects": effects}
            ax.text(pos["x"], pos["y"], str(label), ha="center", va="center", **text)
        return
    for cat in shown:
        ax.scatter([], [], c=colors[cats.index(cat)], label=cat, s=40)
    if (codes < 0).any():
        ax.scatter([], [], c=na_color, label="NA", s=40)
    n_entries = len(shown) + int((codes < 0).any())
    if legend_loc == "right margin":
        ax.legend(
            frameon=False,
            loc="center left",
            bbox_to_anchor=(1, 0.5),
            fontsize=fontsize,
            ncol=1 if n_entries <= 14 else 2 if n_entries <= 30 else 3,
            handletextpad=0.1,
        )
    else:
        ax.legend(loc=legend_loc, fontsize=fontsize)


def _limit(value: float | str | None, finite: np.ndarray) -> float | None:
    if value is None or not isinstance(value, str):
        return value
    try:
        q = float(value.removeprefix("p"))
    except ValueError:
        q = -1.0
    if not value.startswith("p") or not 0 <= q <= 100:
        msg = f"colour limit {value!r} must be a number or a percentile like 'p99'"
        raise ParamError(msg)
    return float(np.percentile(finite, q)) if finite.size else None


def _continuous(
    fig: Figure, ax: Axes, vals: np.ndarray, xy: np.ndarray, style: dict, coloring: Coloring
) -> None:
    finite = np.isfinite(vals)
    low, high = _limit(coloring.vmin, vals[finite]), _limit(coloring.vmax, vals[finite])
    if coloring.norm is not None:
        if any(v is not None for v in (coloring.vmin, coloring.vmax, coloring.vcenter)):
            msg = "pass norm or vmin/vmax/vcenter, not both"
            raise ParamError(msg)
        norm = copy.copy(coloring.norm)
    elif coloring.vcenter is not None:
        norm = mcolors.TwoSlopeNorm(coloring.vcenter, low, high)
    else:
        norm = mcolors.Normalize(low, high)
    colormap = as_colormap(coloring.cmap)
    if (~finite).any():
        ax.scatter(xy[~finite, 0], xy[~finite, 1], c=coloring.na_color, **style)
    idx = np.flatnonzero(finite)
    if coloring.sort_order:
        idx = idx[np.argsort(vals[idx], kind="stable")]
    points = ax.scatter(xy[idx, 0], xy[idx, 1], c=vals[idx], cmap=colormap, norm=norm, **style)
    fig.colorbar(points, ax=ax, fraction=0.05, pad=0.02, aspect=30)
