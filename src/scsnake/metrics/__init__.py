"""Integration metrics: batch mixing (iLISI, kBET) and conservation of biology (cLISI, ARI, NMI, ASW)."""

from __future__ import annotations

from ._kbet import kbet
from ._lisi import lisi
from ._scores import integration_scores

__all__ = ["integration_scores", "kbet", "lisi"]
