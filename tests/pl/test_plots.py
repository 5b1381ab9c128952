"""Plots: files written and readable, colours kept in uns, missing keys, no leaked figures."""

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
from matplotlib.figure import Figure
from scipy import sparse

import plot_figures as pl
from factories import make_counts
from scsnake import pl as ss_pl
from scsnake.errors import MissingKeyError, ParamError
from scsnake.pl import _dotplot, _style


@pytest.fixture(autouse=True)
def no_open_figures():
    """Every test starts and must end without open pyplot figures."""
    plt.close("all")
    yield
    leaked = plt.get_fignums()
    plt.close("all")
    assert not leaked, f"figures left open: {leaked}"


@pytest.fixture
def adata() -> ad.AnnData:
    """80 cells × 30 genes (log1p counts, CSR) with UMAP/PCA, a score with NaN and a bool column."""
    adata = make_counts(80, 30, n_groups=4)
    adata.X = adata.X.log1p()
    rng = np.random.default_rng(0)
    centres = adata.obs["group"].cat.codes.to_numpy()[:, None] * np.array([3.0, 1.0])
    adata.obsm["X_umap"] = rng.normal(size=(80, 2)) + centres
    adata.obsm["X_pca"] = rng.normal(size=(80, 5))
    adata.obs["score"] = rng.normal(size=80)
    adata.obs.loc[adata.obs.index[:10], "score"] = np.nan
    adata.obs["flag"] = rng.random(80) > 0.5
    adata.obs["n_counts"] = np.asarray(adata.X.sum(axis=1)).ravel()
    return adata


def check_png(path, min_size=150):
    image = mpimg.imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    assert image.shape[0] >= min_size and image.shape[1] >= min_size
    assert image[..., :3].std() > 0.01  # not a blank canvas
    return image


def check_pdf(path):
    data = path.read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 1000


def facecolors(fig: Figure, panel: int = 0) -> np.ndarray:
    """Face colours of the largest scatter in a panel."""
    collections = fig.axes[panel].collections
    return max((c.get_facecolors() for c in collections), key=len)


# ----------------------------------------------------------------------------- files


@pytest.mark.parametrize(
    "draw",
    [
        pytest.param(lambda a, p: pl.umap(a, color=["group", "Gene5", "score"], save=p), id="umap"),
        pytest.param(lambda a, p: pl.pca(a, color="group", legend_loc="on data", save=p), id="pca"),
        pytest.param(lambda a, p: pl.embedding(a, "X_umap", save=p), id="embedding-no-color"),
        pytest.param(lambda a, p: pl.violin(a, ["n_counts", "Gene5"], save=p), id="violin"),
        pytest.param(lambda a, p: pl.violin(a, ["n_counts", "Gene5"], "group", save=p), id="violin-groupby"),
        pytest.param(lambda a, p: pl.dotplot(a, ["Gene5", "Gene6", "MT-0"], "group", save=p), id="dotplot"),
        pytest.param(
            lambda a, p: pl.dotplot(a, {"first": ["Gene5", "Gene6"], "second": "RPS2"}, "group", save=p),
            id="dotplot-dict",
        ),
    ],
)
def test_renders_png_and_pdf(adata, tmp_path, draw):
    png, pdf = tmp_path / "plot.png", tmp_path / "sub" / "plot.pdf"
    fig = draw(adata, png)
    assert isinstance(fig, Figure)
    assert fig.number not in plt.get_fignums()  # saved figures are closed
    check_png(png)
    draw(adata, pdf)  # the folder is created
    check_pdf(pdf)


def test_dpi_and_svg(adata, tmp_path):
    pl.umap(adata, color="group", save=tmp_path / "low.png", dpi=50)
    pl.umap(adata, color="group", save=tmp_path / "high.png", dpi=100)
    low, high = check_png(tmp_path / "low.png", 100), check_png(tmp_path / "high.png")
    assert high.shape[0] == pytest.approx(2 * low.shape[0], rel=0.05)
    pl.violin(adata, "n_counts", save=tmp_path / "v.svg")
    assert (tmp_path / "v.svg").read_text().lstrip().startswith("<?xml")


def test_returns_open_figure_without_save(adata):
    fig = pl.umap(adata, color=["group", "score"], show=False)
    assert fig.number in plt.get_fignums()
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["group", "score"]
    assert fig.axes[0].get_xlabel() == "UMAP1" and fig.axes[0].get_ylabel() == "UMAP2"
    plt.close(fig)


def test_draws_into_given_axes(adata):
    fig, ax = plt.subplots()
    assert pl.pca(adata, color="Gene5", ax=ax, show=False) is fig
    assert ax.get_xlabel() == "PC1"
    assert pl.violin(adata, "Gene5", "group", ax=ax, show=False) is fig
    plt.close(fig)
    with pytest.raises(ParamError, match=r"ax= draws one panel, but color has 2 keys"):
        pl.umap(adata, color=["group", "score"], ax=ax)


