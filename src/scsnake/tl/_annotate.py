"""Name clusters after the cell type whose marker genes they express most."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from scsnake._matrix import get_matrix, get_obs_column
from scsnake._params import StageParams, validated
from scsnake.errors import DataWarning, InputDataError, ParamError

from ._rank_genes_stats import group_moments, value_flags

if TYPE_CHECKING:
    from anndata import AnnData
    from numpy.typing import NDArray

__all__ = ["AnnotateClustersParams", "annotate_clusters", "read_marker_file"]

logger = logging.getLogger(__name__)


class AnnotateClustersParams(StageParams):
    """Parameters of :func:`annotate_clusters`."""

    markers: Mapping[str, Sequence[str]] | Path
    """Cell type → marker genes, or the path of a YAML file holding that mapping."""
    groupby: str = "leiden"
    """``obs`` column of the clusters."""
    key_added: str = "cell_type"
    """``obs`` column of the cell types; the score table goes to ``uns[f"{key_added}_scores"]``."""
    method: Literal["mean_zscore"] = "mean_zscore"
    """Score of a type in a cluster: mean over its markers of the cluster mean of the z-scored gene."""
    min_score: float = 0.0
    """Clusters whose best score is below this are called ``unassigned``."""
    unassigned: str = "unassigned"
    """Label of clusters that match no type well enough."""
    use_raw: bool | None = None
    """Use ``raw``; None uses it when present and no ``layer`` is given."""
    layer: str | None = None
    """Use this layer instead of ``X``."""


@validated(AnnotateClustersParams)
def annotate_clusters(
    adata: AnnData,
    markers: Mapping[str, Sequence[str]] | str | os.PathLike[str],
    *,
    groupby: str = "leiden",
    key_added: str = "cell_type",
    method: Literal["mean_zscore"] = "mean_zscore",
    min_score: float = 0.0,
    unassigned: str = "unassigned",
    use_raw: bool | None = None,
    layer: str | None = None,
) -> pd.DataFrame:
    """Assign each cluster the cell type whose marker genes score highest in it.

    Each marker gene is z-scored over all cells (mean and standard deviation with
    ``ddof=1``; a constant gene scores 0). A type's score in a cluster is the mean over its
    markers of the cluster's mean z-score, computed from per-cluster sums in one pass over
    the marker columns (sparse stays sparse). Each cluster gets its best-scoring type (the
    first in ``markers`` order on ties), or ``unassigned`` if that score is below
    ``min_score``. Marker genes missing from ``var_names`` are skipped with a
    :class:`~scsnake.errors.DataWarning`; so is a type none of whose genes are present.

    Parameters
    ----------
    adata
        Annotated data matrix with log-normalised values and a clustering.
    markers
        Cell type → list of marker genes, or a YAML file with that mapping
        (see :func:`read_marker_file`).
    groupby
        ``obs`` column of the clusters.
    key_added
        ``obs`` column written.
    method
        ``"mean_zscore"``.
    min_score
        Smallest best score that still names a cluster.
    unassigned
        Label of the other clusters.
    use_raw
        Use ``raw``; None uses it when present and ``layer`` is not given.
    layer
        Layer to use.

    Returns
    -------
    The score table (clusters × cell types, DataFrame). Writes ``obs[key_added]``
    (categorical: each cell's cluster type) and ``uns[f"{key_added}_scores"]`` (the table).

    Examples
    --------
    >>> import anndata as ad, numpy as np, pandas as pd
    >>> x = np.log1p(np.array([[5, 0], [6, 1], [7, 0], [0, 4], [1, 5], [0, 6]], dtype=np.float32))
    >>> obs = pd.DataFrame({"leiden": list("000111")}, index=list("abcdef"))
    >>> adata = ad.AnnData(x, obs=obs, var=pd.DataFrame(index=["Cd3e", "Cd19"]))
    >>> table = annotate_clusters(adata, {"T": ["Cd3e"], "B": ["Cd19"]})
    >>> adata.obs["cell_type"].tolist()
    ['T', 'T', 'T', 'B', 'B', 'B']
    """
    if isinstance(markers, (str, os.PathLike)):
        markers = read_marker_file(markers)
    if unassigned in markers:
        msg = (
            f"annotate_clusters: unassigned={unassigned!r} is also a cell type in markers; pick another label"
        )
        raise ParamError(msg)
    if use_raw is None:
        use_raw = layer is None and adata.raw is not None
    x = get_matrix(adata, layer=layer, use_raw=use_raw)
    var_names = adata.raw.var_names if use_raw else adata.var_names
    types, gene_sets = _marker_columns(markers, var_names)

    column = get_obs_column(adata, groupby, what="groupby")
    cat = column.array if isinstance(column.dtype, pd.CategoricalDtype) else pd.Categorical(column)
    codes = np.asarray(cat.codes, dtype=np.int64)
    counts = np.bincount(codes[codes >= 0], minlength=len(cat.categories))
    observed = np.flatnonzero(counts)
    if observed.size == 0:
        msg = f"annotate_clusters: obs[{groupby!r}] has no cells with a cluster (all values missing)"
        raise InputDataError(msg)
    remap = np.full(len(cat.categories) + 1, -1, dtype=np.int64)
    remap[observed] = np.arange(observed.size)
    clusters = [str(c) for c in cat.categories[observed]]
    cell_codes = remap[codes]

    columns = np.unique(np.concatenate(gene_sets))
    sub = x[:, columns]
    finite, counts_like = value_flags(sub)
    if not finite:
        msg = "annotate_clusters: the marker genes' values contain NaN or infinite values; clean or impute them first"
        raise InputDataError(msg)
    if counts_like:
        msg = "annotate_clusters expects log-normalised data, but the values are non-negative integers (raw counts?); run normalize_total and log1p first"
        warnings.warn(msg, DataWarning, stacklevel=3)
    z = _cluster_zscores(sub, cell_codes, counts[observed])
    position = {c: i for i, c in enumerate(columns)}
    scores = np.column_stack([z[:, [position[c] for c in genes]].mean(axis=1) for genes in gene_sets])

    best = np.argmax(scores, axis=1)
    best_score = scores[np.arange(len(clusters)), best]
    labels = np.array([types[b] for b in best], dtype=object)
    labels[best_score < min_score] = unassigned
    used = [t for t in types if t in set(labels)] + ([unassigned] if unassigned in set(labels) else [])
    per_cell = pd.Categorical.from_codes(
        np.where(cell_codes >= 0, pd.Index(used).get_indexer(labels)[cell_codes], -1), categories=used
    )
    adata.obs[key_added] = pd.Series(per_cell, index=adata.obs_names)
    table = pd.DataFrame(scores, index=pd.Index(clusters, name=groupby), columns=types)
    adata.uns[f"{key_added}_scores"] = table
    logger.info(
        "annotated %d clusters of obs[%r]: %s",
        len(clusters),
        groupby,
        dict(zip(clusters, labels, strict=True)),
    )
    return table


def _marker_columns(
    markers: Mapping[str, Sequence[str]], var_names: pd.Index
) -> tuple[list[str], list[NDArray]]:
    """Types that keep at least one marker, and the column indices of their present markers."""
    if not var_names.is_unique:
        msg = "annotate_clusters needs unique var_names; call adata.var_names_make_unique() first"
        raise InputDataError(msg)
    types, gene_sets, missing, dropped = [], [], [], []
    for cell_type, genes in markers.items():
        listed = pd.Index([str(g) for g in genes]).unique()
        idx = var_names.get_indexer(listed)
        if (idx >= 0).any():
            if (idx < 0).any():
                missing.append(f"{cell_type}: {', '.join(listed[idx < 0])}")
            types.append(str(cell_type))
            gene_sets.append(idx[idx >= 0])
        else:
            dropped.append(str(cell_type))
    if missing:
        msg = f"annotate_clusters: marker genes not in var_names are skipped ({'; '.join(missing)})"
        warnings.warn(msg, DataWarning, stacklevel=4)
    if dropped:
        msg = f"annotate_clusters: cell type(s) {', '.join(map(repr, dropped))} have no marker gene in var_names and are dropped"
        warnings.warn(msg, DataWarning, stacklevel=4)
    if not types:
        msg = f"annotate_clusters: none of the marker genes of {len(markers)} cell type(s) is in var_names"
        raise InputDataError(msg)
    return types, gene_sets


def _cluster_zscores(x: Any, codes: NDArray[np.int64], sizes: NDArray[np.int64]) -> NDArray[np.float64]:
    """Per cluster (rows) and gene: the cluster mean of the gene's z-score over all cells."""
    n_cells = x.shape[0]
    sums, sumsq, _ = group_moments(x, codes, sizes.size)
    total = sums.sum(axis=0)
    mean = total / n_cells
    var = np.maximum(sumsq.sum(axis=0) - n_cells * mean**2, 0.0) / max(n_cells - 1, 1)
    sd = np.sqrt(var)
    sd[sd == 0] = np.inf  # a constant gene: every z-score is 0
    return (sums[:-1] / sizes[:, None] - mean) / sd


def read_marker_file(path: str | os.PathLike[str]) -> dict[str, list[str]]:
    """Read a YAML mapping of cell type → list of marker genes.

    Parameters
    ----------
    path
        YAML file, e.g. ``T cell: [Cd3e, Cd3d]`` on one line per type.

    Returns
    -------
    The mapping, types and genes as strings, in file order.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "markers.yaml"
    >>> _ = f.write_text("T cell: [Cd3e, Cd3d]\\nB cell:\\n  - Cd19\\n")
    >>> read_marker_file(f)
    {'T cell': ['Cd3e', 'Cd3d'], 'B cell': ['Cd19']}
    """
    import yaml

    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        msg = f"marker file {str(path)!r} cannot be read: {err.strerror or err}"
        raise InputDataError(msg) from None
    try:
        content = yaml.safe_load(text)
    except yaml.YAMLError as err:
        msg = f"marker file {str(path)!r} is not valid YAML: {err}"
        raise InputDataError(msg) from None
    if not isinstance(content, dict) or not content:
        got = "an empty file" if content is None else f"{type(content).__name__} {content!r}"[:80]
        msg = f"marker file {str(path)!r} must map each cell type to a list of genes (e.g. 'T cell: [Cd3e, Cd3d]'), got {got}"
        raise InputDataError(msg)
    markers: dict[str, list[str]] = {}
    for cell_type, genes in content.items():
        where = f"marker file {str(path)!r}, entry {str(cell_type)!r}"
        if not isinstance(genes, list) or not genes:
            msg = f"{where}: expected a non-empty list of gene names, got {genes!r}"
            raise InputDataError(msg)
        bad = [g for g in genes if not isinstance(g, str)]
        if bad:
            msg = (
                f"{where}: {bad[0]!r} is not a gene name (YAML read it as {type(bad[0]).__name__}; quote it)"
            )
            raise InputDataError(msg)
        markers[str(cell_type)] = genes
    return markers
