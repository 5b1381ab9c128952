"""The rest of scanpy's plotting API: every plot renders, values drawn are right, bad input is named.

Results in ``uns`` that other stages write (rank_genes_groups, dendrogram_<key>, paga) are
made by scanpy in the exact shape it stores them, so the plots are tested on that shape.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import anndata as ad
import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib import colors as mcolors
from matplotlib.collections import QuadMesh
from matplotlib.figure import Figure
from scipy import sparse
from sklearn.neighbors import kneighbors_graph

import plot_figures as pl
from factories import make_counts
from scsnake import pl as ss_pl
from scsnake.errors import InputDataError, MissingKeyError, ParamError

sc = pytest.importorskip("scanpy")

GENES = ["Gene5", "Gene6", "RPS2", "Gene7"]
BLOCKS = {"g0": ["Gene5", "Gene6"], "g1": ["RPS2"], "g2": ["Gene7"], "g3": ["Gene8", "Gene9"]}


@pytest.fixture(autouse=True)
def no_open_figures():
    """Every test starts and must end without open pyplot figures."""
    plt.close("all")
    yield
    leaked = plt.get_fignums()
    plt.close("all")
    assert not leaked, f"figures left open: {leaked}"


def _build() -> ad.AnnData:
    """100 cells × 30 genes in 4 groups along a path: log1p X (CSR), counts layer, QC, PCA, UMAP,
    and scanpy's rank_genes_groups (all genes), dendrogram_group and paga results."""
    adata = make_counts(100, 30, n_groups=4, seed=3)
    adata.layers["counts"] = adata.X.copy()
    adata.var["mt"] = adata.var_names.str.startswith("MT-")
    sc.pp.calculate_qc_metrics(adata, qc_vars=["mt"], percent_top=None, inplace=True)
    adata.X = adata.X.log1p()
    sc.pp.highly_variable_genes(adata, n_top_genes=10)
    sc.pp.pca(adata, n_comps=8)
    codes = adata.obs["group"].cat.codes.to_numpy()
    rng = np.random.default_rng(0)
    path = codes[:, None] * np.array([2.0, 0.5]) + rng.normal(0, 0.9, (100, 2))
    knn = kneighbors_graph(path, 10, include_self=False)
    adata.obsp["connectivities"] = sparse.csr_matrix(((knn + knn.T) > 0).astype(np.float32))
    adata.obsp["distances"] = sparse.csr_matrix(knn, dtype=np.float32)
    adata.uns["neighbors"] = {
        "connectivities_key": "connectivities",
        "distances_key": "distances",
        "params": {"n_neighbors": 10, "method": "umap"},
    }
    sc.tl.paga(adata, groups="group")
    for basis in ("X_umap", "X_tsne", "X_diffmap", "X_draw_graph_fa"):  # after paga, which reads X_diffmap
        adata.obsm[basis] = path + rng.normal(0, 0.1, (100, 2))
    adata.uns["draw_graph"] = {"params": {"layout": "fa"}}
    sc.tl.dendrogram(adata, "group", use_rep="X_pca")
    sc.tl.rank_genes_groups(adata, "group", n_genes=adata.n_vars, method="t-test")
    adata.obs["score"] = rng.normal(size=100)
    adata.obs["label"] = pd.Categorical(rng.choice(["x", "y"], 100))
    return adata


@pytest.fixture(scope="module")
def base() -> ad.AnnData:
    return _build()


@pytest.fixture
def adata(base) -> ad.AnnData:
    return base.copy()


def check_png(path, min_size=80):
    image = mpimg.imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    assert min_size <= image.shape[0] <= 4000 and min_size <= image.shape[1] <= 4000
    assert image[..., :3].std() > 0.01  # not a blank canvas
    return image