# ----------------------------------------------------------------------------- colours


def test_category_colours_stored_and_reused(adata):
    plt.close(pl.umap(adata, color="group", show=False))
    default = [mcolors.to_hex(c) for c in plt.rcParams["axes.prop_cycle"].by_key()["color"][:4]]
    assert list(adata.uns["group_colors"]) == default
    adata.uns["group_colors"] = ["#000000", "#ff0000", "#00ff00", "#0000ff"]
    fig = pl.umap(adata, color="group", show=False)
    codes = adata.obs["group"].cat.codes.to_numpy()
    drawn = {mcolors.to_hex(c) for c in facecolors(fig)}
    plt.close(fig)
    assert drawn == {"#000000", "#ff0000", "#00ff00", "#0000ff"}
    assert len(set(codes)) == 4
    assert list(adata.uns["group_colors"]) == ["#000000", "#ff0000", "#00ff00", "#0000ff"]
    plt.close(pl.violin(adata, "Gene5", "group", show=False))  # violin reuses them too
    assert adata.uns["group_colors"][0] == "#000000"


def test_palette_overrides_and_invalid_colours_are_replaced(adata):
    plt.close(pl.umap(adata, color="group", palette="viridis", show=False))
    assert list(adata.uns["group_colors"]) == [
        mcolors.to_hex(c) for c in plt.get_cmap("viridis")([0, 1 / 3, 2 / 3, 1])
    ]
    plt.close(
        pl.umap(adata, color="group", palette={"g0": "red", "g1": "blue", "g2": "k", "g3": "w"}, show=False)
    )
    assert list(adata.uns["group_colors"]) == ["#ff0000", "#0000ff", "#000000", "#ffffff"]
    adata.uns["group_colors"] = ["not-a-colour", "#ff0000", "#00ff00", "#0000ff"]
    plt.close(pl.umap(adata, color="group", show=False))
    assert adata.uns["group_colors"][0] == "#1f77b4"
    adata.uns["group_colors"] = ["#ff0000"]  # too few
    plt.close(pl.umap(adata, color="group", show=False))
    assert len(adata.uns["group_colors"]) == 4
    with pytest.raises(ParamError, match=r"palette has no colour for categories 'g3'"):
        pl.umap(adata, color="group", palette={"g0": "red", "g1": "blue", "g2": "k"})


@pytest.mark.parametrize(
    ("n", "palette"), [(15, _style.DEFAULT_20), (25, _style.DEFAULT_28), (50, _style.DEFAULT_102)]
)
def test_default_palettes(n, palette):
    assert _style.default_palette(n) == [mcolors.to_hex(c) for c in palette[:n]]
    assert _style.default_palette(200) == ["grey"] * 200


def test_missing_values_grey_and_string_columns(adata):
    fig = pl.umap(adata, color="score", show=False)
    nan_points = fig.axes[0].collections[0]  # drawn first, underneath
    plt.close(fig)
    assert len(nan_points.get_offsets()) == 10
    assert {mcolors.to_hex(c) for c in nan_points.get_facecolors()} == {mcolors.to_hex("lightgray")}
    adata.obs["label"] = np.where(adata.obs["flag"], "yes", None)
    fig = pl.umap(adata, color=["label", "flag"], show=False)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    plt.close(fig)
    assert legend == ["yes", "NA"]
    assert isinstance(adata.obs["label"].dtype, pd.CategoricalDtype)
    assert "flag_colors" in adata.uns


def test_groups_highlight_and_on_data_labels(adata):
    fig = pl.umap(adata, color="group", groups=["g1"], show=False)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    plt.close(fig)
    assert legend == ["g1"]
    fig = pl.umap(adata, color="group", legend_loc="on data", legend_fontoutline=2, show=False)
    texts = sorted(t.get_text() for t in fig.axes[0].texts)
    plt.close(fig)
    assert texts == ["g0", "g1", "g2", "g3"]


def test_raw_and_layer_values(adata):
    adata.raw = adata
    adata.layers["double"] = adata.X * 2
    fig = pl.umap(adata, color="Gene5", layer="double", vmax="p99", show=False)
    values = fig.axes[0].collections[-1].get_array()
    plt.close(fig)
    np.testing.assert_allclose(np.sort(values), np.sort(adata.layers["double"][:, 5].toarray().ravel()))
    with pytest.raises(ParamError, match=r"use_raw=True and layer='double'"):
        pl.umap(adata, color="Gene5", layer="double", use_raw=True)


# ----------------------------------------------------------------------------- dotplot values


