"""Map new cells onto a reference: its PCA, kNN label transfer and UMAP transform (scanpy's ingest)."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

from scsnake._matrix import close_matches, get_matrix, get_obs_column
from scsnake._params import StageParams, validated
from scsnake.errors import InputDataError, MissingKeyError, ParamError

__all__ = ["IngestParams", "ingest"]

logger = logging.getLogger(__name__)

Embedding = Literal["umap", "pca"]
#: Options of scanpy's ``Ingest.neighbors`` that ``**kwargs`` may hold.
NEIGHBOR_OPTIONS = ("k", "queue_size", "epsilon", "random_state")
#: Below this many reference cells umap-learn's transform computes all distances itself
#: (scanpy's setting); above, it queries the exact index.
SMALL_REFERENCE = 4096


class IngestParams(StageParams):
    """Parameters of :func:`ingest`."""

    adata_ref: AnnData
    """Reference cells with ``pca``, ``neighbors`` (and ``umap``) results and the labels."""
    obs: str | Sequence[str] | None = None
    """``obs`` columns of the reference whose labels are transferred."""
    embedding_method: Embedding | Sequence[Embedding] = ("umap", "pca")
    """Embeddings to map: ``"umap"`` and/or ``"pca"``."""
    labeling_method: Literal["knn"] | Sequence[Literal["knn"]] = "knn"
    """Label transfer: ``"knn"`` (majority vote of the reference neighbours)."""
    neighbors_key: str | None = None
    """``uns`` key of the reference's ``neighbors`` result (default ``"neighbors"``)."""


