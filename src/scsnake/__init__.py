"""scsnake: single-cell RNA-seq analysis as a Snakemake workflow over a small, fast core library.

The API follows scanpy: ``import scsnake as ss`` then ``ss.pp.normalize_total(adata)``,
``ss.tl.leiden(adata)``, ``ss.pl.umap(adata, color="leiden")``; results are stored
under scanpy's keys so files open in scanpy and cellxgene.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("scsnake")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

if TYPE_CHECKING:
    from . import datasets, experimental, external, get, io, metrics, neighbors, pl, pp, tl
    from ._settings import set_figure_params, settings
    from .io import read
    from .io._scanpy_io import (
        read_10x_h5,
        read_10x_mtx,
        read_csv,
        read_excel,
        read_h5ad,
        read_hdf,
        read_loom,
        read_mtx,
        read_text,
        read_umi_tools,
        write,
    )

__all__ = [
    "__version__",
    "datasets",
    "experimental",
    "external",
    "get",
    "io",
    "metrics",
    "neighbors",
    "pl",
    "pp",
    "read",
    "read_10x_h5",
    "read_10x_mtx",
    "read_csv",
    "read_excel",
    "read_h5ad",
    "read_hdf",
    "read_loom",
    "read_mtx",
    "read_text",
    "read_umi_tools",
    "set_figure_params",
    "settings",
    "tl",
    "write",
]

# As in scanpy, ``ss.neighbors`` is the module; the function is ``ss.pp.neighbors``.
_SCANPY_IO = {n for n in __all__ if n.startswith("read_")} | {"write"}
_SUBMODULES = {"datasets", "experimental", "external", "get", "io", "metrics", "neighbors", "pl", "pp", "tl"}


def __getattr__(name: str) -> Any:
    # Submodules load on first use: `import scsnake` stays fast and matplotlib / umap
    # are imported only by the workflow stages that need them.
    if name in _SUBMODULES:
        return import_module(f".{name}", __name__)
    if name == "read":
        return import_module(".io", __name__).read
    if name in _SCANPY_IO:  # scanpy's signatures (filename first; write(filename, adata))
        return getattr(import_module(".io._scanpy_io", __name__), name)
    if name in {"settings", "set_figure_params"}:
        return getattr(import_module("._settings", __name__), name)
    msg = f"module 'scsnake' has no attribute {name!r}"
    raise AttributeError(msg)
