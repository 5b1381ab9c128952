"""The simulator's data written straight to ``.h5ad``, one chunk of cells at a time.

:func:`synthetic` holds every chunk and then the stacked matrix: about twice the final size.
:func:`write_synthetic` appends each chunk to resizable HDF5 datasets as it is sampled, so
its memory is a few chunks plus the per-cell annotations, whatever the number of cells.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import field_validator

from scsnake._params import validated
from scsnake.errors import InputDataError
from scsnake.io._formats import describe_error
from scsnake.io._write import staged_write

from ._synthetic import Simulation, SyntheticParams, index_dtype, simulate

if TYPE_CHECKING:
    from os import PathLike

    import h5py

__all__ = ["WriteSyntheticParams", "write_synthetic"]

logger = logging.getLogger(__name__)

_H5_CHUNK = 1 << 20  # stored values per HDF5 chunk of X/data and X/indices (4 MiB)
_H5_CACHE = 64 << 20  # HDF5 chunk cache: a compressed chunk is not rewritten on every append


class WriteSyntheticParams(SyntheticParams):
    """Parameters of :func:`write_synthetic`."""

    path: Path
    """Target ``.h5ad`` file."""
    compression: Literal["gzip", "lzf"] | None = None
    """None writes uncompressed (fastest); ``gzip`` is smallest; ``lzf`` is fast."""

    @field_validator("path")
    @classmethod
    def _h5ad(cls, value: Path) -> Path:
        if not value.name.lower().endswith(".h5ad") or value.name.lower() == ".h5ad":
            msg = "must be a file name ending in .h5ad"
            raise ValueError(msg)
        return value


@validated(WriteSyntheticParams)
def write_synthetic(
    path: str | PathLike[str],
    n_cells: int = 3000,
    n_genes: int = 2000,
    *,
    n_types: int = 6,
    n_batches: int = 1,
    batch_effect: float = 0.5,
    doublet_rate: float = 0.0,
    median_counts: float | None = None,
    mito_genes: int = 13,
    ribo_genes: int = 50,
    seed: int = 0,
    compression: Literal["gzip", "lzf"] | None = None,
) -> None:
    """Write the data of :func:`synthetic` to ``.h5ad`` without holding the whole matrix.

    Reading the file gives the same ``X``, ``obs`` and ``var`` as :func:`synthetic` with the
    same arguments (``X`` stores int32 gene indices; ``indptr`` is int64 only when there are
    2**31 or more stored values). Counts are sampled in chunks of cells (in threads) and
    appended to the file as they come: peak memory is a few chunks plus the per-cell
    annotations. The file is written to a temporary sibling and renamed when complete; after
    a failure nothing is left behind and an existing file is untouched.

    Parameters
    ----------
    path
        Target ``.h5ad`` file; its directory must exist.
    n_cells, n_genes, n_types, n_batches, batch_effect, doublet_rate, median_counts, mito_genes, ribo_genes, seed
        As for :func:`synthetic`.
    compression
        None (uncompressed, fastest), ``gzip`` or ``lzf``.

    Returns
    -------
    None; the file at ``path``, with ``X`` (CSR float32 counts), ``obs`` and ``var`` as
    described in :func:`synthetic`.

    Examples
    --------
    >>> import tempfile, anndata
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     write_synthetic(f"{tmp}/demo.h5ad", 200, 300, n_types=3, seed=1)
    ...     anndata.read_h5ad(f"{tmp}/demo.h5ad").shape
    (200, 300)
    """
    params = SyntheticParams(n_cells=n_cells, n_genes=n_genes, n_types=n_types, n_batches=n_batches,
                             batch_effect=batch_effect, doublet_rate=doublet_rate, median_counts=median_counts,
                             mito_genes=mito_genes, ribo_genes=ribo_genes, seed=seed)  # fmt: skip
    path = Path(path)
    if not path.parent.is_dir():
        msg = f"cannot write {path}: the directory {path.parent} does not exist"
        raise InputDataError(msg)
    sim = simulate(params)
    try:
        with staged_write(path, ".h5ad") as tmp:
            nnz = _write_h5ad(tmp, sim, compression)
    except OSError as err:
        msg = f"cannot write {path}: {describe_error(err)}"
        raise InputDataError(msg) from None
    logger.info("wrote %s: %d cells × %d genes, %d stored counts", path, *sim.shape, nnz)


def _write_h5ad(target: Path, sim: Simulation, compression: str | None) -> int:
    """Annotations through anndata, then ``X`` chunk by chunk; returns the number of stored values."""
    import anndata as ad
    import h5py

    ad.io.write_h5ad(target, ad.AnnData(obs=sim.obs, var=sim.var), compression=compression)
    with h5py.File(target, "r+", rdcc_nbytes=_H5_CACHE) as file:
        group = file.create_group("X")
        group.attrs["encoding-type"] = "csr_matrix"
        group.attrs["encoding-version"] = "0.1.0"
        group.attrs["shape"] = np.array(sim.shape, dtype=np.int64)
        return _append_chunks(group, sim, compression)


def _append_chunks(group: h5py.Group, sim: Simulation, compression: str | None) -> int:
    """Write ``data`` and ``indices`` as the chunks come, then ``indptr`` (its type needs the total)."""
    growing = {"chunks": (_H5_CHUNK,), "maxshape": (None,), "compression": compression}
    data = group.create_dataset("data", shape=(0,), dtype=np.float32, **growing)
    indices = group.create_dataset("indices", shape=(0,), dtype=np.int32, **growing)
    indptr = np.zeros(sim.shape[0] + 1, dtype=np.int64)
    nnz = row = 0
    for chunk_indptr, chunk_indices, chunk_data in sim.chunks():
        end = nnz + chunk_data.size
        for dataset, values in ((data, chunk_data), (indices, chunk_indices)):
            if values.size:
                dataset.resize((end,))
                dataset[nnz:end] = values
        n_rows = chunk_indptr.size - 1
        indptr[row + 1 : row + n_rows + 1] = chunk_indptr[1:] + nnz
        nnz, row = end, row + n_rows
    group.create_dataset("indptr", data=indptr.astype(index_dtype(nnz), copy=False), compression=compression)
    return nnz