def test_dotplot_summaries_by_hand():
    x = np.array([[0.0, 1.0], [2.0, 0.0], [4.0, 3.0], [0.0, 0.0]])
    labels = np.array(["a", "a", "b", "b"], dtype=object)
    mean, frac = _dotplot._summaries(x, labels, ["b", "a"], 0.0, False)
    np.testing.assert_allclose(mean, [[2.0, 1.5], [1.0, 0.5]])
    np.testing.assert_allclose(frac, [[0.5, 0.5], [0.5, 0.5]])
    mean, _ = _dotplot._summaries(x, labels, ["b", "a"], 0.0, True)
    np.testing.assert_allclose(mean, [[4.0, 3.0], [2.0, 1.0]])
    sizes = _dotplot._sizes(
        np.array([0.0, 0.5, 1.0]),
        {"dot_min": 0, "dot_max": 1, "smallest": 0, "largest": 200, "exponent": 1.5},
    )
    np.testing.assert_allclose(sizes, [0, 200 * 0.5**1.5, 200])


@pytest.mark.parametrize("fmt", ["dense", "csr", "csc"])
def test_dotplot_layouts_equal(fmt, tmp_path):
    adata = make_counts(60, 20, fmt=fmt)
    fig = pl.dotplot(adata, ["Gene5", "Gene6"], "group", swap_axes=True, title="t", show=False)
    sizes = fig.axes[0].collections[0].get_sizes()
    plt.close(fig)
    dense = make_counts(60, 20, fmt="dense").X[:, 5:7]
    labels = make_counts(60, 20).obs["group"].to_numpy()
    frac = np.array([[(dense[labels == g, j] > 0).mean() for g in ("g0", "g1", "g2")] for j in range(2)])
    dot_max = np.ceil(frac.max() * 10) / 10
    np.testing.assert_allclose(sizes, 200 * (frac.ravel() / dot_max) ** 1.5)


# ----------------------------------------------------------------------------- errors


def test_missing_keys(adata):
    with pytest.raises(
        MissingKeyError, match=r"key 'Gene55' is neither an obs column nor a gene \(close matches: Gene5"
    ):
        pl.umap(adata, color="Gene55")
    with pytest.raises(MissingKeyError, match=r"basis 'tsne'.*run|basis 'tsne'.*available: X_umap, X_pca"):
        pl.embedding(adata, "tsne", color="group")
    with pytest.raises(MissingKeyError, match=r"gene 'Gene55' not found in adata.var_names \(close matches"):
        pl.dotplot(adata, ["Gene5", "Gene55"], "group")
    with pytest.raises(MissingKeyError, match=r"groupby 'grup' not found.*close matches: group"):
        pl.dotplot(adata, ["Gene5"], "grup")
    with pytest.raises(MissingKeyError, match=r"key 'n_count'.*close matches: n_counts"):
        pl.violin(adata, "n_count")
    with pytest.raises(MissingKeyError, match=r"groupby 'grup'"):
        pl.violin(adata, "n_counts", "grup")
    del adata.obsm["X_umap"]
    with pytest.raises(MissingKeyError, match=r"run tl.umap first"):
        pl.umap(adata)


def test_bad_arguments(adata, tmp_path):
    with pytest.raises(ParamError, match=r"save takes True or a file name suffix, as in scanpy"):
        ss_pl.umap(adata, color="group", save=tmp_path / "plot.jpeg")
    assert not (tmp_path / "plot.jpeg").exists()
    with pytest.raises(ParamError, match=r"violin: obs\['group'\] is categorical"):
        pl.violin(adata, "group")
    with pytest.raises(ParamError, match=r"order has categories not in obs\['group'\]: 'g9'"):
        pl.violin(adata, "Gene5", "group", order=["g0", "g9"])
    with pytest.raises(ParamError, match=r"title has 1 entries but there are 2 panels"):
        pl.umap(adata, color=["group", "score"], title=["one"])
    with pytest.raises(ParamError, match=r"dimensions=\(0, 7\) out of range"):
        pl.pca(adata, dimensions=(0, 7))
    with pytest.raises(ParamError, match=r"legend_loc"):
        pl.umap(adata, color="group", legend_loc="margin")
    with pytest.raises(ParamError, match=r"dot_max"):
        pl.dotplot(adata, ["Gene5"], "group", dot_max=2)
    with pytest.raises(ParamError, match=r"var_names is empty"):
        pl.dotplot(adata, [], "group")
    with pytest.raises(ParamError, match=r"categories_order has groups without cells.*'g7'"):
        pl.dotplot(adata, ["Gene5"], "group", categories_order=["g7"])
    with pytest.raises(ParamError, match=r"colour limit 'q99'"):
        pl.umap(adata, color="score", vmax="q99")


def test_sparse_matrix_untouched(adata):
    before = adata.X.copy()
    plt.close(pl.dotplot(adata, ["Gene5"], "group", show=False))
    plt.close(pl.umap(adata, color="Gene5", show=False))
    assert sparse.issparse(adata.X)
    assert (before != adata.X).nnz == 0
