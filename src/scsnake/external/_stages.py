"""The wrappers of ``ss.external`` as ready workflow stages (entry-point group ``scsnake.stages``).

Each mapping is what a config's ``custom_stages`` entry would say; the config then needs only
the stage's params, e.g. ``custom_stages: {scanorama: {params: {key: sample}}}``.
"""

from __future__ import annotations

__all__ = ["CELLTYPIST", "SCANORAMA"]

#: Scanorama's integrated embedding (``obsm['X_scanorama']``) of the PCA, per batch ``key``.
SCANORAMA = {
    "function": "scsnake.external.pp:scanorama_integrate",
    "model": "scsnake.external.pp:ScanoramaIntegrateParams",
    "after": "pca",
}
#: CellTypist's cell types (``obs['celltypist']``…) from a model file or a labelled reference.
CELLTYPIST = {
    "function": "scsnake.external.tl:celltypist_annotate",
    "model": "scsnake.external.tl:CelltypistAnnotateParams",
    "after": "leiden",
}
