"""The ``final`` stage: gather the side branches (the UMAP) into the clustered, annotated object."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._params import StageParams
from ..errors import InputDataError

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["FinalParams", "final"]


class FinalParams(StageParams):
    """The ``final`` section (no options yet)."""


def final(adata: AnnData, params: FinalParams, **branches: AnnData) -> AnnData:
    """Gather what the side branches (umap, tsne, paga, dpt…) added into the main object.

    Every ``obs``/``var`` column and ``obsm``/``obsp``/``varm``/``uns`` key a branch has and
    the main object lacks is copied (custom stages add any of them), and the branches'
    provenance records join the main one's.

    Returns
    -------
    The AnnData with everything: QC, counts layer, HVGs, PCA, graph, clusters, markers,
    UMAP and the optional embeddings and trajectories.
    """
    records = adata.uns.setdefault("scsnake", {}).setdefault("provenance", {})
    for name, branch in branches.items():
        if not branch.obs_names.equals(adata.obs_names):
            msg = f"final: the {name} and markers artifacts hold different cells; re-run the workflow"
            raise InputDataError(msg)
        if not branch.var_names.equals(adata.var_names):
            msg = f"final: the {name} and markers artifacts hold different genes; re-run the workflow"
            raise InputDataError(msg)
        for slot in ("obsm", "obsp", "varm", "uns"):
            mine, theirs = getattr(adata, slot), getattr(branch, slot)
            for key in theirs.keys() - mine.keys():
                mine[key] = theirs[key]
        for frame in ("obs", "var"):
            mine, theirs = getattr(adata, frame), getattr(branch, frame)
            for column in theirs.columns.difference(mine.columns):
                mine[column] = theirs[column]
        for stage, record in branch.uns.get("scsnake", {}).get("provenance", {}).items():
            records.setdefault(stage, record)
    return adata
