"""Figures of the plots: new figures of panels, or a given Axes (output keywords: ``_show_save``)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from matplotlib import pyplot as plt

from scsnake.errors import ParamError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["check_one_panel", "one_axes", "panels"]


def check_one_panel(ax: Axes | None, n: int, counted: str, *, what: str | None = None) -> None:
    """ParamError when ``ax`` is given but there are ``n > 1`` panels; ``counted`` says why (``"color has 2 keys"``)."""
    if ax is not None and n > 1:
        msg = f"{f'{what}: ' if what else ''}ax= draws one panel, but {counted}"
        raise ParamError(msg)


def panels(
    ax: Axes | None, n: int, ncols: int, size: tuple[float, float], *, spacing: dict[str, float] | None = None
) -> tuple[Figure, list[Axes]]:
    """``[ax]`` and its figure when ``ax`` is given, else a new constrained figure of ``n`` panels.

    Panels are ``size`` inches, ``ncols`` to a row; ``spacing`` sets the layout engine's
    ``wspace``/``hspace``.
    """
    if ax is not None:
        return ax.figure, [ax]
    n_cols = min(ncols, n)
    n_rows = math.ceil(n / n_cols)
    fig = plt.figure(figsize=(n_cols * size[0], n_rows * size[1]), layout="constrained")
    if spacing is not None:
        fig.get_layout_engine().set(**spacing)
    return fig, [fig.add_subplot(n_rows, n_cols, i + 1) for i in range(n)]


def one_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """``ax`` and its figure, or a new constrained figure of ``figsize`` with one Axes."""
    fig, (ax,) = panels(ax, 1, 1, figsize)
    return fig, ax
