"""Reading ``uns["rank_genes_groups"]``: result tables, chosen groups, gene labels and marker genes."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from scsnake._matrix import close_matches
from scsnake.errors import DataWarning, InputDataError, MissingKeyError

from ._style import symbols_column

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["gene_labels", "marker_genes", "result", "result_groups", "result_table", "values_table"]


def result(adata: AnnData, key: str | None) -> tuple[str, Mapping[str, Any]]:
    """The uns key (default ``"rank_genes_groups"``) and its entry; MissingKeyError when absent."""
    key = "rank_genes_groups" if key is None else key
    if key not in adata.uns:
        msg = f"uns[{key!r}] not found{close_matches(key, adata.uns.keys())}; run tl.rank_genes_groups first"
        raise MissingKeyError(msg)
    return key, adata.uns[key]


def result_table(entry: Mapping[str, Any], field: str, key: str) -> pd.DataFrame:
    """One result field as a DataFrame with a column per group (rank order down the rows)."""
    if field not in entry:
        msg = f"uns[{key!r}] has no {field!r} (fields: {', '.join(map(str, entry.keys()))})"
        raise MissingKeyError(msg)
    value = entry[field]
    if isinstance(value, pd.DataFrame):
        return value.reset_index(drop=True)
    if getattr(getattr(value, "dtype", None), "names", None):
        return pd.DataFrame({name: np.asarray(value[name]) for name in value.dtype.names})
    if isinstance(value, Mapping):
        return pd.DataFrame({str(k): np.asarray(v) for k, v in value.items()})
    msg = (
        f"uns[{key!r}][{field!r}] is a {type(value).__name__}; expected a record array with a field per group"
    )
    raise InputDataError(msg)


def result_groups(names: pd.DataFrame, groups: str | Sequence[str] | None, key: str) -> list[str]:
    """``groups`` (default: every group of the result); MissingKeyError names one not in it."""
    available = [str(c) for c in names.columns]
    chosen = (
        available if groups is None else [groups] if isinstance(groups, str) else [str(g) for g in groups]
    )
    unknown = [g for g in chosen if g not in available]
    if unknown:
        msg = f"group {unknown[0]!r} is not in uns[{key!r}]{close_matches(unknown[0], available)}"
        raise MissingKeyError(msg)
    return chosen


def gene_labels(
    adata: AnnData, entry: Mapping[str, Any], names: Sequence[str], gene_symbols: str | None
) -> list[str]:
    """``names`` as shown: the ``gene_symbols`` var column (of ``raw`` when the ranking used it), else as they are."""
    if gene_symbols is None:
        return [str(n) for n in names]
    var = adata.raw.var if adata.raw is not None and entry.get("params", {}).get("use_raw") else adata.var
    return [str(s) for s in symbols_column(var, gene_symbols).reindex(list(names)).fillna("")]


def marker_genes(
    adata: AnnData,
    entry: Mapping[str, Any],
    key: str,
    names: pd.DataFrame,
    groups: list[str],
    *,
    n_genes: int,
    gene_symbols: str | None,
    min_logfoldchange: float | None,
) -> dict[str, list[str]]:
    """Group → its top ``n_genes`` of ``names`` (negative: the lowest-ranked), those with a log fold
    change above ``min_logfoldchange`` only; a group without any is left out with a DataWarning."""  # fmt: skip
    lfc = result_table(entry, "logfoldchanges", key) if min_logfoldchange is not None else None
    markers = {}
    for group in groups:
        ranked = names[group]
        if lfc is not None:
            ranked = ranked[lfc[group].to_numpy(dtype=float) > min_logfoldchange]
        ranked = gene_labels(adata, entry, ranked[ranked.notna()].tolist(), gene_symbols)
        top = ranked[n_genes:] if n_genes < 0 else ranked[:n_genes]
        if top:
            markers[group] = top
        else:
            warnings.warn(f"no genes found for group {group!r}", DataWarning, stacklevel=4)
    if not markers:
        msg = f"no genes to plot: no group of uns[{key!r}] has genes passing min_logfoldchange={min_logfoldchange}"
        raise InputDataError(msg)
    return markers


def values_table(
    adata: AnnData,
    entry: Mapping[str, Any],
    key: str,
    values_to_plot: str,
    groups: list[str],
    gene_symbols: str | None,
) -> pd.DataFrame:
    """genes × groups values of one result field (missing → 1, as scanpy), ``-log10`` for ``log10_*``."""
    names = result_table(entry, "names", key)
    if len(names) < adata.n_vars:
        msg = f"values_to_plot needs every gene ranked, but uns[{key!r}] has {len(names)} of {adata.n_vars}; run tl.rank_genes_groups with n_genes=adata.n_vars"
        raise InputDataError(msg)
    field = result_table(entry, values_to_plot.removeprefix("log10_"), key)
    columns = {}
    for group in groups:
        index = gene_labels(adata, entry, names[group].tolist(), gene_symbols)
        series = pd.Series(field[group].to_numpy(dtype=float), index=index)
        columns[group] = series[~series.index.duplicated()]
    table = pd.DataFrame(columns).fillna(1.0)
    return -np.log10(table) if values_to_plot.startswith("log10_") else table
