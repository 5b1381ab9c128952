"""scanpy's top-level readers and ``write``: ``ss.read_h5ad(filename, ...)``, ``ss.write(filename, adata)``.

Same names, argument names and order as ``sc.read_*`` / ``sc.write``; they read with the
readers of :mod:`scsnake.io` (which take ``path``) where scsnake has one, and with anndata's
otherwise (Excel, HDF5 tables, UMI-tools counts).
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from anndata import AnnData
from scipy import sparse

from scsnake.errors import InputDataError, ParamError

from . import _read, _tenx, _write
from ._loom import read_loom

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from os import PathLike

__all__ = [
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
    "write",
]

logger = logging.getLogger(__name__)


def _anndata_io(name: str) -> Any:
    try:
        import anndata.io as module
    except ImportError:  # pragma: no cover - anndata < 0.11
        import anndata as module
    return getattr(module, name)


def _as_dtype(adata: AnnData, dtype: str | None) -> AnnData:
    if dtype is not None and adata.X is not None and adata.X.dtype != np.dtype(dtype):
        adata.X = adata.X.astype(dtype)
    return adata


def read_h5ad(
    filename: str | PathLike[str],
    backed: Literal["r", "r+"] | bool | None = None,
    *,
    as_sparse: Sequence[str] = (),
    as_sparse_fmt: type = sparse.csr_matrix,
    chunk_size: int = 6000,
) -> AnnData:
    """Read an ``.h5ad`` file, as scanpy's ``read_h5ad`` (scsnake's messages on bad files).

    Parameters
    ----------
    filename
        The file.
    backed
        ``"r"``/``"r+"`` (or True for ``"r+"``) leaves ``X`` on disk.
    as_sparse, as_sparse_fmt, chunk_size
        Read these dense elements (``"X"``, ``"raw/X"``) as sparse, in chunks of rows (anndata's).

    Returns
    -------
    The AnnData stored in the file.
    """
    mode = "r+" if backed is True else backed or None
    if as_sparse:
        return _anndata_io("read_h5ad")(
            filename, backed=mode, as_sparse=as_sparse, as_sparse_fmt=as_sparse_fmt, chunk_size=chunk_size
        )
    return _read.read_h5ad(filename, backed=mode)


def _cache_path(source: Path, what: str) -> Path:
    from scsnake._settings import settings

    digest = hashlib.sha256(f"{source.resolve()}|{what}".encode()).hexdigest()[:16]
    return settings.cachedir / f"{source.name}-{digest}.h5ad"


def read_10x_mtx(
    path: str | PathLike[str],
    *,
    var_names: Literal["gene_symbols", "gene_ids"] = "gene_symbols",
    make_unique: bool = True,
    cache: bool = False,
    cache_compression: Literal["gzip", "lzf"] | Any | None = None,
    gex_only: bool = True,
    prefix: str | None = None,
    compressed: bool = True,
) -> AnnData:
    """Read a 10x Cell Ranger mtx directory, as scanpy's ``read_10x_mtx``.

    Parameters
    ----------
    path
        The directory with ``matrix.mtx``, ``features.tsv`` (or ``genes.tsv``) and ``barcodes.tsv``.
    var_names
        ``gene_symbols`` or ``gene_ids`` as ``var_names``.
    make_unique
        Make duplicated ``var_names`` unique.
    cache
        Keep an ``.h5ad`` copy in ``settings.cachedir`` and read that on the next call.
    cache_compression
        Compression of the cached copy (default ``settings.cache_compression``).
    gex_only
        Keep only Gene Expression features.
    prefix
        Prefix of the file names (``"sample1_"``).
    compressed
        Accepted for scanpy's signature: gzipped and plain files are both found.

    Returns
    -------
    Cells × genes, CSR float32 counts.
    """
    del compressed  # both are detected
    options = {"var_names": var_names, "make_unique": make_unique, "gex_only": gex_only, "prefix": prefix}
    if not cache:
        return _tenx.read_10x_mtx(path, **options)
    cached = _cache_path(Path(path), repr(sorted(options.items())))
    if cached.exists():
        return _read.read_h5ad(cached)
    adata = _tenx.read_10x_mtx(path, **options)
    from scsnake._settings import settings

    cached.parent.mkdir(parents=True, exist_ok=True)
    compression = settings.cache_compression if cache_compression in (None, ...) else cache_compression
    _write.write(adata, cached, compression=compression if isinstance(compression, str) else None)
    return adata


def read_10x_h5(
    filename: str | PathLike[str],
    *,
    genome: str | None = None,
    gex_only: bool = True,
    backup_url: str | None = None,
) -> AnnData:
    """Read a 10x Cell Ranger ``.h5`` file, as scanpy's ``read_10x_h5``.

    Parameters
    ----------
    filename
        The file.
    genome
        Genome to read (files with several).
    gex_only
        Keep only Gene Expression features.
    backup_url
        Download the file from here when it does not exist.

    Returns
    -------
    Cells × genes, CSR float32 counts.
    """
    path = Path(filename)
    if not path.exists() and backup_url is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        try:
            with urllib.request.urlopen(backup_url) as response, tmp.open("wb") as out:
                shutil.copyfileobj(response, out)
        except OSError as err:
            tmp.unlink(missing_ok=True)
            msg = f"could not download {backup_url} to {path}: {err}"
            raise InputDataError(msg) from None
        tmp.replace(path)
    return _tenx.read_10x_h5(path, genome=genome, gex_only=gex_only)


def read_csv(
    filename: str | PathLike[str] | Iterator[str],
    delimiter: str | None = ",",
    *,
    first_column_names: bool | None = None,
    dtype: str = "float32",
) -> AnnData:
    """Read a delimited text matrix (cells in rows), as scanpy's ``read_csv``.

    Parameters
    ----------
    filename
        The file (``.gz``/``.bz2`` decompressed).
    delimiter
        Column separator; None splits at runs of whitespace.
    first_column_names
        The first column holds the row names; None detects it (a non-numeric first entry).
    dtype
        Data type of ``X``.

    Returns
    -------
    AnnData with a dense ``X``.
    """
    if not isinstance(filename, str | Path):
        return _anndata_io("read_text")(
            filename, delimiter, first_column_names=first_column_names, dtype=dtype
        )
    adata = _read.read_csv(filename, delimiter=delimiter, first_column_names=bool(first_column_names))
    return _as_dtype(adata, dtype)


def read_text(
    filename: str | PathLike[str] | Iterator[str],
    delimiter: str | None = None,
    *,
    first_column_names: bool | None = None,
    dtype: str = "float32",
) -> AnnData:
    """Read a text matrix split at ``delimiter`` (default: whitespace), as scanpy's ``read_text``.

    Parameters
    ----------
    filename
        The file (``.gz``/``.bz2`` decompressed).
    delimiter
        Column separator; None splits at runs of whitespace.
    first_column_names
        The first column holds the row names; None detects it.
    dtype
        Data type of ``X``.

    Returns
    -------
    AnnData with a dense ``X``.
    """
    return read_csv(filename, delimiter, first_column_names=first_column_names, dtype=dtype)


def read_mtx(filename: str | PathLike[str], dtype: str = "float32") -> AnnData:
    """Read a Matrix Market file (rows are cells), as scanpy's ``read_mtx``.

    Parameters
    ----------
    filename
        The ``.mtx`` (or ``.mtx.gz``) file.
    dtype
        Data type of ``X``.

    Returns
    -------
    AnnData with a CSR ``X``.
    """
    return _as_dtype(_tenx.read_mtx(filename), dtype)


def read_excel(filename: str | PathLike[str], sheet: str | int, dtype: str = "float32") -> AnnData:
    """Read a sheet of an Excel file (cells in rows, names in the first column), via anndata.

    Parameters
    ----------
    filename
        The ``.xlsx`` file (needs openpyxl).
    sheet
        Sheet name or index.
    dtype
        Data type of ``X``.

    Returns
    -------
    AnnData with a dense ``X``.
    """
    return _anndata_io("read_excel")(filename, sheet, dtype=dtype)


def read_hdf(filename: str | PathLike[str], key: str) -> AnnData:
    """Read a dense matrix stored as an HDF5 dataset ``key`` (with row/column names), via anndata.

    Parameters
    ----------
    filename
        The HDF5 file.
    key
        Name of the dataset.

    Returns
    -------
    AnnData with a dense ``X``.
    """
    return _anndata_io("read_hdf")(filename, key)


def read_umi_tools(filename: str | PathLike[str], dtype: str | None = None) -> AnnData:
    """Read a UMI-tools ``count --wide``-less long table (gene, cell, count), via anndata.

    Parameters
    ----------
    filename
        The gzipped tab-separated table.
    dtype
        Data type of ``X`` (anndata's default when None).

    Returns
    -------
    Cells × genes with a sparse ``X``.
    """
    return _anndata_io("read_umi_tools")(filename, dtype=dtype)


def write(
    filename: str | PathLike[str],
    adata: AnnData,
    *,
    ext: Literal["h5", "h5ad", "zarr", "csv"] | None = None,
    convert_strings_to_categoricals: bool = True,
    compression: Literal["gzip", "lzf"] | None = "gzip",
    compression_opts: int | None = None,
) -> None:
    """Write an AnnData, as scanpy's ``write`` (scanpy's argument order), atomically.

    Parameters
    ----------
    filename
        Target file; without an extension, a key: ``settings.writedir / f"{key}.{ext}"``.
    adata
        The AnnData. (scsnake's former order ``write(adata, filename)`` is still accepted.)
    ext
        ``h5``/``h5ad``, ``zarr`` or ``csv`` (a directory of csv files); default from the
        filename, else ``settings.file_format_data``.
    convert_strings_to_categoricals
        Store string columns of ``obs``/``var`` as categoricals (anndata's default).
    compression
        ``gzip``, ``lzf`` or None.
    compression_opts
        gzip level (0-9), passed to h5py; h5ad only.

    Returns
    -------
    None; the file (or, for ``csv``, the directory) is written.
    """
    if isinstance(filename, AnnData) and not isinstance(adata, AnnData):
        filename, adata = adata, filename  # scsnake's former write(adata, path)
    if not isinstance(adata, AnnData):
        msg = f"write(filename, adata): adata must be an AnnData, got {type(adata).__name__}"
        raise ParamError(msg)
    path = Path(filename)
    suffix = "".join(path.suffixes[-2:]) if path.name.endswith(".zarr.zip") else path.suffix
    if suffix:
        found = {".h5": "h5ad", ".h5ad": "h5ad", ".zarr": "zarr", ".zarr.zip": "zarr", ".csv": "csv"}.get(
            suffix
        )
        if found is None:
            msg = f"write: cannot write {path.name!r}; use .h5ad, .zarr, .zarr.zip or .csv"
            raise ParamError(msg)
        if ext is not None and {"h5": "h5ad"}.get(ext, ext) != found:
            msg = f"write: ext={ext!r} contradicts the extension of {path.name!r}"
            raise ParamError(msg)
        ext = found
    else:
        from scsnake._settings import settings

        ext = ext or settings.file_format_data
        path = settings.writedir / f"{path}.{ext}"
        path.parent.mkdir(parents=True, exist_ok=True)
    if convert_strings_to_categoricals:
        adata.strings_to_categoricals()
    if ext == "csv":
        adata.write_csvs(path.with_suffix("") if path.suffix == ".csv" else path)
        return
    if compression_opts is not None or path.suffix == ".h5":  # anndata's writer, not atomic
        if compression_opts is not None and ext not in ("h5", "h5ad"):
            msg = "write: compression_opts applies to h5ad files only"
            raise ParamError(msg)
        adata.write_h5ad(path, compression=compression, compression_opts=compression_opts)
        return
    _write.write(adata, path, compression=compression)