RENDERS = {
    "scatter": lambda a, p: pl.scatter(a, "total_counts", "Gene5", color=["group", "score", "Gene6"], save=p),
    "scatter-var": lambda a, p: pl.scatter(a, "means", "dispersions", color="highly_variable", save=p),
    "scatter-basis": lambda a, p: pl.scatter(a, basis="umap", color="group", components="2,1", save=p),
    "highest_expr_genes": lambda a, p: pl.highest_expr_genes(a, 8, layer="counts", save=p),
    "highly_variable_genes": lambda a, p: pl.highly_variable_genes(a, save=p),
    "highly_variable_genes-df": lambda a, p: pl.highly_variable_genes(a.var, log=True, save=p),
    "pca_variance_ratio": lambda a, p: pl.pca_variance_ratio(a, 6, save=p),
    "pca_loadings": lambda a, p: pl.pca_loadings(a, "1,2", n_points=8, save=p),
    "qc_overview": lambda a, p: pl.qc_overview(a, thresholds={"total_counts": (20, None)}, save=p),
    "qc_overview-groupby": lambda a, p: pl.qc_overview(
        a[a.obs.total_counts > 20],
        groupby="group",
        before=a,
        thresholds={"pct_counts_mt": (None, 10)},
        save=p,
    ),
    "matrixplot": lambda a, p: pl.matrixplot(a, BLOCKS, "group", dendrogram=True, save=p),
    "matrixplot-swap": lambda a, p: pl.matrixplot(
        a, GENES, "group", swap_axes=True, standard_scale="var", save=p
    ),
    "stacked_violin": lambda a, p: pl.stacked_violin(a, BLOCKS, "group", dendrogram=True, save=p),
    "stacked_violin-swap": lambda a, p: pl.stacked_violin(
        a, GENES, "group", swap_axes=True, stripplot=True, yticklabels=True, row_palette="tab10", save=p
    ),
    "heatmap": lambda a, p: pl.heatmap(a, BLOCKS, "group", dendrogram=True, save=p),
    "heatmap-swap": lambda a, p: pl.heatmap(a, GENES, "group", swap_axes=True, standard_scale="obs", save=p),
    "tracksplot": lambda a, p: pl.tracksplot(a, BLOCKS, "group", dendrogram=True, save=p),
    "rank_genes_groups": lambda a, p: pl.rank_genes_groups(a, n_genes=8, ncols=2, save=p),
    "rank_genes_groups_dotplot": lambda a, p: pl.rank_genes_groups_dotplot(a, n_genes=2, save=p),
    "rank_genes_groups_dotplot-lfc": lambda a, p: pl.rank_genes_groups_dotplot(
        a, n_genes=2, values_to_plot="logfoldchanges", cmap="bwr", vcenter=0, save=p
    ),
    "rank_genes_groups_matrixplot": lambda a, p: pl.rank_genes_groups_matrixplot(
        a, n_genes=2, values_to_plot="log10_pvals_adj", save=p
    ),
    "rank_genes_groups_heatmap": lambda a, p: pl.rank_genes_groups_heatmap(a, n_genes=2, save=p),
    "rank_genes_groups_stacked_violin": lambda a, p: pl.rank_genes_groups_stacked_violin(
        a, n_genes=2, save=p
    ),
    "rank_genes_groups_tracksplot": lambda a, p: pl.rank_genes_groups_tracksplot(
        a, ["g0", "g1"], n_genes=2, save=p
    ),
    "rank_genes_groups_violin": lambda a, p: pl.rank_genes_groups_violin(a, ["g0", "g2"], n_genes=4, save=p),
    "paga": lambda a, p: pl.paga(
        a, color=["group", "score", "label"], dashed_edges="connectivities_tree", save=p
    ),
    "dendrogram": lambda a, p: pl.dendrogram(a, "group", orientation="left", save=p),
    "tsne": lambda a, p: pl.tsne(a, color="group", save=p),
    "diffmap": lambda a, p: pl.diffmap(a, color="Gene5", save=p),
    "draw_graph": lambda a, p: pl.draw_graph(a, color="group", save=p),
}


@pytest.mark.parametrize("name", RENDERS)
def test_renders_png(adata, tmp_path, name, monkeypatch):
    monkeypatch.setitem(plt.rcParams, "savefig.dpi", 40)
    path = tmp_path / "plot.png"
    fig = RENDERS[name](adata, path)
    assert isinstance(fig, Figure)
    assert fig.number not in plt.get_fignums()  # saved figures are closed
    check_png(path)


