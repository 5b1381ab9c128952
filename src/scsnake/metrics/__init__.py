"""Metrics: scanpy's (confusion matrix, Geary's C, Moran's I, modularity) and integration metrics (iLISI, kBET, cLISI, ARI, NMI, ASW)."""

from __future__ import annotations

from ._autocorrelation import gearys_c, morans_i
from ._kbet import kbet
from ._labels import confusion_matrix, modularity
from ._lisi import lisi
from ._scores import integration_scores

__all__ = ["confusion_matrix", "gearys_c", "integration_scores", "kbet", "lisi", "modularity", "morans_i"]
