"""scanpy's ``experimental.pp`` Pearson-residual functions over scsnake's residual kernels."""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from anndata import AnnData

from scsnake._matrix import close_matches
from scsnake.errors import MissingKeyError, ParamError
from scsnake.pp import normalize_pearson_residuals, pca
from scsnake.pp._pearson_residuals import highly_variable_genes_pearson_residuals

if TYPE_CHECKING:
    from collections.abc import Mapping

    import pandas as pd

__all__ = ["highly_variable_genes", "normalize_pearson_residuals_pca", "recipe_pearson_residuals"]

_EMPTY: Any = object()


def highly_variable_genes(
    adata: AnnData,
    *,
    theta: float = 100,
    clip: float | None = None,
    n_top_genes: int | None = None,
    batch_key: str | None = None,
    chunksize: int = 1000,
    flavor: Literal["pearson_residuals"] = "pearson_residuals",
    check_values: bool = True,
    layer: str | None = None,
    subset: bool = False,
    inplace: bool = True,
) -> pd.DataFrame | None:
    """Flag the genes of largest Pearson-residual variance, as scanpy's ``experimental.pp``.

    The same as ``ss.pp.highly_variable_genes(flavor="pearson_residuals")``; see
    :func:`scsnake.pp._pearson_residuals.highly_variable_genes_pearson_residuals`.

    Parameters
    ----------
    adata
        Cells × genes raw counts.
    theta, clip
        Overdispersion; residual clipping (None: ``sqrt(n_obs)`` of the first batch).
    n_top_genes
        Number of genes to flag (required).
    batch_key
        obs column of batches.
    chunksize
        Accepted for scanpy's signature.
    flavor
        Only ``"pearson_residuals"``.
    check_values
        Refuse matrices that are not counts.
    layer
        Layer to use instead of ``X``.
    subset, inplace
        Keep only the flagged genes; store in ``adata`` or return a DataFrame.

    Returns
    -------
    With ``inplace`` None: ``var['highly_variable']``, ``var['means']``, ``var['variances']``,
    ``var['residual_variances']``, ``var['highly_variable_rank']`` (with ``batch_key`` also
    ``highly_variable_nbatches`` and ``highly_variable_intersection``), ``uns['hvg']``.
    Else a DataFrame of these columns.
    """
    if flavor != "pearson_residuals":
        msg = (
            f"experimental.pp.highly_variable_genes: flavor={flavor!r}; only 'pearson_residuals' is supported"
        )
        raise ParamError(msg)
    return highly_variable_genes_pearson_residuals(
        adata, theta=theta, clip=clip, n_top_genes=n_top_genes, batch_key=batch_key,
        chunksize=chunksize, layer=layer, subset=subset, inplace=inplace, check_values=check_values,
    )  # fmt: skip


def _mask(adata: AnnData, mask_var: Any, use_highly_variable: bool | None) -> np.ndarray | None:
    """scanpy's ``mask_var``: default ``var['highly_variable']`` when present."""
    if mask_var is _EMPTY:
        if use_highly_variable is False:
            return None
        if use_highly_variable and "highly_variable" not in adata.var:
            msg = "use_highly_variable=True but var['highly_variable'] is missing: run highly_variable_genes first"
            raise MissingKeyError(msg)
        mask_var = "highly_variable" if "highly_variable" in adata.var else None
    if isinstance(mask_var, str):
        if mask_var not in adata.var:
            msg = f"mask_var {mask_var!r} not found in adata.var{close_matches(mask_var, adata.var.columns)}"
            raise MissingKeyError(msg)
        return adata.var[mask_var].to_numpy(dtype=bool)
    return None if mask_var is None else np.asarray(mask_var, dtype=bool)


def _residual_pca(
    adata: AnnData,
    mask: np.ndarray | None,
    *,
    theta: float,
    clip: float | None,
    n_comps: int | None,
    random_state: Any,
    kwargs_pca: Mapping[str, Any],
    check_values: bool,
) -> AnnData:
    sub = adata[:, mask] if mask is not None else adata
    adata_pca = AnnData(sub.X.copy(), obs=sub.obs[[]], var=sub.var[[]])
    normalize_pearson_residuals(adata_pca, theta=theta, clip=clip, check_values=check_values)
    pca(adata_pca, n_comps=n_comps, random_state=random_state, **kwargs_pca)
    return adata_pca


