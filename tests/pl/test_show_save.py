"""scanpy's common plot arguments on every plot: save/show/return_fig, ax, ncols, groups, colours, kwargs.

``save`` is scanpy's (True or a suffix, written to ``settings.figdir`` or ``./figures``), what
``show=False`` and ``return_fig=True`` return is scanpy's, and each common argument has a visible
effect. The drawing itself is tested in test_plots.py / test_more_plots.py.
"""

from __future__ import annotations

import inspect
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import anndata as ad
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib import colors as mcolors
from matplotlib.axes import Axes
from matplotlib.figure import Figure

import scsnake
import scsnake as ss
from factories import make_counts
from scsnake.errors import ParamError

GENES = ["Gene5", "Gene6", "RPS2"]


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    """Run in a fresh folder (``./figures`` lands there) and leave no figure open."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(scsnake, "settings", None, raising=False)
    plt.close("all")
    yield
    leaked = plt.get_fignums()
    plt.close("all")
    assert not leaked, f"figures left open: {leaked}"


@pytest.fixture(scope="module")
def base() -> ad.AnnData:
    """60 cells × 20 genes in 3 groups: log1p X, PCA, a UMAP-like layout, markers, paga, symbols."""
    adata = make_counts(60, 20, n_groups=3, seed=5)
    adata.X = adata.X.log1p()
    ss.pp.pca(adata, n_comps=5)
    codes = adata.obs["group"].cat.codes.to_numpy()
    rng = np.random.default_rng(0)
    adata.obsm["X_umap"] = codes[:, None] * np.array([2.0, 0.5]) + rng.normal(0, 0.5, (60, 2))
    adata.obs["score"] = rng.normal(size=60)
    adata.var["symbol"] = [f"S{i}" for i in range(adata.n_vars)]
    ss.tl.rank_genes_groups(adata, "group", method="t-test")
    ss.pp.neighbors(adata, n_neighbors=8, use_rep="X_pca")
    ss.tl.paga(adata, groups="group")
    return adata


@pytest.fixture
def adata(base) -> ad.AnnData:
    return base.copy()


# (call, scanpy's file name stem)
SAVED = {
    "umap": (lambda a, **k: ss.pl.umap(a, color="group", **k), "umap"),
    "embedding": (lambda a, **k: ss.pl.embedding(a, "X_pca", color="group", **k), "pca"),
    "scatter": (lambda a, **k: ss.pl.scatter(a, "Gene5", "Gene6", **k), "scatter"),
    "violin": (lambda a, **k: ss.pl.violin(a, "Gene5", "group", **k), "violin"),
    "dotplot": (lambda a, **k: ss.pl.dotplot(a, GENES, "group", **k), "dotplot_"),
    "matrixplot": (lambda a, **k: ss.pl.matrixplot(a, GENES, "group", **k), "matrixplot_"),
    "stacked_violin": (lambda a, **k: ss.pl.stacked_violin(a, GENES, "group", **k), "stacked_violin_"),
    "heatmap": (lambda a, **k: ss.pl.heatmap(a, GENES, "group", **k), "heatmap"),
    "tracksplot": (lambda a, **k: ss.pl.tracksplot(a, GENES, "group", **k), "tracksplot"),
    "rank_genes_groups": (lambda a, **k: ss.pl.rank_genes_groups(a, n_genes=3, **k), "rank_genes_groups_group"),
    "rank_genes_groups_dotplot": (lambda a, **k: ss.pl.rank_genes_groups_dotplot(a, n_genes=2, **k), "dotplot_"),
    "paga": (lambda a, **k: ss.pl.paga(a, **k), "paga"),
    "cluster_sizes": (lambda a, **k: ss.pl.cluster_sizes(a, "group", **k), "cluster_sizes"),
    "highest_expr_genes": (lambda a, **k: ss.pl.highest_expr_genes(a, 5, **k), "highest_expr_genes"),
    "pca_variance_ratio": (lambda a, **k: ss.pl.pca_variance_ratio(a, 4, **k), "pca_variance_ratio"),
    "pca_loadings": (lambda a, **k: ss.pl.pca_loadings(a, "1,2", n_points=4, **k), "pca_loadings"),
}  # fmt: skip


@pytest.mark.parametrize("name", SAVED)
def test_save_writes_into_figures_as_scanpy(adata, tmp_path, name):
    draw, stem = SAVED[name]
    assert draw(adata, save="_x.png", show=False, dpi=40) is not None  # Axes back, file written, closed
    assert (tmp_path / "figures" / f"{stem}_x.png").stat().st_size > 500


@pytest.mark.parametrize("name", ["umap", "dotplot", "heatmap"])
def test_save_true_writes_pdf_shows_and_closes(adata, tmp_path, name):
    draw, stem = SAVED[name]
    assert draw(adata, save=True) is None  # shown (a no-op under Agg), closed
    assert (tmp_path / "figures" / f"{stem}.pdf").read_bytes().startswith(b"%PDF")


def test_save_follows_settings_figdir_and_format(adata, tmp_path, monkeypatch):
    monkeypatch.setattr(
        scsnake, "settings", SimpleNamespace(figdir=tmp_path / "figs", file_format_figs="svg")
    )
    ss.pl.umap(adata, color="group", save="_a")
    assert (tmp_path / "figs" / "umap_a.svg").read_text().lstrip().startswith("<?xml")
    with pytest.raises(ParamError, match="save takes True or a file name suffix"):
        ss.pl.umap(adata, color="group", save=tmp_path / "u.png")


def test_return_values(adata):
    ax = ss.pl.umap(adata, color="group", show=False)
    assert isinstance(ax, Axes)
    axes = ss.pl.umap(adata, color=["group", "score", "Gene5"], show=False)
    assert isinstance(axes, list) and len(axes) == 3
    fig = ss.pl.umap(adata, color="group", return_fig=True)
    assert isinstance(fig, Figure) and fig.number in plt.get_fignums()
    plt.close("all")
    assert ss.pl.violin(adata, "Gene5", "group") is None and not plt.get_fignums()
    grouped = ss.pl.dotplot(adata, GENES, "group", show=False)
    assert {"mainplot_ax", "size_legend_ax", "color_legend_ax"} <= set(grouped)
    heat = ss.pl.heatmap(adata, GENES, "group", show=False)
    assert {"heatmap_ax", "groupby_ax"} <= set(heat)
    plot = ss.pl.matrixplot(adata, GENES, "group", return_fig=True)
    assert isinstance(plot, ss.pl.MatrixPlot) and plot.fig is None  # drawn on demand
    plt.close("all")


def test_ax_draws_into_the_given_axes(adata):
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    ss.pl.umap(adata, color="group", ax=left, show=False)
    axes = ss.pl.dotplot(adata, GENES, "group", ax=right, show=False)
    assert axes["mainplot_ax"].figure is fig and len(plt.get_fignums()) == 1
    plt.close(fig)


def test_ncols_groups_legend_and_colours(adata):
    axes = ss.pl.umap(adata, color=["group", "score", "Gene5", "Gene6"], ncols=2, show=False)
    assert len({round(a.get_position().y0, 3) for a in axes}) == 2  # two rows of two
    ax = ss.pl.umap(adata, color="group", groups=["g1"], show=False)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["g1"]
    ax = ss.pl.umap(adata, color="group", legend_loc="none", show=False)
    assert ax.get_legend() is None
    ax = ss.pl.umap(adata, color="score", color_map="magma", vmin=-1, vmax=1, size=33, show=False)
    points = max(ax.collections, key=lambda c: len(c.get_offsets()))
    assert points.get_cmap().name == "magma" and points.norm.vmin == -1 and points.norm.vmax == 1
    assert set(points.get_sizes()) == {33}
    ax = ss.pl.umap(adata, color="score", vcenter=0, show=False)
    assert isinstance(max(ax.collections, key=lambda c: len(c.get_offsets())).norm, mcolors.TwoSlopeNorm)
    ax = ss.pl.umap(adata, color="score", norm=mcolors.PowerNorm(2, -2, 2), show=False)
    assert max(ax.collections, key=lambda c: len(c.get_offsets())).norm.gamma == 2
    with pytest.raises(ParamError, match="cmap or color_map"):
        ss.pl.umap(adata, color="score", cmap="viridis", color_map="magma")
    plt.close("all")


def test_outline_components_symbols_and_kwargs(adata):
    plain = ss.pl.umap(adata, color="group", show=False)
    outlined = ss.pl.umap(adata, color="group", add_outline=True, show=False)
    assert len(outlined.collections) == len(plain.collections) + 2  # black ring and white gap
    ax = ss.pl.pca(adata, color="S5", gene_symbols="symbol", components="2,3", show=False)
    assert ax.get_title() == "S5" and ax.get_xlabel() == "PC2" and ax.get_ylabel() == "PC3"
    ax = ss.pl.umap(adata, color="group", marker="s", alpha=0.5, show=False)
    assert max(ax.collections, key=lambda c: len(c.get_offsets())).get_alpha() == 0.5
    axes = ss.pl.dotplot(adata, GENES, "group", edgecolors="black", linewidths=1.0, show=False)
    dots = axes["mainplot_ax"].collections[0]
    assert mcolors.to_hex(dots.get_edgecolor()[0]) == "#000000"
    ax = ss.pl.violin(adata, "Gene5", "group", alpha=0.3, show=False)
    assert {round(p.get_alpha(), 2) for p in ax.collections if p.get_alpha() is not None} >= {0.3}
    plt.close("all")


def test_dendrogram_is_computed_when_missing(adata):
    assert "dendrogram_group" not in adata.uns
    axes = ss.pl.matrixplot(adata, GENES, "group", dendrogram=True, show=False)
    assert "dendrogram_group" in adata.uns and "group_extra_ax" in axes
    order = [str(c) for c in adata.uns["dendrogram_group"]["categories_ordered"]]
    labels = [t.get_text() for t in axes["mainplot_ax"].get_yticklabels()]
    assert labels == order
    ss.pl.stacked_violin(adata, GENES, "group", dendrogram=True, show=False)
    plt.close("all")


def test_chained_classes(adata, tmp_path):
    plot = (
        ss.pl.DotPlot(adata, GENES, "group")
        .style(cmap="Blues", largest_dot=50)
        .legend(show_size_legend=False)
    )
    axes = plot.add_totals().swap_axes().get_axes()
    assert "size_legend_ax" not in axes and "color_legend_ax" in axes and "group_extra_ax" in axes
    assert [t.get_text() for t in axes["mainplot_ax"].get_xticklabels()] == ["g0", "g1", "g2"]
    assert max(axes["mainplot_ax"].collections[0].get_sizes()) <= 50
    plot.savefig(tmp_path / "dot.png")
    assert (tmp_path / "dot.png").stat().st_size > 1000
    matrix = ss.pl.MatrixPlot(adata, GENES, "group").style(cmap="Greens", edge_color="red").legend(show=False)
    fig = matrix.add_dendrogram().make_figure()
    assert matrix.get_axes()["mainplot_ax"].collections[0].get_cmap().name == "Greens"
    assert "color_legend_ax" not in matrix.get_axes() and isinstance(fig, Figure)
    violins = ss.pl.StackedViolin(adata, GENES, "group").style(row_palette="tab10", yticklabels=True)
    assert violins.show(return_axes=True)["mainplot_ax"] is not None
    with pytest.raises(ParamError, match="unknown option"):
        violins.style(dot_max=0.5)
    plt.close("all")


def test_accepts_scanpys_common_arguments():
    """Every ss.pl function takes each common argument its scanpy namesake takes (and return_fig)."""
    sc = pytest.importorskip("scanpy")
    common = {"show", "return_fig", "save", "ax", "gene_symbols", "components", "groups", "ncols",
              "legend_loc", "color_map", "cmap", "vmin", "vmax", "size", "add_outline"}  # fmt: skip
    wrappers = {"umap", "pca", "tsne", "diffmap", "draw_graph", "pca_overview"}  # they call ss.pl.embedding
    missing = {}
    for name in ss.pl.__all__:
        theirs = getattr(sc.pl, name, None)
        if theirs is None or isinstance(theirs, type):
            continue
        ours = ss.pl.embedding if name in wrappers else getattr(ss.pl, name)
        params = set(inspect.signature(ours).parameters)
        if "kwds" in params or "kwargs" in params:
            params |= {"kwds"}
        wanted = (common & set(inspect.signature(theirs).parameters)) | {"show", "save", "return_fig"}
        if wanted - params:
            missing[name] = sorted(wanted - params)
    assert missing == {}


def test_stage_figures_are_written_from_returned_figures(base, tmp_path):
    """The workflow's plots stage saves the figures the plots return (no path through save=)."""
    from scsnake.stages._plots import PlotsParams, plots

    adata = base.copy()
    adata.obs["leiden"] = adata.obs["group"]
    adata.uns["rank_genes_groups"]["params"]["groupby"] = "leiden"
    ss.pp.highly_variable_genes(adata, n_top_genes=10)
    adata.uns["pca"]["variance_ratio"] = np.asarray(adata.uns["pca"]["variance_ratio"])
    adata.obs["total_counts"] = pd.Series(np.asarray(adata.X.sum(1)).ravel(), index=adata.obs_names)
    paths = plots(adata, PlotsParams(dpi=50), outdir=tmp_path / "out")
    assert all(p.stat().st_size > 1000 for p in paths.values())


def test_violin_multi_panel_and_older_names(adata):
    axes = ss.pl.violin(adata, ["Gene5", "Gene6", "score"], multi_panel=True, ncols=2, show=False)
    assert [a.get_xticklabels()[0].get_text() for a in axes] == ["Gene5", "Gene6", "score"]
    assert len({round(a.get_position().y0, 3) for a in axes}) == 2
    one = ss.pl.violin(adata, "Gene5", "group", scale="count", show=False)
    assert one.collections
    axes = ss.pl.stacked_violin(adata, GENES, "group", order=["g2", "g0"], scale="area", show=False)
    assert [t.get_text() for t in axes["mainplot_ax"].get_yticklabels()] == ["g2", "g0"]
    plt.close("all")
