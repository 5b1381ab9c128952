"""The stage runner and CLI: prerequisites, bad parameters, atomic output, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import anndata as ad
import pytest

import scsnake as ss
from scsnake.config import stage_params_json, validate_config
from scsnake.errors import InputDataError, MissingKeyError, ParamError
from scsnake.runner import run_stage

CONFIG = validate_config(
    {"samples": {"s": {"synthetic": {"n_cells": 200, "n_genes": 200, "n_types": 2}}}, "qc": {"min_genes": 10}}
)


@pytest.fixture
def loaded(tmp_path: Path) -> Path:
    out = tmp_path / "load.h5ad"
    run_stage("load", inputs=[], output=out, params_json=stage_params_json(CONFIG, "load", "s"), sample="s")
    return out


def test_load_labels_cells_and_records_provenance(loaded: Path) -> None:
    adata = ad.read_h5ad(loaded)
    assert set(adata.obs["sample"]) == {"s"}
    record = adata.uns["scsnake"]["provenance"]["load"]
    assert json.loads(record["params"])["sample"]["input"] == "synthetic"
    assert record["inputs"] == ["synthetic"]


def test_missing_prerequisite_names_the_stage_that_writes_it(loaded: Path, tmp_path: Path) -> None:
    with pytest.raises(
        MissingKeyError,
        match=r"neighbors needs obsm\['X_pca'\] \(written by `pca`\); not found in .*load\.h5ad",
    ):
        run_stage(
            "neighbors",
            inputs=[loaded],
            output=tmp_path / "n.h5ad",
            params_json=stage_params_json(CONFIG, "neighbors"),
        )
    assert not (tmp_path / "n.h5ad").exists()


def test_bad_params_json_names_the_key(loaded: Path, tmp_path: Path) -> None:
    with pytest.raises(ParamError, match=r"qc\.min_genes"):
        run_stage("qc", inputs=[loaded], output=tmp_path / "q.h5ad", params_json='{"min_genes": -3}')
    with pytest.raises(ParamError, match="not valid JSON"):
        run_stage("qc", inputs=[loaded], output=tmp_path / "q.h5ad", params_json="{")


def test_failed_stage_leaves_no_artifact(loaded: Path, tmp_path: Path) -> None:
    out = tmp_path / "qc.h5ad"
    strict = json.dumps({**json.loads(stage_params_json(CONFIG, "qc")), "min_genes": 10**6})
    with pytest.raises(InputDataError, match=r"qc\.min_genes=1000000 removed the last of 200 cells"):
        run_stage("qc", inputs=[loaded], output=out, params_json=strict)
    assert list(tmp_path.iterdir()) == [loaded]


def test_missing_input_artifact(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match="not found"):
        run_stage(
            "qc",
            inputs=[tmp_path / "nope.h5ad"],
            output=tmp_path / "q.h5ad",
            params_json=stage_params_json(CONFIG, "qc"),
        )


def test_cli_exit_codes(loaded: Path, tmp_path: Path) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "scsnake", *args], capture_output=True, text=True)

    bad = cli(
        "run",
        "neighbors",
        "--input",
        str(loaded),
        "--output",
        str(tmp_path / "n.h5ad"),
        "--params",
        stage_params_json(CONFIG, "neighbors"),
    )
    assert bad.returncode == 1
    assert bad.stderr.splitlines()[-1].startswith("scsnake: error: neighbors needs obsm['X_pca']")
    assert "Traceback" not in bad.stderr
    config = tmp_path / "config.yaml"
    config.write_text("qc: {min_genez: 1}\n")
    invalid = cli("validate", str(config))
    assert invalid.returncode == 2 and "qc.min_genez: unknown key" in invalid.stderr
    config.write_text("qc: {min_genes: 1}\n")
    assert cli("validate", str(config)).returncode == 0
    schema = cli("schema")
    assert json.loads(schema.stdout)["title"] == "WorkflowConfig"
    prov = cli("provenance", str(loaded))
    assert prov.returncode == 0 and "load" in json.loads(prov.stdout)
    plain = tmp_path / "plain.h5ad"
    ss.io.write(ad.AnnData(ss.datasets.synthetic(n_cells=20, n_genes=120, n_types=1).X), plain)
    missing = cli("provenance", str(plain))
    assert missing.returncode == 1 and "no provenance" in missing.stderr
