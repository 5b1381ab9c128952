"""Subsetting a CSR/CSC matrix inside its own arrays: filtering without a copy of the counts.

At 1M cells the counts take about 12 GB; a filter that copies them needs twice that.
"""

from __future__ import annotations

import mmap
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from scipy import sparse

from scsnake._matrix import is_sparse
from scsnake.pp._filter_kernels import _compact_major_csr, _compact_minor_csr, _narrow_front

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["_compact", "_compactable", "_matrices", "_named_layers"]


def _named_layers(adata: AnnData) -> dict[str, Any]:
    """The layers of ``adata`` without ``X``, which anndata >= 0.13 also lists, as ``layers[None]``."""
    return {key: value for key, value in adata.layers.items() if key is not None}


def _buffers(x: Any) -> list[np.ndarray]:
    """The arrays holding the values of ``x``: itself, or a sparse matrix's index and data arrays."""
    if isinstance(x, np.ndarray):
        return [x]
    return [v for v in vars(x).values() if isinstance(v, np.ndarray)] if is_sparse(x) else []


def _matrices(adata: AnnData) -> list[tuple[str, Any]]:
    """Every matrix of ``adata`` with its slot, to find the ones that share memory."""
    out = [("X", adata.X), *((f"layers/{k}", v) for k, v in _named_layers(adata).items())]
    if adata.raw is not None:
        out.append(("raw/X", adata.raw.X))
    for slot in ("obsm", "varm", "obsp", "varp"):
        out.extend((f"{slot}/{k}", v) for k, v in getattr(adata, slot).items())
    return out


def _file_backed(a: np.ndarray) -> bool:
    """Whether ``a`` is (a view of) a memory-mapped file, which writing would change."""
    while isinstance(a, np.ndarray):
        if isinstance(a, np.memmap):
            return True
        a = a.base
    return isinstance(a, mmap.mmap)


def _compactable(slot: str, x: Any, matrices: list[tuple[str, Any]]) -> bool:
    """Whether ``x`` may be subset inside its own arrays.

    It must be CSR/CSC with int32/int64 indices of indptr's dtype, and its data and
    indices writeable, contiguous, in memory (not a file map) and shared with no other
    matrix of ``adata`` (the same object in two slots counts as shared).
    """
    if not (is_sparse(x) and x.format in ("csr", "csc")):
        return False
    own = (x.data, x.indices)
    if x.indices.dtype != x.indptr.dtype or x.indices.dtype not in (np.int32, np.int64):
        return False
    if not all(a.flags.writeable and a.flags.c_contiguous and not _file_backed(a) for a in own):
        return False
    others = [b for other, m in matrices if other != slot for b in _buffers(m)]
    return not np.may_share_memory(*own) and not any(np.may_share_memory(a, b) for a in own for b in others)


def _shrink(x: Any, name: str, n: int) -> None:
    """Cut the array ``x.<name>`` to its first ``n`` entries.

    The tail is freed (``ndarray.resize``) when the array owns its buffer and nothing
    else refers to it; otherwise the array becomes a view of its prefix.
    """
    try:
        getattr(x, name).resize(n, refcheck=True)
    except ValueError:
        setattr(x, name, getattr(x, name)[:n])


def _compact(x: Any, keep: np.ndarray, axis: Literal[0, 1]) -> bool:
    """Subset CSR/CSC ``x`` like :func:`_take`, but inside its own arrays (no copy).

    The same matrix object is left with the kept entries at the front of its ``data``
    and ``indices``, a new ``indptr`` and the new shape, and the index dtype, class and
    sorted flag the copy would have. False (``x`` untouched) if the copy would widen
    the index dtype.
    """
    shape = (int(keep.sum()), x.shape[1]) if axis == 0 else (x.shape[0], int(keep.sum()))
    maxval = None if 0 in shape else max(shape)  # as scipy's constructor on the copy path
    if sparse.get_index_dtype((x.indices, x.indptr), maxval=maxval) != x.indices.dtype:
        return False
    was_sorted = x.has_sorted_indices
    if (axis == 0) == (x.format == "csr"):
        indptr = _compact_major_csr(x.indptr, x.indices, x.data, np.flatnonzero(keep))
    else:
        position = np.where(keep, np.cumsum(keep) - 1, -1)
        indptr = _compact_minor_csr(x.indptr, x.indices, x.data, position)
    nnz = int(indptr[-1])
    matrix_api = not isinstance(x, sparse.sparray)  # csr_matrix narrows int64 indices that fit
    dtype = np.dtype(
        sparse.get_index_dtype((x.indices[:nnz], indptr), maxval=maxval, check_contents=matrix_api)
    )
    x.indptr = indptr.astype(dtype, copy=False)
    _shrink(x, "data", nnz)
    if dtype == x.indices.dtype:
        _shrink(x, "indices", nnz)
    else:  # int32 values written over the front of the int64 buffer
        _narrow_front(x.indices, x.indices.view(dtype), nnz)
        _shrink(x, "indices", (nnz + 1) // 2)
        x.indices = x.indices.view(dtype)[:nnz]
    x._shape = shape  # as scipy's own in-place ``resize``
    for flag in ("_has_sorted_indices", "_has_canonical_format"):
        vars(x).pop(flag, None)
    if was_sorted:
        x.has_sorted_indices = True
    return True