def test_pdf_svg_dpi_and_open_figure(adata, tmp_path):
    pl.heatmap(adata, GENES, "group", save=tmp_path / "sub" / "h.pdf")
    assert (tmp_path / "sub" / "h.pdf").read_bytes().startswith(b"%PDF")
    pl.paga(adata, save=tmp_path / "p.svg")
    assert (tmp_path / "p.svg").read_text().lstrip().startswith("<?xml")
    pl.matrixplot(adata, GENES, "group", save=tmp_path / "low.png", dpi=30)
    pl.matrixplot(adata, GENES, "group", save=tmp_path / "high.png", dpi=60)
    low, high = mpimg.imread(tmp_path / "low.png"), mpimg.imread(tmp_path / "high.png")
    assert high.shape[0] == pytest.approx(2 * low.shape[0], rel=0.05)
    fig = pl.tracksplot(adata, GENES, "group", show=False)
    assert fig.number in plt.get_fignums()
    plt.close(fig)
    with pytest.raises(ParamError, match=r"use return_fig=True and fig.savefig"):
        ss_pl.heatmap(adata, GENES, "group", save=tmp_path / "h.jpg")


# ----------------------------------------------------------------------------- values drawn


def _group_means(adata, genes, groups):
    x = adata[:, genes].X.toarray()
    labels = adata.obs["group"].astype(str).to_numpy()
    return np.array([x[labels == g].mean(0) for g in groups])


@pytest.mark.parametrize("fmt", ["dense", "csr", "csc"])
def test_matrixplot_means_any_format(fmt):
    adata = make_counts(60, 20, fmt=fmt)
    fig = pl.matrixplot(adata, ["Gene5", "Gene6", "Gene7"], "group", show=False)
    mesh = next(c for c in fig.axes[0].collections if isinstance(c, QuadMesh))
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    plt.close(fig)
    x = make_counts(60, 20, fmt="dense").X[:, 5:8]
    groups = make_counts(60, 20).obs["group"].to_numpy()
    expected = np.array([x[groups == g].mean(0) for g in labels])
    np.testing.assert_allclose(np.asarray(mesh.get_array()).reshape(expected.shape), expected, rtol=1e-6)


def test_matrixplot_scaling_values_df_and_dendrogram_order(adata):
    order = list(adata.uns["dendrogram_group"]["categories_ordered"])
    fig = pl.matrixplot(adata, BLOCKS, "group", dendrogram=True, standard_scale="var", show=False)
    mesh = next(c for c in fig.axes[0].collections if isinstance(c, QuadMesh))
    rows = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    cols = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    plt.close(fig)
    assert rows == order  # groups follow the dendrogram, and so do the blocks named after them
    assert cols == [g for group in order for g in BLOCKS[group]]
    means = _group_means(adata, cols, rows)
    scaled = (means - means.min(0)) / (means.max(0) - means.min(0))
    np.testing.assert_allclose(np.asarray(mesh.get_array()).reshape(scaled.shape), scaled, rtol=1e-6)
    table = pd.DataFrame(
        np.arange(8.0).reshape(4, 2), index=["g0", "g1", "g2", "g3"], columns=["Gene5", "Gene6"]
    )
    fig = pl.matrixplot(adata, ["Gene6", "Gene5"], "group", values_df=table, show=False)
    mesh = next(c for c in fig.axes[0].collections if isinstance(c, QuadMesh))
    plt.close(fig)
    np.testing.assert_array_equal(
        np.asarray(mesh.get_array()).reshape(4, 2), table[["Gene6", "Gene5"]].to_numpy()
    )


def test_stacked_violin_fills_by_median(adata):
    fig = pl.stacked_violin(adata, ["Gene5", "Gene6"], "group", show=False)
    main = fig.axes[0]
    rows = main.child_axes  # one inset per group
    groups = [t.get_text() for t in main.get_yticklabels()]
    medians = np.array(
        [np.median(adata[adata.obs.group == g, ["Gene5", "Gene6"]].X.toarray(), 0) for g in groups]
    )
    norm = mcolors.Normalize(medians.min(), medians.max())
    expected = plt.get_cmap("Blues")(norm(medians))
    for row_ax, row_colors in zip(rows, expected, strict=True):
        drawn = [c.get_facecolor()[0] for c in row_ax.collections if c.get_facecolor().size]
        violins = [c for c in drawn if len(drawn) == 2] or drawn
        np.testing.assert_allclose(np.array(violins)[:, :3], row_colors[: len(violins), :3], atol=0.01)
    plt.close(fig)


