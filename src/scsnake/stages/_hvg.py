"""The ``hvg`` stage: flag highly variable genes (``var['highly_variable']``)."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, PositiveInt, model_validator

from .._params import StageParams
from ..errors import AdjustedParamWarning

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["HvgParams", "hvg"]


class _HvgCommon(StageParams):
    batch_key: str | None = None
    """``obs`` column of batches: genes are selected per batch and combined like scanpy."""
    subset: bool = False
    """Keep only the highly variable genes (False: flag them, keep all genes for markers)."""


class DispersionHvg(_HvgCommon):
    """``seurat`` / ``cell_ranger``: normalised dispersion on log-normalised ``X``."""

    flavor: Literal["seurat", "cell_ranger"] = "seurat"
    """Method: ``seurat`` (bins by mean) or ``cell_ranger`` (bins by mean percentiles)."""
    n_top_genes: PositiveInt | None = 2000
    """Number of genes to keep; None uses the mean/dispersion cut-offs instead."""
    min_mean: float = 0.0125
    """Cut-off on the mean when ``n_top_genes`` is None."""
    max_mean: float = 3.0
    """Cut-off on the mean when ``n_top_genes`` is None."""
    min_disp: float = 0.5
    """Cut-off on the normalised dispersion when ``n_top_genes`` is None."""
    max_disp: float = float("inf")
    """Cut-off on the normalised dispersion when ``n_top_genes`` is None."""
    n_bins: PositiveInt = 20
    """Number of mean bins for normalising dispersions."""

    @model_validator(mode="after")
    def _ranges(self) -> DispersionHvg:
        if self.min_mean > self.max_mean:
            msg = f"min_mean ({self.min_mean}) must not exceed max_mean ({self.max_mean})"
            raise ValueError(msg)
        if self.min_disp > self.max_disp:
            msg = f"min_disp ({self.min_disp}) must not exceed max_disp ({self.max_disp})"
            raise ValueError(msg)
        return self


class SeuratV3Hvg(_HvgCommon):
    """``seurat_v3`` / ``seurat_v3_paper``: variance-stabilised variance on raw counts."""

    flavor: Literal["seurat_v3", "seurat_v3_paper"]
    """Method: Seurat v3's loess-fitted standardised variance (needs counts)."""
    n_top_genes: PositiveInt = 2000
    """Number of genes to keep."""
    span: Annotated[float, Field(gt=0, le=1)] = 0.3
    """Loess span for the mean-variance fit."""
    layer: str = "counts"
    """Layer holding raw counts (the ``normalize`` stage keeps them in ``counts``)."""


class PearsonHvg(_HvgCommon):
    """``pearson_residuals``: genes with the largest Pearson-residual variance (raw counts)."""

    flavor: Literal["pearson_residuals"]
    """Method: analytic Pearson residuals of a negative-binomial null model."""
    n_top_genes: PositiveInt = 2000
    """Number of genes to keep."""
    theta: Annotated[float, Field(gt=0)] = 100.0
    """Negative-binomial overdispersion."""
    clip: Annotated[float, Field(gt=0)] | None = None
    """Clip residuals to ±clip (None: √n_cells)."""
    chunksize: PositiveInt = 1000
    """Genes per chunk."""
    layer: str = "counts"
    """Layer holding raw counts."""


HvgParams = Annotated[DispersionHvg | SeuratV3Hvg | PearsonHvg, Field(discriminator="flavor")]


def hvg(adata: AnnData, params: DispersionHvg | SeuratV3Hvg | PearsonHvg) -> AnnData:
    """Flag highly variable genes with scanpy's ``highly_variable_genes``.

    Returns
    -------
    The AnnData with ``var['highly_variable']``, ``var['means']``… and ``uns['hvg']``.
    """
    from .. import pp

    kwargs = params.model_dump()
    if params.n_top_genes is not None and params.n_top_genes > adata.n_vars:
        msg = f"hvg.n_top_genes={params.n_top_genes} exceeds the {adata.n_vars} genes left after qc; using all of them"
        warnings.warn(msg, AdjustedParamWarning, stacklevel=2)
        kwargs["n_top_genes"] = adata.n_vars
    if params.flavor == "pearson_residuals":
        from ..pp._pearson_residuals import highly_variable_genes_pearson_residuals

        kwargs.pop("flavor")
        highly_variable_genes_pearson_residuals(adata, **kwargs)
    else:
        pp.highly_variable_genes(adata, **kwargs)
    return adata
