"""``io._probe.probe``: every format opened cheaply; damaged inputs refused; only a slice read."""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

import scsnake as ss
from factories import make_counts
from input_files import INPUT_NAMES, write_10x_h5, write_10x_mtx, write_input
from scsnake.errors import InputDataError, ParamError
from scsnake.io._probe import probe

REAL_10X = {
    "1.2.0/filtered_gene_bc_matrices_h5.h5": ("10x_h5", 12, 343),
    "1.2.0/filtered_gene_bc_matrices/hg19_chr21": ("10x_mtx", 12, 343),
    "3.0.0/filtered_feature_bc_matrix.h5": ("10x_h5", 1107, 507),
    "3.0.0/filtered_feature_bc_matrix": ("10x_mtx", 1107, 507),
    "int-ids": ("10x_mtx", 5, 6),
}


def _truncate(path: Path, fraction: float) -> None:
    with path.open("r+b") as f:
        f.truncate(int(path.stat().st_size * fraction))


@pytest.mark.parametrize("fmt", list(INPUT_NAMES))
def test_every_format_gives_the_shape_and_first_values(tmp_path: Path, fmt: str) -> None:
    adata = make_counts(30, 20)
    found = probe(write_input(adata, tmp_path, fmt), n_values=50)
    text = fmt.split(".")[0] in ("csv", "tsv", "txt")  # cells are counted only when every row was read
    assert (found.n_obs, found.n_vars) == ((None, 20) if text else (30, 20))
    assert probe(tmp_path / INPUT_NAMES[fmt]).n_obs == 30
    assert 0 < found.values.size <= 50
    assert set(np.unique(found.values)) <= set(np.unique(adata.X.data)) | {0}


@pytest.mark.parametrize("name", list(REAL_10X))
def test_real_10x_inputs(shared_data: Path, name: str) -> None:
    fmt, n_obs, n_vars = REAL_10X[name]
    found = probe(shared_data / "10x" / name)
    assert (found.format, found.n_obs, found.n_vars) == (
        fmt,
        n_obs,
        n_vars,
    )  # as io.read (tests/io/test_tenx.py)
    assert found.values.size > 0 and np.all(found.values == np.round(found.values))


def test_real_h5ad_reads_a_slice(shared_data: Path) -> None:
    found = probe(shared_data / "mouse10k_counts.h5ad", n_values=1000)
    assert (found.n_obs, found.n_vars, found.values.size) == (10_000, 1_000, 1000)


def test_several_genomes_need_a_choice(shared_data: Path) -> None:
    path = shared_data / "10x" / "1.2.0" / "multiple_genomes.h5"
    with pytest.raises(ParamError, match=r"holds several genomes \(another_genome, hg19_chr21\)"):
        probe(path)
    assert probe(path, genome="hg19_chr21").n_vars == ss.io.read(path, genome="hg19_chr21").n_vars
    with pytest.raises(
        ParamError, match=r"genome 'mm10' not found in .* \(available: another_genome, hg19_chr21\)"
    ):
        probe(path, genome="mm10")


def test_v3_genome_and_gene_expression_selection(tmp_path: Path) -> None:
    path = write_10x_h5(tmp_path / "s.h5", make_counts(10, 6))
    with h5py.File(path, "a") as f:
        types = f["matrix/features/feature_type"]
        types[:2] = b"Antibody Capture"
    assert (probe(path).n_vars, probe(path, gex_only=False).n_vars) == (4, 6)
    assert probe(path).n_vars == ss.io.read(path).n_vars
    with pytest.raises(ParamError, match=r"genome 'mm10' not found .* \(available: GRCh38\)"):
        probe(path, genome="mm10")


@pytest.mark.parametrize(
    ("fmt", "fraction"), [("h5ad", 0.0), ("h5ad", 0.5), ("h5ad", 0.99), ("10x_h5", 0.5), ("loom", 0.7)]
)
def test_truncated_hdf5_files(tmp_path: Path, fmt: str, fraction: float) -> None:
    path = write_input(make_counts(30, 20), tmp_path, fmt)
    _truncate(path, fraction)
    with pytest.raises(InputDataError, match=rf"cannot read {re.escape(str(path))} as {fmt}: .*cut short"):
        probe(path, format=fmt)


