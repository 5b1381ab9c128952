"""The kNN graph of the cells: ``obsp['distances']``, ``obsp['connectivities']``, ``uns['neighbors']``."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import AfterValidator, Field, WithJsonSchema, model_validator

from scsnake._matrix import check_finite, close_matches, is_sparse, view_to_actual
from scsnake._params import StageParams, validated
from scsnake.errors import AdjustedParamWarning, InputDataError, MissingKeyError, ParamError, ScsnakeWarning

from ._connectivities import (
    gauss_connectivities,
    gauss_connectivities_dense,
    jaccard_connectivities,
    umap_connectivities,
)
from ._knn import (
    EXACT_MAX_OBS,
    knn_dense_distances,
    knn_exact,
    knn_from_transformer,
    knn_pynndescent,
    knn_to_csr,
)
from ._precomputed import gauss_from_distances, knn_from_distances, prepare_distances

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["NeighborsParams", "choose_representation", "neighbors"]

logger = logging.getLogger(__name__)

#: Below this many genes, ``use_rep=None`` uses ``X`` itself (scanpy's ``settings.N_PCS``).
N_PCS = 50

Metric = Literal[
    "cityblock", "cosine", "euclidean", "l1", "l2", "manhattan", "braycurtis", "canberra",
    "chebyshev", "correlation", "dice", "hamming", "jaccard", "kulsinski", "mahalanobis",
    "minkowski", "rogerstanimoto", "russellrao", "seuclidean", "sokalmichener", "sokalsneath",
    "sqeuclidean", "yule",
]  # fmt: skip
KNOWN_TRANSFORMERS = ("sklearn", "exact", "pynndescent")


def _check_transformer(value: Any) -> Any:
    if value is None:
        return value
    if isinstance(value, str):
        if value not in KNOWN_TRANSFORMERS:
            msg = f"must be None, one of {KNOWN_TRANSFORMERS} or a KNeighborsTransformer-like instance"
            raise ValueError(msg)
        return value
    if not (hasattr(value, "fit_transform") and hasattr(value, "get_params")):
        msg = "an instance must have fit_transform() and get_params() like sklearn's KNeighborsTransformer"
        raise ValueError(msg)
    return value


def _check_distances(value: Any) -> Any:
    if value is None or is_sparse(value):
        return value
    if not hasattr(value, "shape") or len(value.shape) != 2:
        msg = "must be None or a square (n_obs × n_obs) array or sparse matrix of distances"
        raise ValueError(msg)
    return value


#: Arguments ``distances`` makes pointless, with their defaults (scanpy warns when one is set).
_IGNORED_WITH_DISTANCES = {
    "n_pcs": None,
    "use_rep": None,
    "knn": True,
    "metric_kwds": None,
    "random_state": 0,
}


class NeighborsParams(StageParams):
    """Parameters of :func:`neighbors`."""

    n_neighbors: Annotated[int, Field(ge=2)] = 15
    """Neighbours per cell, the cell itself included (ignored when ``transformer`` is an instance)."""
    n_pcs: Annotated[int, Field(ge=0)] | None = None
    """Use the first ``n_pcs`` columns of the representation (0 with ``use_rep=None`` means ``X``)."""
    distances: Annotated[Any, AfterValidator(_check_distances), WithJsonSchema({"type": "null"})] = None
    """A precomputed n_obs × n_obs distance matrix (dense or sparse) instead of a kNN search (scanpy 1.12)."""
    use_rep: str | None = None
    """``obsm`` key or ``"X"``; None takes ``X_pca`` (or ``X`` itself when it has ≤ 50 genes)."""
    knn: bool = True
    """Keep only the kNN edges; False (``method="gauss"`` only) gives dense all-pairs matrices."""
    method: Literal["umap", "gauss", "jaccard"] = "umap"
    """Connectivities: UMAP's fuzzy simplicial set, a Gaussian kernel with adaptive width or the Jaccard index of the neighbourhoods."""
    transformer: Annotated[Any, AfterValidator(_check_transformer)] = None
    """kNN search: None (exact up to 150,000 cells, else pynndescent), ``"sklearn"``/``"exact"``, ``"pynndescent"``, or an instance."""
    metric: Metric | Callable[..., float] | None = None
    """Distance metric; None is ``"euclidean"`` (with ``distances``: only recorded)."""
    metric_kwds: Mapping[str, Any] | None = None
    """Options of the metric."""
    random_state: int | None = 0
    """Seed of the approximate search (pynndescent)."""
    key_added: str | None = None
    """Store under ``uns[key_added]``, ``obsp[key_added + '_distances' | '_connectivities']``."""

    @model_validator(mode="after")
    def _knn_only_with_gauss(self) -> NeighborsParams:
        if (
            self.distances is None
            and not self.knn
            and (self.method != "gauss" or self.transformer is not None)
        ):
            msg = f"knn=False needs method='gauss' and transformer=None (got method={self.method!r}, transformer={self.transformer!r})"
            raise ValueError(msg)
        if self.distances is not None and callable(self.metric):
            msg = "metric must be a name (or None) when distances are given: it is only recorded"
            raise ValueError(msg)
        return self


