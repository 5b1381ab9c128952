"""Graph autocorrelation of values over cells: Geary's C and Moran's I (scanpy's ``sc.metrics``)."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

from scsnake._matrix import close_matches, get_matrix
from scsnake._numba import njit, prange
from scsnake._params import StageParams, validated
from scsnake.errors import DataWarning, InputDataError, MissingKeyError, ParamError
from scsnake.tl._graph import choose_graph

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["gearys_c", "morans_i"]


@njit
def _autocorrelation_row(
    indptr: NDArray, indices: NDArray, weights: NDArray, row: NDArray, geary: bool
) -> float:
    """Geary's C (``geary``) or Moran's I of one float64 vector over a CSR graph."""
    n_cells = row.shape[0]
    mean = row.mean()
    ss = 0.0
    for i in range(n_cells):
        ss += (row[i] - mean) ** 2
    numerator = 0.0
    for i in range(n_cells):
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            if geary:
                numerator += weights[p] * (row[i] - row[j]) ** 2
            else:
                numerator += weights[p] * (row[i] - mean) * (row[j] - mean)
    total_weight = weights.sum()
    if geary:
        return (n_cells - 1) * numerator / (2.0 * total_weight * ss)
    return n_cells / total_weight * numerator / ss


@njit(parallel=True)
def _autocorrelation_dense(
    indptr: NDArray, indices: NDArray, weights: NDArray, x: NDArray, geary: bool
) -> NDArray:
    """The statistic of each row of ``x`` (features × cells, float64)."""
    n_features = x.shape[0]
    out = np.empty(n_features, dtype=np.float64)
    for k in prange(n_features):
        out[k] = _autocorrelation_row(indptr, indices, weights, x[k], geary)
    return out


@njit(parallel=True)
def _autocorrelation_csr(
    indptr: NDArray,
    indices: NDArray,
    weights: NDArray,
    x_indptr: NDArray,
    x_indices: NDArray,
    x_data: NDArray,
    n_cells: int,
    geary: bool,
) -> NDArray:
    """As :func:`_autocorrelation_dense` for CSR values, one row at a time scattered into a buffer."""
    n_features = len(x_indptr) - 1
    out = np.empty(n_features, dtype=np.float64)
    for k in prange(n_features):
        row = np.zeros(n_cells, dtype=np.float64)
        for p in range(x_indptr[k], x_indptr[k + 1]):
            row[x_indices[p]] = x_data[p]
        out[k] = _autocorrelation_row(indptr, indices, weights, row, geary)
    return out


def _graph_of(adata_or_graph: Any, use_graph: str | None, neighbors_key: str | None) -> sparse.csr_matrix:
    if isinstance(adata_or_graph, AnnData):
        graph = choose_graph(adata_or_graph, obsp=use_graph, neighbors_key=neighbors_key)
    elif sparse.issparse(adata_or_graph):
        graph = adata_or_graph
    else:
        msg = f"expected an AnnData or a sparse graph, got {type(adata_or_graph).__name__}"
        raise ParamError(msg)
    if graph.shape[0] != graph.shape[1]:
        msg = f"the graph must be square; got shape {graph.shape}"
        raise InputDataError(msg)
    return sparse.csr_matrix(graph, dtype=np.float64)


def _values_of(adata: AnnData, layer: str | None, obsm: str | None, obsp: str | None, use_raw: bool) -> Any:
    chosen = [name for name, value in (("layer", layer), ("obsm", obsm), ("obsp", obsp)) if value is not None]
    if len(chosen) + bool(use_raw) > 1:
        msg = f"pick one of layer, obsm, obsp and use_raw; got {', '.join(chosen + ['use_raw'] * use_raw)}"
        raise ParamError(msg)
    for slot, key in (("obsm", obsm), ("obsp", obsp)):
        if key is not None:
            store = getattr(adata, slot)
            if key not in store:
                msg = f"{slot}[{key!r}] not found{close_matches(key, store.keys())}"
                raise MissingKeyError(msg)
            return store[key]
    return get_matrix(adata, layer=layer, use_raw=use_raw)


def _autocorrelation(
    adata_or_graph: Any,
    vals: Any,
    *,
    kind: Literal["geary", "moran"],
    use_graph: str | None,
    neighbors_key: str | None,
    layer: str | None,
    obsm: str | None,
    obsp: str | None,
    use_raw: bool,
) -> NDArray | float:
    graph = _graph_of(adata_or_graph, use_graph, neighbors_key)
    if vals is None:
        if not isinstance(adata_or_graph, AnnData):
            msg = "vals is required when the first argument is a graph"
            raise ParamError(msg)
        vals = _values_of(adata_or_graph, layer, obsm, obsp, use_raw)
        vals = vals.T
    if isinstance(vals, pd.DataFrame | pd.Series):
        vals = vals.to_numpy()
    geary = kind == "geary"
    args = (graph.indptr, graph.indices, graph.data)
    if not sparse.issparse(vals):
        vals = np.asarray(vals)
        if vals.ndim == 1:
            if vals.shape[0] != graph.shape[0]:
                msg = f"vals has {vals.shape[0]} values for a graph of {graph.shape[0]} cells"
                raise InputDataError(msg)
            return float(_autocorrelation_row(*args, vals.astype(np.float64), geary))
    if vals.ndim != 2 or vals.shape[1] != graph.shape[0]:
        msg = f"vals must be (n_features, {graph.shape[0]} cells); got shape {vals.shape}"
        raise InputDataError(msg)
    constant = _constant_rows(vals)
    if constant.any():
        msg = f"{int(constant.sum())} variables were constant, will return nan for these."
        warnings.warn(msg, DataWarning, stacklevel=3)
    keep = np.flatnonzero(~constant)
    result = np.full(vals.shape[0], np.nan)
    if sparse.issparse(vals):
        x = sparse.csr_matrix(vals[keep], dtype=np.float64)
        x.sum_duplicates()
        result[keep] = _autocorrelation_csr(*args, x.indptr, x.indices, x.data, x.shape[1], geary)
    else:
        result[keep] = _autocorrelation_dense(
            *args, np.ascontiguousarray(vals[keep], dtype=np.float64), geary
        )
    return result


def _constant_rows(vals: Any) -> NDArray[np.bool_]:
    if sparse.issparse(vals):
        csr = sparse.csr_matrix(vals)
        return np.asarray(csr.max(axis=1).toarray()).ravel() == np.asarray(csr.min(axis=1).toarray()).ravel()
    return np.all(vals == vals[:, :1], axis=1)


class AutocorrelationParams(StageParams):
    """Options of :func:`gearys_c` and :func:`morans_i` (the data arguments pass unchecked)."""

    adata_or_graph: Any
    """AnnData with a neighbour graph, or the cells × cells graph itself."""
    vals: Any = None
    """Values per cell (vector or features × cells); None reads ``layer``/``obsm``/``obsp`` or X."""
    use_graph: str | None = None
    """obsp key of the graph; None uses the neighbours' connectivities."""
    neighbors_key: str | None = None
    """uns key of the neighbours whose connectivities are used."""
    layer: str | None = None
    """Layer holding the values."""
    obsm: str | None = None
    """obsm key holding the values."""
    obsp: str | None = None
    """obsp key holding the values."""
    use_raw: bool = False
    """Read the values from ``raw``."""