def _store(adata: AnnData, adata_pca: AnnData, mask: np.ndarray | None) -> None:
    n_comps = adata_pca.obsm["X_pca"].shape[1]
    if mask is not None:
        loadings = np.zeros((adata.n_vars, n_comps))
        loadings[mask] = adata_pca.varm["PCs"]
        adata.varm["PCs"] = loadings
    else:
        adata.varm["PCs"] = adata_pca.varm["PCs"]
    adata.uns["pca"] = adata_pca.uns["pca"]
    adata.uns["pearson_residuals_normalization"] = dict(
        **adata_pca.uns["pearson_residuals_normalization"], pearson_residuals_df=adata_pca.to_df()
    )
    adata.obsm["X_pca"] = adata_pca.obsm["X_pca"]


def normalize_pearson_residuals_pca(
    adata: AnnData,
    *,
    theta: float = 100,
    clip: float | None = None,
    n_comps: int | None = 50,
    random_state: float = 0,
    kwargs_pca: Mapping[str, Any] = MappingProxyType({}),
    mask_var: np.ndarray | str | None = _EMPTY,
    use_highly_variable: bool | None = None,
    check_values: bool = True,
    inplace: bool = True,
) -> AnnData | None:
    """Pearson residuals of (the highly variable) genes, then PCA, as scanpy's ``experimental.pp``.

    Parameters
    ----------
    adata
        Cells × genes raw counts.
    theta, clip
        Overdispersion; residual clipping (None: ``sqrt(n_obs)``).
    n_comps, random_state, kwargs_pca
        Passed to :func:`scsnake.pp.pca`.
    mask_var
        Genes to use (bool array or var column); default ``var['highly_variable']`` if present.
    use_highly_variable
        scanpy's older form of ``mask_var="highly_variable"``.
    check_values
        Refuse matrices that are not counts.
    inplace
        Store the results in ``adata`` (True) or return the residual AnnData (False).

    Returns
    -------
    With ``inplace`` None: ``obsm['X_pca']``, ``varm['PCs']`` (zero rows for unused genes),
    ``uns['pca']``, ``uns['pearson_residuals_normalization']`` (with the residuals as
    ``pearson_residuals_df``). Else the AnnData of residuals with its PCA.
    """
    mask = _mask(adata, mask_var, use_highly_variable)
    adata_pca = _residual_pca(
        adata, mask, theta=theta, clip=clip, n_comps=n_comps, random_state=random_state,
        kwargs_pca=kwargs_pca, check_values=check_values,
    )  # fmt: skip
    if not inplace:
        return adata_pca
    _store(adata, adata_pca, mask)
    return None


def recipe_pearson_residuals(
    adata: AnnData,
    *,
    theta: float = 100,
    clip: float | None = None,
    n_top_genes: int = 1000,
    batch_key: str | None = None,
    chunksize: int = 1000,
    n_comps: int | None = 50,
    random_state: float | None = 0,
    kwargs_pca: Mapping[str, Any] = MappingProxyType({}),
    check_values: bool = True,
    inplace: bool = True,
) -> tuple[AnnData, pd.DataFrame] | None:
    """Pearson-residual HVGs, residuals of those genes and PCA, as scanpy's ``experimental.pp``.

    Parameters
    ----------
    adata
        Cells × genes raw counts.
    theta, clip
        Overdispersion; residual clipping.
    n_top_genes, batch_key, chunksize
        Gene selection, as :func:`highly_variable_genes`.
    n_comps, random_state, kwargs_pca
        Passed to :func:`scsnake.pp.pca`.
    check_values
        Refuse matrices that are not counts.
    inplace
        Store the results in ``adata`` (True) or return them (False).

    Returns
    -------
    With ``inplace`` None: the ``var`` columns of :func:`highly_variable_genes` and the slots
    of :func:`normalize_pearson_residuals_pca`. Else ``(residual AnnData of the selected genes
    with its PCA, the gene selection DataFrame)``.
    """
    hvg_args = {
        "n_top_genes": n_top_genes, "batch_key": batch_key, "theta": theta, "clip": clip,
        "chunksize": chunksize, "check_values": check_values,
    }  # fmt: skip
    if inplace:
        highly_variable_genes(adata, **hvg_args, inplace=True)
        hvg = None
        mask = adata.var["highly_variable"].to_numpy(dtype=bool)
    else:
        hvg = highly_variable_genes(adata, **hvg_args, inplace=False)
        mask = hvg["highly_variable"].to_numpy(dtype=bool)
    adata_pca = _residual_pca(
        adata, mask, theta=theta, clip=clip, n_comps=n_comps, random_state=random_state,
        kwargs_pca=kwargs_pca, check_values=check_values,
    )  # fmt: skip
    if not inplace:
        return adata_pca, hvg
    _store(adata, adata_pca, mask)
    return None
