"""The workflow's ``de.csv`` on data with a known answer.

Real counts (``mouse10k``, 150 well-expressed genes) as a merged ``final`` artifact of six
samples (three per condition, from the sample sheet) and two Leiden clusters; 30 genes are
multiplied by 3 in condition B, cluster 0 only. The ``pseudobulk`` and ``de`` jobs run through
the runner with the parameters the validated config gives them, as the rules call it; the table
they write must hold the planted genes, in the right direction, and little else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest

import scsnake as ss
from scsnake.cli import main
from scsnake.config import stage_params_json, validate_config

if TYPE_CHECKING:
    from pathlib import Path

    import anndata as ad

pytest.importorskip("pydeseq2")
pytestmark = pytest.mark.slow

N_PLANTED = 30
CONDITIONS = {"a1": "A", "a2": "A", "a3": "A", "b1": "B", "b2": "B", "b3": "B"}
CONFIG = {
    "samples": {
        name: {"input": "synthetic", "metadata": {"condition": level}} for name, level in CONDITIONS.items()
    },
    "merge": {"enabled": True},
    "pseudobulk": {"enabled": True, "groupby": "leiden", "min_cells": 10},
    "de": {"enabled": True, "design": "~condition", "contrast": ["condition", "B", "A"]},
}


def _planted_final(mouse10k: ad.AnnData) -> tuple[ad.AnnData, set[str]]:
    """A merged final object: counts layer, obs sample / condition / leiden; 30 genes × 3 in B, cluster 0."""
    rng = np.random.default_rng(1)
    means = np.asarray(mouse10k.X.mean(axis=0)).ravel()
    adata = mouse10k[:, np.sort(np.argsort(-means)[:150])].copy()
    samples = np.array(list(CONDITIONS))[rng.integers(0, len(CONDITIONS), adata.n_obs)]
    adata.obs["sample"] = pd.Categorical(samples)
    adata.obs["condition"] = pd.Categorical([CONDITIONS[s] for s in samples])
    adata.obs["leiden"] = pd.Categorical(np.where(rng.random(adata.n_obs) < 0.5, "0", "1"))
    hit = rng.choice(adata.n_vars, N_PLANTED, replace=False)
    cells = ((adata.obs["condition"] == "B") & (adata.obs["leiden"] == "0")).to_numpy()
    counts = adata.X.tocsc()
    for j in hit:
        rows = slice(counts.indptr[j], counts.indptr[j + 1])
        counts.data[rows] *= np.where(cells[counts.indices[rows]], 3, 1).astype(counts.dtype)
    adata.layers["counts"] = counts.tocsr()
    adata.X = adata.layers["counts"].copy()
    return adata, set(adata.var_names[hit])


def test_the_workflows_de_table_recovers_planted_genes(mouse10k: ad.AnnData, tmp_path: Path) -> None:
    config = validate_config(CONFIG)
    final, truth = _planted_final(mouse10k)
    ss.io.write(final, tmp_path / "final.h5ad")
    jobs = {
        "pseudobulk": ["--input", str(tmp_path / "final.h5ad"), "--output", str(tmp_path / "pseudobulk.h5ad")],
        "de": [
            "--input", str(tmp_path / "pseudobulk.h5ad"), "--output", str(tmp_path / "de.h5ad"),
            "--table", str(tmp_path / "de.csv"), "--view", str(tmp_path / "de.html"),
        ],
    }  # fmt: skip
    for stage, files in jobs.items():
        assert main(["run", stage, *files, "--params", stage_params_json(config, stage)]) == 0, stage

    table = pd.read_csv(tmp_path / "de.csv", dtype={"group": str})
    columns = ["group", "gene", "baseMean", "log2FoldChange", "lfcSE", "stat", "pvalue", "padj"]
    assert list(table.columns) == columns
    assert table.groupby("group").size().to_dict() == {"0": 150, "1": 150}
    calls = table[table["padj"] < 0.05]
    in_zero = calls[calls["group"] == "0"]
    found = set(in_zero["gene"]) & truth
    precision, recall = len(found) / max(len(in_zero), 1), len(found) / len(truth)
    assert precision >= 0.9 and recall >= 0.9, (precision, recall)
    planted_calls = calls[calls["gene"].isin(truth)]
    assert (
        (planted_calls["group"] == "0") & (planted_calls["log2FoldChange"] > 0)
    ).all()  # none the wrong way
    assert len(calls[calls["group"] == "1"]) <= 3  # nothing planted there
    assert "Traceback" not in (tmp_path / "de.html").read_text()
