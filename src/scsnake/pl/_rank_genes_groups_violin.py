"""Split violins of each group's marker genes: the group against the rest (or the reference)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from matplotlib.patches import Patch
from pydantic import NonNegativeFloat, PositiveFloat, PositiveInt
from pydantic.json_schema import SkipJsonSchema

from scsnake._matrix import get_obs_column
from scsnake.errors import ParamError

from ._figure import panels
from ._markers import gene_labels, result, result_groups, result_table
from ._show_save import OutputParams, plot_function, show_or_save
from ._style import gene_columns, gene_index, stored_colors
from ._violin import violin_density

if TYPE_CHECKING:
    from anndata import AnnData
    from matplotlib.axes import Axes

__all__ = ["RankGenesGroupsViolinParams", "rank_genes_groups_violin"]

_HALF = 0.4  # widest half-violin, in units of the distance between genes


class RankGenesGroupsViolinParams(OutputParams):
    """Parameters of :func:`rank_genes_groups_violin`."""

    groups: Sequence[str] | str | None = None
    """Groups to show, one panel each (default: all in the result)."""
    n_genes: PositiveInt = 20
    """Top genes per group (ignored with ``gene_names``)."""
    gene_names: Sequence[str] | None = None
    """Genes to show in every panel instead of the top-ranked ones."""
    gene_symbols: str | None = None
    """var column with the names to show."""
    use_raw: bool | None = None
    """Read genes from ``raw`` (default: as ``tl.rank_genes_groups`` did)."""
    key: str | None = None
    """uns key of the result (default ``"rank_genes_groups"``)."""
    split: bool = True
    """Draw the group and the reference as the two halves of one violin."""
    density_norm: Literal["width", "area", "count"] = "width"
    """Scale halves to equal width, equal area, or area proportional to the cell count."""
    strip: bool = True
    """Draw the cells as points on top."""
    jitter: NonNegativeFloat | bool = True
    """Half-width of the points' jitter (True: 0.1); 0 puts them on a line."""
    size: PositiveFloat = 1
    """Point size."""
    ax: SkipJsonSchema[Any] = None
    """Draw into this Axes (one group only)."""


