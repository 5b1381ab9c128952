"""pl.cluster_sizes: one bar per category with its count, in the category's stored colour."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib import colors as mcolors
from matplotlib.figure import Figure

import plot_figures as pl
from factories import make_counts
from scsnake import pl as ss_pl
from scsnake.errors import InputDataError, MissingKeyError, ParamError


@pytest.fixture(autouse=True)
def no_open_figures():
    plt.close("all")
    yield
    leaked = plt.get_fignums()
    plt.close("all")
    assert not leaked, f"figures left open: {leaked}"


@pytest.fixture
def adata():
    adata = make_counts(90, 12, n_groups=4, seed=3)
    adata.obs["leiden"] = pd.Categorical(adata.obs["group"].cat.codes.astype(str))
    return adata


def bars(fig: Figure):
    return [p for p in fig.axes[0].patches if isinstance(p, matplotlib.patches.Rectangle)]


def test_renders_png_pdf_svg(adata, tmp_path):
    fig = pl.cluster_sizes(adata, save=tmp_path / "sizes.png", dpi=80)
    assert isinstance(fig, Figure) and fig.number not in plt.get_fignums()
    image = mpimg.imread(tmp_path / "sizes.png")
    assert image.ndim == 3 and 150 <= image.shape[0] <= 2000 and 150 <= image.shape[1] <= 2000
    assert image[..., :3].std() > 0.01  # not a blank canvas
    pl.cluster_sizes(adata, save=tmp_path / "sub" / "sizes.pdf")
    assert (tmp_path / "sub" / "sizes.pdf").read_bytes().startswith(b"%PDF")
    pl.cluster_sizes(adata, save=tmp_path / "sizes.svg")
    assert (tmp_path / "sizes.svg").read_text().lstrip().startswith("<?xml")


def test_bars_counts_labels_and_stored_colours(adata):
    expected = adata.obs["leiden"].value_counts(sort=False)
    adata.uns["leiden_colors"] = ["#111111", "#222222", "#333333", "#444444"]
    fig = pl.cluster_sizes(adata, show=False)
    ax = fig.axes[0]
    assert [b.get_height() for b in bars(fig)] == expected.tolist()
    assert [t.get_text() for t in ax.texts] == [str(n) for n in expected]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2", "3"]
    assert [mcolors.to_hex(b.get_facecolor()) for b in bars(fig)] == adata.uns["leiden_colors"]
    assert (
        ax.get_title() == "90 cells in 4 groups"
        and ax.get_xlabel() == "leiden"
        and ax.get_ylabel() == "cells"
    )
    assert ax.get_ylim()[1] > expected.max()  # room for the labels
    plt.close(fig)


def test_default_colours_are_stored_like_the_umap(adata):
    plt.close(pl.cluster_sizes(adata, show=False))
    stored = list(adata.uns["leiden_colors"])
    plt.close(pl.umap(_with_umap(adata), color="leiden", show=False))
    assert list(adata.uns["leiden_colors"]) == stored


def _with_umap(adata):
    adata.obsm["X_umap"] = np.random.default_rng(0).normal(size=(adata.n_obs, 2))
    return adata


def test_sort_percent_palette_and_title(adata):
    counts = adata.obs["leiden"].value_counts(sort=False)
    fig = pl.cluster_sizes(adata, sort=True, percent=True, palette="viridis", title="sizes", show=False)
    heights = [b.get_height() for b in bars(fig)]
    assert heights == sorted(counts.tolist(), reverse=True)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == [
        str(c) for c in counts.sort_values(ascending=False, kind="stable").index
    ]
    top = counts.max()
    assert fig.axes[0].texts[0].get_text() == f"{top}\n{top / 90:.0%}"
    assert fig.axes[0].get_title() == "sizes"
    assert len(adata.uns["leiden_colors"]) == 4  # the palette is stored
    plt.close(fig)


def test_missing_labels_empty_categories_and_other_dtypes(adata):
    labels = adata.obs["leiden"].cat.add_categories(["empty"])
    labels[:5] = np.nan
    adata.obs["leiden"] = labels
    fig = pl.cluster_sizes(adata, show=False)
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks[-2:] == ["empty", "NA"]
    assert [b.get_height() for b in bars(fig)][-2:] == [0, 5]
    assert mcolors.to_hex(bars(fig)[-1].get_facecolor()) == mcolors.to_hex("lightgray")
    assert fig.axes[0].get_title() == "90 cells in 5 groups"
    plt.close(fig)
    adata.obs["batch"] = np.arange(adata.n_obs) % 3  # integers and strings count as categories
    adata.obs["donor"] = np.where(np.arange(adata.n_obs) < 30, "a", "b")
    for key, expected in (("batch", [30, 30, 30]), ("donor", [30, 60])):
        fig = pl.cluster_sizes(adata, key, show=False)
        assert [b.get_height() for b in bars(fig)] == expected
        plt.close(fig)


def test_draws_into_given_axes(adata):
    fig, (left, right) = plt.subplots(1, 2)
    assert pl.cluster_sizes(adata, "group", ax=right, show=False) is fig
    assert len(right.patches) == 4 and not left.patches
    plt.close(fig)


def test_view_colours_are_not_written(adata):
    view = adata[:40]
    plt.close(pl.cluster_sizes(view, show=False))
    assert "leiden_colors" not in adata.uns


def test_errors(adata, tmp_path):
    with pytest.raises(MissingKeyError, match=r"groupby 'leidn' not found in adata.obs.*leiden"):
        pl.cluster_sizes(adata, "leidn")
    adata.obs["score"] = np.linspace(0, 1, adata.n_obs)
    with pytest.raises(InputDataError, match=r"obs\['score'\] holds continuous values"):
        pl.cluster_sizes(adata, "score")
    with pytest.raises(ParamError, match=r"save='out/x.png': save takes True or a file name suffix"):
        ss_pl.cluster_sizes(adata, save="out/x.png")
    with pytest.raises(ParamError, match="dpi"):
        pl.cluster_sizes(adata, dpi=0)
    with pytest.raises(ParamError, match="palette"):
        pl.cluster_sizes(adata, palette=["not-a-colour"])