def choose_representation(adata: AnnData, *, use_rep: str | None = None, n_pcs: int | None = None) -> Any:
    """The matrix the kNN search runs on, chosen like scanpy (never copied).

    ``use_rep=None``: ``X`` if it has ≤ 50 genes, else ``obsm['X_pca']`` (first
    ``n_pcs`` columns). An ``obsm`` key gives its first ``n_pcs`` columns; ``"X"`` gives
    ``X`` (``n_pcs`` is ignored, as in scanpy).
    """
    if use_rep is None and n_pcs == 0:
        use_rep = "X"
    if use_rep is None:
        if adata.n_vars <= N_PCS:
            logger.info("using X directly (%d genes)", adata.n_vars)
            return _matrix_x(adata)
        if "X_pca" not in adata.obsm:
            msg = (
                f"obsm['X_pca'] not found and X has {adata.n_vars} genes (> {N_PCS}): "
                "run pca first or pass use_rep='X'"
            )
            raise MissingKeyError(msg)
        use_rep = "X_pca"
    if use_rep == "X" and "X" not in adata.obsm:
        return _matrix_x(adata)
    if use_rep not in adata.obsm:
        msg = f"use_rep={use_rep!r} not found in adata.obsm{close_matches(use_rep, adata.obsm.keys())}; compute it first or pass use_rep='X'"
        raise MissingKeyError(msg)
    rep = adata.obsm[use_rep]
    if n_pcs is not None:
        if n_pcs > rep.shape[1]:
            msg = f"n_pcs={n_pcs} but obsm[{use_rep!r}] has only {rep.shape[1]} columns; lower n_pcs or recompute it with more"
            raise ParamError(msg)
        rep = rep[:, :n_pcs]
    logger.info("using obsm[%r] with %d dimensions", use_rep, rep.shape[1])
    return rep


def _matrix_x(adata: AnnData) -> Any:
    if adata.X is None:
        msg = "adata.X is empty (None); pass use_rep= an obsm key"
        raise MissingKeyError(msg)
    return adata.X


def _prepare(x: Any) -> Any:
    """The representation as an array the searches accept (CSR for sparse); checked for NaN."""
    if is_sparse(x):
        x = x.tocsr() if x.format != "csr" else x
    elif not isinstance(x, np.ndarray):
        x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] == 0:
        msg = f"neighbors: the representation has shape {x.shape}, no dimensions to measure distances in (no genes or components)"
        raise InputDataError(msg)
    check_finite(x, where="the representation")
    return x


def _transformer_n_neighbors(transformer: Any) -> int:
    """The ``n_neighbors`` of a transformer instance (it replaces the argument, as in scanpy)."""
    value = transformer.get_params().get("n_neighbors")
    if not isinstance(value, int | np.integer) or value < 2:
        msg = f"transformer {type(transformer).__name__} must have an integer n_neighbors ≥ 2 in get_params(), got {value!r}"
        raise ParamError(msg)
    return int(value)


def _search(
    x: Any,
    n_neighbors: int,
    transformer: Any,
    *,
    metric: Any,
    metric_kwds: Mapping[str, Any],
    random_state: int | None,
) -> tuple[np.ndarray, np.ndarray]:
    if transformer is not None and not isinstance(transformer, str):
        return knn_from_transformer(transformer, x, n_neighbors)
    if transformer in ("sklearn", "exact") or (transformer is None and x.shape[0] <= EXACT_MAX_OBS):
        return knn_exact(x, n_neighbors, metric=metric, metric_kwds=metric_kwds)
    return knn_pynndescent(
        x,
        n_neighbors,
        metric=metric,
        metric_kwds=metric_kwds,
        random_state=random_state,
        umap_settings=transformer is None,
    )


