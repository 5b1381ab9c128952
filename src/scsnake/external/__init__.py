"""Other packages' methods under ``scanpy.external``'s names: ``ss.external.pp``, ``ss.external.tl``.

=====================================  ==============================================================
``pp.harmony_integrate``               Harmony; scsnake's implementation (also ``ss.pp.harmony_integrate``)
``pp.bbknn``                           BBKNN with scanpy.external's signature; scsnake's exact graph
``pp.scanorama_integrate``             Scanorama (extra ``scanorama``)
``tl.celltypist_train``                train a CellTypist model on a labelled reference (extra ``celltypist``)
``tl.celltypist_annotate``             predict cell types with a CellTypist model (extra ``celltypist``)
=====================================  ==============================================================

The optional packages are imported when a function is called; a missing one raises
:class:`MissingExtraError` naming the extra (``pip install 'scsnake[scanorama]'``).
"""

from __future__ import annotations

from . import pp, tl
from ._optional import MissingExtraError

__all__ = ["MissingExtraError", "pp", "tl"]
