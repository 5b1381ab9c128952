"""Open an input cheaply: its format, shape and first stored values, without reading the matrix.

:func:`probe` reads what the readers of :mod:`scsnake.io._read` would need first (HDF5 and
zarr metadata, Matrix Market and text headers, the 10x features and barcodes files) and a slice
of at most ``n_values`` stored values, so a truncated file, an empty 10x directory or a matrix
that is not counts is found before a job runs, in milliseconds whatever the file's size.
"""

from __future__ import annotations

import gzip
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from scsnake.errors import InputDataError, ParamError, ScsnakeError

from ._formats import check_exists, detect_format, io_registry_error
from ._loom import ReadLoomParams, _layer_datasets, _open_loom
from ._read import _READ_ERRORS, _layout, _unreadable
from ._tenx import _GEX, _read_table, _text, tenx_mtx_files

if TYPE_CHECKING:
    from collections.abc import Callable
    from os import PathLike

    from ._formats import Format

__all__ = ["N_VALUES", "InputProbe", "probe"]

#: Stored values read by default: 256 KB of float32.
N_VALUES = 1 << 16
#: Bytes read from the end of a plain-text file to check that its last line is whole.
_TAIL_BYTES = 1 << 20
_FIX = "the file is damaged, cut short or not in this format: copy or write it again (or give its format)"
_DELIMITERS: dict[str, str | None] = {"csv": ",", "tsv": "\t", "txt": None}


@dataclass(frozen=True)
class InputProbe:
    """What :func:`probe` found in an input."""

    format: str
    """The format it was read as."""
    n_obs: int | None
    """Number of cells (None: not known without reading the whole file, as for text)."""
    n_vars: int
    """Number of genes, after the ``genome`` and ``gex_only`` selections of 10x inputs."""
    values: np.ndarray
    """The first stored values of the matrix (at most ``n_values``)."""
    where: str
    """The matrix they come from (``X``, ``/matrix/data``, ``matrix.mtx.gz``, ``the matrix``…)."""


@dataclass(frozen=True)
class _Options:
    path: Path
    format: str
    genome: str | None
    gex_only: bool
    n_values: int


def probe(
    path: str | PathLike[str],
    *,
    format: Format | Literal["auto"] = "auto",
    genome: str | None = None,
    gex_only: bool = True,
    n_values: int = N_VALUES,
) -> InputProbe:
    """Open ``path`` as :func:`scsnake.io.read` would, reading headers and a slice of the values.

    Parameters
    ----------
    path
        The input (any format :func:`scsnake.io.read` accepts).
    format
        Its format; ``auto`` detects it from the path.
    genome, gex_only
        The genes a 10x input is read with (as :func:`scsnake.io.read_10x_h5`); other formats
        ignore them.
    n_values
        Most stored values read.

    Returns
    -------
    The format, shape, first values and their matrix.

    Raises :class:`InputDataError` when the input cannot be opened or its structure is damaged
    (a truncated HDF5 file, a 10x directory without barcodes, a malformed Matrix Market header),
    and :class:`ParamError` when ``genome`` does not fit the file.

    Examples
    --------
    >>> import tempfile, scsnake as ss
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     ss.write(f"{tmp}/demo.h5ad", ss.datasets.synthetic(n_cells=50, n_genes=200, seed=0))
    ...     found = probe(f"{tmp}/demo.h5ad", n_values=100)
    >>> found.format, found.n_obs, found.n_vars, found.values.size, found.where
    ('h5ad', 50, 200, 100, 'X')
    """
    path = Path(path)
    fmt = detect_format(path) if format == "auto" else format
    check_exists(path)
    options = _Options(path, fmt, genome, gex_only, n_values)
    try:
        return _PROBES[fmt](options)
    except ScsnakeError:
        raise
    except (*_READ_ERRORS, io_registry_error(), UnicodeDecodeError, pd.errors.ParserError) as err:
        msg = f"{_unreadable(path, fmt, err)}; {_FIX}"
        raise InputDataError(msg) from None


def _damaged(options: _Options, problem: str) -> InputDataError:
    return InputDataError(f"cannot read {options.path} as {options.format}: {problem}; {_FIX}")


# --------------------------------------------------------------------------------- HDF5 and zarr


def _is_array(node: Any) -> bool:
    return hasattr(node, "dtype")  # h5py datasets and zarr arrays; groups have none


