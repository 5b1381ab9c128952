"""Doublet detection with Scrublet (Wolock et al. 2019), as ``scanpy.pp.scrublet`` runs it."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import pandas as pd
from anndata import AnnData
from pydantic import AfterValidator, Field, NonNegativeFloat, PositiveFloat, PositiveInt

from scsnake._matrix import check_counts, get_matrix, get_obs_column, is_sparse, view_to_actual
from scsnake._params import Seed, StageParams, validated
from scsnake._rng import as_seed
from scsnake.errors import DataWarning, InputDataError, MissingKeyError
from scsnake.neighbors._neighbors import Metric
from scsnake.pp._filter import _per_axis
from scsnake.pp._highly_variable_genes import highly_variable_genes
from scsnake.pp._log1p import _log1p_matrix
from scsnake.pp._normalize_total import normalize_total
from scsnake.pp._scrublet_kernels import (
    doublet_scores,
    embed,
    neighbor_parents,
    simulate_doublets,
    threshold_minimum,
)

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["ScrubletParams", "ScrubletSimulateDoubletsParams", "scrublet", "scrublet_simulate_doublets"]

logger = logging.getLogger(__name__)

Rate = Annotated[float, Field(gt=0, lt=1)]


def _check_adata_sim(value: Any) -> Any:
    if value is not None and not isinstance(value, AnnData):
        msg = "must be None or an AnnData from scrublet_simulate_doublets"
        raise ValueError(msg)
    return value


class ScrubletParams(StageParams):
    """Parameters of :func:`scrublet`."""

    adata_sim: Annotated[Any, AfterValidator(_check_adata_sim)] = None
    """Simulated doublets (``scrublet_simulate_doublets``) of already preprocessed data; None simulates."""
    batch_key: str | None = None
    """obs column of batches (samples): doublets are simulated and scored within each."""
    sim_doublet_ratio: PositiveFloat = 2.0
    """Number of doublets to simulate per observed cell."""
    expected_doublet_rate: Rate = 0.05
    """Expected fraction of doublets among the cells."""
    stdev_doublet_rate: NonNegativeFloat = 0.02
    """Uncertainty of the expected rate (only enters the scores' standard errors, not stored)."""
    synthetic_doublet_umi_subsampling: Annotated[float, Field(gt=0, le=1)] = 1.0
    """Fraction of a simulated doublet's counts kept (binomial thinning); 1 keeps the plain sum."""
    knn_dist_metric: Metric | Callable[..., float] = "euclidean"
    """Distance metric of the kNN search."""
    normalize_variance: bool = True
    """Scale genes to unit variance before the embedding."""
    log_transform: bool = False
    """Log-transform (log1p) the data before the embedding."""
    mean_center: bool = True
    """Centre genes (PCA); False embeds with a truncated SVD."""
    n_prin_comps: PositiveInt = 30
    """Number of components of the embedding."""
    use_approx_neighbors: bool | None = None
    """True: pynndescent (scanpy's quirk: the point itself is not counted); False: exact; None: exact up to 50,000 points."""
    get_doublet_neighbor_parents: bool = False
    """Also store, per cell, the parents of its simulated-doublet neighbours."""
    n_neighbors: PositiveInt | None = None
    """Neighbours per cell before scaling by 1 + sim_doublet_ratio; None: round(sqrt(n_obs) / 2)."""
    threshold: float | None = None
    """Score above which a cell is called a doublet; None: the minimum between the two modes of the simulated scores."""
    verbose: bool = True
    """Log the threshold and detected doublet rates."""
    random_state: Seed | None = 0
    """Seed of the simulation, the embedding's start vector and approximate kNN (None means 0)."""


class ScrubletSimulateDoubletsParams(StageParams):
    """Parameters of :func:`scrublet_simulate_doublets`."""

    layer: str | None = None
    """Layer of raw counts to use instead of ``X``."""
    sim_doublet_ratio: PositiveFloat = 2.0
    """Number of doublets to simulate per observed cell."""
    synthetic_doublet_umi_subsampling: Annotated[float, Field(gt=0, le=1)] = 1.0
    """Fraction of a simulated doublet's counts kept (binomial thinning)."""
    random_seed: Seed | None = 0
    """Seed of the simulation (None means 0)."""


@validated(ScrubletSimulateDoubletsParams)
def scrublet_simulate_doublets(
    adata: AnnData,
    *,
    layer: str | None = None,
    sim_doublet_ratio: float = 2.0,
    synthetic_doublet_umi_subsampling: float = 1.0,
    random_seed: int | None = 0,
) -> AnnData:
    """Simulate doublets by adding the counts of random pairs of cells, as scanpy does.

    Parameters
    ----------
    adata
        Cells × genes raw counts, usually already restricted to filtered, variable genes.
    layer
        Layer of raw counts to use instead of ``X``.
    sim_doublet_ratio
        Number of doublets per observed cell.
    synthetic_doublet_umi_subsampling
        Keep each count of a doublet with this probability (1: plain sums).
    random_seed
        Seed; the same seed draws the same parents as scanpy.

    Returns
    -------
    A new AnnData of the doublets (CSR ``X``) with ``obs['n_counts']`` (total counts of
    the parents), ``obsm['doublet_parents']`` (row indices of the two parents) and
    ``uns['scrublet']['parameters']['sim_doublet_ratio']``.
    """
    x = get_matrix(adata, layer=layer)
    sim, totals, pairs = simulate_doublets(
        x,
        sim_doublet_ratio=sim_doublet_ratio,
        subsampling=synthetic_doublet_umi_subsampling,
        rng=np.random.RandomState(as_seed(random_seed)),
    )
    adata_sim = AnnData(sim)
    adata_sim.obs["n_counts"] = totals
    adata_sim.obsm["doublet_parents"] = pairs
    adata_sim.uns["scrublet"] = {"parameters": {"sim_doublet_ratio": sim_doublet_ratio}}
    return adata_sim


def _normalized(x: Any, target_sum: float | None) -> Any:
    """``normalize_total`` of a matrix (a new float matrix; integers become float32)."""
    return normalize_total(AnnData(x), target_sum=target_sum, inplace=False)["X"]


def _log1p(x: Any) -> Any:
    x = x.astype(np.float32) if not np.issubdtype(x.dtype, np.floating) else x.copy()
    return _log1p_matrix(x, None, None, "X")


def _preprocess(counts: Any, p: dict[str, Any]) -> tuple[NDArray[np.intp], Any, Any, NDArray[np.int64]]:
    """scanpy's preparation of one batch: kept cells, normalised observed and simulated data, parents.

    Genes in fewer than 3 cells and then cells with fewer than 3 genes are dropped;
    highly variable genes (``seurat``, default cut-offs) are chosen on log1p of
    median-normalised counts; doublets are simulated from the raw counts of those genes;
    both sides are (optionally log1p-transformed and) normalised to 1e6.
    """
    genes = _per_axis(counts, 0)[1] >= 3
    counts = counts[:, genes]
    cells = np.flatnonzero(_per_axis(counts, 1)[1] >= 3)
    if cells.size < 2:
        msg = f"scrublet: only {cells.size} cell(s) have >= 3 genes expressed in >= 3 cells; at least 2 are needed"
        raise InputDataError(msg)
    counts = counts[cells]
    norm = _normalized(counts, None)
    hvg = highly_variable_genes(AnnData(_log1p(norm)), inplace=False)["highly_variable"].to_numpy()
    if hvg.sum() < 2:
        msg = f"scrublet: {int(hvg.sum())} highly variable gene(s) found among {hvg.size}; at least 2 are needed"
        raise InputDataError(msg)
    obs, raw = norm[:, hvg], counts[:, hvg]
    sim, _, parents = simulate_doublets(
        raw,
        sim_doublet_ratio=p["sim_doublet_ratio"],
        subsampling=p["synthetic_doublet_umi_subsampling"],
        rng=np.random.RandomState(as_seed(p["random_state"])),
    )
    if p["log_transform"]:
        obs, sim = _log1p(obs), _log1p(sim)
    return cells, _normalized(obs, 1e6), _normalized(sim, 1e6), parents


def _call_doublets(
    obs: Any, sim: Any, parents: NDArray[np.int64], sim_ratio: float | None, p: dict[str, Any]
) -> tuple[NDArray[np.float64], NDArray[np.bool_], dict[str, Any]]:
    """Embed, score and call: the doublet scores, calls and the batch's ``uns`` entry."""
    n_obs = obs.shape[0]
    n_neighbors = p["n_neighbors"] if p["n_neighbors"] is not None else round(0.5 * np.sqrt(n_obs))
    seed = as_seed(p["random_state"])
    m_obs, m_sim = embed(
        obs,
        sim,
        mean_center=p["mean_center"],
        normalize_variance=p["normalize_variance"],
        n_comps=p["n_prin_comps"],
        seed=seed,
    )
    scores_obs, scores_sim, knn = doublet_scores(
        m_obs,
        m_sim,
        n_neighbors=n_neighbors,
        expected_doublet_rate=p["expected_doublet_rate"],
        approx=p["use_approx_neighbors"],
        metric=p["knn_dist_metric"],
        seed=seed,
    )
    uns: dict[str, Any] = {
        "doublet_scores_sim": scores_sim,
        "doublet_parents": parents,
        "parameters": {
            "expected_doublet_rate": p["expected_doublet_rate"],
            "sim_doublet_ratio": sim_ratio,
            "n_neighbors": n_neighbors,
            "random_state": p["random_state"],
        },
    }
    threshold = p["threshold"] if p["threshold"] is not None else threshold_minimum(scores_sim)
    if threshold is None:
        msg = (
            "scrublet: no automatic threshold (the simulated doublet scores are not bimodal); "
            "predicted_doublet is False everywhere; look at the score histogram and pass threshold="
        )
        warnings.warn(msg, DataWarning, stacklevel=5)
        predicted = np.zeros(n_obs, dtype=bool)
    else:
        uns["threshold"] = threshold
        predicted = scores_obs > threshold
        if p["verbose"]:
            detected, detectable = predicted.mean(), (scores_sim > threshold).mean()
            logger.info(
                "scrublet: threshold %.2f; detected doublet rate %.1f%%, detectable fraction %.1f%%, "
                "overall rate %.1f%% (expected %.1f%%)",
                threshold,
                100 * detected,
                100 * detectable,
                100 * detected / detectable if detectable else float("nan"),
                100 * p["expected_doublet_rate"],
            )
    if p["get_doublet_neighbor_parents"]:
        uns["doublet_neighbor_parents"] = neighbor_parents(knn, n_obs, parents)
    return scores_obs, predicted, uns


def _run(
    x: Any, adata_sim: AnnData | None, p: dict[str, Any]
) -> tuple[NDArray[np.intp], NDArray[np.float64], NDArray[np.bool_], dict[str, Any]]:
    """One batch: kept row positions, scores, calls and the ``uns`` entry."""
    if adata_sim is None:
        cells, obs, sim, parents = _preprocess(x, p)
        ratio = p["sim_doublet_ratio"]
    else:
        cells, obs, sim = np.arange(x.shape[0]), x, adata_sim.X
        parents = adata_sim.obsm["doublet_parents"]
        ratio = adata_sim.uns.get("scrublet", {}).get("parameters", {}).get("sim_doublet_ratio")
    scores, predicted, uns = _call_doublets(obs, sim, parents, ratio, p)
    return cells, scores, predicted, uns


def _check_sim(adata: AnnData, adata_sim: AnnData) -> None:
    if adata_sim.n_vars != adata.n_vars:
        msg = (
            f"scrublet: adata_sim has {adata_sim.n_vars} genes but adata has {adata.n_vars}; they must match"
        )
        raise InputDataError(msg)
    if "doublet_parents" not in adata_sim.obsm:
        msg = "scrublet: adata_sim.obsm['doublet_parents'] not found; make adata_sim with scrublet_simulate_doublets"
        raise MissingKeyError(msg)


@validated(ScrubletParams)
def scrublet(
    adata: AnnData,
    adata_sim: AnnData | None = None,
    *,
    batch_key: str | None = None,
    sim_doublet_ratio: float = 2.0,
    expected_doublet_rate: float = 0.05,
    stdev_doublet_rate: float = 0.02,
    synthetic_doublet_umi_subsampling: float = 1.0,
    knn_dist_metric: str | Callable[..., float] = "euclidean",
    normalize_variance: bool = True,
    log_transform: bool = False,
    mean_center: bool = True,
    n_prin_comps: int = 30,
    use_approx_neighbors: bool | None = None,
    get_doublet_neighbor_parents: bool = False,
    n_neighbors: int | None = None,
    threshold: float | None = None,
    verbose: bool = True,
    copy: bool = False,
    random_state: int | None = 0,
) -> AnnData | None:
    """Predict doublets with Scrublet (Wolock et al. 2019), following ``scanpy.pp.scrublet``.

    Without ``adata_sim``, per batch: genes in < 3 cells and cells with < 3 genes are
    set aside, highly variable genes are selected (``seurat`` on log1p of
    median-normalised counts), ``sim_doublet_ratio × n_obs`` doublets are simulated by
    adding the raw counts of random pairs of cells, cells and doublets are normalised to
    1e6 counts, z-scored with the cells' gene statistics and embedded with PCA fitted on
    the cells. Each point's ``k_adj = round(n_neighbors × (1 + sim_doublet_ratio))``
    nearest neighbours (itself included) give ``q = (n_doublet_neighbours + 1) / (k_adj + 2)``
    and the score ``q·rho/r / (1 − rho − q·(1 − rho − rho/r))`` (``rho`` the expected
    rate, ``r`` the simulation ratio). With ``threshold=None`` the threshold is the
    minimum between the two modes of the simulated doublets' score histogram.

    Parameters
    ----------
    adata
        Cells × genes raw counts in ``X`` (or, with ``adata_sim``, preprocessed data).
    adata_sim
        Doublets from :func:`scrublet_simulate_doublets`, preprocessed like ``adata``;
        then no filtering, normalisation or simulation happens here.
    batch_key
        obs column of batches; each is processed on its own.
    sim_doublet_ratio, expected_doublet_rate, stdev_doublet_rate, synthetic_doublet_umi_subsampling
        Simulation size, expected doublet rate and its uncertainty, count thinning.
    knn_dist_metric
        Metric of the kNN search.
    normalize_variance, log_transform, mean_center, n_prin_comps
        Embedding: unit variance, log1p, centring (PCA; else truncated SVD), components.
    use_approx_neighbors
        kNN search: None or False exact, True pynndescent.
    get_doublet_neighbor_parents
        Also store the parents of each cell's doublet neighbours.
    n_neighbors
        Neighbours before scaling; None: ``round(0.5 * sqrt(n_obs))``.
    threshold
        Doublet score threshold; None finds it automatically.
    verbose
        Log the threshold and rates.
    copy
        Work on a copy of ``adata`` and return it.
    random_state
        Seed of the simulation (same parents as scanpy) and of the embedding.

    Returns
    -------
    None (or the copy); ``adata`` gets ``obs['doublet_score']`` (NaN for cells set aside
    by the filters), ``obs['predicted_doublet']`` and ``uns['scrublet']`` with
    ``doublet_scores_sim``, ``doublet_parents`` (parent row indices, after filtering),
    ``parameters`` and, when found, ``threshold`` (plus ``doublet_neighbor_parents`` if
    asked). With ``batch_key``: ``uns['scrublet'] = {'batches': {batch: ...}, 'batched_by': batch_key}``.

    Examples
    --------
    >>> from scsnake.datasets import synthetic
    >>> adata = synthetic(600, 500, doublet_rate=0.1, seed=1)
    >>> scrublet(adata, verbose=False)
    >>> sorted(adata.uns["scrublet"])
    ['doublet_parents', 'doublet_scores_sim', 'parameters', 'threshold']
    """
    adata = adata.copy() if copy else adata
    view_to_actual(adata)
    x = get_matrix(adata)
    if adata_sim is None:
        check_counts(x, where="X", step="scrublet")
        if is_sparse(x) and x.format != "csr":
            x = x.tocsr()
    else:
        _check_sim(adata, adata_sim)
    p = {
        "sim_doublet_ratio": sim_doublet_ratio,
        "expected_doublet_rate": expected_doublet_rate,
        "synthetic_doublet_umi_subsampling": synthetic_doublet_umi_subsampling,
        "knn_dist_metric": knn_dist_metric,
        "normalize_variance": normalize_variance,
        "log_transform": log_transform,
        "mean_center": mean_center,
        "n_prin_comps": n_prin_comps,
        "use_approx_neighbors": use_approx_neighbors,
        "get_doublet_neighbor_parents": get_doublet_neighbor_parents,
        "n_neighbors": n_neighbors,
        "threshold": threshold,
        "verbose": verbose,
        "random_state": random_state,
    }
    logger.info("scrublet: expected doublet rate %g, stdev %g", expected_doublet_rate, stdev_doublet_rate)

    scores = np.full(adata.n_obs, np.nan)
    predicted = np.zeros(adata.n_obs, dtype=bool)
    if batch_key is None:
        batches: list[tuple[Any, NDArray[np.intp]]] = [(None, np.arange(adata.n_obs))]
    else:
        values = np.asarray(get_obs_column(adata, batch_key, what="batch_key"))
        if pd.isna(values).any():
            msg = f"scrublet: batch_key {batch_key!r} has {int(pd.isna(values).sum())} missing value(s); fill or drop those cells"
            raise InputDataError(msg)
        names, codes = np.unique(values, return_inverse=True)
        batches = [(name, np.flatnonzero(codes == b)) for b, name in enumerate(names)]
    per_batch = {}
    for name, rows in batches:
        x_batch = x if batch_key is None else x[rows]
        try:
            cells, batch_scores, batch_predicted, uns = _run(x_batch, adata_sim, p)
        except InputDataError as err:
            if name is not None:
                err.add_note(f"in batch {name!r} of {batch_key!r}")
            raise
        scores[rows[cells]] = batch_scores
        predicted[rows[cells]] = batch_predicted
        per_batch[str(name)] = uns
    adata.obs["doublet_score"] = scores
    adata.obs["predicted_doublet"] = predicted
    if batch_key is None:
        adata.uns["scrublet"] = per_batch["None"]
    else:
        adata.uns["scrublet"] = {"batches": per_batch, "batched_by": batch_key}
    return adata if copy else None
