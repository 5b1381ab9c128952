"""Harmony integration (Korsunsky et al. 2019) of a cell embedding, as harmonypy computes it.

The algorithm follows harmonypy 0.0.10 (the implementation ``scanpy.external`` wraps) step
by step, in its layout (embedding ``d × N``, soft clusters ``K × N``):

1. cells are L2-normalised (cosine space) and clustered by scikit-learn's ``KMeans``
   (k-means++, 10 starts, 25 iterations, seeded); centroids give the first soft assignment
   ``R = softmax(-dist / sigma)``;
2. soft k-means with a diversity penalty: per shuffled block of cells, ``R`` is recomputed
   with the batch-diversity factor ``((E + 1) / (O + 1)) ** theta`` (expected over observed
   batch counts per cluster), until the objective's moving window stops changing
   (``epsilon_cluster``);
3. mixture-of-experts ridge correction: per cluster, batch effects are fitted by ridge
   regression (``lamb``) weighted by ``R`` and subtracted (the intercept is kept);
4. repeat 2–3 until the objective improves by less than ``epsilon_harmony``.

The only deliberate difference: harmonypy divides each cell by its largest coordinate
before the first L2 normalisation, which flips cells whose coordinates are all negative
(and divides by zero for a cell whose largest coordinate is 0); like R's harmony, the
cells are L2-normalised only. On ordinary embeddings the results are identical.
The defaults are R harmony's (``theta=2``, ``lamb=1``); harmonypy's ``run_harmony`` (and so
``scanpy.external``) defaults to ``theta=1``.
"""

from __future__ import annotations

import itertools
import logging
from typing import TYPE_CHECKING, Annotated

import numpy as np
import pandas as pd
from pydantic import Field, NonNegativeFloat, PositiveFloat, PositiveInt, model_validator

from scsnake._matrix import check_finite, get_obs_column, get_obsm, view_to_actual
from scsnake._params import StageParams, validated
from scsnake._rng import as_seed
from scsnake.errors import InputDataError, ParamError

if TYPE_CHECKING:
    from anndata import AnnData
    from numpy.typing import NDArray

__all__ = ["HarmonyIntegrateParams", "harmony_integrate"]

logger = logging.getLogger(__name__)

#: Objectives averaged over this many k-means rounds for the clustering convergence test.
_WINDOW = 3


class HarmonyIntegrateParams(StageParams):
    """Parameters of :func:`harmony_integrate`."""

    key: str | Annotated[list[str], Field(min_length=1)]
    """obs column(s) with the batch of each cell; several columns are corrected together."""
    basis: str = "X_pca"
    """obsm key of the embedding to correct."""
    adjusted_basis: str = "X_pca_harmony"
    """obsm key the corrected embedding is stored under."""
    theta: NonNegativeFloat | Annotated[list[NonNegativeFloat], Field(min_length=1)] = 2.0
    """Diversity penalty (0: none, plain soft k-means); one value, or one per key."""
    lamb: PositiveFloat | Annotated[list[PositiveFloat], Field(min_length=1)] = 1.0
    """Ridge penalty of the correction (larger: gentler); one value, or one per key."""
    sigma: PositiveFloat = 0.1
    """Width of the soft clustering (larger: softer assignments)."""
    nclust: PositiveInt | None = None
    """Number of clusters; None takes ``min(round(n_obs / 30), 100)``."""
    tau: NonNegativeFloat = 0
    """Protection of small batches: ``theta *= 1 - exp(-(n_b / (nclust * tau))²)`` (0: off)."""
    block_size: Annotated[float, Field(gt=0, le=1)] = 0.05
    """Fraction of the cells updated at once in a clustering round."""
    max_iter_harmony: PositiveInt = 10
    """Maximum rounds of clustering and correction."""
    max_iter_kmeans: PositiveInt = 20
    """Maximum clustering rounds per Harmony round."""
    epsilon_cluster: NonNegativeFloat = 1e-5
    """Relative change of the clustering objective that stops the clustering."""
    epsilon_harmony: NonNegativeFloat = 1e-4
    """Relative improvement of the objective that stops Harmony."""
    random_state: int | None = 0
    """Seed of the k-means initialisation and of the cell order of the block updates."""

    @model_validator(mode="after")
    def _one_value_per_key(self) -> HarmonyIntegrateParams:
        n_keys = 1 if isinstance(self.key, str) else len(self.key)
        for name in ("theta", "lamb"):
            value = getattr(self, name)
            if isinstance(value, list) and len(value) != n_keys:
                msg = (
                    f"{name}: {len(value)} value(s) given for {n_keys} key(s); give one value, or one per key"
                )
                raise ValueError(msg)
        if not isinstance(self.key, str) and len(set(self.key)) != len(self.key):
            msg = f"key: {self.key!r} names a column more than once"
            raise ValueError(msg)
        return self


