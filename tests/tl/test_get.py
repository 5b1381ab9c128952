"""get.rank_genes_groups_df: the long table of rank_genes_groups results."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from factories import make_counts
from scsnake import get, pp, tl
from scsnake.errors import InputDataError, MissingKeyError, ParamError

COLUMNS = ["names", "scores", "logfoldchanges", "pvals", "pvals_adj"]


@pytest.fixture
def ranked():
    adata = make_counts()
    pp.normalize_total(adata, target_sum=1e4)
    pp.log1p(adata)
    adata.var["symbol"] = [f"S{i}" for i in range(adata.n_vars)]
    tl.rank_genes_groups(adata, "group")
    return adata


def test_one_group(ranked):
    d = get.rank_genes_groups_df(ranked, "g1")
    assert list(d.columns) == COLUMNS
    result = ranked.uns["rank_genes_groups"]
    for column in COLUMNS:
        np.testing.assert_array_equal(d[column].to_numpy(), np.asarray(result[column]["g1"]))
    assert d.index.equals(pd.RangeIndex(ranked.n_vars))


def test_several_groups_in_the_order_asked(ranked):
    d = get.rank_genes_groups_df(ranked, ["g2", "g0"])
    assert list(d.columns) == ["group", *COLUMNS]
    assert list(d["group"].cat.categories) == ["g2", "g0"]
    assert d["group"].tolist() == ["g2"] * ranked.n_vars + ["g0"] * ranked.n_vars
    np.testing.assert_array_equal(d["names"][ranked.n_vars :], ranked.uns["rank_genes_groups"]["names"]["g0"])
    everything = get.rank_genes_groups_df(ranked, None)
    assert list(everything["group"].cat.categories) == ["g0", "g1", "g2"]
    assert len(everything) == 3 * ranked.n_vars


def test_filters_and_symbols(ranked):
    d = get.rank_genes_groups_df(ranked, "g0", pval_cutoff=0.05, log2fc_min=0.5, gene_symbols="symbol")
    assert (d["pvals_adj"] < 0.05).all() and (d["logfoldchanges"] > 0.5).all()
    assert 0 < len(d) < ranked.n_vars
    assert d["symbol"].tolist() == [f"S{ranked.var_names.get_loc(n)}" for n in d["names"]]
    low = get.rank_genes_groups_df(ranked, "g0", log2fc_max=0)
    assert (low["logfoldchanges"] < 0).all()


def test_pts_columns():
    adata = make_counts()
    pp.log1p(adata)
    tl.rank_genes_groups(adata, "group", pts=True)
    d = get.rank_genes_groups_df(adata, ["g0", "g1"])
    assert list(d.columns) == ["group", *COLUMNS, "pct_nz_group", "pct_nz_reference"]
    row = d.iloc[0]
    assert row["pct_nz_group"] == adata.uns["rank_genes_groups"]["pts"].loc[row["names"], "g0"]


def test_logreg_has_names_and_scores_only(ranked):
    tl.rank_genes_groups(ranked, "group", method="logreg", key_added="lr")
    d = get.rank_genes_groups_df(ranked, "g0", key="lr", pval_cutoff=0.01)  # no p-values: filter ignored
    assert list(d.columns) == ["names", "scores"]
    assert len(d) == ranked.n_vars


def test_errors(ranked):
    with pytest.raises(MissingKeyError, match=r"uns\['rgg'\] not found.*run rank_genes_groups"):
        get.rank_genes_groups_df(ranked, "g0", key="rgg")
    with pytest.raises(ParamError, match=r"'g9' not in uns\['rank_genes_groups'\] \(groups: g0, g1, g2\)"):
        get.rank_genes_groups_df(ranked, ["g0", "g9"])
    with pytest.raises(ParamError, match="no group"):
        get.rank_genes_groups_df(ranked, [])
    with pytest.raises(MissingKeyError, match=r"var\['symbl'\] not found.*symbol"):
        get.rank_genes_groups_df(ranked, "g0", gene_symbols="symbl")
    with pytest.raises(ParamError, match="pval_cutoff"):
        get.rank_genes_groups_df(ranked, "g0", pval_cutoff="low")
    ranked.uns["junk"] = {"names": 1}
    with pytest.raises(InputDataError, match="not a rank_genes_groups result"):
        get.rank_genes_groups_df(ranked, "g0", key="junk")
