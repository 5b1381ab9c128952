"""read(): format detection, h5ad / zarr / text / mtx readers and their error messages."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import anndata as ad
import numpy as np
import pytest
from scipy import io as spio
from scipy import sparse

from factories import make_counts
from scsnake.errors import InputDataError, ParamError
from scsnake.io import read, read_csv, read_h5ad, read_zarr, write
from scsnake.io._formats import detect_format
from scsnake.io._zarr import WRITE_FORMAT


def _same(a: ad.AnnData, b: ad.AnnData) -> None:
    assert a.shape == b.shape
    assert (a.obs_names == b.obs_names).all() and (a.var_names == b.var_names).all()
    xa = a.X.toarray() if sparse.issparse(a.X) else np.asarray(a.X)
    xb = b.X.toarray() if sparse.issparse(b.X) else np.asarray(b.X)
    np.testing.assert_array_equal(xa, xb)


# --- detection -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("a.h5ad", "h5ad"),
        ("a.csv", "csv"),
        ("a.csv.gz", "csv"),
        ("a.tsv", "tsv"),
        ("a.tab", "tsv"),
        ("a.txt.gz", "txt"),
        ("a.mtx", "mtx"),
        ("a.mtx.gz", "mtx"),
        ("a.zarr.zip", "zarr"),
        ("A.H5AD", "h5ad"),
    ],
)
def test_detect_by_suffix(tmp_path: Path, name: str, fmt: str) -> None:
    (tmp_path / name).write_text("")
    assert detect_format(tmp_path / name) == fmt


def test_detect_h5_by_content(tmp_path: Path) -> None:
    make_counts().write_h5ad(tmp_path / "anndata.h5")
    assert detect_format(tmp_path / "anndata.h5") == "h5ad"
    (tmp_path / "tenx.h5").write_bytes(b"not hdf5")
    assert detect_format(tmp_path / "tenx.h5") == "10x_h5"


def test_detect_directories(tmp_path: Path) -> None:
    (tmp_path / "store.zarr").mkdir()
    assert detect_format(tmp_path / "store.zarr") == "zarr"
    (tmp_path / "other").mkdir()
    with pytest.raises(InputDataError, match="neither a zarr store nor a 10x mtx directory"):
        detect_format(tmp_path / "other")


def test_missing_path_names_close_matches(tmp_path: Path) -> None:
    (tmp_path / "sample1.h5ad").write_text("")
    with pytest.raises(
        InputDataError, match=r"input not found: .*sample2.h5ad; close matches in .*: sample1.h5ad"
    ):
        read(tmp_path / "sample2.h5ad")
    with pytest.raises(InputDataError, match=r"input not found: .*nowhere.*does not exist either"):
        read(tmp_path / "nowhere" / "x.h5ad", format="h5ad")


def test_unknown_suffix_lists_formats(tmp_path: Path) -> None:
    (tmp_path / "data.xlsx").write_text("")
    with pytest.raises(
        InputDataError, match=r"cannot tell the format of .*data.xlsx.*supported: h5ad: .*10x_mtx"
    ):
        read(tmp_path / "data.xlsx")


def test_bad_format_and_unknown_option(tmp_path: Path) -> None:
    path = tmp_path / "x.h5ad"
    make_counts().write_h5ad(path)
    with pytest.raises(ParamError, match="format"):
        read(path, format="excel")
    with pytest.raises(ParamError, match=r"genome is not an option of the h5ad reader \(allowed: backed\)"):
        read(path, genome="hg19")


def test_forced_format(tmp_path: Path) -> None:
    path = tmp_path / "counts.dat"
    path.write_text("g1,g2\nc1,1,2\nc2,3,4\n")
    adata = read(path, format="csv")
    assert adata.var_names.tolist() == ["g1", "g2"] and adata.obs_names.tolist() == ["c1", "c2"]


# --- h5ad and zarr -------------------------------------------------------------------------


def test_h5ad_round_trip(tmp_path: Path) -> None:
    adata = make_counts()
    adata.write_h5ad(tmp_path / "x.h5ad")
    _same(read(tmp_path / "x.h5ad"), adata)
    backed = read_h5ad(tmp_path / "x.h5ad", backed="r")
    assert backed.isbacked
    backed.file.close()


def test_shared_h5ad(shared_data: Path) -> None:
    adata = read(shared_data / "mouse10k_counts.h5ad")
    assert adata.shape == (10000, 1000) and "gene_ids" in adata.var.columns


def test_truncated_h5ad(tmp_path: Path) -> None:
    path = tmp_path / "x.h5ad"
    make_counts(200, 100).write_h5ad(path)
    with path.open("r+b") as f:
        f.truncate(path.stat().st_size // 2)
    with pytest.raises(InputDataError, match=r"cannot read .*x.h5ad as h5ad: OSError: .*truncated"):
        read(path)


def test_h5ad_with_other_content(tmp_path: Path) -> None:
    (tmp_path / "x.h5ad").write_text("cell,gene\n")
    with pytest.raises(InputDataError, match=r"as h5ad: .*\(the file is not HDF5"):
        read(tmp_path / "x.h5ad")


@pytest.mark.parametrize("name", ["x.zarr", "x.zarr.zip"])
def test_zarr_round_trip(tmp_path: Path, name: str) -> None:
    adata = make_counts()
    write(adata, tmp_path / name)
    _same(read(tmp_path / name), adata)
    _same(read_zarr(tmp_path / name), adata)


# anndata 0.12's v3 writer warns about its future defaults and zarr's consolidated metadata
@pytest.mark.filterwarnings("ignore:Consolidated metadata is currently not part")
def test_zarr_written_by_anndata(tmp_path: Path) -> None:
    """Format 3 as anndata writes it: its default from 0.13, before only when asked (scsnake writes 2 there)."""
    adata = make_counts()
    if WRITE_FORMAT == 2:
        with ad.settings.override(zarr_write_format=3), pytest.warns(UserWarning, match="autosharding"):
            adata.write_zarr(tmp_path / "v3.zarr")
    else:
        adata.write_zarr(tmp_path / "v3.zarr")
    assert (tmp_path / "v3.zarr" / "zarr.json").is_file()
    _same(read(tmp_path / "v3.zarr"), adata)


def test_shared_zarr_zip(shared_data: Path) -> None:
    adata = read(shared_data / "pbmc68k_reduced.zarr.zip")
    assert adata.shape == (700, 765)
    assert "bulk_labels" in adata.obs.columns and adata.obsm["X_pca"].shape == (700, 50)
    names = adata.uns["rank_genes_groups"]["names"]  # a 'struct' array: zarr 3.1 needs the compat store
    assert names.dtype.names[0] == "CD4+/CD25 T Reg" and names.shape == (100,)


def test_corrupt_zarr_zip(tmp_path: Path) -> None:
    (tmp_path / "x.zarr.zip").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(InputDataError, match=r"cannot read .*x.zarr.zip as zarr: BadZipFile"):
        read(tmp_path / "x.zarr.zip")


def test_directory_that_is_not_zarr(tmp_path: Path) -> None:
    (tmp_path / "x.zarr").mkdir()
    with pytest.raises(InputDataError, match=r"cannot read .*x.zarr as zarr: GroupNotFoundError"):
        read(tmp_path / "x.zarr")


# --- text ----------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize(("suffix", "sep"), [(".csv", ","), (".tsv", "\t"), (".txt", "  ")])
def test_text_formats(tmp_path: Path, gz: bool, suffix: str, sep: str) -> None:
    text = f"cell{sep}g1{sep}g2{sep}g3\nc1{sep}1{sep}0{sep}2.5\nc2{sep}0{sep}4{sep}1\n"
    path = tmp_path / f"x{suffix}{'.gz' if gz else ''}"
    if gz:
        with gzip.open(path, "wt") as f:
            f.write(text)
    else:
        path.write_text(text)
    adata = read(path)
    assert adata.obs_names.tolist() == ["c1", "c2"] and adata.var_names.tolist() == ["g1", "g2", "g3"]
    np.testing.assert_array_equal(adata.X, np.array([[1, 0, 2.5], [0, 4, 1]], dtype=np.float32))
    assert adata.X.dtype == np.float32


def test_csv_header_without_corner_and_transpose(tmp_path: Path) -> None:
    path = tmp_path / "genes_by_cells.csv"
    path.write_text('"c1","c2"\n"g1",1,2\n"g2",3,4\ng3,5,6\n')
    adata = read_csv(path, transpose=True)
    assert adata.obs_names.tolist() == ["c1", "c2"] and adata.var_names.tolist() == ["g1", "g2", "g3"]
    np.testing.assert_array_equal(adata.X, [[1, 3, 5], [2, 4, 6]])


def test_csv_without_names(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("1,2\n3,4\n")
    adata = read_csv(path, first_column_names=False)
    assert adata.obs_names.tolist() == ["0", "1"] and adata.var_names.tolist() == ["0", "1"]
    np.testing.assert_array_equal(adata.X, [[1, 2], [3, 4]])


@pytest.mark.parametrize(
    "text",
    ["a,b\nc1,1,2\n", "# g1 g2\n1,2\n3,4\n", "g1,g2\nc1,1,2\nc2,3,x\n"],
    ids=["header", "comment", "non-numeric"],
)
def test_text_matches_anndata(tmp_path: Path, text: str) -> None:
    path = tmp_path / "x.csv"
    path.write_text(text)
    try:
        expected = ad.io.read_csv(path, first_column_names=True)
    except ValueError:
        with pytest.raises(InputDataError, match=r"cannot read .*x.csv as csv"):
            read(path)
        return
    _same(read(path), expected)


@pytest.mark.filterwarnings("ignore:Observation names are not unique:UserWarning")  # simulation time repeats
def test_krumsiek11_like_anndata(shared_data: Path) -> None:
    path = shared_data / "krumsiek11.txt"
    adata = read(path)
    expected = ad.io.read_text(path, first_column_names=True)
    _same(adata, expected)
    assert adata.var_names[0] == "Gata2"


def test_text_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("# nothing here\n\n")
    with pytest.raises(InputDataError, match="holds no data rows"):
        read(empty)
    wrong = tmp_path / "semicolons.csv"
    wrong.write_text("a;b\nc;1;2\n")
    with pytest.raises(InputDataError, match="delimiter ',' does not occur"):
        read(wrong)
    short = tmp_path / "short.csv"
    short.write_text("g1,g2,g3,g4\nc1,1,2\n")
    with pytest.raises(InputDataError, match="header names 4 columns but the rows have 2"):
        read(short)


# --- mtx -----------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True])
def test_single_mtx(tmp_path: Path, gz: bool) -> None:
    counts = sparse.random(5, 4, density=0.5, format="coo", random_state=0) * 10
    counts.data = np.round(counts.data) + 1
    path = tmp_path / "x.mtx"
    spio.mmwrite(path, counts)
    if gz:
        with path.open("rb") as src, gzip.open(tmp_path / "x.mtx.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
        path = tmp_path / "x.mtx.gz"
    adata = read(path)
    expected = ad.io.read_mtx(path)
    _same(adata, expected)
    assert sparse.isspmatrix_csr(adata.X) and adata.X.dtype == np.float32


def test_empty_mtx(tmp_path: Path) -> None:
    (tmp_path / "x.mtx").write_text("")
    with pytest.raises(InputDataError, match=r"cannot read .*x.mtx as mtx"):
        read(tmp_path / "x.mtx")


def test_mtx_with_other_content(tmp_path: Path) -> None:
    (tmp_path / "x.mtx").write_text("cell,g1\nc1,1\n")
    with pytest.raises(InputDataError, match=r"cannot read .*x.mtx as mtx \(Matrix Market\)"):
        read(tmp_path / "x.mtx")
