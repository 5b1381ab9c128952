"""Datasets: the built-in synthetic count simulator (the workflow's demo input) and public example data.

``write_synthetic`` streams the simulator's data to ``.h5ad`` chunk by chunk (for millions of cells).

Public datasets are downloaded once into ``settings.datadir`` (``$SCSNAKE_DATA_DIR`` or
``~/.cache/scsnake``) and verified against their SHA-256; later calls read the cached copy.
"""

from __future__ import annotations

from ._download import ChecksumError as ChecksumError
from ._download import DownloadError as DownloadError
from ._download import DownloadHTTPError as DownloadHTTPError
from ._download import DownloadNetworkError as DownloadNetworkError
from ._download import MissingDependencyError as MissingDependencyError
from ._download import settings as settings
from ._public import krumsiek11, moignard15, paul15, pbmc3k, pbmc3k_processed, pbmc68k_reduced
from ._synthetic import synthetic
from ._write_synthetic import write_synthetic

# Only functions are listed (the API convention tests inspect them); the error classes and
# ``settings`` above are re-exported too.
__all__ = [
    "krumsiek11",
    "moignard15",
    "paul15",
    "pbmc3k",
    "pbmc3k_processed",
    "pbmc68k_reduced",
    "synthetic",
    "write_synthetic",
]
