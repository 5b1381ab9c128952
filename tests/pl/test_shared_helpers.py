"""The private helpers the plots share: figures and panels, point sizes and titles, marker genes."""

from __future__ import annotations

import inspect

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from factories import make_counts
from scsnake import pl as ss_pl
from scsnake.errors import DataWarning, InputDataError, MissingKeyError, ParamError
from scsnake.pl._figure import check_one_panel, one_axes, panels
from scsnake.pl._markers import marker_genes
from scsnake.pl._points import panel_titles, point_size
from scsnake.pl._style import as_colormap, symbols_column
from scsnake.pl._violin import violin_density


@pytest.fixture(autouse=True)
def no_open_figures():
    plt.close("all")
    yield
    plt.close("all")


def test_panels_grid_sizes_and_given_axes() -> None:
    fig, axes = panels(None, 5, 2, (3.0, 4.0), spacing={"wspace": 0.1, "hspace": 0.05})
    assert len(axes) == 5 and tuple(fig.get_size_inches()) == (6.0, 12.0)
    assert [ax.get_subplotspec().get_geometry()[:2] for ax in axes] == [(3, 2)] * 5
    assert fig.get_layout_engine().get()["wspace"] == 0.1
    given = plt.figure().add_subplot()
    assert panels(given, 1, 4, (3.0, 4.0)) == (given.figure, [given])
    assert one_axes(given, (9.0, 9.0)) == (given.figure, given)
    fig, ax = one_axes(None, (2.5, 3.5))
    assert tuple(fig.get_size_inches()) == (2.5, 3.5) and fig.axes == [ax]


def test_check_one_panel_names_what_and_count() -> None:
    check_one_panel(None, 3, "color has 3 keys")
    check_one_panel(object(), 1, "color has 1 keys")  # type: ignore[arg-type]
    with pytest.raises(ParamError, match=r"^violin: ax= draws one panel, but keys has 2 entries$"):
        check_one_panel(object(), 2, "keys has 2 entries", what="violin")  # type: ignore[arg-type]


def test_point_size_titles_colormap() -> None:
    assert point_size(600, None) == 200.0 and point_size(1200, None) == 100.0 and point_size(0, 3.0) == 3.0
    assert panel_titles(None, ["a", None]) == ["a", ""]
    assert panel_titles("t", ["a"]) == ["t"]
    with pytest.raises(ParamError, match="title has 1 entries but there are 2 panels"):
        panel_titles(["t"], ["a", "b"])
    assert as_colormap(None, "Reds").name == "Reds"
    assert as_colormap(None).name == matplotlib.rcParams["image.cmap"]
    assert as_colormap(matplotlib.colormaps["bwr"]).name == "bwr"


def test_symbols_column_and_violin_density() -> None:
    var = pd.DataFrame({"symbol": ["A", "B"]}, index=["g1", "g2"])
    assert symbols_column(var, "symbol").tolist() == ["A", "B"]
    with pytest.raises(
        MissingKeyError, match=r"gene_symbols='symbl' is not a var column \(close matches: symbol"
    ):
        symbols_column(var, "symbl")
    assert violin_density(np.array([1.0, 1.0, np.nan])) is None
    grid, density = violin_density(np.array([0.0, 1.0, 2.0, np.inf]))
    assert grid[0] == 0.0 and grid[-1] == 2.0 and len(grid) == len(density) == 100


def _ranked() -> tuple[dict, pd.DataFrame]:
    names = pd.DataFrame({"a": ["G1", "G2", "G3"], "b": ["G3", "G2", "G1"]})
    entry = {
        "names": names.to_records(index=False),
        "logfoldchanges": pd.DataFrame({"a": [2.0, 1.0, 0.1], "b": [0.2, 0.1, 0.0]}),
    }
    return entry, names


def test_marker_genes_top_bottom_and_fold_change_filter() -> None:
    adata = make_counts(10, 5)
    entry, names = _ranked()
    top = marker_genes(
        adata, entry, "rgg", names, ["a", "b"], n_genes=2, gene_symbols=None, min_logfoldchange=None
    )
    assert top == {"a": ["G1", "G2"], "b": ["G3", "G2"]}
    low = marker_genes(
        adata, entry, "rgg", names, ["a"], n_genes=-1, gene_symbols=None, min_logfoldchange=None
    )
    assert low == {"a": ["G3"]}
    with pytest.warns(DataWarning, match="no genes found for group 'b'"):
        kept = marker_genes(
            adata, entry, "rgg", names, ["a", "b"], n_genes=5, gene_symbols=None, min_logfoldchange=0.5
        )
    assert kept == {"a": ["G1", "G2"]}
    with (
        pytest.raises(
            InputDataError, match=r"no genes to plot: no group of uns\['rgg'\].*min_logfoldchange=5"
        ),
        pytest.warns(DataWarning),
    ):
        marker_genes(
            adata, entry, "rgg", names, ["a", "b"], n_genes=5, gene_symbols=None, min_logfoldchange=5
        )


def test_rank_genes_groups_plots_keep_their_signatures() -> None:
    grouped = [
        "adata",
        "groups",
        "n_genes",
        "groupby",
        "gene_symbols",
        "var_names",
        "min_logfoldchange",
        "key",
        "show",
        "save",
        "return_fig",
        "dpi",
        "kwds",
    ]
    values = [
        "adata",
        "groups",
        "n_genes",
        "groupby",
        "values_to_plot",
        "var_names",
        "gene_symbols",
        "min_logfoldchange",
        "key",
        "show",
        "save",
        "return_fig",
        "dpi",
        "kwds",
    ]
    for func, params in (
        (ss_pl.rank_genes_groups_dotplot, values), (ss_pl.rank_genes_groups_matrixplot, values),
        (ss_pl.rank_genes_groups_heatmap, grouped), (ss_pl.rank_genes_groups_stacked_violin, grouped),
        (ss_pl.rank_genes_groups_tracksplot, grouped),
    ):  # fmt: skip
        assert list(inspect.signature(func).parameters) == params
        assert (
            func.__name__.startswith("rank_genes_groups_")
            and func.__name__.removeprefix("rank_genes_groups_") in func.__doc__
        )
        assert "Returns" in func.__doc__
