"""Overviews: the correlation of groups (with their dendrogram), rankings of any score, and the PCA at a glance."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from matplotlib import pyplot as plt
from pydantic import PositiveInt
from pydantic.json_schema import SkipJsonSchema

from scsnake.errors import MissingKeyError, ParamError

from ._decorations import draw_dendrogram, ranking_grid
from ._embedding import pca
from ._grouped import color_norm, dendrogram_entry
from ._preprocessing import pca_loadings, pca_variance_ratio
from ._show_save import AxesOutputParams, OutputParams, plot_function, show_or_save
from ._style import as_colormap

if TYPE_CHECKING:
    from anndata import AnnData
    from matplotlib.axes import Axes

__all__ = [
    "CorrelationMatrixParams",
    "RankingParams",
    "correlation_matrix",
    "pca_overview",
    "ranking",
]


class CorrelationMatrixParams(AxesOutputParams):
    """Parameters of :func:`correlation_matrix`."""

    groupby: str
    """Categorical obs column the dendrogram was (or is) computed for."""
    show_correlation_numbers: bool = False
    """Write each correlation in its cell."""
    dendrogram: bool | str | None = None
    """Draw the dendrogram (a uns key picks it); None: when no ``ax`` is given."""
    figsize: tuple[float, float] | None = None
    """Figure size in inches."""
    vmin: float | None = None
    """Lower colour limit (default -1)."""
    vmax: float | None = None
    """Upper colour limit (default 1)."""
    vcenter: float | None = None
    """Centre of a diverging colour scale."""
    norm: SkipJsonSchema[Any] = None
    """A matplotlib ``Normalize``."""


@plot_function(CorrelationMatrixParams)
def correlation_matrix(
    adata: AnnData,
    groupby: str,
    *,
    show_correlation_numbers: bool = False,
    dendrogram: bool | str | None = None,
    figsize: tuple[float, float] | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    vcenter: float | None = None,
    norm: Any = None,
    show: bool | None = None,
    save: bool | str | None = None,
    return_fig: bool | None = False,
    dpi: int | None = None,
    ax: Axes | None = None,
    **kwds: Any,
) -> Any:
    """The correlation of the groups' mean profiles, in dendrogram order (scanpy's).

    Reads ``uns["dendrogram_<groupby>"]`` (``correlation_matrix``, ``categories_idx_ordered``,
    ``dendrogram_info``); a missing one is computed with ``tl.dendrogram``, as scanpy does.

    Parameters
    ----------
    adata
        Annotated data matrix.
    groupby
        Categorical obs column.
    show_correlation_numbers, dendrogram, figsize, vmin, vmax, vcenter, norm
        See :class:`CorrelationMatrixParams`.
    show, save, return_fig, dpi, ax
        scanpy's output keywords (:mod:`scsnake.pl._show_save`).
    **kwds
        Passed to :meth:`matplotlib.axes.Axes.pcolormesh` (``cmap`` defaults to ``"bwr"``).

    Returns
    -------
    With ``show=False`` the Axes (dendrogram, matrix, colourbar; a list), with ``return_fig=True``
    the Figure, else None. Writes ``uns["dendrogram_<groupby>"]`` when it was missing.
    """
    entry = dendrogram_entry(adata, [groupby], dendrogram if isinstance(dendrogram, str) else True)
    index = list(entry["categories_idx_ordered"])
    corr = np.asarray(entry["correlation_matrix"], dtype=float)[np.ix_(index, index)]
    labels = [str(c) for c in entry["categories_ordered"]]
    draw_tree = ax is None if dendrogram is None else bool(dendrogram)
    if draw_tree and ax is not None:
        msg = "correlation_matrix: the dendrogram is drawn only in a figure of its own; pass dendrogram=False with ax"
        raise ParamError(msg)
    n = len(labels)
    axes: list[Axes] = []
    if ax is None:
        side = n * 0.6
        width, height = figsize or (side + 1.8 * draw_tree + 0.8, side + 0.6)
        fig = plt.figure(figsize=(width, height), layout="constrained")
        grid = fig.add_gridspec(2, 2, width_ratios=[1.8 * draw_tree or 0.01, side], height_ratios=[side, 0.2])
        ax = fig.add_subplot(grid[0, 1])
        if draw_tree:
            tree = fig.add_subplot(grid[0, 0], sharey=ax)
            draw_dendrogram(tree, entry["dendrogram_info"], orientation="left", ticks=np.arange(n) + 0.5)
            axes.append(tree)
    else:
        fig, grid = ax.figure, None
    if vmin is None and vmax is None and norm is None:
        vmin, vmax = -1, 1
    style = {"cmap": "bwr", "edgecolors": "none" if n > 30 else "black", "linewidth": 0.01, **kwds}
    style["cmap"] = as_colormap(style["cmap"])
    image = ax.pcolormesh(corr, norm=color_norm(vmin, vmax, vcenter, norm), **style)
    ax.set_xlim(0, n)
    ax.set_ylim(0, n)
    ax.yaxis.tick_right()
    ax.set_yticks(np.arange(n) + 0.5, labels)
    ax.set_xticks(np.arange(n) + 0.5, labels, rotation=45, ha="left")
    ax.xaxis.set_tick_params(labeltop=True, labelbottom=False)
    ax.tick_params(which="both", bottom=False, top=False, left=False, right=False)
    if show_correlation_numbers:
        for row, col in itertools.product(range(n), repeat=2):
            ax.text(col + 0.5, row + 0.5, f"{corr[row, col]:.2f}", ha="center", va="center")
    axes.append(ax)
    if grid is not None:
        bar = fig.add_subplot(grid[1, 1])
        fig.colorbar(image, cax=bar, orientation="horizontal")
        axes.append(bar)
    return show_or_save(
        fig, axes, writekey="correlation_matrix", show=show, save=save, return_fig=return_fig, dpi=dpi
    )


class RankingParams(OutputParams):
    """Parameters of :func:`ranking`."""

    attr: Literal["var", "obs", "uns", "varm", "obsm"]
    """Where the scores are."""
    keys: str | Sequence[str]
    """Column(s) (``var``/``obs``/``uns``) or the key of a matrix (``varm``/``obsm``)."""
    indices: Sequence[int] | None = None
    """Columns of the ``varm``/``obsm`` matrix shown (default: all)."""
    labels: str | Sequence[str] | None = None
    """Labels of the points (default: the var or obs names)."""
    color: str = "black"
    """Colour of the labels."""
    n_points: PositiveInt = 30
    """Labels shown per panel."""
    log: bool = False
    """Natural log of the scores."""
    include_lowest: bool = False
    """Show the lowest scores too."""


@plot_function(RankingParams)
def ranking(
    adata: AnnData,
    attr: Literal["var", "obs", "uns", "varm", "obsm"],
    keys: str | Sequence[str],
    *,
    indices: Sequence[int] | None = None,
    labels: str | Sequence[str] | None = None,
    color: str = "black",
    n_points: int = 30,
    log: bool = False,
    include_lowest: bool = False,
    show: bool | None = None,
    save: bool | str | None = None,
    return_fig: bool | None = False,
    dpi: int | None = None,
) -> Any:
    """Labels at their score, highest first, one panel per key (scanpy's ``pl.ranking``).

    Parameters
    ----------
    adata
        Annotated data matrix.
    attr, keys, indices, labels, color, n_points, log, include_lowest
        See :class:`RankingParams`.
    show, save, return_fig, dpi
        scanpy's output keywords (:mod:`scsnake.pl._show_save`).

    Returns
    -------
    With ``show=False`` the Axes (a list), with ``return_fig=True`` the Figure, else None.
    """
    store = getattr(adata, attr)
    key_list = [keys] if isinstance(keys, str) else list(keys)
    if attr in ("varm", "obsm"):
        if len(key_list) != 1 or key_list[0] not in store:
            msg = f"ranking: {attr}[{keys!r}] not found (keys: {', '.join(store.keys())})"
            raise MissingKeyError(msg)
        matrix = np.asarray(store[key_list[0]], dtype=float)
        picked = list(range(matrix.shape[1])) if indices is None else list(indices)
        scores, titles = matrix[:, picked], [f"{key_list[0]}{i + 1}" for i in picked]
    else:
        missing = [k for k in key_list if k not in store]
        if missing:
            msg = f"ranking: {attr}[{missing[0]!r}] not found"
            raise MissingKeyError(msg)
        scores = np.column_stack([np.asarray(store[k], dtype=float) for k in key_list])
        titles = key_list
    if labels is None:
        names = adata.var_names if attr in ("var", "varm") else adata.obs_names
        labels = (
            [str(n) for n in names]
            if len(names) == scores.shape[0]
            else [str(i) for i in range(scores.shape[0])]
        )
    elif isinstance(labels, str):
        labels = [labels] * scores.shape[0]
    scores = np.log(scores) if log else scores
    n_points = min(n_points, scores.shape[0])
    n_cols = min(len(titles), 4)
    n_rows = -(-len(titles) // n_cols)
    fig, axes = ranking_grid(
        n_rows, n_cols, scores, labels, titles, n_points=n_points, include_lowest=include_lowest
    )
    for ax in axes:
        for text in ax.texts:
            text.set_color(color)
    return show_or_save(fig, axes, writekey="ranking", show=show, save=save, return_fig=return_fig, dpi=dpi)


def pca_overview(adata: AnnData, **params: Any) -> Any:
    """scanpy's ``pl.pca_overview``: :func:`~scsnake.pl.pca`, :func:`~scsnake.pl.pca_loadings`
    and :func:`~scsnake.pl.pca_variance_ratio`, three figures.

    ``color``, ``components`` … go to ``pca``; ``show``, ``save`` (each figure under its own
    name) and ``return_fig`` to all three; ``n_pcs``/``log`` to ``pca_variance_ratio``.

    Returns
    -------
    With ``show=False`` or ``return_fig=True`` the three results (a list), else None.
    """
    output = {k: params.pop(k) for k in ("show", "save", "return_fig", "dpi") if k in params}
    ratio = {k: params.pop(k) for k in ("n_pcs", "log") if k in params}
    components = params.get("components")
    loadings = {"components": components} if isinstance(components, str) and "," in components else {}
    results = [
        pca(adata, **params, **output),
        pca_loadings(adata, **loadings, **output),
        pca_variance_ratio(adata, **ratio, **output),
    ]
    return None if all(r is None for r in results) else results
