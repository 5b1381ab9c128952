"""Zarr stores across zarr and anndata versions: opening them for anndata, and what is written.

Newer zarr releases write structured arrays (e.g. scanpy's ``uns['rank_genes_groups']['names']``)
with the data type name ``struct`` and ``{"name", "data_type"}`` field objects; zarr 3.1 only
reads ``structured`` with ``[name, data_type]`` pairs. :class:`_StructCompatStore` rewrites such
metadata documents on the fly (read-only), so those stores open with the installed zarr.

Writing follows anndata: format 3 (sharded arrays) from anndata 0.13, format 2 before
(:data:`WRITE_FORMAT`, :func:`write_codec`).
"""

from __future__ import annotations

import base64
import contextlib
import json
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import zarr

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

__all__ = ["WRITE_FORMAT", "consolidate", "open_zarr_group", "write_codec"]

ZARR_3 = int(zarr.__version__.split(".")[0]) >= 3


def _anndata_version() -> tuple[int, int]:
    from importlib.metadata import version

    major, minor = version("anndata").split(".")[:2]
    return int(major), int("".join(c for c in minor if c.isdigit()) or 0)


#: The zarr format scsnake writes. anndata >= 0.13 writes format 3 (arrays in shards) and
#: deprecates its setting for format 2, which 0.14 removes; older anndata writes format 2,
#: whose string and structured dtypes have a stable spec and which zarr 2 and 3 both read.
#: The readers here read both, whichever anndata and zarr wrote them.
WRITE_FORMAT = 3 if _anndata_version() >= (0, 13) else 2

_UTF32 = "fixed_length_utf32"


def _native_dtype(spec: Any) -> np.dtype | None:
    """The numpy dtype of a zarr v3 data type document (None if not understood)."""
    if isinstance(spec, str):
        try:
            return np.dtype(spec)
        except TypeError:
            return None
    if not isinstance(spec, dict):
        return None
    name, config = spec.get("name"), spec.get("configuration", {})
    if name == _UTF32:
        return np.dtype(f"<U{int(config['length_bytes']) // 4}")
    if name in {"null_terminated_bytes", "raw_bytes"}:
        return np.dtype(f"S{int(config['length_bytes'])}")
    if name in {"struct", "structured"}:
        fields = [_field(f) for f in config.get("fields", [])]
        if any(f is None for f in fields):
            return None
        return np.dtype([(n, _native_dtype(t)) for n, t in fields])  # type: ignore[misc]
    return None


def _field(field: Any) -> tuple[str, Any] | None:
    if isinstance(field, dict) and {"name", "data_type"} <= set(field):
        return field["name"], field["data_type"]
    if isinstance(field, list | tuple) and len(field) == 2:
        return field[0], field[1]
    return None


def _translate_dtype(spec: dict[str, Any]) -> dict[str, Any]:
    fields = [_field(f) for f in spec["configuration"]["fields"]]
    pairs = [[name, _translate_dtype(t) if _is_struct(t) else t] for name, t in fields]  # type: ignore[misc]
    return {"name": "structured", "configuration": {"fields": pairs}}


def _is_struct(spec: Any) -> bool:
    return (
        isinstance(spec, dict)
        and spec.get("name") == "struct"
        and all(_field(f) is not None for f in spec.get("configuration", {}).get("fields", []))
    )


def _fill_bytes(dtype: np.dtype, fill: Any) -> str:
    """The base64 fill value zarr 3.1 expects for a structured dtype."""
    value = np.zeros(1, dtype=dtype)
    if isinstance(fill, dict):
        for name, item in fill.items():
            with contextlib.suppress(ValueError, TypeError, KeyError):
                value[name] = item
    return base64.b64encode(value.tobytes()).decode("ascii")


def _translate(doc: Any) -> bool:
    """Rewrite every ``struct`` array document inside ``doc`` in place; True if one changed."""
    changed = False
    if isinstance(doc, dict):
        spec = doc.get("data_type")
        if _is_struct(spec):
            dtype = _native_dtype(spec)
            if dtype is not None:
                doc["data_type"] = _translate_dtype(spec)
                doc["fill_value"] = _fill_bytes(dtype, doc.get("fill_value"))
                changed = True
        for value in doc.values():
            changed = _translate(value) or changed
    elif isinstance(doc, list):
        for value in doc:
            changed = _translate(value) or changed
    return changed


if ZARR_3:
    from zarr.storage import WrapperStore

    class _StructCompatStore(WrapperStore):  # type: ignore[type-arg]
        """A read-only view of a store whose ``zarr.json`` documents use the ``struct`` dtype name."""

        async def get(self, key: str, prototype: Any, byte_range: Any = None) -> Any:
            buf = await self._store.get(key, prototype, byte_range)
            if buf is None or byte_range is not None or not key.endswith("zarr.json"):
                return buf
            raw = buf.to_bytes()
            if b'"struct"' not in raw:
                return buf
            doc = json.loads(raw)
            if not _translate(doc):
                return buf
            return prototype.buffer.from_bytes(json.dumps(doc).encode())


def write_codec(compression: str | None) -> Any:
    """The compressor of :data:`WRITE_FORMAT` for ``compression``; None is uncompressed.

    ``gzip`` is gzip (level 4); ``lzf`` (h5py's, which has no zarr codec) is Blosc-LZ4, its
    fast equivalent.
    """
    if compression is None:
        return None
    if WRITE_FORMAT == 3:
        from zarr.codecs import BloscCodec, GzipCodec

        if compression == "gzip":
            return GzipCodec(level=4)
        return BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")
    import numcodecs

    if compression == "gzip":
        return numcodecs.GZip(level=4)
    return numcodecs.Blosc(cname="lz4", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE)


def consolidate(path: Path) -> None:
    """Rewrite the consolidated metadata of the zarr directory ``path`` (after elements were
    added to it): readers that use it see them."""
    with warnings.catch_warnings():
        # zarr warns on every format-3 store that consolidated metadata is not in the v3 spec
        # yet (zarr-specs#373); anndata writes it and suppresses the same warning.
        warnings.filterwarnings(
            "ignore", "Consolidated metadata is currently not part in the Zarr format 3", UserWarning
        )
        zarr.consolidate_metadata(str(path))


@contextlib.contextmanager
def open_zarr_group(path: Path) -> Iterator[Any]:
    """The root group of the zarr directory or ``.zip`` at ``path``, open read-only."""
    if path.is_dir():
        store: Any = (
            zarr.storage.LocalStore(path, read_only=True) if ZARR_3 else zarr.DirectoryStore(str(path))
        )
    else:
        store = zarr.storage.ZipStore(path, mode="r") if ZARR_3 else zarr.ZipStore(str(path), mode="r")
    try:
        if ZARR_3:
            yield zarr.open_group(_StructCompatStore(store), mode="r")
        else:
            yield zarr.open_group(store, mode="r")
    finally:
        if getattr(store, "_is_open", True):  # a zip that failed to open has nothing to close
            store.close()
