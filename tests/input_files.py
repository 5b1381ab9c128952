"""Write a count matrix as a sample input in every format ``load`` reads (importable from tests)."""

from __future__ import annotations

import gzip
import shutil
import warnings
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
from scipy import io as spio
from scipy import sparse

import scsnake as ss

__all__ = ["INPUT_NAMES", "write_10x_h5", "write_10x_mtx", "write_input"]

#: A file or directory name for each format (``auto`` detects the format from it).
INPUT_NAMES = {
    "h5ad": "s.h5ad",
    "zarr": "s.zarr",
    "10x_h5": "s.h5",
    "10x_mtx": "filtered_feature_bc_matrix",
    "10x_mtx_v2": "filtered_gene_bc_matrices",
    "csv": "s.csv",
    "csv.gz": "s.csv.gz",
    "tsv": "s.tsv",
    "txt": "s.txt",
    "mtx": "s.mtx",
    "mtx.gz": "s.mtx.gz",
    "loom": "s.loom",
}


def write_10x_mtx(directory: Path, adata: ad.AnnData, *, gzipped: bool = True) -> Path:
    """A Cell Ranger mtx directory: v3 (gzipped, ``features.tsv.gz``) or v2 (plain, ``genes.tsv``)."""
    directory.mkdir(parents=True)
    matrix = sparse.coo_matrix(sparse.csr_matrix(adata.X).T).astype(np.int64)
    spio.mmwrite(directory / "matrix.mtx", matrix, field="integer")
    names = adata.var_names
    if gzipped:
        _gzip(directory / "matrix.mtx")
        with gzip.open(directory / "features.tsv.gz", "wt") as f:
            f.writelines(f"ENSG{j}\t{n}\tGene Expression\n" for j, n in enumerate(names))
        with gzip.open(directory / "barcodes.tsv.gz", "wt") as f:
            f.writelines(f"{b}\n" for b in adata.obs_names)
    else:
        (directory / "genes.tsv").write_text("".join(f"ENSG{j}\t{n}\n" for j, n in enumerate(names)))
        (directory / "barcodes.tsv").write_text("".join(f"{b}\n" for b in adata.obs_names))
    return directory


def write_10x_h5(path: Path, adata: ad.AnnData) -> Path:
    """A Cell Ranger 3+ ``.h5`` (CSC features × cells and a features group)."""
    csc = sparse.csc_matrix(sparse.csr_matrix(adata.X).T).astype(np.int32)
    with h5py.File(path, "w") as f:
        m = f.create_group("matrix")
        m["barcodes"] = np.array(adata.obs_names, dtype="S")
        m["data"], m["indices"], m["indptr"] = (
            csc.data,
            csc.indices.astype(np.int64),
            csc.indptr.astype(np.int64),
        )
        m["shape"] = np.array(csc.shape, dtype=np.int32)
        features = m.create_group("features")
        features["id"] = np.array([f"ENSG{j}" for j in range(adata.n_vars)], dtype="S")
        features["name"] = np.array(adata.var_names, dtype="S")
        features["feature_type"] = np.array(["Gene Expression"] * adata.n_vars, dtype="S")
        features["genome"] = np.array(["GRCh38"] * adata.n_vars, dtype="S")
    return path


def _gzip(path: Path) -> Path:
    with path.open("rb") as src, gzip.open(f"{path}.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    path.unlink()
    return Path(f"{path}.gz")


def write_input(adata: ad.AnnData, directory: Path, fmt: str) -> Path:
    """``adata`` written into ``directory`` as ``fmt`` (a key of :data:`INPUT_NAMES`); its path."""
    path = directory / INPUT_NAMES[fmt]
    if fmt in ("h5ad", "zarr"):
        with warnings.catch_warnings():  # anndata 0.13 deprecates a zarr setting the writer reads
            warnings.simplefilter("ignore", DeprecationWarning)
            ss.io.write(adata, path)
    elif fmt == "10x_h5":
        write_10x_h5(path, adata)
    elif fmt.startswith("10x_mtx"):
        write_10x_mtx(path, adata, gzipped=fmt == "10x_mtx")
    elif fmt == "loom":
        ss.io.write_loom(adata, path)
    elif fmt.startswith("mtx"):
        spio.mmwrite(directory / "s.mtx", sparse.coo_matrix(adata.X), field="integer")
        if fmt == "mtx.gz":
            _gzip(directory / "s.mtx")
    else:
        sep = {"tsv": "\t", "txt": " "}.get(fmt, ",")
        frame = pd.DataFrame(
            np.asarray(sparse.csr_matrix(adata.X).todense()), index=adata.obs_names, columns=adata.var_names
        )
        frame.to_csv(path, sep=sep, compression="infer")
    return path
