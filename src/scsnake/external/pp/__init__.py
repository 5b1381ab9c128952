"""Preprocessing with other packages' methods, under ``scanpy.external.pp``'s names.

``harmony_integrate`` and ``bbknn`` are scsnake's own implementations (no extra package;
checked against harmonypy and bbknn), here under scanpy.external's names and call shapes;
``scanorama_integrate`` wraps Scanorama (``pip install 'scsnake[scanorama]'``).

Each function has a params model (``*Params``): ``fn(adata, **Model(**params).model_dump())``
runs it with validated parameters and changes ``adata`` in place.
"""

from __future__ import annotations

from scsnake.pp._harmony import HarmonyIntegrateParams, harmony_integrate

from ._bbknn import ExternalBbknnParams, bbknn
from ._scanorama import ScanoramaIntegrateParams, scanorama_integrate

__all__ = [
    "ExternalBbknnParams",
    "HarmonyIntegrateParams",
    "ScanoramaIntegrateParams",
    "bbknn",
    "harmony_integrate",
    "scanorama_integrate",
]