@plot_function(RankGenesGroupsViolinParams)
def rank_genes_groups_violin(
    adata: AnnData,
    groups: Sequence[str] | str | None = None,
    *,
    n_genes: int = 20,
    gene_names: Iterable[str] | None = None,
    gene_symbols: str | None = None,
    use_raw: bool | None = None,
    key: str | None = None,
    split: bool = True,
    density_norm: Literal["width", "area", "count"] = "width",
    strip: bool = True,
    jitter: float | bool = True,
    size: float = 1,
    ax: Axes | None = None,
    show: bool | None = None,
    save: bool | str | None = None,
    return_fig: bool | None = False,
    dpi: int | None = None,
) -> Any:
    """For each group, violins of its top genes in the group (left) and the reference (right).

    One panel per group (scanpy draws one figure each). The group half has the group's
    colour from ``uns[f"{groupby}_colors"]``; the rest (or the reference group) is grey.

    Parameters
    ----------
    adata
        Annotated data matrix with ``uns[key]`` from ``tl.rank_genes_groups``.
    groups, n_genes, gene_names, gene_symbols, use_raw, key
        What is shown; see :class:`RankGenesGroupsViolinParams`.
    split, density_norm, strip, jitter, size
        Violins and points.
    ax, show, save, return_fig, dpi
        scanpy's output keywords (:mod:`scsnake.pl._show_save`); ``save`` writes
        ``{figdir}/rank_genes_groups_<groupby>{save}`` (one figure here, one per group in scanpy).

    Returns
    -------
    With ``show=False`` the Axes (a list), with ``return_fig=True`` the Figure, else None. Writes ``uns[f"{groupby}_colors"]`` when no
    valid colours are stored.
    """
    key, entry = result(adata, key)
    names = result_table(entry, "names", key)
    chosen = result_groups(names, groups, key)
    params = entry.get("params", {})
    groupby, reference = str(params.get("groupby")), str(params.get("reference", "rest"))
    raw = bool(params.get("use_raw", False)) if use_raw is None else use_raw
    raw = raw and adata.raw is not None
    column = get_obs_column(adata, groupby, what="groupby")
    labels = column.astype(str).to_numpy()
    cats = [str(c) for c in column.astype("category").cat.categories]
    colors = dict(zip(cats, stored_colors(adata, groupby, cats), strict=True))
    if ax is not None and len(chosen) > 1:
        msg = f"rank_genes_groups_violin: ax= draws one group, but {len(chosen)} groups were chosen"
        raise ParamError(msg)
    panel_genes = [
        list(gene_names) if gene_names is not None else names[g].dropna().astype(str).tolist()[:n_genes]
        for g in chosen
    ]
    fig, axes = panels(ax, len(chosen), 1, (max(3.0, 1.2 + 0.42 * max(map(len, panel_genes))), 3.2))
    rng = np.random.default_rng(0)
    jitter_width = 0.1 if jitter is True else float(jitter)
    other_color = "lightgray" if reference == "rest" else colors.get(reference, "lightgray")
    for panel, group, genes in zip(axes, chosen, panel_genes, strict=True):
        x = gene_columns(adata, gene_index(adata, genes, use_raw=raw), use_raw=raw, layer=None)
        mine = labels == group
        other = ~mine if reference == "rest" else labels == reference
        halves = [(x[mine], colors[group], -1), (x[other], other_color, 1)]
        _split_violins(panel, halves, split=split, density_norm=density_norm)
        if strip:
            for values, _, side in halves:
                for j in range(values.shape[1]):
                    offset = j + side * _HALF / 2 + rng.uniform(-jitter_width, jitter_width, values.shape[0])
                    panel.scatter(
                        offset, values[:, j], s=size, c="black", linewidths=0, rasterized=True, zorder=3
                    )
        labels_shown = gene_labels(adata, entry, genes, gene_symbols) if gene_symbols else genes
        panel.set_xticks(range(len(genes)), labels_shown, rotation=90, fontsize="small")
        panel.set_xlim(-0.6, len(genes) - 0.4)
        panel.set_xlabel("genes")
        panel.set_ylabel("expression")
        panel.set_title(f"{group} vs. {reference}")
        handles = [Patch(color=colors[group], label=group), Patch(color=other_color, label=reference)]
        panel.legend(handles=handles, fontsize="x-small", loc="upper right", frameon=False)
    return show_or_save(
        fig,
        axes,
        writekey=f"rank_genes_groups_{groupby}",
        show=show,
        save=save,
        return_fig=return_fig,
        dpi=dpi,
    )


def _split_violins(
    ax: Axes, halves: list[tuple[np.ndarray, str, int]], *, split: bool, density_norm: str
) -> None:
    """Per gene column, the first half to the left and the second to the right (or side by side)."""
    shapes = [[violin_density(values[:, j]) for j in range(values.shape[1])] for values, _, _ in halves]
    peaks = [max((s[1].max() for s in row if s is not None), default=0.0) for row in shapes]
    counts = [
        max((s[1].max() * v.shape[0] for s in row if s is not None), default=0.0)
        for row, (v, _, _) in zip(shapes, halves, strict=True)
    ]
    top, top_count = max(peaks) or 1.0, max(counts) or 1.0
    width = _HALF if split else _HALF / 2
    for (values, color, side), row in zip(halves, shapes, strict=True):
        for j, shape in enumerate(row):
            centre = j if split else j + side * width
            # x extent of this half for a unit-wide shape: (-1, 0) left, (0, 1) right, (-1, 1) whole
            lo, hi = ((-1, 0) if side < 0 else (0, 1)) if split else (-1, 1)
            if shape is None:  # one value (or none): a flat line
                finite = values[:, j][np.isfinite(values[:, j])]
                if finite.size:
                    ax.hlines(finite[0], centre + lo * width, centre + hi * width, color=color, lw=2)
                continue
            grid, density = shape
            if density_norm == "width":
                reach = density / density.max() * width
            elif density_norm == "area":
                reach = density / top * width
            else:
                reach = density * values.shape[0] / top_count * width
            ax.fill_betweenx(
                grid, centre + lo * reach, centre + hi * reach, facecolor=color, edgecolor="black", lw=0.5
            )
