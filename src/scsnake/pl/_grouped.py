"""Genes by groups: the data, colour scales, brackets and dendrograms of the grouped plots.

Shared by dotplot, matrixplot, stacked_violin, heatmap and tracksplot (scanpy's
``_prepare_dataframe`` and ``BasePlot`` helpers, written for arrays).
"""

from __future__ import annotations

import copy
import itertools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from matplotlib import colors as mcolors
from pydantic import PositiveInt
from pydantic.json_schema import SkipJsonSchema

from scsnake._matrix import close_matches, get_obs_column
from scsnake.errors import InputDataError, MissingKeyError, ParamError

from ._show_save import OutputParams
from ._style import default_palette, gene_columns, gene_index, stored_colors, symbols_column, use_raw_default

if TYPE_CHECKING:
    from anndata import AnnData

logger = logging.getLogger(__name__)

__all__ = [
    "Grouped",
    "GroupedParams",
    "ScaledParams",
    "SummaryParams",
    "VarNames",
    "color_norm",
    "dendrogram_entry",
    "fitted",
    "group_colors",
    "lookup_table",
    "prepare",
    "scale",
    "summaries",
]

VarNames = str | Sequence[str] | Mapping[str, str | Sequence[str]]
Span = tuple[str, int, int]  # label, first gene, last gene + 1


class GroupedParams(OutputParams):
    """Keywords shared by the plots of genes by groups (tracksplot has just these)."""

    var_names: VarNames
    """Genes, or a dict label → genes (blocks with a bracket and label)."""
    groupby: str | Sequence[str]
    """obs column(s): categorical, or numeric (cut into ``num_categories`` bins)."""
    use_raw: bool | None = None
    """Read genes from ``raw``; None uses ``raw`` when present and no ``layer`` is given."""
    log: bool = False
    """Show ``log1p`` of the values."""
    dendrogram: bool | str = False
    """Order groups by ``uns["dendrogram_<groupby>"]`` (or this uns key) and draw the tree."""
    gene_symbols: str | None = None
    """var column holding the names used in ``var_names`` (and shown)."""
    var_group_positions: Sequence[tuple[int, int]] | None = None
    """(first, last) gene index of each labelled block (inclusive)."""
    var_group_labels: Sequence[str] | None = None
    """Label of each block in ``var_group_positions``."""
    layer: str | None = None
    """Read genes from this layer."""
    figsize: tuple[float, float] | None = None
    """Figure size in inches (default from the number of genes and groups)."""


class ScaledParams(GroupedParams):
    """Grouped plots with a colour scale (heatmap adds ``show_gene_labels``)."""

    num_categories: PositiveInt = 7
    """Bins of a numeric ``groupby``."""
    var_group_rotation: float | None = None
    """Rotation of block labels (default: 90° for labels wider than their block)."""
    standard_scale: Literal["var", "group"] | None = None
    """Scale values to 0–1 per gene (``"var"``) or per group."""
    swap_axes: bool = False
    """Genes as rows and groups as columns."""
    cmap: str | SkipJsonSchema[mcolors.Colormap] | None = None
    """Colormap of the values."""
    vmin: float | None = None
    """Lower colour limit."""
    vmax: float | None = None
    """Upper colour limit."""
    vcenter: float | None = None
    """Centre of a diverging colour scale."""
    norm: SkipJsonSchema[Any] = None
    """A matplotlib ``Normalize`` (instead of vmin/vmax/vcenter)."""


class SummaryParams(ScaledParams):
    """Plots of one summary per group and gene (dotplot, matrixplot, stacked_violin)."""

    categories_order: Sequence[str] | None = None
    """Groups to show, in this order (default: every non-empty category)."""
    title: str | None = None
    """Figure title."""
    colorbar_title: str | None = None
    """Title of the colourbar."""
    ax: SkipJsonSchema[Any] = None
    """Draw into the area of this Axes instead of a new figure."""


