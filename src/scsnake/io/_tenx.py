"""Cell Ranger outputs: mtx directories (v2 ``genes.tsv``, v3 ``features.tsv.gz``) and h5 files."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

from scsnake._params import StageParams, validated
from scsnake.errors import InputDataError

from ._formats import check_exists, checked_reader, describe_error, mtx_files, sparse_problem

if TYPE_CHECKING:
    from os import PathLike

    import h5py

__all__ = ["Read10xH5Params", "Read10xMtxParams", "read_10x_h5", "read_10x_mtx", "read_mtx"]

logger = logging.getLogger(__name__)

_GEX = "Gene Expression"
#: v3 feature datasets that are not copied into ``var`` as extra columns (scanpy's list).
_V3_SKIPPED = frozenset({"name", "feature_type", "id", "gene_id", "_all_tag_keys"})


class Read10xMtxParams(StageParams):
    """Parameters of :func:`read_10x_mtx`."""

    path: Path
    """Directory holding ``matrix.mtx[.gz]``, ``genes.tsv``/``features.tsv[.gz]`` and ``barcodes.tsv[.gz]``."""
    var_names: Literal["gene_symbols", "gene_ids"] = "gene_symbols"
    """Which column of the features file becomes ``var_names``."""
    make_unique: bool = True
    """Make duplicated gene symbols unique with ``-1``, ``-2`` suffixes (symbols only, like scanpy)."""
    gex_only: bool = True
    """Keep only 'Gene Expression' features (Cell Ranger 3+ directories)."""
    prefix: str | None = None
    """Text before every file name, e.g. ``sampleA_`` for ``sampleA_matrix.mtx.gz``."""


class Read10xH5Params(StageParams):
    """Parameters of :func:`read_10x_h5`."""

    path: Path
    """A Cell Ranger ``.h5`` file (v2 genome groups or v3 ``/matrix``)."""
    genome: str | None = None
    """Keep only the features of this genome; required for a v2 file with several genomes."""
    gex_only: bool = True
    """Keep only 'Gene Expression' features (v3 files)."""


def _mmread(path: Path) -> sparse.coo_matrix:
    """The matrix in a Matrix Market file as COO (scipy's multithreaded C++ parser reads ``.gz`` too)."""
    from scipy.io import mmread

    try:
        matrix = mmread(str(path), spmatrix=True)  # scipy 1.18 warns that the default changes
    except (OSError, ValueError, EOFError, IndexError, RuntimeError) as err:
        msg = f"cannot read {path} as mtx (Matrix Market): {describe_error(err)}"
        raise InputDataError(msg) from None
    if isinstance(matrix, np.ndarray):
        return sparse.coo_matrix(matrix)
    return matrix


def _csr(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, shape: tuple[int, int]) -> sparse.csr_matrix:
    x = sparse.csr_matrix((values.astype(np.float32, copy=False), (rows, cols)), shape=shape)
    x.sort_indices()
    return x


def read_mtx(path: str | PathLike[str]) -> AnnData:
    """Read one ``.mtx[.gz]`` file as it is (rows are cells): CSR float32, names ``"0"``, ``"1"``…

    Returns
    -------
    AnnData with ``X`` and integer-string ``obs_names`` / ``var_names``.
    """
    path = Path(path)
    check_exists(path)
    coo = _mmread(path)
    x = _csr(coo.row, coo.col, coo.data, coo.shape)
    return AnnData(x)


def _read_table(path: Path, what: str) -> pd.DataFrame:
    """A headerless tab-separated file (gzipped or not) as strings; integer ids stay text."""
    try:
        return pd.read_csv(path, sep="\t", header=None, dtype=str, keep_default_na=False, compression="infer")
    except (OSError, ValueError, EOFError, UnicodeDecodeError, pd.errors.ParserError) as err:
        msg = f"cannot read the {what} file {path}: {describe_error(err)}"
        raise InputDataError(msg) from None


def tenx_mtx_files(path: Path, prefix: str = "") -> dict[str, Path]:
    """The matrix, features and barcodes files of the 10x mtx directory ``path``.

    Raises :class:`InputDataError` listing what the directory holds when one is missing.
    """
    files = mtx_files(path, prefix)
    if files is None or files["features"] is None or files["barcodes"] is None:
        present = ", ".join(sorted(p.name for p in path.iterdir())) or "nothing"
        msg = (
            f"{path} is not a 10x mtx directory: expected {prefix}matrix.mtx[.gz], {prefix}genes.tsv or "
            f"{prefix}features.tsv[.gz] and {prefix}barcodes.tsv[.gz] (found: {present})"
        )
        raise InputDataError(msg)
    return files


@checked_reader
@validated(Read10xMtxParams)
def read_10x_mtx(
    path: str | PathLike[str],
    *,
    var_names: Literal["gene_symbols", "gene_ids"] = "gene_symbols",
    make_unique: bool = True,
    gex_only: bool = True,
    prefix: str | None = None,
) -> AnnData:
    """Read a Cell Ranger mtx directory (v2 ``genes.tsv`` or v3 ``features.tsv.gz``).

    Like :func:`scanpy.read_10x_mtx`, except that every file may be gzipped or not,
    integer gene ids stay text, and ``X`` is CSR.

    Parameters
    ----------
    path
        The directory.
    var_names
        ``gene_symbols`` (column 2 of the features file) or ``gene_ids`` (column 1).
    make_unique
        Make duplicated symbols unique (``-1``, ``-2`` …); ignored for ``gene_ids``.
    gex_only
        Keep only 'Gene Expression' features (v3).
    prefix
        Text before every file name.

    Returns
    -------
    AnnData with ``X`` (CSR float32 counts, cells × genes), ``obs_names`` (barcodes),
    ``var_names`` and ``var['gene_ids']`` (or ``var['gene_symbols']``) plus
    ``var['feature_types']`` for v3 directories.

    Examples
    --------
    >>> read_10x_mtx("/no/such/dir")
    Traceback (most recent call last):
    ...
    scsnake.errors.InputDataError: input not found: /no/such/dir (its directory /no/such does not exist either)
    """
    path = Path(path)
    check_exists(path)
    if not path.is_dir():
        msg = f"read_10x_mtx needs a directory, but {path} is a file; use read() for a single .mtx file"
        raise InputDataError(msg)
    prefix = prefix or ""
    files = tenx_mtx_files(path, prefix)
    is_legacy = files["features"].name.startswith(f"{prefix}genes.tsv")
    coo = _mmread(files["matrix"])
    genes = _read_table(files["features"], "features")
    barcodes = _read_table(files["barcodes"], "barcodes")
    n_genes, n_cells = coo.shape
    if len(genes) != n_genes or len(barcodes) != n_cells:
        msg = (
            f"{path}: {files['matrix'].name} is {n_genes} features × {n_cells} barcodes, but "
            f"{files['features'].name} has {len(genes)} rows and {files['barcodes'].name} has {len(barcodes)}"
        )
        raise InputDataError(msg)
    x = _csr(coo.col, coo.row, coo.data, (n_cells, n_genes))  # 10x stores genes × cells
    ids = genes[0].to_numpy()
    symbols = genes[1].to_numpy() if genes.shape[1] > 1 else ids
    var = pd.DataFrame(index=pd.Index(symbols if var_names == "gene_symbols" else ids))
    if var_names == "gene_symbols":
        if make_unique:
            from anndata.utils import make_index_unique

            var.index = make_index_unique(var.index)
        var["gene_ids"] = ids
    else:
        var["gene_symbols"] = symbols
    has_types = not is_legacy and genes.shape[1] > 2
    if has_types:
        var["feature_types"] = genes[2].to_numpy()
    obs = pd.DataFrame(index=pd.Index(barcodes[0].to_numpy()))
    adata = AnnData(x, obs=obs, var=var)
    if has_types and gex_only:
        adata = adata[:, adata.var["feature_types"].to_numpy() == _GEX].copy()
    return adata


def _collect(group: h5py.Group, into: dict[str, Any]) -> None:
    """Every dataset below ``group`` by its own name (scanpy's flattening of the 10x layout)."""
    import h5py

    for key, item in group.items():
        if isinstance(item, h5py.Dataset):
            into[key] = item[()]
        else:
            _collect(item, into)


def _text(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind == "S":
        return np.char.decode(values, "utf-8")
    return values.astype(str)


def _matrix(d: dict[str, Any]) -> sparse.csr_matrix:
    """The cells × genes CSR matrix (the CSC genes × cells matrix that 10x stores, reinterpreted)."""
    n_genes, n_cells = (int(n) for n in d["shape"])
    data = d["data"]
    if data.dtype.kind in "iub":
        data = data.astype(np.float32)
    x = sparse.csr_matrix((data, d["indices"], d["indptr"]), shape=(n_cells, n_genes))
    problem = sparse_problem(x)  # before any subsetting could hide it
    if problem is not None:
        msg = f"the matrix is damaged ({problem})"
        raise ValueError(msg)
    return x


def _read_v3(f: h5py.File) -> AnnData:
    import h5py

    d: dict[str, Any] = {}
    _collect(f["matrix"], d)
    if "features" not in f["matrix"]:
        msg = "10x h5 has no /matrix/features group"
        raise KeyError(msg)
    var: dict[str, Any] = {}
    if "gene_id" in d:  # probe-barcode matrix
        var["gene_ids"] = _text(d["gene_id"])
        var["probe_ids"] = _text(d["id"])
    else:
        var["gene_ids"] = _text(d["id"])
    var["feature_types"] = _text(d["feature_type"])
    for key, item in f["matrix"]["features"].items():
        if isinstance(item, h5py.Dataset) and key not in _V3_SKIPPED:
            var[key] = d[key].astype(bool) if item.dtype.kind == "b" else _text(d[key])
    obs: dict[str, Any] = {}
    if "filtered_barcodes" in f["matrix"]:
        obs["filtered_barcodes"] = d["filtered_barcodes"].astype(bool)
    return AnnData(
        _matrix(d),
        obs=pd.DataFrame(obs, index=pd.Index(_text(d["barcodes"]))),
        var=pd.DataFrame(var, index=pd.Index(_text(d["name"]))),
    )


def _read_legacy(f: h5py.File, genome: str | None, path: Path) -> AnnData:
    genomes = list(f.keys())
    if not genome:
        if len(genomes) > 1:
            msg = f"{path} holds several genomes; pass genome= one of {genomes}"
            raise InputDataError(msg)
        genome = genomes[0]
    elif genome not in genomes:
        msg = f"genome {genome!r} not found in {path} (available: {', '.join(genomes)})"
        raise InputDataError(msg)
    d: dict[str, Any] = {}
    _collect(f[genome], d)
    return AnnData(
        _matrix(d),
        obs=pd.DataFrame(index=pd.Index(_text(d["barcodes"]))),
        var=pd.DataFrame({"gene_ids": _text(d["genes"])}, index=pd.Index(_text(d["gene_names"]))),
    )


@checked_reader
@validated(Read10xH5Params)
def read_10x_h5(path: str | PathLike[str], *, genome: str | None = None, gex_only: bool = True) -> AnnData:
    """Read a Cell Ranger h5 file: v2 (one group per genome) or v3+ (``/matrix`` with feature types).

    Same result as :func:`scanpy.read_10x_h5`.

    Parameters
    ----------
    path
        The ``.h5`` file.
    genome
        Keep this genome only; a v2 file with several genomes needs it.
    gex_only
        Keep only 'Gene Expression' features (v3).

    Returns
    -------
    AnnData with ``X`` (CSR float32 counts), ``obs_names`` (barcodes), ``var_names``
    (gene names), ``var['gene_ids']``; for v3 also ``var['feature_types']``, ``var['genome']``
    and any other feature metadata, and ``obs['filtered_barcodes']`` when present.
    """
    import h5py

    path = Path(path)
    check_exists(path)
    try:
        with h5py.File(path, "r") as f:
            is_v3 = "matrix" in f
            adata = _read_v3(f) if is_v3 else _read_legacy(f, genome, path)
    except InputDataError:
        raise
    except KeyError as err:
        msg = f"cannot read {path} as 10x_h5: a dataset Cell Ranger writes is missing ({describe_error(err)})"
        raise InputDataError(msg) from None
    except (OSError, ValueError, TypeError) as err:
        msg = f"cannot read {path} as 10x_h5: {describe_error(err)}"
        raise InputDataError(msg) from None
    if not is_v3:
        return adata
    if genome:
        available = list(pd.unique(adata.var["genome"])) if "genome" in adata.var.columns else []
        if genome not in available:
            msg = f"genome {genome!r} not found in {path} (available: {', '.join(map(str, available)) or 'none'})"
            raise InputDataError(msg)
        adata = adata[:, adata.var["genome"].to_numpy() == genome]
    if gex_only:
        adata = adata[:, adata.var["feature_types"].to_numpy() == _GEX]
    return adata.copy() if adata.is_view else adata
