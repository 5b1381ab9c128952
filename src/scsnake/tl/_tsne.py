"""t-SNE embedding: openTSNE when installed, else scikit-learn's Barnes-Hut t-SNE (as scanpy).

Both run scikit-learn's schedule, which scanpy uses: PCA initialisation, 250 iterations
of early exaggeration with momentum 0.5, then 750 with momentum 0.8, exact neighbours
(3 × perplexity) for the affinities, no step-size clipping. ``learning_rate`` is passed
to openTSNE unchanged: measured, that gives scikit-learn's spread and trustworthiness
(the documented conversion, × 4, made 500 cells diverge: trustworthiness 0.74 vs 0.80).
openTSNE picks Barnes-Hut gradients below 10,000 cells and FFT-interpolated ones above
(Barnes-Hut always for a 3-dimensional embedding: its FFT scheme has one or two).

Measured on 2 shared, busy cores (mouse10k, 500 HVGs, 50 PCs; 20k = mouse10k plus a
jittered copy; one thread; CPU seconds; trustworthiness at 15 neighbours on 5,000 cells):

=========  ==================  =================
cells      scikit-learn        openTSNE
=========  ==================  =================
500        2.3 s, 0.802        1.7 s, 0.805
5,000      72 s, 0.824         27 s, 0.825
20,000     229 s, 0.813        62 s, 0.813
=========  ==================  =================
"""

from __future__ import annotations

import importlib.util
import logging
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
from pydantic import Field, PositiveFloat

from scsnake._matrix import check_finite, is_sparse
from scsnake._params import StageParams, validated
from scsnake._rng import as_seed
from scsnake.errors import InputDataError, ParamError

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["TsneParams", "tsne"]

logger = logging.getLogger(__name__)

#: scikit-learn's schedule: early-exaggeration iterations, then the rest of ``max_iter=1000``.
N_EXAGGERATION_ITER, N_ITER = 250, 750
#: Up to this many cells openTSNE finds the neighbours exactly (deterministic), else with Annoy.
EXACT_MAX_OBS = 50_000


class TsneParams(StageParams):
    """Parameters of :func:`tsne`."""

    n_pcs: Annotated[int, Field(ge=0)] | None = None
    """Use the first ``n_pcs`` columns of the representation (0 with ``use_rep=None`` means ``X``)."""
    use_rep: str | None = None
    """``obsm`` key or ``"X"``; None takes ``X_pca`` (or ``X`` itself when it has ≤ 50 genes)."""
    perplexity: PositiveFloat = 30
    """Effective number of neighbours of each cell (5–50 is typical); must be below the number of cells."""
    metric: str = "euclidean"
    """Distance metric of the neighbour search."""
    early_exaggeration: PositiveFloat = 12
    """Attraction factor of the first 250 iterations; larger values separate clusters more."""
    learning_rate: PositiveFloat = 1000
    """Step size (the same value for both implementations)."""
    random_state: int | None = 0
    """Seed (None means 0)."""
    use_fast_tsne: bool = False
    """Accepted for scanpy compatibility (MulticoreTSNE); the fastest installed implementation is always used."""
    n_jobs: Annotated[int, Field(ge=-1)] | None = None
    """Threads; None means 1 (scanpy's default)."""
    key_added: str | None = None
    """Store under ``obsm[key_added]`` and ``uns[key_added]`` instead of ``X_tsne`` / ``tsne``."""
    n_components: Annotated[int, Field(ge=1, le=3)] = 2
    """Dimensions of the embedding (scikit-learn's Barnes-Hut t-SNE allows at most 3)."""


def has_opentsne() -> bool:
    """True if openTSNE can be imported."""
    return importlib.util.find_spec("openTSNE") is not None


def _opentsne_metric_ok(metric: str) -> bool:
    """True if openTSNE's exact neighbour search (scikit-learn) supports ``metric``."""
    from openTSNE.nearest_neighbors import Sklearn

    return metric in Sklearn.VALID_METRICS


def _run_opentsne(x: Any, *, n_components: int, perplexity: float, metric: str,
                  early_exaggeration: float, learning_rate: float, seed: int,
                  n_jobs: int) -> np.ndarray:  # fmt: skip
    from openTSNE import TSNE

    model = TSNE(
        n_components=n_components,
        perplexity=perplexity,
        metric=metric,
        early_exaggeration=early_exaggeration,
        early_exaggeration_iter=N_EXAGGERATION_ITER,
        n_iter=N_ITER,
        learning_rate=learning_rate,
        initial_momentum=0.5,
        final_momentum=0.8,
        max_step_norm=None,
        initialization="pca",
        neighbors="exact" if x.shape[0] <= EXACT_MAX_OBS else "auto",
        # Barnes-Hut below 10,000 cells, FFT above; FFT embeds in one or two dimensions only
        negative_gradient_method="auto" if n_components <= 2 else "bh",
        random_state=seed,
        n_jobs=n_jobs,
    )
    return np.asarray(model.fit(x), dtype=np.float32)


