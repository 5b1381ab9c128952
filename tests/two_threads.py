"""Thread checks under ``make test``, which gives numba one thread per worker: they run again
in a child pytest with two numba threads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numba
import pytest

REPO = Path(__file__).resolve().parents[1]

#: Marks the test that starts the child: needed only where this process has one thread.
only_with_one_thread = pytest.mark.skipif(
    numba.config.NUMBA_NUM_THREADS >= 2, reason="the thread checks run in this process"
)


def run_with_two_threads(test_file: str, keyword: str) -> None:
    """Run the tests of ``test_file`` selected by ``-k keyword`` with ``NUMBA_NUM_THREADS=2``;
    fail unless they ran and passed."""
    env = {**os.environ, "NUMBA_NUM_THREADS": "2"}
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:xdist",
        test_file,
        "-k",
        keyword,
    ]
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert " passed" in proc.stdout and "skipped" not in proc.stdout, proc.stdout[-2000:]