@validated(AutocorrelationParams)
def gearys_c(
    adata_or_graph: AnnData | sparse.spmatrix,
    /,
    vals: Any = None,
    *,
    use_graph: str | None = None,
    neighbors_key: str | None = None,
    layer: str | None = None,
    obsm: str | None = None,
    obsp: str | None = None,
    use_raw: bool = False,
) -> NDArray | float:
    r"""Geary's C autocorrelation of values over a cell graph, as scanpy's.

    :math:`C = \frac{(N - 1)\sum_{i,j} w_{ij} (x_i - x_j)^2}{2W \sum_i (x_i - \bar{x})^2}`

    Parameters
    ----------
    adata_or_graph
        An AnnData with a neighbors graph, or the graph itself (square, sparse).
    vals
        Values of shape ``(n_cells,)`` or ``(n_features, n_cells)``; by default the
        transposed matrix chosen by ``layer``, ``obsm``, ``obsp`` or ``use_raw`` (else ``X``).
    use_graph
        ``obsp`` key of the graph (default: the connectivities of ``neighbors_key``).
    neighbors_key
        ``uns`` key of the neighbors result whose connectivities are the graph.
    layer, obsm, obsp, use_raw
        Where ``vals`` come from when not given.

    Returns
    -------
    A float for one vector of values, else one value per feature (NaN for constant ones,
    with a :class:`~scsnake.errors.DataWarning`).
    """
    return _autocorrelation(
        adata_or_graph, vals, kind="geary", use_graph=use_graph, neighbors_key=neighbors_key,
        layer=layer, obsm=obsm, obsp=obsp, use_raw=use_raw,
    )  # fmt: skip


@validated(AutocorrelationParams)
def morans_i(
    adata_or_graph: AnnData | sparse.spmatrix,
    /,
    vals: Any = None,
    *,
    use_graph: str | None = None,
    neighbors_key: str | None = None,
    layer: str | None = None,
    obsm: str | None = None,
    obsp: str | None = None,
    use_raw: bool = False,
) -> NDArray | float:
    r"""Moran's I autocorrelation of values over a cell graph, as scanpy's.

    :math:`I = \frac{N \sum_{i,j} w_{ij} z_i z_j}{W \sum_i z_i^2}` with :math:`z = x - \bar{x}`.

    Parameters
    ----------
    adata_or_graph
        An AnnData with a neighbors graph, or the graph itself (square, sparse).
    vals
        Values of shape ``(n_cells,)`` or ``(n_features, n_cells)``; by default the
        transposed matrix chosen by ``layer``, ``obsm``, ``obsp`` or ``use_raw`` (else ``X``).
    use_graph
        ``obsp`` key of the graph (default: the connectivities of ``neighbors_key``).
    neighbors_key
        ``uns`` key of the neighbors result whose connectivities are the graph.
    layer, obsm, obsp, use_raw
        Where ``vals`` come from when not given.

    Returns
    -------
    A float for one vector of values, else one value per feature (NaN for constant ones,
    with a :class:`~scsnake.errors.DataWarning`).
    """
    return _autocorrelation(
        adata_or_graph, vals, kind="moran", use_graph=use_graph, neighbors_key=neighbors_key,
        layer=layer, obsm=obsm, obsp=obsp, use_raw=use_raw,
    )  # fmt: skip
