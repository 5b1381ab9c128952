"""benchmarks/steps.py end to end at a tiny size: every step in every table, finite ratios.

Timings are never asserted (they belong in benchmarks/RESULTS.md); these tests check that
the suites run, compare and report. Threads are pinned to 1: on a busy machine OpenMP
spin-waiting makes t-SNE 10× slower, and the numbers here mean nothing anyway.
"""

from __future__ import annotations

import importlib.util
import math
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
SIZE = ("300", "300")  # cells, genes
TAG = "x".join(SIZE)


def _load(name: str) -> ModuleType:
    """A module of benchmarks/ (not a package), with benchmarks/ importable for its own imports."""
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


def _steps(*args: str, workdir: Path, timeout: int = 600) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "NUMBA_NUM_THREADS": "1"}  # fmt: skip
    cmd = [sys.executable, str(BENCH / "steps.py"), "--cells", SIZE[0], "--genes", SIZE[1], "--no-warmup",
           "--n-jobs", "1", "--tsne-cells", "150", "--workdir", str(workdir), *args]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def _table(markdown: str) -> dict[str, list[str]]:
    """Rows of the step table: step name → cells after it."""
    rows = {}
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 9 and cells[0] not in {"step", "---"}:
            rows[cells[0].split(" (")[0]] = cells[1:]
    return rows


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("steps")


@pytest.mark.slow
@pytest.mark.once
def test_every_suite_reports_every_step(workdir: Path) -> None:
    run = _load("_steps_run")
    results = workdir / "RESULTS.md"
    _steps("--suite", "all", "--one-process", "--append-results", "--results", str(results), workdir=workdir)
    combined = results.read_text()
    for suite in ("preprocessing", "graph", "markers"):
        text = (workdir / f"steps_{suite}_{TAG}.md").read_text()
        assert f"<!-- steps:{suite}:{TAG} -->" in combined
        assert "python benchmarks/steps.py" in text and "scanpy 1." in text
        rows = _table(text)
        steps = run.suite_steps(suite)
        assert list(rows) == [s.name for s in steps]
        for step in steps:
            sc_s, ss_s, time_ratio, _, _, mem_ratio, _, agreement = rows[step.name]
            if step.scanpy_needs and importlib.util.find_spec(step.scanpy_needs) is None:
                assert sc_s == f"n/a ({step.scanpy_needs} not installed)" and time_ratio == "–"
                assert float(ss_s) >= 0 and agreement.startswith("15-NN")  # a quality of scsnake's own layout
                continue
            assert math.isfinite(float(time_ratio)) and float(time_ratio) > 0, (step.name, rows[step.name])
            assert float(sc_s) >= 0 and float(ss_s) >= 0
            assert mem_ratio == "–" or math.isfinite(float(mem_ratio))  # "–": scanpy used < 0.01 GB
            assert agreement not in {"", "n/a"}, step.name


@pytest.mark.slow
@pytest.mark.once
def test_one_process_per_step_and_timeouts(workdir: Path) -> None:
    """The default path (a fresh process per step and tool) and a step killed by --timeout."""
    _steps("--suite", "markers", "--steps", "rank_genes_groups_t-test", workdir=workdir)
    rows = _table((workdir / f"steps_markers_{TAG}.md").read_text())
    assert list(rows) == ["rank_genes_groups_t-test"]
    assert math.isfinite(float(rows["rank_genes_groups_t-test"][2]))
    assert rows["rank_genes_groups_t-test"][7].startswith("top-25 overlap")
    # 1 s is less than importing either library: both processes are killed
    _steps("--suite", "markers", "--steps", "rank_genes_groups_logreg", "--timeout", "1", workdir=workdir)
    row = _table((workdir / f"steps_markers_{TAG}.md").read_text())["rank_genes_groups_logreg"]
    assert row[:3] == ["timeout after 1 s", "timeout after 1 s", "–"]
    assert row[7] == "n/a"


def test_results_sections_are_replaced_not_duplicated(tmp_path: Path) -> None:
    report = _load("_steps_report")
    path = tmp_path / "RESULTS.md"
    report.update_results(path, "steps:graph:10x10", "## graph\n\nfirst\n")
    report.update_results(path, "steps:markers:10x10", "## markers\n\nkept\n")
    report.update_results(path, "steps:graph:10x10", "## graph\n\nsecond\n")
    text = path.read_text()
    assert text.startswith(report.INTRO.splitlines()[0])
    assert text.count("<!-- steps:graph:10x10 -->") == 1 and "second" in text and "first" not in text
    assert text.index("## graph") < text.index("## markers") and "kept" in text
