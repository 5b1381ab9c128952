"""Helpers to run the real Snakemake workflow in a temporary directory."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]

#: A config small enough to run the whole workflow in seconds.
TINY_CONFIG: dict[str, Any] = {
    "seed": 0,
    "samples": {"tiny": {"input": "synthetic", "synthetic": {"n_cells": 400, "n_genes": 300, "n_types": 3}}},
    "qc": {"min_genes": 20, "min_cells": 1},
    "hvg": {"n_top_genes": 150},
    "pca": {"n_comps": 15},
    "neighbors": {"n_neighbors": 10},
    "umap": {"maxiter": 50},
    "markers": {"method": "t-test", "n_table_genes": 5},
    "plots": {"dpi": 60},
}


def write_config(workdir: Path, config: dict[str, Any]) -> Path:
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snakemake(
    workdir: Path, *args: str, config: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess:
    """Run Snakemake on the repo's Snakefile in ``workdir``; returns the finished process."""
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
        "2",
        *(["--configfile", str(config)] if config else []),
        *args,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=workdir, timeout=900)
    if check and proc.returncode != 0:
        logs = "\n".join(f"--- {p}\n{p.read_text()}" for p in sorted(workdir.glob("logs/*/*.log")))
        pytest.fail(f"snakemake failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}\n{logs}")
    return proc


def shared_tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished run of :data:`TINY_CONFIG` per test session, made by the first test worker
    that asks and shared by all of them (under ``pytest -n``, workers share the base temp dir's
    parent). Read it, or copy it (:func:`copy_run`) to write into it or run more in it."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    run = root / "tiny-run"
    with (root / "tiny-run.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the others wait for the first worker's run
        if not (run / ".finished").is_file():
            shutil.rmtree(run, ignore_errors=True)
            run.mkdir()
            snakemake(run, config=write_config(run, TINY_CONFIG))
            (run / ".finished").touch()
    return run


def copy_run(run: Path, workdir: Path) -> Path:
    """A copy of a finished run in ``workdir`` (times kept, so Snakemake finds it up to date)."""
    shutil.copytree(run, workdir, symlinks=True, dirs_exist_ok=True)
    return workdir


def planned_rules(dry_run_output: str) -> set[str]:
    """Rule names of the jobs a dry run would execute (from its 'Job stats' table)."""
    lines = dry_run_output.splitlines()
    if "Nothing to be done" in dry_run_output:
        return set()
    start = next(i for i, line in enumerate(lines) if line.startswith("Job stats"))
    planned = set()
    for line in lines[start + 3 :]:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        planned.add(parts[0])
    return planned
