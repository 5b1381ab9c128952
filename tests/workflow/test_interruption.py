"""Killed jobs and killed runs: nothing half-written is trusted, and a re-run finishes the work."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anndata as ad
import numpy as np
import pytest
from workflow_helpers import REPO, TINY_CONFIG, shared_tiny_run, snakemake, write_config

from scsnake.config import stage_params_json, validate_config

pytestmark = [
    pytest.mark.workflow,
    pytest.mark.once,
    pytest.mark.slow,
    pytest.mark.xdist_group("workflow-interruption"),
]

# Runs the `load` stage, but SIGKILLs the process right after the temporary artifact is
# written and before it is renamed: the worst moment for a half-finished output.
KILL_AFTER_TEMP_WRITE = """
import os, signal, sys
import scsnake.io._write as writer
original = writer._write_h5ad
def write_then_die(adata, path, compression):
    original(adata, path, compression)
    os.kill(os.getpid(), signal.SIGKILL)
writer._write_h5ad = write_then_die
from scsnake.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_job_killed_mid_write_leaves_no_trusted_file(tmp_path: Path) -> None:
    config = validate_config(TINY_CONFIG)
    target = tmp_path / "results" / "tiny" / "load.h5ad"
    args = [
        "run",
        "load",
        "--output",
        str(target),
        "--params",
        stage_params_json(config, "load", "tiny"),
        "--sample",
        "tiny",
    ]
    proc = subprocess.run(
        [sys.executable, "-c", KILL_AFTER_TEMP_WRITE, *args], capture_output=True, text=True
    )
    assert proc.returncode == -signal.SIGKILL
    assert not target.exists()
    leftovers = list(target.parent.glob("load.tmp-*"))
    assert leftovers, "the killed writer should have left its temporary file"
    # the next writer of that artifact removes what the dead one left
    subprocess.run([sys.executable, "-m", "scsnake", *args], check=True, capture_output=True)
    assert target.is_file()
    assert not list(target.parent.glob("load.tmp-*"))


def test_killed_run_resumes_to_the_same_results(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    reference = shared_tiny_run(tmp_path_factory)  # an uninterrupted run of the same config
    workdir = tmp_path / "killed"
    workdir.mkdir()
    config = write_config(workdir, TINY_CONFIG)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(REPO / "Snakefile"),
        "-d",
        str(workdir),
        "--cores",
        "1",
        "--configfile",
        str(config),
    ]
    run = subprocess.Popen(
        cmd,
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while not (workdir / "results" / "tiny" / "hvg.h5ad").exists():
        assert run.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(run.pid, signal.SIGKILL)  # the whole run: Snakemake and its running job
    run.wait()
    assert not (workdir / "results" / "tiny" / "final.h5ad").exists()

    # a killed Snakemake keeps its lock on the directory: unlock, then finish the work
    snakemake(workdir, "--unlock", config=config)
    snakemake(workdir, "--rerun-incomplete", config=config)
    first = ad.read_h5ad(reference / "results" / "tiny" / "final.h5ad")
    second = ad.read_h5ad(workdir / "results" / "tiny" / "final.h5ad")
    np.testing.assert_array_equal(first.obsm["X_umap"], second.obsm["X_umap"])
    assert (first.obs["leiden"] == second.obs["leiden"]).all()
    assert not list(workdir.rglob("*.tmp-*"))
