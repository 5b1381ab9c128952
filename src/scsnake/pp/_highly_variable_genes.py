"""Annotate highly variable genes: ``seurat``, ``cell_ranger``, ``seurat_v3`` and ``seurat_v3_paper``."""

from __future__ import annotations

import logging
import math
import warnings
from typing import TYPE_CHECKING, Annotated, Any, Literal, overload

import numpy as np
import pandas as pd
from pydantic import Discriminator, Field, PositiveInt, Tag, ValidationInfo, field_validator

from scsnake._matrix import check_counts, check_finite, get_matrix, get_obs_column, view_to_actual
from scsnake._params import StageParams, validated
from scsnake.errors import InputDataError, ScsnakeWarning
from scsnake.pp._hvg_kernels import grouped_moments, mean_var_from_sums, squares_rtol
from scsnake.pp._hvg_seurat import Cutoffs, combine_batches, dispersion_table, with_unexpressed
from scsnake.pp._hvg_seurat_v3 import seurat_v3_table

if TYPE_CHECKING:
    from anndata import AnnData
    from numpy.typing import NDArray

__all__ = [
    "DispersionHvgParams",
    "HighlyVariableGenesParams",
    "SeuratV3HvgParams",
    "highly_variable_genes",
]

logger = logging.getLogger(__name__)

_CUTOFF_DEFAULTS = {"min_disp": 0.5, "max_disp": math.inf, "min_mean": 0.0125, "max_mean": 3}
#: ``n_top_genes`` used by the Seurat v3 flavors when it is None (as in scanpy).
_V3_DEFAULT_N_TOP = 2000


class _HvgParamsBase(StageParams):
    layer: str | None = None
    """Layer to use instead of ``X``."""
    n_top_genes: PositiveInt | None = None
    """Number of genes to flag; None applies the cut-offs (seurat_v3: 2000)."""
    min_disp: float = 0.5
    """Lower bound on the normalised dispersion (dispersion flavors, n_top_genes=None)."""
    max_disp: float = math.inf
    """Upper bound on the normalised dispersion (dispersion flavors, n_top_genes=None)."""
    min_mean: float = 0.0125
    """Lower bound on the mean (dispersion flavors, n_top_genes=None)."""
    max_mean: float = 3
    """Upper bound on the mean (dispersion flavors, n_top_genes=None)."""
    span: float = 0.3
    """Fraction of genes in each local loess fit of the mean-variance trend (seurat_v3)."""
    n_bins: PositiveInt = 20
    """Number of mean bins the dispersions are normalised in (seurat)."""
    subset: bool = False
    """Keep only the highly variable genes instead of flagging them."""
    batch_key: str | None = None
    """obs column of batches: genes are selected per batch and the selections combined."""
    check_values: bool = True
    """Check that the matrix holds counts (seurat_v3)."""
    filter_unexpressed_genes: bool | None = None
    """Leave genes without a positive value out of the statistics (dispersion flavors; always with batch_key)."""


class DispersionHvgParams(_HvgParamsBase):
    """``seurat`` / ``cell_ranger``: normalised dispersions of log-normalised data."""

    flavor: Literal["seurat", "cell_ranger"] = "seurat"
    """``seurat`` bins genes by mean in equal-width bins, ``cell_ranger`` by mean percentiles."""

    @field_validator("max_disp", "max_mean")
    @classmethod
    def _upper_above_lower(cls, value: float, info: ValidationInfo) -> float:
        lower_name = "min_" + str(info.field_name)[4:]
        lower = info.data.get(lower_name)
        if lower is not None and value < lower:
            msg = f"must not be below {lower_name} ({lower})"
            raise ValueError(msg)
        return value


class SeuratV3HvgParams(_HvgParamsBase):
    """``seurat_v3`` / ``seurat_v3_paper``: variance of loess-standardised counts."""

    flavor: Literal["seurat_v3", "seurat_v3_paper"] = "seurat_v3"
    """``seurat_v3`` ranks by median rank across batches, ``seurat_v3_paper`` by the number of batches first."""
    span: Annotated[float, Field(gt=0, le=1)] = 0.3
    """Fraction of genes in each local loess fit of the mean-variance trend."""


_FLAVORS = ("seurat", "cell_ranger", "seurat_v3", "seurat_v3_paper")


