"""logreg markers, filter_rank_genes_groups, get.rank_genes_groups_df and score_genes against scanpy 1.11."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from factories import make_counts
from scsnake import get, tl

sc = pytest.importorskip("scanpy")

pytestmark = [
    pytest.mark.parity,
    # lbfgs stops at sklearn's default max_iter=100 on real data, for scanpy and for us alike
    pytest.mark.filterwarnings("ignore:lbfgs failed to converge:sklearn.exceptions.ConvergenceWarning"),
]


def _log_normalized(adata: ad.AnnData) -> ad.AnnData:
    adata = adata.copy()
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    return adata


@pytest.fixture(scope="module")
def small() -> ad.AnnData:
    """make_counts (CSR float32) normalised and log1p, grouped by `group`, with a symbol column."""
    adata = _log_normalized(make_counts(300, 80, n_groups=5))
    adata.var["symbol"] = [f"Sym{i}" for i in range(adata.n_vars)]
    return adata


@pytest.fixture(scope="module")
def mouse(mouse10k: ad.AnnData) -> ad.AnnData:
    """1,500 mouse10k cells normalised and log1p, k-means clusters on their 20 most variable genes."""
    from sklearn.cluster import KMeans

    subset = mouse10k[:1500]
    totals = np.asarray(subset.X.sum(axis=1)).ravel()
    adata = _log_normalized(subset[totals > 0])
    x = adata.X
    mean = np.asarray(x.mean(axis=0)).ravel()
    var = np.asarray(x.multiply(x).mean(axis=0)).ravel() - mean**2
    top = np.argsort(-var, kind="stable")[:20]
    labels = KMeans(6, random_state=0, n_init=1).fit_predict(x[:, top].toarray())
    adata.obs["km"] = pd.Categorical(labels.astype(str))
    return adata


def with_format(adata: ad.AnnData, fmt: str) -> ad.AnnData:
    adata = adata.copy()
    if fmt == "dense":
        adata.X = adata.X.toarray()
    elif fmt == "csc":
        adata.X = sparse.csc_matrix(adata.X)
    return adata


# ----------------------------------------------------------------------------- logreg


LOGREG_OPTIONS = [
    pytest.param({}, id="default"),
    pytest.param({"groups": ["g3", "g0", "g4"], "reference": "g1"}, id="reference"),
    pytest.param({"groups": ["g2", "g0"]}, id="binary"),
    pytest.param({"n_genes": 15, "rankby_abs": True, "C": 0.1}, id="options-kwds"),
]


@pytest.mark.parametrize("kwargs", LOGREG_OPTIONS)
def test_logreg_small(small, kwargs):
    ours = tl.rank_genes_groups(small, "group", method="logreg", copy=True, **kwargs).uns["rank_genes_groups"]
    theirs = sc.tl.rank_genes_groups(small.copy(), "group", method="logreg", copy=True, **kwargs)
    theirs = theirs.uns["rank_genes_groups"]
    assert set(ours) == set(theirs)
    assert ours["params"] == theirs["params"]
    assert ours["names"].dtype == theirs["names"].dtype
    for group in theirs["names"].dtype.names:
        np.testing.assert_array_equal(ours["names"][group], theirs["names"][group])
        np.testing.assert_allclose(ours["scores"][group], theirs["scores"][group], rtol=1e-5)


def test_logreg_mouse_top25(mouse):
    ours = tl.rank_genes_groups(mouse, "km", method="logreg", copy=True).uns["rank_genes_groups"]
    theirs = sc.tl.rank_genes_groups(mouse.copy(), "km", method="logreg", copy=True).uns["rank_genes_groups"]
    for group in theirs["names"].dtype.names:
        top_ours, top_theirs = list(ours["names"][group][:25]), list(theirs["names"][group][:25])
        assert len(set(top_ours) & set(top_theirs)) / 25 >= 0.9, group
        mine = pd.Series(ours["scores"][group], index=ours["names"][group])
        np.testing.assert_allclose(mine[top_theirs], theirs["scores"][group][:25], rtol=1e-5)


# ----------------------------------------------------------------------------- filter


FILTER_CASES = [
    pytest.param({}, {}, id="default"),
    pytest.param({"pts": True}, {"min_fold_change": 0.5}, id="pts"),
    pytest.param({"method": "logreg"}, {"min_in_group_fraction": 0.1}, id="logreg"),
    pytest.param({"reference": "g1", "groups": ["g0", "g2"]}, {}, id="reference"),
    pytest.param(
        {"pts": True, "n_genes": 20}, {"compare_abs": True, "max_out_group_fraction": 0.9}, id="abs"
    ),
    pytest.param({"method": "wilcoxon"}, {"use_raw": True}, id="raw"),
]


@pytest.mark.parametrize(("rank_kwargs", "filter_kwargs"), FILTER_CASES)
@pytest.mark.parametrize("fmt", ["csr", "dense"])
def test_filter_small(small, fmt, rank_kwargs, filter_kwargs):
    adata = with_format(small, fmt)
    adata.raw = adata
    tl.rank_genes_groups(adata, "group", **rank_kwargs)
    reference = adata.copy()
    tl.filter_rank_genes_groups(adata, **filter_kwargs)
    sc.tl.filter_rank_genes_groups(reference, **filter_kwargs)
    ours, theirs = adata.uns["rank_genes_groups_filtered"], reference.uns["rank_genes_groups_filtered"]
    assert set(ours) == set(theirs)
    pd.testing.assert_frame_equal(pd.DataFrame(ours["names"]), pd.DataFrame(theirs["names"]))


@pytest.mark.parametrize("method", ["t-test", "logreg"])
def test_filter_mouse(mouse, method):
    adata = mouse.copy()
    tl.rank_genes_groups(adata, "km", method=method, n_genes=100)
    reference = adata.copy()
    tl.filter_rank_genes_groups(adata, min_fold_change=0.5)
    sc.tl.filter_rank_genes_groups(reference, min_fold_change=0.5)
    ours = pd.DataFrame(adata.uns["rank_genes_groups_filtered"]["names"])
    pd.testing.assert_frame_equal(ours, pd.DataFrame(reference.uns["rank_genes_groups_filtered"]["names"]))
    assert 0 < ours.notna().to_numpy().sum() < ours.size


# ----------------------------------------------------------------------------- get


@pytest.mark.parametrize(
    "rank_kwargs", [{}, {"pts": True}, {"method": "logreg"}, {"pts": True, "reference": "g2"}]
)
@pytest.mark.parametrize(
    "df_kwargs",
    [
        {"group": "g0"},
        {"group": ["g3", "g0"], "pval_cutoff": 0.05, "log2fc_min": 0.2},
        {"group": None, "log2fc_max": 0.0, "gene_symbols": "symbol"},
    ],
)
def test_rank_genes_groups_df(small, rank_kwargs, df_kwargs):
    adata = tl.rank_genes_groups(small, "group", copy=True, **rank_kwargs)
    df_kwargs = dict(df_kwargs)
    group = df_kwargs.pop("group")
    pd.testing.assert_frame_equal(
        get.rank_genes_groups_df(adata, group, **df_kwargs),
        sc.get.rank_genes_groups_df(adata, group, **df_kwargs),
    )


# ----------------------------------------------------------------------------- score_genes


SCORE_OPTIONS = [
    pytest.param({}, id="default"),
    pytest.param({"ctrl_as_ref": False}, id="ctrl_as_ref-False"),
    pytest.param({"ctrl_size": 10, "n_bins": 10, "random_state": 3}, id="options"),
    pytest.param({"gene_pool": "half"}, id="gene_pool"),
]


def _gene_sets(adata: ad.AnnData) -> tuple[list[str], list[str]]:
    genes = list(adata.var_names[5::7][:20])
    return genes, list(adata.var_names[::2]) + genes


@pytest.mark.parametrize("kwargs", SCORE_OPTIONS)
@pytest.mark.parametrize("data", ["small", "mouse"])
def test_score_genes(request, data, kwargs):
    base = request.getfixturevalue(data)
    genes, pool = _gene_sets(base)
    kwargs = {**kwargs, "gene_pool": pool} if "gene_pool" in kwargs else kwargs
    dense_reference = with_format(base, "dense")
    sc.tl.score_genes(dense_reference, genes, **kwargs)
    sparse_reference = base.copy()
    sc.tl.score_genes(sparse_reference, genes, **kwargs)
    for fmt in ("dense", "csr", "csc"):
        adata = with_format(base, fmt)
        tl.score_genes(adata, genes, **kwargs)
        # exact against scanpy's dense path (same control genes, float64 means)
        np.testing.assert_allclose(adata.obs["score"], dense_reference.obs["score"], rtol=1e-5, atol=0)
        # scanpy's sparse path sums each cell's genes in float32 (scipy's sum keeps the input dtype
        # and only then casts to float64): the same control genes, rounding differences only
        np.testing.assert_allclose(adata.obs["score"], sparse_reference.obs["score"], rtol=0, atol=2e-6)


def test_score_genes_cell_cycle(mouse):
    genes, _ = _gene_sets(mouse)
    kwargs = {"s_genes": genes[:9], "g2m_genes": genes[9:], "n_bins": 20}
    reference = with_format(mouse, "dense")
    sc.tl.score_genes_cell_cycle(reference, **kwargs)
    adata = mouse.copy()
    tl.score_genes_cell_cycle(adata, **kwargs)
    for column in ("S_score", "G2M_score"):
        np.testing.assert_allclose(adata.obs[column], reference.obs[column], rtol=1e-5, atol=0)
    pd.testing.assert_series_equal(adata.obs["phase"], reference.obs["phase"])
    assert adata.obs["phase"].nunique() == 3
