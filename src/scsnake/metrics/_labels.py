"""Agreement of cell labels: a labelled confusion matrix and the modularity of a clustering."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

from scsnake._matrix import get_obs_column
from scsnake._params import StageParams, validated
from scsnake.errors import InputDataError, MissingKeyError, ParamError
from scsnake.tl._graph import neighbors_entry

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["confusion_matrix", "modularity"]


def _natural_key(label: Any) -> tuple[Any, ...]:
    """Natural order (``"2" < "10"``) as natsort's default; numbers sort as numbers."""
    if isinstance(label, int | float | np.number):
        return (label,)
    return tuple(int(part) if i % 2 else part for i, part in enumerate(re.split(r"(\d+)", str(label))))


def _order(labels: pd.Series) -> np.ndarray:
    if isinstance(labels.dtype, pd.CategoricalDtype):
        return np.asarray(labels.cat.categories)
    return np.asarray(sorted(pd.unique(labels), key=_natural_key), dtype=object)


class ConfusionMatrixParams(StageParams):
    """Options of :func:`confusion_matrix` (the labellings pass unchecked)."""

    orig: Any
    """Original labels, or a column of ``data``."""
    new: Any
    """New labels, or a column of ``data``."""
    data: Any = None
    """DataFrame holding the columns ``orig`` and ``new`` name."""
    normalize: bool = True
    """Divide each row by its total (fractions of the original labels)."""


@validated(ConfusionMatrixParams)
def confusion_matrix(
    orig: pd.Series | np.ndarray | Sequence | str,
    new: pd.Series | np.ndarray | Sequence | str,
    data: pd.DataFrame | None = None,
    *,
    normalize: bool = True,
) -> pd.DataFrame:
    """Labelled confusion matrix of two labellings of the same cells, as scanpy's.

    Parameters
    ----------
    orig
        Original labels, or a column of ``data``.
    new
        New labels, or a column of ``data``.
    data
        A table (``adata.obs``) to take ``orig`` / ``new`` from when they are names.
    normalize
        Divide each row by its total (the fraction of each original label given each new one).

    Returns
    -------
    A DataFrame: original labels as rows, new labels as columns (categories in their order,
    other labels in natural order), counts or row fractions.

    Examples
    --------
    >>> import scsnake as ss
    >>> ss.metrics.confusion_matrix(["a", "a", "b"], ["x", "y", "y"]).to_numpy().tolist()
    [[0.5, 0.5], [0.0, 1.0]]
    """
    if data is not None:
        orig = data[orig] if isinstance(orig, str) else orig
        new = data[new] if isinstance(new, str) else new
    orig, new = pd.Series(orig), pd.Series(new)
    if len(orig) != len(new):
        msg = f"orig has {len(orig)} labels and new has {len(new)}; they must label the same cells"
        raise InputDataError(msg)
    labels = pd.unique(np.concatenate((orig.to_numpy(), new.to_numpy())))
    index = pd.Index(labels)
    rows = index.get_indexer(orig.to_numpy())
    cols = index.get_indexer(new.to_numpy())
    counts = np.zeros((len(labels), len(labels)), dtype=np.int64)
    np.add.at(counts, (rows, cols), 1)
    matrix: np.ndarray = counts
    if normalize:
        sums = counts.sum(axis=1)[:, np.newaxis]
        matrix = counts.astype(np.float64)
        np.divide(matrix, sums, where=sums != 0, out=matrix)
    df = pd.DataFrame(
        matrix,
        index=pd.Index(labels, name="Original labels" if orig.name is None else orig.name),
        columns=pd.Index(labels, name="New Labels" if new.name is None else new.name),
    )
    return df.loc[_order(orig), _order(new)]


def _codes(labels: Any) -> np.ndarray:
    if isinstance(labels, pd.Series):
        labels = labels.astype("category").array
    if not isinstance(labels, pd.Categorical):
        labels = pd.Categorical(labels)
    return np.asarray(labels.codes)


