"""scanpy's output keywords of every plot: ``show``, ``save``, ``return_fig`` and ``dpi``.

One place for what scanpy's ``_utils.savefig_or_show`` does and for what each plot
returns, so every plot function treats them alike:

- ``save=True`` or a suffix writes ``{figdir}/{writekey}{suffix}.{ext}`` (``figdir`` is
  ``ss.settings.figdir`` when scsnake has settings, else ``./figures``; the extension is
  taken from a suffix ending in ``.png``/``.pdf``/``.svg``, else ``file_format_figs``,
  default ``pdf``), then closes the figure;
- ``show`` (default: ``settings.autoshow``, else True) calls ``plt.show()``; the plot then
  returns None;
- ``show=False`` returns the Axes (a list for several panels, a dict for the grouped plots);
- ``return_fig=True`` returns the Figure (or the plot object: :class:`~scsnake.pl.DotPlot` …).
  Unlike scanpy, a ``save`` given with it is still written (scanpy ignores it).

To write a figure to a path of your own, take the figure and save it:
``ss.pl.umap(adata, color="leiden", return_fig=True).savefig("umap.png", bbox_inches="tight")``.
"""

from __future__ import annotations

import functools
import logging
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

    from matplotlib.figure import Figure

__all__ = [
    "SAVE_FORMATS",
    "AxesOutputParams",
    "OutputParams",
    "closes_figures_on_error",
    "figure_path",
    "plot_function",
    "show_or_save",
]

logger = logging.getLogger(__name__)

#: File suffixes ``save=`` recognises (scanpy's, in the order it tries them).
SAVE_FORMATS = (".svg", ".pdf", ".png")


class OutputParams(StageParams):
    """Where a plot goes: scanpy's output keywords, taken by every plot."""

    show: bool | None = None
    """Show the figure (``plt.show()``) and return None; default ``settings.autoshow`` (True)."""
    save: bool | str | SkipJsonSchema[Path] | None = None
    """True or a file name suffix: write ``{figdir}/{plot}{suffix}``; ``.png``/``.pdf``/``.svg`` sets the format."""
    return_fig: bool | None = False
    """Return the Figure (or the plot object) instead of the Axes."""
    dpi: PositiveInt | None = None
    """Resolution of the saved file (default ``rcParams["savefig.dpi"]``)."""


class AxesOutputParams(OutputParams):
    """:class:`OutputParams` of the plots that can draw into a given Axes."""

    ax: SkipJsonSchema[Any] = None
    """Draw into this Axes (a single panel) instead of a new figure."""


def closes_figures_on_error(func: Callable[..., Any]) -> Callable[..., Any]:
    """Close the figures ``func`` opened when it raises (no half-drawn figures left open)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        before = set(plt.get_fignums())
        try:
            return func(*args, **kwargs)
        except BaseException:
            for number in set(plt.get_fignums()) - before:
                plt.close(number)
            raise

    return wrapper


def plot_function(model: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A public plot: keywords checked against ``model`` (:func:`~scsnake._params.validated`),
    and the figures it opened closed when it raises (:func:`closes_figures_on_error`)."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        return validated(model)(closes_figures_on_error(func))

    return decorate


def _setting(name: str, default: Any) -> Any:
    """``ss.settings.<name>`` when scsnake has settings, else ``default``."""
    import scsnake

    value = getattr(getattr(scsnake, "settings", None), name, None)
    return default if value is None else value


def figure_path(writekey: str, save: bool | str) -> Path:
    """The file scanpy writes for ``save``: ``{figdir}/{writekey}{suffix}{plot_suffix}.{ext}``."""
    if isinstance(save, Path) or (isinstance(save, str) and ("/" in save or "\\" in save)):
        msg = (
            f"save={str(save)!r}: save takes True or a file name suffix, as in scanpy (written to "
            "settings.figdir); to write elsewhere use return_fig=True and "
            "fig.savefig(path, bbox_inches='tight')"
        )
        raise ParamError(msg)
    ext = None
    if isinstance(save, str):
        for suffix in SAVE_FORMATS:
            if save.endswith(suffix):
                ext, save = suffix[1:], save.removesuffix(suffix)
                break
        writekey += save
    ext = ext or str(_setting("file_format_figs", "pdf")).lstrip(".")
    return Path(_setting("figdir", "./figures")) / f"{writekey}{_setting('plot_suffix', '')}.{ext}"


def _interactive() -> bool:
    backend = mpl.get_backend().lower()
    return not any(name in backend for name in ("agg", "pdf", "svg", "ps", "cairo", "template"))


def show_or_save(
    fig: Figure,
    axes: Any,
    *,
    writekey: str,
    show: bool | None,
    save: bool | str | None,
    return_fig: bool | None,
    dpi: float | None = None,
    plot: Any = None,
) -> Any:
    """End a plot as scanpy does: save, show, and return ``axes``, ``fig`` (``plot``) or None.

    ``axes`` is what ``show=False`` returns. A figure shown on a non-interactive backend
    (Agg) is closed: nothing can display it and nothing refers to it any more.
    """
    save = _setting("autosave", False) if save is None else save
    if save:
        path = figure_path(writekey, save)
        path.parent.mkdir(parents=True, exist_ok=True)
        logger.info("saving figure to file %s", path)
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
    if return_fig:
        return fig if plot is None else plot
    show = bool(_setting("autoshow", True)) if show is None else show
    if show:
        plt.show()
    if save or (show and not _interactive()):
        plt.close(fig)
    return None if show else axes
