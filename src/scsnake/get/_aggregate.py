"""Sums, means, variances and non-zero counts per group of cells (scanpy's ``get.aggregate``)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from itertools import product
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
from anndata import AnnData
from pydantic import NonNegativeInt
from pydantic.json_schema import SkipJsonSchema
from scipy import sparse

from scsnake._matrix import close_matches, is_sparse
from scsnake._params import StageParams, validated
from scsnake.errors import DataWarning, InputDataError, MissingKeyError, ParamError

from ._aggregate_kernels import (
    _group_mean_var_compressed,
    _group_mean_var_dense,
    _group_nonzero_compressed,
    _group_nonzero_dense,
    _group_sums_compressed,
    _group_sums_dense,
)

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable

    from numpy.typing import NDArray

__all__ = ["AggregateParams", "aggregate"]

AggType = Literal["count_nonzero", "mean", "sum", "var", "median"]
_AGG_TYPES: tuple[str, ...] = ("count_nonzero", "mean", "sum", "var", "median")


class AggregateParams(StageParams):
    """Parameters of :func:`aggregate`."""

    by: str | Sequence[str]
    """Column(s) of ``obs`` (``var`` for ``axis=1``) whose combinations are the groups."""
    func: AggType | Sequence[AggType]
    """Statistic(s) to compute; one layer of the result each."""
    axis: Literal["obs", "var", 0, 1] | None = None
    """Axis to group: observations (0, the default) or variables (1, the default with ``varm``)."""
    mask: str | SkipJsonSchema[np.ndarray | pd.Series] | None = None
    """Boolean mask (or the name of a boolean column) of the observations to aggregate."""
    dof: NonNegativeInt = 1
    """Delta degrees of freedom of the variance."""
    layer: str | None = None
    """Aggregate this layer instead of ``X``."""
    obsm: str | None = None
    """Aggregate this ``obsm`` entry instead of ``X`` (``axis=0`` only)."""
    varm: str | None = None
    """Aggregate this ``varm`` entry instead of ``X`` (``axis=1`` only)."""


@validated(AggregateParams)
def aggregate(
    adata: AnnData,
    by: str | Collection[str],
    func: AggType | Iterable[AggType],
    *,
    axis: Literal["obs", 0, "var", 1] | None = None,
    mask: NDArray[np.bool_] | str | None = None,
    dof: int = 1,
    layer: str | None = None,
    obsm: str | None = None,
    varm: str | None = None,
) -> AnnData:
    """Aggregate the data matrix by groups of observations (or variables), as scanpy's ``get.aggregate``.

    One pass over the stored values per statistic; sparse input is never densified. Results
    equal scanpy 1.12's: sums of integer sparse data are int64, other results float64; the
    variance is computed by Welford's update (and so is the mean when ``"var"`` is asked too).

    Parameters
    ----------
    adata
        Annotated data matrix.
    by
        Column (or columns) of ``obs`` (``var`` for ``axis=1``) whose value combinations are
        the groups. Combinations no observation has are left out; observations without a
        value are not aggregated.
    func
        ``"sum"``, ``"mean"``, ``"count_nonzero"``, ``"var"``, ``"median"`` or a list of them.
    axis
        ``0``/``"obs"`` groups observations, ``1``/``"var"`` variables (default: 1 with ``varm``,
        else 0).
    mask
        Boolean array, or the name of a boolean column, of the observations to aggregate.
    dof
        Delta degrees of freedom of the variance (``n - dof`` divides the sum of squares).
    layer, obsm, varm
        Aggregate this layer / ``obsm`` / ``varm`` entry instead of ``X`` (at most one).

    Returns
    -------
    A new AnnData with one observation per group (variable for ``axis=1``) and
    ``layers[func]`` for each statistic. ``obs`` holds the ``by`` columns (categorical) and
    ``n_obs_aggregated`` (the number of observations in the group); its index joins the
    labels with ``"_"``. ``var`` is a copy of ``adata.var`` (of ``obs`` for ``axis=1``;
    ``"0", "1", …`` or the DataFrame's columns for ``obsm``/``varm``).

    Examples
    --------
    >>> import scsnake as ss
    >>> adata = ss.datasets.synthetic(n_cells=200, n_genes=100, n_types=3, seed=0)
    >>> pb = ss.get.aggregate(adata, by="truth", func=["sum", "count_nonzero"])
    >>> list(pb.layers), pb.n_vars == adata.n_vars
    (['sum', 'count_nonzero'], True)
    """
    axis_num = _resolve_axis(axis, varm=varm)
    dim = "obs" if axis_num == 0 else "var"
    funcs = _resolve_funcs(func)
    data = _select_data(adata, axis_num, layer=layer, obsm=obsm, varm=varm)
    labels = getattr(adata, dim)
    keep = _check_mask(labels, mask, dim)
    categorical, group_df = _combine_categories(labels, by, dim)

    codes = categorical.codes.astype(np.int64)
    if keep is not None:
        codes = np.where(keep, codes, -1)
    n_groups = len(categorical.categories)
    group_counts = np.bincount(codes[codes >= 0], minlength=n_groups)
    group_df["n_obs_aggregated"] = group_counts

    columns = data.columns if isinstance(data, pd.DataFrame) else None
    matrix = _as_matrix(data)
    layers = _aggregate_matrix(matrix, codes, group_counts, funcs, dof, categorical.categories)

    if obsm is not None or varm is not None:
        index = pd.Index(columns) if columns is not None else pd.RangeIndex(matrix.shape[1]).astype(str)
        features = pd.DataFrame(index=index)
    else:
        features = getattr(adata, "var" if axis_num == 0 else "obs").copy()
    result = AnnData(layers=layers, obs=group_df, var=features)
    return result.T if axis_num == 1 else result


def _resolve_axis(axis: Literal["obs", 0, "var", 1] | None, *, varm: str | None) -> int:
    if axis is None:
        return 1 if varm else 0
    return 0 if axis in (0, "obs") else 1


def _resolve_funcs(func: str | Iterable[str]) -> list[str]:
    """The statistics asked for, in scanpy's layer order."""
    asked = {func} if isinstance(func, str) else set(func)
    order = ["sum", "mean", "count_nonzero", "var", "median"]
    if "var" in asked and "mean" in asked:  # scanpy takes the mean from the variance's pass
        order = ["sum", "count_nonzero", "var", "mean", "median"]
    return [f for f in order if f in asked]


def _select_data(
    adata: AnnData, axis: int, *, layer: str | None, obsm: str | None, varm: str | None
) -> object:
    given = [name for name, value in (("layer", layer), ("obsm", obsm), ("varm", varm)) if value is not None]
    if len(given) > 1:
        msg = f"aggregate: pass at most one of layer, obsm and varm (got {', '.join(given)})"
        raise ParamError(msg)
    if varm is not None:
        if axis != 1:
            msg = f"aggregate: varm={varm!r} needs axis=1 (variables are grouped by varm)"
            raise ParamError(msg)
        if varm not in adata.varm:
            msg = f"varm[{varm!r}] not found{close_matches(varm, adata.varm.keys())}"
            raise MissingKeyError(msg)
        return adata.varm[varm]
    if obsm is not None:
        if axis != 0:
            msg = f"aggregate: obsm={obsm!r} needs axis=0 (observations are grouped by obsm)"
            raise ParamError(msg)
        if obsm not in adata.obsm:
            msg = f"obsm[{obsm!r}] not found{close_matches(obsm, adata.obsm.keys())}"
            raise MissingKeyError(msg)
        return adata.obsm[obsm]
    if layer is not None:
        if layer not in adata.layers:
            msg = f"layer {layer!r} not found in adata.layers{close_matches(layer, adata.layers.keys())}"
            raise MissingKeyError(msg)
        data = adata.layers[layer]
    else:
        if adata.X is None:
            msg = "aggregate: adata.X is empty (None); pass layer= to select a matrix"
            raise MissingKeyError(msg)
        data = adata.X
    return data.T if axis == 1 else data


def _as_matrix(data: object) -> np.ndarray | sparse.csr_matrix | sparse.csc_matrix:
    """A dense array or a CSR/CSC matrix (other sparse formats converted; nothing densified)."""
    if isinstance(data, pd.DataFrame):
        return data.to_numpy()
    if is_sparse(data):
        return data if data.format in ("csr", "csc") else data.tocsr()
    if isinstance(data, np.ndarray):
        return data
    if hasattr(data, "compute") or not hasattr(data, "__array__"):
        msg = f"aggregate: cannot aggregate a {type(data).__name__}; give a numpy array or a scipy sparse matrix"
        raise InputDataError(msg)
    return np.asarray(data)


def _check_mask(labels: pd.DataFrame, mask: object, dim: str) -> NDArray[np.bool_] | None:
    if mask is None:
        return None
    if isinstance(mask, str):
        if mask not in labels.columns:
            msg = f"mask column {mask!r} not found in adata.{dim}{close_matches(mask, labels.columns)}"
            raise MissingKeyError(msg)
        values = labels[mask].to_numpy()
    else:
        values = np.asarray(mask)
        if values.shape != (labels.shape[0],):
            msg = f"aggregate: mask has shape {values.shape}; expected ({labels.shape[0]},), one value per {dim}"
            raise ParamError(msg)
    if not pd.api.types.is_bool_dtype(values.dtype):
        msg = f"aggregate: mask must be boolean, got dtype {values.dtype}"
        raise ParamError(msg)
    return values.astype(bool)


def _combine_categories(
    labels: pd.DataFrame, by: str | Collection[str], dim: str
) -> tuple[pd.Categorical, pd.DataFrame]:
    """The group of each observation and a frame labelling each group, as scanpy builds them."""
    cols = [by] if isinstance(by, str) else list(by)
    for col in cols:
        if col not in labels.columns:
            msg = f"by: column {col!r} not found in adata.{dim}{close_matches(col, labels.columns)}"
            raise MissingKeyError(msg)
    df = pd.DataFrame({c: pd.Categorical(labels[c]).remove_unused_categories() for c in cols})
    n_categories = [len(df[c].cat.categories) for c in cols]
    code_combinations = np.indices(n_categories).reshape(len(n_categories), -1)
    names = pd.Index(["_".join(map(str, x)) for x in product(*[df[c].cat.categories for c in cols])])
    group_df = pd.DataFrame(
        {
            c: pd.Categorical.from_codes(code_combinations[i], df[c].cat.categories)
            for i, c in enumerate(cols)
        },
        index=names,
    )
    factors = np.ones(len(cols) + 1, dtype=np.int64)
    np.cumprod(n_categories[::-1], out=factors[1:])
    factors = factors[:-1][::-1]
    code_array = np.stack([df[c].cat.codes.to_numpy().astype(np.int64) for c in cols])
    codes = (code_array * factors[:, None]).sum(axis=0)
    codes = np.where((code_array < 0).any(axis=0), -1, codes)
    categorical = pd.Categorical.from_codes(codes, categories=names).remove_unused_categories()
    return categorical, group_df.loc[categorical.categories]


def _aggregate_matrix(
    x: np.ndarray | sparse.csr_matrix | sparse.csc_matrix,
    codes: NDArray[np.int64],
    group_counts: NDArray[np.int64],
    funcs: list[str],
    dof: int,
    groups: pd.Index,
) -> dict[str, np.ndarray]:
    n_groups, n_features = group_counts.size, x.shape[1]
    dense = not is_sparse(x)
    result: dict[str, np.ndarray] = {}
    mean_var = None
    if "var" in funcs:
        if dense:
            mean_var = _group_mean_var_dense(np.ascontiguousarray(x), codes, n_groups)
        else:
            mean_var = _group_mean_var_compressed(
                x.indptr, x.indices, x.data, codes, x.format == "csr", group_counts, n_features
            )
    for func in funcs:
        if func == "sum":
            result[func] = _sums(x, codes, n_groups)
        elif func == "count_nonzero":
            out = np.zeros((n_groups, n_features), dtype=np.float64 if dense else np.int64)
            if dense:
                _group_nonzero_dense(x, codes, out)
            else:
                _group_nonzero_compressed(x.indptr, x.indices, x.data, codes, x.format == "csr", out)
            result[func] = out
        elif func == "mean":
            if mean_var is not None:
                result[func] = mean_var[0]
            else:
                with np.errstate(invalid="ignore", divide="ignore"):
                    result[func] = _sums(x, codes, n_groups) / group_counts[:, None]
        elif func == "var":
            result[func] = _apply_dof(mean_var[1], group_counts, dof, groups)
        else:
            result[func] = _medians(x, codes, n_groups)
    return result


def _sums(
    x: np.ndarray | sparse.csr_matrix | sparse.csc_matrix, codes: np.ndarray, n_groups: int
) -> np.ndarray:
    if not is_sparse(x):
        out = np.zeros((n_groups, x.shape[1]))
        _group_sums_dense(x, codes, out)
        return out
    integer = np.issubdtype(x.dtype, np.integer)
    out = np.zeros((n_groups, x.shape[1]), dtype=np.int64 if integer else np.float64)
    _group_sums_compressed(x.indptr, x.indices, x.data, codes, x.format == "csr", out)
    return out


def _apply_dof(var: np.ndarray, group_counts: np.ndarray, dof: int, groups: pd.Index) -> np.ndarray:
    if dof == 0:
        return var
    denom = np.where(group_counts > dof, group_counts - dof, np.nan)
    too_small = np.isnan(denom)
    if too_small.any():
        msg = (
            f"aggregate: groups {groups[too_small].to_list()} have dof={dof} or fewer observations; "
            "their variance is NaN"
        )
        warnings.warn(msg, DataWarning, stacklevel=4)
    var *= (group_counts / denom)[:, np.newaxis]
    return var


def _medians(
    x: np.ndarray | sparse.csr_matrix | sparse.csc_matrix, codes: np.ndarray, n_groups: int
) -> np.ndarray:
    from sklearn.utils.sparsefuncs import csc_median_axis_0

    medians = []
    for group in range(n_groups):
        rows = np.flatnonzero(codes == group)
        if is_sparse(x):
            medians.append(csc_median_axis_0(sparse.csc_matrix(x[rows])))
        else:
            medians.append(np.median(x[rows], axis=0))
    return np.array(medians)