def _attr(node: Any, *names: str) -> Any:
    for name in names:
        value = node.attrs.get(name)
        if value is not None:
            return value.decode() if isinstance(value, bytes) else value
    return None


def _length(node: Any) -> int | None:
    """Rows of an obs/var element: a dataset, a dataframe, or an encoded array (values, codes)."""
    if _is_array(node):
        return int(node.shape[0])
    index = _attr(node, "_index")
    if index is not None and index in node:
        return _length(node[index])
    for key in ("values", "codes"):
        if key in node:
            return int(node[key].shape[0])
    return None


def _sparse_slice(options: _Options, group: Any, where: str, n_major: int, n_minor: int) -> np.ndarray:
    """The first stored values of a CSR/CSC group, after checking its structure against its shape."""
    data, indices, indptr = group["data"], group["indices"], group["indptr"]
    end = int(indptr[indptr.shape[0] - 1]) if indptr.shape[0] else None
    problem = None
    if indptr.shape[0] != n_major + 1:
        problem = f"its index pointer has {indptr.shape[0]} entries, expected {n_major + 1}"
    elif end != data.shape[0] or indices.shape[0] != data.shape[0]:
        problem = f"its index pointer ends at {end} but {indices.shape[0]} indices and {data.shape[0]} values are stored"
    else:
        first = np.asarray(indices[: options.n_values])
        if first.size and (first.min() < 0 or first.max() >= n_minor):
            problem = f"its indices run from {first.min()} to {first.max()}, outside 0..{n_minor - 1}"
    if problem is not None:
        raise _damaged(options, f"{where} is a damaged sparse matrix ({problem})")
    return np.asarray(data[: options.n_values])