@dataclass
class Grouped:
    """The selected genes of the cells in the shown groups."""

    genes: list[str]
    """Gene labels, one per column of ``x`` (gene symbols when ``gene_symbols`` is given)."""
    spans: list[Span]
    """Labelled blocks of genes drawn with a bracket (empty when there are none)."""
    x: np.ndarray
    """``(n_cells, n_genes)`` float64 values (``log1p`` when ``log``), cells of shown groups only."""
    labels: np.ndarray
    """Group of each row of ``x``."""
    groups: list[str]
    """Shown groups, in drawing order."""
    groupby: list[str]
    """The obs column(s) the groups come from."""
    dendrogram: dict[str, Any] | None
    """``dendrogram_info`` of ``uns[dendrogram_key]`` when the groups follow a dendrogram."""

    def order(self) -> np.ndarray:
        """Row order of ``x`` by group, within a group as scanpy's ``sort_index`` leaves it.

        That is numpy's (unstable) quicksort of the category codes, so heatmaps match
        scanpy's pixel for pixel.
        """
        codes = pd.Categorical(self.labels, categories=self.groups).codes
        return np.argsort(codes, kind="quicksort")

    def counts(self) -> np.ndarray:
        """Number of cells in each group."""
        return np.array([(self.labels == g).sum() for g in self.groups])


def prepare(
    adata: AnnData,
    var_names: VarNames,
    groupby: str | Sequence[str],
    *,
    use_raw: bool | None,
    layer: str | None,
    what: str,
    log: bool = False,
    num_categories: int = 7,
    categories_order: Sequence[str] | None = None,
    gene_symbols: str | None = None,
    var_group_positions: Sequence[tuple[int, int]] | None = None,
    var_group_labels: Sequence[str] | None = None,
    dendrogram: bool | str = False,
) -> Grouped:
    """Read the genes (only those columns, densified) and each cell's group, as scanpy does.

    A numeric ``groupby`` is cut into ``num_categories`` bins; several columns are joined
    with ``"_"``. With ``dendrogram`` the groups follow ``uns["dendrogram_<groupby>"]``
    (written by ``tl.dendrogram``) and gene blocks named after groups are reordered too.
    """
    keys = [groupby] if isinstance(groupby, str) else list(groupby)
    if not keys:
        msg = f"{what}: groupby is empty; pass an obs column"
        raise ParamError(msg)
    genes, spans = _genes_and_spans(var_names, var_group_positions, var_group_labels, what)
    cats = _group_labels(adata, keys, num_categories)
    categories = [str(c) for c in cats.categories]
    codes = np.asarray(cats.codes)
    present = [
        c
        for c, n in zip(categories, np.bincount(codes[codes >= 0], minlength=len(categories)), strict=True)
        if n
    ]
    info = None
    if dendrogram:
        if categories_order is not None:
            msg = f"{what}: dendrogram orders the groups; pass dendrogram=False to use categories_order"
            raise ParamError(msg)
        entry = dendrogram_entry(adata, keys, dendrogram)
        groups = [str(c) for c in entry["categories_ordered"]]
        if sorted(groups) != sorted(categories) or len(present) != len(categories):
            msg = f"{what}: the dendrogram has groups {groups} but obs[{'_'.join(keys)!r}] has non-empty groups {present}; run tl.dendrogram again"
            raise InputDataError(msg)
        info = entry["dendrogram_info"]
        if spans and {s[0] for s in spans} == set(categories) and len(spans) == len(categories):
            genes, spans = _reorder_spans(genes, spans, groups)
    else:
        groups = present if categories_order is None else [str(c) for c in categories_order]
        unknown = [g for g in groups if g not in present]
        if unknown:
            msg = f"{what}: categories_order has groups without cells in obs[{'_'.join(keys)!r}]: {', '.join(map(repr, unknown))} (available: {', '.join(present)})"
            raise ParamError(msg)
    if not groups:
        msg = f"{what}: obs[{'_'.join(keys)!r}] has no cells in any category"
        raise InputDataError(msg)
    raw = use_raw_default(adata, use_raw, layer)
    names = _symbols_to_names(adata, genes, gene_symbols, use_raw=raw)
    idx = gene_index(adata, names, use_raw=raw)
    labels = np.asarray(cats.astype(str), dtype=object)
    keep = np.isin(codes, [categories.index(g) for g in groups])
    x = gene_columns(adata, idx, use_raw=raw, layer=layer)[keep]
    return Grouped(genes, spans, np.log1p(x) if log else x, labels[keep], groups, keys, info)


