"""profiles/slurm on a real single-node SLURM cluster (tests/hpc/start_slurm.sh).

Skipped when the cluster cannot be had here (not root, no apt, daemons do not come up, plugin
not installed); set ``SCSNAKE_REQUIRE_SLURM=1`` (CI) to make that a failure instead.
"""

from __future__ import annotations

import csv
import fcntl
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from workflow_helpers import REPO, TINY_CONFIG, shared_tiny_run, write_config

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [pytest.mark.hpc, pytest.mark.slow, pytest.mark.xdist_group("hpc")]

HERE = Path(__file__).resolve().parent
STATE = Path(os.environ.get("SCSNAKE_SLURM_DIR", "/tmp/scsnake-slurm"))
PARTITION = os.environ.get("SCSNAKE_SLURM_PARTITION", "debug")
ACCOUNT = os.environ.get("SCSNAKE_SLURM_ACCOUNT", "scsnake")
#: Stages the tiny config runs at least; each is a SLURM job (only `all` is local).
STAGE_RULES = {
    "load",
    "qc",
    "normalize",
    "hvg",
    "pca",
    "neighbors",
    "umap",
    "leiden",
    "markers",
    "final",
    "plots",
}
#: The profile as a user runs it, with the test cluster's account and partition.
SLURM_ARGS = (
    "--profile",
    str(REPO / "profiles" / "slurm"),
    "--default-resources",
    f"slurm_account={ACCOUNT}",
    f"slurm_partition={PARTITION}",
    # test speed and evidence only: poll after 2 s (default 40 s), keep every job's log
    "--slurm-init-seconds-before-status-checks",
    "2",
    "--slurm-keep-successful-logs",
)


@dataclass(frozen=True)
class SlurmJob:
    job_id: str
    rule: str
    state: str
    account: str
    partition: str
    req_mem_mb: int


def _unavailable(reason: str) -> None:
    if os.environ.get("SCSNAKE_REQUIRE_SLURM"):
        pytest.fail(f"SLURM test cluster required but unavailable: {reason}")
    pytest.skip(f"no SLURM test cluster: {reason}")


def _cluster_up(conf: Path) -> bool:
    """True if a cluster answers with this slurm.conf (e.g. started earlier with sudo)."""
    if not (conf.is_file() and shutil.which("sinfo")):
        return False
    env = {**os.environ, "SLURM_CONF": str(conf)}
    proc = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, env=env, check=False)
    return proc.returncode == 0 and proc.stdout.strip() in {"idle", "mix", "alloc"}


