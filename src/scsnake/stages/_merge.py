"""The ``merge`` stage: every sample's QC-filtered counts concatenated into one object."""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import pandas as pd
from pydantic import Field

from .._params import StageParams
from ..errors import DataWarning, InputDataError

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["VAR_STATS", "MergeParams", "merge"]

logger = logging.getLogger(__name__)

#: Per-gene statistics of the ``qc`` stage: they differ per sample, so the merge recomputes them.
VAR_STATS = (
    "n_cells_by_counts", "mean_counts", "log1p_mean_counts", "pct_dropout_by_counts",
    "total_counts", "log1p_total_counts", "n_cells",
)  # fmt: skip


class MergeParams(StageParams):
    """The ``merge`` section: analyse all samples together after per-sample QC."""

    enabled: bool = False
    """Merge the samples (at least 2) after ``qc``; everything after runs once, on the merged object."""
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")] = "merged"
    """Name of the merged object: its results are in ``results/<name>/`` (not a sample's name)."""
    batch_key: Annotated[str, Field(min_length=1)] = "sample"
    """``obs`` column holding each cell's sample name (categorical); the default batch of HVG and integration."""


def merge(adatas: list[AnnData], params: MergeParams) -> AnnData:
    """Concatenate the samples' ``qc`` artifacts (in sample-sheet order).

    Genes: the inner join (genes kept by every sample; a gene that ``qc.min_cells`` removed in
    one sample is gone). Cells: renamed ``<barcode>-<sample>`` so names are unique.

    Returns
    -------
    The merged AnnData: counts in ``X``; every ``obs`` column of any sample (the per-sample
    QC metrics as the ``qc`` stage computed them, the metadata; empty where a sample lacks
    it) and ``obs[batch_key]``, the sample name (categorical); ``var`` columns equal in every
    sample (``gene_ids``, gene-set flags) plus the per-gene statistics recomputed on the
    merged counts (:data:`VAR_STATS`: ``n_cells_by_counts``, ``mean_counts``…);
    ``uns['merge']`` (samples, cells and genes per sample, genes kept) with each sample's
    ``uns['qc']`` summary under ``uns['merge']['qc'][<sample>]``; the samples' ``load`` and
    ``qc`` provenance records as ``qc[<sample>]``.
    """
    import anndata as ad

    names = [_sample_name(a, i) for i, a in enumerate(adatas)]
    if len(set(names)) < len(names):
        msg = (
            f"merge: the inputs hold the same sample more than once ({names}); each sample must be given once"
        )
        raise InputDataError(msg)
    genes = [a.n_vars for a in adatas]
    merged = ad.concat(adatas, join="inner", merge="same", uns_merge=None, keys=names, index_unique="-")
    if merged.n_vars == 0:
        examples = {name: a.var_names[:3].tolist() for name, a in zip(names, adatas, strict=True)}
        msg = (
            f"merge: samples {names} share no genes (e.g. {examples}); give every sample the same gene "
            "names (load.var_names: gene_symbols or gene_ids)"
        )
        raise InputDataError(msg)
    lost = {name: n for name, n in zip(names, genes, strict=True) if merged.n_vars < n / 2}
    if lost:
        msg = (
            f"merge: only {merged.n_vars} genes are common to all samples; {lost} (sample: genes) lose more "
            "than half of theirs. Check the gene names (load.var_names) and qc.min_cells"
        )
        warnings.warn(msg, DataWarning, stacklevel=2)
    merged.obs = _obs(adatas, names, merged.obs_names, params.batch_key)
    _recompute_var_stats(merged, adatas)
    merged.uns["merge"] = {
        "batch_key": params.batch_key,
        "samples": names,
        "n_cells": [a.n_obs for a in adatas],
        "n_genes": genes,
        "n_genes_merged": merged.n_vars,
        "qc": {name: _qc_summary(a) for name, a in zip(names, adatas, strict=True)},
    }
    records = merged.uns.setdefault("scsnake", {}).setdefault("provenance", {})
    for name, a in zip(names, adatas, strict=True):
        for stage, record in a.uns.get("scsnake", {}).get("provenance", {}).items():
            records[f"{stage}[{name}]"] = record
    logger.info("merge: %d samples, %d cells × %d common genes", len(names), merged.n_obs, merged.n_vars)
    return merged


def _sample_name(adata: AnnData, position: int) -> str:
    """The single ``obs['sample']`` value of a ``qc`` artifact (``load`` writes it)."""
    values = adata.obs["sample"].unique() if "sample" in adata.obs else []
    if len(values) != 1:
        msg = (
            f"merge: input {position + 1} is not one sample's qc artifact (obs['sample'] holds "
            f"{list(values)[:3]}); merge reads results/<sample>/qc.<format> of each sample"
        )
        raise InputDataError(msg)
    return str(values[0])


def _obs(adatas: list[AnnData], names: list[str], index: pd.Index, batch_key: str) -> pd.DataFrame:
    """Every sample's ``obs`` (outer join of the columns) and the batch column."""
    from pandas.api.types import is_object_dtype

    clashes = [
        name for name, a in zip(names, adatas, strict=True) if batch_key != "sample" and batch_key in a.obs
    ]
    if clashes:
        msg = f"merge.batch_key {batch_key!r} replaces the obs column of that name in sample(s) {clashes}"
        warnings.warn(msg, DataWarning, stacklevel=3)
    columns = list(dict.fromkeys(c for a in adatas for c in a.obs.columns))  # in order of appearance
    obs = pd.concat([a.obs for a in adatas], join="outer").reindex(columns=columns)
    obs.index = index
    for column in obs.columns:
        values = obs[column]
        # categories that differed per sample, joined: object (pandas < 3) or str (pandas >= 3) text
        if isinstance(values.dtype, pd.StringDtype) or (
            is_object_dtype(values) and values.map(lambda v: isinstance(v, str) or v is None or v != v).all()
        ):
            obs[column] = pd.Categorical(values)
        elif is_object_dtype(values) and values.map(lambda v: isinstance(v, bool | np.bool_) or v != v).all():
            obs[column] = values.astype("boolean")  # flags missing in some samples
    sizes = [a.n_obs for a in adatas]
    obs[batch_key] = pd.Categorical(np.repeat(names, sizes), categories=names)
    return obs


def _recompute_var_stats(merged: AnnData, adatas: list[AnnData]) -> None:
    """Per-gene QC statistics of the merged counts, for those the samples had."""
    from .. import pp

    wanted = [k for k in VAR_STATS if any(k in a.var for a in adatas)]
    if not wanted:
        return
    _, var = pp.calculate_qc_metrics(merged, percent_top=None, inplace=False)
    var["n_cells"] = var["n_cells_by_counts"]
    for key in wanted:
        merged.var[key] = var[key].to_numpy()


def _qc_summary(adata: AnnData) -> dict[str, Any]:
    """A sample's ``uns['qc']`` without the per-cell table (that stays in its qc artifact)."""
    return {k: v for k, v in dict(adata.uns.get("qc", {})).items() if k != "before"}
