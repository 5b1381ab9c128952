"""rank_genes_groups (and category colours) against scanpy (1.11 and 1.12) on the same data."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from factories import make_counts
from scanpy_reference import scanpy_at_least
from scsnake import pl, tl

sc = pytest.importorskip("scanpy")

pytestmark = [
    pytest.mark.parity,
    # scanpy's tie-corrected reference Wilcoxon divides 0 by 0 for genes absent from both groups
    pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning"),
    pytest.mark.filterwarnings("ignore:divide by zero encountered in divide:RuntimeWarning"),
]

FIELDS = ("scores", "pvals", "pvals_adj", "logfoldchanges")
CASES = [
    pytest.param("t-test", False, id="t-test"),
    pytest.param("t-test_overestim_var", False, id="t-test_overestim_var"),
    pytest.param("wilcoxon", False, id="wilcoxon"),
    pytest.param("wilcoxon", True, id="wilcoxon-tie_correct"),
]
# scanpy's tie correction on 10,000 cells takes several seconds
MOUSE_CASES = [*CASES[:3], pytest.param("wilcoxon", True, id="wilcoxon-tie_correct", marks=pytest.mark.slow)]


def _log_normalized(adata: ad.AnnData) -> ad.AnnData:
    adata = adata.copy()
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    return adata


@pytest.fixture(scope="module")
def small() -> ad.AnnData:
    """make_counts (CSR float32), normalised and log1p, grouped by `group`."""
    return _log_normalized(make_counts(300, 80, n_groups=5))


@pytest.fixture(scope="module")
def mouse(mouse10k: ad.AnnData) -> ad.AnnData:
    """mouse10k normalised and log1p, clustered by k-means on its 20 most variable genes."""
    from sklearn.cluster import KMeans

    totals = np.asarray(mouse10k.X.sum(axis=1)).ravel()
    adata = _log_normalized(mouse10k[totals > 0])  # scanpy warns about empty cells
    x = adata.X
    mean = np.asarray(x.mean(axis=0)).ravel()
    var = np.asarray(x.multiply(x).mean(axis=0)).ravel() - mean**2
    top = np.argsort(-var, kind="stable")[:20]
    labels = KMeans(8, random_state=0, n_init=1).fit_predict(x[:, top].toarray())
    adata.obs["km"] = pd.Categorical(labels.astype(str))
    return adata


def assert_same(ours: dict, theirs: dict) -> None:
    """Every field of every group equal per gene; names equal wherever scores are not tied."""
    assert ours["params"] == theirs["params"]
    assert ours["names"].dtype.names == theirs["names"].dtype.names
    for group in theirs["names"].dtype.names:
        their_names = np.asarray(theirs["names"][group])
        idx = pd.Index(ours["names"][group]).get_indexer(their_names)
        assert (idx >= 0).all()
        for field in FIELDS:
            np.testing.assert_allclose(
                ours[field][group][idx], theirs[field][group], rtol=1e-5, atol=0, err_msg=f"{group} {field}"
            )
        scores = np.asarray(theirs["scores"][group])
        tied = np.zeros(scores.size, dtype=bool)
        same = scores[1:] == scores[:-1]
        tied[1:] |= same
        tied[:-1] |= same
        np.testing.assert_array_equal(np.asarray(ours["names"][group])[~tied], their_names[~tied])
    for key in ("pts", "pts_rest"):
        assert (key in ours) == (key in theirs)
        if key in theirs:
            pd.testing.assert_frame_equal(ours[key], theirs[key])


def run_both(adata: ad.AnnData, groupby: str, **kwargs) -> tuple[dict, dict]:
    ours = tl.rank_genes_groups(adata, groupby, copy=True, **kwargs).uns["rank_genes_groups"]
    reference = adata.copy()
    if not scanpy_at_least("1.12.3"):
        # scanpy < 1.12.3 squares float32 values in float32 for the t-test variances; scsnake
        # and scanpy >= 1.12.3 square in float64. The rounding moved p-values below 1e-60 by
        # up to 2e-5 (relative); on float64 data scanpy 1.11 squares as we do.
        reference.X = reference.X.astype(np.float64)
    theirs = sc.tl.rank_genes_groups(reference, groupby, copy=True, **kwargs).uns["rank_genes_groups"]
    return ours, theirs


@pytest.mark.parametrize(("method", "tie_correct"), CASES)
@pytest.mark.parametrize("reference", ["rest", "g1"])
def test_small(small, method, tie_correct, reference):
    assert_same(
        *run_both(small, "group", method=method, tie_correct=tie_correct, reference=reference, pts=True)
    )


@pytest.mark.parametrize(("method", "tie_correct"), CASES)
def test_small_dense_and_options(small, method, tie_correct):
    dense = small.copy()
    dense.X = dense.X.toarray()
    kwargs = {"groups": ["g3", "g0"], "n_genes": 25, "rankby_abs": True, "corr_method": "bonferroni"}
    assert_same(*run_both(dense, "group", method=method, tie_correct=tie_correct, **kwargs))


@pytest.mark.parametrize(("method", "tie_correct"), MOUSE_CASES)
def test_mouse10k_rest(mouse, method, tie_correct):
    assert_same(*run_both(mouse, "km", method=method, tie_correct=tie_correct, pts=True))


@pytest.mark.parametrize(("method", "tie_correct"), MOUSE_CASES)
def test_mouse10k_reference(mouse, method, tie_correct):
    kwargs = {"groups": ["0", "3", "5"], "reference": "1", "pts": True}
    assert_same(*run_both(mouse, "km", method=method, tie_correct=tie_correct, **kwargs))


# scanpy's scatter calls Colormap.set_bad, which matplotlib 3.11 marks for deprecation
@pytest.mark.filterwarnings("ignore:The set_bad function:PendingDeprecationWarning")
@pytest.mark.parametrize("n_categories", [4, 15, 25, 60])
def test_default_category_colors(n_categories):
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(0)
    adata = ad.AnnData(np.zeros((120, 1), dtype=np.float32))
    adata.obs["cat"] = pd.Categorical([f"c{i % n_categories:02d}" for i in range(120)])
    adata.obsm["X_umap"] = rng.normal(size=(120, 2))
    reference = adata.copy()
    fig = sc.pl.embedding(reference, "umap", color="cat", show=False, return_fig=True)
    plt.close(fig)
    plt.close(pl.embedding(adata, "umap", color="cat", return_fig=True))
    assert list(adata.uns["cat_colors"]) == list(reference.uns["cat_colors"])
