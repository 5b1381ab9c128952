"""Scale each cell so that its counts add up to the same total."""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING, Annotated, Any, Literal, overload

import numpy as np
import pandas as pd
from pydantic import Field, PositiveFloat, model_validator

from scsnake._matrix import (
    check_finite,
    check_nonempty,
    get_matrix,
    get_obsm,
    is_sparse,
    set_matrix,
    view_to_actual,
)
from scsnake._params import StageParams, validated
from scsnake.errors import DataWarning, InputDataError, ParamError
from scsnake.pp._kernels import (
    _excluded_row_sums_csr,
    _excluded_row_sums_dense,
    _row_sums_csr,
    _row_sums_dense,
    _scale_rows_csr,
    _scale_rows_dense,
)

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["NormalizeTotalParams", "normalize_total"]

logger = logging.getLogger(__name__)


class NormalizeTotalParams(StageParams):
    """Parameters of :func:`normalize_total`."""

    target_sum: PositiveFloat | None = None
    """Total count each cell is scaled to; None takes the median of the nonzero cell totals."""
    exclude_highly_expressed: bool = False
    """Leave out genes that make up more than ``max_fraction`` of some cell's counts when computing the totals."""
    max_fraction: Annotated[float, Field(gt=0, le=1)] = 0.05
    """Fraction of a cell's counts above which a gene counts as highly expressed."""
    key_added: str | None = None
    """obs column for each cell's size factor (its total / target_sum); None stores nothing."""
    layer: str | None = None
    """Layer to normalise instead of ``X``."""
    obsm: str | None = None
    """obsm key of a cells × features matrix to normalise instead of ``X`` (scanpy 1.12)."""

    @model_validator(mode="after")
    def _one_matrix(self) -> NormalizeTotalParams:
        if self.obsm is not None and self.layer is not None:
            msg = f"obsm={self.obsm!r} and layer={self.layer!r} both select a matrix; pick one"
            raise ValueError(msg)
        return self


def _as_float(x: Any, *, copy: bool) -> Any:
    """``x`` as a float matrix (integers become float32, like scanpy); a copy if asked."""
    if is_sparse(x) and x.format not in ("csr", "csc"):
        x = x.tocsr()
        copy = False
    if not np.issubdtype(x.dtype, np.floating):
        return x.astype(np.float32)
    return x.copy() if copy else x


def _check_counts_like(adata: AnnData, x: Any, where: str, layer: str | None) -> None:
    """Refuse empty, non-finite and negative data; warn if ``X`` was log-transformed already."""
    check_nonempty(x, where=where, step="normalize_total")
    check_finite(x, where=where)
    values = x.data if is_sparse(x) else np.asarray(x)
    if values.size and values.min() < 0:
        n_neg = int(np.count_nonzero(values < 0))
        msg = f"normalize_total needs non-negative counts, but {where} has {n_neg} negative value(s) (min {float(values.min()):g}); was it scaled already?"
        raise InputDataError(msg)
    if layer is None and "log1p" in adata.uns:
        msg = "normalize_total: adata.uns['log1p'] exists, so X seems log-transformed; normalise counts before log1p (or pass layer='counts')"
        warnings.warn(msg, DataWarning, stacklevel=4)


def _cell_totals(
    x: Any, exclude_highly_expressed: bool, max_fraction: float
) -> tuple[np.ndarray, np.ndarray | None]:
    """Counts per cell (float64) and, if excluding, the mask of highly expressed genes."""
    n_obs, n_vars = x.shape
    if is_sparse(x):
        rows_major = x.format == "csr"
        totals = _row_sums_csr(x.indptr, x.indices, x.data, n_obs, rows_major)
        if not exclude_highly_expressed:
            return totals, None
        return _excluded_row_sums_csr(
            x.indptr, x.indices, x.data, totals, max_fraction, n_vars if rows_major else n_obs, rows_major
        )
    totals = _row_sums_dense(x)
    if not exclude_highly_expressed:
        return totals, None
    return _excluded_row_sums_dense(x, totals, max_fraction)


def _divide_rows(x: Any, divisors: np.ndarray) -> None:
    """Divide every row of ``x`` by its divisor, in place."""
    if is_sparse(x):
        _scale_rows_csr(x.indptr, x.indices, x.data, divisors, x.format == "csr")
    else:
        _scale_rows_dense(x, divisors)