def _probe_anndata(options: _Options, group: Any) -> InputProbe:
    """An h5ad file or zarr store: ``X`` dense or sparse (CSR/CSC), checked against obs and var."""
    for key in ("obs", "var", "X"):
        if key not in group:
            found = ", ".join(sorted(group.keys())) or "nothing"
            raise _damaged(options, f"it has no {key!r} (an AnnData file has obs, var and X; found: {found})")
    x = group["X"]
    if _is_array(x):
        if len(x.shape) != 2:
            raise _damaged(options, f"X has shape {tuple(x.shape)}, not cells × genes")
        n_obs, n_vars = (int(n) for n in x.shape)
        rows = min(n_obs, max(1, options.n_values // max(n_vars, 1)))
        values = np.asarray(x[:rows]) if n_vars else np.empty(0)
    else:
        encoding = _attr(x, "encoding-type", "h5sparse_format")
        shape = _attr(x, "shape", "h5sparse_shape")
        if encoding not in ("csr_matrix", "csc_matrix", "csr", "csc") or shape is None:
            raise _damaged(options, f"X is a group encoded as {encoding!r}, not a CSR/CSC matrix")
        n_obs, n_vars = (int(n) for n in shape)
        csr = encoding.startswith("csr")
        values = _sparse_slice(options, x, "X", *((n_obs, n_vars) if csr else (n_vars, n_obs)))
    for key, n in (("obs", n_obs), ("var", n_vars)):
        length = _length(group[key])
        if length is not None and length != n:
            raise _damaged(options, f"X is {n_obs} × {n_vars} but {key} has {length} rows")
    return InputProbe(options.format, n_obs, n_vars, values, "X")


def _probe_h5ad(options: _Options) -> InputProbe:
    import h5py

    with h5py.File(options.path, "r") as f:
        return _probe_anndata(options, f)


def _probe_zarr(options: _Options) -> InputProbe:
    from ._zarr import open_zarr_group

    with open_zarr_group(options.path) as group:
        return _probe_anndata(options, group)


def _probe_10x_h5(options: _Options) -> InputProbe:
    """Cell Ranger v3 (``/matrix``) or v2 (one group per genome): CSC genes × cells."""
    import h5py

    path, genome = options.path, options.genome
    with h5py.File(path, "r") as f:
        is_v3 = "matrix" in f
        genomes = [k for k, v in f.items() if isinstance(v, h5py.Group)]
        if not is_v3:
            if not genomes:
                raise _damaged(
                    options, "it has neither a /matrix group (Cell Ranger 3+) nor genome groups (2.x)"
                )
            if genome is None and len(genomes) > 1:
                msg = f"{path} holds several genomes ({', '.join(genomes)}); set genome to one of them"
                raise ParamError(msg)
            if genome is not None and genome not in genomes:
                msg = f"genome {genome!r} not found in {path} (available: {', '.join(genomes)})"
                raise ParamError(msg)
        group = f["matrix"] if is_v3 else f[genome or genomes[0]]
        try:
            n_genes, n_cells = (int(n) for n in group["shape"][()])
            n_barcodes = group["barcodes"].shape[0]
            ids = group["features"]["id"] if is_v3 else group["genes"]
            values = _sparse_slice(options, group, "the matrix", n_cells, n_genes)
        except KeyError as err:
            raise _damaged(options, f"a dataset Cell Ranger writes is missing ({err})") from None
        if n_barcodes != n_cells or ids.shape[0] != n_genes:
            problem = f"the matrix is {n_genes} features × {n_cells} barcodes, but {ids.shape[0]} features and {n_barcodes} barcodes are stored"
            raise _damaged(options, problem)
        keep = np.ones(n_genes, dtype=bool)
        if is_v3 and options.gex_only and "feature_type" in group["features"]:
            keep &= _text(group["features"]["feature_type"][()]) == _GEX
        if is_v3 and genome is not None:
            stored = _text(group["features"]["genome"][()]) if "genome" in group["features"] else np.array([])
            if genome not in stored:
                available = ", ".join(map(str, pd.unique(stored))) or "none"
                msg = f"genome {genome!r} not found in {path} (available: {available})"
                raise ParamError(msg)
            keep &= stored == genome
        where = f"{group.name}/data"
    return InputProbe(options.format, n_cells, int(keep.sum()), values, where)


# --------------------------------------------------------------------------------- text formats


def _open_binary(path: Path) -> Any:
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else path.open("rb")


def _last_line(path: Path) -> bytes | None:
    """The last line of a plain (uncompressed) file; None when compressed or longer than the tail read."""
    if path.name.lower().endswith((".gz", ".bz2")):
        return None
    size = path.stat().st_size
    with path.open("rb") as f:
        f.seek(max(0, size - _TAIL_BYTES))
        tail = f.read()
    lines = tail.rstrip(b"\r\n").rsplit(b"\n", 1)
    if len(lines) == 1 and size > _TAIL_BYTES:
        return None
    return lines[-1]


def _count_lines(path: Path) -> int:
    """Non-empty lines of a (gzipped) text file, counted in blocks."""
    n, last = 0, b"\n"
    with _open_binary(path) as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            n += block.count(b"\n")
            last = block[-1:]
    return n + (last != b"\n")


def _mtx_head(options: _Options, path: Path) -> tuple[int, int, np.ndarray]:
    """Rows, columns and first values of a Matrix Market file, checking its header and first entries."""
    with _open_binary(path) as f:
        banner = f.readline()
        words = banner.decode("ascii", "replace").lower().split()
        if (
            words[:2] != ["%%matrixmarket", "matrix"]
            or len(words) != 5
            or words[2] not in ("coordinate", "array")
        ):
            expected = "%%MatrixMarket matrix coordinate integer general"
            raise _damaged(
                options, f"{path.name} starts with {banner[:60]!r}, not a Matrix Market header ({expected!r})"
            )
        layout, field = words[2], words[3]
        if field not in ("integer", "real", "double", "pattern"):
            raise _damaged(options, f"{path.name} stores {field} values, not counts")
        line = f.readline()
        while line.startswith(b"%") or (line and not line.strip()):
            line = f.readline()
        width = (2 if field == "pattern" else 3) if layout == "coordinate" else 1
        sizes = line.split()
        if len(sizes) != (3 if layout == "coordinate" else 2) or not all(s.isdigit() for s in sizes):
            raise _damaged(
                options, f"{path.name} has the size line {line[:60]!r}, expected rows, columns and entries"
            )
        n_rows, n_cols = int(sizes[0]), int(sizes[1])
        n_entries = int(sizes[2]) if layout == "coordinate" else n_rows * n_cols
        lines = list(itertools.islice(f, min(n_entries, options.n_values)))
    if len(lines) < min(n_entries, options.n_values):
        raise _damaged(options, f"{path.name} announces {n_entries} entries but ends after {len(lines)}")
    bad, where = next((text for text in lines if len(text.split()) != width), None), "an entry"
    if bad is None and n_entries > len(lines):
        last = _last_line(path)
        if last is not None and len(last.split()) != width:
            bad, where = last, "its last line"
    if bad is not None:
        raise _damaged(options, f"in {path.name}, {where} is {bad[:60]!r}, expected {width} number(s)")
    table = np.array(b" ".join(lines).split(), dtype=np.float64).reshape(-1, width)
    if layout == "array":
        return n_rows, n_cols, table[:, 0]
    for axis, n in ((0, n_rows), (1, n_cols)):
        if table.size and (table[:, axis].min() < 1 or table[:, axis].max() > n):
            raise _damaged(options, f"{path.name} has an entry outside its {n_rows} × {n_cols} size")
    return n_rows, n_cols, table[:, 2] if width == 3 else np.ones(len(table))


def _probe_mtx(options: _Options) -> InputProbe:
    n_obs, n_vars, values = _mtx_head(options, options.path)
    return InputProbe(options.format, n_obs, n_vars, values, options.path.name)


def _probe_10x_mtx(options: _Options) -> InputProbe:
    """A Cell Ranger directory: the matrix (genes × cells) against its features and barcodes files."""
    path = options.path
    if not path.is_dir():
        raise _damaged(options, "a 10x mtx input is a directory, but this is a file")
    files = tenx_mtx_files(path)
    n_genes, n_cells, values = _mtx_head(options, files["matrix"])
    genes = _read_table(files["features"], "features")
    n_barcodes = _count_lines(files["barcodes"])
    if len(genes) != n_genes or n_barcodes != n_cells:
        msg = (
            f"{path}: {files['matrix'].name} is {n_genes} features × {n_cells} barcodes, but "
            f"{files['features'].name} has {len(genes)} rows and {files['barcodes'].name} has {n_barcodes}"
        )
        raise InputDataError(msg)
    n_vars = n_genes
    if options.gex_only and not files["features"].name.startswith("genes.tsv") and genes.shape[1] > 2:
        n_vars = int((genes[2] == _GEX).sum())
    return InputProbe(options.format, n_cells, n_vars, values, files["matrix"].name)


def _probe_text(options: _Options) -> InputProbe:
    """A delimited matrix, cells in rows, row names first (as ``load`` reads it): its first rows."""
    path, delimiter = options.path, _DELIMITERS[options.format]
    n_skip, _, has_row_names, n_fields = _layout(path, delimiter, True)
    n_vars = max(n_fields - has_row_names, 0)
    if n_fields == 0:
        return InputProbe(options.format, 0, n_vars, np.empty(0), "the matrix")
    last = _last_line(path)
    n_last = len(last.split(delimiter.encode() if delimiter else None)) if last is not None else n_fields
    if n_last != n_fields:
        raise _damaged(options, f"its last line has {n_last} fields, the first data row {n_fields}")
    n_rows = min(max(1, options.n_values // max(n_vars, 1)), 10_000)
    frame = pd.read_csv(
        path,
        sep=delimiter if delimiter is not None else r"\s+",
        header=None,
        skiprows=n_skip,
        index_col=0 if has_row_names else None,
        nrows=n_rows,
        dtype={i: np.float32 for i in range(1, n_fields)} | {0: str} if has_row_names else np.float32,
        compression="infer",
    )
    n_obs = len(frame) if len(frame) < n_rows else None
    return InputProbe(options.format, n_obs, n_vars, frame.to_numpy(dtype=np.float32), "the matrix")


def _probe_loom(options: _Options) -> InputProbe:
    """``/matrix`` (genes × cells), or the layer ``read_loom`` makes ``X``: its first cells."""
    x_name = ReadLoomParams.model_fields["X_name"].default
    try:
        opened = _open_loom(options.path)
    except InputDataError as err:
        raise InputDataError(f"{err}; {_FIX}") from None
    with opened as f:
        layers = _layer_datasets(f, options.path)
        name = x_name if x_name in layers else ""
        ds = layers[name]
        n_genes, n_cells = ds.shape
        width = min(n_cells, max(1, options.n_values // max(n_genes, 1)))
        values = np.asarray(ds[:, :width])
    return InputProbe(options.format, n_cells, n_genes, values, f"/layers/{name}" if name else "/matrix")


_PROBES: dict[str, Callable[[_Options], InputProbe]] = {
    "h5ad": _probe_h5ad,
    "zarr": _probe_zarr,
    "10x_h5": _probe_10x_h5,
    "10x_mtx": _probe_10x_mtx,
    "csv": _probe_text,
    "tsv": _probe_text,
    "txt": _probe_text,
    "mtx": _probe_mtx,
    "loom": _probe_loom,
}