def _genes_and_spans(
    var_names: VarNames, positions: Sequence[tuple[int, int]] | None, names: Sequence[str] | None, what: str
) -> tuple[list[str], list[Span]]:
    spans: list[Span] = []
    if isinstance(var_names, Mapping):
        genes: list[str] = []
        for label, block in var_names.items():
            block = [block] if isinstance(block, str) else [str(g) for g in block]
            if block:
                spans.append((str(label), len(genes), len(genes) + len(block)))
                genes.extend(block)
    else:
        genes = [var_names] if isinstance(var_names, str) else [str(g) for g in var_names]
    if not genes:
        msg = f"{what}: var_names is empty; pass genes or a dict label → genes"
        raise ParamError(msg)
    if positions is not None or names is not None:
        if spans:
            msg = f"{what}: var_group_positions/var_group_labels cannot be combined with a dict var_names"
            raise ParamError(msg)
        positions, names = list(positions or []), list(names or [])
        if len(positions) != len(names):
            msg = f"{what}: var_group_positions has {len(positions)} entries but var_group_labels has {len(names)}"
            raise ParamError(msg)
        for (start, end), label in zip(positions, names, strict=True):
            if not 0 <= start <= end < len(genes):
                msg = (
                    f"{what}: var_group_positions entry ({start}, {end}) is outside genes 0..{len(genes) - 1}"
                )
                raise ParamError(msg)
            spans.append((str(label), int(start), int(end) + 1))
    return genes, spans


def _reorder_spans(genes: list[str], spans: list[Span], groups: list[str]) -> tuple[list[str], list[Span]]:
    by_label = {label: genes[start:stop] for label, start, stop in spans}
    new_genes: list[str] = []
    new_spans: list[Span] = []
    for group in groups:
        new_spans.append((group, len(new_genes), len(new_genes) + len(by_label[group])))
        new_genes.extend(by_label[group])
    return new_genes, new_spans


def _group_labels(adata: AnnData, keys: list[str], num_categories: int) -> pd.Categorical:
    """Each cell's group (string categories), as scanpy's ``_prepare_dataframe`` makes it."""
    columns = []
    for key in keys:
        column = get_obs_column(adata, key, what="groupby")
        if (
            len(keys) == 1
            and pd.api.types.is_numeric_dtype(column.dtype)
            and not pd.api.types.is_bool_dtype(column.dtype)
        ):
            column = pd.cut(column, num_categories)
        columns.append(column.astype("category"))
    if len(columns) == 1:
        cats = columns[0].array
    else:
        joined = pd.Series(
            ["_".join(map(str, row)) for row in zip(*columns, strict=True)], index=adata.obs_names
        )
        order = [
            "_".join(map(str, combo)) for combo in itertools.product(*(c.cat.categories for c in columns))
        ]
        cats = pd.Categorical(joined, categories=[c for c in order if c in set(joined)])
    values = np.where(pd.isna(cats), None, np.asarray(cats.astype(str), dtype=object))
    return pd.Categorical(values, categories=[str(c) for c in cats.categories])


def _symbols_to_names(
    adata: AnnData, genes: list[str], gene_symbols: str | None, *, use_raw: bool
) -> list[str]:
    if gene_symbols is None:
        return genes
    var = adata.raw.var if use_raw else adata.var
    lookup = pd.Series(var.index, index=symbols_column(var, gene_symbols).astype(str))
    lookup = lookup[~lookup.index.duplicated()]
    missing = [g for g in genes if g not in lookup.index]
    if missing:
        msg = (
            f"gene {missing[0]!r} not found in var[{gene_symbols!r}]{close_matches(missing[0], lookup.index)}"
        )
        raise MissingKeyError(msg)
    return [str(lookup[g]) for g in genes]


def dendrogram_entry(adata: AnnData, keys: list[str], dendrogram: bool | str) -> dict[str, Any]:
    """``uns`` entry of the dendrogram of ``keys`` (``dendrogram`` may name its key), computed when missing."""
    key = dendrogram if isinstance(dendrogram, str) else f"dendrogram_{'_'.join(keys)}"
    if key not in adata.uns:  # as scanpy: computed with tl.dendrogram's defaults, and stored
        from scsnake.tl import dendrogram as compute_dendrogram  # lazy: tl pulls in umap

        logger.warning(
            "dendrogram data not found (using key=%s); running tl.dendrogram with default parameters. "
            "For fine tuning, run tl.dendrogram yourself.",
            key,
        )
        compute_dendrogram(adata, keys[0] if len(keys) == 1 else keys, key_added=key)
    entry = adata.uns[key]
    if "dendrogram_info" not in entry or "categories_ordered" not in entry:
        msg = f"uns[{key!r}] holds no dendrogram (no 'dendrogram_info'); run tl.dendrogram again"
        raise InputDataError(msg)
    stored_by = (
        [entry["groupby"]] if isinstance(entry.get("groupby"), str) else list(entry.get("groupby", keys))
    )
    if stored_by != keys:
        msg = f"uns[{key!r}] was computed for groupby {stored_by}, not {keys}; run tl.dendrogram(adata, {'_'.join(keys)!r})"
        raise InputDataError(msg)
    return entry


