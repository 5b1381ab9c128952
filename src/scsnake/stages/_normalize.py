"""The ``normalize`` stage: keep counts in a layer, scale each cell, log-transform."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, PositiveFloat

from .._params import StageParams

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["NormalizeParams", "normalize"]


class NormalizeParams(StageParams):
    """The ``normalize`` section."""

    method: Literal["total", "pearson_residuals"] = "total"
    """``total``: PCA on scaled log-normalised HVGs. ``pearson_residuals``: PCA on analytic Pearson
    residuals of the HVG counts (Lause et al. 2021); ``X`` is log-normalised either way (markers, plots)."""
    theta: PositiveFloat = 100.0
    """``pearson_residuals``: negative-binomial overdispersion."""
    clip: PositiveFloat | None = None
    """``pearson_residuals``: clip residuals to ±clip (None: √n_cells)."""
    target_sum: PositiveFloat | None = 1e4
    """Total count each cell is scaled to; None takes the median cell total."""
    exclude_highly_expressed: bool = False
    """Leave genes above ``max_fraction`` of a cell's counts out of its size factor."""
    max_fraction: Annotated[float, Field(gt=0, le=1)] = 0.05
    """With ``exclude_highly_expressed``: the fraction above which a gene is left out."""
    log1p: bool = True
    """Apply ``log(1 + x)`` after scaling."""
    log_base: PositiveFloat | None = None
    """Base of the logarithm (None: natural log)."""
    counts_layer: str = "counts"
    """Layer where the raw counts are kept for steps that need them (seurat_v3 HVG…)."""


def normalize(adata: AnnData, params: NormalizeParams) -> AnnData:
    """Copy counts to ``layers[counts_layer]``, normalise and log-transform ``X``.

    Returns
    -------
    The AnnData with ``layers[counts_layer]`` (raw counts), normalised ``X`` and
    ``uns['log1p']`` when ``log1p`` is on.
    """
    from .. import pp

    counts = adata.X
    adata.X = _new_values(counts)  # the counts object itself is kept: the workflow stores it as a pointer
    adata.layers[params.counts_layer] = counts
    pp.normalize_total(
        adata,
        target_sum=params.target_sum,
        exclude_highly_expressed=params.exclude_highly_expressed,
        max_fraction=params.max_fraction,
    )
    if params.log1p:
        pp.log1p(adata, base=params.log_base)
    # how the pca stage builds its matrix; read from the data, so it travels with the artifact
    adata.uns["normalize"] = {
        "method": params.method,
        "theta": params.theta,
        "counts_layer": params.counts_layer,
    }
    if params.clip is not None:
        adata.uns["normalize"]["clip"] = params.clip
    return adata


def _new_values(x: Any) -> Any:
    """A copy of ``x`` to normalise in place; a CSR/CSC matrix shares its indices with ``x``
    (normalising changes only the values), so only the values are copied."""
    from scipy import sparse

    if sparse.issparse(x) and x.format in ("csr", "csc"):
        return type(x)((x.data.copy(), x.indices, x.indptr), shape=x.shape, copy=False)
    return x.copy()
