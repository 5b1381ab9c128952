"""Sample inputs are opened before any job (headers and the first stored values): ``scsnake validate``
and the workflow refuse truncated files, empty or incomplete 10x directories, empty matrices and
values that are not raw counts, each as one config error line naming the sample and the file."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import anndata as ad
import h5py
import numpy as np
import pytest
import yaml
from scipy import sparse
from workflow_helpers import TINY_CONFIG, snakemake, write_config

from factories import make_counts
from input_files import INPUT_NAMES, write_10x_mtx, write_input
from scsnake import cli
from scsnake.config import validate_config
from scsnake.errors import ConfigError
from scsnake.io._probe import N_VALUES

REAL = {
    "mouse": "mouse10k_counts.h5ad",
    "v2_h5": "10x/1.2.0/filtered_gene_bc_matrices_h5.h5",
    "v2_mtx": "10x/1.2.0/filtered_gene_bc_matrices/hg19_chr21",
    "v3_h5": "10x/3.0.0/filtered_feature_bc_matrix.h5",
    "v3_mtx": "10x/3.0.0/filtered_feature_bc_matrix",
    "int_ids": "10x/int-ids",
}


def _errors(raw: dict[str, Any], base_dir: Path) -> list[str]:
    """The problem lines of the ConfigError ``raw`` raises."""
    with pytest.raises(ConfigError) as info:
        validate_config(raw, base_dir=base_dir)
    return [line.removeprefix("  - ") for line in str(info.value).splitlines()[1:]]


def _truncated(path: Path, fraction: float = 0.5) -> Path:
    with path.open("r+b") as f:
        f.truncate(int(path.stat().st_size * fraction))
    return path


def _bad_inputs(directory: Path) -> dict[str, tuple[Path, str]]:
    """One input per problem, each with the start of its config error line after the key path."""
    counts = make_counts(30, 20)
    made: dict[str, tuple[Path, str]] = {}
    (directory / "h5ad").mkdir()
    path = _truncated(write_input(counts, directory / "h5ad", "h5ad"))
    made["trunc_h5ad"] = (path, f"cannot read {path} as h5ad: OSError: ")
    (directory / "h5").mkdir()
    path = _truncated(write_input(counts, directory / "h5", "10x_h5"))
    made["trunc_h5"] = (path, f"cannot read {path} as 10x_h5: OSError: ")
    path = directory / "empty_filtered"
    path.mkdir()
    made["empty_dir"] = (path, f"{path} is a directory but neither a zarr store nor a 10x mtx directory")
    path = write_10x_mtx(directory / "no_barcodes", counts)
    (path / "barcodes.tsv.gz").unlink()
    made["no_barcodes"] = (path, f"{path} is not a 10x mtx directory: expected matrix.mtx[.gz], genes.tsv or "
                           "features.tsv[.gz] and barcodes.tsv[.gz] (found: features.tsv.gz, matrix.mtx.gz)")  # fmt: skip
    negative = counts.copy()
    negative.X.data[3] = -2
    path = directory / "negative.h5ad"
    negative.write_h5ad(path)
    made["negative"] = (
        path,
        f"{path} does not hold raw counts: X has 1 negative value(s) (min -2) (in its first",
    )
    fractional = counts.copy()
    fractional.X.data[5] = 0.5
    path = directory / "fractional.csv"
    write_input(fractional, directory, "csv").rename(path)
    made["fractional"] = (path, f"{path} does not hold raw counts: the matrix has non-integer values")
    path = directory / "no_cells.h5ad"
    ad.AnnData(sparse.csr_matrix((0, 20), dtype=np.float32)).write_h5ad(path)
    made["no_cells"] = (path, f"{path} holds an empty matrix (0 cells × 20 genes)")
    return made


# --- validate_config --------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", list(INPUT_NAMES))
def test_good_inputs_of_every_format_pass(tmp_path: Path, fmt: str) -> None:
    path = write_input(make_counts(30, 20), tmp_path, fmt)
    config = validate_config({"samples": {"s": {"input": path.name}}}, base_dir=tmp_path)
    assert config.samples["s"].input == path.name


def test_real_inputs_pass(shared_data: Path) -> None:
    samples = {name: {"input": str(shared_data / path)} for name, path in REAL.items()}
    samples["forced"] = {"input": str(shared_data / REAL["v3_h5"]), "format": "10x_h5"}
    assert list(validate_config({"samples": samples}).samples) == [*REAL, "forced"]


def test_several_genomes_need_load_genome(shared_data: Path) -> None:
    path = shared_data / "10x" / "1.2.0" / "multiple_genomes.h5"
    lines = _errors({"samples": {"multi": {"input": str(path)}}}, Path.cwd())
    assert lines == [
        f"load.genome: null does not fit samples.multi.input: {path} holds several genomes "
        "(another_genome, hg19_chr21); set genome to one of them"
    ]
    validate_config({"samples": {"multi": {"input": str(path)}}, "load": {"genome": "hg19_chr21"}})


def test_bad_inputs_are_reported_together_with_other_problems(tmp_path: Path) -> None:
    bad = _bad_inputs(tmp_path)
    raw = {"samples": {name: {"input": str(path)} for name, (path, _) in bad.items()}, "pca": {"n_comps": 0}}
    lines = _errors(raw, tmp_path)
    assert any(line.startswith("pca.n_comps") for line in lines)
    for name, (_, expected) in bad.items():
        mine = [line for line in lines if line.startswith(f"samples.{name}.input: ")]
        assert len(mine) == 1, (name, lines)
        assert mine[0].startswith(f"samples.{name}.input: {expected}"), mine[0]
    assert len(lines) == len(bad) + 1


@pytest.mark.parametrize("fmt", ["h5ad", "zarr", "tsv", "loom"])
def test_fractional_values_in_any_format(tmp_path: Path, fmt: str) -> None:
    counts = make_counts(30, 20)
    counts.X.data[0] = 1.5
    path = write_input(counts, tmp_path, fmt)
    (line,) = _errors({"samples": {"s": {"input": path.name}}}, tmp_path)
    assert line.startswith(f"samples.s.input: {tmp_path / path.name} does not hold raw counts: ")
    assert "has non-integer values (looks normalised or log-transformed) (in its first" in line
    assert line.endswith("The workflow starts from raw counts (e.g. Cell Ranger's filtered_feature_bc_matrix); "
                         "point the sample at them")  # fmt: skip


def test_sample_sheet_rows_are_opened_too(tmp_path: Path) -> None:
    write_input(make_counts(30, 20), tmp_path, "h5ad")
    (tmp_path / "cut").mkdir()
    _truncated(write_input(make_counts(30, 20), tmp_path / "cut", "h5ad"))
    (tmp_path / "samples.tsv").write_text("sample\tinput\nS1\ts.h5ad\nS2\tcut/s.h5ad\n")
    (line,) = _errors({"samples": "samples.tsv"}, tmp_path)
    assert line.startswith(
        f"samples (samples.tsv) row 2 'S2'.input: cannot read {tmp_path / 'cut/s.h5ad'} as h5ad"
    )


def test_without_open_inputs_only_existence_is_checked(tmp_path: Path) -> None:
    path = _truncated(write_input(make_counts(30, 20), tmp_path, "h5ad"))
    validate_config({"samples": {"s": {"input": str(path)}}}, open_inputs=False)
    (line,) = _errors({"samples": {"s": {"input": "nope.h5ad"}}}, tmp_path)
    assert line == f"samples.s.input: path does not exist (got 'nope.h5ad', relative to {tmp_path})"


def test_the_demo_sample_is_not_opened(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("probe called")

    monkeypatch.setattr("scsnake.io._probe.probe", fail)
    assert list(validate_config({}).samples) == ["demo"]


def test_validation_reads_a_slice_not_the_matrix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Counts are checked on at most N_VALUES stored values, and the HDF5 reads hold little more."""
    adata = make_counts(4000, 300)
    assert adata.X.nnz > 4 * N_VALUES
    adata.X.data[N_VALUES:] += 0.5  # beyond the slice: load would refuse it, validation cannot see it
    adata.write_h5ad(tmp_path / "big.h5ad")
    checked: list[int] = []
    read: list[int] = []
    import scsnake._matrix as matrix

    check_counts, getitem = matrix.check_counts, h5py.Dataset.__getitem__

    def recording_check(x: Any, **kwargs: Any) -> None:
        checked.append(np.size(x))
        check_counts(x, **kwargs)

    def recording_read(self: h5py.Dataset, key: Any) -> Any:
        value = getitem(self, key)
        read.append(np.size(value))
        return value

    monkeypatch.setattr("scsnake.stages._load.check_counts", recording_check)
    monkeypatch.setattr(h5py.Dataset, "__getitem__", recording_read)
    validate_config({"samples": {"big": {"input": "big.h5ad"}}}, base_dir=tmp_path)
    assert checked == [N_VALUES]
    assert sum(read) <= 2 * N_VALUES + 10  # values and their column indices, a few scalars


