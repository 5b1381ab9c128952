"""Read the matrices of uncompressed h5ad artifacts by mapping the file instead of copying it.

A workflow job reads the matrix the job before it has just written, so the file is still in
the page cache: a private (copy-on-write) mapping shares those pages instead of copying
gigabytes into freshly allocated memory, and a page is copied only if the stage writes to it.
Only for the workflow's own artifacts, which are replaced by renaming (a mapped old version
stays intact); compressed or chunked datasets are read as usual.
"""

from __future__ import annotations

import logging
import mmap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._formats import checked_reader

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["map_matrix", "mapped_file", "read_artifact"]

logger = logging.getLogger(__name__)

_SPARSE = ("csr_matrix", "csc_matrix")


def read_artifact(path: Path) -> AnnData:
    """Read a workflow artifact; the matrices (``X``, ``layers``) of an uncompressed
    ``.h5ad`` are mapped (see the module's notes), anything else is read by :func:`scsnake.io.read`."""
    from ._read import read

    if not (path.is_file() and path.name.lower().endswith(".h5ad")):
        return read(path)
    try:
        return _read_h5ad_mapped(path)
    except Exception as err:  # io.read reads it again and names what is wrong
        logger.info("reading %s without mapping it (%s)", path, err)
        return read(path)


@checked_reader
def _read_h5ad_mapped(path: Path) -> AnnData:
    import anndata as ad
    import h5py
    from anndata.experimental import read_dispatched

    with h5py.File(path, "r") as store:
        if "raw.X" in store or isinstance(store["obs"], h5py.Dataset):
            msg = "written by anndata < 0.7"
            raise ValueError(msg)
        mapping = mapped_file(path)

        def callback(read_func: Any, name: str, elem: Any, iospec: Any) -> Any:
            if iospec.encoding_type == "anndata" or name.endswith("/"):
                return ad.AnnData(**{key: read_dispatched(elem[key], callback) for key in elem})
            if name == "/X" or name.startswith("/layers/"):
                mapped = map_matrix(elem, mapping)
                if mapped is not None:
                    return mapped
            return read_func(elem)

        return read_dispatched(store, callback=callback)


def mapped_file(path: Path) -> mmap.mmap | None:
    """A private, copy-on-write mapping of the whole file; None if the system refuses one
    (an address-space limit, say): the matrices are then read."""
    try:
        with path.open("rb") as handle:
            return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_COPY)
    except (OSError, ValueError) as err:
        logger.info("cannot map %s (%s): reading it", path, err)
        return None


def map_matrix(elem: Any, mapping: mmap.mmap | None) -> Any | None:
    """The CSR/CSC group or dense dataset ``elem`` of an h5ad file as arrays on ``mapping``
    (that file, mapped); None if a part is compressed, chunked or not a plain number array."""
    import h5py

    if mapping is None:
        return None
    if isinstance(elem, h5py.Dataset):
        return _mapped_array(elem, mapping) if elem.ndim == 2 else None
    encoding = elem.attrs.get("encoding-type")
    if encoding not in _SPARSE or not all(key in elem for key in ("data", "indices", "indptr")):
        return None
    parts = [_mapped_array(elem[key], mapping) for key in ("data", "indices", "indptr")]
    if any(part is None for part in parts):
        return None
    import anndata as ad
    from scipy import sparse

    arrays = getattr(ad.settings, "use_sparse_array_on_read", False)
    cls = {
        "csr_matrix": sparse.csr_array if arrays else sparse.csr_matrix,
        "csc_matrix": sparse.csc_array if arrays else sparse.csc_matrix,
    }[encoding]
    return cls(tuple(parts), shape=tuple(int(n) for n in elem.attrs["shape"]), copy=False)


def _mapped_array(dataset: Any, mapping: mmap.mmap) -> np.ndarray | None:
    """A contiguous, unfiltered dataset of native numbers as an array on ``mapping``."""
    import h5py

    dtype = dataset.dtype
    if dtype.kind not in "biuf" or not dtype.isnative:
        return None
    if dataset.size == 0:
        return np.empty(dataset.shape, dtype=dtype)
    plist = dataset.id.get_create_plist()
    if plist.get_layout() != h5py.h5d.CONTIGUOUS or plist.get_nfilters() or plist.get_external_count():
        return None
    offset = dataset.id.get_offset()
    if offset is None or offset + dataset.size * dtype.itemsize > len(mapping):
        return None
    return np.frombuffer(mapping, dtype=dtype, count=dataset.size, offset=offset).reshape(dataset.shape)
