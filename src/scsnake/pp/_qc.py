"""Quality-control metrics per cell and per gene (scanpy's ``calculate_qc_metrics``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, overload

import numpy as np
import pandas as pd
from pydantic import Field, PositiveInt, model_validator

from scsnake._matrix import check_finite, close_matches, get_matrix, is_sparse, view_to_actual
from scsnake._params import StageParams, validated
from scsnake.errors import InputDataError, MissingKeyError
from scsnake.pp._kernels import _qc_csr, _qc_dense

if TYPE_CHECKING:
    from collections.abc import Sequence

    from anndata import AnnData

__all__ = ["CalculateQcMetricsParams", "calculate_qc_metrics"]

Name = Annotated[str, Field(min_length=1)]


class CalculateQcMetricsParams(StageParams):
    """Parameters of :func:`calculate_qc_metrics`."""

    expr_type: Name = "counts"
    """Name of the values, used in the metric names (``total_counts``)."""
    var_type: Name = "genes"
    """Name of the variables, used in the metric names (``n_genes_by_counts``)."""
    qc_vars: str | tuple[str, ...] = ()
    """Bool var columns (e.g. ``"mt"``) whose genes' share of the counts is reported per cell."""
    percent_top: tuple[PositiveInt, ...] | None = (50, 100, 200, 500)
    """Ranks n for ``pct_counts_in_top_<n>_genes``; each must be at most the number of genes."""
    layer: str | None = None
    """Layer to use instead of ``X``."""
    use_raw: bool = False
    """Use ``raw.X`` (metrics for ``raw.var`` genes)."""
    log1p: bool = True
    """Also add ``log1p_*`` versions of the counts and totals."""
    parallel: bool | None = None
    """Accepted for scanpy's signature (deprecated there and without effect)."""

    @model_validator(mode="after")
    def _check(self) -> CalculateQcMetricsParams:
        if self.use_raw and self.layer is not None:
            msg = f"use_raw=True and layer={self.layer!r} both select a matrix; pick one"
            raise ValueError(msg)
        return self


def _qc_masks(var: pd.DataFrame, qc_vars: Sequence[str]) -> np.ndarray:
    """``(n_qc, n_vars)`` bool matrix: which genes each ``qc_vars`` column selects."""
    masks = np.zeros((len(qc_vars), len(var)), dtype=bool)
    for i, name in enumerate(qc_vars):
        if name not in var.columns:
            msg = f"qc_vars: column {name!r} not found in var{close_matches(name, var.columns)}; add a bool column first, e.g. adata.var['mt'] = adata.var_names.str.startswith('MT-')"
            raise MissingKeyError(msg)
        column = var[name]
        if not pd.api.types.is_bool_dtype(column.dtype) or column.isna().any():
            msg = f"qc_vars: var[{name!r}] has dtype {column.dtype}; it must be bool (True for the genes to sum)"
            raise InputDataError(msg)
        masks[i] = column.to_numpy(dtype=bool)
    return masks


def _compute(x: Any, qc_masks: np.ndarray, ns: np.ndarray) -> tuple[np.ndarray, ...]:
    """Run the QC kernel for the matrix's layout (CSC and COO go through CSR)."""
    if is_sparse(x):
        if x.format != "csr":
            x = x.tocsr()
        return _qc_csr(x.indptr, x.indices, x.data, x.shape[1], qc_masks, ns)
    return _qc_dense(np.asarray(x), qc_masks, ns)


