"""``ss.settings`` (scanpy's names) and ``ss.set_figure_params``."""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib as mpl
import numba
import pytest

import scsnake as ss
from scsnake.errors import ParamError


@pytest.fixture
def restore() -> object:
    saved = (ss.settings.n_jobs, ss.settings.verbosity, numba.get_num_threads(), ss.datasets.settings.datadir)
    level = logging.getLogger("scsnake").level
    with mpl.rc_context():
        yield
    ss.settings.n_jobs, ss.settings.verbosity = saved[0], saved[1]
    numba.set_num_threads(saved[2])
    ss.datasets.settings.datadir = saved[3]
    logging.getLogger("scsnake").setLevel(level)


@pytest.mark.usefixtures("restore")
def test_n_jobs_sets_numba_threads_within_range() -> None:
    available = numba.config.NUMBA_NUM_THREADS
    ss.settings.n_jobs = 1
    assert numba.get_num_threads() == 1
    ss.settings.n_jobs = available + 5  # capped at what numba started with
    assert numba.get_num_threads() == available
    ss.settings.n_jobs = -1
    assert ss.settings.n_jobs == available
    with pytest.raises(ParamError, match="n_jobs"):
        ss.settings.n_jobs = 0


@pytest.mark.usefixtures("restore")
def test_verbosity_datasetdir_and_figure_params(tmp_path: Path) -> None:
    ss.settings.verbosity = "info"
    assert ss.settings.verbosity == 2
    assert logging.getLogger("scsnake").level == logging.INFO
    ss.settings.datasetdir = tmp_path
    assert ss.datasets.settings.datadir == tmp_path == ss.settings.datasetdir
    ss.settings.figdir = str(tmp_path)
    assert ss.settings.figdir == tmp_path
    ss.set_figure_params(dpi=50, dpi_save=300, format="png", figsize=(3, 3))
    assert mpl.rcParams["figure.dpi"] == 50
    assert mpl.rcParams["savefig.dpi"] == 300
    assert ss.settings.file_format_figs == "png"
    ss.settings.file_format_figs = "pdf"
    with pytest.raises(ParamError, match="verbosity"):
        ss.settings.verbosity = "loud"
