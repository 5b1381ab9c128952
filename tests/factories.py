"""Seeded tiny AnnData factories for tests (importable: tests/ is on pytest's pythonpath)."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
from scipy import sparse

__all__ = ["make_counts"]


def make_counts(
    n_cells: int = 60,
    n_genes: int = 40,
    *,
    seed: int = 0,
    fmt: str = "csr",
    dtype: type = np.float32,
    n_groups: int = 3,
) -> ad.AnnData:
    """A small random count matrix with group structure, MT-/RPS- genes and a `group` column."""
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, n_groups, n_cells)
    base = rng.gamma(0.6, 2.0, size=(n_groups, n_genes))
    mean = base[groups] * rng.lognormal(0, 0.4, size=(n_cells, 1))
    counts = rng.poisson(mean).astype(dtype)
    names = [f"MT-{i}" if i < 2 else f"RPS{i}" if i < 4 else f"Gene{i}" for i in range(n_genes)]
    X: object = counts
    if fmt == "csr":
        X = sparse.csr_matrix(counts)
    elif fmt == "csc":
        X = sparse.csc_matrix(counts)
    obs = pd.DataFrame(
        {"group": pd.Categorical([f"g{g}" for g in groups])},
        index=[f"cell{i}" for i in range(n_cells)],
    )
    return ad.AnnData(X=X, obs=obs, var=pd.DataFrame(index=names))
