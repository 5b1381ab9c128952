"""The real workflow, run by Snakemake in a temporary directory on tiny data."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from workflow_helpers import (
    REPO,
    TINY_CONFIG,
    copy_run,
    planned_rules,
    shared_tiny_run,
    snakemake,
    write_config,
)

pytestmark = [pytest.mark.workflow, pytest.mark.slow, pytest.mark.xdist_group("workflow-snakemake")]

ARTIFACT_STAGES = ("load", "qc", "normalize", "hvg", "pca", "neighbors", "umap", "leiden", "markers", "final")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete run of the tiny config (the session's shared one, copied: the report and
    dry runs here write into it)."""
    return copy_run(shared_tiny_run(tmp_path_factory), tmp_path_factory.mktemp("run"))


def test_run_leaves_artifacts_figures_table_logs(finished_run: Path) -> None:
    results = finished_run / "results" / "tiny"
    for stage in ARTIFACT_STAGES:
        assert (results / f"{stage}.h5ad").is_file(), stage
        assert (results / "benchmarks" / f"{stage}.tsv").is_file(), stage
        assert (finished_run / "logs" / "tiny" / f"{stage}.log").is_file(), stage
    for figure in (
        "qc_violin",
        "qc_overview",
        "hvg",
        "pca_variance_ratio",
        "umap_clusters",
        "umap_qc",
        "markers_dotplot",
        "markers_heatmap",
    ):
        assert (results / "figures" / f"{figure}.png").stat().st_size > 1000
    table = pd.read_csv(results / "markers.csv")
    assert {"group", "rank", "gene", "score", "logfoldchange", "pval", "pval_adj"} <= set(table.columns)
    assert not list(finished_run.rglob("*.tmp-*"))


def test_final_artifact_has_scanpy_keys_and_provenance(finished_run: Path) -> None:
    adata = ad.read_h5ad(finished_run / "results" / "tiny" / "final.h5ad")
    assert {"X_pca", "X_umap"} <= set(adata.obsm)
    assert {"distances", "connectivities"} <= set(adata.obsp)
    assert {"neighbors", "pca", "umap", "leiden", "rank_genes_groups", "log1p", "hvg"} <= set(adata.uns)
    assert isinstance(adata.obs["leiden"].dtype, pd.CategoricalDtype)
    assert "counts" in adata.layers
    assert adata.var["highly_variable"].sum() == 150
    records = adata.uns["scsnake"]["provenance"]
    assert set(ARTIFACT_STAGES) <= set(records)
    leiden = records["leiden"]
    assert json.loads(leiden["params"])["random_state"] == 0
    assert "anndata" in leiden["versions"] and len(leiden["input_sha256"][0]) == 64


def test_changing_one_parameter_reruns_only_dependents(finished_run: Path, tmp_path: Path) -> None:
    workdir = copy_run(finished_run, tmp_path / "rerun")
    config = copy.deepcopy(TINY_CONFIG)
    config["leiden"] = {"resolution": 0.3}
    proc = snakemake(workdir, "--dry-run", config=write_config(workdir, config))
    planned = planned_rules(proc.stdout)
    # run_info records the validated config and summary the clusters, so both follow the change;
    # the QC figures do not
    assert planned == {"leiden", "markers", "final", "plots", "run_info", "summary", "all"}, proc.stdout


def test_unchanged_config_plans_nothing(finished_run: Path) -> None:
    proc = snakemake(finished_run, "--dry-run", config=finished_run / "config.yaml")
    assert planned_rules(proc.stdout) == set(), proc.stdout


def test_bad_config_fails_before_any_job(tmp_path: Path) -> None:
    config = copy.deepcopy(TINY_CONFIG)
    config["qc"] = {"min_genez": 3}
    config["pca"] = {"n_comps": 0}
    proc = snakemake(tmp_path, config=write_config(tmp_path, config), check=False)
    assert proc.returncode != 0
    assert "qc.min_genez: unknown key" in proc.stderr
    assert "pca.n_comps" in proc.stderr
    assert not (tmp_path / "results").exists()


