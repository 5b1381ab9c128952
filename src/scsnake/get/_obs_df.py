"""Columns of ``obs`` / ``var``, gene or cell values and embedding coordinates as one table."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from scsnake._matrix import get_matrix, is_sparse
from scsnake.errors import InputDataError, MissingKeyError

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Mapping

    from anndata import AnnData

__all__ = ["obs_df", "var_df"]


def _split_keys(
    annotation: pd.DataFrame,
    names: pd.Index,
    keys: Iterable[str],
    *,
    dim: Literal["obs", "var"],
    alias: pd.Index | None,
    where: str,
) -> tuple[list[str], list[str], list[str]]:
    """Keys that are columns, and (index name, shown name) of keys that are rows of the matrix."""
    other = "var" if dim == "obs" else "obs"
    search = f"{other}[{alias.name!r}]" if alias is not None else f"{other}_names"
    if not annotation.columns.is_unique:
        duplicated = annotation.columns[annotation.columns.duplicated()].tolist()
        msg = f"adata.{dim} has duplicated columns {duplicated}; rename or remove them first"
        raise InputDataError(msg)
    if not names.is_unique:
        msg = f"{where}.{other}_names has duplicates; run adata.{other}_names_make_unique() first"
        raise InputDataError(msg)
    lookup = pd.Series(names, index=alias if alias is not None else names)
    columns: list[str] = []
    rows: list[str] = []
    shown: list[str] = []
    missing: list[str] = []
    for key in dict.fromkeys(keys):
        if key in annotation.columns:
            if key in lookup.index:
                msg = f"the key {key!r} is found in both adata.{dim} and {where}.{search}"
                raise MissingKeyError(msg)
            columns.append(key)
        elif key in lookup.index:
            value = lookup[key]
            if isinstance(value, pd.Series):
                msg = f"{key!r} appears more than once in {where}.{search}"
                raise MissingKeyError(msg)
            rows.append(value)
            shown.append(key)
        else:
            missing.append(key)
    if missing:
        msg = f"keys {missing!r} not found in the columns of adata.{dim} or in {where}.{search}"
        raise MissingKeyError(msg)
    return columns, rows, shown


def _values(matrix: object, positions: np.ndarray, axis: int) -> np.ndarray:
    picked = matrix[:, positions] if axis == 1 else matrix[positions, :]
    if is_sparse(picked):
        picked = picked.toarray()
    return np.asarray(picked)


def _frame(
    annotation: pd.DataFrame, keys: list[str], columns: list[str], values: np.ndarray | None, shown: list[str]
) -> pd.DataFrame:
    """A table indexed as ``annotation``: ``values`` (columns ``shown``) and ``annotation[columns]``.

    Its columns are in the order of ``keys`` (when there are any).
    """
    df = pd.DataFrame(index=annotation.index)
    if values is not None:
        df = pd.concat([df, pd.DataFrame(values, columns=shown, index=annotation.index)], axis=1)
    if columns:
        df = pd.concat([df, annotation[columns]], axis=1)
    if keys:
        df = df[keys]
    return df


def _add_multi(
    df: pd.DataFrame, store: Mapping[str, object], pairs: Iterable[tuple[str, int]], slot: str
) -> None:
    for key, index in pairs:
        if key not in store:
            msg = f"{key!r} not found in adata.{slot} (available: {', '.join(store.keys()) or 'none'})"
            raise MissingKeyError(msg)
        value = store[key]
        if isinstance(value, pd.DataFrame):
            df[f"{key}-{index}"] = value.loc[:, index]
        else:
            column = value[:, index]
            df[f"{key}-{index}"] = np.ravel(column.toarray() if is_sparse(column) else column)


def obs_df(
    adata: AnnData,
    keys: Collection[str] = (),
    obsm_keys: Iterable[tuple[str, int]] = (),
    *,
    layer: str | None = None,
    gene_symbols: str | None = None,
    use_raw: bool = False,
) -> pd.DataFrame:
    """Values of genes, ``obs`` columns and ``obsm`` columns for every cell, as scanpy's.

    Parameters
    ----------
    adata
        The annotated data matrix.
    keys
        Gene names (``var_names``, or ``var[gene_symbols]``) or ``obs`` columns.
    obsm_keys
        ``(obsm key, column)`` pairs; the column is named ``"<key>-<column>"``.
    layer
        Layer to take gene values from (default ``X``).
    gene_symbols
        Column of ``var`` in which to look the gene keys up.
    use_raw
        Take gene values (and names) from ``adata.raw``.

    Returns
    -------
    A DataFrame indexed by ``obs_names`` with one column per key, in the order given, then
    one per ``obsm_keys`` pair.

    Examples
    --------
    >>> import scsnake as ss
    >>> adata = ss.datasets.synthetic(n_cells=20, n_genes=100, n_types=2, seed=0)
    >>> ss.get.obs_df(adata, [adata.var_names[0], "truth"]).shape
    (20, 2)
    """
    if isinstance(keys, str):
        keys = [keys]
    keys = list(keys)
    if use_raw and adata.raw is None:
        msg = "use_raw=True but the AnnData has no .raw; set use_raw=False"
        raise MissingKeyError(msg)
    var = adata.raw.var if use_raw else adata.var
    alias = pd.Index(var[gene_symbols], name=gene_symbols) if gene_symbols is not None else None
    if gene_symbols is not None and gene_symbols not in var.columns:
        msg = f"gene_symbols={gene_symbols!r} is not a column of adata.var"
        raise MissingKeyError(msg)
    columns, genes, shown = _split_keys(
        adata.obs, var.index, keys, dim="obs", alias=alias, where="adata.raw" if use_raw else "adata"
    )
    values = None
    if genes:
        matrix = get_matrix(adata, layer=layer, use_raw=use_raw)
        values = _values(matrix, var.index.get_indexer(genes), axis=1)
    df = _frame(adata.obs, keys, columns, values, shown)
    _add_multi(df, adata.obsm, obsm_keys, "obsm")
    return df


def var_df(
    adata: AnnData,
    keys: Collection[str] = (),
    varm_keys: Iterable[tuple[str, int]] = (),
    *,
    layer: str | None = None,
) -> pd.DataFrame:
    """Values of cells, ``var`` columns and ``varm`` columns for every gene, as scanpy's.

    Parameters
    ----------
    adata
        The annotated data matrix.
    keys
        Cell names (``obs_names``) or ``var`` columns.
    varm_keys
        ``(varm key, column)`` pairs; the column is named ``"<key>-<column>"``.
    layer
        Layer to take cell values from (default ``X``).

    Returns
    -------
    A DataFrame indexed by ``var_names`` with one column per key, in the order given, then
    one per ``varm_keys`` pair.

    Examples
    --------
    >>> import scsnake as ss
    >>> adata = ss.datasets.synthetic(n_cells=20, n_genes=100, n_types=2, seed=0)
    >>> ss.get.var_df(adata, [adata.obs_names[0]]).shape
    (100, 1)
    """
    if isinstance(keys, str):
        keys = [keys]
    keys = list(keys)
    columns, cells, _ = _split_keys(adata.var, adata.obs_names, keys, dim="var", alias=None, where="adata")
    values = None
    if cells:
        matrix = get_matrix(adata, layer=layer)
        values = _values(matrix, adata.obs_names.get_indexer(cells), axis=0).T
    df = _frame(adata.var, keys, columns, values, cells)
    _add_multi(df, adata.varm, varm_keys, "varm")
    return df
