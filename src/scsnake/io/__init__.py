"""Reading and writing: 10x mtx/h5, h5ad, zarr, loom, csv; atomic artifact writes; CSV exports."""

from __future__ import annotations

from ._export import export_csv
from ._formats import detect_format
from ._loom import read_loom, write_loom
from ._read import read, read_csv, read_h5ad, read_zarr
from ._tenx import read_10x_h5, read_10x_mtx
from ._write import write

__all__ = [
    "detect_format",
    "export_csv",
    "read",
    "read_10x_h5",
    "read_10x_mtx",
    "read_csv",
    "read_h5ad",
    "read_loom",
    "read_zarr",
    "write",
    "write_loom",
]
