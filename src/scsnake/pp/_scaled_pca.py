"""``scale`` then ``pca`` in one pass over a sparse matrix, without the dense scaled matrix."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import Field, PositiveFloat, PositiveInt, WithJsonSchema

from scsnake._matrix import check_finite, is_sparse
from scsnake._params import StageParams, validated
from scsnake.pp._pca import _HVG_IF_PRESENT, _MASK_SCHEMA, _pca_input, _store
from scsnake.pp._pca_solvers import GRAM_MAX_VARS, ScaledCsr, decompose
from scsnake.pp._scale import _mean_std, _scale_matrix

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["ScaledPcaParams", "scaled_pca"]


class ScaledPcaParams(StageParams):
    """Parameters of :func:`scaled_pca`."""

    n_comps: PositiveInt | None = None
    """Number of components; None takes 50 (or one less than the smaller dimension)."""
    max_value: PositiveFloat | None = None
    """Clip scaled values to ``[-max_value, max_value]`` (None: no clipping)."""
    layer: str | None = None
    """Layer to use instead of ``X``."""
    svd_solver: Literal["arpack", "covariance_eigh"] | None = None
    """None: ``arpack``."""
    random_state: Annotated[int, Field(ge=0, lt=2**32)] | None = 0
    """Seed of ARPACK's start vector (None means 0)."""
    mask_var: Annotated[Any, _MASK_SCHEMA] = _HVG_IF_PRESENT
    """var column (or boolean array) of the genes to use; None uses all genes."""
    dtype: Annotated[Any, WithJsonSchema({"type": "string"})] = "float32"
    """Float type of ``obsm['X_pca']``."""
    key_added: str | None = None
    """Store results under this key in obsm, varm and uns instead of X_pca, PCs and pca."""


@validated(ScaledPcaParams)
def scaled_pca(
    adata: AnnData,
    n_comps: int | None = None,
    *,
    max_value: float | None = None,
    layer: str | None = None,
    svd_solver: Literal["arpack", "covariance_eigh"] | None = None,
    random_state: int | None = 0,
    mask_var: Any = _HVG_IF_PRESENT,
    dtype: Any = "float32",
    key_added: str | None = None,
) -> None:
    """PCA of the scaled genes: ``scale(max_value=...)`` then ``pca(...)`` on a copy, in one step.

    For a sparse (CSR) matrix the scaled values are made a block of rows at a time while
    the Gram matrix and the scores are accumulated, so the dense scaled matrix (8 bytes
    per cell and gene: 16 GB for 1M cells × 2,000 genes) never exists and ``adata`` is not
    changed apart from the results. The results are those of :func:`scale` followed by
    :func:`pca` (same scaling kernel, same solver; sums in a different order, so equal to
    about 1e-12). Dense input, CSC input and more than 4,096 genes take that route literally.

    Parameters
    ----------
    adata
        Cells × genes data, usually log-normalised.
    n_comps, layer, svd_solver, random_state, mask_var, dtype, key_added
        As for :func:`pca`.
    max_value
        As for :func:`scale`: clip the scaled values to ``[-max_value, max_value]``.

    Returns
    -------
    None; ``obsm['X_pca']``, ``varm['PCs']`` and ``uns['pca']`` as :func:`pca` stores them.

    Examples
    --------
    >>> import anndata as ad, numpy as np
    >>> from scipy import sparse
    >>> x = sparse.random(60, 8, density=0.4, format="csr", random_state=0, dtype=np.float32)
    >>> adata = ad.AnnData(x)
    >>> scaled_pca(adata, n_comps=3, max_value=10)
    >>> adata.obsm["X_pca"].shape
    (60, 3)
    """
    x, mask_param, mask, n_comps = _pca_input(adata, n_comps, layer, mask_var, None)
    check_finite(x, where="X" if layer is None else f"layer {layer!r}")
    everyone = np.ones(x.shape[0], dtype=bool)
    upper = np.inf if max_value is None else float(max_value)
    if is_sparse(x) and x.format == "csr" and x.has_canonical_format and x.shape[1] <= GRAM_MAX_VARS:
        mean, std = _mean_std(x, everyone)
        scaled: Any = ScaledCsr(x, mean, std, -upper, upper)
    else:  # the literal route: zero-centring a sparse matrix densifies it into a new array anyway;
        # only dense data are scaled in place, so only they are copied first
        scaled = _scale_matrix(x if is_sparse(x) else x.copy(), True, max_value, everyone)[0]
    result = decompose(
        scaled,
        n_comps,
        zero_center=True,
        svd_solver=svd_solver or "arpack",
        seed=0 if random_state is None else random_state,
        chunked=False,
        chunk_size=None,
    )
    _store(adata, result, mask_param, mask, zero_center=True, layer=layer, dtype=dtype, key_added=key_added)
