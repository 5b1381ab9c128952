"""The optional ``annotate`` stage: name clusters after the cell types whose markers they express."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from pydantic import field_validator, model_validator

from .._params import StageParams

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["AnnotateParams", "annotate", "annotation_table"]


class AnnotateParams(StageParams):
    """The ``annotate`` section: marker-based cell-type annotation of the clusters."""

    enabled: bool = False
    """Annotate (``obs['cell_type']``, ``results/<sample>/cell_types.csv``)."""
    markers: dict[str, list[str]] | str = {}
    """Cell type → marker genes, inline or the path of a YAML file with that mapping."""
    groupby: str = "leiden"
    """``obs`` column of the clusters."""
    key_added: str = "cell_type"
    """``obs`` column of the cell types."""
    min_score: float = 0.0
    """Clusters whose best score is below this are ``unassigned``."""

    @field_validator("markers")
    @classmethod
    def _markers(cls, value: dict[str, list[str]] | str) -> dict[str, list[str]] | str:
        if isinstance(value, str) and not Path(value).is_file():
            msg = f"marker file {value!r} does not exist"
            raise ValueError(msg)
        if isinstance(value, dict) and any(not genes for genes in value.values()):
            empty = [t for t, genes in value.items() if not genes]
            msg = f"cell type(s) {empty} have no marker genes"
            raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _markers_when_enabled(self) -> AnnotateParams:
        if self.enabled and not self.markers:
            msg = "annotate is enabled but annotate.markers is empty; give cell type → marker genes"
            raise ValueError(msg)
        return self


def annotate(adata: AnnData, params: AnnotateParams) -> AnnData:
    """Score every cluster for every cell type and keep the best.

    Returns
    -------
    The AnnData with ``obs[key_added]`` and ``uns[f'{key_added}_scores']`` (clusters × types).
    """
    from ..tl import annotate_clusters

    annotate_clusters(
        adata, params.markers, groupby=params.groupby, key_added=params.key_added, min_score=params.min_score
    )
    return adata


def annotation_table(adata: AnnData, params: AnnotateParams) -> pd.DataFrame:
    """Clusters × cell types scores, with the chosen type, as a flat table."""
    scores = pd.DataFrame(adata.uns[f"{params.key_added}_scores"]).copy()
    labels = adata.obs.groupby(params.groupby, observed=True)[params.key_added].first().astype(str)
    scores.insert(0, params.key_added, labels.reindex(scores.index.astype(str)).to_numpy())
    scores.index.name = params.groupby
    return scores.reset_index()
