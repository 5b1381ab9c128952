"""Tools from other packages: cell-type annotation with CellTypist (``pip install 'scsnake[celltypist]'``).

``celltypist_train`` trains a model on a labelled reference; ``celltypist_annotate``
predicts with a model file, a model trained from a reference file, or a model in memory.
CellTypist's own models are never downloaded.

Each function has a params model (``*Params``): ``fn(adata, **Model(**params).model_dump())``
runs it with validated parameters (``celltypist_annotate`` changes ``adata`` in place).
"""

from __future__ import annotations

from ._celltypist_annotate import CelltypistAnnotateParams, CelltypistReference, celltypist_annotate
from ._celltypist_train import CelltypistTrainParams, celltypist_train

__all__ = [
    "CelltypistAnnotateParams",
    "CelltypistReference",
    "CelltypistTrainParams",
    "celltypist_annotate",
    "celltypist_train",
]
