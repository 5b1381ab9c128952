"""Atomic writes of h5ad and zarr: a temporary sibling is written, then swapped in."""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import posixpath
import re
import secrets
import shutil
import warnings
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from scsnake._params import StageParams, validated
from scsnake.errors import InputDataError, ParamError

from ._formats import describe_error, io_registry_error

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from os import PathLike

    from anndata import AnnData

__all__ = ["WriteParams", "staged_write", "write", "write_completed"]

logger = logging.getLogger(__name__)

_SUFFIXES = (".zarr.zip", ".h5ad", ".zarr")
_KEY_NOTE = re.compile(r"while writing key '?(?P<key>[^']*?)'? of .* to (?P<parent>/\S*)")


class WriteParams(StageParams):
    """Parameters of :func:`write`."""

    path: Path
    """Target: ``.h5ad``, ``.zarr`` (directory) or ``.zarr.zip``."""
    compression: Literal["gzip", "lzf"] | None = None
    """None writes uncompressed (fastest); ``gzip`` is smallest; ``lzf`` is fast (h5ad; LZ4 in zarr)."""


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return suffix
    msg = f"write: cannot tell the format of {path} from its name; use .h5ad, .zarr or .zarr.zip"
    raise ParamError(msg)


def _sibling(path: Path, suffix: str, tag: str) -> Path:
    stem = path.name[: len(path.name) - len(suffix)]
    return path.with_name(f"{stem}.{tag}-{os.getpid()}-{secrets.token_hex(4)}{suffix}")


def _remove_stale(path: Path, suffix: str) -> None:
    """Remove temporary siblings left by writers that died (killed mid-write): never trusted, never kept."""
    stem = path.name[: len(path.name) - len(suffix)]
    for tag in ("tmp", "old"):
        for leftover in path.parent.glob(f"{glob.escape(stem)}.{tag}-*-*"):
            try:
                pid = int(leftover.name[len(stem) + len(tag) + 2 :].split("-", 1)[0])
            except ValueError:
                continue
            if not _alive(pid):
                logger.info("removing %s, left by a writer that died (pid %d)", leftover, pid)
                _remove(leftover)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@contextlib.contextmanager
def _nullable_strings_written() -> Iterator[None]:
    """Let anndata write pandas' nullable string arrays (``string`` dtype), as anndata >= 0.13
    does with pandas 3. anndata 0.12 refuses them by default, yet reads them back so from the
    artifacts anndata 0.13 writes (its obs and var names, its text columns): a stage run with
    anndata 0.12 on such an artifact writes its text as it was read. anndata reads it since 0.11."""
    import anndata as ad

    with ad.settings.override(allow_write_nullable_strings=True):
        yield


def _write_zarr_dir(adata: AnnData, target: Path, compression: str | None) -> None:
    """anndata's zarr in the format :data:`~scsnake.io._zarr.WRITE_FORMAT` names."""
    import anndata as ad

    from ._zarr import WRITE_FORMAT, write_codec

    if WRITE_FORMAT == 3:  # anndata's default: no setting to pass (its format-2 one is deprecated)
        ad.io.write_zarr(target, adata, compressor=write_codec(compression))
        return
    with ad.settings.override(zarr_write_format=2), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Writing zarr v2 data will no longer be the default")
        ad.io.write_zarr(target, adata, compressor=write_codec(compression))


def _write_h5ad(adata: AnnData, path: Path, compression: str | None) -> None:
    """anndata's h5ad; uncompressed CSR/CSC matrices (``X``, ``layers``) are stored contiguous.

    anndata stores them chunked (resizable, for appending); contiguous datasets read
    faster, and an artifact's matrix can then be mapped instead of read
    (:mod:`scsnake.io._mapped`). Every h5ad reader reads both.
    """
    import anndata as ad

    if compression is not None or adata.isbacked:
        ad.io.write_h5ad(path, adata, compression=compression)
        return
    import h5py
    from anndata.experimental import write_dispatched

    adata.strings_to_categoricals()  # as anndata's write_h5ad does
    if adata.raw is not None:
        adata.strings_to_categoricals(adata.raw.var)

    def callback(
        write_func: Any, store: Any, name: str, elem: Any, *, dataset_kwargs: Any, iospec: Any
    ) -> None:
        where = posixpath.join(store.name, name)  # anndata < 0.13 passes the path, 0.13 the key in store
        if (where == "/X" or where.startswith("/layers/")) and iospec.encoding_type in (
            "csr_matrix",
            "csc_matrix",
        ):
            group = store.require_group(name)
            group.attrs.update(
                {
                    "encoding-type": iospec.encoding_type,
                    "encoding-version": iospec.encoding_version,
                    "shape": elem.shape,
                }
            )
            for key in ("data", "indices", "indptr"):
                group.create_dataset(key, data=getattr(elem, key))
        else:
            write_func(store, name, elem, dataset_kwargs=dataset_kwargs)

    with h5py.File(path, "w") as store:
        write_dispatched(store, "/", adata, callback=callback)