def _params_kind(value: Any) -> str | None:
    """Which model checks a call: chosen by ``flavor`` (None for an unknown flavor)."""
    flavor = value.get("flavor", "seurat") if isinstance(value, dict) else getattr(value, "flavor", None)
    if flavor in ("seurat", "cell_ranger"):
        return "DispersionHvg"
    if flavor in ("seurat_v3", "seurat_v3_paper"):
        return "SeuratV3Hvg"
    return None


#: Tagged union on ``flavor``; the tags are capitalised so error paths show field names only.
HighlyVariableGenesParams = Annotated[
    Annotated[DispersionHvgParams, Tag("DispersionHvg")] | Annotated[SeuratV3HvgParams, Tag("SeuratV3Hvg")],
    Discriminator(
        _params_kind,
        custom_error_type="invalid_flavor",
        custom_error_message=f"flavor must be one of {', '.join(map(repr, _FLAVORS))}",
    ),
]


def _batch_codes(adata: AnnData, batch_key: str | None) -> tuple[NDArray[np.int64], list[str]]:
    """A batch code per cell (0..n-1) and the batch names, in category order."""
    if batch_key is None:
        return np.zeros(adata.n_obs, dtype=np.int64), ["all"]
    column = get_obs_column(adata, batch_key, what="batch_key")
    batches = column.array if isinstance(column.dtype, pd.CategoricalDtype) else pd.Categorical(column)
    batches = batches.remove_unused_categories()
    if batches.isna().any():
        msg = f"batch_key {batch_key!r}: {int(batches.isna().sum())} cell(s) have no batch (missing value); fill or drop them"
        raise InputDataError(msg)
    codes = np.asarray(batches.codes, dtype=np.int64)
    names = [str(c) for c in batches.categories]
    sizes = np.bincount(codes, minlength=len(names))
    if (sizes < 2).any():
        small = names[int(np.argmin(sizes))]
        msg = f"batch_key {batch_key!r}: batch {small!r} has {sizes.min()} cell; each batch needs at least 2"
        raise InputDataError(msg)
    return codes, names


def _cutoff(n_top_genes: int | None, bounds: dict[str, float]) -> Cutoffs | int:
    if n_top_genes is None:
        return Cutoffs(**bounds)
    changed = [k for k, v in bounds.items() if v != _CUTOFF_DEFAULTS[k]]
    if changed:
        msg = f"n_top_genes={n_top_genes} is given, so {', '.join(changed)} (cut-offs) are ignored"
        warnings.warn(msg, ScsnakeWarning, stacklevel=4)
    return n_top_genes


def _dispersion_hvg(
    adata: AnnData,
    x: Any,
    codes: NDArray[np.int64],
    n_batches: int,
    batched: bool,
    *,
    flavor: Literal["seurat", "cell_ranger"],
    n_bins: int,
    cutoff: Cutoffs | int,
    where: str,
    filter_unexpressed: bool = False,
) -> pd.DataFrame:
    scale = 1.0
    if flavor == "seurat":
        log1p = adata.uns.get("log1p", {})
        base = log1p.get("base") if isinstance(log1p, dict) else None
        scale = 1.0 if base is None else float(np.log(base))
    sums, sumsq, n_pos = grouped_moments(
        x, codes, expm1=flavor == "seurat", scale=scale, count_positive=batched or filter_unexpressed
    )
    if not (np.isfinite(sums).all() and np.isfinite(sumsq).all()):
        check_finite(x, where=where)  # finite sums: finite values, without a pass of its own
    n_cells = np.bincount(codes, minlength=n_batches)
    if not batched and not filter_unexpressed:
        mean, var = mean_var_from_sums(sums[0], sumsq[0], n_cells[0], rtol=squares_rtol(x))
        df = dispersion_table(mean, var, flavor=flavor, n_bins=n_bins, cutoff=cutoff)
        df.index = adata.var_names
        return df
    tables = []
    for b in range(n_batches):
        # like scanpy, genes without a positive value (in a batch) are left out of the
        # statistics and count as zeros
        expressed = n_pos[b] > 0
        mean, var = mean_var_from_sums(
            sums[b, expressed], sumsq[b, expressed], n_cells[b], rtol=squares_rtol(x)
        )
        part = dispersion_table(mean, var, flavor=flavor, n_bins=n_bins, cutoff=cutoff)
        if not batched:
            if not expressed.all():  # scanpy's frame: all of its columns, with zeros added
                part = with_unexpressed(part, expressed, list(part.columns))
            part.index = adata.var_names
            return part
        tables.append(
            with_unexpressed(part, expressed, ["means", "dispersions", "dispersions_norm", "highly_variable"])
        )
    return combine_batches(tables, adata.var_names, cutoff)


