"""Loom files (HDF5, genes × cells) read and written with h5py: ``/matrix``, ``/layers``, row and column attributes."""

from __future__ import annotations

import html
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from anndata import AnnData
from pydantic import field_validator
from scipy import sparse as sp

from scsnake._matrix import is_sparse
from scsnake._params import StageParams, validated
from scsnake.errors import InputDataError, MissingKeyError, ParamError, ScsnakeError

from ._formats import check_exists, checked_reader, describe_error, is_hdf5, named_layers

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from os import PathLike

    import h5py

__all__ = ["ReadLoomParams", "WriteLoomParams", "read_loom", "write_loom"]

logger = logging.getLogger(__name__)

#: Cells × genes values read (or written) at once: about 64 MB of float32.
_BLOCK_VALUES = 2**24
#: Options of ``loompy.connect`` accepted for compatibility; h5py needs neither.
_LOOMPY_OPTIONS = frozenset({"validate", "spec_version"})
_SPEC_VERSION = "3.0.0"


def _numeric_dtype(value: str) -> str:
    try:
        kind = np.dtype(value).kind
    except TypeError:
        kind = None
    if kind not in ("b", "i", "u", "f"):
        msg = f"must be a numeric numpy dtype such as 'float32', 'float64' or 'int32', not {value!r}"
        raise ValueError(msg)
    return value


class ReadLoomParams(StageParams):
    """Parameters of :func:`read_loom`."""

    filename: Path
    """The ``.loom`` file."""
    sparse: bool = True
    """Read matrices as CSR (block by block, never dense as a whole); False reads dense arrays."""
    cleanup: bool = False
    """Move obs/var columns holding a single value into ``uns['loom-obs']`` / ``uns['loom-var']``."""
    X_name: str = "spliced"
    """Layer that becomes ``X``; when the file has no such layer, ``/matrix`` does."""
    obs_names: str = "CellID"
    """Column attribute holding the cell names."""
    obsm_names: dict[str, list[str]] | None = None
    """``{obsm key: [column attributes]}`` stacked into one ``obsm`` matrix each."""
    var_names: str = "Gene"
    """Row attribute holding the gene names."""
    varm_names: dict[str, list[str]] | None = None
    """``{varm key: [row attributes]}`` stacked into one ``varm`` matrix each."""
    dtype: str = "float32"
    """Data type of ``X`` (layers keep the type they are stored with)."""

    @field_validator("dtype")
    @classmethod
    def _check_dtype(cls, value: str) -> str:
        return _numeric_dtype(value)


class WriteLoomParams(StageParams):
    """Parameters of :func:`write_loom`."""

    filename: Path
    """Target ``.loom`` file (replaced atomically)."""
    obs_names: str = "CellID"
    """Column attribute the cell names are stored in."""
    var_names: str = "Gene"
    """Row attribute the gene names are stored in."""
    write_obsm_varm: bool = False
    """Also store ``obsm`` / ``varm`` matrices as 2-D column / row attributes."""


# ---------------------------------------------------------------------------------------- reading


def _open_loom(path: Path) -> h5py.File:
    import h5py

    if not is_hdf5(path):
        msg = f"cannot read {path} as loom: the file is not HDF5 (wrong suffix, or not a loom file)"
        raise InputDataError(msg)
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        msg = f"cannot read {path} as loom: {describe_error(err)}"
        raise InputDataError(msg) from None
    matrix = f.get("matrix")
    if not isinstance(matrix, h5py.Dataset) or matrix.ndim != 2:
        found = ", ".join(sorted(f.keys())) or "nothing"
        f.close()
        msg = f"{path} is not a loom file: it has no 2-D /matrix dataset (found: {found})"
        raise InputDataError(msg)
    return f


def _layer_datasets(f: h5py.File, path: Path) -> dict[str, h5py.Dataset]:
    """``{"": /matrix, name: /layers/name, …}``, each checked to have the shape of ``/matrix``."""
    import h5py

    layers = {"": f["matrix"]}
    group = f.get("layers")
    if isinstance(group, h5py.Group):
        layers |= {k: v for k, v in group.items() if isinstance(v, h5py.Dataset)}
    shape = f["matrix"].shape
    for name, ds in layers.items():
        if ds.shape != shape:
            msg = f"cannot read {path} as loom: layer {name!r} has shape {ds.shape}, /matrix has {shape}"
            raise InputDataError(msg)
    return layers