def test_damaged_sparse_structure_and_shapes(tmp_path: Path) -> None:
    path = write_input(make_counts(30, 20), tmp_path, "h5ad")
    with h5py.File(path, "a") as f:
        f["X/indptr"][-1] = 3
    with pytest.raises(InputDataError, match=r"X is a damaged sparse matrix \(its index pointer ends at 3"):
        probe(path)
    path = write_10x_h5(tmp_path / "x.h5", make_counts(12, 8))
    with h5py.File(path, "a") as f:
        del f["matrix/barcodes"]
        f["matrix/barcodes"] = np.array([b"A-1"] * 3)
    with pytest.raises(InputDataError, match=r"12 barcodes, but 8 features and 3 barcodes are stored"):
        probe(path)


def test_h5ad_without_x(tmp_path: Path) -> None:
    path = write_input(make_counts(30, 20), tmp_path, "h5ad")
    with h5py.File(path, "a") as f:
        del f["X"]
    with pytest.raises(InputDataError, match=r"it has no 'X' \(an AnnData file has obs, var and X; found: "):
        probe(path)


def test_broken_zarr_metadata(tmp_path: Path) -> None:
    path = write_input(make_counts(30, 20), tmp_path, "zarr")
    for name in ("zarr.json", ".zgroup"):
        if (path / name).exists():
            (path / name).write_text("{not json")
    with pytest.raises(InputDataError, match=rf"cannot read {re.escape(str(path))} as zarr: "):
        probe(path)


def test_empty_and_incomplete_10x_directories(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputDataError, match=r"empty is a directory but neither a zarr store nor a 10x mtx"):
        probe(tmp_path / "empty")
    directory = write_10x_mtx(tmp_path / "filtered", make_counts(10, 6))
    (directory / "barcodes.tsv.gz").unlink()
    with pytest.raises(
        InputDataError,
        match=r"is not a 10x mtx directory: expected .* \(found: features.tsv.gz, matrix.mtx.gz\)",
    ):
        probe(directory)
    with gzip.open(directory / "barcodes.tsv.gz", "wt") as f:
        f.write("A-1\nB-1\n")
    with pytest.raises(
        InputDataError, match=r"matrix.mtx.gz is 6 features × 10 barcodes, but .* barcodes.tsv.gz has 2"
    ):
        probe(directory)


def _cut_mid_line(text: str) -> str:
    return text[: text.index("\n", len(text) // 2) - 1]


@pytest.mark.parametrize(
    ("edit", "n_values", "match"),
    [
        (lambda text: text.replace("%%MatrixMarket", "%%MatrixMarkt"), None, r"not a Matrix Market header"),
        (lambda text: text.replace("integer", "complex"), None, r"stores complex values"),
        (lambda text: "\n".join(text.splitlines()[:2]) + "\n3 x 4\n", None, r"has the size line b'3 x 4\\n'"),
        (_cut_mid_line, None, r"s\.mtx announces \d+ entries but ends after \d+"),
        (_cut_mid_line, 10, r"in s\.mtx, its last line is b'\d+ \d+ ?', expected 3 number\(s\)"),
        (lambda text: text.replace("\n1 ", "\n1 1 1 ", 1), None, r"in s\.mtx, an entry is b'1 1 1 \d+ \d+"),
    ],
)
def test_malformed_or_truncated_mtx(tmp_path: Path, edit: Any, n_values: int | None, match: str) -> None:
    path = write_input(make_counts(30, 20), tmp_path, "mtx")
    path.write_text(edit(path.read_text()))
    with pytest.raises(InputDataError, match=rf"cannot read .*s\.mtx as mtx: .*{match}.*cut short"):
        probe(path, **({"n_values": n_values} if n_values else {}))


def test_truncated_text_file(tmp_path: Path) -> None:
    path = write_input(make_counts(30, 20), tmp_path, "csv")
    text = path.read_text()
    path.write_text(text[: len(text) - 7])
    with pytest.raises(InputDataError, match=r"its last line has \d+ fields, the first data row 21"):
        probe(path)


def test_header_only_text_has_no_cells(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text(",G1,G2\n")
    assert probe(path).n_obs == 0


@pytest.mark.parametrize("fmt", ["h5ad", "10x_h5", "loom"])
def test_only_a_slice_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    """Every HDF5 read is recorded: together they hold a few times ``n_values``, not the matrix."""
    adata = make_counts(2000, 500)
    path = write_input(adata, tmp_path, fmt)
    read: list[int] = []
    getitem = h5py.Dataset.__getitem__

    def recording(self: h5py.Dataset, key: object) -> object:
        value = getitem(self, key)
        read.append(np.size(value))
        return value

    monkeypatch.setattr(h5py.Dataset, "__getitem__", recording)
    found = probe(path, n_values=1000)
    assert found.values.size <= 1000 and adata.X.nnz > 100 * 1000
    assert sum(read) < 4 * 1000 + adata.n_vars  # the slice, its indices, a few scalars (10x: feature types)
