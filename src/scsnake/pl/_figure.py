"""Figures of the plots: output keywords, new figures or a given Axes, and saving or showing."""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib as mpl
from matplotlib import pyplot as plt
from pydantic import PositiveInt
from pydantic.json_schema import SkipJsonSchema

from scsnake._params import StageParams, validated
from scsnake.errors import ParamError

if TYPE_CHECKING:
    from collections.abc import Callable

    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "SAVE_FORMATS",
    "AxesOutputParams",
    "OutputParams",
    "check_one_panel",
    "closes_figures_on_error",
    "finish",
    "one_axes",
    "panels",
    "plot_function",
]

#: File suffixes ``save=`` understands.
SAVE_FORMATS = (".png", ".pdf", ".svg")


class OutputParams(StageParams):
    """Where a plot goes: the keywords every plot takes."""

    show: bool | None = None
    """Show the figure; None shows it on interactive backends unless it is saved."""
    save: str | Path | None = None
    """Write the figure here (``.png``, ``.pdf`` or ``.svg``) and close it."""
    dpi: PositiveInt | None = None
    """Resolution of the saved file (default ``rcParams["savefig.dpi"]``)."""


class AxesOutputParams(OutputParams):
    """:class:`OutputParams` of the plots that can draw into a given Axes."""

    ax: SkipJsonSchema[Any] = None
    """Draw into this Axes (a single panel) instead of a new figure."""


def closes_figures_on_error(func: Callable[..., Figure]) -> Callable[..., Figure]:
    """Close the figures ``func`` opened when it raises (no half-drawn figures left open)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Figure:
        before = set(plt.get_fignums())
        try:
            return func(*args, **kwargs)
        except BaseException:
            for number in set(plt.get_fignums()) - before:
                plt.close(number)
            raise

    return wrapper


def plot_function(model: Any) -> Callable[[Callable[..., Figure]], Callable[..., Figure]]:
    """A public plot: keywords checked against ``model`` (:func:`~scsnake._params.validated`),
    and the figures it opened closed when it raises (:func:`closes_figures_on_error`)."""

    def decorate(func: Callable[..., Figure]) -> Callable[..., Figure]:
        return validated(model)(closes_figures_on_error(func))

    return decorate


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


def _interactive() -> bool:
    backend = mpl.get_backend().lower()
    return not any(name in backend for name in ("agg", "pdf", "svg", "ps", "cairo", "template"))


def finish(fig: Figure, *, save: str | Path | None, show: bool | None, dpi: float | None) -> Figure:
    """Save (``.png``, ``.pdf`` or ``.svg`` by suffix) and close, or show; return ``fig``."""
    if save is not None:
        path = Path(save)
        if path.suffix.lower() not in SAVE_FORMATS:
            plt.close(fig)
            msg = f"save={str(save)!r}: the file name must end in {', '.join(SAVE_FORMATS)}"
            raise ParamError(msg)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
        plt.close(fig)
    elif show or (show is None and _interactive()):
        plt.show()
    return fig
