"""Differential-expression results: a volcano and an MA plot, one panel per group.

Both read a results table of :func:`scsnake.tl.pseudobulk_de` (columns ``group``, ``gene``,
``baseMean``, ``log2FoldChange``, ``pvalue``, ``padj``) stored as ``adata.uns[key]["results"]``,
with the tested contrast in ``adata.uns[key]["params"]`` when known (the workflow's ``de``
stage stores both). scanpy has no such plots.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import numpy as np
import pandas as pd
from pydantic import Field, NonNegativeInt, PositiveInt

from scsnake._matrix import close_matches
from scsnake.errors import MissingKeyError

from ._figure import check_one_panel, panels
from ._show_save import AxesOutputParams, plot_function, show_or_save

if TYPE_CHECKING:
    from collections.abc import Sequence

    from anndata import AnnData
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["DePlotParams", "ma", "volcano"]

_UP, _DOWN, _NS = "#d62728", "#1f77b4", "#bdbdbd"
_COLUMNS = ("group", "gene", "baseMean", "log2FoldChange", "pvalue", "padj")


class DePlotParams(AxesOutputParams):
    """Parameters of :func:`volcano` and :func:`ma`."""

    key: str = "de"
    """``uns`` key of the results: ``uns[key]["results"]``, a table of ``tl.pseudobulk_de``."""
    groups: list[str] | None = None
    """Groups to draw, one panel each (default: every group in the table)."""
    alpha: Annotated[float, Field(gt=0, lt=1)] | None = None
    """Genes with ``padj`` below it are called (coloured); default ``uns[key]["params"]["alpha"]``, else 0.05."""
    n_labels: NonNegativeInt = 5
    """Called genes labelled per panel: those of smallest ``padj``."""
    ncols: PositiveInt = 4
    """Panels per row."""


def _results(adata: AnnData, key: str, groups: Sequence[str] | None) -> tuple[pd.DataFrame, list[str], dict]:
    """The results table, the groups to draw and the stored params."""
    stored = adata.uns.get(key)
    results = stored.get("results") if isinstance(stored, dict) else None
    if not isinstance(results, pd.DataFrame):
        msg = (
            f"uns[{key!r}]['results'] not found{close_matches(key, adata.uns.keys())}; store the table of "
            f"tl.pseudobulk_de there: adata.uns[{key!r}] = {{'results': table}}"
        )
        raise MissingKeyError(msg)
    missing = [c for c in _COLUMNS if c not in results.columns]
    if missing:
        msg = f"uns[{key!r}]['results'] lacks column(s) {missing}; expected the table of tl.pseudobulk_de"
        raise MissingKeyError(msg)
    present = [str(g) for g in dict.fromkeys(results["group"].astype(str))]
    if groups is None:
        chosen = present
    else:
        unknown = [g for g in groups if str(g) not in present]
        if unknown:
            msg = f"groups {unknown} are not in uns[{key!r}]['results'] (groups: {present})"
            raise MissingKeyError(msg)
        chosen = [str(g) for g in groups]
    params = stored.get("params", {})
    return results, chosen, dict(params) if isinstance(params, dict) else {}


def _plot(
    adata: AnnData, x: str, y: str, *, key: str, groups: Sequence[str] | None, alpha: float | None,
    n_labels: int, ncols: int, ax: Axes | None, what: str, show: bool | None, save: bool | str | None,
    return_fig: bool | None, dpi: int | None,
) -> Figure | list[Axes] | None:  # fmt: skip
    """One scatter panel per group of ``y`` against ``x``, called genes coloured by direction.

    ``what`` names the plot in errors and is the ``writekey`` of ``save``; the output keywords
    are :func:`~scsnake.pl._show_save.show_or_save`'s.
    """
    results, chosen, params = _results(adata, key, groups)
    alpha = float(params.get("alpha", 0.05)) if alpha is None else alpha
    check_one_panel(ax, len(chosen), f"the table has {len(chosen)} groups (pass groups=[one])", what=what)
    fig, axes = panels(ax, max(len(chosen), 1), ncols, (3.4, 3.0))
    contrast = params.get("contrast")
    label = (
        f"log2 fold change ({contrast[1]} vs {contrast[2]})" if contrast is not None else "log2 fold change"
    )
    if not chosen:
        axes[0].text(0.5, 0.5, "no group was tested", ha="center", va="center", transform=axes[0].transAxes)
        axes[0].set_axis_off()
    groups_column = results["group"].astype(str)
    for panel, group in zip(axes, chosen, strict=False):
        table = results[groups_column == group]
        values = _coordinates(table, x, y, label)
        called = (table["padj"] < alpha).to_numpy()
        up = called & (table["log2FoldChange"] > 0).to_numpy()
        down = called & (table["log2FoldChange"] < 0).to_numpy()
        for mask, color in ((~(up | down), _NS), (down, _DOWN), (up, _UP)):
            panel.scatter(values[0][mask], values[1][mask], s=6, c=color, linewidths=0, rasterized=True)
        for i in np.argsort(table["padj"].fillna(np.inf).to_numpy(), kind="stable")[:n_labels]:
            if called[i]:
                panel.annotate(str(table["gene"].iloc[i]), (values[0][i], values[1][i]), fontsize="x-small")
        panel.set_title(f"{group}: {int(up.sum())} up, {int(down.sum())} down", fontsize="medium")
        panel.set_xlabel(values[2])
        panel.set_ylabel(values[3])
        if x == "baseMean":
            panel.axhline(0, color="black", linewidth=0.6)
        panel.spines[["top", "right"]].set_visible(False)
    axes = fig.axes if ax is None else [ax]
    return show_or_save(fig, axes, writekey=what, show=show, save=save, return_fig=return_fig, dpi=dpi)


def _coordinates(
    table: pd.DataFrame, x: str, y: str, lfc_label: str
) -> tuple[np.ndarray, np.ndarray, str, str]:
    """Panel coordinates and axis labels: volcano (fold change, -log10 p) or MA (log10 mean, fold change)."""
    lfc = table["log2FoldChange"].to_numpy(dtype=float)
    if x == "baseMean":
        mean = table["baseMean"].to_numpy(dtype=float)
        return np.log10(np.maximum(mean, 1e-1)), lfc, "log10 mean of normalised counts", lfc_label
    pvalue = np.clip(table["pvalue"].to_numpy(dtype=float), 1e-300, 1)
    return lfc, -np.log10(pvalue), lfc_label, "-log10 p-value"


@plot_function(DePlotParams)
def volcano(
    adata: AnnData,
    key: str = "de",
    *,
    groups: Sequence[str] | None = None,
    alpha: float | None = None,
    n_labels: int = 5,
    ncols: int = 4,
    show: bool | None = None,
    save: bool | str | None = None,
    return_fig: bool | None = False,
    dpi: int | None = None,
    ax: Axes | None = None,
) -> Figure | list[Axes] | None:
    """Volcano plot of differential expression: log2 fold change against -log10 p-value.

    One panel per group; genes with ``padj < alpha`` are red (up in the tested level) or blue
    (down), the ``n_labels`` most significant named.

    Parameters
    ----------
    adata
        Annotated data with ``uns[key]["results"]``, a table of :func:`scsnake.tl.pseudobulk_de`.
    key, groups, alpha, n_labels, ncols
        See :class:`DePlotParams`.
    show, save, return_fig, dpi, ax
        scanpy's output keywords (:mod:`scsnake.pl._show_save`).

    Returns
    -------
    The panels' Axes with ``show=False``, the Figure with ``return_fig=True``, else None.

    Examples
    --------
    >>> import anndata as ad, pandas as pd, scsnake as ss
    >>> table = pd.DataFrame({"group": "0", "gene": ["a", "b"], "baseMean": [10.0, 50.0],
    ...                       "log2FoldChange": [2.0, -0.1], "pvalue": [1e-6, 0.8], "padj": [2e-6, 0.8]})
    >>> pdata = ad.AnnData(uns={"de": {"results": table}})
    >>> fig = ss.pl.volcano(pdata, return_fig=True)
    >>> fig.axes[0].get_title()
    '0: 1 up, 0 down'
    >>> import matplotlib.pyplot as plt; plt.close(fig)
    """
    return _plot(
        adata, "log2FoldChange", "pvalue", key=key, groups=groups, alpha=alpha, n_labels=n_labels,
        ncols=ncols, ax=ax, what="volcano", show=show, save=save, return_fig=return_fig, dpi=dpi,
    )  # fmt: skip


@plot_function(DePlotParams)
def ma(
    adata: AnnData,
    key: str = "de",
    *,
    groups: Sequence[str] | None = None,
    alpha: float | None = None,
    n_labels: int = 5,
    ncols: int = 4,
    show: bool | None = None,
    save: bool | str | None = None,
    return_fig: bool | None = False,
    dpi: int | None = None,
    ax: Axes | None = None,
) -> Figure | list[Axes] | None:
    """MA plot of differential expression: log2 fold change against the mean expression.

    One panel per group; x is log10 of ``baseMean`` (the mean of DESeq2's normalised counts),
    called genes coloured as in :func:`volcano`.

    Parameters
    ----------
    adata
        Annotated data with ``uns[key]["results"]``, a table of :func:`scsnake.tl.pseudobulk_de`.
    key, groups, alpha, n_labels, ncols
        See :class:`DePlotParams`.
    show, save, return_fig, dpi, ax
        scanpy's output keywords (:mod:`scsnake.pl._show_save`).

    Returns
    -------
    The panels' Axes with ``show=False``, the Figure with ``return_fig=True``, else None.

    Examples
    --------
    >>> import anndata as ad, pandas as pd, scsnake as ss
    >>> table = pd.DataFrame({"group": "0", "gene": ["a", "b"], "baseMean": [10.0, 50.0],
    ...                       "log2FoldChange": [2.0, -0.1], "pvalue": [1e-6, 0.8], "padj": [2e-6, 0.8]})
    >>> fig = ss.pl.ma(ad.AnnData(uns={"de": {"results": table}}), return_fig=True)
    >>> fig.axes[0].get_xlabel()
    'log10 mean of normalised counts'
    >>> import matplotlib.pyplot as plt; plt.close(fig)
    """
    return _plot(
        adata, "baseMean", "log2FoldChange", key=key, groups=groups, alpha=alpha, n_labels=n_labels,
        ncols=ncols, ax=ax, what="ma", show=show, save=save, return_fig=return_fig, dpi=dpi,
    )  # fmt: skip
