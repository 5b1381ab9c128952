"""Artifacts for the cross-environment tests (tests/io/test_cross_env.py): a workflow-like
AnnData built without randomness, and the writer the other environment runs.

The test starts pytest of the other environment (``.venv`` or ``.venv-latest``) on this file,
given explicitly (its name does not start with ``test_``, so a normal run only imports it):
:func:`test_write_artifacts` writes every artifact with scsnake's ``io.write`` under the
warning filters of ``pyproject.toml``, and ``info.json`` with the versions that wrote them.
"""

from __future__ import annotations

import json
import os
import platform
from importlib.metadata import version
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

N_CELLS, N_GENES, N_PCS = 90, 40, 5
#: The artifact id of every full artifact written (lean ones point at it).
ARTIFACT_ID = "cross-env-0001"
#: Full artifacts: file name and compression.
FULL = {
    "full.h5ad": None,
    "full_gzip.h5ad": "gzip",
    "full_lzf.h5ad": "lzf",
    "full.zarr": None,
    "full_gzip.zarr": "gzip",
    "full_lzf.zarr": "lzf",
    "full.zarr.zip": None,
}
#: Lean artifacts (no matrix): file name and the full artifact that holds their matrix.
LEAN = {"lean.h5ad": "full.h5ad", "lean.zarr": "full.zarr"}
#: Where the child writes, set by the test that starts it.
DIRECTORY_VARIABLE = "SCSNAKE_CROSS_ENV_DIR"


def _labels(prefix: str, codes: np.ndarray) -> list[str]:
    return [f"{prefix}{c}" for c in codes]


