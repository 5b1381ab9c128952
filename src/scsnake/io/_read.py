"""Read any supported input into an AnnData: h5ad, zarr (directory or zip), 10x, csv/tsv/txt, mtx."""

from __future__ import annotations

import bz2
import gzip
import inspect
import logging
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from anndata import AnnData

from scsnake._params import StageParams, validated
from scsnake.errors import InputDataError, ParamError

from ._formats import (
    Format,
    check_exists,
    checked_reader,
    describe_error,
    detect_format,
    io_registry_error,
    is_hdf5,
)
from ._loom import read_loom
from ._tenx import read_10x_h5, read_10x_mtx, read_mtx

if TYPE_CHECKING:
    from collections.abc import Callable
    from os import PathLike
    from typing import IO

__all__ = [
    "ReadCsvParams",
    "ReadH5adParams",
    "ReadParams",
    "ReadZarrParams",
    "read",
    "read_csv",
    "read_h5ad",
    "read_zarr",
]

logger = logging.getLogger(__name__)

#: Errors third-party readers raise for unreadable content; turned into :class:`InputDataError`.
_READ_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    KeyError,
    ValueError,
    TypeError,
    IndexError,
    EOFError,
    RuntimeError,
    zipfile.BadZipFile,
)


class ReadParams(StageParams):
    """Parameters of :func:`read`."""

    path: Path
    """File or directory to read."""
    format: Literal["auto", "h5ad", "zarr", "10x_h5", "10x_mtx", "csv", "tsv", "txt", "mtx", "loom"] = "auto"
    """Input format; ``auto`` detects it from the path."""


class ReadH5adParams(StageParams):
    """Parameters of :func:`read_h5ad`."""

    path: Path
    """The ``.h5ad`` file."""
    backed: Literal["r", "r+"] | None = None
    """Leave ``X`` on disk, opened read-only (``r``) or read-write (``r+``); None loads everything."""


class ReadZarrParams(StageParams):
    """Parameters of :func:`read_zarr`."""

    path: Path
    """A ``.zarr`` directory or a zipped store (``.zarr.zip``)."""


class ReadCsvParams(StageParams):
    """Parameters of :func:`read_csv`."""

    path: Path
    """The text file (optionally ``.gz`` or ``.bz2``)."""
    delimiter: str | None = ","
    """Column separator; None splits at any run of whitespace."""
    first_column_names: bool = True
    """The first column holds the row names (also assumed when its first entry is not a number)."""
    transpose: bool = False
    """The file has genes in rows and cells in columns: return its transpose."""


def _unreadable(path: Path, fmt: str, err: BaseException) -> InputDataError:
    hint = ""
    if fmt == "h5ad" and path.is_file() and not is_hdf5(path):
        hint = " (the file is not HDF5: wrong suffix, or not an h5ad file)"
    msg = f"cannot read {path} as {fmt}: {describe_error(err)}{hint}"
    return InputDataError(msg)


@checked_reader
@validated(ReadH5adParams)
def read_h5ad(path: str | PathLike[str], *, backed: Literal["r", "r+"] | None = None) -> AnnData:
    """Read an ``.h5ad`` file (anndata's HDF5 format).

    Parameters
    ----------
    path
        The file.
    backed
        ``r`` or ``r+`` to leave ``X`` on disk; None loads everything into memory.

    Returns
    -------
    The AnnData stored in the file.
    """
    import anndata as ad

    path = Path(path)
    check_exists(path)
    try:
        return ad.read_h5ad(path, backed=backed)
    except _READ_ERRORS as err:
        raise _unreadable(path, "h5ad", err) from None