def _modularity_of(adjacency: Any, labels: Any, *, is_directed: bool) -> float:
    """Weighted modularity, igraph's, of a graph with one edge per nonzero entry."""
    coo = sparse.coo_matrix(adjacency)
    codes = _codes(labels)
    if len(codes) != coo.shape[0]:
        msg = f"{len(codes)} labels for a graph of {coo.shape[0]} nodes"
        raise InputDataError(msg)
    weights = coo.data.astype(np.float64)
    total = weights.sum()
    n_groups = int(codes.max()) + 1 if len(codes) else 0
    same = codes[coo.row] == codes[coo.col]
    out_degree = np.bincount(codes[coo.row], weights=weights, minlength=n_groups)
    in_degree = np.bincount(codes[coo.col], weights=weights, minlength=n_groups)
    if is_directed:
        return float(weights[same].sum() / total - (out_degree * in_degree).sum() / total**2)
    degree = out_degree + in_degree
    return float(2 * weights[same].sum() / (2 * total) - (degree**2).sum() / (2 * total) ** 2)


class ModularityParams(StageParams):
    """Options of :func:`modularity` (the graph passes unchecked)."""

    adata_or_connectivities: Any
    """AnnData with a neighbour graph, or the connectivities themselves."""
    labels: Any = "leiden"
    """obs column of the clustering, or the labels per cell."""
    neighbors_key: str | None = None
    """uns key of the neighbours whose connectivities are used."""
    is_directed: bool | None = None
    """Treat the graph as directed; None decides from its symmetry."""
    mode: Literal["calculate", "update", "retrieve"] = "calculate"
    """Compute it; also store it in ``uns``; or read the stored value."""


@validated(ModularityParams)
def modularity(
    adata_or_connectivities: AnnData | Any,
    /,
    labels: str | Any = "leiden",
    *,
    neighbors_key: str | None = None,
    is_directed: bool | None = None,
    mode: Literal["calculate", "update", "retrieve"] = "calculate",
) -> float:
    """Modularity of a clustering on a weighted graph, as scanpy 1.12's (igraph's definition).

    Parameters
    ----------
    adata_or_connectivities
        An AnnData with a neighbors graph, or a weighted adjacency matrix.
    labels
        Cluster labels per node, or (with an AnnData) an ``obs`` column.
    neighbors_key
        With an AnnData, the neighbors result whose connectivities are the graph.
    is_directed
        Whether the adjacency is directed; required for a matrix (an AnnData's is undirected).
    mode
        With an AnnData: ``"calculate"``, ``"update"`` (also stores it in
        ``uns[labels]["modularity"]``) or ``"retrieve"`` (reads it from there).

    Returns
    -------
    The modularity; ``mode="update"`` writes ``uns[labels]["modularity"]``.
    """
    if not isinstance(adata_or_connectivities, AnnData):
        if isinstance(labels, str):
            msg = "labels must be an array of labels when passing a connectivities matrix"
            raise ParamError(msg)
        if is_directed is None:
            msg = "is_directed must be given when passing a connectivities matrix"
            raise ParamError(msg)
        return _modularity_of(adata_or_connectivities, labels, is_directed=is_directed)
    adata = adata_or_connectivities
    if is_directed:
        msg = f"connectivities stored in an AnnData are undirected; got is_directed={is_directed!r}"
        raise ParamError(msg)
    if mode not in {"calculate", "update", "retrieve"}:
        msg = f"mode={mode!r}; expected 'calculate', 'update' or 'retrieve'"
        raise ParamError(msg)
    if mode != "calculate" and not isinstance(labels, str):
        msg = f"mode={mode!r} needs labels as an obs key (the uns entry to read or update)"
        raise ParamError(msg)
    if mode == "retrieve":
        if labels not in adata.uns or "modularity" not in adata.uns[labels]:
            msg = f"uns[{labels!r}]['modularity'] not found; use mode='calculate'"
            raise MissingKeyError(msg)
        return adata.uns[labels]["modularity"]
    values = get_obs_column(adata, labels, what="labels") if isinstance(labels, str) else labels
    value = _modularity_of(neighbors_entry(adata, neighbors_key)[1], values, is_directed=False)
    if mode == "update":
        adata.uns.setdefault(labels, {})["modularity"] = value
    return value
