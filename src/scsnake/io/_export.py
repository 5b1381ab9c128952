"""Plain-text exports for other tools: cell annotations, embeddings and marker genes as CSV."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from scsnake._matrix import close_matches, is_sparse
from scsnake._params import StageParams, validated
from scsnake.errors import InputDataError, MissingKeyError, ParamError

from ._formats import describe_error

if TYPE_CHECKING:
    from collections.abc import Sequence
    from os import PathLike

    from anndata import AnnData

__all__ = ["ExportCsvParams", "export_csv"]

logger = logging.getLogger(__name__)


class ExportCsvParams(StageParams):
    """Parameters of :func:`export_csv`."""

    directory: Path
    """Directory the files are written to (created if missing)."""
    obs: bool = True
    """Write ``obs.csv``: the cell annotations, indexed by cell name."""
    embeddings: list[str] | None = None
    """``obsm`` keys written as ``<key>.csv``; None writes every ``obsm`` entry."""
    markers: bool = True
    """Write ``markers.csv`` from ``uns[key]`` (skipped when the default key is absent)."""
    key: str = "rank_genes_groups"
    """``uns`` key of the ``rank_genes_groups`` result behind ``markers.csv``."""


def _column_prefix(basis: str) -> str:
    """``X_umap`` → ``UMAP``, ``X_pca`` → ``PC``, ``X_draw_graph_fr`` → ``DRAW_GRAPH_FR``, ``spatial`` → ``SPATIAL``."""
    name = basis.removeprefix("X_")
    return "PC" if name == "pca" else name.upper()


def _embedding_frame(adata: AnnData, basis: str) -> pd.DataFrame:
    value = adata.obsm[basis]
    if isinstance(value, pd.DataFrame):
        return value.set_axis(adata.obs_names, axis=0)
    array = value.toarray() if is_sparse(value) else np.asarray(value)
    if array.ndim == 1:
        array = array[:, None]
    prefix = _column_prefix(basis)
    columns = [f"{prefix}{i + 1}" for i in range(array.shape[1])]
    return pd.DataFrame(array, index=adata.obs_names, columns=columns)


def _markers_frame(adata: AnnData, key: str) -> pd.DataFrame:
    from scsnake.get import rank_genes_groups_df

    table = rank_genes_groups_df(adata, None, key=key)
    if "group" not in table:  # a single group: rank_genes_groups_df leaves the column out
        group = adata.uns[key]["names"].dtype.names[0]
        table.insert(0, "group", group)
    return table


def _write_csv(frame: pd.DataFrame, path: Path, *, index: bool, index_label: str | None = None) -> None:
    """Write ``frame`` to a temporary sibling that then replaces ``path`` (removed on failure)."""
    from ._write import staged_write

    try:
        with staged_write(path, path.suffix) as tmp:
            frame.to_csv(tmp, index=index, index_label=index_label)
    except OSError as err:
        msg = f"cannot write {path}: {describe_error(err)}"
        raise InputDataError(msg) from None


@validated(ExportCsvParams)
def export_csv(
    adata: AnnData,
    directory: str | PathLike[str],
    *,
    obs: bool = True,
    embeddings: Sequence[str] | None = None,
    markers: bool = True,
    key: str = "rank_genes_groups",
) -> list[Path]:
    """Export cell annotations, embeddings and marker genes as CSV files.

    Each file is written to a temporary sibling and moved into place once complete.
    Embedding columns are named after the basis and numbered from 1 (``X_umap`` →
    ``UMAP1, UMAP2``; ``X_pca`` → ``PC1, PC2, …``; other keys upper-cased without ``X_``).

    Parameters
    ----------
    adata
        The data.
    directory
        Output directory (created if missing).
    obs
        Write ``obs.csv`` (cell names in the first column, ``cell``).
    embeddings
        ``obsm`` keys to write as ``<key>.csv`` (cell names first); None writes all of them.
    markers
        Write ``markers.csv``: every group's ranked genes from ``uns[key]`` (as
        :func:`scsnake.get.rank_genes_groups_df`), with a ``group`` column. When ``uns[key]``
        is absent it is skipped for the default ``key`` and an error for any other.
    key
        ``uns`` key of the ``rank_genes_groups`` result.

    Returns
    -------
    The paths written, in the order ``obs.csv``, the embeddings, ``markers.csv``.

    Examples
    --------
    >>> import tempfile, numpy as np, scsnake as ss
    >>> adata = ss.datasets.synthetic(n_cells=50, n_genes=200, seed=0)
    >>> adata.obsm["X_umap"] = np.zeros((adata.n_obs, 2))
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     [p.name for p in ss.io.export_csv(adata, tmp)]
    ['obs.csv', 'X_umap.csv']
    """
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        msg = f"export_csv: {directory} exists and is not a directory"
        raise InputDataError(msg)
    bases = list(adata.obsm.keys()) if embeddings is None else list(embeddings)
    for basis in bases:
        if "/" in basis or "\\" in basis or basis in ("", ".", ".."):
            msg = f"export_csv: obsm key {basis!r} cannot be a file name; export it under another key"
            raise ParamError(msg)
        if basis not in adata.obsm:
            msg = f"export_csv: obsm[{basis!r}] not found{close_matches(basis, adata.obsm.keys())} (obsm: {', '.join(adata.obsm.keys()) or 'empty'})"
            raise MissingKeyError(msg)
    write_markers = markers
    if markers and key not in adata.uns:
        if key != "rank_genes_groups":
            msg = f"export_csv: uns[{key!r}] not found{close_matches(key, adata.uns.keys())}; run rank_genes_groups first or pass markers=False"
            raise MissingKeyError(msg)
        logger.info("export_csv: no uns[%r]: markers.csv not written", key)
        write_markers = False
    tables: list[tuple[str, pd.DataFrame, bool]] = []
    if obs:
        tables.append(("obs.csv", adata.obs, True))
    tables += [(f"{basis}.csv", _embedding_frame(adata, basis), True) for basis in bases]
    if write_markers:
        tables.append(("markers.csv", _markers_frame(adata, key), False))
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame, index in tables:
        path = directory / name
        _write_csv(frame, path, index=index, index_label="cell" if index else None)
        written.append(path)
        logger.info("wrote %s", path)
    return written