def test_heatmap_rows_sorted_by_group_with_stored_colours(adata):
    adata.uns["group_colors"] = ["#000000", "#ff0000", "#00ff00", "#0000ff"]
    fig = pl.heatmap(adata, GENES, "group", show=False)
    image = fig.axes[0].get_images()[0].get_array()
    bar = fig.axes[1].get_images()[0].get_array()
    plt.close(fig)
    codes = adata.obs["group"].cat.codes.to_numpy()
    sizes = np.bincount(codes)
    starts = np.concatenate([[0], np.cumsum(sizes)])
    values = adata[:, GENES].X.toarray()
    for g in range(4):  # rows come group by group; each group's block holds its cells
        block = np.asarray(image[starts[g] : starts[g + 1]])
        np.testing.assert_allclose(np.sort(block, axis=0), np.sort(values[codes == g], axis=0), rtol=1e-6)
    shown = {mcolors.to_hex(c) for c in np.asarray(bar)[:, 0, :3]}
    assert shown == {"#000000", "#ff0000", "#00ff00", "#0000ff"}


def test_tracksplot_tracks_in_group_colours(adata):
    fig = pl.tracksplot(adata, ["Gene5", "Gene6"], "group", show=False)
    colors = {mcolors.to_hex(c.get_facecolor()[0]) for c in fig.axes[0].collections if c.get_facecolor().size}
    labels = [ax.get_ylabel() for ax in fig.axes[:2]]
    plt.close(fig)
    assert labels == ["Gene5", "Gene6"]
    assert colors == set(adata.uns["group_colors"])


def test_dotplot_color_df_and_gene_symbols(adata):
    adata.var["symbol"] = [f"S{i}" for i in range(adata.n_vars)]
    table = pd.DataFrame(np.ones((4, 2)), index=["g0", "g1", "g2", "g3"], columns=["S5", "S6"])
    fig = pl.dotplot(adata, ["S5", "S6"], "group", gene_symbols="symbol", dot_color_df=table, show=False)
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    plt.close(fig)
    assert labels == ["S5", "S6"]
    with pytest.raises(MissingKeyError, match=r"dot_color_df has no gene 'S7'"):
        pl.dotplot(adata, ["S5", "S7"], "group", gene_symbols="symbol", dot_color_df=table)
    with pytest.raises(MissingKeyError, match=r"gene 'S99' not found in var\['symbol'\]"):
        pl.matrixplot(adata, ["S99"], "group", gene_symbols="symbol")


def test_numeric_and_multiple_groupby(adata):
    fig = pl.matrixplot(adata, GENES, "score", num_categories=3, show=False)
    assert len(fig.axes[0].get_yticklabels()) == 3
    plt.close(fig)
    fig = pl.matrixplot(adata, GENES, ["group", "label"], show=False)
    rows = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    plt.close(fig)
    assert rows[0] == "g0_x" and set(rows) <= {f"g{i}_{s}" for i in range(4) for s in "xy"}


def test_rank_genes_groups_panels_and_wrappers(adata):
    fig = pl.rank_genes_groups(adata, ["g1", "g3"], n_genes=5, show=False)
    top = list(adata.uns["rank_genes_groups"]["names"]["g1"][:5])
    assert [t.get_text() for t in fig.axes[0].texts] == top
    assert fig.axes[1].get_title() == "g3 vs. rest"
    plt.close(fig)
    fig = pl.rank_genes_groups_matrixplot(adata, ["g0", "g1"], n_genes=2, dendrogram=False, show=False)
    cols = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    plt.close(fig)
    names = adata.uns["rank_genes_groups"]["names"]
    assert cols == [*names["g0"][:2], *names["g1"][:2]]
    fig = pl.rank_genes_groups_matrixplot(
        adata, n_genes=1, values_to_plot="scores", dendrogram=False, show=False
    )
    mesh = next(c for c in fig.axes[0].collections if isinstance(c, QuadMesh))
    cols = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    plt.close(fig)
    expected = sc.get.rank_genes_groups_df(adata, None).pivot(index="group", columns="names", values="scores")
    np.testing.assert_allclose(
        np.asarray(mesh.get_array()).reshape(4, 4), expected.loc[["g0", "g1", "g2", "g3"], cols], rtol=1e-6
    )
    fig = pl.rank_genes_groups_dotplot(adata, n_genes=-2, min_logfoldchange=-100, show=False)
    plt.close(fig)