def _zip_dir(directory: Path, target: Path) -> None:
    """Zip a zarr directory (chunks are already compressed: stored as they are)."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for file in sorted(p for p in directory.rglob("*") if p.is_file()):
            zf.write(file, file.relative_to(directory).as_posix())


def _swap_in(tmp: Path, path: Path, suffix: str) -> None:
    """Move the finished ``tmp`` to ``path``; an old target is removed only after the swap."""
    target_is_dir = path.is_dir() and not path.is_symlink()
    if not os.path.lexists(path) or (tmp.is_file() and not target_is_dir):
        os.replace(tmp, path)  # atomic: a file replacing a file, or anything taking a free name
        return
    old = _sibling(path, suffix, "old")
    os.replace(path, old)
    try:
        os.replace(tmp, path)
    except OSError:
        os.replace(old, path)
        raise
    _remove(old)


@contextlib.contextmanager
def staged_write(path: Path, suffix: str) -> Iterator[Path]:
    """A temporary sibling of ``path`` (``<name>.tmp-<pid>-<random><suffix>``) to write in the
    block: swapped in for ``path`` when the block ends, removed if it raises. Siblings left
    by writers that died are removed first."""
    _remove_stale(path, suffix)
    tmp = _sibling(path, suffix, "tmp")
    try:
        yield tmp
        _swap_in(tmp, path, suffix)
    except BaseException:
        _remove(tmp)
        raise


def _element(adata: AnnData, key_path: str) -> tuple[str, Any]:
    """``uns['a']['b']``-style name of an element path like ``/uns/a/b`` and its value (if found)."""
    parts = [p for p in key_path.split("/") if p]
    if not parts:
        return "adata", adata
    value: Any = getattr(adata, parts[0], None)
    label = parts[0]
    for part in parts[1:]:
        label += f"[{part!r}]"
        try:
            value = value[part]
        except (KeyError, TypeError, IndexError):
            value = None
    return label, value


def _storage_error(adata: AnnData, path: Path, err: BaseException) -> InputDataError:
    """An :class:`InputDataError` naming the element anndata could not store."""
    for note in getattr(err, "__notes__", []):
        match = _KEY_NOTE.search(note)
        if match:
            key = match["key"]
            full = key if key.startswith("/") else f"{match['parent'].rstrip('/')}/{key}"
            label, value = _element(adata, full)
            parent_label, parent = _element(adata, full.rsplit("/", 1)[0])
            bad_keys = [k for k in parent if not isinstance(k, str)] if isinstance(parent, dict) else []
            if bad_keys:
                msg = f"cannot write {path}: {parent_label} has non-string key(s) {bad_keys[:5]}; anndata stores only string keys"
                return InputDataError(msg)
            kind = f"a {type(value).__name__} value" if value is not None else "a value"
            msg = (
                f"cannot write {path}: {label} holds {kind} that anndata cannot store "
                f"({describe_error(err)}); convert it to a string, number, array, DataFrame or a dict "
                f"of those, or delete it"
            )
            return InputDataError(msg)
    msg = f"cannot write {path}: {describe_error(err)}"
    return InputDataError(msg)


@validated(WriteParams)
def write(
    adata: AnnData, path: str | PathLike[str], *, compression: Literal["gzip", "lzf"] | None = None
) -> None:
    """Write ``adata`` to ``.h5ad``, ``.zarr`` or ``.zarr.zip`` atomically.

    The data go to a temporary sibling ``<name>.tmp-<pid>-<random><suffix>`` that replaces
    ``path`` only once complete; after any failure neither the temporary file nor a partial
    target is left, and an existing target is untouched. Like anndata, string columns of
    ``obs``/``var`` are turned into categoricals (in ``adata`` too).

    Parameters
    ----------
    adata
        The data to write.
    path
        The target; its suffix picks the format.
    compression
        None (uncompressed, fastest), ``gzip`` or ``lzf`` (h5ad; zarr uses Blosc-LZ4 for it).

    Returns
    -------
    None; the file or directory at ``path``.
    """
    write_completed(adata, path, compression=compression)


def write_completed(
    adata: AnnData,
    path: str | PathLike[str],
    *,
    compression: Literal["gzip", "lzf"] | None = None,
    complete: Callable[[Path], None] | None = None,
) -> None:
    """:func:`write`, with ``complete(staged)`` adding elements to the written h5ad file or
    zarr directory before it is swapped in (a failure there leaves nothing behind either)."""
    registry_error = io_registry_error()
    path = Path(path)
    suffix = _suffix(path)
    if not path.parent.is_dir():
        msg = f"cannot write {path}: the directory {path.parent} does not exist"
        raise InputDataError(msg)
    try:
        with staged_write(path, suffix) as tmp:
            staging = tmp.with_name(tmp.name.removesuffix(".zip")) if suffix == ".zarr.zip" else tmp
            try:
                with _nullable_strings_written():
                    if suffix == ".h5ad":
                        _write_h5ad(adata, tmp, compression)
                    else:
                        _write_zarr_dir(adata, staging, compression)
                if complete is not None:
                    complete(staging)
                if suffix == ".zarr.zip":
                    _zip_dir(staging, tmp)
            finally:
                if staging != tmp:  # the zarr directory a .zarr.zip is zipped from
                    _remove(staging)
    except (registry_error, OSError, ValueError, TypeError, AttributeError, KeyError) as err:
        raise _storage_error(adata, path, err) from None
    logger.info("wrote %s", path)
