"""Annotate cell types with a CellTypist model (``celltypist.annotate``).

The model is a ``.pkl`` file (read from the given path only: CellTypist's own models are
never downloaded), a model trained first from a labelled reference file, or a celltypist
``Model`` in memory. celltypist gets a light AnnData with the log-normalised matrix, so the
caller's object is changed only by the results written below.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import anndata as ad
import numpy as np
import pandas as pd
from pydantic import Discriminator, Field, PlainValidator, Tag
from pydantic.json_schema import SkipJsonSchema

from scsnake._matrix import get_obs_column, view_to_actual
from scsnake._params import StageParams, validated
from scsnake.errors import DataWarning, InputDataError

from ._celltypist_data import Expression, expression, file_sha256, import_celltypist, n_cells_off_target
from ._celltypist_train import CelltypistTrainParams, celltypist_train

if TYPE_CHECKING:
    from types import ModuleType

__all__ = ["CelltypistAnnotateParams", "CelltypistReference", "celltypist_annotate"]

logger = logging.getLogger(__name__)

#: celltypist performs no majority voting on this many cells or fewer.
_MIN_CELLS_VOTING = 50


class CelltypistReference(CelltypistTrainParams):
    """A model trained from a labelled reference file (:func:`celltypist_train`'s parameters)."""

    reference: Path
    """The labelled reference: .h5ad or .zarr file (read with ``ss.read``)."""


def _is_model(value: Any) -> bool:
    return all(hasattr(value, name) for name in ("classifier", "scaler", "description"))


def _model_object(value: Any) -> Any:
    if not _is_model(value):
        msg = "expected the path of a CellTypist .pkl model, a reference ({reference: …, labels: …}) or a celltypist Model"
        raise ValueError(msg)  # pydantic turns a ValueError into a validation error
    return value


def _model_kind(value: Any) -> str | None:
    """The union member a ``model`` value is validated as (None: none fits; one error says so)."""
    if isinstance(value, (str, PathLike)):
        return "Path"
    if isinstance(value, (Mapping, CelltypistReference)):
        return "CelltypistReference"
    return "Model" if _is_model(value) else None


ModelSpec = Annotated[
    Annotated[Path, Tag("Path")]
    | Annotated[CelltypistReference, Tag("CelltypistReference")]
    | SkipJsonSchema[Annotated[Any, PlainValidator(_model_object), Tag("Model")]],
    Discriminator(
        _model_kind,
        custom_error_type="model_kind",
        custom_error_message="expected the path of a CellTypist .pkl model, a reference ({reference: …, labels: …}) or a celltypist Model",
    ),
]


class CelltypistAnnotateParams(StageParams):
    """Parameters of :func:`celltypist_annotate` (``celltypist.annotate``'s names)."""

    model: ModelSpec
    """Path of a .pkl model, or ``{reference: <.h5ad>, labels: <obs column>, …}`` to train one first."""
    mode: Literal["best match", "prob match"] = "best match"
    """``best match``: the most likely label; ``prob match``: every label above ``p_thres`` (or ``Unassigned``)."""
    p_thres: Annotated[float, Field(gt=0, lt=1)] = 0.5
    """Probability threshold of ``prob match``."""
    majority_voting: bool = False
    """Relabel each over-cluster with its most frequent predicted label."""
    over_clustering: str | None = None
    """obs column of the over-clusters; None: celltypist's own Leiden over-clustering."""
    min_prop: Annotated[float, Field(ge=0, le=1)] = 0
    """Minimum share of the dominant label for a cluster to take it (else ``Heterogeneous``)."""
    use_raw: bool | None = None
    """Predict from ``raw.X``; None: ``X`` if it holds log1p-normalised values, else ``raw.X``."""
    layer: str | None = None
    """Predict from this layer instead of ``X``."""
    key_added: str = "celltypist"
    """obs column of the predicted labels; prefix of the other results."""


def _compact(value: Any) -> Any:
    """Drop None (not storable in h5ad) from nested dicts; numbers and text as they are."""
    if isinstance(value, Mapping):
        return {str(k): _compact(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_compact(v) for v in value]
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    return str(value)


def _resolve_model(model: Any, celltypist: ModuleType) -> tuple[Any, dict[str, Any]]:
    """The celltypist ``Model`` and where it came from."""
    if _is_model(model):
        return model, {"source": "object"}
    if isinstance(model, (Mapping, CelltypistReference)):
        spec = model if isinstance(model, CelltypistReference) else CelltypistReference(**model)
        path = spec.reference.expanduser()
        if not path.exists():
            msg = (
                f"celltypist_annotate: reference {str(spec.reference)!r} not found (relative to {Path.cwd()})"
            )
            raise InputDataError(msg)
        from scsnake.io import read

        reference = read(path)
        trained = celltypist_train(reference, **spec.model_dump(exclude={"reference"}))
        train = spec.model_dump(mode="json", exclude={"reference"})
        return trained, {
            "source": "reference",
            "reference": str(path.resolve()),
            "sha256": file_sha256(path),
            "train": train,
        }
    path = Path(model).expanduser()
    if not path.is_file():
        msg = (
            f"celltypist_annotate: model file {str(model)!r} not found (relative to {Path.cwd()}); give the path "
            "of a .pkl model, e.g. one saved with ss.external.tl.celltypist_train(...).write(path). scsnake never "
            "downloads CellTypist's models: fetch one once with celltypist.models.download_models(model='Immune_All_Low.pkl') "
            "and pass celltypist.models.get_model_path('Immune_All_Low.pkl')"
        )
        raise InputDataError(msg)
    try:  # an absolute path: celltypist looks names without '/' up in its (downloaded) model list
        loaded = celltypist.models.Model.load(path.resolve().as_posix())
    except Exception as err:  # celltypist raises a bare Exception for a file that is not a model
        msg = f"celltypist_annotate: cannot read {str(path)!r} as a CellTypist model: {err}"
        raise InputDataError(msg) from err
    return loaded, {"source": "file", "path": str(path.resolve()), "sha256": file_sha256(path)}


def _query(adata: ad.AnnData, values: Expression, *, own_clusters: bool) -> ad.AnnData:
    """A light AnnData for celltypist: the matrix, and the embedding/graph its over-clustering reuses."""
    genes = values.genes if values.genes.is_unique else ad.utils.make_index_unique(values.genes.copy())
    query = ad.AnnData(
        X=values.matrix, obs=pd.DataFrame(index=adata.obs_names.copy()), var=pd.DataFrame(index=genes)
    )
    if own_clusters:  # celltypist uses a graph / PCA it finds in the object before computing its own
        if "X_pca" in adata.obsm:
            query.obsm["X_pca"] = adata.obsm["X_pca"]
        if "connectivities" in adata.obsp and "neighbors" in adata.uns:
            query.obsp["connectivities"] = adata.obsp["connectivities"]
            if "distances" in adata.obsp:
                query.obsp["distances"] = adata.obsp["distances"]
            query.uns["neighbors"] = dict(adata.uns["neighbors"])
    return query


@validated(CelltypistAnnotateParams)
def celltypist_annotate(
    adata: ad.AnnData,
    model: Any,
    *,
    mode: str = "best match",
    p_thres: float = 0.5,
    majority_voting: bool = False,
    over_clustering: str | None = None,
    min_prop: float = 0,
    use_raw: bool | None = None,
    layer: str | None = None,
    key_added: str = "celltypist",
    copy: bool = False,
) -> ad.AnnData | None:
    """Predict cell types with a CellTypist model (``celltypist.annotate``).

    Each cell's log1p-normalised expression (10,000 counts per cell, all genes) is scaled
    with the model's gene means and deviations and scored by its one-vs-rest logistic
    regressions; the probabilities are the scores' sigmoids. Genes are matched by name
    (gene symbols). With ``majority_voting``, every over-cluster takes its most frequent
    label. Needs ``pip install 'scsnake[celltypist]'``.

    Parameters
    ----------
    adata
        Cells to annotate, gene symbols as ``var_names``.
    model
        Path of a ``.pkl`` model (never downloaded), a dict ``{"reference": <.h5ad/.zarr>,
        "labels": <obs column>, …}`` (:class:`CelltypistReference`: train one first with
        :func:`celltypist_train`'s parameters), or a celltypist ``Model``. Pickled models run
        code when loaded: use files you trust.
    mode, p_thres
        ``best match`` (the most likely label) or ``prob match`` (all labels with probability
        above ``p_thres``, joined by ``|``; ``Unassigned`` if none).
    majority_voting, over_clustering, min_prop
        Relabel each cluster of ``obs[over_clustering]`` (None: celltypist's Leiden
        over-clustering, via scanpy) with its dominant label, if its share is at least
        ``min_prop`` (else ``Heterogeneous``). Needs more than 50 cells.
    use_raw, layer
        Where the log-normalised values are; by default ``X``, or ``raw.X`` if ``X`` cannot
        hold them (scaled data).
    key_added
        obs column of the labels and prefix of the other results.
    copy
        Return an annotated copy instead of writing to ``adata``.

    Returns
    -------
    None, or the copy if ``copy=True``. Writes:

    ``adata.obs[key_added]``
        Predicted label of each cell (categorical).
    ``adata.obs[f"{key_added}_conf_score"]``
        Probability of the predicted label (celltypist's ``conf_score``).
    ``adata.obs[f"{key_added}_majority_voting"]``, ``adata.obs[f"{key_added}_over_clustering"]``
        With ``majority_voting``: the cluster's label and the cluster (categorical).
    ``adata.obsm[f"{key_added}_probabilities"]``
        Cells × cell types: the probability of each label (columns: ``uns[key_added]['cell_types']``).
    ``adata.uns[key_added]``
        ``model`` (where it came from: path and SHA-256, or the reference and training
        parameters), ``description`` (the model's), ``cell_types``, ``n_features``,
        ``n_genes_used``, ``matrix``, ``params`` and ``celltypist_version``.

    Examples
    --------
    >>> import scsnake as ss
    >>> adata = ss.datasets.synthetic(n_cells=300, n_genes=200, n_types=3, seed=0)
    >>> ss.pp.normalize_total(adata, target_sum=1e4)
    >>> ss.pp.log1p(adata)
    >>> model = ss.external.tl.celltypist_train(adata[:200], "truth")
    >>> query = adata[200:].copy()
    >>> ss.external.tl.celltypist_annotate(query, model)
    >>> query.obs["celltypist"].cat.categories.tolist(), query.obsm["celltypist_probabilities"].shape
    (['type0', 'type1', 'type2'], (100, 3))
    """
    adata = adata.copy() if copy else adata
    celltypist = import_celltypist("celltypist_annotate")
    values = expression(adata, use_raw=use_raw, layer=layer, step="celltypist_annotate")
    clusters = None
    if majority_voting:
        if adata.n_obs <= _MIN_CELLS_VOTING:
            msg = f"celltypist_annotate: majority_voting needs more than {_MIN_CELLS_VOTING} cells (celltypist's minimum), got {adata.n_obs}; set majority_voting=False"
            raise InputDataError(msg)
        if over_clustering is not None:
            clusters = get_obs_column(adata, over_clustering, what="over_clustering")
            if clusters.isna().any():
                msg = f"celltypist_annotate: {int(clusters.isna().sum())} cell(s) have no cluster in obs[{over_clustering!r}]"
                raise InputDataError(msg)
    n_off, first, total = n_cells_off_target(values.matrix)
    if n_off:
        msg = (
            f"celltypist_annotate: {n_off} of {adata.n_obs} cells of {values.where} do not add up to 10,000 after "
            f"expm1 (cell {adata.obs_names[first]!r}: {total:.6g}); CellTypist expects all genes, log1p-normalised "
            "to 10,000 counts per cell: predictions may be less accurate"
        )
        warnings.warn(msg, DataWarning, stacklevel=3)
    classifier, source = _resolve_model(model, celltypist)
    query = _query(adata, values, own_clusters=majority_voting and clusters is None)
    n_genes = int(np.isin(query.var_names, classifier.features).sum())
    if n_genes == 0:
        msg = (
            f"celltypist_annotate: none of the model's {len(classifier.features)} genes (e.g. "
            f"{', '.join(map(str, classifier.features[:3]))}) is in {values.where}'s genes (e.g. "
            f"{', '.join(map(str, query.var_names[:3]))}); the model expects gene symbols as var_names"
        )
        raise InputDataError(msg)
    logger.info(
        "celltypist_annotate: %d cells, %d of the model's %d genes",
        adata.n_obs,
        n_genes,
        len(classifier.features),
    )
    with warnings.catch_warnings():
        if majority_voting and clusters is None:
            # celltypist's own over-clustering runs scanpy's HVG, scale, PCA, kNN and Leiden on the
            # temporary object; their warnings (a view copied, a sparse matrix densified, future
            # defaults) are about celltypist's code, not the user's data: hidden, as celltypist's
            # import hides them for the whole process
            for category in (UserWarning, FutureWarning, RuntimeWarning):
                warnings.simplefilter("ignore", category)
        result = celltypist.annotate(
            query,
            model=classifier,
            mode=mode,
            p_thres=p_thres,
            majority_voting=majority_voting,
            over_clustering=clusters,
            min_prop=min_prop,
        )
    view_to_actual(adata)
    _store(adata, result, key_added)
    params = {
        "mode": mode,
        "p_thres": p_thres,
        "majority_voting": majority_voting,
        "over_clustering": over_clustering,
        "min_prop": min_prop,
    }
    adata.uns[key_added] = _compact(
        {
            "model": source,
            "description": dict(classifier.description),
            "cell_types": [str(c) for c in classifier.cell_types],
            "n_features": len(classifier.features),
            "n_genes_used": n_genes,
            "matrix": values.where,
            "params": params,
            "celltypist_version": celltypist.__version__,
        }
    )
    logger.info(
        "added obs[%r], obs[%r], obsm[%r] and uns[%r]",
        key_added,
        f"{key_added}_conf_score",
        f"{key_added}_probabilities",
        key_added,
    )
    return adata if copy else None


def _store(adata: ad.AnnData, result: Any, key_added: str) -> None:
    """celltypist's labels, confidence and probabilities under ``key_added``, in the cells' order."""
    labels = result.predicted_labels
    adata.obs[key_added] = pd.Categorical(labels["predicted_labels"].astype(str).to_numpy())
    probabilities = result.probability_matrix
    adata.obs[f"{key_added}_conf_score"] = probabilities.max(axis=1).to_numpy()
    if "majority_voting" in labels.columns:
        adata.obs[f"{key_added}_majority_voting"] = pd.Categorical(
            labels["majority_voting"].astype(str).to_numpy()
        )
        adata.obs[f"{key_added}_over_clustering"] = pd.Categorical(
            labels["over_clustering"].astype(str).to_numpy()
        )
    adata.obsm[f"{key_added}_probabilities"] = np.ascontiguousarray(probabilities.to_numpy(dtype=np.float64))