@checked_reader
@validated(ReadZarrParams)
def read_zarr(path: str | PathLike[str]) -> AnnData:
    """Read a zarr store: a ``.zarr`` directory or a zipped store (``.zarr.zip``).

    Reads stores written by zarr 2 or 3 (format v2 or v3), including structured arrays that
    newer zarr releases name ``struct``.

    Parameters
    ----------
    path
        The directory or zip file.

    Returns
    -------
    The AnnData stored in the store.
    """
    import anndata as ad

    from ._zarr import open_zarr_group

    registry_error = io_registry_error()
    path = Path(path)
    check_exists(path)
    try:
        with open_zarr_group(path) as group:
            return ad.read_zarr(group)
    except (*_READ_ERRORS, registry_error) as err:
        raise _unreadable(path, "zarr", err) from None


def _open_text(path: Path) -> IO[str]:
    name = path.name.lower()
    if name.endswith(".gz"):
        return gzip.open(path, "rt")
    if name.endswith(".bz2"):
        return bz2.open(path, "rt")
    return path.open()


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _sniff_text(path: Path, delimiter: str | None) -> tuple[int, list[str], list[list[str]]]:
    """Lines before the first data row, the comment lines and up to two data rows (split)."""
    n_skip = 0
    comments: list[str] = []
    rows: list[list[str]] = []
    with _open_text(path) as f:
        while len(rows) < 2:
            line = f.readline()
            if not line:
                break
            line = line.rstrip("\r\n")
            if not rows and (not line or line.startswith("#")):
                n_skip += 1
                if line.lstrip("# "):
                    comments.append(line.lstrip("# "))
                continue
            if line:
                rows.append(line.split(delimiter))
    return n_skip, comments, rows


def _clean(names: list[str]) -> list[str]:
    return [n.strip().strip('"') for n in names]


def _layout(
    path: Path, delimiter: str | None, first_column_names: bool
) -> tuple[int, list[str] | None, bool, int]:
    """Rows to skip, column names (None: numbered), whether column 1 holds row names, fields per row.

    Follows anndata's ``read_text``: a first row whose last entry is not a number is the header;
    otherwise the last comment line names the columns; a first column whose first entry is not
    a number holds row names.
    """
    n_skip, comments, rows = _sniff_text(path, delimiter)
    if not rows:
        msg = f"cannot read {path} as text: it holds no data rows"
        raise InputDataError(msg)
    first = rows[0]
    if delimiter is not None and len(first) == 1:
        msg = f"cannot read {path}: the delimiter {delimiter!r} does not occur in its first row; pass delimiter="
        raise InputDataError(msg)
    header: list[str] | None = None
    if not _is_float(first[-1]):
        header, n_skip = _clean(first), n_skip + 1
        data = rows[1] if len(rows) > 1 else None
    else:
        data = first
        if len(rows) > 1 and len(rows[1]) == len(first) + 1:  # numeric header, numeric row names
            header, n_skip, data = _clean(first), n_skip + 1, rows[1]
        elif comments:
            header = _clean(comments[-1].split())
    has_row_names = first_column_names or (data is not None and not _is_float(data[0]))
    return n_skip, header, has_row_names, len(data) if data is not None else 0


