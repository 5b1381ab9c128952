"""Principal component analysis: ARPACK, randomized and covariance-eigh solvers, sparse-aware."""

from __future__ import annotations

import logging
import warnings
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import pandas as pd
from anndata import AnnData
from pydantic import Field, PositiveInt, ValidationInfo, WithJsonSchema, field_validator, model_validator

from scsnake._matrix import check_finite, close_matches, get_matrix, get_obsm, is_sparse, view_to_actual
from scsnake._params import StageParams, validated
from scsnake.errors import InputDataError, MissingKeyError, ParamError
from scsnake.pp._pca_solver_choice import SvdSolver, solve
from scsnake.pp._pca_solvers import _arpack, _operator, _svd_flip, column_mean, decompose  # noqa: F401 (scrublet imports them from here)

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["PcaParams", "pca"]

logger = logging.getLogger(__name__)

#: scanpy's default number of components.
_N_PCS = 50


class _Default(Enum):
    """Sentinel of ``mask_var``: use ``var['highly_variable']`` if it exists, else all genes."""

    HVG_IF_PRESENT = "highly_variable if present"

    def __repr__(self) -> str:
        return "<highly_variable if present>"


_HVG_IF_PRESENT = _Default.HVG_IF_PRESENT

_MASK_SCHEMA = WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "null"}]})