def _run_sklearn(x: Any, *, n_components: int, perplexity: float, metric: str,
                 early_exaggeration: float, learning_rate: float, seed: int,
                 n_jobs: int) -> np.ndarray:  # fmt: skip
    from sklearn.manifold import TSNE

    model = TSNE(
        n_components=n_components,
        perplexity=perplexity,
        metric=metric,
        early_exaggeration=early_exaggeration,
        learning_rate=learning_rate,
        random_state=seed,
        n_jobs=n_jobs,
    )
    return np.asarray(model.fit_transform(x), dtype=np.float32)


@validated(TsneParams)
def tsne(
    adata: AnnData,
    n_pcs: int | None = None,
    *,
    use_rep: str | None = None,
    perplexity: float = 30,
    metric: str = "euclidean",
    early_exaggeration: float = 12,
    learning_rate: float = 1000,
    random_state: int | None = 0,
    use_fast_tsne: bool = False,
    n_jobs: int | None = None,
    key_added: str | None = None,
    copy: bool = False,
    n_components: int = 2,
) -> AnnData | None:
    """Embed the cells with t-SNE.

    Uses openTSNE (2.6–3.7 × less CPU time, see the module notes) when it is installed and
    the metric is one it supports, else scikit-learn's Barnes-Hut t-SNE as scanpy does;
    both with scikit-learn's optimisation schedule (see the module notes), so the
    parameters mean the same. The same ``random_state`` gives the same coordinates.

    Parameters
    ----------
    adata
        Cells with ``obsm['X_pca']`` (run ``pca`` first) or see ``use_rep``.
    n_pcs
        Use this many leading columns of the representation.
    use_rep
        ``obsm`` key or ``"X"``. None: ``X_pca``, or ``X`` when there are ≤ 50 genes.
    perplexity
        Effective number of neighbours; must be less than the number of cells.
    metric
        Distance metric.
    early_exaggeration
        Attraction factor of the first 250 iterations.
    learning_rate
        Step size.
    random_state
        Seed (None means 0).
    use_fast_tsne
        Ignored (scanpy's switch to MulticoreTSNE).
    n_jobs
        Threads (None: 1).
    key_added
        ``obsm`` and ``uns`` key instead of ``X_tsne`` / ``tsne``.
    copy
        Return a changed copy instead of writing to ``adata``.
    n_components
        Dimensions of the embedding (1 to 3).

    Returns
    -------
    None, or the copy if ``copy=True``. Writes:

    ``adata.obsm['X_tsne']`` (or ``obsm[key_added]``)
        The embedding, ``(n_obs, n_components)``.
    ``adata.uns['tsne']['params']`` (or ``uns[key_added]``)
        ``perplexity``, ``early_exaggeration``, ``learning_rate``, ``n_jobs``, ``metric``,
        ``n_components`` (as scanpy ≥ 1.12) and, if given, ``use_rep``.
    """
    from scsnake.neighbors._neighbors import N_PCS, choose_representation

    adata = adata.copy() if copy else adata
    x = choose_representation(adata, use_rep=use_rep, n_pcs=n_pcs)
    if is_sparse(x):
        if x.shape[1] > N_PCS:
            msg = f"t-SNE on a sparse matrix with {x.shape[1]} columns: run pca first and use use_rep='X_pca'"
            raise InputDataError(msg)
        x = x.toarray()  # at most 50 columns: as small as a PCA
    x = np.ascontiguousarray(x)
    if x.dtype.kind != "f":
        x = x.astype(np.float32)
    check_finite(x, where="the representation")
    n_obs = x.shape[0]
    if perplexity >= n_obs:
        msg = f"perplexity={perplexity} must be less than the number of cells ({n_obs})"
        raise ParamError(msg)
    n_jobs = 1 if n_jobs is None else n_jobs
    options = dict(n_components=n_components, perplexity=perplexity, metric=metric,
                   early_exaggeration=early_exaggeration, learning_rate=learning_rate,
                   seed=as_seed(random_state), n_jobs=n_jobs)  # fmt: skip
    use_opentsne = has_opentsne() and _opentsne_metric_ok(metric)
    logger.info("tsne: %s on %d × %d", "openTSNE" if use_opentsne else "scikit-learn", *x.shape)
    try:
        embedding = _run_opentsne(x, **options) if use_opentsne else _run_sklearn(x, **options)
    except ValueError as err:  # e.g. a metric neither library knows
        msg = f"t-SNE failed with metric={metric!r}: {err}"
        raise ParamError(msg) from err

    params = {"perplexity": perplexity, "early_exaggeration": early_exaggeration, "learning_rate": learning_rate,
              "n_jobs": n_jobs, "metric": metric, "use_rep": use_rep,
              "n_components": n_components}  # fmt: skip
    key_obsm, key_uns = ("X_tsne", "tsne") if key_added is None else (key_added, key_added)
    adata.obsm[key_obsm] = embedding
    adata.uns[key_uns] = {"params": {k: v for k, v in params.items() if v is not None}}
    logger.info("added obsm[%r] and uns[%r]", key_obsm, key_uns)
    return adata if copy else None
