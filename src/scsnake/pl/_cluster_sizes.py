"""Bar chart of the number of cells in each category of an obs column (e.g. each Leiden cluster)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from scsnake._matrix import get_obs_column
from scsnake.errors import InputDataError

from ._figure import one_axes
from ._show_save import AxesOutputParams, plot_function, show_or_save
from ._style import category_colors

if TYPE_CHECKING:
    from anndata import AnnData
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["ClusterSizesParams", "cluster_sizes"]

_NA_COLOR = "lightgray"


class ClusterSizesParams(AxesOutputParams):
    """Parameters of :func:`cluster_sizes`."""

    groupby: str = "leiden"
    """Categorical obs column (clusters, cell types, samples…); one bar per category."""
    sort: bool = False
    """Order the bars by size, largest first (default: category order)."""
    percent: bool = False
    """Label each bar with its share of the cells as well as its count."""
    palette: str | list[str] | dict[str, str] | None = None
    """Bar colours: a colormap name, a list or a dict; stored in ``uns[f"{groupby}_colors"]``."""
    title: str | None = None
    """Axes title (default: ``"<n> cells in <k> groups"``)."""


@plot_function(ClusterSizesParams)
def cluster_sizes(
    adata: AnnData,
    groupby: str = "leiden",
    *,
    sort: bool = False,
    percent: bool = False,
    palette: str | list[str] | dict[str, str] | None = None,
    title: str | None = None,
    show: bool | None = None,
    save: bool | str | None = None,
    return_fig: bool | None = False,
    dpi: int | None = None,
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes | Figure | None:
    """Number of cells per category of ``groupby``: bars in the category colours, counts on top.

    Cells with a missing label get a grey ``NA`` bar; empty categories a bar of height 0.
    scanpy has no such plot; the colours are those of ``pl.umap(adata, color=groupby)``.

    Parameters
    ----------
    adata
        Annotated data matrix.
    groupby
        Categorical (or string, boolean, integer) obs column, e.g. ``"leiden"``.
    sort, percent, palette, title
        See :class:`ClusterSizesParams`.
    show, save, return_fig, dpi, ax
        scanpy's output keywords (:mod:`scsnake.pl._show_save`); ``save`` writes ``{figdir}/cluster_sizes{save}``.
    **kwargs
        Passed to :meth:`matplotlib.axes.Axes.bar`.

    Returns
    -------
    With ``show=False`` the Axes, with ``return_fig=True`` the Figure, else None. Writes ``uns[f"{groupby}_colors"]`` when no valid
    colours are stored (or a ``palette`` is given), as scanpy's embedding plots do.

    Examples
    --------
    >>> import scsnake as ss
    >>> adata = ss.datasets.synthetic(n_cells=200, n_genes=100, n_types=3, seed=0)
    >>> fig = ss.pl.cluster_sizes(adata, "truth", return_fig=True)
    >>> [t.get_text() for t in fig.axes[0].texts] == [str(n) for n in adata.obs["truth"].value_counts(sort=False)]
    True
    >>> import matplotlib.pyplot as plt; plt.close(fig)
    """
    labels, counts, colors, n_missing = _sizes(adata, groupby, palette)
    if sort:
        order = np.argsort(-counts, kind="stable")
        labels, counts, colors = [labels[i] for i in order], counts[order], [colors[i] for i in order]
    fig, ax = one_axes(ax, (max(3.0, 1.5 + 0.38 * len(labels)), 3.4))
    positions = np.arange(len(labels))
    bars = ax.bar(positions, counts, **{"color": colors, "edgecolor": "none", "width": 0.8, **kwargs})
    total = max(int(counts.sum()), 1)
    texts = [f"{n}\n{n / total:.0%}" if percent else str(n) for n in counts]
    ax.bar_label(bars, labels=texts, padding=2, fontsize="x-small" if len(labels) > 20 else "small")
    ax.set_xticks(
        positions, labels, rotation=90 if len(labels) > 12 or max(map(len, labels), default=0) > 3 else 0
    )
    ax.set_xlim(-0.6, len(labels) - 0.4)
    ax.set_ylim(
        0, max(float(counts.max(initial=0)), 1.0) * (1.22 if percent else 1.12)
    )  # room for the labels
    ax.set_xlabel(groupby)
    ax.set_ylabel("cells")
    ax.spines[["top", "right"]].set_visible(False)
    groups = len(labels) - (n_missing > 0)
    ax.set_title(
        f"{int(counts.sum())} cells in {groups} groups" if title is None else title, fontsize="medium"
    )
    return show_or_save(
        fig, ax, writekey="cluster_sizes", show=show, save=save, return_fig=return_fig, dpi=dpi
    )


def _sizes(adata: AnnData, groupby: str, palette: Any) -> tuple[list[str], np.ndarray, list[str], int]:
    """Category labels, their cell counts and colours (plus a grey ``NA`` bar), and the missing count."""
    column = get_obs_column(adata, groupby, what="groupby")
    dtype = column.dtype
    if pd.api.types.is_float_dtype(dtype) or pd.api.types.is_complex_dtype(dtype):
        msg = f"cluster_sizes: obs[{groupby!r}] holds continuous values ({dtype}); groupby needs categories (clusters, labels)"
        raise InputDataError(msg)
    categorical = column if isinstance(dtype, pd.CategoricalDtype) else column.astype("category")
    cats = [str(c) for c in categorical.cat.categories]
    codes = categorical.cat.codes.to_numpy()
    counts = np.bincount(codes[codes >= 0], minlength=len(cats)).astype(np.int64)
    colors = category_colors(adata, groupby, cats, palette) if cats else []
    n_missing = int((codes < 0).sum())
    if n_missing:
        cats, colors = [*cats, "NA"], [*colors, _NA_COLOR]
        counts = np.append(counts, n_missing)
    return cats, counts, colors, n_missing