# --- design -----------------------------------------------------------------------------


def _design(adata: AnnData, keys: list[str]) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """One-hot batch indicators ``Phi`` (categories × cells) and the number of categories per key.

    Like ``pandas.get_dummies`` in harmonypy: keys in the given order, each key's observed
    categories in their categorical (or sorted) order.
    """
    blocks, n_levels = [], []
    for key in keys:
        column = get_obs_column(adata, key, what="key")
        values = column.array if isinstance(column.dtype, pd.CategoricalDtype) else pd.Categorical(column)
        values = values.remove_unused_categories()
        if values.isna().any():
            msg = f"harmony_integrate: {int(values.isna().sum())} cell(s) have no batch in obs[{key!r}] (missing value); fill or drop them"
            raise InputDataError(msg)
        n = len(values.categories)
        if n < 2:
            msg = f"harmony_integrate: obs[{key!r}] has a single batch ({values.categories[0]!r}); there is nothing to integrate"
            raise InputDataError(msg)
        codes = np.asarray(values.codes)
        block = np.zeros((n, adata.n_obs))
        block[codes, np.arange(adata.n_obs)] = 1.0
        blocks.append(block)
        n_levels.append(n)
    return np.vstack(blocks), np.asarray(n_levels, dtype=np.int64)


def _per_category(value: float | list[float], n_levels: NDArray[np.int64]) -> NDArray[np.float64]:
    """One value per key (or one for all) repeated for each key's categories."""
    per_key = [value] * len(n_levels) if np.isscalar(value) else list(value)  # type: ignore[arg-type]
    return np.repeat(np.asarray(per_key, dtype=np.float64), n_levels)


# --- the algorithm ------------------------------------------------------------------------


def _l2_columns(z: NDArray[np.float64]) -> NDArray[np.float64]:
    return z / np.linalg.norm(z, ord=2, axis=0)


def _initial_centroids(z_cos: NDArray[np.float64], n_clusters: int, seed: int) -> NDArray[np.float64]:
    """harmonypy's k-means initialisation: centroids (d × K) of sklearn's seeded KMeans."""
    from sklearn.cluster import KMeans

    model = KMeans(n_clusters=n_clusters, init="k-means++", n_init=10, max_iter=25, random_state=seed)
    return model.fit(z_cos.T).cluster_centers_.T


