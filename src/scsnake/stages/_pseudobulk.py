"""The ``pseudobulk`` stage: the raw counts of the merged samples summed per sample × group.

It reads ``final`` of the merged object (every ``obs`` column is there: the Leiden clusters,
``annotate``'s cell types, the sample-sheet columns, and the counts layer) and writes
``results/<merge.name>/pseudobulk.<format>``, one row per sample and group, which ``de`` tests.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Annotated

from pydantic import Field, PositiveInt

from .._params import StageParams

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["PseudobulkParams", "PseudobulkRun", "pseudobulk"]

logger = logging.getLogger(__name__)


class PseudobulkParams(StageParams):
    """The ``pseudobulk`` section: one profile of summed raw counts per sample × group."""

    enabled: bool = False
    """Sum the merged samples' counts per sample × group (needs ``merge.enabled``)."""
    groupby: Annotated[str, Field(min_length=1)] = "leiden"
    """``obs`` column of the groups: ``leiden``, or ``cell_type`` when ``annotate`` is on."""
    min_cells: PositiveInt = 10
    """A sample's group with fewer cells is left out for that sample."""


class PseudobulkRun(PseudobulkParams):
    """What the stage runs with: its section, plus what the workflow takes from the others."""

    sample_key: Annotated[str, Field(min_length=1)] = "sample"
    """``obs`` column of the samples (``merge.batch_key``)."""
    layer: str | None = "counts"
    """Layer of the raw counts (``normalize.counts_layer``)."""
    obs_keys: list[str] | None = None
    """Per-sample ``obs`` columns kept (the sample sheet's metadata columns)."""


def pseudobulk(adata: AnnData, params: PseudobulkRun) -> AnnData:
    """Sum the raw counts of each sample's cells per group (:func:`scsnake.tl.pseudobulk`).

    Returns
    -------
    A new AnnData, one row per sample × group with at least ``min_cells`` cells: ``X`` the
    summed counts; ``obs`` the sample, the group, ``n_cells`` and the sample-sheet columns;
    ``uns['pseudobulk']`` (the keys used and the cells of the input); the input's provenance
    records and the group colours, so later figures colour the groups as the cell plots do.
    """
    from .. import tl

    pdata = tl.pseudobulk(
        adata, params.sample_key, params.groupby, layer=params.layer, min_cells=params.min_cells,
        obs_keys=params.obs_keys,
    )  # fmt: skip
    pdata.uns["pseudobulk"] = {
        "sample_key": params.sample_key,
        "groupby": params.groupby,
        "layer": params.layer or "X",
        "min_cells": params.min_cells,
        "n_cells_in": adata.n_obs,
    }
    colors = f"{params.groupby}_colors"
    if colors in adata.uns:
        pdata.uns[colors] = adata.uns[colors]
    records = adata.uns.get("scsnake", {}).get("provenance", {})
    pdata.uns["scsnake"] = {"provenance": dict(records)}
    logger.info(
        "pseudobulk: %d profiles (samples × %s groups) from %d cells",
        pdata.n_obs, params.groupby, adata.n_obs,
    )  # fmt: skip
    return pdata
