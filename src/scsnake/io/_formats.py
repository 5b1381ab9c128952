"""Which reader a path needs: format names, detection from the path, and the errors for bad paths."""

from __future__ import annotations

import difflib
import functools
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np

from scsnake._matrix import is_sparse
from scsnake.errors import DataWarning, InputDataError

if TYPE_CHECKING:
    from collections.abc import Callable
    from os import PathLike

    from anndata import AnnData

F = TypeVar("F", bound="Callable[..., Any]")

__all__ = [
    "FORMATS",
    "Format",
    "check_exists",
    "checked_reader",
    "describe_error",
    "detect_format",
    "io_registry_error",
    "is_hdf5",
    "mtx_files",
    "named_layers",
    "sparse_problem",
]

Format = Literal["h5ad", "zarr", "10x_h5", "10x_mtx", "csv", "tsv", "txt", "mtx", "loom"]

#: Every format :func:`scsnake.io.read` accepts, with the paths it detects it from.
FORMATS: dict[str, str] = {
    "h5ad": ".h5ad (or an AnnData .h5)",
    "zarr": ".zarr directory or .zarr.zip",
    "10x_h5": ".h5 from Cell Ranger",
    "10x_mtx": "10x directory with matrix.mtx[.gz], genes.tsv or features.tsv[.gz], barcodes.tsv[.gz]",
    "csv": ".csv[.gz]",
    "tsv": ".tsv[.gz] or .tab[.gz]",
    "txt": ".txt[.gz] or .data (whitespace-separated)",
    "mtx": ".mtx[.gz]",
    "loom": ".loom",
}

_SUFFIXES: dict[str, str] = {
    ".h5ad": "h5ad",
    ".zarr": "zarr",
    ".zarr.zip": "zarr",
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".txt": "txt",
    ".data": "txt",
    ".mtx": "mtx",
    ".loom": "loom",
}

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def _supported() -> str:
    return "; ".join(f"{name}: {where}" for name, where in FORMATS.items())


def check_exists(path: Path) -> None:
    """Raise :class:`InputDataError` naming ``path`` and similar sibling names if it is missing."""
    if path.exists():
        return
    parent = path.parent
    if not parent.is_dir():
        msg = f"input not found: {path} (its directory {parent} does not exist either)"
        raise InputDataError(msg)
    siblings = sorted(p.name for p in parent.iterdir())
    close = difflib.get_close_matches(path.name, siblings, n=5, cutoff=0.6)
    hint = f"; close matches in {parent}: {', '.join(close)}" if close else ""
    msg = f"input not found: {path}{hint}"
    raise InputDataError(msg)


def mtx_files(directory: Path, prefix: str = "") -> dict[str, Path] | None:
    """The matrix, features and barcodes files of a 10x mtx directory, or None if there is no matrix.

    Each file may be gzipped or not (Cell Ranger 2 writes ``genes.tsv``, 3+ writes
    ``features.tsv.gz``); ``features`` is None when neither genes nor features file exists.
    """

    def first(*names: str) -> Path | None:
        for name in names:
            candidate = directory / f"{prefix}{name}"
            if candidate.is_file():
                return candidate
        return None

    matrix = first("matrix.mtx", "matrix.mtx.gz")
    if matrix is None:
        return None
    features = first("genes.tsv", "features.tsv.gz", "features.tsv", "genes.tsv.gz")
    barcodes = first("barcodes.tsv", "barcodes.tsv.gz")
    return {"matrix": matrix, "features": features, "barcodes": barcodes}  # type: ignore[dict-item]


