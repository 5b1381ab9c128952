"""Scale each gene to unit variance and (optionally) zero mean."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pydantic import PositiveFloat, model_validator

from scsnake._matrix import (
    check_finite,
    check_nonempty,
    get_matrix,
    get_obs_column,
    get_obsm,
    is_sparse,
    set_matrix,
    view_to_actual,
)
from scsnake._params import StageParams, validated
from scsnake.errors import InputDataError
from scsnake.pp._kernels import (
    _densify_csc,
    _densify_scaled_csr,
    _major_sum_sumsq_csr,
    _minor_sum_sumsq_csr,
    _scale_data_csr,
    _scale_dense,
    _sum_sumsq_dense,
)

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["ScaleParams", "scale"]

logger = logging.getLogger(__name__)


class ScaleParams(StageParams):
    """Parameters of :func:`scale`."""

    zero_center: bool = True
    """Subtract each gene's mean; False keeps sparse data sparse."""
    max_value: PositiveFloat | None = None
    """Clip scaled values above this (and below -max_value when zero-centring); None: no clipping."""
    layer: str | None = None
    """Layer to scale instead of ``X``."""
    obsm: str | None = None
    """obsm key to scale instead of ``X``."""
    mask_obs: Any = None
    """Cells to compute the statistics on and scale: a bool array or the name of a bool obs column."""

    @model_validator(mode="after")
    def _check(self) -> ScaleParams:
        if self.layer is not None and self.obsm is not None:
            msg = f"layer={self.layer!r} and obsm={self.obsm!r} both select a matrix; pick one"
            raise ValueError(msg)
        mask = self.mask_obs
        if mask is not None and not isinstance(mask, str):
            kind = np.asarray(mask).dtype
            if np.asarray(mask).ndim != 1 or not pd.api.types.is_bool_dtype(kind):
                msg = "mask_obs must be a 1-d bool array or the name of a bool obs column"
                raise ValueError(msg)
        return self


def _mask(adata: AnnData, mask_obs: Any) -> np.ndarray | None:
    """``mask_obs`` as a bool array over the cells (None if not given)."""
    if mask_obs is None:
        return None
    if isinstance(mask_obs, str):
        column = get_obs_column(adata, mask_obs, what="mask_obs column")
        if not pd.api.types.is_bool_dtype(column.dtype):
            msg = f"mask_obs: obs[{mask_obs!r}] has dtype {column.dtype}; it must be bool"
            raise InputDataError(msg)
        mask = column.to_numpy()
    else:
        mask = np.asarray(mask_obs, dtype=bool)
    if mask.shape != (adata.n_obs,):
        msg = f"mask_obs has {mask.size} entries but adata has {adata.n_obs} cells"
        raise InputDataError(msg)
    if not mask.any():
        msg = "mask_obs selects no cells; scaling needs at least one"
        raise InputDataError(msg)
    return mask