def test_rank_genes_groups_violin_halves_in_group_colour(adata):
    fig = pl.rank_genes_groups_violin(adata, "g2", n_genes=3, strip=False, show=False)
    faces = {mcolors.to_hex(c.get_facecolor()[0]) for c in fig.axes[0].collections if c.get_facecolor().size}
    plt.close(fig)
    assert faces <= {adata.uns["group_colors"][2], mcolors.to_hex("lightgray")}
    fig = pl.rank_genes_groups_violin(adata, "g0", gene_names=["Gene5"], split=False, show=False)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["Gene5"]
    plt.close(fig)


def test_paga_positions_sizes_and_pos_stored(adata):
    fig = pl.paga(adata, threshold=0, show=False)
    nodes = max(fig.axes[0].collections, key=lambda c: len(c.get_offsets()))
    plt.close(fig)
    pos = adata.uns["paga"]["pos"]
    np.testing.assert_allclose(nodes.get_offsets(), pos)
    sizes = adata.uns["group_sizes"] / np.median(adata.uns["group_sizes"])
    np.testing.assert_allclose(nodes.get_sizes(), 2000 / (np.sqrt(4) + 10) * np.sqrt(sizes))
    given = np.arange(8.0).reshape(4, 2)
    plt.close(pl.paga(adata, pos=given, layout="circle", show=False))
    np.testing.assert_array_equal(adata.uns["paga"]["pos"], given)


def test_dendrogram_leaves(adata):
    fig = pl.dendrogram(adata, "group", show=False)
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    plt.close(fig)
    assert labels == list(adata.uns["dendrogram_group"]["dendrogram_info"]["ivl"])


def test_scatter_axes_and_highest_expr_values(adata):
    fig = pl.scatter(adata, "total_counts", "Gene5", color="label", show=False)
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("total_counts", "Gene5", "label")
    plt.close(fig)
    fig = pl.highest_expr_genes(adata, 3, layer="counts", show=False)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    plt.close(fig)
    counts = adata.layers["counts"].toarray()
    percent = counts / counts.sum(1, keepdims=True) * 100
    assert labels == list(adata.var_names[np.argsort(percent.mean(0))[::-1][:3]])
    fig = pl.pca_variance_ratio(adata, 4, show=False)
    assert [t.get_text() for t in fig.axes[0].texts] == ["PC1", "PC2", "PC3", "PC4"]
    plt.close(fig)


def test_qc_overview_thresholds_and_counts(adata):
    kept = adata[adata.obs.total_counts > 25]
    fig = pl.qc_overview(
        kept, keys=["total_counts"], before=adata.obs, thresholds={"total_counts": (25, None)}, show=False
    )
    ax = fig.axes[0]
    assert [line.get_xdata()[0] for line in ax.lines] == [25]
    assert fig._suptitle.get_text().startswith(f"{kept.n_obs} of 100 cells kept")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "before (n=100)",
        f"after (n={kept.n_obs})",
    ]
    plt.close(fig)


# ----------------------------------------------------------------------------- errors


def test_missing_prerequisites(adata):
    no_tree = adata.copy()
    del no_tree.uns["dendrogram_group"]
    plt.close(pl.matrixplot(no_tree, GENES, "group", dendrogram=True, show=False))  # computed, as scanpy
    assert no_tree.uns["dendrogram_group"]["categories_ordered"]
    with pytest.raises(MissingKeyError, match=r"uns\['dendrogram_label'\] not found.*run tl.dendrogram"):
        pl.dendrogram(adata, "label")
    adata.uns["dendrogram_label"] = adata.uns["dendrogram_group"]
    with pytest.raises(InputDataError, match=r"computed for groupby \['group'\], not \['label'\]"):
        pl.heatmap(adata, GENES, "label", dendrogram=True)
    with pytest.raises(MissingKeyError, match=r"uns\['rgg'\] not found.*run tl.rank_genes_groups"):
        pl.rank_genes_groups(adata, key="rgg")
    with pytest.raises(MissingKeyError, match=r"group 'g9' is not in uns\['rank_genes_groups'\]"):
        pl.rank_genes_groups_heatmap(adata, ["g9"])
    del adata.uns["paga"]
    with pytest.raises(MissingKeyError, match=r"uns\['paga'\] not found.*run tl.paga"):
        pl.paga(adata)
    with pytest.raises(
        MissingKeyError, match=r"'pct_counts_ribo' not found in adata.obs.*calculate_qc_metrics"
    ):
        pl.qc_overview(adata, keys=["pct_counts_ribo"])
    del adata.var["dispersions_norm"]
    with pytest.raises(MissingKeyError, match=r"var\['dispersions_norm'\] not found.*highly_variable_genes"):
        pl.highly_variable_genes(adata)
    del adata.obsm["X_draw_graph_fa"]
    with pytest.raises(MissingKeyError, match=r"X_draw_graph_fa'\] not found.*tl.draw_graph"):
        pl.draw_graph(adata)
    del adata.varm["PCs"]
    with pytest.raises(MissingKeyError, match=r"varm\['PCs'\] not found; run pp.pca"):
        pl.pca_loadings(adata)