class PcaParams(StageParams):
    """Parameters of :func:`pca`."""

    n_comps: PositiveInt | None = None
    """Number of components; None takes 50 (or one less than the smaller dimension)."""
    layer: str | None = None
    """Layer to use instead of ``X``."""
    obsm: str | None = None
    """obsm key of a matrix to use instead of ``X`` (scanpy 1.12); loadings go to ``uns``."""
    zero_center: bool = True
    """Centre the genes (PCA); False computes a truncated SVD of the data as they are."""
    svd_solver: SvdSolver | None = None
    """scanpy's solvers and rules (see :func:`pca`); None: ``arpack`` for PCA, ``randomized`` for the truncated SVD."""
    random_state: Annotated[int, Field(ge=0, lt=2**32)] | None = 0
    """Seed of the solver's start vector / random projection (None means 0)."""
    return_info: bool = False
    """For array input: also return components, variance ratios and variances."""
    mask_var: Annotated[Any, _MASK_SCHEMA] = _HVG_IF_PRESENT
    """var column (or boolean array) of the genes to use; None uses all genes."""
    use_highly_variable: bool | None = None
    """Deprecated alias: True is ``mask_var='highly_variable'``, False is ``mask_var=None``."""
    dtype: Annotated[Any, WithJsonSchema({"type": "string"})] = "float32"
    """Float type of ``obsm['X_pca']``."""
    chunked: bool = False
    """Incremental PCA over blocks of ``chunk_size`` cells (centres; ignores the solver)."""
    chunk_size: PositiveInt | None = None
    """Cells per block with ``chunked``."""
    key_added: str | None = None
    """Store results under this key in obsm, varm and uns instead of X_pca, PCs and pca."""

    @field_validator("mask_var")
    @classmethod
    def _mask_kind(cls, value: Any) -> Any:
        if value is _HVG_IF_PRESENT or value is None or isinstance(value, str):
            return value
        array = np.asarray(value)
        if array.ndim != 1 or not pd.api.types.is_bool_dtype(array.dtype):
            msg = f"must be a var column name, None or a 1-D boolean array, not {array.ndim}-D {array.dtype}"
            raise ValueError(msg)
        return value

    @field_validator("use_highly_variable")
    @classmethod
    def _one_gene_selection(cls, value: bool | None, info: ValidationInfo) -> bool | None:
        if value is not None and info.data.get("mask_var", _HVG_IF_PRESENT) is not _HVG_IF_PRESENT:
            msg = "cannot be combined with mask_var (both select genes); use mask_var only"
            raise ValueError(msg)
        return value

    @field_validator("dtype")
    @classmethod
    def _float_dtype(cls, value: Any) -> Any:
        try:
            kind = np.dtype(value).kind
        except TypeError:
            kind = None
        if kind != "f":
            msg = "must be a floating-point numpy dtype such as 'float32'"
            raise ValueError(msg)
        return value

    @field_validator("chunked")
    @classmethod
    def _chunks_of_x(cls, value: bool, info: ValidationInfo) -> bool:
        if value and (info.data.get("layer") is not None or info.data.get("obsm") is not None):
            msg = "works on X only; it cannot be combined with layer or obsm"
            raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _obsm_alone(self) -> PcaParams:
        if self.obsm is not None and self.layer is not None:
            msg = f"obsm={self.obsm!r} and layer={self.layer!r} both select a matrix; pick one"
            raise ValueError(msg)
        if self.obsm is not None and self.mask_var is not _HVG_IF_PRESENT and self.mask_var is not None:
            msg = f"mask_var selects genes, which obsm={self.obsm!r} has not; leave mask_var unset"
            raise ValueError(msg)
        return self

    @field_validator("chunk_size")
    @classmethod
    def _chunk_size_given(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is None and info.data.get("chunked"):
            msg = "needed with chunked=True (cells per block)"
            raise ValueError(msg)
        return value


def _resolve_mask(
    adata: AnnData, mask_var: Any, use_highly_variable: bool | None
) -> tuple[Any, NDArray[np.bool_] | None]:
    """The mask as stored in ``uns[...]['params']`` and as a boolean array (None: all genes)."""
    if use_highly_variable is not None:
        msg = "use_highly_variable is deprecated; use mask_var='highly_variable' (True) or mask_var=None (False)"
        warnings.warn(msg, FutureWarning, stacklevel=3)
        mask_var = "highly_variable" if use_highly_variable else None
    elif mask_var is _HVG_IF_PRESENT or (isinstance(mask_var, str) and mask_var == _HVG_IF_PRESENT.value):
        # (the sentinel's value is what a JSON dump of PcaParams holds)
        mask_var = "highly_variable" if "highly_variable" in adata.var.columns else None
    if mask_var is None:
        return None, None
    if isinstance(mask_var, str):
        if mask_var not in adata.var.columns:
            msg = f"mask_var {mask_var!r} not found in adata.var{close_matches(mask_var, adata.var.columns)}; run highly_variable_genes first or pass mask_var=None"
            raise MissingKeyError(msg)
        column = adata.var[mask_var]
        if not pd.api.types.is_bool_dtype(column.dtype) or column.isna().any():
            msg = f"mask_var {mask_var!r}: var column must be boolean without missing values (got dtype {column.dtype})"
            raise InputDataError(msg)
        mask = column.to_numpy(dtype=bool)
    else:
        mask = np.asarray(mask_var, dtype=bool)
        if mask.size != adata.n_vars:
            msg = f"mask_var: boolean array of length {mask.size} does not match the {adata.n_vars} genes"
            raise ParamError(msg)
    if not mask.any():
        msg = f"mask_var {mask_var if isinstance(mask_var, str) else '(array)'!r} selects no genes"
        raise InputDataError(msg)
    return mask_var, mask


def _as_float(x: Any) -> Any:
    """Float32 and float64 stay; anything else becomes float64 (as scikit-learn does)."""
    if is_sparse(x) and x.format not in ("csr", "csc"):
        x = x.tocsr()
    if x.dtype in (np.float32, np.float64):
        return x if is_sparse(x) else np.asarray(x)
    return x.astype(np.float64) if is_sparse(x) else np.asarray(x, dtype=np.float64)


@validated(PcaParams)
def pca(
    adata: AnnData | Any,
    n_comps: int | None = None,
    *,
    layer: str | None = None,
    obsm: str | None = None,
    zero_center: bool = True,
    svd_solver: SvdSolver | None = None,
    random_state: int | None = 0,
    return_info: bool = False,
    mask_var: Any = _HVG_IF_PRESENT,
    use_highly_variable: bool | None = None,
    dtype: Any = "float32",
    chunked: bool = False,
    chunk_size: int | None = None,
    key_added: str | None = None,
    copy: bool = False,
) -> Any:
    """Principal component analysis, as scanpy computes it.

    ``arpack`` on up to 4,096 genes is ARPACK (``eigsh``, to machine precision)
    on the genes × genes Gram matrix of the centred data, accumulated in float64 over
    exactly centred row blocks: the same components and variances as ARPACK's SVD of
    the centred matrix (scanpy's), from one pass over the data instead of hundreds.
    On more genes it is ``svds`` on an implicitly centred linear operator, like
    ``randomized``; ``covariance_eigh`` is LAPACK's ``eigh`` of the same Gram matrix.
    Neither a centred nor a dense copy of the data is made (sparse data are densified
    a block of rows at a time). Components follow scikit-learn's sign rule (largest
    loading positive), so they match scanpy's; a fixed ``random_state`` gives the
    same result every time.

    Parameters
    ----------
    adata
        Cells × genes data; an array or sparse matrix is also accepted (see Returns).
    n_comps
        Number of components, at most one less than the smaller dimension of the data
        used; None takes 50 or that limit, whichever is smaller.
    layer
        Layer to use instead of ``X``.
    obsm
        obsm key of a matrix to use instead of ``X`` (scanpy 1.12): the loadings go to
        ``uns['pca']['components']`` (features × n_comps) instead of ``varm``.
    zero_center
        Centre each gene first (PCA). False: truncated SVD of the uncentred data.
    svd_solver
        scanpy's rules: PCA of dense data takes ``arpack`` (the default), ``randomized``,
        ``covariance_eigh`` (eigenvectors of the gene covariance), ``full`` (LAPACK's
        SVD of the centred data) and ``auto`` (scikit-learn's choice by shape); of
        sparse data ``arpack``, ``covariance_eigh`` and ``lobpcg`` (deprecated, a
        ``FutureWarning``); without centring ``randomized`` (the default) and
        ``arpack``. Another value (e.g. ``tsqr``, dask's) is replaced by the default
        with an :class:`~scsnake.errors.AdjustedParamWarning`; ``chunked`` ignores it.
    random_state
        Seed of the start vector (``arpack``) or random projection (``randomized``).
    return_info
        For array input, return ``(X_pca, components, variance_ratio, variance)``.
    mask_var
        var column or boolean array of the genes to use; by default
        ``var['highly_variable']`` if it exists. None uses all genes.
    use_highly_variable
        Deprecated alias of ``mask_var='highly_variable'`` / ``mask_var=None``.
    dtype
        Float type of the scores.
    chunked
        Incremental PCA over blocks of ``chunk_size`` cells (always centred).
    chunk_size
        Cells per block with ``chunked``.
    key_added
        Key for the results in obsm, varm and uns (default ``X_pca``, ``PCs``, ``pca``).
    copy
        Work on a copy of ``adata`` and return it.

    Returns
    -------
    For AnnData input None (or the copy), with ``obsm['X_pca']`` the scores (cells ×
    n_comps), ``varm['PCs']`` the loadings (genes × n_comps; zeros for genes outside
    ``mask_var``) and ``uns['pca']`` with ``variance``, ``variance_ratio`` and
    ``params`` (``zero_center``, ``use_highly_variable``, ``mask_var``, ``layer``);
    ``key_added`` replaces all three keys. For array input the scores, or with
    ``return_info`` the tuple above.

    Examples
    --------
    >>> import anndata as ad, numpy as np
    >>> adata = ad.AnnData(np.array([[1, 0, 2], [2, 1, 4], [3, 0, 6], [4, 1, 8]], dtype=np.float32))
    >>> pca(adata, n_comps=2)
    >>> adata.obsm["X_pca"].shape, [round(float(r), 3) for r in adata.uns["pca"]["variance_ratio"]]
    ((4, 2), [0.969, 0.031])
    """
    if not isinstance(adata, AnnData):
        result = pca(
            AnnData(adata),
            n_comps,
            zero_center=zero_center,
            svd_solver=svd_solver,
            random_state=random_state,
            mask_var=None if mask_var is _HVG_IF_PRESENT else mask_var,
            dtype=dtype,
            chunked=chunked,
            chunk_size=chunk_size,
            copy=True,
        )
        info = result.uns["pca"]
        x_pca = result.obsm["X_pca"]
        if return_info:
            return x_pca, result.varm["PCs"].T, info["variance_ratio"], info["variance"]
        return x_pca
    adata = adata.copy() if copy else adata
    if obsm is not None:
        _pca_of_obsm(adata, obsm, n_comps, zero_center, svd_solver, random_state, dtype, key_added)
        return adata if copy else None
    x, mask_param, mask, n_comps = _pca_input(adata, n_comps, layer, mask_var, use_highly_variable)
    mean = None if chunked else column_mean(x)
    if mean is None or not np.isfinite(mean).all():  # a finite float64 sum: finite values
        check_finite(x, where="X" if layer is None else f"layer {layer!r}")
    x_pca, components, variance, ratio = solve(
        x,
        n_comps,
        zero_center=zero_center,
        svd_solver=svd_solver,
        seed=0 if random_state is None else random_state,
        chunked=chunked,
        chunk_size=chunk_size,
        mean=mean,
    )
    _store(
        adata,
        (x_pca, components, variance, ratio),
        mask_param,
        mask,
        zero_center=zero_center,
        layer=layer,
        dtype=dtype,
        key_added=key_added,
    )
    return adata if copy else None


def _pca_of_obsm(
    adata: AnnData,
    obsm: str,
    n_comps: int | None,
    zero_center: bool,
    svd_solver: str | None,
    random_state: int | None,
    dtype: Any,
    key_added: str | None,
) -> None:
    """scanpy 1.12's ``pca(obsm=...)``: scores in obsm, loadings in ``uns[...]['components']``."""
    values = get_obsm(adata, obsm)
    values = values.to_numpy() if isinstance(values, pd.DataFrame) else values
    work = pca(
        AnnData(values), n_comps, zero_center=zero_center, svd_solver=svd_solver,
        random_state=random_state, mask_var=None, dtype=dtype, copy=True,
    )  # fmt: skip
    key_obsm, key_uns = ("X_pca", "pca") if key_added is None else (key_added, key_added)
    adata.obsm[key_obsm] = work.obsm["X_pca"]
    info = work.uns["pca"]
    adata.uns[key_uns] = {
        "params": {"zero_center": zero_center, "use_highly_variable": False, "mask_var": None, "obsm": obsm},
        "variance": info["variance"],
        "variance_ratio": info["variance_ratio"],
        "components": np.asarray(work.varm["PCs"]),
    }


def _pca_input(
    adata: AnnData, n_comps: int | None, layer: str | None, mask_var: Any, use_highly_variable: bool | None
) -> tuple[Any, Any, NDArray[np.bool_] | None, int]:
    """The float matrix of the genes used, the mask (as stored and as an array) and n_comps."""
    view_to_actual(adata)
    mask_param, mask = _resolve_mask(adata, mask_var, use_highly_variable)
    x = get_matrix(adata, layer=layer)
    x = _as_float(x[:, mask] if mask is not None and not mask.all() else x)
    n_obs, n_vars = x.shape
    limit = min(n_obs, n_vars) - 1
    if limit < 1:
        msg = f"pca needs at least 2 cells and 2 genes; the data used are {n_obs} × {n_vars}"
        raise InputDataError(msg)
    if n_comps is None:
        n_comps = min(limit, _N_PCS)
    elif n_comps > limit:
        msg = f"n_comps={n_comps} is too large: at most {limit} (one less than min({n_obs} cells, {n_vars} genes))"
        raise ParamError(msg)
    return x, mask_param, mask, n_comps


def _store(
    adata: AnnData,
    result: tuple[Any, Any, Any, Any],
    mask_param: Any,
    mask: NDArray[np.bool_] | None,
    *,
    zero_center: bool,
    layer: str | None,
    dtype: Any,
    key_added: str | None,
) -> None:
    """Scores, loadings and variances under scanpy's keys (or ``key_added``)."""
    x_pca, components, variance, ratio = result
    n_comps = components.shape[0]
    logger.info("pca: %d components, %.3g of the variance", n_comps, float(np.sum(ratio)))
    key_obsm, key_varm, key_uns = ("X_pca", "PCs", "pca") if key_added is None else (key_added,) * 3
    adata.obsm[key_obsm] = np.asarray(x_pca, dtype=dtype)
    if mask is None:
        adata.varm[key_varm] = np.asarray(components.T)
    else:
        loadings = np.zeros((adata.n_vars, n_comps))
        loadings[mask] = components.T
        adata.varm[key_varm] = loadings
    params: dict[str, Any] = {
        "zero_center": zero_center,
        "use_highly_variable": isinstance(mask_param, str) and mask_param == "highly_variable",
        "mask_var": mask_param,
    }
    if layer is not None:
        params["layer"] = layer
    adata.uns[key_uns] = {"params": params, "variance": variance, "variance_ratio": ratio}
