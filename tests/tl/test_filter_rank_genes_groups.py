"""filter_rank_genes_groups: thresholds by hand, stored vs recomputed statistics, layouts, errors."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from factories import make_counts
from scsnake import pp, tl
from scsnake.errors import InputDataError, MissingKeyError, ParamError


def tiny(fmt: str = "dense") -> ad.AnnData:
    """6 cells (a a a b b b) × 4 genes: 'up' in all a and one b; 'rare' in one a; 'down' in b;
    'dim' low in all a, high in one b."""
    x = np.array(
        [[2, 1, 0, 0.1], [2, 0, 0, 0.1], [2, 0, 0, 0.1], [0.5, 0, 1, 3], [0, 0, 1, 0], [0, 0, 1, 0]],
        dtype=np.float32,
    )
    obs = pd.DataFrame({"g": pd.Categorical(list("aaabbb"))}, index=[f"c{i}" for i in range(6)])
    adata = ad.AnnData(x, obs=obs, var=pd.DataFrame(index=["up", "rare", "down", "dim"]))
    if fmt != "dense":
        adata.X = getattr(sparse, f"{fmt}_matrix")(x)
    return adata


def names(adata: ad.AnnData, key: str = "rank_genes_groups_filtered") -> pd.DataFrame:
    return pd.DataFrame(adata.uns[key]["names"])


@pytest.mark.parametrize("fmt", ["dense", "csr", "csc"])
@pytest.mark.parametrize("pts", [False, True])
def test_by_hand(fmt, pts):
    adata = tiny(fmt)
    tl.rank_genes_groups(adata, "g", pts=pts)
    tl.filter_rank_genes_groups(adata, min_in_group_fraction=0.4, max_out_group_fraction=0.5)
    table = names(adata)
    # a: up (in 3/3, out 1/3, lfc log2(expm1(2) / expm1(1/6)) = 5.2) stays; rare (in 1/3) goes;
    # down (in 0/3) goes; dim (lfc -4) goes. b: down (in 3/3, out 0/3, lfc > 1) stays; the others go.
    kept = {g: set(table[g].dropna()) for g in table.columns}
    assert kept == {"a": {"up"}, "b": {"down"}}
    assert table.shape == (4, 2)  # lists keep their order and length
    original = pd.DataFrame(adata.uns["rank_genes_groups"]["names"])
    assert (table.isna() | (table == original)).all().all()
    assert adata.uns["rank_genes_groups_filtered"]["scores"] is adata.uns["rank_genes_groups"]["scores"]


def test_thresholds_are_strict_and_compare_abs():
    adata = tiny()
    tl.rank_genes_groups(adata, "g")
    tl.filter_rank_genes_groups(adata, min_in_group_fraction=0.0, max_out_group_fraction=1 / 3)
    assert set(names(adata)["a"].dropna()) == {"rare"}  # up: out fraction 1/3 is not < 1/3
    tl.filter_rank_genes_groups(
        adata, min_in_group_fraction=0.0, max_out_group_fraction=1.0, min_fold_change=-100, key_added="loose"
    )
    # rare: in b 0/3 is not > 0; up and dim: out 3/3 is not < 1
    assert set(names(adata, "loose")["b"].dropna()) == {"down"}
    tl.filter_rank_genes_groups(adata, min_fold_change=3, min_in_group_fraction=0.4, key_added="signed")
    assert set(names(adata, "signed")["a"].dropna()) == {"up"}
    # dim in a: log2(expm1(0.1) / expm1(1)) = -4.0
    tl.filter_rank_genes_groups(
        adata, min_fold_change=3, min_in_group_fraction=0.4, compare_abs=True, key_added="abs"
    )
    assert set(names(adata, "abs")["a"].dropna()) == {"up", "dim"}


def test_stored_and_recomputed_statistics_agree(counts_any_format):
    adata = counts_any_format
    pp.normalize_total(adata, target_sum=1e4)
    pp.log1p(adata)
    with_pts = tl.rank_genes_groups(adata, "group", pts=True, copy=True)
    tl.filter_rank_genes_groups(with_pts, min_fold_change=0.5)
    # a result without logfoldchanges and pts: everything recomputed from the data
    bare = with_pts.copy()
    del bare.uns["rank_genes_groups"]["pts"], bare.uns["rank_genes_groups"]["pts_rest"]
    del bare.uns["rank_genes_groups"]["logfoldchanges"]
    tl.filter_rank_genes_groups(bare, min_fold_change=0.5)
    pd.testing.assert_frame_equal(names(bare), names(with_pts))
    assert 0 < names(bare).notna().to_numpy().sum() < names(bare).size


def test_layouts_agree():
    tables = []
    for fmt in ("dense", "csr", "csc"):
        adata = make_counts(fmt=fmt)
        pp.normalize_total(adata, target_sum=1e4)
        pp.log1p(adata)
        tl.rank_genes_groups(adata, "group", method="logreg")  # no fold changes: computed
        tl.filter_rank_genes_groups(adata, min_fold_change=0.2)
        tables.append(names(adata))
    for table in tables[1:]:
        pd.testing.assert_frame_equal(table, tables[0])


def test_int_counts_and_log1p_base():
    ints = make_counts(dtype=np.int64)
    floats = make_counts(dtype=np.float32)
    for adata in (ints, floats):
        adata.uns["log1p"] = {"base": 2}
        tl.rank_genes_groups(adata, "group", method="logreg")
        tl.filter_rank_genes_groups(adata, min_fold_change=0.5)
    pd.testing.assert_frame_equal(names(ints), names(floats))


def test_other_groupby_and_raw():
    adata = make_counts()
    pp.normalize_total(adata, target_sum=1e4)
    pp.log1p(adata)
    adata.raw = adata
    adata.obs["other"] = adata.obs["group"]
    tl.rank_genes_groups(adata, "group", n_genes=10)
    tl.filter_rank_genes_groups(adata, groupby="other", use_raw=True)  # not the same params: recomputed
    reference = adata.copy()
    tl.filter_rank_genes_groups(reference)
    pd.testing.assert_frame_equal(names(adata), names(reference))
    assert names(adata).shape == (10, 3)


def test_errors():
    adata = tiny()
    with pytest.raises(MissingKeyError, match=r"uns\['rank_genes_groups'\] not found.*run rank_genes_groups"):
        tl.filter_rank_genes_groups(adata)
    tl.rank_genes_groups(adata, "g", key_added="rgg")
    with pytest.raises(MissingKeyError, match="close matches: rgg"):
        tl.filter_rank_genes_groups(adata, key="rggg")
    with pytest.raises(MissingKeyError, match="groupby 'nope' not found"):
        tl.filter_rank_genes_groups(adata, key="rgg", groupby="nope")
    with pytest.raises(MissingKeyError, match=r"no .raw"):
        tl.filter_rank_genes_groups(adata, key="rgg", use_raw=True)
    with pytest.raises(ParamError, match="min_in_group_fraction"):
        tl.filter_rank_genes_groups(adata, key="rgg", min_in_group_fraction=1.5)
    with pytest.raises(ParamError, match="max_out_group_fraction"):
        tl.filter_rank_genes_groups(adata, key="rgg", max_out_group_fraction=-0.1)
    adata.uns["junk"] = {"a": 1}
    with pytest.raises(InputDataError, match="not a rank_genes_groups result"):
        tl.filter_rank_genes_groups(adata, key="junk")
    renamed = adata[:, :2].copy()
    with pytest.raises(InputDataError, match=r"not in adata.var_names.*'down'"):
        tl.filter_rank_genes_groups(
            renamed, key="rgg", groupby="g", use_raw=False, min_fold_change=0, key_added="x"
        )