@validated(NeighborsParams)
def neighbors(
    adata: AnnData,
    n_neighbors: int = 15,
    n_pcs: int | None = None,
    *,
    distances: Any = None,
    use_rep: str | None = None,
    knn: bool = True,
    method: Literal["umap", "gauss", "jaccard"] = "umap",
    transformer: Any = None,
    metric: str | Callable[..., float] | None = None,
    metric_kwds: Mapping[str, Any] | None = None,
    random_state: int | None = 0,
    key_added: str | None = None,
    copy: bool = False,
) -> AnnData | None:
    """Compute the k-nearest-neighbour graph of the cells and its connectivities.

    The search is exact (brute force, blocked) for up to 150,000 cells and approximate
    (pynndescent with umap's settings, 2× oversampled) above, unless ``transformer``
    says otherwise. Connectivities are UMAP's fuzzy simplicial set (``method="umap"``,
    identical to umap-learn's), scanpy's Gaussian kernel (``"gauss"``) or the Jaccard
    index of the neighbourhoods (``"jaccard"``, PhenoGraph's weights as scanpy 1.12
    computes them). Results equal scanpy's, except that a cell is never its own
    neighbour: where scanpy keeps a duplicate cell as its own neighbour (a self-loop),
    its copies are listed instead.

    Parameters
    ----------
    adata
        Cells × genes, with ``obsm['X_pca']`` (or see ``use_rep``).
    n_neighbors
        Neighbours per cell, the cell itself included. More than ``n_obs`` is
        lowered to ``1 + n_obs // 2`` with an :class:`~scsnake.errors.AdjustedParamWarning`.
    n_pcs
        Use this many leading columns of the representation.
    distances
        A precomputed n_obs × n_obs distance matrix (dense or sparse; scanpy 1.12): no
        search; it is stored (diagonal zeroed, sparse as CSR) as ``obsp['distances']``
        and the connectivities are computed from it as scanpy does. ``n_pcs``,
        ``use_rep``, ``knn``, ``metric_kwds`` and ``random_state`` are then ignored
        (with a :class:`~scsnake.errors.ScsnakeWarning` when set) and ``transformer``
        too; ``metric`` is only recorded.
    use_rep
        ``obsm`` key or ``"X"``. None: ``X_pca``, or ``X`` when there are ≤ 50 genes.
    knn
        False (only with ``method="gauss"``): dense all-pairs weights, ``O(n_obs²)`` memory.
    method
        ``"umap"``, ``"gauss"`` or ``"jaccard"``: each kNN edge ``(i, j)`` weighted by
        ``|N(i) ∩ N(j)| / |N(i) ∪ N(j)|`` (``N``: the ``n_neighbors - 1`` neighbours
        without the cell itself), edges without shared neighbours dropped, made
        symmetric as ``(J + Jᵀ) / 2``.
    transformer
        None (automatic), ``"sklearn"`` / ``"exact"`` (brute force), ``"pynndescent"``
        (pynndescent's defaults) or a :class:`~sklearn.neighbors.KNeighborsTransformer`-like
        instance (its own ``n_neighbors`` and metric are used).
    metric, metric_kwds
        Distance metric (None: ``"euclidean"``) and its options.
    random_state
        Seed of pynndescent.
    key_added
        Store under ``uns[key_added]`` and ``obsp[f"{key_added}_distances"]`` /
        ``obsp[f"{key_added}_connectivities"]`` instead of the default keys.
    copy
        Return a changed copy instead of writing to ``adata``.

    Returns
    -------
    None, or the copy if ``copy=True``. Writes:

    ``adata.obsp['distances']`` (or ``<key_added>_distances``)
        CSR; each row holds the distances to the ``n_neighbors - 1`` other neighbours.
    ``adata.obsp['connectivities']`` (or ``<key_added>_connectivities``)
        Symmetric CSR of edge weights.
    ``adata.uns['neighbors']`` (or ``uns[key_added]``)
        ``connectivities_key``, ``distances_key`` and ``params``
        (``n_neighbors``, ``method``, ``random_state``, ``metric`` and, if given,
        ``metric_kwds``, ``use_rep``, ``n_pcs``; with ``distances`` as scanpy records
        them: ``random_state`` 0, ``metric`` as given).

    Examples
    --------
    >>> import numpy as np, anndata as ad, scsnake as ss
    >>> adata = ad.AnnData(np.random.default_rng(0).normal(size=(40, 5)).astype("float32"))
    >>> ss.pp.neighbors(adata, n_neighbors=5)
    >>> adata.obsp["distances"].getnnz(axis=1)[:3]
    array([4, 4, 4], dtype=int32)
    """
    adata = adata.copy() if copy else adata
    view_to_actual(adata)  # obsp cannot be written to a view
    n_obs = adata.n_obs
    if n_obs < 2:
        msg = f"neighbors needs at least 2 cells, got {n_obs}"
        raise InputDataError(msg)
    if distances is not None:
        given = {
            "n_pcs": n_pcs,
            "use_rep": use_rep,
            "knn": knn,
            "metric_kwds": metric_kwds,
            "random_state": random_state,
        }
        ignored = sorted(k for k, default in _IGNORED_WITH_DISTANCES.items() if _given(given[k], default))
        if ignored:
            msg = f"neighbors: {', '.join(ignored)} ignored when distances are given"
            warnings.warn(msg, ScsnakeWarning, stacklevel=3)
        distance_matrix = prepare_distances(distances, n_obs)
        if n_neighbors > n_obs:
            msg = f"n_neighbors={n_neighbors} is more than the {n_obs} cells of the distance matrix"
            raise ParamError(msg)
        connectivities = _from_distances(distance_matrix, n_neighbors, method)
        _store(
            adata, key_added, distance_matrix, connectivities,
            {"n_neighbors": n_neighbors, "method": method, "random_state": 0, "metric": metric},
            metric_kwds, use_rep, n_pcs,
        )  # fmt: skip
        return adata if copy else None
    metric = "euclidean" if metric is None else metric
    x = _prepare(choose_representation(adata, use_rep=use_rep, n_pcs=n_pcs))
    metric_kwds = dict(metric_kwds or {})
    if transformer is not None and not isinstance(transformer, str):
        n_neighbors = _transformer_n_neighbors(transformer)
    elif n_neighbors > n_obs:
        adjusted = 1 + int(0.5 * n_obs)
        msg = f"n_neighbors={n_neighbors} is more than the {n_obs} cells; using n_neighbors={adjusted}"
        warnings.warn(msg, AdjustedParamWarning, stacklevel=3)
        n_neighbors = adjusted

    if knn:
        indices, dists = _search(
            x, n_neighbors, transformer, metric=metric, metric_kwds=metric_kwds, random_state=random_state
        )
        graph = knn_to_csr(indices, dists)
        if method == "umap":
            connectivities = umap_connectivities(indices, dists, n_obs=n_obs)
        elif method == "jaccard":
            connectivities = jaccard_connectivities(indices, n_obs=n_obs)
        else:
            connectivities = gauss_connectivities(indices, dists, n_obs=n_obs)
    else:
        if n_obs >= 10_000:
            logger.warning("knn=False with %d cells needs dense %d × %d matrices", n_obs, n_obs, n_obs)
        graph = knn_dense_distances(x, metric=metric, metric_kwds=metric_kwds)
        connectivities = gauss_connectivities_dense(graph, n_neighbors)

    params = {"n_neighbors": n_neighbors, "method": method, "random_state": random_state, "metric": metric}
    _store(adata, key_added, graph, connectivities, params, metric_kwds, use_rep, n_pcs)
    return adata if copy else None


