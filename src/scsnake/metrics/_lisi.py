"""LISI, the local inverse Simpson index (Korsunsky et al. 2019), as harmony's ``compute_lisi``.

Each cell's neighbours get Gaussian weights ``exp(-β d)`` (``d`` the distance, not squared,
as in harmony) with ``β`` found by binary search so that the weights' perplexity equals
``perplexity``; LISI is ``1 / Σ_c p_c²`` of the weights ``p_c`` summed per category: the
effective number of categories around the cell (1 to the number of categories).
"""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING, Annotated

import numpy as np
from pydantic import Field, PositiveFloat, model_validator

from scsnake._numba import njit, prange
from scsnake._params import StageParams, validated
from scsnake.errors import AdjustedParamWarning

from ._knn import category_codes, neighbourhoods

if TYPE_CHECKING:
    from anndata import AnnData
    from numpy.typing import NDArray

__all__ = ["LisiParams", "inverse_simpson", "lisi"]

logger = logging.getLogger(__name__)

#: Binary search of β: tolerance on the entropy and number of steps (harmony's values).
_TOL = 1e-5
_N_TRIES = 50


class LisiParams(StageParams):
    """Parameters of :func:`lisi`."""

    key: str
    """obs column whose categories are counted (batch for iLISI, cell type for cLISI)."""
    use_rep: str | None = "X_pca"
    """obsm key to find neighbours in; None: shortest paths in the stored distances graph."""
    n_neighbors: Annotated[int, Field(ge=2)] = 90
    """Neighbourhood size, the cell itself included (harmony: 3 × perplexity)."""
    perplexity: PositiveFloat = 30.0
    """Effective number of neighbours of the Gaussian weights."""

    @model_validator(mode="after")
    def _perplexity_below_neighbours(self) -> LisiParams:
        if self.perplexity >= self.n_neighbors - 1:
            msg = f"perplexity={self.perplexity:g} must be below n_neighbors - 1 = {self.n_neighbors - 1} (harmony uses n_neighbors = 3 × perplexity)"
            raise ValueError(msg)
        return self


@njit
def _entropy_weights(d, valid, d_min, beta, p):
    """Fill ``p`` with the normalised weights ``exp(-β (d - d_min))``; return their entropy."""
    p_sum = 0.0
    dp_sum = 0.0
    for j in range(d.size):
        if valid[j]:
            w = np.exp(-(d[j] - d_min) * beta)
            p[j] = w
            p_sum += w
            dp_sum += (d[j] - d_min) * w
        else:
            p[j] = 0.0
    for j in range(d.size):
        p[j] /= p_sum
    return np.log(p_sum) + beta * dp_sum / p_sum


@njit(parallel=True)
def _inverse_simpson(distances, indices, codes, n_categories, perplexity, tol, n_tries):
    """Per cell: ``1 / Σ_c p_c²`` with perplexity-calibrated weights (NaN for no neighbours)."""
    n_obs, n_nb = distances.shape
    out = np.empty(n_obs)
    log_u = np.log(perplexity)
    for i in prange(n_obs):
        d = distances[i]
        valid = indices[i] >= 0
        if not valid.any():
            out[i] = np.nan
            continue
        d_min = np.inf
        for j in range(n_nb):
            if valid[j] and d[j] < d_min:
                d_min = d[j]
        p = np.empty(n_nb)
        beta, beta_min, beta_max = 1.0, -np.inf, np.inf
        h_diff = _entropy_weights(d, valid, d_min, beta, p) - log_u
        for _ in range(n_tries):
            if abs(h_diff) < tol:
                break
            if h_diff > 0:
                beta_min = beta
                beta = beta * 2 if beta_max == np.inf else (beta + beta_max) / 2
            else:
                beta_max = beta
                beta = beta / 2 if beta_min == -np.inf else (beta + beta_min) / 2
            h_diff = _entropy_weights(d, valid, d_min, beta, p) - log_u
        per_category = np.zeros(n_categories)
        for j in range(n_nb):
            if valid[j]:
                per_category[codes[indices[i, j]]] += p[j]
        out[i] = 1.0 / np.sum(per_category * per_category)
    return out


def inverse_simpson(
    indices: NDArray[np.int64],
    distances: NDArray[np.float64],
    codes: NDArray[np.int64],
    n_categories: int,
    perplexity: float,
) -> NDArray[np.float64]:
    """LISI of each cell from its neighbours (``indices``/``distances``, self excluded, -1 padded)."""
    return _inverse_simpson(
        np.ascontiguousarray(distances, dtype=np.float64),
        np.ascontiguousarray(indices, dtype=np.int64),
        np.ascontiguousarray(codes, dtype=np.int64),
        n_categories,
        float(perplexity),
        _TOL,
        _N_TRIES,
    )


@validated(LisiParams)
def lisi(
    adata: AnnData,
    key: str,
    *,
    use_rep: str | None = "X_pca",
    n_neighbors: int = 90,
    perplexity: float = 30.0,
) -> NDArray[np.float64]:
    """Local inverse Simpson index of each cell: the effective number of ``key`` categories around it.

    Computed like harmony's ``compute_lisi``: the ``n_neighbors - 1`` nearest other cells
    (exact search in ``obsm[use_rep]``) get Gaussian weights calibrated to ``perplexity``.
    With ``key`` the batch it is iLISI (higher: better mixed, at most the number of
    batches); with the cell type it is cLISI (near 1: types kept apart). ``use_rep=None``
    uses shortest-path distances in the stored graph (``obsp['distances']`` of
    ``uns['neighbors']``) instead, for methods that only change the graph (BBKNN).

    Parameters
    ----------
    adata
        Cells with ``obsm[use_rep]`` (or a neighbour graph) and ``obs[key]``.
    key
        obs column with the category of each cell.
    use_rep
        obsm key of the representation; None: the stored distances graph.
    n_neighbors
        Neighbourhood size, the cell itself included; lowered to ``n_obs`` for fewer cells
        (with an :class:`~scsnake.errors.AdjustedParamWarning`).
    perplexity
        Effective number of neighbours; must be below ``n_neighbors - 1``.

    Returns
    -------
    LISI per cell (float64 array of length ``n_obs``; NaN for a cell without neighbours).
    ``adata`` is not changed.

    Examples
    --------
    >>> import anndata as ad, numpy as np, pandas as pd, scsnake as ss
    >>> rng = np.random.default_rng(0)
    >>> adata = ad.AnnData(obs=pd.DataFrame({"batch": rng.choice(["a", "b"], 300)}, index=[str(i) for i in range(300)]))
    >>> adata.obsm["X_pca"] = rng.normal(size=(300, 5))
    >>> float(np.round(np.median(ss.metrics.lisi(adata, "batch")), 1))
    1.9
    """
    codes, names = category_codes(adata, key, step="lisi")
    indices, distances = neighbourhoods(adata, use_rep, n_neighbors, step="lisi")
    n_found = indices.shape[1]
    if perplexity >= n_found:
        adjusted = n_found / 3
        msg = f"lisi: perplexity={perplexity:g} needs more than the {n_found} neighbours available; using perplexity={adjusted:g}"
        warnings.warn(msg, AdjustedParamWarning, stacklevel=3)
        perplexity = adjusted
    logger.info(
        "lisi of obs[%r]: %d categories, %d neighbours, perplexity %g", key, len(names), n_found, perplexity
    )
    return inverse_simpson(indices, distances, codes, len(names), perplexity)