def _mean_std(x: Any, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-gene mean and standard deviation (ddof=1) over the masked cells, float64."""
    if is_sparse(x):
        if x.format == "csr":
            sums, sumsq = _minor_sum_sumsq_csr(x.indptr, x.indices, x.data, x.shape[1], mask)
        else:
            sums, sumsq = _major_sum_sumsq_csr(x.indptr, x.indices, x.data, mask)
    else:
        sums, sumsq = _sum_sumsq_dense(x, mask)
    n = int(mask.sum())
    mean = sums / n
    var = sumsq / n - mean**2
    if n > 1:  # unbiased estimator, like scanpy (and R)
        var *= n / (n - 1)
    std = np.sqrt(np.maximum(var, 0))  # rounding can make a constant gene's variance -1e-17
    std[std == 0] = 1
    return mean, std


def _scale_matrix(
    x: Any, zero_center: bool, max_value: float | None, mask: np.ndarray
) -> tuple[Any, np.ndarray, np.ndarray]:
    """The scaled matrix (in place where the dtype and format allow), mean and std."""
    if is_sparse(x) and x.format not in ("csr", "csc"):
        x = x.tocsr()
    if is_sparse(x) and not x.has_canonical_format:  # the statistics need one entry per value
        x = x.copy()
        x.sum_duplicates()
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)  # like scanpy
    mean, std = _mean_std(x, mask)
    upper = np.inf if max_value is None else float(max_value)
    lower = -upper if zero_center else -np.inf
    if not is_sparse(x):
        _scale_dense(x, mean if zero_center else np.zeros_like(mean), std, mask, lower, upper)
        return x, mean, std
    rows_major = x.format == "csr"
    if not zero_center:
        _scale_data_csr(x.indptr, x.indices, x.data, std, mask, upper, rows_major)
        return x, mean, std
    logger.info("scale: zero-centring makes the sparse matrix dense (%d × %d)", *x.shape)
    if rows_major:
        out = np.empty(x.shape)
        _densify_scaled_csr(x.indptr, x.indices, x.data, mean, std, mask, lower, upper, out)
    else:
        out = np.zeros(x.shape)
        _densify_csc(x.indptr, x.indices, x.data, out)
        _scale_dense(out, mean, std, mask, lower, upper)
    return out, mean, std


@validated(ScaleParams)
def scale(
    adata: AnnData,
    *,
    zero_center: bool = True,
    max_value: float | None = None,
    layer: str | None = None,
    obsm: str | None = None,
    mask_obs: Any = None,
    copy: bool = False,
) -> AnnData | None:
    """Scale each gene to unit variance and, by default, zero mean.

    Genes with zero variance keep std 1 (zero-centred they become 0). Statistics are
    float64 with ``ddof=1``. Dense float data is scaled in place; with
    ``zero_center=False`` sparse data stays sparse (only stored values change), while
    zero-centring sparse data makes it dense (float64, like scanpy), one row at a time in
    parallel. Integer data becomes float64; duplicate entries of a non-canonical sparse
    matrix are summed first (in a copy).

    Parameters
    ----------
    adata
        Cells × genes data, usually log-normalised.
    zero_center
        Subtract each gene's mean.
    max_value
        Clip scaled values above ``max_value`` (and below ``-max_value`` when zero-centring).
    layer
        Layer to scale instead of ``X``.
    obsm
        obsm key to scale instead of ``X``; its statistics are not stored.
    mask_obs
        Compute the statistics on, and scale, only these cells (bool array or bool obs
        column name); the other cells are unchanged.
    copy
        Work on a copy of ``adata`` and return it.

    Returns
    -------
    None (or the copy), with ``X`` (or ``layers[layer]`` / ``obsm[obsm]``) scaled and
    ``var["mean"]`` / ``var["std"]`` the statistics before scaling; with ``mask_obs``
    they are ``var["mean of <column>"]`` / ``var["std of <column>"]`` (or
    ``"mean with mask"`` / ``"std with mask"`` for an array), like scanpy.

    Examples
    --------
    >>> import anndata as ad, numpy as np
    >>> adata = ad.AnnData(np.array([[1.0, 0.0], [3.0, 0.0]]))
    >>> scale(adata)
    >>> adata.X.round(4).tolist(), adata.var["std"].round(4).tolist()
    ([[-0.7071, 0.0], [0.7071, 0.0]], [1.4142, 1.0])
    """
    adata = adata.copy() if copy else adata
    view_to_actual(adata)
    mask = _mask(adata, mask_obs)
    if obsm is None:
        x = get_matrix(adata, layer=layer)
    else:
        x = get_obsm(adata, obsm)
        if not (isinstance(x, np.ndarray) or is_sparse(x)):
            msg = f"obsm[{obsm!r}] is a {type(x).__name__}; scale needs a numpy array or sparse matrix"
            raise InputDataError(msg)
    where = f"obsm[{obsm!r}]" if obsm is not None else "X" if layer is None else f"layer {layer!r}"
    check_nonempty(x, where=where, step="scale")
    check_finite(x, where=where)
    full = np.ones(x.shape[0], dtype=bool) if mask is None else mask
    x, mean, std = _scale_matrix(x, zero_center, max_value, full)
    if obsm is not None:
        adata.obsm[obsm] = x
        return adata if copy else None
    set_matrix(adata, x, layer=layer)
    if mask_obs is None:
        keys = ("mean", "std")
    elif isinstance(mask_obs, str):
        keys = (f"mean of {mask_obs}", f"std of {mask_obs}")
    else:
        keys = ("mean with mask", "std with mask")
    adata.var[keys[0]] = mean
    adata.var[keys[1]] = std
    return adata if copy else None
