"""scanpy's ``BasePlot``: the chained API of DotPlot, MatrixPlot and StackedViolin.

``plot = DotPlot(adata, genes, "leiden").style(cmap="Blues").legend(width=2).add_dendrogram()``
collects the settings; ``make_figure()`` draws once, ``show()`` / ``savefig()`` / ``get_axes()``
draw when needed. Subclasses draw the main panel (``_mainplot``) and the legend (``_plot_legend``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib import pyplot as plt

from scsnake.errors import ParamError

from ._decorations import decorate, summary_frame
from ._grouped import group_colors, prepare
from ._show_save import show_or_save

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from anndata import AnnData
    from matplotlib.axes import Axes
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure
    from matplotlib.gridspec import SubplotSpec

__all__ = ["BasePlot", "finish_plot"]


class BasePlot:
    """Genes by groups, drawn on demand (scanpy's ``BasePlot``); see the subclasses."""

    DEFAULT_SAVE_PREFIX = "baseplot_"
    DEFAULT_LEGENDS_WIDTH = 1.5
    DEFAULT_COLOR_LEGEND_TITLE = "Expression\nlevel in group"
    #: Inches per column and row, label padding and least height of the main panel.
    CELL: tuple[float, float] = (0.35, 0.35)
    PAD: tuple[float, float] = (1.0, 0.8)
    MIN_HEIGHT = 2.6

    def __init__(
        self,
        adata: AnnData,
        var_names: str | Sequence[str] | Mapping[str, str | Sequence[str]],
        groupby: str | Sequence[str],
        *,
        use_raw: bool | None = None,
        log: bool = False,
        num_categories: int = 7,
        categories_order: Sequence[str] | None = None,
        title: str | None = None,
        figsize: tuple[float, float] | None = None,
        gene_symbols: str | None = None,
        var_group_positions: Sequence[tuple[int, int]] | None = None,
        var_group_labels: Sequence[str] | None = None,
        var_group_rotation: float | None = None,
        layer: str | None = None,
        ax: Axes | None = None,
        vmin: float | None = None,
        vmax: float | None = None,
        vcenter: float | None = None,
        norm: Normalize | None = None,
        **kwds: Any,
    ) -> None:
        self.adata = adata
        self._prepare = {
            "var_names": var_names, "groupby": groupby, "use_raw": use_raw, "layer": layer, "log": log,
            "num_categories": num_categories, "categories_order": categories_order, "gene_symbols": gene_symbols,
            "var_group_positions": var_group_positions, "var_group_labels": var_group_labels,
        }  # fmt: skip
        self.grouped = prepare(adata, what=self.DEFAULT_SAVE_PREFIX.rstrip("_"), **self._prepare)
        self.title, self.figsize, self.ax = title, figsize, ax
        self.var_group_rotation = var_group_rotation
        self.vboundnorm = {"vmin": vmin, "vmax": vmax, "vcenter": vcenter, "norm": norm}
        self.kwds = kwds
        self.are_axes_swapped = False
        self.legends_width = self.DEFAULT_LEGENDS_WIDTH
        self.legend_title = self.DEFAULT_COLOR_LEGEND_TITLE
        self.show_legend = True
        self.totals: dict[str, Any] | None = None
        self.fig: Figure | None = None
        self.ax_dict: dict[str, Any] | None = None

    # ------------------------------------------------------------------ chained settings

    def swap_axes(self, swap_axes: bool | None = True) -> BasePlot:
        """Genes as rows and groups as columns (or back, with False)."""
        self.are_axes_swapped = bool(swap_axes)
        return self._changed()

    def add_dendrogram(
        self, show: bool | None = True, dendrogram_key: str | None = None, size: float | None = 0.8
    ) -> BasePlot:
        """Order the groups by ``uns["dendrogram_<groupby>"]`` and draw the tree; a missing
        dendrogram is computed with ``tl.dendrogram`` (as scanpy does)."""
        if not show:
            return self
        if self._prepare["categories_order"] is not None:
            msg = "add_dendrogram: the dendrogram orders the groups; drop categories_order to use it"
            raise ParamError(msg)
        what = self.DEFAULT_SAVE_PREFIX.rstrip("_")
        self.grouped = prepare(self.adata, what=what, dendrogram=dendrogram_key or True, **self._prepare)
        return self._changed()

    def add_totals(
        self,
        show: bool | None = True,
        sort: str | None = None,
        size: float | None = 0.8,
        color: Any = None,
    ) -> BasePlot:
        """Bars of the number of cells in each group beside the plot (``sort``: ``"ascending"``
        / ``"descending"`` orders the groups by it)."""
        if not show:
            self.totals = None
            return self._changed()
        if sort not in (None, "ascending", "descending"):
            msg = f"add_totals: sort={sort!r}; use 'ascending', 'descending' or None"
            raise ParamError(msg)
        counts = self.grouped.counts()
        if sort is not None:
            order = np.argsort(counts if sort == "ascending" else -counts, kind="stable")
            self.grouped.groups = [self.grouped.groups[i] for i in order]
        self.totals = {"size": size or 0.8, "color": color}
        return self._changed()

    def legend(
        self, show: bool | None = True, title: str | None = None, width: float | None = None
    ) -> BasePlot:
        """Show (or hide) the legend column; its colourbar title and width in inches."""
        self.show_legend = bool(show)
        self.legend_title = self.legend_title if title is None else title
        self.legends_width = self.legends_width if width is None else width
        return self._changed()

    def style(self, **kwargs: Any) -> BasePlot:
        """Set drawing options (subclasses list theirs); unknown ones raise ParamError."""
        unknown = [k for k in kwargs if k not in self._style]
        if unknown:
            msg = f"{type(self).__name__}.style: unknown option(s) {unknown} (options: {', '.join(self._style)})"
            raise ParamError(msg)
        self._style.update({k: v for k, v in kwargs.items() if v is not None or k in self._style_nullable})
        return self._changed()

    _style: dict[str, Any]
    _style_nullable: tuple[str, ...] = ()

    def _changed(self) -> BasePlot:
        if self.fig is not None:
            plt.close(self.fig)
        self.fig = self.ax_dict = None
        return self

    # ------------------------------------------------------------------ drawing

    def make_figure(self) -> Figure:
        """Draw the figure (once); returns it (scanpy's returns None)."""
        if self.fig is not None:
            return self.fig
        grouped, swap = self.grouped, self.are_axes_swapped
        fig, grid = summary_frame(
            grouped, swap_axes=swap, figsize=self.figsize, cell=self.CELL, pad=self.PAD,
            min_height=self.MIN_HEIGHT - 0.6 * bool(grouped.spans), legend=self.legends_width * self.show_legend,
            totals=(self.totals or {}).get("size", 0.0) if not swap else 0.0, ax=self.ax,
        )  # fmt: skip
        main = fig.add_subplot(grid[1, 0])
        self._mainplot(main)
        axes: dict[str, Any] = {"mainplot_ax": main, **self._decorate(fig, grid)}
        if self.totals is not None:
            axes["group_extra_ax"] = self._draw_totals(fig, grid, main)
        if self.show_legend:
            axes.update(self._plot_legend(fig, grid[:, 3]))
        if self.title is not None:
            fig.suptitle(self.title)
        self.fig, self.ax_dict = fig, axes
        return fig

    def _decorate(self, fig: Figure, grid: Any) -> dict[str, Axes]:
        return decorate(
            fig, grid, self.grouped, swap_axes=self.are_axes_swapped, rotation=self.var_group_rotation
        )

    def _draw_totals(self, fig: Figure, grid: Any, main: Axes) -> Axes:
        counts = self.grouped.counts()
        color = self.totals["color"] or group_colors(self.adata, self.grouped)
        positions = np.arange(len(counts)) + 0.5
        if self.are_axes_swapped:  # groups are columns: bars on top
            ax = main.inset_axes((0, 1.02, 1, 0.18), sharex=main)
            bars = ax.bar(positions, counts, width=0.8, color=color)
            ax.set_xlim(0, len(counts))
        else:
            ax = fig.add_subplot(grid[1, 1], sharey=main)
            bars = ax.barh(positions, counts, height=0.8, color=color)
            ax.set_ylim(len(counts), 0)
        ax.bar_label(bars, fontsize="x-small", padding=2)
        ax.set_axis_off()
        return ax

    def _mainplot(self, ax: Axes) -> None:
        raise NotImplementedError

    def _plot_legend(self, fig: Figure, spec: SubplotSpec) -> dict[str, Axes]:
        raise NotImplementedError

    def get_axes(self) -> dict[str, Any]:
        """The Axes by role: ``mainplot_ax``, ``gene_group_ax``, ``group_extra_ax``, legend Axes."""
        self.make_figure()
        return dict(self.ax_dict or {})

    def show(self, return_axes: bool | None = None) -> dict[str, Any] | None:
        """Draw and ``plt.show()``; with ``return_axes`` return :meth:`get_axes`."""
        self.make_figure()
        axes = self.get_axes()
        plt.show()
        return axes if return_axes else None

    def savefig(self, filename: Any, bbox_inches: str | None = "tight", **kwargs: Any) -> None:
        """Draw and write the figure to ``filename`` (keywords go to ``Figure.savefig``)."""
        self.make_figure().savefig(filename, bbox_inches=bbox_inches, **kwargs)


def finish_plot(
    plot: BasePlot, *, show: bool | None, save: bool | str | None, return_fig: bool | None, dpi: float | None
) -> Any:
    """The end of ``dotplot`` & co.: the plot object with ``return_fig`` (drawn only when saved),
    else drawn, saved and shown as :func:`~scsnake.pl._show_save.show_or_save` does."""
    if return_fig and not save:
        return plot
    fig = plot.make_figure()
    return show_or_save(
        fig, plot.get_axes(), writekey=plot.DEFAULT_SAVE_PREFIX, show=show, save=save,
        return_fig=return_fig, dpi=dpi, plot=plot,
    )  # fmt: skip
