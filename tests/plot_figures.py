"""``scsnake.pl`` as the drawing tests call it: ``save=<path>`` writes that file, ``show=False`` gives the Figure.

The plots take scanpy's ``save`` (a suffix, written to ``settings.figdir``) and return Axes with
``show=False``; the tests of what is drawn want the Figure and a file of their own, so this
wraps each plot with ``return_fig=True`` (DotPlot & co. drawn with ``make_figure``). The
output keywords themselves are tested on ``scsnake.pl`` directly (tests/pl/test_show_save.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib import pyplot as plt

from scsnake import pl as _pl


def _figure(result: Any) -> Any:
    return result.make_figure() if hasattr(result, "make_figure") else result


def _wrap(func: Any) -> Any:
    def call(*args: Any, save: Any = None, show: Any = None, dpi: Any = None, **kwargs: Any) -> Any:
        if isinstance(save, Path):
            fig = _figure(func(*args, return_fig=True, **kwargs))
            save.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(save, dpi=dpi, bbox_inches="tight")
            plt.close(fig)
            return fig
        if show is False and "return_fig" not in kwargs:
            return _figure(func(*args, return_fig=True, dpi=dpi, **kwargs))
        return func(*args, save=save, show=show, dpi=dpi, **kwargs)

    call.__name__ = func.__name__
    return call


def __getattr__(name: str) -> Any:
    value = getattr(_pl, name)
    return _wrap(value) if callable(value) and not isinstance(value, type) else value