class _Harmony:
    """State of one Harmony run (embedding ``d × N``, assignments ``K × N``)."""

    def __init__(
        self,
        z: NDArray[np.float64],
        phi: NDArray[np.float64],
        *,
        theta: NDArray[np.float64],
        lamb: NDArray[np.float64],
        sigma: float,
        n_clusters: int,
        block_size: float,
        epsilon_cluster: float,
        epsilon_harmony: float,
        seed: int,
    ) -> None:
        n_obs = z.shape[1]
        self.z_orig = z
        self.z_corr = z.copy()
        self.z_cos = _l2_columns(z)
        self.phi = phi
        self.phi_moe = np.vstack([np.ones((1, n_obs)), phi])
        self.pr_b = phi.sum(axis=1) / n_obs
        self.theta = theta
        self.lamb_mat = np.diag(np.insert(lamb, 0, 0.0))
        self.sigma = np.full(n_clusters, sigma)
        self.block_size = block_size
        self.epsilon_cluster = epsilon_cluster
        self.epsilon_harmony = epsilon_harmony
        self.rng = np.random.RandomState(seed)  # harmonypy seeds numpy's global RandomState
        self.objective_kmeans: list[float] = []
        self.objective_harmony: list[float] = []
        # (1) centroids, (2) soft assignments, (3) batch statistics per cluster
        self.y = _l2_columns(_initial_centroids(self.z_cos, n_clusters, seed))
        self.dist = 2 * (1 - self.y.T @ self.z_cos)
        r = -self.dist / self.sigma[:, None]
        r -= r.max(axis=0)
        r = np.exp(r)
        self.r = r / r.sum(axis=0)
        self.e = np.outer(self.r.sum(axis=1), self.pr_b)
        self.o = self.r @ self.phi.T
        self.objective_harmony.append(self._objective())

    def _objective(self) -> float:
        """k-means error + sigma-weighted entropy + diversity cross-entropy; recorded."""
        kmeans_error = float(np.sum(self.r * self.dist))
        with np.errstate(divide="ignore", invalid="ignore"):
            plogp = self.r * np.log(self.r)
        plogp[~np.isfinite(plogp)] = 0.0
        entropy = float(np.sum(plogp * self.sigma[:, None]))
        log_ratio = np.log((self.o + 1) / (self.e + 1)) * self.theta[None, :]
        cross = float(np.sum((self.r * self.sigma[:, None]) * (log_ratio @ self.phi)))
        value = kmeans_error + entropy + cross
        self.objective_kmeans.append(value)
        return value

    def run(self, max_iter_harmony: int, max_iter_kmeans: int) -> int:
        """Cluster and correct until the objective settles; the number of rounds run."""
        for i in range(1, max_iter_harmony + 1):
            self._cluster(max_iter_kmeans)
            self._correct()
            old, new = self.objective_harmony[-2], self.objective_harmony[-1]
            if (old - new) / abs(old) < self.epsilon_harmony:
                logger.info("harmony converged after %d round(s)", i)
                return i
        logger.info("harmony stopped after %d rounds before converging", max_iter_harmony)
        return max_iter_harmony

    def _cluster(self, max_iter_kmeans: int) -> None:
        for i in range(max_iter_kmeans):
            self.y = _l2_columns(self.z_cos @ self.r.T)
            self.dist = 2 * (1 - self.y.T @ self.z_cos)
            self._update_r()
            self._objective()
            if i > _WINDOW and self._kmeans_converged():
                break
        self.objective_harmony.append(self.objective_kmeans[-1])

    def _kmeans_converged(self) -> bool:
        obj = self.objective_kmeans
        old = sum(obj[-2 - i] for i in range(_WINDOW))
        new = sum(obj[-1 - i] for i in range(_WINDOW))
        return abs(old - new) / abs(old) < self.epsilon_cluster

    def _update_r(self) -> None:
        """Recompute the assignments block by block, with the diversity penalty.

        The cells are visited in a shuffled order, in ``ceil(1 / block_size)`` blocks; each
        block's cells leave the batch statistics ``E``/``O``, get new assignments and return.
        The arrays are put in the visiting order once (cells × clusters), so that a block is
        a contiguous slice rather than a gather.
        """
        scale_dist = -self.dist / self.sigma[:, None]
        scale_dist -= scale_dist.max(axis=0)
        scale_dist = np.exp(scale_dist)
        order = np.arange(self.r.shape[1])
        self.rng.shuffle(order)
        r_t, dist_t, phi_t = self.r.T[order], scale_dist.T[order], self.phi.T[order]
        n_blocks = int(np.ceil(1 / self.block_size))
        bounds = np.cumsum([0] + [len(b) for b in np.array_split(order, n_blocks)])
        e, o = self.e, self.o
        for start, stop in itertools.pairwise(bounds):
            r_b, phi_b = r_t[start:stop], phi_t[start:stop]
            e -= np.outer(r_b.sum(axis=0), self.pr_b)
            o -= r_b.T @ phi_b
            r_b = dist_t[start:stop] * (phi_b @ np.power((e + 1) / (o + 1), self.theta).T)
            r_b /= r_b.sum(axis=1, keepdims=True)
            r_t[start:stop] = r_b
            e += np.outer(r_b.sum(axis=0), self.pr_b)
            o += r_b.T @ phi_b
        self.r[:, order] = r_t.T

    def _correct(self) -> None:
        """Mixture of experts: per cluster, a ridge fit of the batches, subtracted (intercept kept).

        Cluster ``k`` fits ``W_k = (Φ R_k Φᵀ + Λ)⁻¹ Φ R_k Zᵀ`` with ``R_k = diag(r_k)`` and
        subtracts ``W_kᵀ Φ R_k`` (row 0 of ``W_k``, the intercept, set to 0). The products
        are formed for all clusters at once, one covariate row of ``Φ`` at a time.
        """
        phi_moe, r = self.phi_moe, self.r
        n_cov = phi_moe.shape[0]
        # weighted[c] = (R * Φ[c]) Zᵀ: K × d, for each covariate row c
        weighted = np.stack([(r * phi_moe[c]) @ self.z_orig.T for c in range(n_cov)], axis=1)
        # gram[k] = Φ R_k Φᵀ: K × (B+1) × (B+1)
        gram = np.einsum("kn,cn,dn->kcd", r, phi_moe, phi_moe, optimize=True)
        w = np.linalg.solve(gram + self.lamb_mat, weighted)  # K × (B+1) × d
        z_corr = self.z_orig.copy()
        for c in range(1, n_cov):  # the intercept (c = 0) is kept
            z_corr -= (w[:, c, :].T @ r) * phi_moe[c]
        self.z_corr = z_corr
        self.z_cos = _l2_columns(z_corr)