def test_jobs_need_no_activated_environment(tmp_path: Path) -> None:
    """The environment's own `snakemake` script with a bare PATH: jobs find scsnake all the same."""
    env = {key: value for key, value in os.environ.items() if key not in ("PATH", "VIRTUAL_ENV")}
    env["PATH"] = "/usr/bin:/bin"
    config = write_config(tmp_path, TINY_CONFIG)
    script = Path(sys.executable).parent / "snakemake"
    cmd = [
        str(script),
        "results/tiny/qc.h5ad",
        "-s",
        str(REPO / "Snakefile"),
        "-d",
        str(tmp_path),
        "--cores",
        "1",
    ]
    proc = subprocess.run(
        [*cmd, "--configfile", str(config)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert ad.read_h5ad(tmp_path / "results/tiny/qc.h5ad").n_obs > 0


@pytest.mark.once
def test_two_samples_run_independently_into_zarr_artifacts(tmp_path: Path) -> None:
    config = {**copy.deepcopy(TINY_CONFIG), "artifact_format": "zarr", "compression": "gzip"}
    one = TINY_CONFIG["samples"]["tiny"]
    config["samples"] = {"a": one, "b": {**one, "synthetic": {**one["synthetic"], "n_cells": 350}}}
    snakemake(tmp_path, config=write_config(tmp_path, config))
    finals = {name: tmp_path / "results" / name / "final.zarr" for name in ("a", "b")}
    assert all(path.is_dir() for path in finals.values())
    a, b = (ad.read_zarr(path) for path in finals.values())
    assert set(a.obs["sample"]) == {"a"} and set(b.obs["sample"]) == {"b"}
    assert a.n_obs != b.n_obs
    assert "X_umap" in a.obsm and "leiden" in a.obs
    assert not list((tmp_path / "results").rglob("*.h5ad"))


def test_same_config_gives_identical_results_on_any_core_count(finished_run: Path, tmp_path: Path) -> None:
    """A second run of the same config, on one core instead of two, gives identical artifacts."""
    snakemake(tmp_path, "--cores", "1", config=write_config(tmp_path, TINY_CONFIG))
    for stage in ("pca", "neighbors", "umap", "leiden", "markers", "final"):
        a = ad.read_h5ad(finished_run / "results" / "tiny" / f"{stage}.h5ad")
        b = ad.read_h5ad(tmp_path / "results" / "tiny" / f"{stage}.h5ad")
        for key in a.obsm:
            np.testing.assert_array_equal(a.obsm[key], b.obsm[key], err_msg=f"{stage}: obsm[{key}]")
        for key in a.obsp:
            assert (a.obsp[key] != b.obsp[key]).nnz == 0, f"{stage}: obsp[{key}]"
        assert a.obs.equals(b.obs), stage


def test_report_has_every_figure_and_the_marker_table(finished_run: Path) -> None:
    snakemake(finished_run, "--report", "report.html", config=finished_run / "config.yaml")
    html = (finished_run / "report.html").read_text(errors="replace")
    for name in (
        "qc_violin",
        "qc_overview",
        "hvg",
        "pca_variance_ratio",
        "umap_clusters",
        "umap_qc",
        "markers_dotplot",
        "markers_heatmap",
        "markers.csv",
        "clustering.csv",
    ):
        assert name in html, name


def test_provenance_command_prints_every_stage(finished_run: Path) -> None:
    import subprocess
    import sys

    final = finished_run / "results" / "tiny" / "final.h5ad"
    proc = subprocess.run(
        [sys.executable, "-m", "scsnake", "provenance", str(final)],
        capture_output=True,
        text=True,
        check=True,
    )
    records = json.loads(proc.stdout)
    assert set(ARTIFACT_STAGES) <= set(records)
    assert records["leiden"]["params"]["resolution"] == 1.0


@pytest.mark.once
def test_preprocessing_options_run_end_to_end(tmp_path: Path) -> None:
    """Doublet detection, Pearson residuals + their HVG flavor, and regress-out/ComBat options."""
    config = copy.deepcopy(TINY_CONFIG)
    sample = config["samples"]["tiny"]
    config["samples"] = {
        "tiny": {**sample, "synthetic": {**sample["synthetic"], "n_batches": 2, "doublet_rate": 0.05}}
    }
    config["qc"] = {**config["qc"], "doublets": {"enabled": True, "remove": True}}
    config["normalize"] = {"method": "pearson_residuals"}
    config["hvg"] = {"flavor": "pearson_residuals", "n_top_genes": 150}
    snakemake(tmp_path, "--until", "pca", config=write_config(tmp_path, config))
    pca = ad.read_h5ad(tmp_path / "results" / "tiny" / "pca.h5ad")
    assert {"doublet_score", "predicted_doublet"} <= set(pca.obs)
    assert not pca.obs["predicted_doublet"].any()  # removed
    assert pca.uns["normalize"]["method"] == "pearson_residuals"
    assert pca.obsm["X_pca"].shape[1] == 15

    other = tmp_path / "corrected"
    other.mkdir()
    config = copy.deepcopy(TINY_CONFIG)
    config["samples"] = {"tiny": {**sample, "synthetic": {**sample["synthetic"], "n_batches": 2}}}
    config["hvg"] = {"flavor": "seurat_v3", "n_top_genes": 150, "batch_key": "batch"}
    config["pca"] = {**config["pca"], "regress_out": ["total_counts"], "combat_key": "batch"}
    snakemake(other, "--until", "pca", config=write_config(other, config))
    corrected = ad.read_h5ad(other / "results" / "tiny" / "pca.h5ad")
    assert corrected.uns["hvg"]["flavor"] == "seurat_v3"
    assert "highly_variable_nbatches" in corrected.var


@pytest.mark.once
def test_sweep_and_optional_stages_join_the_final_object(tmp_path: Path) -> None:
    config = copy.deepcopy(TINY_CONFIG)
    config["leiden"] = {"sweep": [0.5, 2.0]}
    config["tsne"] = {"enabled": True, "perplexity": 10}
    config["draw_graph"] = {"enabled": True, "layout": "fr"}
    config["dpt"] = {"enabled": True, "root_group": "0"}
    config["umap"] = {**config["umap"], "init_pos": "paga"}  # turns the paga stage on
    config["annotate"] = {
        "enabled": True,
        "markers": {"A": ["Gene001", "Gene002"], "B": ["Gene010", "Gene011"]},
    }
    snakemake(tmp_path, config=write_config(tmp_path, config))
    results = tmp_path / "results" / "tiny"
    final = ad.read_h5ad(results / "final.h5ad")
    assert {"X_umap", "X_tsne", "X_draw_graph_fr", "X_diffmap"} <= set(final.obsm)
    assert {"leiden", "leiden_res0.5", "leiden_res2", "dpt_pseudotime", "cell_type"} <= set(final.obs)
    assert set(final.obs["cell_type"]) <= {"A", "B", "unassigned"}
    assert {"leiden", "cell_type", "A", "B"} <= set(pd.read_csv(results / "cell_types.csv").columns)
    assert "paga" in final.uns and final.uns["umap"]
    assert {"tsne", "draw_graph", "paga", "dpt", "umap"} <= set(final.uns["scsnake"]["provenance"])
    table = pd.read_csv(results / "clustering.csv")
    assert table["key"].tolist() == ["leiden", "leiden_res0.5", "leiden_res2"]
    assert (table["n_clusters"] >= 1).all() and table["modularity"].between(-1, 1).all()
    for figure in ("umap_sweep", "tsne", "draw_graph", "paga", "dpt"):
        assert (results / "figures" / f"{figure}.png").stat().st_size > 1000, figure


def _shell_threads(stdout: str, stage: str) -> int:
    line = next(line for line in stdout.splitlines() if f"scsnake run {stage} " in line)
    return int(line.split("NUMBA_NUM_THREADS=")[1].split(";")[0])


@pytest.mark.parametrize(("cores", "markers"), [("1", 1), ("2", 1), ("4", 2)])
def test_markers_leaves_a_core_for_the_serial_umap(tmp_path: Path, cores: str, markers: int) -> None:
    proc = snakemake(
        tmp_path,
        "--dry-run",
        "--printshellcmds",
        "--cores",
        cores,
        config=write_config(tmp_path, TINY_CONFIG),
    )
    assert _shell_threads(proc.stdout, "umap") == 1
    assert _shell_threads(proc.stdout, "markers") == markers
    assert _shell_threads(proc.stdout, "neighbors") == min(int(cores), 2)


def test_parallel_umap_gets_the_cores(tmp_path: Path) -> None:
    config = write_config(tmp_path, {**TINY_CONFIG, "umap": {"method": "parallel"}})
    proc = snakemake(tmp_path, "--dry-run", "--printshellcmds", "--cores", "2", config=config)
    assert _shell_threads(proc.stdout, "umap") == 2
    assert _shell_threads(proc.stdout, "markers") == 2  # no serial layout to leave a core for


def test_counts_readers_list_the_counts_artifact(tmp_path: Path) -> None:
    proc = snakemake(tmp_path, "--dry-run", config=write_config(tmp_path, TINY_CONFIG))
    inputs = {}
    rule = None
    for line in proc.stdout.splitlines():
        if line.startswith("rule "):
            rule = line[5:].rstrip(":")
        elif line.strip().startswith("input:") and rule:
            inputs[rule] = line.split(":", 1)[1]
    for rule in ("hvg", "pca", "final"):  # they may read the counts layer
        assert "results/tiny/qc.h5ad" in inputs[rule], (rule, inputs[rule])
    for rule in ("markers", "neighbors", "umap"):  # they never do: their memory request leaves it out
        assert "results/tiny/qc.h5ad" not in inputs[rule], (rule, inputs[rule])
