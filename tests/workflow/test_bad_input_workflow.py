"""Bad input through the real workflow: non-zero exit, a message naming the cause, nothing half-written."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from workflow_helpers import TINY_CONFIG, snakemake, write_config

from factories import make_counts

pytestmark = [
    pytest.mark.workflow,
    pytest.mark.once,
    pytest.mark.slow,
    pytest.mark.xdist_group("workflow-bad_input_workflow"),
]


def _config(**sections: Any) -> dict[str, Any]:
    config = copy.deepcopy(TINY_CONFIG)
    config.update(copy.deepcopy(sections))
    return config


def _failed_run(workdir: Path, config: dict[str, Any]) -> str:
    """Run the workflow, expect it to fail; return everything it printed and logged."""
    proc = snakemake(workdir, config=write_config(workdir, config), check=False)
    assert proc.returncode != 0, proc.stdout
    logs = "\n".join(p.read_text() for p in sorted(workdir.glob("logs/*/*.log")))
    return f"{proc.stdout}\n{proc.stderr}\n{logs}"


def _artifacts(workdir: Path) -> set[str]:
    """Every file under results/ (temporary siblings included)."""
    results = workdir / "results"
    return (
        {str(p.relative_to(results)) for p in results.rglob("*") if p.is_file()}
        if results.exists()
        else set()
    )


def _counts_file(tmp_path: Path, name: str = "counts.h5ad") -> Path:
    path = tmp_path / name
    make_counts(300, 200, fmt="csr", seed=1).write_h5ad(path)
    return path


def test_truncated_input_is_refused_before_any_job(tmp_path: Path) -> None:
    path = _counts_file(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    output = _failed_run(tmp_path, _config(samples={"s": {"input": str(path)}}))
    assert f"samples.s.input: cannot read {path} as h5ad: OSError" in output
    assert "Error in rule" not in output and _artifacts(tmp_path) == set()


def test_file_in_the_wrong_format_for_its_suffix(tmp_path: Path) -> None:
    path = tmp_path / "cells.h5ad"
    path.write_text("cell,gene1\nAAAC,1\n")
    output = _failed_run(tmp_path, _config(samples={"s": {"input": str(path)}}))
    assert f"samples.s.input: cannot read {path} as h5ad" in output and "the file is not HDF5" in output
    assert _artifacts(tmp_path) == set()


def test_input_that_is_not_counts_is_refused_before_any_job(tmp_path: Path) -> None:
    import scsnake as ss

    adata = make_counts(300, 200, fmt="csr", seed=1)
    ss.pp.normalize_total(adata)
    ss.pp.log1p(adata)
    path = tmp_path / "lognorm.h5ad"
    adata.write_h5ad(path)
    output = _failed_run(tmp_path, _config(samples={"s": {"input": str(path)}}))
    assert f"samples.s.input: {path} does not hold raw counts: X has non-integer values" in output
    assert _artifacts(tmp_path) == set()  # the load job's own check: tests/test_bad_input.py


def test_filter_removing_every_cell_names_the_threshold(tmp_path: Path) -> None:
    output = _failed_run(tmp_path, _config(qc={"min_genes": 100000, "min_cells": 1}))
    assert "qc.min_genes=100000 removed the last of 400 cells; relax qc.min_genes" in output
    artifacts = _artifacts(tmp_path)
    assert "tiny/load.h5ad" in artifacts  # the stage before is kept, intact
    assert not any(name.startswith("tiny/qc") for name in artifacts)


def test_missing_batch_key_lists_close_matches(tmp_path: Path) -> None:
    output = _failed_run(tmp_path, _config(hvg={"n_top_genes": 150, "batch_key": "samples"}))
    assert "batch_key 'samples' not found in adata.obs (close matches: sample)" in output
    assert not any(name.startswith("tiny/hvg") for name in _artifacts(tmp_path))


def test_duplicate_sample_names_are_refused_before_any_job(tmp_path: Path) -> None:
    config = write_config(tmp_path, TINY_CONFIG)
    text = config.read_text()
    sample = text[text.index("  tiny:") : text.index("qc:")]
    config.write_text(text.replace(sample, sample + sample))
    proc = snakemake(tmp_path, config=config, check=False)
    assert proc.returncode != 0
    assert "samples.tiny: given twice" in proc.stderr
    assert not (tmp_path / "results").exists()
