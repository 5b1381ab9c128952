"""Shared plot helpers: scanpy's palettes, category colours in ``uns``, colormaps, values by key."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib import colors as mcolors

from scsnake._matrix import close_matches, get_matrix, is_sparse
from scsnake.errors import MissingKeyError, ParamError

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = [
    "DEFAULT_20",
    "DEFAULT_28",
    "DEFAULT_102",
    "as_colormap",
    "category_colors",
    "default_palette",
    "gene_columns",
    "gene_index",
    "get_values",
    "palette_colors",
    "stored_colors",
    "symbols_column",
    "use_raw_default",
]

#: scanpy's ``default_20`` (vega_20 reordered and colour-blind adjusted).
DEFAULT_20 = [
    "#1f77b4", "#ff7f0e", "#279e68", "#d62728", "#aa40fc", "#8c564b", "#e377c2", "#b5bd61",
    "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2",
    "#dbdb8d", "#9edae5", "#ad494a", "#8c6d31",
]  # fmt: skip
#: scanpy's ``default_28`` (Zeileis et al. plus four).
DEFAULT_28 = [
    "#023fa5", "#7d87b9", "#bec1d4", "#d6bcc0", "#bb7784", "#8e063b", "#4a6fe3", "#8595e1",
    "#b5bbe3", "#e6afb9", "#e07b91", "#d33f6a", "#11c638", "#8dd593", "#c6dec7", "#ead3c6",
    "#f0b98d", "#ef9708", "#0fcfc0", "#9cded6", "#d5eae7", "#f3e1eb", "#f6c4e1", "#f79cd4",
    "#7f7f7f", "#c7c7c7", "#1CE6FF", "#336600",
]  # fmt: skip
#: scanpy's ``default_102`` ("godsnot" without black).
DEFAULT_102 = [
    "#FFFF00", "#1CE6FF", "#FF34FF", "#FF4A46", "#008941", "#006FA6", "#A30059", "#FFDBE5",
    "#7A4900", "#0000A6", "#63FFAC", "#B79762", "#004D43", "#8FB0FF", "#997D87", "#5A0007",
    "#809693", "#6A3A4C", "#1B4400", "#4FC601", "#3B5DFF", "#4A3B53", "#FF2F80", "#61615A",
    "#BA0900", "#6B7900", "#00C2A0", "#FFAA92", "#FF90C9", "#B903AA", "#D16100", "#DDEFFF",
    "#000035", "#7B4F4B", "#A1C299", "#300018", "#0AA6D8", "#013349", "#00846F", "#372101",
    "#FFB500", "#C2FFED", "#A079BF", "#CC0744", "#C0B9B2", "#C2FF99", "#001E09", "#00489C",
    "#6F0062", "#0CBD66", "#EEC3FF", "#456D75", "#B77B68", "#7A87A1", "#788D66", "#885578",
    "#FAD09F", "#FF8A9A", "#D157A0", "#BEC459", "#456648", "#0086ED", "#886F4C", "#34362D",
    "#B4A8BD", "#00A6AA", "#452C2C", "#636375", "#A3C8C9", "#FF913F", "#938A81", "#575329",
    "#00FECF", "#B05B6F", "#8CD0FF", "#3B9700", "#04F757", "#C8A1A1", "#1E6E00", "#7900D7",
    "#A77500", "#6367A9", "#A05837", "#6B002C", "#772600", "#D790FF", "#9B9700", "#549E79",
    "#FFF69F", "#201625", "#72418F", "#BC23FF", "#99ADC0", "#3A2465", "#922329", "#5B4534",
    "#FDE8DC", "#404E55", "#0089A3", "#CB7E98", "#A4E804", "#324E72",
]  # fmt: skip


def default_palette(n: int) -> list[str]:
    """scanpy's default colours for ``n`` categories (hex).

    The current ``axes.prop_cycle`` when it has enough colours (matplotlib's tab10 by
    default), else ``DEFAULT_20`` / ``DEFAULT_28`` / ``DEFAULT_102``, else grey.
    """
    cycle = mpl.rcParams["axes.prop_cycle"].by_key().get("color", [])
    if len(cycle) >= n:
        return [mcolors.to_hex(c) for c in cycle[:n]]
    for palette in (DEFAULT_20, DEFAULT_28, DEFAULT_102):
        if len(palette) >= n:
            return [mcolors.to_hex(c) for c in palette[:n]]  # lower case, as scanpy stores them
    return ["grey"] * n


def palette_colors(palette: Any, categories: Sequence[str]) -> list[str]:
    """Hex colours for ``categories`` from a colormap name, a mapping or a list of colours."""
    n = len(categories)
    if isinstance(palette, str) and palette in mpl.colormaps:
        cmap = mpl.colormaps[palette]
        return [mcolors.to_hex(c) for c in cmap(np.linspace(0, 1, n))]
    if isinstance(palette, Mapping):
        missing = [c for c in categories if c not in palette]
        if missing:
            msg = f"palette has no colour for categories {', '.join(map(repr, missing))}"
            raise ParamError(msg)
        palette = [palette[c] for c in categories]
    elif isinstance(palette, str) or not isinstance(palette, Sequence):
        msg = f"palette must be a colormap name, a list of colours or a dict category→colour, got {palette!r}"
        raise ParamError(msg)
    bad = [c for c in palette if not mcolors.is_color_like(c)]
    if bad or not palette:
        msg = f"palette has invalid colours: {', '.join(map(repr, bad)) or 'none given'}"
        raise ParamError(msg)
    return [_hex(palette[i % len(palette)]) for i in range(n)]


def _hex(color: Any) -> str:
    """``#rrggbb``, or ``#rrggbbaa`` when the colour is translucent."""
    return mcolors.to_hex(color, keep_alpha=mcolors.to_rgba(color)[3] < 1)