@overload
def normalize_total(
    adata: AnnData,
    *,
    target_sum: float | None = ...,
    exclude_highly_expressed: bool = ...,
    max_fraction: float = ...,
    key_added: str | None = ...,
    layer: str | None = ...,
    obsm: str | None = ...,
    inplace: Literal[True] = ...,
    copy: bool = ...,
) -> AnnData | None: ...
@overload
def normalize_total(
    adata: AnnData,
    *,
    target_sum: float | None = ...,
    exclude_highly_expressed: bool = ...,
    max_fraction: float = ...,
    key_added: str | None = ...,
    layer: str | None = ...,
    obsm: str | None = ...,
    inplace: Literal[False],
    copy: bool = ...,
) -> dict[str, Any]: ...


@validated(NormalizeTotalParams)
def normalize_total(
    adata: AnnData,
    *,
    target_sum: float | None = None,
    exclude_highly_expressed: bool = False,
    max_fraction: float = 0.05,
    key_added: str | None = None,
    layer: str | None = None,
    obsm: str | None = None,
    inplace: bool = True,
    copy: bool = False,
) -> AnnData | dict[str, Any] | None:
    """Scale each cell so its counts add up to the same total.

    Each cell is divided by its size factor, ``total / target_sum``; with
    ``target_sum=1e6`` this is CPM. Cells with zero counts stay zero (with a warning).
    Float data is scaled in place (sparse: only the stored values); integer counts
    become float32, like scanpy.

    Parameters
    ----------
    adata
        Cells × genes counts.
    target_sum
        Total each cell is scaled to; None takes the median of the nonzero cell totals.
    exclude_highly_expressed
        Compute the totals without the genes that have more than ``max_fraction`` of
        the counts of at least one cell; the other genes then sum to ``target_sum``.
    max_fraction
        Threshold for ``exclude_highly_expressed``.
    key_added
        obs column to store each cell's size factor in.
    layer
        Layer to normalise instead of ``X``.
    obsm
        obsm key of a cells × features matrix to normalise instead (scanpy 1.12).
    inplace
        Update ``adata`` (True) or return the results (False).
    copy
        Work on a copy of ``adata`` and return it.

    Returns
    -------
    With ``inplace=True``: None (or the copy), with ``X`` (or ``layers[layer]``) normalised
    and, if ``key_added`` is given, ``obs[key_added]`` the size factors.
    With ``inplace=False``: ``{"X": normalised matrix, "norm_factor": size factors}``;
    ``adata`` is unchanged.

    Examples
    --------
    >>> import anndata as ad, numpy as np
    >>> adata = ad.AnnData(np.array([[1, 3], [2, 2], [0, 10]], dtype=np.float32))
    >>> normalize_total(adata, target_sum=1)
    >>> adata.X.tolist()
    [[0.25, 0.75], [0.5, 0.5], [0.0, 1.0]]
    """
    if copy and not inplace:
        msg = "normalize_total: copy=True cannot be combined with inplace=False (which returns a dict)"
        raise ParamError(msg)
    adata = adata.copy() if copy else adata
    if inplace:
        view_to_actual(adata)
    if obsm is not None:
        where = f"obsm {obsm!r}"
        counts = get_obsm(adata, obsm)
    else:
        where = "X" if layer is None else f"layer {layer!r}"
        counts = get_matrix(adata, layer=layer)
        _check_counts_like(adata, counts, where, layer)
    x = _as_float(counts, copy=not inplace)

    totals, high = _cell_totals(x, exclude_highly_expressed, max_fraction)
    if high is not None:
        excluded = adata.var_names[high] if obsm is None else pd.Index(np.flatnonzero(high).astype(str))
        logger.info(
            "normalize_total: %d highly expressed genes left out of the totals: %s",
            excluded.size,
            ", ".join(excluded[:20]) + (", …" if excluded.size > 20 else ""),
        )
    positive = totals > 0
    if target_sum is None:
        if not positive.any():
            msg = "normalize_total: every cell has zero counts, so target_sum=None (the median total) is undefined"
            raise InputDataError(msg)
        target_sum = float(np.median(totals[positive]))
    factors = totals / target_sum
    n_zero = int((~positive).sum())
    if n_zero:
        msg = f"normalize_total: {n_zero} cell(s) have zero counts; they are left unscaled"
        warnings.warn(msg, DataWarning, stacklevel=3)
    _divide_rows(x, np.where(factors == 0, 1.0, factors))

    norm_factor = factors.astype(x.dtype)  # scanpy keeps the matrix's float dtype
    if not inplace:
        return {"X": x, "norm_factor": norm_factor}
    if obsm is not None:
        adata.obsm[obsm] = x
    else:
        set_matrix(adata, x, layer=layer)
    if key_added is not None:
        adata.obs[key_added] = norm_factor
    return adata if copy else None