def test_bad_arguments(adata):
    with pytest.raises(ParamError, match=r"n_genes and var_names are mutually exclusive"):
        pl.rank_genes_groups_dotplot(adata, n_genes=2, var_names=["Gene5"])
    partial = adata.copy()
    sc.tl.rank_genes_groups(partial, "group", n_genes=5)
    with pytest.raises(InputDataError, match=r"values_to_plot needs every gene ranked.*n_genes=adata.n_vars"):
        pl.rank_genes_groups_matrixplot(partial, values_to_plot="scores")
    with pytest.raises(ParamError, match=r"values_to_plot"):
        pl.rank_genes_groups_dotplot(adata, values_to_plot="fold")
    with pytest.raises(ParamError, match=r"layout"):
        pl.paga(adata, layout="spring")
    with pytest.raises(ParamError, match=r"thresholds has metrics not in keys: 'n_counts'"):
        pl.qc_overview(adata, thresholds={"n_counts": (1, 2)})
    with pytest.raises(ParamError, match=r"components \[9\] out of range"):
        pl.pca_loadings(adata, [1, 9])
    with pytest.raises(ParamError, match=r"'group' is categorical; x and y need numbers"):
        pl.scatter(adata, "group", "Gene5")
    with pytest.raises(ParamError, match=r"pass both x and y"):
        pl.scatter(adata, "Gene5")
    with pytest.raises(ParamError, match=r"var_group_positions has 1 entries but var_group_labels has 2"):
        pl.heatmap(adata, GENES, "group", var_group_positions=[(0, 1)], var_group_labels=["a", "b"])
    with pytest.raises(ParamError, match=r"var_group_positions entry \(2, 7\) is outside genes 0..3"):
        pl.matrixplot(adata, GENES, "group", var_group_positions=[(2, 7)], var_group_labels=["a"])
    with pytest.raises(ParamError, match=r"pass norm or vmin/vmax/vcenter, not both"):
        pl.matrixplot(adata, GENES, "group", norm=mcolors.Normalize(), vmin=0)
    with pytest.raises(ParamError, match=r"dendrogram orders the groups"):
        pl.stacked_violin(adata, GENES, "group", dendrogram=True, categories_order=["g1", "g0"])
    with pytest.raises(ParamError, match=r"standard_scale"):
        pl.heatmap(adata, GENES, "group", standard_scale="group")
    with pytest.raises(ParamError, match=r"ax= draws one group"):
        pl.rank_genes_groups_violin(adata, ["g0", "g1"], ax=plt.gca())
    plt.close("all")
    with pytest.raises(MissingKeyError, match=r"gene 'Gene55' not found in adata.var_names \(close matches"):
        pl.tracksplot(adata, ["Gene55"], "group")
    with pytest.raises(MissingKeyError, match=r"groupby 'grup' not found.*close matches: group"):
        pl.stacked_violin(adata, GENES, "grup")


def test_draws_into_given_axes(adata):
    fig, (left, right) = plt.subplots(1, 2)
    assert pl.rank_genes_groups(adata, ["g0", "g1"], n_genes=3, ax=left, show=False) is fig
    assert pl.dendrogram(adata, "group", ax=right, show=False) is fig
    assert len(fig.axes) == 3  # the given Axes became two panels
    plt.close(fig)
    fig, ax = plt.subplots()
    assert (
        pl.scatter(
            adata, "Gene5", "Gene6", color="Gene7", layers=["counts", "counts", "counts"], ax=ax, show=False
        )
        is fig
    )
    np.testing.assert_allclose(
        ax.collections[-1].get_offsets()[:, 0].min(), adata[:, "Gene5"].layers["counts"].min()
    )
    plt.close(fig)
    with pytest.raises(ParamError, match=r"layers must be one layer name or three"):
        pl.scatter(adata, "Gene5", "Gene6", layers=["counts", "counts"])