@overload
def highly_variable_genes(
    adata: AnnData,
    *,
    layer: str | None = ...,
    n_top_genes: int | None = ...,
    min_disp: float = ...,
    max_disp: float = ...,
    min_mean: float = ...,
    max_mean: float = ...,
    span: float = ...,
    n_bins: int = ...,
    flavor: str = ...,
    subset: bool = ...,
    inplace: Literal[True] = ...,
    batch_key: str | None = ...,
    filter_unexpressed_genes: bool | None = ...,
    check_values: bool = ...,
) -> None: ...
@overload
def highly_variable_genes(
    adata: AnnData,
    *,
    layer: str | None = ...,
    n_top_genes: int | None = ...,
    min_disp: float = ...,
    max_disp: float = ...,
    min_mean: float = ...,
    max_mean: float = ...,
    span: float = ...,
    n_bins: int = ...,
    flavor: str = ...,
    subset: bool = ...,
    inplace: Literal[False],
    batch_key: str | None = ...,
    filter_unexpressed_genes: bool | None = ...,
    check_values: bool = ...,
) -> pd.DataFrame: ...


@validated(HighlyVariableGenesParams)
def highly_variable_genes(
    adata: AnnData,
    *,
    layer: str | None = None,
    n_top_genes: int | None = None,
    min_disp: float = 0.5,
    max_disp: float = math.inf,
    min_mean: float = 0.0125,
    max_mean: float = 3,
    span: float = 0.3,
    n_bins: int = 20,
    flavor: Literal["seurat", "cell_ranger", "seurat_v3", "seurat_v3_paper"] = "seurat",
    subset: bool = False,
    inplace: bool = True,
    batch_key: str | None = None,
    filter_unexpressed_genes: bool | None = None,
    check_values: bool = True,
) -> pd.DataFrame | None:
    """Annotate highly variable genes, as scanpy does.

    ``seurat`` and ``cell_ranger`` expect log-normalised data: the dispersion
    (variance / mean; for ``seurat`` of ``expm1(X)``, logarithmised) is normalised within
    bins of genes of similar mean. ``seurat_v3`` and ``seurat_v3_paper`` expect counts:
    each gene is standardised with a standard deviation regularised by a loess fit of
    log-variance on log-mean, clipped at ``sqrt(n_cells)``, and genes are ranked by the
    variance of the result. With ``batch_key`` genes are selected within each batch and
    ranked by the number of batches that select them (see scanpy for the exact order).

    Parameters
    ----------
    adata
        Cells × genes data (dense, CSR or CSC; never densified).
    layer
        Layer to use instead of ``X``.
    n_top_genes
        Number of genes to flag. For the dispersion flavors None applies the cut-offs;
        for the Seurat v3 flavors it means 2000.
    min_disp, max_disp, min_mean, max_mean
        Bounds (exclusive) on the normalised dispersion and the mean, used by the
        dispersion flavors when ``n_top_genes`` is None.
    span
        Fraction of genes in each local fit of the loess (Seurat v3 flavors).
    n_bins
        Number of equal-width mean bins (``seurat``); ``cell_ranger`` uses percentiles.
    flavor
        ``seurat``, ``cell_ranger``, ``seurat_v3`` or ``seurat_v3_paper``.
    subset
        Keep only the highly variable genes (in ``adata``, or in the returned frame).
    inplace
        Store the results in ``adata`` (True) or return them (False).
    batch_key
        obs column of batches to select genes in separately.
    filter_unexpressed_genes
        Dispersion flavors (scanpy 1.12): True leaves genes without a positive value out
        of the statistics and bins (they get zeros and are not flagged; nothing is
        removed). Always on with ``batch_key``, where False is ignored with a
        :class:`~scsnake.errors.ScsnakeWarning`; ignored by the Seurat v3 flavors.
    check_values
        Seurat v3 flavors: check that the matrix holds non-negative integer counts.

    Returns
    -------
    With ``inplace=True`` None, and ``adata`` gets ``var['highly_variable']``,
    ``var['means']``, for the dispersion flavors ``var['dispersions']`` and
    ``var['dispersions_norm']``, for the Seurat v3 flavors ``var['variances']``,
    ``var['variances_norm']`` and ``var['highly_variable_rank']``; with ``batch_key``
    also ``var['highly_variable_nbatches']`` (and, dispersion flavors,
    ``var['highly_variable_intersection']``); ``uns['hvg'] = {'flavor': flavor}``.
    With ``subset=True`` only the highly variable genes are kept.
    With ``inplace=False`` a DataFrame with these columns (as scanpy returns it).

    Examples
    --------
    >>> import anndata as ad, numpy as np
    >>> x = np.log1p(np.array([[0, 1, 5, 2], [0, 1, 0, 2], [1, 1, 9, 3], [0, 1, 1, 1]], dtype=np.float32))
    >>> adata = ad.AnnData(x)
    >>> highly_variable_genes(adata, n_top_genes=1, n_bins=1)
    >>> adata.var["highly_variable"].tolist()
    [False, False, True, False]
    """
    if inplace:
        view_to_actual(adata)
    x = get_matrix(adata, layer=layer)
    where = "X" if layer is None else f"layers[{layer!r}]"
    if x.shape[0] < 2 or x.shape[1] == 0:
        msg = f"highly_variable_genes needs at least 2 cells and 1 gene, {where} has shape {x.shape}"
        raise InputDataError(msg)
    codes, batches = _batch_codes(adata, batch_key)

    if flavor in ("seurat_v3", "seurat_v3_paper"):
        check_finite(x, where=where)
        if check_values:
            check_counts(x, where=where, step=f"highly_variable_genes(flavor={flavor!r})")
        df = seurat_v3_table(
            x,
            codes,
            len(batches),
            n_top_genes=_V3_DEFAULT_N_TOP if n_top_genes is None else n_top_genes,
            span=span,
            paper=flavor == "seurat_v3_paper",
        )
        df.index = adata.var_names
        columns = ["highly_variable", "highly_variable_rank", "means", "variances", "variances_norm"]
        result_columns = [
            "means",
            "variances",
            "gene_name",
            "highly_variable_nbatches",
            "highly_variable_rank",
            "variances_norm",
            "highly_variable",
        ]
        df["gene_name"] = adata.var_names
    else:
        if batch_key is not None and filter_unexpressed_genes is False:
            msg = f"filter_unexpressed_genes=False is ignored with batch_key (flavor={flavor!r}): genes without counts in a batch are always left out of its statistics"
            warnings.warn(msg, ScsnakeWarning, stacklevel=3)
        cutoff = _cutoff(
            n_top_genes,
            {"min_disp": min_disp, "max_disp": max_disp, "min_mean": min_mean, "max_mean": max_mean},
        )
        df = _dispersion_hvg(
            adata,
            x,
            codes,
            len(batches),
            batch_key is not None,
            flavor=flavor,
            n_bins=n_bins,
            cutoff=cutoff,
            where=where,
            filter_unexpressed=bool(filter_unexpressed_genes),
        )
        columns = ["highly_variable", "means", "dispersions", "dispersions_norm"]
        result_columns = list(df.columns)
    if batch_key is not None:
        columns += [c for c in ("highly_variable_nbatches", "highly_variable_intersection") if c in df]
    elif "highly_variable_nbatches" in result_columns:
        result_columns.remove("highly_variable_nbatches")

    hvg = df["highly_variable"].to_numpy(dtype=bool)
    logger.info("highly_variable_genes (%s): %d of %d genes flagged", flavor, int(hvg.sum()), hvg.size)
    if not inplace:
        df = df[result_columns]
        return df.loc[hvg] if subset else df

    for col in columns:
        values = df[col].to_numpy()
        adata.var[col] = values.astype(np.float32) if col == "dispersions_norm" else values
    adata.uns["hvg"] = {"flavor": flavor}
    if subset:
        adata._inplace_subset_var(hvg)
    return None
