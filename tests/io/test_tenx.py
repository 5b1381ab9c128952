"""Cell Ranger readers: mtx directories (v2/v3, gzipped or not) and h5 files (v2 genomes, v3 features)."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from scipy import io as spio
from scipy import sparse

from scsnake.errors import InputDataError, ParamError
from scsnake.io import read, read_10x_h5, read_10x_mtx

# 4 cells × 5 features (rows of the file are features): the matrix 10x writes is its transpose.
COUNTS = np.array([[1, 0, 3, 0, 7], [0, 2, 0, 0, 1], [4, 0, 0, 5, 0], [0, 0, 6, 0, 2]], dtype=np.int64)
BARCODES = ["AAAC-1", "AAAG-1", "AACT-1", "AAGG-1"]
IDS = ["ENSG1", "ENSG2", "ENSG3", "ENSG4", "AB1"]
SYMBOLS = ["CD3E", "MS4A1", "CD3E", "LYZ", "CD3_TotalSeqB"]
TYPES = ["Gene Expression"] * 4 + ["Antibody Capture"]


def _open(path: Path, gz: bool):
    return gzip.open(path, "wt") if gz else path.open("w")


def _write_mtx_dir(directory: Path, *, v3: bool = True, gz: bool = True, prefix: str = "") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    matrix = directory / f"{prefix}matrix.mtx"
    spio.mmwrite(matrix, sparse.coo_matrix(COUNTS.T), field="integer")
    if gz:
        with matrix.open("rb") as src, gzip.open(f"{matrix}.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
        matrix.unlink()
    name = f"{prefix}features.tsv{suffix}" if v3 else f"{prefix}genes.tsv"
    with _open(directory / name, gz and v3) as f:
        for i, s, t in zip(IDS, SYMBOLS, TYPES, strict=True):
            f.write(f"{i}\t{s}\t{t}\n" if v3 else f"{i}\t{s}\n")
    with _open(directory / f"{prefix}barcodes.tsv{suffix if v3 else ''}", gz and v3) as f:
        f.write("\n".join(BARCODES) + "\n")
    return directory


@pytest.mark.parametrize("gz", [True, False])
def test_v3_directory(tmp_path: Path, gz: bool) -> None:
    adata = read_10x_mtx(_write_mtx_dir(tmp_path / "m", gz=gz))
    assert adata.obs_names.tolist() == BARCODES
    assert adata.var_names.tolist() == ["CD3E", "MS4A1", "CD3E-1", "LYZ"]  # antibody dropped, unique
    assert adata.var.columns.tolist() == ["gene_ids", "feature_types"]
    assert adata.var["gene_ids"].tolist() == IDS[:4]
    assert sparse.isspmatrix_csr(adata.X) and adata.X.dtype == np.float32
    np.testing.assert_array_equal(adata.X.toarray(), COUNTS[:, :4])


def test_v3_keeps_every_feature_type_when_asked(tmp_path: Path) -> None:
    adata = read_10x_mtx(_write_mtx_dir(tmp_path / "m"), gex_only=False)
    assert adata.var["feature_types"].tolist() == TYPES
    np.testing.assert_array_equal(adata.X.toarray(), COUNTS)


def test_v2_directory_has_no_feature_types(tmp_path: Path) -> None:
    adata = read_10x_mtx(_write_mtx_dir(tmp_path / "m", v3=False, gz=False))
    assert adata.var.columns.tolist() == ["gene_ids"]
    assert adata.n_vars == 5  # v2 has no feature types: nothing is filtered
    np.testing.assert_array_equal(adata.X.toarray(), COUNTS)


def test_gene_ids_as_var_names_and_no_make_unique(tmp_path: Path) -> None:
    directory = _write_mtx_dir(tmp_path / "m")
    by_id = read_10x_mtx(directory, var_names="gene_ids")
    assert by_id.var_names.tolist() == IDS[:4]
    assert by_id.var["gene_symbols"].tolist() == SYMBOLS[:4]
    with pytest.warns(UserWarning, match="not unique"):
        duplicated = read_10x_mtx(directory, make_unique=False)
    assert duplicated.var_names.tolist() == SYMBOLS[:4]


def test_prefix(tmp_path: Path) -> None:
    adata = read_10x_mtx(_write_mtx_dir(tmp_path / "m", prefix="patientA_"), prefix="patientA_")
    assert adata.shape == (4, 4)
    with pytest.raises(InputDataError, match=r"patientB_matrix\.mtx"):
        read_10x_mtx(tmp_path / "m", prefix="patientB_")


def test_read_detects_mtx_directory(tmp_path: Path) -> None:
    adata = read(_write_mtx_dir(tmp_path / "m"), gex_only=False)
    assert adata.shape == (4, 5)


def test_int_gene_ids_stay_text(shared_data: Path) -> None:
    adata = read_10x_mtx(shared_data / "10x" / "int-ids", var_names="gene_ids")
    assert adata.var_names.tolist()[:2] == ["574405", "574404"]
    assert adata.var["gene_symbols"].tolist()[:2] == ["Pwwp4b", "Pwwp4a"]
    by_symbol = read_10x_mtx(shared_data / "10x" / "int-ids")
    assert pd.api.types.is_string_dtype(by_symbol.var["gene_ids"])  # object, or str on pandas 3
    assert by_symbol.var["gene_ids"].iloc[0] == "574405"


@pytest.mark.parametrize(
    ("sub", "shape"),
    [
        ("1.2.0/filtered_gene_bc_matrices/hg19_chr21", (12, 343)),
        ("3.0.0/filtered_feature_bc_matrix", (1107, 507)),
    ],
)
def test_shared_directories(shared_data: Path, sub: str, shape: tuple[int, int]) -> None:
    adata = read_10x_mtx(shared_data / "10x" / sub)
    assert adata.shape == shape
    assert adata.var_names.is_unique
    assert adata.X.dtype == np.float32 and adata.X.has_sorted_indices


def test_mismatched_features_file(tmp_path: Path) -> None:
    directory = _write_mtx_dir(tmp_path / "m", gz=False)
    (directory / "features.tsv").write_text("ENSG1\tA\tGene Expression\n")
    with pytest.raises(InputDataError, match=r"5 features × 4 barcodes, but features.tsv has 1 rows"):
        read_10x_mtx(directory)


def test_empty_matrix_file(tmp_path: Path) -> None:
    directory = _write_mtx_dir(tmp_path / "m", gz=False)
    (directory / "matrix.mtx").write_text("")
    with pytest.raises(InputDataError, match=r"cannot read .*matrix.mtx as mtx"):
        read_10x_mtx(directory)


def test_missing_barcodes(tmp_path: Path) -> None:
    directory = _write_mtx_dir(tmp_path / "m", gz=False)
    (directory / "barcodes.tsv").unlink()
    with pytest.raises(InputDataError, match=r"not a 10x mtx directory.*found: features.tsv, matrix.mtx"):
        read_10x_mtx(directory)


def test_mtx_directory_errors(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match="input not found"):
        read_10x_mtx(tmp_path / "missing")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(InputDataError, match="needs a directory"):
        read_10x_mtx(tmp_path / "file.txt")
    with pytest.raises(ParamError, match="var_names"):
        read_10x_mtx(tmp_path, var_names="symbols")


# --- h5 ------------------------------------------------------------------------------------


UNIQUE = ["CD3E", "MS4A1", "CD8A", "LYZ", "CD3_TotalSeqB"]


def _write_v3_h5(
    path: Path, *, genomes: tuple[str, ...] = ("GRCh38",) * 5, names: list[str] = UNIQUE
) -> Path:
    csc = sparse.csc_matrix(COUNTS.T.astype(np.int32))  # features × cells, CSC = cells' CSR
    with h5py.File(path, "w") as f:
        m = f.create_group("matrix")
        m["barcodes"] = np.array(BARCODES, dtype="S")
        m["data"] = csc.data
        m["indices"] = csc.indices.astype(np.int64)
        m["indptr"] = csc.indptr.astype(np.int64)
        m["shape"] = np.array(csc.shape, dtype=np.int32)
        feats = m.create_group("features")
        feats["id"] = np.array(IDS, dtype="S")
        feats["name"] = np.array(names, dtype="S")
        feats["feature_type"] = np.array(TYPES, dtype="S")
        feats["genome"] = np.array(genomes, dtype="S")
        feats["_all_tag_keys"] = np.array(["genome"], dtype="S")
    return path


def _write_v2_h5(path: Path, genomes: tuple[str, ...]) -> Path:
    csc = sparse.csc_matrix(COUNTS.T.astype(np.int32))
    with h5py.File(path, "w") as f:
        for k, genome in enumerate(genomes):
            g = f.create_group(genome)
            g["barcodes"] = np.array(BARCODES, dtype="S")
            g["data"] = csc.data + k
            g["indices"] = csc.indices
            g["indptr"] = csc.indptr
            g["shape"] = np.array(csc.shape, dtype=np.int32)
            g["genes"] = np.array(IDS, dtype="S")
            g["gene_names"] = np.array([f"{s}_{genome}" for s in UNIQUE], dtype="S")
    return path


def test_v3_h5(tmp_path: Path) -> None:
    adata = read_10x_h5(_write_v3_h5(tmp_path / "x.h5"))
    assert adata.var.columns.tolist() == ["gene_ids", "feature_types", "genome"]
    assert adata.var_names.tolist() == UNIQUE[:4]
    assert adata.obs_names.tolist() == BARCODES
    np.testing.assert_array_equal(adata.X.toarray(), COUNTS[:, :4])
    assert sparse.isspmatrix_csr(adata.X) and adata.X.dtype == np.float32
    everything = read_10x_h5(tmp_path / "x.h5", gex_only=False)
    np.testing.assert_array_equal(everything.X.toarray(), COUNTS)


def test_h5_names_are_not_made_unique(tmp_path: Path) -> None:
    path = _write_v3_h5(tmp_path / "x.h5", names=SYMBOLS)
    with pytest.warns(UserWarning, match="not unique"):  # like scanpy: make them unique later
        adata = read_10x_h5(path)
    assert adata.var_names.tolist() == SYMBOLS[:4]


def test_v3_h5_genome_filter(tmp_path: Path) -> None:
    path = _write_v3_h5(tmp_path / "x.h5", genomes=("hg", "hg", "mm", "mm", "hg"))
    mouse = read_10x_h5(path, genome="mm")
    assert mouse.var["gene_ids"].tolist() == ["ENSG3", "ENSG4"]
    with pytest.raises(InputDataError, match=r"genome 'rat' not found .*available: hg, mm"):
        read_10x_h5(path, genome="rat")


def test_v2_h5_genomes(tmp_path: Path) -> None:
    one = read_10x_h5(_write_v2_h5(tmp_path / "one.h5", ("hg19",)))
    assert one.var.columns.tolist() == ["gene_ids"] and one.n_vars == 5
    two = _write_v2_h5(tmp_path / "two.h5", ("hg19", "mm10"))
    with pytest.raises(InputDataError, match=r"several genomes; pass genome= one of \['hg19', 'mm10'\]"):
        read_10x_h5(two)
    mouse = read_10x_h5(two, genome="mm10")
    assert mouse.var_names[0] == "CD3E_mm10"
    np.testing.assert_array_equal(mouse.X.toarray(), np.where(COUNTS > 0, COUNTS + 1, 0))
    with pytest.raises(InputDataError, match="genome 'rat' not found"):
        read_10x_h5(two, genome="rat")


def test_shared_h5(shared_data: Path) -> None:
    v2 = read_10x_h5(shared_data / "10x" / "1.2.0" / "filtered_gene_bc_matrices_h5.h5")
    v3 = read_10x_h5(shared_data / "10x" / "3.0.0" / "filtered_feature_bc_matrix.h5")
    assert v2.shape == (12, 343) and v3.shape == (1107, 507)
    mtx = read_10x_mtx(shared_data / "10x" / "3.0.0" / "filtered_feature_bc_matrix")
    assert (v3.X != mtx.X).nnz == 0 and (v3.obs_names == mtx.obs_names).all()


def test_truncated_h5(tmp_path: Path) -> None:
    path = _write_v3_h5(tmp_path / "x.h5")
    with path.open("r+b") as f:
        f.truncate(path.stat().st_size // 2)
    with pytest.raises(InputDataError, match=r"cannot read .*x.h5 as 10x_h5: OSError"):
        read_10x_h5(path)


def test_h5_missing_dataset(tmp_path: Path) -> None:
    path = _write_v3_h5(tmp_path / "x.h5")
    with h5py.File(path, "a") as f:
        del f["matrix/indptr"]
    with pytest.raises(InputDataError, match=r"dataset Cell Ranger writes is missing .*indptr"):
        read_10x_h5(path)


def test_h5_that_is_not_hdf5(tmp_path: Path) -> None:
    (tmp_path / "x.h5").write_text("barcode,count\n")
    with pytest.raises(InputDataError, match=r"cannot read .*x.h5 as 10x_h5"):
        read(tmp_path / "x.h5")