def _read_layer(ds: h5py.Dataset, *, sparse: bool, dtype: Any = None) -> Any:
    """A genes × cells dataset as a cells × genes matrix: CSR built in blocks of cells, or dense."""
    n_genes, n_cells = ds.shape
    dtype = np.dtype(dtype) if dtype is not None else ds.dtype
    if not sparse:
        return ds[()].T.astype(dtype, copy=False)
    step = ds.chunks[1] if ds.chunks else 64
    width = max(step, (_BLOCK_VALUES // max(n_genes, 1)) // step * step)
    blocks = [
        sp.csr_matrix(ds[:, start : start + width].T.astype(dtype, copy=False))
        for start in range(0, n_cells, width)
    ]
    if not blocks:
        return sp.csr_matrix((n_cells, n_genes), dtype=dtype)
    return sp.vstack(blocks, format="csr", dtype=dtype)


def _decode(values: np.ndarray) -> np.ndarray:
    """Text attributes as ``str`` objects: bytes decoded (UTF-8), XML entities unescaped as loompy does."""
    if values.dtype.kind == "S":
        text = np.char.decode(values, "utf-8", "replace")
    elif values.dtype.kind == "O":
        text = np.array(
            [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in values.ravel()],
            dtype=object,
        ).reshape(values.shape)
    elif values.dtype.kind == "U":
        text = values
    else:
        return values
    return np.array([html.unescape(str(v)) for v in text.ravel()], dtype=object).reshape(values.shape)


def _read_attrs(f: h5py.File, group_name: str, n: int, path: Path) -> dict[str, np.ndarray]:
    import h5py

    group = f.get(group_name)
    if not isinstance(group, h5py.Group):
        return {}
    attrs = {}
    for name, ds in group.items():
        if not isinstance(ds, h5py.Dataset):
            continue
        values = _decode(ds[()])
        if values.ndim == 0 or values.shape[0] != n:
            msg = f"cannot read {path} as loom: /{group_name}/{name} has {values.shape} values, expected {n}"
            raise InputDataError(msg)
        attrs[name] = values
    return attrs


def _axis(
    attrs: dict[str, np.ndarray], n: int, index_name: str, mapping: Mapping[str, Iterable[str]], where: str
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Split attributes into a DataFrame (1-D) and matrices (mapped, or 2-D with several columns)."""
    from scsnake._matrix import close_matches

    matrices = {}
    for key, names in mapping.items():
        names = list(names)
        missing = [name for name in names if name not in attrs]
        if missing:
            hint = close_matches(missing[0], attrs) or f" (available: {', '.join(attrs) or 'none'})"
            msg = f"read_loom: {where} attribute {missing[0]!r} (for {key!r}) not found{hint}"
            raise MissingKeyError(msg)
        matrices[key] = np.array([attrs.pop(name) for name in names]).T
    columns = {}
    for key, values in attrs.items():
        if values.ndim > 1 and values.shape[1] > 1:
            matrices[key] = values
        else:
            columns[key] = values.reshape(n)
    frame = pd.DataFrame(columns, index=pd.Index([str(i) for i in range(n)]))  # numbered names, as anndata
    if index_name in frame:
        frame = frame.set_index(index_name, drop=True)
    return frame, matrices


def _cleanup(frame: pd.DataFrame) -> dict[str, Any]:
    constant = {}
    for key in list(frame.columns):
        if len(frame[key].unique()) == 1:
            constant[key] = frame[key].iloc[0]
            del frame[key]
    return constant


@checked_reader
@validated(ReadLoomParams)
def read_loom(
    filename: str | PathLike[str],
    *,
    sparse: bool = True,
    cleanup: bool = False,
    X_name: str = "spliced",
    obs_names: str = "CellID",
    obsm_names: Mapping[str, Iterable[str]] | None = None,
    var_names: str = "Gene",
    varm_names: Mapping[str, Iterable[str]] | None = None,
    dtype: str = "float32",
    **kwargs: Any,
) -> AnnData:
    """Read a ``.loom`` file (as scanpy's ``read_loom``, with h5py instead of loompy).

    The file stores genes × cells; the result is its transpose. Sparse matrices are built
    block by block of cells, so the whole matrix is never held dense.

    Parameters
    ----------
    filename
        The file.
    sparse
        CSR matrices (True) or dense arrays.
    cleanup
        Move obs/var columns with a single value into ``uns['loom-obs']`` / ``uns['loom-var']``.
    X_name
        Layer that becomes ``X``; if the file has no such layer, ``/matrix`` does.
    obs_names, var_names
        Column / row attribute holding the cell / gene names (numbered names if absent).
    obsm_names, varm_names
        ``{key: [attribute, …]}``: attributes stacked into ``obsm[key]`` / ``varm[key]``.
    dtype
        Data type of ``X``.
    **kwargs
        ``validate`` and ``spec_version`` (options of ``loompy.connect``) are accepted and
        have no effect; anything else is an error.

    Returns
    -------
    AnnData with ``X``; ``layers[name]`` for every ``/layers/name`` (keeping its stored dtype,
    including the one read into ``X``) and ``layers['matrix']`` (``/matrix``) when ``X`` is a
    layer; ``obs`` / ``var`` from 1-D attributes; ``obsm`` / ``varm`` from mapped and
    multi-column attributes; ``uns['loom-obs']`` / ``uns['loom-var']`` with ``cleanup``.
    Text attributes are ``str``, whether stored as bytes or as UTF-8 strings.

    Examples
    --------
    >>> import tempfile, scsnake as ss
    >>> adata = ss.datasets.synthetic(n_cells=50, n_genes=200, seed=0)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     ss.io.write_loom(adata, f"{tmp}/demo.loom")
    ...     ss.io.read_loom(f"{tmp}/demo.loom").shape
    (50, 200)
    """
    unknown = sorted(set(kwargs) - _LOOMPY_OPTIONS)
    if unknown:
        msg = f"read_loom: unknown option(s) {', '.join(unknown)} (loompy options accepted and ignored: validate, spec_version)"
        raise ParamError(msg)
    path = Path(filename)
    check_exists(path)
    with _open_loom(path) as f:
        try:
            layers_ds = _layer_datasets(f, path)
            n_genes, n_cells = layers_ds[""].shape
            if X_name not in layers_ds:
                logger.info("%s has no layer %r: X is /matrix", path, X_name)
                X_name = ""
            X = _read_layer(layers_ds[X_name], sparse=sparse, dtype=dtype)
            layers = {}
            if X_name != "":
                layers["matrix"] = _read_layer(layers_ds[""], sparse=sparse)
            for name, ds in layers_ds.items():
                if name != "":
                    layers[name] = _read_layer(ds, sparse=sparse)
            col_attrs, row_attrs = (
                _read_attrs(f, "col_attrs", n_cells, path),
                _read_attrs(f, "row_attrs", n_genes, path),
            )
            obs, obsm = _axis(col_attrs, n_cells, obs_names, obsm_names or {}, "column")
            var, varm = _axis(row_attrs, n_genes, var_names, varm_names or {}, "row")
        except ScsnakeError:
            raise
        except (OSError, KeyError, ValueError, TypeError) as err:  # damaged datasets, unreadable values
            msg = f"cannot read {path} as loom: {describe_error(err)}"
            raise InputDataError(msg) from None
    uns: dict[str, Any] = {}
    if cleanup:
        for key, frame in (("loom-obs", obs), ("loom-var", var)):
            constant = _cleanup(frame)
            if constant:
                uns[key] = constant
    return AnnData(X, obs=obs, var=var, layers=layers, obsm=obsm or None, varm=varm or None, uns=uns)


# ---------------------------------------------------------------------------------------- writing


def _attr_values(values: Any) -> np.ndarray:
    """Values as an array h5py stores: text as UTF-8 strings, bools as uint8 (as loompy)."""
    if isinstance(values, pd.Series | pd.Index):
        if isinstance(values.dtype, pd.CategoricalDtype):
            values = values.astype(str)
        values = values.to_numpy()
    array = np.asarray(values)
    if array.dtype.kind == "b":
        return array.astype(np.uint8)
    if array.dtype.kind in ("i", "u", "f"):
        return array
    if array.dtype.kind == "S":
        array = np.char.decode(array, "utf-8", "replace")
    return np.array([str(v) for v in array.ravel()], dtype=object).reshape(array.shape)


def _write_attr(group: h5py.Group, name: str, values: Any) -> None:
    import h5py

    array = _attr_values(values)
    dtype = h5py.string_dtype("utf-8") if array.dtype == object else array.dtype
    options = {"compression": "gzip", "compression_opts": 2} if array.size else {}
    group.create_dataset(name, data=array, dtype=dtype, **options)


def _write_matrix(group: h5py.Group, name: str, x: Any) -> None:
    """A cells × genes matrix stored genes × cells, in blocks of cells (sparse blocks densified one at a time)."""
    x = x if is_sparse(x) or isinstance(x, np.ndarray) else np.asarray(x)
    if x.dtype.kind == "b":  # as loompy: no boolean matrices
        x = x.astype(np.uint8)
    n_cells, n_genes = x.shape
    options: dict[str, Any] = {}
    if n_genes and n_cells:  # HDF5 cannot chunk (or compress) an empty dataset
        options = {
            "chunks": (min(64, n_genes), min(64, n_cells)),
            "compression": "gzip",
            "compression_opts": 2,
        }
    ds = group.create_dataset(name, shape=(n_genes, n_cells), dtype=x.dtype, **options)
    if is_sparse(x):
        x = x.tocsr()
    width = max(64, (_BLOCK_VALUES // max(n_genes, 1)) // 64 * 64)
    for start in range(0, n_cells, width):
        block = x[start : start + width]
        ds[:, start : start + width] = (block.toarray() if is_sparse(block) else np.asarray(block)).T


def _check_writable(adata: AnnData, path: Path, obs_names: str, var_names: str) -> None:
    matrices = {"X": adata.X} | {f"layers[{k!r}]": v for k, v in named_layers(adata).items()}
    for label, x in matrices.items():
        if np.dtype(x.dtype).kind not in ("b", "i", "u", "f"):
            msg = f"cannot write {path}: loom files store only numeric matrices; {label} has dtype {x.dtype}"
            raise InputDataError(msg)
    for label, frame, index_name in (("obs", adata.obs, obs_names), ("var", adata.var, var_names)):
        if index_name in frame.columns:
            msg = f"write_loom: {label} has a column {index_name!r}, the attribute the {label} names go to; pass {label}_names= another name"
            raise ParamError(msg)
    keys = [
        *adata.obs.columns,
        *adata.var.columns,
        *named_layers(adata),
        *adata.obsm.keys(),
        *adata.varm.keys(),
    ]
    bad = [k for k in keys if "/" in str(k)]
    if bad:
        msg = f"write_loom: names may not contain '/' in loom (HDF5) files: {bad[:5]}"
        raise ParamError(msg)


@validated(WriteLoomParams)
def write_loom(
    adata: AnnData,
    filename: str | PathLike[str],
    *,
    obs_names: str = "CellID",
    var_names: str = "Gene",
    write_obsm_varm: bool = False,
) -> None:
    """Write ``adata`` as a loom file (spec 3.0.0) atomically; :func:`read_loom` reads it back.

    ``X`` goes to ``/matrix``, each layer to ``/layers/<name>`` (genes × cells), ``var`` and
    ``obs`` columns to ``/row_attrs`` and ``/col_attrs`` (text as UTF-8 strings, categories as
    their labels, bools as uint8). The file is written to a temporary sibling that replaces
    ``filename`` only once complete.

    Parameters
    ----------
    adata
        The data; ``X`` must be set and numeric.
    filename
        The target file.
    obs_names, var_names
        Attributes the cell / gene names are stored in.
    write_obsm_varm
        Also store ``obsm`` / ``varm`` matrices as 2-D attributes (read back into ``obsm`` /
        ``varm`` when they have several columns).

    Returns
    -------
    None; the file at ``filename``.
    """
    import h5py

    from ._write import staged_write

    path = Path(filename)
    if adata.X is None:
        msg = f"cannot write {path}: adata.X is empty; loom files need a main matrix"
        raise InputDataError(msg)
    if not path.parent.is_dir():
        msg = f"cannot write {path}: the directory {path.parent} does not exist"
        raise InputDataError(msg)
    _check_writable(adata, path, obs_names, var_names)
    try:
        with staged_write(path, path.suffix) as tmp, h5py.File(tmp, "w") as f:
            for group in ("attrs", "layers", "row_attrs", "col_attrs", "row_graphs", "col_graphs"):
                f.create_group(group)
            f["attrs"].create_dataset(
                "LOOM_SPEC_VERSION", data=_SPEC_VERSION, dtype=h5py.string_dtype("utf-8")
            )
            _write_matrix(f, "matrix", adata.X)
            for name, layer in named_layers(adata).items():
                _write_matrix(f["layers"], name, layer)
            for group, frame, index_name, matrices in (
                ("row_attrs", adata.var, var_names, adata.varm),
                ("col_attrs", adata.obs, obs_names, adata.obsm),
            ):
                _write_attr(f[group], index_name, frame.index)
                for column in frame.columns:
                    _write_attr(f[group], str(column), frame[column])
                if write_obsm_varm:
                    for key, value in matrices.items():
                        dense = value.toarray() if is_sparse(value) else np.asarray(value)
                        _write_attr(f[group], key, dense)
    except ScsnakeError:
        raise
    except (OSError, ValueError, TypeError) as err:
        msg = f"cannot write {path}: {describe_error(err)}"
        raise InputDataError(msg) from None
    logger.info("wrote %s", path)
