"""Plots against scanpy (1.11 and 1.12) on the same data: the numbers and labels drawn, and PAGA positions.

PAGA node positions are identical for every igraph layout both support (same seeding of
numpy's legacy RandomState and Python's ``random``). Matrix/dot plot summaries, heatmap
pixels, rank_genes_groups value tables and ranking labels agree exactly (rtol 1e-6, float32
data). scanpy's ``pca_variance_ratio`` writes ``n_pcs + 1`` labels; we write ``n_pcs``.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from scipy import sparse
from sklearn.neighbors import kneighbors_graph

import plot_figures as pl
from factories import make_counts
from scsnake.pl._grouped import prepare, scale, summaries

sc = pytest.importorskip("scanpy")

pytestmark = pytest.mark.parity
GENES = {"a": ["Gene5", "Gene6", "RPS2"], "b": ["Gene7", "Gene9"]}


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def base():
    adata = make_counts(200, 40, n_groups=5, seed=11)
    adata.layers["counts"] = adata.X.copy()
    adata.X = adata.X.log1p()
    sc.pp.pca(adata, n_comps=10)
    codes = adata.obs["group"].cat.codes.to_numpy()
    path = codes[:, None] * np.array([1.5, 0.3]) + np.random.default_rng(0).normal(0, 0.8, (200, 2))
    knn = kneighbors_graph(path, 12, include_self=False)
    adata.obsp["connectivities"] = sparse.csr_matrix(((knn + knn.T) > 0).astype(np.float32))
    adata.obsp["distances"] = sparse.csr_matrix(knn, dtype=np.float32)
    adata.uns["neighbors"] = {"connectivities_key": "connectivities", "distances_key": "distances",
                              "params": {"n_neighbors": 12, "method": "umap"}}  # fmt: skip
    sc.tl.paga(adata, groups="group")
    sc.tl.dendrogram(adata, "group", use_rep="X_pca")
    sc.tl.rank_genes_groups(adata, "group", n_genes=adata.n_vars, method="wilcoxon")
    return adata


@pytest.fixture
def scanpy_tree_layouts(monkeypatch: pytest.MonkeyPatch) -> None:
    """scanpy's PAGA tree layouts ("rt", "rt_circular") drawn as scanpy 1.11 draws them.

    A documented difference (README, "Differences from scanpy"): scanpy 1.12.2 made
    ``directed`` of ``get_igraph_from_adjacency`` a required argument (scverse/scanpy#4112,
    backported in #4134), but ``pl.paga``'s tree layouts still call it without one, so
    ``sc.pl.paga(layout="rt")`` raises TypeError there. Here scanpy gets its former default,
    ``directed=False``; scsnake draws these layouts as scanpy 1.11 does.
    """
    utils = importlib.import_module("scanpy._utils")
    build = utils.get_igraph_from_adjacency
    if inspect.signature(build).parameters["directed"].default is inspect.Parameter.empty:
        monkeypatch.setattr(utils, "get_igraph_from_adjacency", functools.partial(build, directed=False))


@pytest.mark.parametrize("layout", ["fr", "kk", "drl", "circle", "rt", "rt_circular"])
@pytest.mark.parametrize("random_state", [0, 3])
@pytest.mark.usefixtures("scanpy_tree_layouts")
def test_paga_positions_identical(base, layout, random_state):
    ours, theirs = base.copy(), base.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scanpy's own deprecation chatter
        sc.pl.paga(theirs, layout=layout, random_state=random_state, show=False)
    pl.paga(ours, layout=layout, random_state=random_state, show=False)
    np.testing.assert_array_equal(ours.uns["paga"]["pos"], theirs.uns["paga"]["pos"])


def _drawn(ax):
    """(row labels, column labels, cell values) of a matrix plot's main panel."""
    mesh = next(c for c in ax.collections if c.get_array() is not None)
    rows = [t.get_text() for t in ax.get_yticklabels()]
    cols = [t.get_text() for t in ax.get_xticklabels()]
    return rows, cols, np.asarray(mesh.get_array()).reshape(len(rows), len(cols))


@pytest.mark.parametrize("standard_scale", [None, "var", "group"])
@pytest.mark.parametrize("dendrogram", [False, True])
def test_matrixplot_and_dotplot_values(base, standard_scale, dendrogram):
    kwargs = {"standard_scale": standard_scale, "dendrogram": dendrogram, "log": standard_scale is None}
    theirs = sc.pl.matrixplot(base, GENES, "group", return_fig=True, **kwargs)
    theirs.make_figure()
    fig = pl.matrixplot(base, GENES, "group", show=False, **kwargs)
    rows, cols, values = _drawn(fig.axes[0])
    their_rows, their_cols, their_values = _drawn(theirs.get_axes()["mainplot_ax"])
    assert (rows, cols) == (their_rows, their_cols)
    np.testing.assert_allclose(values, their_values, rtol=1e-6, atol=1e-12)

    dot = sc.pl.dotplot(base, GENES, "group", return_fig=True, **kwargs)
    grouped = prepare(
        base,
        GENES,
        "group",
        use_raw=None,
        layer=None,
        what="dotplot",
        log=kwargs["log"],
        dendrogram=dendrogram,
    )
    mean, frac = summaries(grouped.x, grouped.labels, grouped.groups)
    their_color = dot.dot_color_df.loc[grouped.groups]
    np.testing.assert_allclose(scale(mean, standard_scale), their_color.to_numpy(), rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(frac, dot.dot_size_df.loc[grouped.groups].to_numpy(), rtol=1e-12)


def test_heatmap_pixels(base):
    axes = sc.pl.heatmap(base, GENES, "group", standard_scale="var", dendrogram=True, show=False)
    theirs = axes["heatmap_ax"].get_images()[0].get_array()
    fig = pl.heatmap(base, GENES, "group", standard_scale="var", dendrogram=True, show=False)
    np.testing.assert_allclose(fig.axes[0].get_images()[0].get_array(), theirs, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("values_to_plot", ["scores", "logfoldchanges", "log10_pvals_adj"])
def test_rank_genes_groups_values(base, values_to_plot):
    theirs = sc.pl.rank_genes_groups_matrixplot(
        base, n_genes=3, values_to_plot=values_to_plot, return_fig=True
    )
    theirs.make_figure()
    fig = pl.rank_genes_groups_matrixplot(base, n_genes=3, values_to_plot=values_to_plot, show=False)
    rows, cols, values = _drawn(fig.axes[0])
    their_rows, their_cols, their_values = _drawn(theirs.get_axes()["mainplot_ax"])
    assert (rows, cols) == (their_rows, their_cols)
    np.testing.assert_allclose(values, their_values, rtol=1e-6)


def test_ranking_labels(base):
    their_axes = sc.pl.rank_genes_groups(base, n_genes=6, show=False)
    fig = pl.rank_genes_groups(base, n_genes=6, show=False)
    for ours, theirs in zip(fig.axes, their_axes, strict=True):
        assert [(t.get_text(), t.get_position()) for t in ours.texts] == [
            (t.get_text(), t.get_position()) for t in theirs.texts
        ]
        assert ours.get_title() == theirs.get_title()
    sc.pl.pca_loadings(base, "1,3", n_points=10, show=False)
    their_texts = [[(t.get_text(), t.get_position()) for t in ax.texts] for ax in plt.gcf().axes]
    fig = pl.pca_loadings(base, "1,3", n_points=10, show=False)
    assert [[(t.get_text(), t.get_position()) for t in ax.texts] for ax in fig.axes] == their_texts
    sc.pl.pca_variance_ratio(base, 5, show=False)
    their_texts = [(t.get_text(), t.get_position()) for t in plt.gcf().axes[0].texts]
    fig = pl.pca_variance_ratio(base, 5, show=False)
    assert [(t.get_text(), t.get_position()) for t in fig.axes[0].texts] == their_texts[:5]


def test_highest_expr_genes_order(base):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ax = sc.pl.highest_expr_genes(base, 12, layer="counts", show=False)
    fig = pl.highest_expr_genes(base, 12, layer="counts", show=False)
    ours = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert ours == [t.get_text() for t in ax.get_yticklabels()]
