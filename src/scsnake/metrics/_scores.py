"""A summary of integration quality: batch mixing (iLISI, kBET) and biology kept (cLISI, ARI, NMI, ASW)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from scsnake._matrix import get_obs_column
from scsnake._params import StageParams, validated
from scsnake.neighbors._neighbors import _prepare, choose_representation

from ._kbet import KbetParams, acceptance_rate
from ._knn import category_codes, neighbourhoods, representation
from ._lisi import LisiParams, inverse_simpson

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["IntegrationScoresParams", "integration_scores"]

logger = logging.getLogger(__name__)

#: The label silhouette is computed on at most this many cells (a seeded sample): it is O(n²).
ASW_MAX_CELLS = 5000


class IntegrationScoresParams(StageParams):
    """Parameters of :func:`integration_scores`."""

    batch_key: str
    """obs column with the batch of each cell."""
    label_key: str
    """obs column with the (known) cell type of each cell."""
    use_rep: str | None = "X_pca"
    """obsm key of the integrated representation; None: the stored graph (e.g. BBKNN)."""
    cluster_key: str = "leiden"
    """obs column with the clusters compared with the labels (ARI, NMI)."""


def _label_silhouette(adata: AnnData, use_rep: str | None, codes: np.ndarray) -> float:
    """Silhouette of the labels in the representation, scaled to 0..1 ((s + 1) / 2).

    With ``use_rep=None``: the representation the stored graph was built on (its
    ``use_rep``/``n_pcs`` params, as ``neighbors`` chooses it). NaN for a single label.
    """
    from sklearn.metrics import silhouette_score

    n_labels = np.unique(codes).size
    if n_labels < 2 or n_labels >= adata.n_obs:
        return float("nan")
    if use_rep is None:
        params = adata.uns.get("neighbors", {}).get("params", {})
        x = _prepare(choose_representation(adata, use_rep=params.get("use_rep"), n_pcs=params.get("n_pcs")))
    else:
        x = representation(adata, use_rep)
    sample = ASW_MAX_CELLS if adata.n_obs > ASW_MAX_CELLS else None
    score = silhouette_score(x, codes, metric="euclidean", sample_size=sample, random_state=0)
    return float((score + 1) / 2)


@validated(IntegrationScoresParams)
def integration_scores(
    adata: AnnData,
    batch_key: str,
    label_key: str,
    *,
    use_rep: str | None = "X_pca",
    cluster_key: str = "leiden",
) -> dict[str, float]:
    """Scores of an integration: batches mixed, cell types kept apart.

    Parameters
    ----------
    adata
        Cells with the integrated ``obsm[use_rep]`` (or a neighbour graph), the batch and
        label columns, and clusters in ``obs[cluster_key]``.
    batch_key
        obs column with the batch of each cell.
    label_key
        obs column with the known cell type of each cell.
    use_rep
        obsm key of the representation; None: the stored graph (``obsp['distances']`` of
        ``uns['neighbors']``), for methods that only change the graph such as BBKNN.
    cluster_key
        obs column with clusters (e.g. from ``leiden``) to compare with the labels.

    Returns
    -------
    A dict of floats (``adata`` is not changed):

    ``ilisi``, ``ilisi_norm``
        Median iLISI of the batches (:func:`lisi`), and ``(ilisi - 1) / (n_batches - 1)``
        (0: batches apart, 1: perfectly mixed).
    ``clisi``, ``clisi_norm``
        Median cLISI of the labels, and ``1 - (clisi - 1) / (n_labels - 1)`` (1: types apart).
    ``kbet_acceptance``
        :func:`kbet` acceptance rate (1: every neighbourhood well mixed).

    LISI and kBET use their functions' defaults (90 and 50 neighbours, perplexity 30,
    ``alpha=0.05``, seed 0) on one shared neighbourhood search.
    ``ari``, ``nmi``
        Adjusted Rand index and normalised mutual information of the clusters vs the labels.
    ``asw_label``
        Silhouette of the labels in the representation, scaled to 0..1 (on a seeded
        sample of 5,000 cells for larger data; with ``use_rep=None`` in the representation
        the graph was built on).

    Examples
    --------
    >>> import anndata as ad, numpy as np, pandas as pd, scsnake as ss
    >>> rng = np.random.default_rng(0)
    >>> obs = pd.DataFrame({"batch": rng.choice(["a", "b"], 300), "type": np.repeat(["t0", "t1"], 150)}, index=[str(i) for i in range(300)])
    >>> adata = ad.AnnData(obs=obs)
    >>> adata.obsm["X_pca"] = rng.normal(size=(300, 5)) + np.repeat([[0.0], [8.0]], 150, axis=0)
    >>> adata.obs["leiden"] = adata.obs["type"]
    >>> scores = ss.metrics.integration_scores(adata, "batch", "type")
    >>> scores["ari"], scores["clisi_norm"] > 0.99
    (1.0, True)
    """
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    batch_codes, batches = category_codes(adata, batch_key, step="integration_scores")
    label_codes, labels = category_codes(adata, label_key, step="integration_scores")
    cluster_values = get_obs_column(adata, cluster_key, what="cluster_key").astype(str).to_numpy()

    # one neighbourhood search serves iLISI, cLISI (90 cells) and kBET (its nearest 50)
    lisi_defaults, kbet_defaults = LisiParams.model_fields, KbetParams.model_fields
    n_lisi, perplexity = lisi_defaults["n_neighbors"].default, lisi_defaults["perplexity"].default
    n_kbet = kbet_defaults["n_neighbors"].default
    indices, distances = neighbourhoods(adata, use_rep, max(n_lisi, n_kbet), step="integration_scores")
    if perplexity >= indices.shape[1]:  # few cells: as lisi() adjusts it
        perplexity = indices.shape[1] / 3
    lisi_idx, lisi_dist = indices[:, : n_lisi - 1], distances[:, : n_lisi - 1]
    n_batches, n_labels = len(batches), len(labels)
    ilisi = float(np.nanmedian(inverse_simpson(lisi_idx, lisi_dist, batch_codes, n_batches, perplexity)))
    clisi = float(np.nanmedian(inverse_simpson(lisi_idx, lisi_dist, label_codes, n_labels, perplexity)))
    kbet_rate = float("nan")
    if n_batches > 1:
        kbet_rate = acceptance_rate(
            indices[:, : n_kbet - 1],
            batch_codes,
            n_batches,
            alpha=kbet_defaults["alpha"].default,
            random_state=kbet_defaults["random_state"].default,
        )
    scores = {
        "ilisi": ilisi,
        "ilisi_norm": (ilisi - 1) / (n_batches - 1) if n_batches > 1 else float("nan"),
        "clisi": clisi,
        "clisi_norm": 1 - (clisi - 1) / (n_labels - 1) if n_labels > 1 else float("nan"),
        "kbet_acceptance": kbet_rate,
        "ari": float(adjusted_rand_score(label_codes, cluster_values)),
        "nmi": float(normalized_mutual_info_score(label_codes, cluster_values)),
        "asw_label": _label_silhouette(adata, use_rep, label_codes),
    }
    logger.info("integration scores: %s", ", ".join(f"{k}={v:.3f}" for k, v in scores.items()))
    return scores
