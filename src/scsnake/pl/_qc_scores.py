"""Score distributions: Scrublet's doublet scores and the density of cells in an embedding."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import matplotlib as mpl
import numpy as np
from matplotlib import colors as mcolors
from pydantic import PositiveFloat, PositiveInt
from pydantic.json_schema import SkipJsonSchema

from scsnake._matrix import close_matches
from scsnake.errors import InputDataError, MissingKeyError, ParamError

from ._figure import check_one_panel, panels
from ._show_save import AxesOutputParams, OutputParams, plot_function, show_or_save

if TYPE_CHECKING:
    from anndata import AnnData
    from matplotlib.axes import Axes

__all__ = [
    "EmbeddingDensityParams",
    "ScrubletScoreDistributionParams",
    "embedding_density",
    "scrublet_score_distribution",
]


class ScrubletScoreDistributionParams(OutputParams):
    """Parameters of :func:`scrublet_score_distribution`."""

    scale_hist_obs: str = "log"
    """y scale of the observed cells' histogram."""
    scale_hist_sim: str = "linear"
    """y scale of the simulated doublets' histogram."""
    figsize: tuple[float, float] = (8, 3)
    """Width and height of one row (one row per batch)."""


@plot_function(ScrubletScoreDistributionParams)
def scrublet_score_distribution(
    adata: AnnData,
    *,
    scale_hist_obs: str = "log",
    scale_hist_sim: str = "linear",
    figsize: tuple[float, float] = (8, 3),
    return_fig: bool | None = False,
    show: bool | None = None,
    save: bool | str | None = None,
    dpi: int | None = None,
) -> Any:
    """Histograms of the doublet scores of the cells and of the simulated doublets (scanpy's).

    Reads ``obs["doublet_score"]`` and ``uns["scrublet"]`` (``doublet_scores_sim``,
    ``threshold``; per batch under ``batches`` when ``batched_by`` is set), as ``pp.scrublet``
    writes them; the threshold is a vertical line.

    Parameters
    ----------
    adata
        Annotated data matrix after ``pp.scrublet``.
    scale_hist_obs, scale_hist_sim, figsize
        See :class:`ScrubletScoreDistributionParams`.
    return_fig, show, save, dpi
        scanpy's output keywords (:mod:`scsnake.pl._show_save`).

    Returns
    -------
    With ``show=False`` the (observed, simulated) Axes (a list of pairs with batches), with
    ``return_fig=True`` the Figure, else None.
    """
    entry = adata.uns.get("scrublet")
    if entry is None or "doublet_score" not in adata.obs:
        msg = "uns['scrublet'] or obs['doublet_score'] not found; run pp.scrublet first"
        raise MissingKeyError(msg)
    if "batched_by" in entry:
        batches = adata.obs[entry["batched_by"]].astype("category")
        rows = [(str(b), entry["batches"][str(b)], (batches == b).to_numpy()) for b in batches.cat.categories]
    else:
        rows = [(None, entry, np.ones(adata.n_obs, dtype=bool))]
    fig, axes = panels(None, 2 * len(rows), 2, (figsize[0] / 2, figsize[1]))
    scores = adata.obs["doublet_score"].to_numpy(dtype=float)
    pairs = []
    for i, (batch, result, mask) in enumerate(rows):
        suffix = "" if batch is None else f" ({batch})"
        threshold = result.get("threshold")
        obs_ax, sim_ax = axes[2 * i], axes[2 * i + 1]
        _scores(obs_ax, scores[mask], scale_hist_obs, f"Observed transcriptomes{suffix}", threshold)
        _scores(
            sim_ax,
            np.asarray(result["doublet_scores_sim"]),
            scale_hist_sim,
            f"Simulated doublets{suffix}",
            threshold,
        )
        pairs.append((obs_ax, sim_ax))
    shown = pairs[0] if len(pairs) == 1 else pairs
    return show_or_save(
        fig,
        shown,
        writekey="scrublet_score_distribution",
        show=show,
        save=save,
        return_fig=return_fig,
        dpi=dpi,
    )


def _scores(ax: Axes, scores: np.ndarray, scale: str, title: str, threshold: float | None) -> None:
    ax.hist(scores, np.linspace(0, 1, 50), color="gray", linewidth=0, density=True)
    ax.set_yscale(scale)
    low, high = ax.get_ylim()
    if threshold is not None:
        ax.plot([threshold, threshold], [low, high], c="black", linewidth=1)
    ax.set_ylim(low, high)
    ax.set_title(title)
    ax.set_xlabel("Doublet score")
    ax.set_ylabel("Prob. density")


class EmbeddingDensityParams(AxesOutputParams):
    """Parameters of :func:`embedding_density`."""

    basis: str = "umap"
    """Embedding the density was computed in."""
    key: str | None = None
    """obs column of the densities (default ``<basis>_density[_<groupby>]``)."""
    groupby: str | None = None
    """The covariate the densities were computed per (finds the default ``key``)."""
    group: str | Sequence[str] | None = "all"
    """Group(s) to show, a panel each (``"all"``: every category); None: all cells, one panel."""
    color_map: str | SkipJsonSchema[mcolors.Colormap] = "YlOrRd"
    """Colormap of the densities (under: light grey, over: black)."""
    bg_dotsize: PositiveFloat = 80
    """Size of the cells outside the group."""
    fg_dotsize: PositiveFloat = 180
    """Size of the cells of the group."""
    vmax: float = 1
    """Upper colour limit."""
    vmin: float = 0
    """Lower colour limit."""
    ncols: PositiveInt = 4
    """Panels per row."""
    title: str | None = None
    """Panel title (default: the group)."""