@checked_reader
@validated(ReadCsvParams)
def read_csv(
    path: str | PathLike[str],
    *,
    delimiter: str | None = ",",
    first_column_names: bool = True,
    transpose: bool = False,
) -> AnnData:
    """Read a delimited text matrix (cells in rows unless ``transpose``), optionally gzipped.

    Header and comment handling follow anndata's ``read_csv``/``read_text``: a header row
    is recognised by a non-numeric last entry, else the last ``#`` comment line names the
    columns; the header may or may not name the row-name column.

    Parameters
    ----------
    path
        The file (``.gz`` and ``.bz2`` are decompressed).
    delimiter
        Column separator; None splits at any run of whitespace.
    first_column_names
        The first column holds the row names.
    transpose
        The file has genes in rows: return the transpose.

    Returns
    -------
    AnnData with a dense float32 ``X``, ``obs_names`` and ``var_names`` from the file.
    """
    path = Path(path)
    check_exists(path)
    fmt = "csv" if delimiter == "," else "tsv" if delimiter == "\t" else "txt"
    try:
        n_skip, header, has_row_names, n_fields = _layout(path, delimiter, first_column_names)
        dtypes: Any = np.float32
        if has_row_names:
            dtypes = {i: np.float32 for i in range(1, n_fields)} | {0: str}
        frame = pd.read_csv(
            path,
            sep=delimiter if delimiter is not None else r"\s+",
            header=None,
            skiprows=n_skip,
            index_col=0 if has_row_names else None,
            dtype=dtypes,
            compression="infer",
            skip_blank_lines=True,
        )
        values = frame.to_numpy(dtype=np.float32)
    except InputDataError:
        raise
    except (*_READ_ERRORS, UnicodeDecodeError, pd.errors.ParserError) as err:
        raise _unreadable(path, fmt, err) from None
    n_cols = values.shape[1]
    if header is not None and len(header) == n_cols + 1:
        header = header[1:]
    if header is None or len(header) != n_cols:
        if header is not None:
            msg = f"cannot read {path}: its header names {len(header)} columns but the rows have {n_cols} values"
            raise InputDataError(msg)
        header = [str(i) for i in range(n_cols)]
    obs_names = (
        _clean(frame.index.astype(str).tolist()) if has_row_names else [str(i) for i in range(len(frame))]
    )
    adata = AnnData(values, obs=pd.DataFrame(index=obs_names), var=pd.DataFrame(index=header))
    return adata.T if transpose else adata


def _text_reader(delimiter: str | None) -> Callable[..., AnnData]:
    def reader(path: Path, **kwargs: Any) -> AnnData:
        kwargs.setdefault("delimiter", delimiter)
        return read_csv(path, **kwargs)

    reader.__signature__ = inspect.signature(read_csv)  # type: ignore[attr-defined]
    return reader


_READERS: dict[str, Callable[..., AnnData]] = {
    "h5ad": read_h5ad,
    "zarr": read_zarr,
    "10x_h5": read_10x_h5,
    "10x_mtx": read_10x_mtx,
    "csv": _text_reader(","),
    "tsv": _text_reader("\t"),
    "txt": _text_reader(None),
    "mtx": read_mtx,
    "loom": read_loom,
}


@validated(ReadParams)
def read(path: str | PathLike[str], *, format: Format | Literal["auto"] = "auto", **kwargs: Any) -> AnnData:
    """Read a file or directory, detecting its format from the path.

    Parameters
    ----------
    path
        ``.h5ad``, ``.zarr`` directory or ``.zarr.zip``, 10x ``.h5``, 10x mtx directory,
        ``.csv``/``.tsv``/``.txt`` (optionally ``.gz``), ``.mtx[.gz]`` or ``.loom``.
    format
        Force a format: one of ``h5ad``, ``zarr``, ``10x_h5``, ``10x_mtx``, ``csv``, ``tsv``,
        ``txt``, ``mtx``, ``loom``; ``auto`` detects it.
    **kwargs
        Passed to the format's reader (e.g. ``genome=`` for 10x h5, ``delimiter=`` for text).

    Returns
    -------
    The AnnData read.

    Examples
    --------
    >>> read("/no/such/dir/sample.h5ad")
    Traceback (most recent call last):
    ...
    scsnake.errors.InputDataError: input not found: /no/such/dir/sample.h5ad (its directory /no/such/dir does not exist either)
    """
    path = Path(path)
    fmt = detect_format(path) if format == "auto" else format
    check_exists(path)
    reader = _READERS[fmt]
    allowed = [p for p in inspect.signature(reader).parameters if p != "path"]
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        msg = f"read: {', '.join(unknown)} is not an option of the {fmt} reader (allowed: {', '.join(allowed) or 'none'})"
        raise ParamError(msg)
    logger.info("reading %s as %s", path, fmt)
    return reader(path, **kwargs)