def _given(value: Any, default: Any) -> bool:
    """A value other than the default (an empty ``metric_kwds`` counts as not given)."""
    if default is None:
        return value is not None and not (isinstance(value, Mapping) and not value)
    return value != default


def _from_distances(d: Any, n_neighbors: int, method: str) -> Any:
    """Connectivities from a precomputed distance matrix, as scanpy 1.12 derives them."""
    if method == "gauss":
        return gauss_from_distances(d, n_neighbors)
    indices, dists = knn_from_distances(d, n_neighbors)
    if method == "jaccard":
        return jaccard_connectivities(indices, n_obs=d.shape[0])
    return umap_connectivities(indices, dists, n_obs=d.shape[0])


def _store(
    adata: AnnData,
    key_added: str | None,
    distances: Any,
    connectivities: Any,
    params: dict[str, Any],
    metric_kwds: Mapping[str, Any] | None,
    use_rep: str | None,
    n_pcs: int | None,
) -> None:
    """obsp and uns under scanpy's keys (or ``key_added``), with scanpy's ``params``."""
    if key_added is None:
        key_added, conns_key, dists_key = "neighbors", "connectivities", "distances"
    else:
        conns_key, dists_key = f"{key_added}_connectivities", f"{key_added}_distances"
    if metric_kwds:
        params["metric_kwds"] = dict(metric_kwds)
    if use_rep is not None:
        params["use_rep"] = use_rep
    if n_pcs is not None:
        params["n_pcs"] = n_pcs
    adata.uns[key_added] = {"connectivities_key": conns_key, "distances_key": dists_key, "params": params}
    adata.obsp[dists_key] = distances
    adata.obsp[conns_key] = connectivities
    logger.info("added obsp[%r], obsp[%r] and uns[%r]", dists_key, conns_key, key_added)