# --- scsnake validate and the workflow --------------------------------------------------------


def test_scsnake_validate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    bad = _bad_inputs(tmp_path)
    (tmp_path / "bad.yaml").write_text(
        yaml.safe_dump({"samples": {n: {"input": str(p)} for n, (p, _) in bad.items()}})
    )
    assert cli.main(["validate", "bad.yaml"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("scsnake: invalid config:\n")
    for name, (_, expected) in bad.items():
        assert f"  - samples.{name}.input: {expected}" in err
    write_input(make_counts(30, 20), tmp_path, "10x_mtx")
    (tmp_path / "good.yaml").write_text(yaml.safe_dump({"samples": {"s": {"input": INPUT_NAMES["10x_mtx"]}}}))
    assert cli.main(["validate", "good.yaml"]) == 0
    assert capsys.readouterr().out == "good.yaml: valid\n"


@pytest.mark.workflow
@pytest.mark.once
def test_dry_run_refuses_bad_inputs_before_any_job(tmp_path: Path) -> None:
    bad = _bad_inputs(tmp_path)
    config = copy.deepcopy(TINY_CONFIG) | {"samples": {n: {"input": str(p)} for n, (p, _) in bad.items()}}
    proc = snakemake(tmp_path, "-n", config=write_config(tmp_path, config), check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.count("  - samples.") == len(bad)
    for name, (_, expected) in bad.items():
        assert f"  - samples.{name}.input: {expected}" in proc.stderr
    assert "rule load" not in proc.stdout and not (tmp_path / "results").exists()


@pytest.mark.workflow
@pytest.mark.once
def test_dry_run_accepts_good_inputs(tmp_path: Path, shared_data: Path) -> None:
    counts = make_counts(30, 20)
    samples = {fmt.replace(".", "_"): {"input": write_input(counts, tmp_path, fmt).name} for fmt in ("h5ad", "10x_h5", "10x_mtx", "loom")}  # fmt: skip
    samples |= {name: {"input": str(shared_data / path)} for name, path in REAL.items()}
    config = copy.deepcopy(TINY_CONFIG) | {"samples": samples}
    proc = snakemake(tmp_path, "-n", config=write_config(tmp_path, config))
    assert "invalid config" not in proc.stderr
    assert re.search(rf"^load +{len(samples)}$", proc.stdout, re.MULTILINE), proc.stdout  # a load job each