@pytest.fixture(scope="module")
def slurm_cluster() -> Iterator[Path]:
    """The test cluster, started here (and stopped afterwards) unless already up; yields its slurm.conf."""
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        _unavailable("snakemake-executor-plugin-slurm is not installed (pip install -e '.[slurm]')")
    conf = STATE / "etc" / "slurm.conf"
    was_up = _cluster_up(conf)
    if not was_up:
        if os.geteuid() != 0:
            _unavailable("start_slurm.sh must run as root; run `sudo tests/hpc/start_slurm.sh` first")
        try:
            proc = subprocess.run(
                ["bash", str(HERE / "start_slurm.sh")], capture_output=True, text=True, timeout=600
            )
        except subprocess.TimeoutExpired:
            _unavailable("start_slurm.sh did not finish within 600 s")
        if proc.returncode != 0:
            _unavailable(f"start_slurm.sh failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    # Concurrent sessions share the cluster: each holds a shared lock while using it, and the
    # session that started it stops it only if nobody else holds one.
    lock = os.open(f"{STATE}.use.lock", os.O_RDONLY | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock, fcntl.LOCK_SH)
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("SLURM_CONF", str(conf))
            yield conf
        if not was_up:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return
            subprocess.run(
                ["bash", str(HERE / "stop_slurm.sh")], capture_output=True, timeout=120, check=False
            )
    finally:
        os.close(lock)


def _run_slurm(workdir: Path, *args: str, snakefile: Path = REPO / "Snakefile") -> str:
    """Snakemake with profiles/slurm in ``workdir``; returns its log (stderr). Fails with the job logs."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    cmd = [sys.executable, "-m", "snakemake", "-s", str(snakefile), "-d", str(workdir), *SLURM_ARGS, *args]
    # a guard against a hung run, not a speed test: a loaded CI machine takes 10-15 min
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=workdir, timeout=2400)
    if proc.returncode != 0:
        logs = sorted(workdir.glob(".snakemake/slurm_logs/**/*.log")) + sorted(workdir.glob("logs/*/*.log"))
        text = "\n".join(f"--- {p}\n{p.read_text()}" for p in logs)
        pytest.fail(f"snakemake --profile profiles/slurm failed ({proc.returncode}):\n{proc.stderr}\n{text}")
    return proc.stderr


def _sacct(log: str) -> list[SlurmJob]:
    """The SLURM accounting records of the jobs a Snakemake log says it submitted, in order."""
    job_ids = re.findall(r"submitted with SLURM jobid (\d+)", log)
    assert job_ids, log
    out = subprocess.run(
        [
            "sacct",
            "-X",
            "--parsable2",
            "--noheader",
            "-j",
            ",".join(job_ids),
            "--format=JobIDRaw,Comment,State,Account,Partition,ReqMem",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    jobs = [
        # the executor's --comment: rule_<rule>[_wildcards_<values>]
        SlurmJob(
            row[0],
            re.sub(r"^rule_|_wildcards_.*$", "", row[1]),
            row[2],
            row[3],
            row[4],
            int(row[5].rstrip("M")),
        )
        for row in csv.reader(out.splitlines(), delimiter="|")
    ]
    assert [job.job_id for job in jobs] == sorted(job_ids, key=int), out
    return jobs


@pytest.fixture(scope="module")
def slurm_run(slurm_cluster: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The whole workflow on the tiny config, every stage a SLURM job."""
    workdir = tmp_path_factory.mktemp("slurm")
    log = _run_slurm(workdir, "--configfile", str(write_config(workdir, TINY_CONFIG)))
    return workdir, log


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same config run locally (the session's shared tiny run)."""
    return shared_tiny_run(tmp_path_factory)


def test_every_stage_ran_as_a_slurm_job(slurm_run: tuple[Path, str]) -> None:
    workdir, log = slurm_run
    assert re.findall(r"^localrule (\w+):", log, flags=re.MULTILINE) == ["all"], log
    jobs = _sacct(log)
    rules = [job.rule for job in jobs]
    assert sorted(rules) == sorted(re.findall(r"^rule (\w+):", log, flags=re.MULTILINE))
    assert set(rules) >= STAGE_RULES and len(rules) == len(set(rules)), rules
    for job in jobs:
        assert (job.state, job.account, job.partition) == ("COMPLETED", ACCOUNT, PARTITION), job
        # the job's own log: Snakemake ran the rule inside the allocation, and the rule's
        # mem_mb (workflow/rules/common.smk) is what SLURM allotted
        slurm_log = next(
            (workdir / ".snakemake" / "slurm_logs" / f"rule_{job.rule}").rglob(f"{job.job_id}.log")
        )
        text = slurm_log.read_text()
        assert f"rule {job.rule}:" in text
        assert re.search(r"\bmem_mb=(\d+)", text).group(1) == str(job.req_mem_mb), job
    assert (workdir / "results" / "tiny" / "figures" / "umap_clusters.png").stat().st_size > 1000


def test_slurm_results_equal_local_run(slurm_run: tuple[Path, str], local_run: Path) -> None:
    on_slurm = ad.read_h5ad(slurm_run[0] / "results" / "tiny" / "final.h5ad")
    local = ad.read_h5ad(local_run / "results" / "tiny" / "final.h5ad")
    assert on_slurm.obs["leiden"].nunique() > 1
    pd.testing.assert_series_equal(on_slurm.obs["leiden"], local.obs["leiden"])
    for key in ("X_pca", "X_umap"):
        np.testing.assert_array_equal(on_slurm.obsm[key], local.obsm[key], err_msg=key)
    np.testing.assert_array_equal(
        on_slurm.obsp["connectivities"].toarray(), local.obsp["connectivities"].toarray()
    )
    pd.testing.assert_frame_equal(
        pd.read_csv(slurm_run[0] / "results" / "tiny" / "markers.csv"),
        pd.read_csv(local_run / "results" / "tiny" / "markers.csv"),
    )


def test_job_killed_for_memory_is_resubmitted_with_more(slurm_cluster: Path, tmp_path: Path) -> None:
    """A job using 1.3x the first attempt's mem_mb (common.smk) is killed by SLURM, then retried with more."""
    write_config(tmp_path, TINY_CONFIG)
    snakefile = tmp_path / "Snakefile"
    snakefile.write_text(
        textwrap.dedent(f"""\
        configfile: "config.yaml"
        include: {str(REPO / "workflow" / "rules" / "common.smk")!r}

        rule hog:
            output: "hog.txt"
            resources:
                mem_mb=mem_mb,
                runtime=runtime,
                first_mb=lambda wildcards, input, attempt: mem_mb(wildcards, input, 1),
            shell:
                "{sys.executable} -c 'import numpy, time; a = numpy.ones(int({{resources.first_mb}} * 1.3 * 2**17)); time.sleep(4)'"
                " && echo {{resources.mem_mb}} > {{output}}"
        """)
    )
    log = _run_slurm(tmp_path, snakefile=snakefile)
    first, second = _sacct(log)
    assert (first.rule, first.state, second.rule, second.state) == ("hog", "FAILED", "hog", "COMPLETED")
    assert second.req_mem_mb > 1.3 * first.req_mem_mb
    assert (tmp_path / "hog.txt").read_text().split() == [str(second.req_mem_mb)]
    first_log = next((tmp_path / ".snakemake" / "slurm_logs").rglob(f"{first.job_id}.log")).read_text()
    assert "exceeded memory limit" in first_log