def _n_clusters(nclust: int | None, n_obs: int) -> int:
    if nclust is None:
        return max(1, int(min(np.round(n_obs / 30.0), 100)))
    if nclust > n_obs:
        msg = f"harmony_integrate: nclust={nclust} is more than the {n_obs} cells; lower nclust"
        raise ParamError(msg)
    return nclust


# --- the stage ----------------------------------------------------------------------------


@validated(HarmonyIntegrateParams)
def harmony_integrate(
    adata: AnnData,
    key: str | list[str],
    *,
    basis: str = "X_pca",
    adjusted_basis: str = "X_pca_harmony",
    theta: float | list[float] = 2.0,
    lamb: float | list[float] = 1.0,
    sigma: float = 0.1,
    nclust: int | None = None,
    tau: float = 0,
    block_size: float = 0.05,
    max_iter_harmony: int = 10,
    max_iter_kmeans: int = 20,
    epsilon_cluster: float = 1e-5,
    epsilon_harmony: float = 1e-4,
    random_state: int | None = 0,
) -> None:
    """Remove batch effects from an embedding with Harmony (Korsunsky et al. 2019).

    Cells are softly clustered with a penalty that favours clusters mixing the batches,
    and each cluster's batch offsets, fitted by ridge regression, are subtracted; the
    two steps alternate until the objective settles. Computed as harmonypy does (which
    ``scanpy.external.pp.harmony_integrate`` calls), deterministic for a seed.

    Parameters
    ----------
    adata
        Cells with an embedding in ``obsm[basis]`` (usually PCA).
    key
        obs column, or list of columns, with the batch of each cell.
    basis
        obsm key of the embedding to correct.
    adjusted_basis
        obsm key to store the corrected embedding under.
    theta
        Diversity penalty, one value or one per key (0: no penalty).
    lamb
        Ridge penalty of the correction, one value or one per key.
    sigma
        Width of the soft clustering.
    nclust
        Number of clusters; None takes ``min(round(n_obs / 30), 100)``.
    tau
        Protection of small batches (0: off).
    block_size
        Fraction of the cells updated at once in a clustering round.
    max_iter_harmony, max_iter_kmeans
        Maximum rounds of Harmony and of clustering per round.
    epsilon_cluster, epsilon_harmony
        Relative objective changes that stop the clustering and Harmony.
    random_state
        Seed of the k-means initialisation and of the block order (None means 0).

    Returns
    -------
    None. Writes ``adata.obsm[adjusted_basis]``: the corrected embedding (cells × the
    columns of ``obsm[basis]``, float64).

    Examples
    --------
    >>> import anndata as ad, numpy as np, pandas as pd, scsnake as ss
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(120, 5)) + np.repeat([[0.0], [4.0]], 60, axis=0)
    >>> adata = ad.AnnData(obs=pd.DataFrame({"batch": ["a"] * 60 + ["b"] * 60}, index=[str(i) for i in range(120)]))
    >>> adata.obsm["X_pca"] = x
    >>> ss.pp.harmony_integrate(adata, "batch")
    >>> adata.obsm["X_pca_harmony"].shape
    (120, 5)
    """
    keys = [key] if isinstance(key, str) else list(key)
    embedding = np.asarray(get_obsm(adata, basis, hint="; run pca first or pass basis="))
    if embedding.ndim != 2 or embedding.shape[1] == 0 or embedding.shape[0] < 2:
        msg = f"harmony_integrate: obsm[{basis!r}] has shape {embedding.shape}; it needs at least 2 cells and 1 column"
        raise InputDataError(msg)
    check_finite(embedding, where=f"obsm[{basis!r}]")
    phi, n_levels = _design(adata, keys)
    n_obs = adata.n_obs
    n_clusters = _n_clusters(nclust, n_obs)
    theta_b = _per_category(theta, n_levels)
    if tau > 0:
        theta_b = theta_b * (1 - np.exp(-((phi.sum(axis=1) / (n_clusters * tau)) ** 2)))
    logger.info("harmony: %d cells, %d batch categories, %d clusters", n_obs, phi.shape[0], n_clusters)
    state = _Harmony(
        np.array(embedding, dtype=np.float64).T,
        phi,
        theta=theta_b,
        lamb=_per_category(lamb, n_levels),
        sigma=sigma,
        n_clusters=n_clusters,
        block_size=block_size,
        epsilon_cluster=epsilon_cluster,
        epsilon_harmony=epsilon_harmony,
        seed=as_seed(random_state),
    )
    state.run(max_iter_harmony, max_iter_kmeans)
    view_to_actual(adata)
    adata.obsm[adjusted_basis] = np.ascontiguousarray(state.z_corr.T)