def category_colors(adata: AnnData, key: str, categories: Sequence[str], palette: Any = None) -> list[str]:
    """Colours of ``obs[key]``'s categories, kept in ``uns[f"{key}_colors"]``.

    A given ``palette`` replaces the stored colours; otherwise stored colours are reused
    when there are enough and all are valid, else scanpy's defaults are stored.
    """
    color_key = f"{key}_colors"
    if palette is not None:
        colors = palette_colors(palette, categories)
    else:
        stored = adata.uns.get(color_key)
        valid = (
            stored is not None
            and not isinstance(stored, str)
            and len(stored) >= len(categories)
            and all(mcolors.is_color_like(c) for c in stored)
        )
        if valid:
            return [str(c) for c in stored[: len(categories)]]
        colors = default_palette(len(categories))
    if not getattr(adata, "is_view", False):  # writing to a view would silently copy it
        adata.uns[color_key] = list(colors)
    return colors


def stored_colors(adata: AnnData, key: str, categories: Sequence[str], palette: Any = None) -> list[str]:
    """:func:`category_colors`, except that a view's ``uns`` is left alone.

    Writing colours into a view would turn it into a copy (anndata warns); for a view the
    colours are worked out the same way but not stored.
    """
    target = SimpleNamespace(uns=dict(adata.uns)) if adata.is_view else adata
    return category_colors(target, key, categories, palette)  # type: ignore[arg-type]


def as_colormap(cmap: str | mcolors.Colormap | None, default: str | None = None) -> mcolors.Colormap:
    """``cmap`` as a Colormap; None gives ``default``, else ``rcParams["image.cmap"]``."""
    if isinstance(cmap, mcolors.Colormap):
        return cmap
    return mpl.colormaps[cmap or default or mpl.rcParams["image.cmap"]]


def use_raw_default(adata: AnnData, use_raw: bool | None, layer: str | None) -> bool:
    """scanpy's rule: genes come from ``raw`` when present, unless a layer is given."""
    if use_raw is None:
        return adata.raw is not None and layer is None
    if use_raw and layer is not None:
        msg = f"use_raw=True and layer={layer!r} both select a matrix; pick one"
        raise ParamError(msg)
    return use_raw


def symbols_column(var: pd.DataFrame, gene_symbols: str) -> pd.Series:
    """``var[gene_symbols]``, the gene names to show; MissingKeyError when there is no such column."""
    if gene_symbols not in var.columns:
        msg = f"gene_symbols={gene_symbols!r} is not a var column{close_matches(gene_symbols, var.columns)}"
        raise MissingKeyError(msg)
    return var[gene_symbols]


def gene_index(adata: AnnData, genes: Sequence[str], *, use_raw: bool) -> np.ndarray:
    """Column indices of ``genes`` (in ``raw`` when ``use_raw``); MissingKeyError names the first missing."""
    var_names = adata.raw.var_names if use_raw else adata.var_names
    idx = var_names.get_indexer(list(genes)) if var_names.is_unique else None
    if idx is None:
        msg = "var_names are not unique; call adata.var_names_make_unique() first"
        raise ParamError(msg)
    for gene, i in zip(genes, idx, strict=True):
        if i < 0:
            where = "adata.raw.var_names" if use_raw else "adata.var_names"
            msg = f"gene {gene!r} not found in {where}{close_matches(gene, var_names)}"
            raise MissingKeyError(msg)
    return idx


def gene_columns(adata: AnnData, idx: np.ndarray, *, use_raw: bool, layer: str | None) -> np.ndarray:
    """Dense ``(n_obs, len(idx))`` float array of the selected genes only."""
    x = get_matrix(adata, layer=layer, use_raw=use_raw)
    sub = x[:, idx]
    sub = sub.toarray() if is_sparse(sub) else np.asarray(sub)
    return sub.astype(np.float64, copy=False)


def get_values(
    adata: AnnData, key: str, *, use_raw: bool, layer: str | None
) -> tuple[np.ndarray | pd.Categorical, bool]:
    """Values of an ``obs`` column or a gene, and whether they are categorical.

    String and boolean columns are categorical; string columns are stored back in
    ``obs`` as categoricals (as scanpy does) so their colours have a stable order.
    """
    var_names = adata.raw.var_names if use_raw else adata.var_names
    in_obs, in_var = key in adata.obs.columns, key in var_names
    if in_obs and in_var:
        msg = f"key {key!r} is both an obs column and a gene; rename one of them"
        raise ParamError(msg)
    if in_obs:
        column = adata.obs[key]
        if pd.api.types.is_bool_dtype(column.dtype):
            return pd.Categorical(column.astype(str)), True
        if pd.api.types.is_object_dtype(column.dtype) or pd.api.types.is_string_dtype(column.dtype):
            adata.obs[key] = column = column.astype("category")
        if isinstance(column.dtype, pd.CategoricalDtype):
            return column.array, True
        if not pd.api.types.is_numeric_dtype(column.dtype):
            msg = f"obs[{key!r}] has dtype {column.dtype}, which cannot be plotted; use numbers or categories"
            raise ParamError(msg)
        return column.to_numpy(dtype=np.float64, na_value=np.nan), False
    if in_var:
        idx = gene_index(adata, [key], use_raw=use_raw)
        return gene_columns(adata, idx, use_raw=use_raw, layer=layer)[:, 0], False
    candidates = [*map(str, adata.obs.columns), *map(str, var_names)]
    msg = f"key {key!r} is neither an obs column nor a gene{close_matches(key, candidates)}"
    raise MissingKeyError(msg)