class _ExactIndex:
    """Exact kNN search in the reference, with the ``query`` of a pynndescent index (for umap-learn)."""

    _angular_trees = False

    def __init__(self, data: Any, metric: Any, metric_kwds: dict[str, Any]) -> None:
        from sklearn.neighbors import NearestNeighbors

        params = dict(metric_kwds)
        p = params.pop("p", 2) if metric == "minkowski" else 2
        self._nn = NearestNeighbors(algorithm="brute", metric=metric, p=p, metric_params=params or None).fit(
            data
        )

    def query(self, x: Any, k: int, epsilon: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
        dists, indices = self._nn.kneighbors(x, n_neighbors=k)
        return indices.astype(np.int32), dists.astype(np.float32)


def _reference_representation(ref: AnnData, params: dict[str, Any]) -> tuple[str, int | None, Any]:
    """``(use_rep, n_pcs, matrix)`` of the reference, as its ``neighbors`` call chose them."""
    from scsnake.neighbors._neighbors import N_PCS, choose_representation

    use_rep, n_pcs = params.get("use_rep"), params.get("n_pcs")
    rep = choose_representation(ref, use_rep=use_rep, n_pcs=n_pcs)
    if use_rep is None:
        use_rep = "X" if n_pcs == 0 or ref.n_vars <= N_PCS else "X_pca"
    return use_rep, (rep.shape[1] if use_rep == "X_pca" else None), rep


def _project_pca(adata: AnnData, ref: AnnData, n_pcs: int | None) -> np.ndarray:
    """Scores of ``adata`` on the reference's loadings ``varm['PCs']``, centred like scanpy's ingest.

    With ``zero_center``, each gene is centred on the *reference* cells' mean, as scanpy
    ≥ 1.12.3 does (scverse/scanpy#4208; scanpy 1.11 used the new cells' own mean). Sparse
    data stay sparse: ``X @ PCs - mean @ PCs``.
    """
    if "pca" not in ref.uns or "PCs" not in ref.varm:
        msg = "adata_ref has no uns['pca'] / varm['PCs']: run pca on the reference first (or drop 'pca' from embedding_method)"
        raise MissingKeyError(msg)
    pca_params = ref.uns["pca"].get("params", {})
    x = get_matrix(adata, layer=pca_params.get("layer"))
    basis = np.asarray(ref.varm["PCs"], dtype=np.float64)[:, :n_pcs]
    scores = np.asarray(x @ basis) if sparse.issparse(x) else np.asarray(x, dtype=np.float64) @ basis
    if pca_params.get("zero_center", True):
        ref_x = get_matrix(ref, layer=pca_params.get("layer"))
        mean = np.asarray(ref_x.mean(axis=0, dtype=np.float64)).ravel()
        scores = scores - mean @ basis
    dtype = ref.obsm["X_pca"].dtype if "X_pca" in ref.obsm else np.float32
    return scores.astype(dtype, copy=False)


def _majority_labels(codes: np.ndarray, n_categories: int) -> np.ndarray:
    """The most frequent code per row (ties → the first category, as pandas' ``mode()[0]``); -1 if none."""
    n_rows, _ = codes.shape
    counts = np.zeros((n_rows, n_categories + 1), dtype=np.int64)
    rows = np.repeat(np.arange(n_rows), codes.shape[1])
    np.add.at(counts, (rows, codes.ravel() + 1), 1)  # column 0 counts missing labels
    best = counts[:, 1:].argmax(axis=1)
    best[counts[:, 1:].max(axis=1) == 0] = -1
    return best


def _umap_transform(
    ref: AnnData, rep: Any, query_rep: Any, index: _ExactIndex, params: dict[str, Any]
) -> np.ndarray:
    """umap-learn's ``UMAP.transform`` on a UMAP object rebuilt from the reference (like scanpy)."""
    if "X_umap" not in ref.obsm or "umap" not in ref.uns:
        msg = "adata_ref has no obsm['X_umap'] / uns['umap']: run umap on the reference first (or drop 'umap' from embedding_method)"
        raise MissingKeyError(msg)
    with warnings.catch_warnings():  # umap-learn warns on import that tensorflow is absent
        warnings.filterwarnings("ignore", message=r"Tensorflow not installed", category=ImportWarning)
        from umap import UMAP

    umap_params = ref.uns["umap"]["params"]
    model = UMAP(metric=params.get("metric", "euclidean"), random_state=umap_params.get("random_state", 0))
    model._initial_alpha = model.learning_rate
    model._raw_data = rep
    model.knn_dists = None
    with warnings.catch_warnings():  # "n_jobs overridden to 1 by setting random_state": as intended
        warnings.filterwarnings("ignore", message=r"n_jobs value", category=UserWarning)
        model._validate_parameters()
    model.embedding_ = np.asarray(ref.obsm["X_umap"])
    model._sparse_data = sparse.issparse(rep)
    model._small_data = rep.shape[0] < SMALL_REFERENCE  # umap-learn's all-pairs distances, as scanpy
    model._metric_kwds = params.get("metric_kwds", {})
    model._n_neighbors = model.n_neighbors = params["n_neighbors"]
    model._knn_search_index = index
    model._a, model._b = umap_params["a"], umap_params["b"]
    model._input_hash = None
    return model.transform(query_rep)


@validated(IngestParams)
def ingest(
    adata: AnnData,
    adata_ref: AnnData,
    *,
    obs: str | Sequence[str] | None = None,
    embedding_method: str | Sequence[str] = ("umap", "pca"),
    labeling_method: str | Sequence[str] = "knn",
    neighbors_key: str | None = None,
    inplace: bool = True,
    **kwargs: Any,
) -> AnnData | None:
    """Map labels and embeddings of a reference onto new cells.

    The new cells are projected onto the reference's principal components (centred on
    the reference's gene means, as in scanpy ≥ 1.12.3), placed among the reference cells by exact kNN search in the representation the reference's
    ``neighbors`` used, given the majority label of their neighbours, and embedded with
    umap-learn's ``transform`` on the reference's UMAP (scanpy's algorithm; scanpy
    searches approximately with pynndescent).

    Parameters
    ----------
    adata
        New cells, with the same genes (``var_names``) as the reference.
    adata_ref
        Reference cells with ``neighbors`` (and ``pca`` / ``umap`` for those embeddings).
    obs
        Reference ``obs`` column(s) to transfer.
    embedding_method
        ``"umap"`` and/or ``"pca"``.
    labeling_method
        ``"knn"``, one for all columns or one per column.
    neighbors_key
        ``uns`` key of the reference's ``neighbors`` result.
    inplace
        Write to ``adata``; False returns a changed copy.
    **kwargs
        ``k``: neighbours per new cell for the label vote (default: the reference's
        ``n_neighbors``). scanpy's ``queue_size``, ``epsilon`` and ``random_state`` tune
        its approximate search and are accepted but unused.

    Returns
    -------
    None, or the copy if ``inplace=False``. Writes:

    ``adata.obs[<column>]``
        Transferred labels (categorical, the reference's categories), per ``obs`` column.
    ``adata.obsm['X_pca']``
        Scores on the reference's components (``"pca"``).
    ``adata.obsm['X_umap']``
        Position in the reference's UMAP (``"umap"``).
    ``adata.obsm['rep']``
        The representation the new cells were matched in.
    """
    unknown = sorted(set(kwargs) - set(NEIGHBOR_OPTIONS))
    if unknown:
        msg = f"ingest: unknown option(s) {unknown} (allowed: {', '.join(NEIGHBOR_OPTIONS)})"
        raise ParamError(msg)
    columns = [obs] if isinstance(obs, str) else list(obs or [])
    methods = [embedding_method] if isinstance(embedding_method, str) else list(embedding_method)
    labelings = [labeling_method] if isinstance(labeling_method, str) else list(labeling_method)
    if len(labelings) == 1:
        labelings = labelings * len(columns)
    if len(labelings) != len(columns):
        msg = f"labeling_method has {len(labelings)} entries for {len(columns)} obs columns; give one or one per column"
        raise ParamError(msg)

    key = "neighbors" if neighbors_key is None else neighbors_key
    if key not in adata_ref.uns:
        msg = f"adata_ref.uns[{key!r}] not found{close_matches(key, adata_ref.uns.keys())}: run neighbors on the reference first"
        raise MissingKeyError(msg)
    if not adata_ref.var_names.str.upper().equals(adata.var_names.str.upper()):
        msg = f"the genes of adata ({adata.n_vars}) differ from those of adata_ref ({adata_ref.n_vars}); subset both to the same var_names in the same order"
        raise InputDataError(msg)
    for column in columns:
        get_obs_column(adata_ref, column, what="obs column of adata_ref")

    params = adata_ref.uns[key]["params"]
    use_rep, n_pcs, rep = _reference_representation(adata_ref, params)
    scores = _project_pca(adata, adata_ref, None) if use_rep == "X_pca" or "pca" in methods else None
    if use_rep == "X_pca":
        query_rep: Any = scores[:, :n_pcs]
    elif use_rep == "X":
        query_rep = adata.X
    else:
        if use_rep not in adata.obsm:
            msg = f"the reference's neighbors used obsm[{use_rep!r}]; adata needs the same representation"
            raise MissingKeyError(msg)
        query_rep = adata.obsm[use_rep]

    index = _ExactIndex(rep, params.get("metric", "euclidean"), dict(params.get("metric_kwds", {})))
    obsm: dict[str, np.ndarray] = {"rep": query_rep}
    for method in methods:
        if method == "umap":
            obsm["X_umap"] = _umap_transform(adata_ref, rep, query_rep, index, params)
        else:
            obsm["X_pca"] = scores
    labels: dict[str, pd.Categorical] = {}
    if columns:
        k = kwargs.get("k") or params["n_neighbors"]
        if not 1 <= k <= adata_ref.n_obs:
            msg = f"k={k}: must be between 1 and the {adata_ref.n_obs} reference cells"
            raise ParamError(msg)
        indices, _ = index.query(query_rep, k)
        for column in columns:
            ref_labels = adata_ref.obs[column].astype("category").array
            best = _majority_labels(ref_labels.codes[indices], len(ref_labels.categories))
            labels[column] = pd.Categorical.from_codes(best, categories=ref_labels.categories)

    target = adata if inplace else adata.copy()
    for name, value in obsm.items():
        target.obsm[name] = value
    for column, value in labels.items():
        target.obs[column] = value
    logger.info("ingest: mapped %s and labels %s", sorted(obsm), columns)
    return None if inplace else target
