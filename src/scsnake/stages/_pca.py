"""The ``pca`` stage: scale the highly variable genes and compute principal components."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Literal

from pydantic import PositiveFloat, PositiveInt

from .._params import Seed, StageParams
from ..errors import AdjustedParamWarning, InputDataError

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["PcaRunParams", "PcaStageParams", "PearsonResidualOptions", "pca"]


class PcaStageParams(StageParams):
    """The ``pca`` section."""

    n_comps: PositiveInt = 50
    """Number of principal components (reduced, with a warning, on tiny data)."""
    svd_solver: Literal["arpack", "randomized", "covariance_eigh"] = "arpack"
    """Solver: ``arpack`` (exact top components), ``randomized`` or ``covariance_eigh``."""
    use_highly_variable: bool = True
    """Compute PCA on ``var['highly_variable']`` genes only (needs the ``hvg`` stage)."""
    scale: bool = True
    """Scale the genes to unit variance first (on the PCA genes only; ``X`` is left as is)."""
    max_value: PositiveFloat | None = 10.0
    """With ``scale``: clip scaled values above this (None: no clipping)."""
    regress_out: list[str] = []
    """``obs`` columns regressed out of the PCA genes before scaling (e.g. ``[total_counts, pct_counts_mt]``)."""
    combat_key: str | None = None
    """``obs`` column of batches to remove with ComBat from the PCA genes (None: no ComBat)."""
    combat_covariates: list[str] = []
    """``obs`` columns whose effects ComBat keeps (biological covariates)."""
    random_state: Seed | None = None
    """Seed of the solver; None takes the config's top-level ``seed``."""


class PearsonResidualOptions(StageParams):
    """How ``normalize`` (``method: pearson_residuals``) makes the PCA matrix from the counts."""

    theta: PositiveFloat = 100.0
    """Negative-binomial overdispersion."""
    clip: PositiveFloat | None = None
    """Clip residuals to ±clip (None: √n_cells)."""
    counts_layer: str = "counts"
    """Layer of the raw counts."""


class PcaRunParams(PcaStageParams):
    """What the ``pca`` stage runs with: its section, plus the Pearson residuals that the
    ``normalize`` section asks for (``method: pearson_residuals``)."""

    residuals: PearsonResidualOptions | None = None
    """PCA of the analytic Pearson residuals of these counts instead of the scaled log values."""


def pca(adata: AnnData, params: PcaRunParams, *, random_state: int) -> AnnData:
    """Scaled PCA on the selected genes, leaving the log-normalised ``X`` untouched.

    Returns
    -------
    The AnnData with ``obsm['X_pca']``, ``varm['PCs']`` (zeros for genes not used) and
    ``uns['pca']`` (``variance``, ``variance_ratio``, ``params``), as scanpy stores them.
    """
    import numpy as np

    from .. import pp

    mask = None
    if params.use_highly_variable:
        from .._matrix import get_var_column

        mask = get_var_column(
            adata, "highly_variable", hint=" (run the hvg stage first or set pca.use_highly_variable: false)"
        )
        mask = np.asarray(mask, dtype=bool)
    work, scale = _pca_matrix(adata, mask, params)
    n_comps = params.n_comps
    limit = min(work.n_obs, work.n_vars) - 1
    if n_comps > limit:
        msg = f"pca.n_comps={n_comps} is more than this data allows ({work.n_obs} cells × {work.n_vars} genes); using {limit}"
        warnings.warn(msg, AdjustedParamWarning, stacklevel=2)
        n_comps = limit
    if scale and _scales_in_blocks(work, params):
        pp.scaled_pca(
            work,
            n_comps=n_comps,
            max_value=params.max_value,
            svd_solver=params.svd_solver,
            random_state=random_state,
            mask_var=None,
        )
    else:
        if scale:
            pp.scale(work, max_value=params.max_value)
        pp.pca(work, n_comps=n_comps, svd_solver=params.svd_solver, random_state=random_state, mask_var=None)
    adata.obsm["X_pca"] = work.obsm["X_pca"]
    loadings = np.zeros((adata.n_vars, n_comps), dtype=work.varm["PCs"].dtype)
    loadings[mask if mask is not None else slice(None)] = work.varm["PCs"]
    adata.varm["PCs"] = loadings
    adata.uns["pca"] = dict(work.uns["pca"])
    adata.uns["pca"].setdefault("params", {})
    adata.uns["pca"]["params"] = {
        **adata.uns["pca"]["params"],
        "mask_var": "highly_variable" if mask is not None else None,
    }
    if mask is None:
        del adata.uns["pca"]["params"]["mask_var"]
    return adata


def _pca_matrix(adata: AnnData, mask: Any, params: PcaRunParams) -> tuple[AnnData, bool]:
    """The PCA genes as their own AnnData (residuals or log values, corrected) and whether to scale them.

    ``X`` of ``adata`` is never changed: markers and plots keep the log-normalised values.
    """
    from .. import pp

    genes = adata[:, mask] if mask is not None else adata
    residuals = getattr(params, "residuals", None)
    if residuals is not None:
        layer = residuals.counts_layer
        if layer not in adata.layers:
            msg = f"pca: normalize.method is pearson_residuals but layers[{layer!r}] (raw counts) is missing"
            raise InputDataError(msg)
        work = _with_matrix(genes, genes.layers[layer])
        pp.normalize_pearson_residuals(work, theta=residuals.theta, clip=residuals.clip)
        return work, False  # residuals are already standardised: no scaling
    work = genes.copy()
    if params.regress_out:
        pp.regress_out(work, params.regress_out)
    if params.combat_key is not None:
        pp.combat(work, params.combat_key, covariates=params.combat_covariates or None)
    return work, params.scale


def _scales_in_blocks(work: AnnData, params: PcaStageParams) -> bool:
    """Whether ``scaled_pca`` can scale this sparse matrix block by block (no dense copy)."""
    from .._matrix import is_sparse
    from ..pp._pca_solvers import GRAM_MAX_VARS

    x = work.X
    return (
        is_sparse(x)
        and x.format == "csr"
        and params.svd_solver != "randomized"
        and work.n_vars <= GRAM_MAX_VARS
    )


def _with_matrix(view: AnnData, x: Any) -> AnnData:
    """A new AnnData with ``view``'s obs/var and matrix ``x`` (copied)."""
    import anndata as ad

    return ad.AnnData(X=x.copy(), obs=view.obs.copy(), var=view.var.copy())
