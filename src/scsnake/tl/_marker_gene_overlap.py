"""Overlap of each cluster's marker genes with reference marker sets (scanpy's ``tl.marker_gene_overlap``)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from scsnake._matrix import close_matches
from scsnake._params import StageParams, validated
from scsnake.errors import MissingKeyError, ParamError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from anndata import AnnData

__all__ = ["MarkerGeneOverlapParams", "marker_gene_overlap"]

logger = logging.getLogger(__name__)


class MarkerGeneOverlapParams(StageParams):
    """Parameters of :func:`marker_gene_overlap`."""

    reference_markers: dict[str, list[str] | set[str] | tuple[str, ...]]
    """Reference cell type → its marker genes (``var_names``)."""
    key: str = "rank_genes_groups"
    """``uns`` key of the ``rank_genes_groups`` result."""
    method: Literal["overlap_count", "overlap_coef", "jaccard"] = "overlap_count"
    """Intersection size, overlap coefficient or Jaccard index."""
    normalize: Literal["reference", "data"] | None = None
    """With ``overlap_count``: divide by the reference set's size or the cluster's marker count."""
    top_n_markers: int | None = None
    """Markers per cluster (values below 1 become 1; default 100 unless ``adj_pval_threshold``)."""
    adj_pval_threshold: float | None = None
    """Markers per cluster: those with an adjusted p-value below this (clipped to [0, 1])."""
    key_added: str = Field("marker_gene_overlap", min_length=1)
    """``uns`` key of the result with ``inplace=True``."""


def _overlaps(reference: Mapping[str, set[str]], data: Mapping[str, set[str]], method: str) -> np.ndarray:
    out = np.zeros((len(reference), len(data)))
    for i, ref in enumerate(reference.values()):
        for j, found in enumerate(data.values()):
            shared = len(found & ref)
            if method == "overlap_count":
                out[i, j] = shared
            elif method == "overlap_coef":
                out[i, j] = shared / max(min(len(found), len(ref)), 1)
            else:
                out[i, j] = shared / len(found | ref)
    return out


def _data_markers(
    result: Mapping[str, Any], top_n_markers: int | None, threshold: float | None
) -> dict[str, set[str]]:
    names = result["names"]
    markers: dict[str, set[str]] = {}
    for group in names.dtype.names:
        if top_n_markers is not None:
            n_genes = min(top_n_markers, names.shape[0])
        elif threshold is not None:
            n_genes = int((result["pvals_adj"][group] < threshold).sum())
            if n_genes == 0:
                logger.warning("no marker genes of cluster %r pass adj_pval_threshold=%g", group, threshold)
        else:
            n_genes = 100
        markers[group] = set(names[group][:n_genes])
    return markers


@validated(MarkerGeneOverlapParams)
def marker_gene_overlap(
    adata: AnnData,
    reference_markers: Mapping[str, Iterable[str]],
    *,
    key: str = "rank_genes_groups",
    method: Literal["overlap_count", "overlap_coef", "jaccard"] = "overlap_count",
    normalize: Literal["reference", "data"] | None = None,
    top_n_markers: int | None = None,
    adj_pval_threshold: float | None = None,
    key_added: str = "marker_gene_overlap",
    inplace: bool = False,
) -> pd.DataFrame | None:
    """Score each cluster's marker genes against reference marker sets, as scanpy's.

    Parameters
    ----------
    adata
        An AnnData with a ``rank_genes_groups`` result.
    reference_markers
        Reference cell type → marker genes.
    key
        ``uns`` key of the ``rank_genes_groups`` result.
    method
        ``overlap_count`` (shared genes), ``overlap_coef`` (shared / smaller set) or
        ``jaccard`` (shared / union).
    normalize
        With ``overlap_count``: ``reference`` divides rows by the reference set sizes,
        ``data`` columns by the clusters' marker counts.
    top_n_markers
        Top markers per cluster (default 100, or those under ``adj_pval_threshold``).
    adj_pval_threshold
        Markers with an adjusted p-value below this (ignored when ``top_n_markers`` is set).
    key_added
        ``uns`` key of the result when ``inplace``.
    inplace
        Store the table in ``uns[key_added]`` (scanpy raises here) instead of returning it.

    Returns
    -------
    Reference cell types × clusters scores as a DataFrame, or with ``inplace`` None and
    ``uns[key_added]`` set to it.
    """
    if key not in adata.uns:
        msg = f"uns[{key!r}] not found{close_matches(key, adata.uns.keys())}: run rank_genes_groups first"
        raise MissingKeyError(msg)
    if normalize is not None and method != "overlap_count":
        msg = f"normalize={normalize!r} applies to method='overlap_count' only (got method={method!r})"
        raise ParamError(msg)
    result = adata.uns[key]
    if adj_pval_threshold is not None:
        if "pvals_adj" not in result:
            msg = f"adj_pval_threshold needs uns[{key!r}]['pvals_adj']; run rank_genes_groups with a test"
            raise MissingKeyError(msg)
        adj_pval_threshold = min(max(adj_pval_threshold, 0.0), 1.0)
    if top_n_markers is not None:
        top_n_markers = max(top_n_markers, 1)
    reference = {name: set(genes) for name, genes in reference_markers.items()}
    data = _data_markers(result, top_n_markers, adj_pval_threshold)
    scores = _overlaps(reference, data, method)
    if normalize == "reference":
        sizes = np.array([len(genes) for genes in reference.values()], dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            scores = np.nan_to_num(scores / sizes[:, np.newaxis])
    elif normalize == "data":
        sizes = np.array([len(genes) for genes in data.values()], dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            scores = np.nan_to_num(scores / sizes)
    table = pd.DataFrame(scores, index=list(reference), columns=list(data))
    if not inplace:
        return table
    adata.uns[key_added] = table
    return None
