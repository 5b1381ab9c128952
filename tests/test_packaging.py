"""What `pip install scsnake` brings, and what the locked environment pins."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\s<>=!~;\[]", req, maxsplit=1)[0].lower() for req in requirements}


def test_library_needs_no_workflow_engine() -> None:
    """The library's dependencies leave Snakemake to the `workflow` extra, with the report's pygments."""
    assert "snakemake" not in _names(PYPROJECT["project"]["dependencies"])
    assert {"snakemake", "pygments"} <= _names(PYPROJECT["project"]["optional-dependencies"]["workflow"])


def test_importing_the_library_imports_no_snakemake() -> None:
    code = (
        "import sys, scsnake as ss\n"
        "from scsnake import cli, config, datasets, get, io, metrics, pl, pp, runner, tl\n"
        "sys.exit('snakemake' in sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


def _pins(lock: Path) -> dict[str, str]:
    pins = {}
    for line in lock.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split(";", 1)[0].split("==")
            pins[name.strip().lower()] = version.strip()
    return pins


def test_locks_agree_with_each_other_and_the_conda_env() -> None:
    """The run lock is the test lock's subset at the same versions; envs/scsnake.yaml pins the run lock."""
    run, test = _pins(REPO / "envs/run.lock.txt"), _pins(REPO / "envs/test.lock.txt")
    assert {"anndata", "numpy", "pandas", "scipy", "snakemake", "pygments"} <= set(run)
    assert {name: test.get(name) for name in run} == run
    conda = (REPO / "envs/scsnake.yaml").read_text()
    for name, version in run.items():
        assert f'"{name}=={version}' in conda, name


def test_every_lock_line_is_pinned() -> None:
    for lock in ("run", "test"):
        for line in (REPO / f"envs/{lock}.lock.txt").read_text().splitlines():
            requirement = line.split("#", 1)[0].strip()
            assert not requirement or "==" in requirement, (lock, line)


def test_neighbors_is_the_module_whatever_the_import_order() -> None:
    """As in scanpy: ``ss.neighbors`` is the module, the function is ``ss.pp.neighbors``."""
    code = (
        "import types, scsnake as ss\n"
        "first = ss.neighbors\n"
        "import scsnake.neighbors, scsnake.pp\n"
        "assert isinstance(first, types.ModuleType) and ss.neighbors is first\n"
        "assert callable(ss.pp.neighbors) and ss.pp.neighbors is ss.neighbors.neighbors\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)