def workflow_like() -> ad.AnnData:
    """What a workflow's ``final`` artifact holds, small: sparse X (normalised) and
    ``layers['counts']``, categorical, text, number and flag columns, obsm, varm, obsp and
    nested uns (with scanpy's structured ``rank_genes_groups`` arrays). Exact values only
    (no randomness, no transcendental functions): every numpy version builds the same."""
    i, j = np.indices((N_CELLS, N_GENES))
    counts = np.where((i * 7 + j * 13) % 5 == 0, (i + 2 * j) % 9 + 1, 0).astype(np.float32)
    counts[3] = 0  # a cell without counts: an empty row
    totals = counts.sum(axis=1)
    cell_type = pd.Categorical(
        _labels("type_", i[:, 0] % 4), categories=["type_0", "type_1", "type_2", "type_3"]
    )
    obs = pd.DataFrame(
        {
            "cell_type": cell_type,
            "leiden": pd.Categorical([str(c) for c in (i[:, 0] * 5) % 3], categories=["0", "1", "2"]),
            "batch": pd.Categorical(_labels("b", i[:, 0] % 2), categories=["b1", "b0"], ordered=True),
            "barcode": [f"AAAC{c:04d}-1" for c in range(N_CELLS)],  # unique text stays text
            "n_counts": totals,
            "n_genes_by_counts": (counts > 0).sum(axis=1).astype(np.int32),
            "pct_counts_mt": np.where(totals > 0, np.arange(N_CELLS) / 8.0, np.nan),
            "predicted_doublet": np.arange(N_CELLS) % 11 == 0,
        },
        index=[f"cell{c:03d}" for c in range(N_CELLS)],
    )
    var = pd.DataFrame(
        {
            "gene_ids": [f"ENSG{g:011d}" for g in range(N_GENES)],
            "feature_types": pd.Categorical(["Gene Expression"] * N_GENES),
            "highly_variable": np.arange(N_GENES) % 3 == 0,
            "means": np.arange(N_GENES, dtype=np.float64) / 4,
            "mt": np.arange(N_GENES) < 2,
        },
        index=[f"MT-{g}" if g < 2 else f"Gene{g:03d}" for g in range(N_GENES)],
    )
    adata = ad.AnnData(sparse.csr_matrix(counts / 4), obs=obs, var=var)  # quarters: exact in float32
    adata.layers["counts"] = sparse.csr_matrix(counts)
    pcs = ((i[:, :N_PCS] * 3 + j[:, :N_PCS] * 5) % 17 - 8).astype(np.float32) / 2
    adata.obsm["X_pca"] = pcs
    adata.obsm["X_umap"] = pcs[:, :2] * 3
    adata.varm["PCs"] = ((np.indices((N_GENES, N_PCS)).sum(axis=0) % 7) - 3).astype(np.float64) / 8
    rows = np.repeat(np.arange(N_CELLS), 3)
    cols = (rows + np.tile([1, 2, 5], N_CELLS)) % N_CELLS
    distances = sparse.csr_matrix(((rows % 4 + 1).astype(np.float32) / 2, (rows, cols)), shape=(N_CELLS,) * 2)
    adata.obsp["distances"] = distances
    adata.obsp["connectivities"] = (distances + distances.T).tocsr() / 8
    for matrix in (adata.X, adata.layers["counts"], *adata.obsp.values()):
        matrix.sum_duplicates()  # canonical: sorted indices, so every scipy stores the same arrays
    groups = cell_type.categories.tolist()
    names = np.rec.fromarrays(
        [np.array(adata.var_names[g::4][:5].tolist(), dtype="U") for g in range(4)], names=groups
    )
    scores = np.rec.fromarrays([np.arange(5, dtype=np.float32)[::-1] + g for g in range(4)], names=groups)
    adata.uns = {
        "log1p": {"base": None},
        "hvg": {"flavor": "seurat"},
        "pca": {
            "variance": np.arange(N_PCS, 0, -1, dtype=np.float64),
            "variance_ratio": np.arange(N_PCS, 0, -1, dtype=np.float64) / 32,
            "params": {"zero_center": True, "use_highly_variable": True, "mask_var": "highly_variable"},
        },
        "neighbors": {
            "connectivities_key": "connectivities",
            "distances_key": "distances",
            "params": {"n_neighbors": 3, "method": "umap", "random_state": 0, "metric": "euclidean"},
        },
        "leiden": {"params": {"resolution": 1.0, "n_iterations": -1, "random_state": 0}},
        "cell_type_colors": np.array(["#1f77b4", "#ff7f0e", "#279e68", "#d62728"], dtype=object),
        "rank_genes_groups": {
            "names": names,
            "scores": scores,
            "params": {"groupby": "cell_type", "reference": "rest", "method": "wilcoxon"},
        },
        "scsnake": {
            "artifact_id": ARTIFACT_ID,
            "provenance": {"normalize": {"params": {"target_sum": 10000.0}, "seconds": 0.25}},
        },
    }
    return adata


def write_artifacts(directory: Path) -> dict[str, object]:
    """Write :data:`FULL` and :data:`LEAN` into ``directory``; returns what wrote them."""
    from scsnake._artifacts import lean_copy
    from scsnake.io import write
    from scsnake.io._zarr import WRITE_FORMAT

    for name, compression in FULL.items():
        write(workflow_like(), directory / name, compression=compression)
    for name, matrix in LEAN.items():
        lean = lean_copy(
            workflow_like(), matrix_path=directory / matrix, artifact_id=ARTIFACT_ID, output=directory / name
        )
        write(lean, directory / name)
    return {
        "python": platform.python_version(),
        **{package: version(package) for package in ("anndata", "zarr", "h5py", "pandas", "numpy", "scipy")},
        "zarr_format": WRITE_FORMAT,
    }


def test_write_artifacts() -> None:
    """Run by the cross-environment test in the other environment; skipped anywhere else."""
    target = os.environ.get(DIRECTORY_VARIABLE)
    if not target:
        pytest.skip(f"writes for tests/io/test_cross_env.py, which sets {DIRECTORY_VARIABLE}")
    directory = Path(target)
    info = write_artifacts(directory)
    (directory / "info.json").write_text(json.dumps(info))