def _sniff_h5(path: Path) -> str:
    """``h5ad`` for an AnnData HDF5 file, ``10x_h5`` otherwise (also when unreadable)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("encoding-type") == "anndata" or {"obs", "var"} <= set(f.keys()):
                return "h5ad"
    except OSError:
        pass  # the reader reports the problem with the file
    return "10x_h5"


def _detect_directory(path: Path) -> str:
    if path.name.endswith(".zarr") or (path / "zarr.json").is_file() or (path / ".zgroup").is_file():
        return "zarr"
    if mtx_files(path) is not None:
        return "10x_mtx"
    nested = sorted(p.name for p in path.iterdir() if p.is_dir() and mtx_files(p) is not None)
    hint = f"; the 10x matrix is one level down: {', '.join(str(path / n) for n in nested)}" if nested else ""
    msg = (
        f"{path} is a directory but neither a zarr store nor a 10x mtx directory "
        f"(expected matrix.mtx[.gz] with genes.tsv or features.tsv[.gz] and barcodes.tsv[.gz]){hint}"
    )
    raise InputDataError(msg)


def detect_format(path: str | PathLike[str]) -> Format:
    """The format of ``path``, from its name (and, for ``.h5``, its content).

    Raises :class:`InputDataError` when the path is missing or its suffix is unknown.

    Examples
    --------
    >>> detect_format("/no/such/dir/sample.h5ad")
    Traceback (most recent call last):
    ...
    scsnake.errors.InputDataError: input not found: /no/such/dir/sample.h5ad (its directory /no/such/dir does not exist either)
    """
    path = Path(path)
    check_exists(path)
    if path.is_dir():
        return _detect_directory(path)  # type: ignore[return-value]
    name = path.name.lower()
    if name.endswith((".h5", ".hdf5")):
        return _sniff_h5(path)  # type: ignore[return-value]
    if name.endswith(".zip"):
        return "zarr"
    for compressed in (".gz", ".bz2"):
        if name.endswith(compressed):
            name = name[: -len(compressed)]
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return _SUFFIXES[suffix]  # type: ignore[return-value]
    msg = f"cannot tell the format of {path} from its name; supported: {_supported()}; or pass format=..."
    raise InputDataError(msg)


def is_hdf5(path: Path) -> bool:
    """True if ``path`` starts with the HDF5 signature."""
    with path.open("rb") as f:
        return f.read(8) == _HDF5_MAGIC


def describe_error(err: BaseException) -> str:
    """A one-line ``Type: message`` for an error raised by a third-party reader."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def io_registry_error() -> type[Exception]:
    """anndata's error for elements it has no reader or writer for (private; ValueError if moved)."""
    try:
        from anndata._io.specs.registry import IORegistryError
    except ImportError:  # pragma: no cover - depends on the anndata version
        return ValueError
    return IORegistryError


def named_layers(adata: AnnData) -> dict[str, Any]:
    """``adata.layers`` without ``X``, which anndata >= 0.13 lists among them as ``layers[None]``."""
    return {key: value for key, value in adata.layers.items() if key is not None}


def sparse_problem(x: Any) -> str | None:
    """What is wrong with a CSR/CSC matrix's structure (a damaged file), or None."""
    if not is_sparse(x) or x.format not in ("csr", "csc"):
        return None
    n_major, n_minor = x.shape if x.format == "csr" else x.shape[::-1]
    indptr, indices = np.asarray(x.indptr), np.asarray(x.indices)
    if indptr.size != n_major + 1 or indptr[0] != 0:
        return f"its index pointer has {indptr.size} entries starting at {indptr[0] if indptr.size else None}, expected {n_major + 1} starting at 0"
    if indptr[-1] != indices.size or indices.size != x.data.size:
        return f"its index pointer ends at {indptr[-1]} but {indices.size} indices and {x.data.size} values are stored"
    if (np.diff(indptr) < 0).any():
        return "its index pointer decreases"
    if indices.size and (indices.min() < 0 or indices.max() >= n_minor):
        return f"its indices run from {indices.min()} to {indices.max()}, outside 0..{n_minor - 1}"
    return None


def _check_read(adata: AnnData, path: Path) -> None:
    """Refuse sparse matrices with a broken structure; warn once about duplicated names."""
    matrices = {"X": None if adata.isbacked else adata.X}
    matrices |= {f"layers[{k!r}]": v for k, v in named_layers(adata).items()}
    for where, x in matrices.items():
        problem = sparse_problem(x)
        if problem is not None:
            msg = f"cannot read {path}: {where} is a damaged sparse matrix ({problem}); the file is corrupt or was written incompletely"
            raise InputDataError(msg)
    # worded like anndata's warnings (so filters written for those still apply), plus the file
    for axis, names, fix in (("Observation", adata.obs_names, "obs"), ("Variable", adata.var_names, "var")):
        if not names.is_unique:
            dup = names[names.duplicated()]
            examples = list(dict.fromkeys(map(str, dup)))[:3]
            msg = (
                f"{axis} names are not unique in {path} ({dup.size} duplicated, e.g. {examples}); "
                f"kept as they are: call adata.{fix}_names_make_unique() to fix them"
            )
            warnings.warn(msg, DataWarning, stacklevel=3)


def checked_reader(reader: F) -> F:
    """Wrap a reader: damaged sparse matrices raise, duplicated names give one :class:`DataWarning`.

    anndata's own "names are not unique" warnings are replaced by the one naming the file.
    """

    @functools.wraps(reader)
    def wrapper(path: Any, *args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", r"(Observation|Variable) names are not unique", UserWarning)
            adata = reader(path, *args, **kwargs)
        _check_read(adata, Path(path))
        return adata

    return wrapper  # type: ignore[return-value]
