"""scanpy's ``sc.experimental``: ``experimental.pp`` (Pearson-residual normalisation and HVGs)."""

from __future__ import annotations

from . import pp

__all__ = ["pp"]
