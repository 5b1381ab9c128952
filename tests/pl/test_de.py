"""Volcano and MA plots of pseudobulk differential-expression results (``uns['de']['results']``)."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from matplotlib import pyplot as plt

import scsnake as ss
from scsnake.errors import MissingKeyError, ParamError


@pytest.fixture
def pdata() -> ad.AnnData:
    """Two groups of four genes: in group 0, g0 is up and g1 down (called); nothing called in 1."""
    table = pd.DataFrame(
        {
            "group": ["0"] * 4 + ["1"] * 4,
            "gene": ["g0", "g1", "g2", "g3"] * 2,
            "baseMean": [100.0, 20.0, 5.0, 0.0, 50.0, 50.0, 50.0, 50.0],
            "log2FoldChange": [2.0, -1.5, 0.1, np.nan, 0.2, -0.2, 0.0, 0.1],
            "lfcSE": 0.3,
            "stat": [6.0, -5.0, 0.3, np.nan, 0.5, -0.5, 0.0, 0.2],
            "pvalue": [1e-9, 1e-6, 0.7, np.nan, 0.6, 0.6, 1.0, 0.8],
            "padj": [1e-8, 1e-5, 0.9, np.nan, 0.9, 0.9, 1.0, 0.9],
        }
    )
    return ad.AnnData(
        uns={"de": {"results": table, "params": {"alpha": 0.05, "contrast": ["condition", "B", "A"]}}}
    )


@pytest.mark.parametrize("plot", [ss.pl.volcano, ss.pl.ma])
def test_one_panel_per_group_with_the_called_genes(pdata: ad.AnnData, plot) -> None:
    fig = plot(pdata, return_fig=True)
    assert [ax.get_title() for ax in fig.axes] == ["0: 1 up, 1 down", "1: 0 up, 0 down"]
    assert {t.get_text() for t in fig.axes[0].texts} == {"g0", "g1"}  # the called genes are named
    assert "B vs A" in (fig.axes[0].get_xlabel() + fig.axes[0].get_ylabel())
    plt.close(fig)
    fig = plot(pdata, groups=["1"], alpha=0.95, n_labels=0, return_fig=True)  # a looser alpha calls more
    assert len(fig.axes) == 1 and fig.axes[0].get_title() == "1: 2 up, 1 down" and not fig.axes[0].texts
    plt.close(fig)


def test_bad_calls_name_what_is_wrong(pdata: ad.AnnData) -> None:
    with pytest.raises(MissingKeyError, match=r"uns\['pb'\]\['results'\] not found"):
        ss.pl.volcano(pdata, "pb")
    with pytest.raises(MissingKeyError, match=r"groups \['9'\] are not in"):
        ss.pl.ma(pdata, groups=["9"])
    _, ax = plt.subplots()
    with pytest.raises(ParamError, match="ax= draws one panel"):
        ss.pl.volcano(pdata, ax=ax)
    assert ss.pl.volcano(pdata, groups=["0"], ax=ax, show=False) == [ax]
    plt.close("all")