@plot_function(EmbeddingDensityParams)
def embedding_density(
    adata: AnnData,
    basis: str = "umap",
    *,
    key: str | None = None,
    groupby: str | None = None,
    group: str | Sequence[str] | None = "all",
    color_map: str | mcolors.Colormap = "YlOrRd",
    bg_dotsize: float = 80,
    fg_dotsize: float = 180,
    vmax: float = 1,
    vmin: float = 0,
    ncols: int = 4,
    title: str | None = None,
    show: bool | None = None,
    save: bool | str | None = None,
    return_fig: bool | None = False,
    dpi: int | None = None,
    ax: Axes | None = None,
    **kwargs: Any,
) -> Any:
    """The density of cells in an embedding, per group of ``tl.embedding_density`` (scanpy's).

    Reads ``obs[key]`` and ``uns[f"{key}_params"]`` (``covariate``, ``components``). Cells of
    a group are coloured by their density over the others in light grey.

    Parameters
    ----------
    adata
        Annotated data matrix after ``tl.embedding_density``.
    basis, key, groupby, group, color_map, bg_dotsize, fg_dotsize, vmax, vmin, ncols, title
        See :class:`EmbeddingDensityParams`.
    show, save, return_fig, dpi, ax
        scanpy's output keywords (:mod:`scsnake.pl._show_save`); ``save`` writes ``{figdir}/{key}_{save}``.
    **kwargs
        Passed to :meth:`matplotlib.axes.Axes.scatter`.

    Returns
    -------
    With ``show=False`` the Axes (a list for several groups), with ``return_fig=True`` the
    Figure, else None.
    """
    basis = basis.removeprefix("X_")
    key = key or (f"{basis}_density_{groupby}" if groupby else f"{basis}_density")
    if key not in adata.obs or f"{key}_params" not in adata.uns:
        msg = f"obs[{key!r}] or uns['{key}_params'] not found{close_matches(key, adata.obs.columns)}; run tl.embedding_density(adata, basis={basis!r}) first"
        raise MissingKeyError(msg)
    params = adata.uns[f"{key}_params"]
    covariate = params.get("covariate")
    density = adata.obs[key].to_numpy(dtype=float)
    if np.nanmin(density) < 0 or np.nanmax(density) > 1:
        msg = f"obs[{key!r}]: densities must be scaled to 0–1 (as tl.embedding_density stores them)"
        raise InputDataError(msg)
    dims = np.asarray(params.get("components", [1, 2]), dtype=int) - 1
    xy = np.asarray(adata.obsm[f"X_{basis}"])[:, dims]
    if group == "all" or (covariate is None):
        groups = (
            None
            if covariate is None
            else [str(c) for c in adata.obs[covariate].astype("category").cat.categories]
        )
    else:
        groups = [group] if isinstance(group, str) else list(group)
    if groups is None and covariate is not None:
        msg = f"embedding_density: densities were computed per obs[{covariate!r}]; pass group="
        raise ParamError(msg)
    panel_groups: list[str | None] = [None] if groups is None else groups
    check_one_panel(ax, len(panel_groups), f"{len(panel_groups)} groups are shown", what="embedding_density")
    cmap = (mpl.colormaps[color_map] if isinstance(color_map, str) else color_map).with_extremes(
        over="black", under="lightgray"
    )
    fig, axes = panels(ax, len(panel_groups), ncols, (4.6, 4.0))
    labels = None if covariate is None else adata.obs[covariate].astype(str).to_numpy()
    known = None if labels is None else set(labels)
    for panel, name in zip(axes, panel_groups, strict=True):
        if name is not None and name not in known:
            msg = f"embedding_density: group {name!r} is not a category of obs[{covariate!r}]"
            raise ParamError(msg)
        mine = np.ones(adata.n_obs, dtype=bool) if name is None else labels == name
        panel.scatter(xy[~mine, 0], xy[~mine, 1], s=bg_dotsize, c="lightgray", linewidths=0, rasterized=True)
        order = np.flatnonzero(mine)[np.argsort(density[mine], kind="stable")]
        style = {"s": fg_dotsize, "linewidths": 0, "rasterized": True, **kwargs}
        points = panel.scatter(
            xy[order, 0], xy[order, 1], c=density[order], cmap=cmap, vmin=vmin, vmax=vmax, **style
        )
        fig.colorbar(points, ax=panel, fraction=0.05, pad=0.02)
        panel.set_title(title if title is not None else (name or ""))
        panel.set_xticks([])
        panel.set_yticks([])
        panel.set_xlabel(f"{basis.upper()}{dims[0] + 1}")
        panel.set_ylabel(f"{basis.upper()}{dims[1] + 1}")
    shown = axes if len(axes) > 1 else axes[0]
    return show_or_save(fig, shown, writekey=f"{key}_", show=show, save=save, return_fig=return_fig, dpi=dpi)
