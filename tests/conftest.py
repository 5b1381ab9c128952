"""Shared fixtures: seeded tiny AnnData factories and the real data in ../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

import anndata as ad
import pytest

from factories import make_counts

os.environ.setdefault("MPLBACKEND", "Agg")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SCSNAKE_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; tests that use it skip cleanly when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def counts_adata() -> ad.AnnData:
    """60 cells × 40 genes, CSR float32 counts."""
    return make_counts()


@pytest.fixture(params=["dense", "csr", "csc"])
def counts_any_format(request: pytest.FixtureRequest) -> ad.AnnData:
    """The same counts as dense, CSR and CSC (parametrised)."""
    return make_counts(fmt=request.param)


@pytest.fixture(scope="session")
def mouse10k(shared_data: Path) -> ad.AnnData:
    """10,000 real mouse cells × 1,000 genes, raw counts (CSR float32); read once."""
    adata = ad.read_h5ad(shared_data / "mouse10k_counts.h5ad")
    adata.var_names_make_unique()
    return adata


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Collect the tests that run Snakemake (or SLURM) first.

    Under ``pytest -n 2 --dist loadgroup`` one worker runs a group's tests in turn; started
    last, the long groups would leave the other worker idle at the end of the run.
    """
    items.sort(
        key=lambda item: all(
            item.get_closest_marker(name) is None for name in ("workflow", "hpc", "xdist_group")
        )
    )