def _frames(
    x: Any,
    obs_names: pd.Index,
    var_names: pd.Index,
    qc_vars: Sequence[str],
    qc_masks: np.ndarray,
    ns: np.ndarray,
    expr_type: str,
    var_type: str,
    log1p: bool,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-cell and per-gene metrics, in scanpy's column order."""
    n_genes, totals, top, qc_totals, gene_n, gene_totals = _compute(x, qc_masks, ns)
    e, v = expr_type, var_type
    obs: dict[str, np.ndarray] = {f"n_{v}_by_{e}": n_genes}
    if log1p:
        obs[f"log1p_n_{v}_by_{e}"] = np.log1p(n_genes)
    obs[f"total_{e}"] = totals
    if log1p:
        obs[f"log1p_total_{e}"] = np.log1p(totals)
    with np.errstate(divide="ignore", invalid="ignore"):  # cells without counts get NaN, like scanpy
        for j, n in enumerate(ns):
            obs[f"pct_{e}_in_top_{n}_{v}"] = top[:, j] / totals * 100
        for q, name in enumerate(qc_vars):
            obs[f"total_{e}_{name}"] = qc_totals[:, q]
            if log1p:
                obs[f"log1p_total_{e}_{name}"] = np.log1p(qc_totals[:, q])
            obs[f"pct_{e}_{name}"] = qc_totals[:, q] / totals * 100
    n_obs = x.shape[0]
    with np.errstate(divide="ignore", invalid="ignore"):  # no cells: NaN means
        mean = gene_totals / n_obs
        dropout = (1 - gene_n / n_obs) * 100
    var: dict[str, np.ndarray] = {f"n_cells_by_{e}": gene_n, f"mean_{e}": mean}
    if log1p:
        var[f"log1p_mean_{e}"] = np.log1p(mean)
    var[f"pct_dropout_by_{e}"] = dropout
    var[f"total_{e}"] = gene_totals
    if log1p:
        var[f"log1p_total_{e}"] = np.log1p(gene_totals)
    return pd.DataFrame(obs, index=obs_names), pd.DataFrame(var, index=var_names)


@overload
def calculate_qc_metrics(
    adata: AnnData,
    *,
    expr_type: str = ...,
    var_type: str = ...,
    qc_vars: str | Sequence[str] = ...,
    percent_top: Sequence[int] | None = ...,
    layer: str | None = ...,
    use_raw: bool = ...,
    inplace: Literal[False] = ...,
    log1p: bool = ...,
    parallel: bool | None = ...,
) -> tuple[pd.DataFrame, pd.DataFrame]: ...
@overload
def calculate_qc_metrics(
    adata: AnnData,
    *,
    expr_type: str = ...,
    var_type: str = ...,
    qc_vars: str | Sequence[str] = ...,
    percent_top: Sequence[int] | None = ...,
    layer: str | None = ...,
    use_raw: bool = ...,
    inplace: Literal[True],
    log1p: bool = ...,
    parallel: bool | None = ...,
) -> None: ...


@validated(CalculateQcMetricsParams)
def calculate_qc_metrics(
    adata: AnnData,
    *,
    expr_type: str = "counts",
    var_type: str = "genes",
    qc_vars: str | Sequence[str] = (),
    percent_top: Sequence[int] | None = (50, 100, 200, 500),
    layer: str | None = None,
    use_raw: bool = False,
    inplace: bool = False,
    log1p: bool = True,
    parallel: bool | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """Quality-control metrics per cell and per gene, like scater's ``calculateQCMetrics``.

    One pass over the matrix (sparse stays sparse; CSC is read through a CSR copy of
    its structure). A value counts as expressed when it is nonzero.

    Parameters
    ----------
    adata
        Cells × genes counts.
    expr_type, var_type
        Names used in the metric names (``total_{expr_type}``, ``n_{var_type}_by_{expr_type}``).
    qc_vars
        Bool var columns, e.g. ``"mt"``; for each, the counts in its genes and their
        percentage of each cell's total.
    percent_top
        Ranks n for the percentage of counts in each cell's n most expressed genes;
        None or ``()`` skips them.
    layer
        Layer to use instead of ``X``.
    use_raw
        Use ``raw.X``. If ``raw`` has other genes than ``adata``, ``qc_vars`` are read
        from and gene metrics written to ``raw.var``.
    inplace
        Add the metrics to ``obs`` and ``var`` (True) or return them (False).
    log1p
        Also compute ``log1p_*`` versions of counts and totals.
    parallel
        Accepted for scanpy's signature (deprecated there); no effect.

    Returns
    -------
    With ``inplace=False``: ``(obs_metrics, var_metrics)`` DataFrames. With ``inplace=True``:
    None, and these columns are added (names for the defaults ``expr_type="counts"``,
    ``var_type="genes"``):

    ``obs``: ``n_genes_by_counts``, ``total_counts``, ``pct_counts_in_top_<n>_genes``,
    ``total_counts_<qc>``, ``pct_counts_<qc>`` and ``log1p_n_genes_by_counts``,
    ``log1p_total_counts``, ``log1p_total_counts_<qc>``.

    ``var``: ``n_cells_by_counts``, ``mean_counts``, ``pct_dropout_by_counts``,
    ``total_counts`` and ``log1p_mean_counts``, ``log1p_total_counts``.

    Examples
    --------
    >>> import anndata as ad, numpy as np
    >>> adata = ad.AnnData(np.array([[1, 0, 3], [0, 0, 4]], dtype=np.float32))
    >>> adata.var["mt"] = [True, False, False]
    >>> obs, var = calculate_qc_metrics(adata, qc_vars="mt", percent_top=[1])
    >>> obs["pct_counts_mt"].tolist(), var["n_cells_by_counts"].tolist()
    ([25.0, 0.0], [1, 0, 2])
    """
    del parallel  # deprecated in scanpy, without effect there either
    x = get_matrix(adata, layer=layer, use_raw=use_raw)
    check_finite(x, where="raw.X" if use_raw else "X" if layer is None else f"layer {layer!r}")
    # raw metrics describe raw's genes; they go to adata.var only when the genes match
    raw_genes_differ = use_raw and not adata.raw.var_names.equals(adata.var_names)
    var_frame = adata.raw.var if raw_genes_differ else adata.var
    qc_names = [qc_vars] if isinstance(qc_vars, str) else list(qc_vars)
    qc_masks = _qc_masks(var_frame, qc_names)
    ns = np.unique(np.asarray(percent_top or (), dtype=np.int64))
    if ns.size and ns[-1] > x.shape[1]:
        msg = f"percent_top={tuple(int(n) for n in ns)} asks for ranks up to {ns[-1]} but there are only {x.shape[1]} genes; pass smaller ranks or percent_top=None"
        raise InputDataError(msg)
    obs_df, var_df = _frames(
        x, adata.obs_names, var_frame.index, qc_names, qc_masks, ns, expr_type, var_type, log1p
    )
    if not inplace:
        return obs_df, var_df
    view_to_actual(adata)
    for key, values in obs_df.items():
        adata.obs[key] = values.to_numpy()
    var_target = adata.raw.var if raw_genes_differ else adata.var
    for key, values in var_df.items():
        var_target[key] = values.to_numpy()
    return None