def group_colors(adata: AnnData, grouped: Grouped) -> list[str]:
    """Colours of the shown groups: ``uns[f"{groupby}_colors"]`` for a categorical column."""
    if len(grouped.groupby) == 1:
        key = grouped.groupby[0]
        column = adata.obs[key]
        if not pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(column.dtype):
            cats = [str(c) for c in column.astype("category").cat.categories]
            colors = stored_colors(adata, key, cats)
            return [colors[cats.index(g)] for g in grouped.groups]
    return default_palette(len(grouped.groups))


# ----------------------------------------------------------------------------- values


def summaries(
    x: np.ndarray, labels: np.ndarray, groups: list[str], cutoff: float = 0.0, only_expressed: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(mean, fraction above ``cutoff``), each ``(n_groups, n_genes)``."""
    mean = np.zeros((len(groups), x.shape[1]))
    frac = np.zeros_like(mean)
    for i, group in enumerate(groups):
        sub = x[labels == group]
        expressed = sub > cutoff
        frac[i] = expressed.mean(0)
        if only_expressed:
            n = expressed.sum(0)
            mean[i] = np.where(n > 0, (sub * expressed).sum(0) / np.maximum(n, 1), 0.0)
        else:
            mean[i] = sub.mean(0)
    return mean, frac


def lookup_table(frame_: pd.DataFrame, groups: list[str], genes: list[str], *, what: str) -> np.ndarray:
    """Values of a groups × genes DataFrame in plot order (MissingKeyError names what is absent)."""
    table = frame_.copy()
    table.index, table.columns = table.index.astype(str), table.columns.astype(str)
    table = table.loc[:, ~table.columns.duplicated()]
    for kind, wanted, have in (("group", groups, table.index), ("gene", genes, table.columns)):
        missing = [w for w in wanted if w not in have]
        if missing:
            msg = f"{what} has no {kind} {missing[0]!r} (its {'index' if kind == 'group' else 'columns'}: {', '.join(map(str, have[:10]))})"
            raise MissingKeyError(msg)
    return table.loc[groups, genes].to_numpy(dtype=np.float64)


def scale(values: np.ndarray, how: str | None) -> np.ndarray:
    """Min–max scale to 0–1 per column (``"var"``) or per row (``"group"``/``"obs"``); flat → 0."""
    if how is None:
        return values
    axis = 0 if how == "var" else 1
    low = np.nanmin(values, axis=axis, keepdims=True)
    span = np.nanmax(values, axis=axis, keepdims=True) - low
    return (values - low) / np.where(span > 0, span, 1)


def color_norm(
    vmin: float | None, vmax: float | None, vcenter: float | None, norm: mcolors.Normalize | None
) -> mcolors.Normalize:
    """scanpy's ``check_colornorm``: ``norm``, or a (two-slope when ``vcenter``) normalisation."""
    if norm is not None:
        if any(v is not None for v in (vmin, vmax, vcenter)):
            msg = "pass norm or vmin/vmax/vcenter, not both"
            raise ParamError(msg)
        return copy.copy(norm)
    if vcenter is not None:
        return mcolors.TwoSlopeNorm(vcenter, vmin, vmax)
    return mcolors.Normalize(vmin, vmax)


def fitted(norm: mcolors.Normalize, values: np.ndarray) -> mcolors.Normalize:
    """A copy of ``norm`` with missing limits taken from ``values`` (a flat range widened by 1)."""
    norm = copy.copy(norm)
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size:
        norm.autoscale_None(finite)
    if norm.vmin is None or norm.vmax is None:
        norm.vmin, norm.vmax = 0.0, 1.0
    if norm.vmax <= norm.vmin and not isinstance(norm, mcolors.TwoSlopeNorm):
        norm.vmax = norm.vmin + 1
    return norm
