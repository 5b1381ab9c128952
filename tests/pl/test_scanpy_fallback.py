"""scanpy's own plots run on the workflow's ``final.h5ad``, so a user can always fall back on them.

The object is made by the workflow's own stage functions with the workflow's validated
parameters (load → qc → normalize → hvg → pca → neighbors → umap → leiden → markers → paga →
final, the stage declarations of ``scsnake.stages``, as ``scsnake.runner`` calls them) on a small
synthetic sample, in memory rather than through an artifact per stage (a snakemake run or the
runner's reads and writes take longer than this test may), then written with ``ss.write`` as
the final stage writes it. ``sc.pl`` draws from the file read back with anndata.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import anndata as ad
import matplotlib.pyplot as plt
import pytest

import scsnake as ss
from scsnake.config import stage_params_json, validate_config
from scsnake.errors import EmptyGeneSetWarning
from scsnake.runner import declaration, parse_params

sc = pytest.importorskip("scanpy")

CONFIG = validate_config(
    {
        "samples": {"s": {"synthetic": {"n_cells": 150, "n_genes": 120, "n_types": 3}}},
        "qc": {"min_genes": 5},
        "hvg": {"n_top_genes": 60},
        "pca": {"n_comps": 8},
        "neighbors": {"n_neighbors": 8},
        "umap": {"maxiter": 10, "method": "parallel"},
        "paga": {"enabled": True},
    }
)
STAGES = ("load", "qc", "normalize", "hvg", "pca", "neighbors", "umap", "leiden", "markers", "paga", "final")


@pytest.fixture(scope="module")
def final(tmp_path_factory: pytest.TempPathFactory) -> ad.AnnData:
    adata = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EmptyGeneSetWarning)  # the synthetic genes have no HB genes
        adata = _chain()
    path = tmp_path_factory.mktemp("fallback") / "final.h5ad"
    ss.write(adata, path)
    return ad.read_h5ad(path)


def _chain() -> ad.AnnData:
    adata = None
    for name in STAGES:
        params_json = stage_params_json(CONFIG, name, "s" if name in ("load", "qc") else None)
        stage = declaration(name, params_json)
        params = parse_params(stage, params_json)
        if stage.kind == "source":
            adata = stage.func(params.sample, params.options, name="s", random_state=params.seed)
        else:
            seed = {"random_state": params.random_state or 0} if stage.seeded else {}
            adata = stage.func(adata, params, **seed)
    return adata


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_scanpy_plots_draw_the_final_artifact(final: ad.AnnData, tmp_path: Path) -> None:
    figdir, sc.settings.figdir = sc.settings.figdir, tmp_path
    adata = final.copy()
    genes = [str(g) for g in adata.uns["rank_genes_groups"]["names"][0]][:3]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scanpy's own deprecation and future warnings, not ours
        axes = sc.pl.umap(adata, color=["leiden", genes[0]], show=False)
        assert len(axes) == 2 and axes[0].get_title() == "leiden"
        ax = sc.pl.violin(adata, "n_genes_by_counts", groupby="leiden", show=False)
        assert ax.get_xlabel() == "leiden"
        dot = sc.pl.dotplot(adata, genes, "leiden", return_fig=True)
        assert [t.get_text() for t in dot.get_axes()["mainplot_ax"].get_xticklabels()] == genes
        sc.pl.rank_genes_groups(adata, n_genes=5, save="_final.png", show=False)
        assert (tmp_path / "rank_genes_groups_leiden_final.png").exists()
        sc.pl.paga(adata, show=False)
        assert "pos" in adata.uns["paga"]
    sc.settings.figdir = figdir
