"""scanpy's PBMC 3k clustering tutorial, run unchanged with ``import scsnake as sc``.

``tutorial(sc, adata)`` holds the tutorial's compute calls as the tutorial writes them; it
runs once with scanpy and once with scsnake on the same real counts, and every step is
compared: exactly (tight tolerances) where the computation is deterministic, by agreement
scores where it is stochastic.

Data: there is no PBMC 3k here, so real raw counts from ../shared/data stand in: mouse10k
(10,000 mouse cells × the first 1,000 genes of chromosome 1, 10x Genomics), 3,000 of them.
Three consequences for the tutorial's numbers, written for ~33,000 human genes:

- the cut-offs on genes per cell are scaled to 1,000 genes (median 65 genes per cell here):
  ``min_genes=20`` for the tutorial's 200 and ``n_genes_by_counts < 150`` for its 2,500 each
  remove about 1% of the cells, as the tutorial's do on PBMC 3k;
- chromosome 1 has no mitochondrial gene, so ``var["mt"]`` is all False and
  ``pct_counts_mt`` is 0: the filter on it keeps every cell and ``regress_out`` gets a
  constant-zero covariate (a rank-deficient design, which both must solve alike);
- the tutorial's human marker genes (CST3, NKG7, PPBP, …) are replaced by genes present here.

Plots: every ``sc.pl.*`` call of the tutorial runs with ``show=False`` (scsnake has them all;
none is scanpy-only); here they only have to run, tests/parity/test_plot_parity.py compares
figures.

What differs from scanpy, and why, is said at each test: float32 roundings of the
normalised data (1 ulp) and, with scanpy 1.12, of the gene means; the kNN rows of duplicate
cells; scanpy < 1.12's umap pruning the graph its leiden then clusters.
"""

from __future__ import annotations

import warnings
from types import ModuleType

import anndata as ad
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib import MatplotlibDeprecationWarning
from scipy import sparse
from sklearn.manifold import trustworthiness
from sklearn.metrics import adjusted_rand_score

import scsnake
from scanpy_reference import scanpy_at_least

scanpy = pytest.importorskip("scanpy")

pytestmark = [
    pytest.mark.parity,
    pytest.mark.slow,
    # scanpy's highest_expr_genes normalises the unfiltered counts, which have empty cells
    pytest.mark.filterwarnings("ignore:Some cells have zero counts:UserWarning"),
    # scanpy's regress_out on the tutorial's HVG view says it copies it (scsnake copies silently)
    pytest.mark.filterwarnings("ignore:Received a view of an AnnData. Making a copy.:UserWarning"),
    # the kNN graph has a component of 5 cells, too small for umap-learn's spectral layout:
    # umap-learn (under scanpy's umap and scsnake's alike) warns and places it at random
    pytest.mark.filterwarnings("ignore:Spectral initialisation failed:UserWarning"),
    # scanpy's rank_genes_groups inserts a column per group and statistic into one frame
    pytest.mark.filterwarnings("ignore:DataFrame is highly fragmented::scanpy"),
]

#: The tutorial's PBMC 3k has 2,700 cells; 3,000 of the 10,000 keep scanpy's per-gene
#: statsmodels fits in ``regress_out`` and its logreg fit to seconds (the whole module takes
#: about a minute, scanpy's run most of it). Below 8,192 cells scanpy's ``neighbors`` searches
#: exactly (scikit-learn's brute force), as scsnake does.
N_CELLS = 3000


def tutorial(sc: ModuleType, adata: ad.AnnData) -> dict[str, object]:
    """The tutorial's calls in its order; returns what each step left behind."""
    out: dict[str, object] = {}
    sc.pl.highest_expr_genes(adata, n_top=20, show=False)
    sc.pp.filter_cells(adata, min_genes=20)
    sc.pp.filter_genes(adata, min_cells=3)
    adata.var["mt"] = adata.var_names.str.startswith("mt-")
    sc.pp.calculate_qc_metrics(adata, qc_vars=["mt"], percent_top=None, log1p=False, inplace=True)
    sc.pl.violin(
        adata,
        ["n_genes_by_counts", "total_counts", "pct_counts_mt"],
        jitter=0.4,
        multi_panel=True,
        show=False,
    )
    sc.pl.scatter(adata, x="total_counts", y="pct_counts_mt", show=False)
    sc.pl.scatter(adata, x="total_counts", y="n_genes_by_counts", show=False)
    adata = adata[adata.obs.n_genes_by_counts < 150, :]
    adata = adata[adata.obs.pct_counts_mt < 5, :].copy()
    out["qc"] = adata.copy()
    sc.pp.normalize_total(adata, target_sum=1e4)
    out["normalized"] = adata.X.copy()
    sc.pp.log1p(adata)
    out["log1p"] = adata.X.copy()
    sc.pp.highly_variable_genes(adata, min_mean=0.0125, max_mean=3, min_disp=0.5)
    sc.pl.highly_variable_genes(adata, show=False)
    adata.raw = adata
    adata = adata[:, adata.var.highly_variable]
    sc.pp.regress_out(adata, ["total_counts", "pct_counts_mt"])
    out["regressed"] = adata.X.copy()
    sc.pp.scale(adata, max_value=10)
    out["scaled"] = adata.X.copy()
    sc.tl.pca(adata, svd_solver="arpack")
    sc.pl.pca(adata, color="Cops5", show=False)
    sc.pl.pca_variance_ratio(adata, log=True, show=False)
    sc.pp.neighbors(adata, n_neighbors=10, n_pcs=40)
    out["neighbors"] = adata.copy()  # scanpy < 1.12 prunes obsp["connectivities"] in umap (below)
    sc.tl.umap(adata)
    sc.pl.umap(adata, color=["Cops5", "Sox17"], show=False)
    sc.tl.leiden(adata, flavor="igraph", n_iterations=2, directed=False)
    sc.pl.umap(adata, color=["leiden"], show=False)
    sc.tl.rank_genes_groups(adata, "leiden", method="t-test")
    sc.pl.rank_genes_groups(adata, n_genes=25, sharey=False, show=False)
    out["t-test"] = adata.uns["rank_genes_groups"]
    sc.tl.rank_genes_groups(adata, "leiden", method="wilcoxon")
    sc.pl.rank_genes_groups(adata, n_genes=25, sharey=False, show=False)
    out["wilcoxon"] = adata.uns["rank_genes_groups"]
    sc.pl.rank_genes_groups_violin(adata, groups="0", n_genes=8, show=False)
    out["df0"] = sc.get.rank_genes_groups_df(adata, group="0")
    # without max_iter, scikit-learn's lbfgs stops at 100 iterations (ConvergenceWarning)
    sc.tl.rank_genes_groups(adata, "leiden", method="logreg", max_iter=1000)
    sc.pl.rank_genes_groups(adata, n_genes=25, sharey=False, show=False)
    out["logreg"] = adata.uns["rank_genes_groups"]
    sc.tl.rank_genes_groups(adata, "leiden", method="wilcoxon")  # the tutorial goes back to wilcoxon
    sc.tl.dendrogram(adata, "leiden")
    out["leiden"] = adata.obs["leiden"].copy()
    new_names = [f"type {c}" for c in adata.obs["leiden"].cat.categories]
    adata.rename_categories("leiden", new_names)
    sc.pl.umap(adata, color="leiden", legend_loc="on data", title="", frameon=False, show=False)
    markers = list(adata.var_names[:4])
    sc.pl.violin(adata, markers[:3], groupby="leiden", show=False)
    sc.pl.dotplot(adata, markers, groupby="leiden", show=False)
    sc.pl.stacked_violin(adata, markers, groupby="leiden", show=False)
    plt.close("all")
    out["final"] = adata
    return out


@pytest.fixture(scope="module")
def runs(mouse10k: ad.AnnData) -> tuple[dict[str, object], dict[str, object]]:
    """(scanpy's, scsnake's) results of the tutorial on the same 3,000 cells."""
    cells = np.sort(np.random.default_rng(0).choice(mouse10k.n_obs, N_CELLS, replace=False))
    counts = mouse10k[cells].copy()
    from statsmodels.tools.sm_exceptions import SingularMatrixWarning  # scanpy's regress_out

    with warnings.catch_warnings():
        # scanpy's plots (and seaborn's boxplot under highest_expr_genes) call matplotlib
        # APIs that matplotlib 3.11 deprecates (`vert`, `Colormap.set_bad`), and its
        # rank_genes_groups_violin sets tick labels without fixed ticks; scsnake's must not
        warnings.filterwarnings("ignore", category=MatplotlibDeprecationWarning)
        warnings.filterwarnings("ignore", category=PendingDeprecationWarning)
        warnings.filterwarnings("ignore", r"set_ticklabels\(\) should only be used", UserWarning)
        # scanpy fits a GLM per gene on the rank-deficient design (pct_counts_mt is all 0);
        # statsmodels sets its warning to "always" when imported, hence imported above
        warnings.filterwarnings("ignore", category=SingularMatrixWarning)
        ref = tutorial(scanpy, counts.copy())
    return ref, tutorial(scsnake, counts.copy())


def _dense(x: object) -> np.ndarray:
    return x.toarray() if sparse.issparse(x) else np.asarray(x)


def _duplicated_cells(x: np.ndarray) -> np.ndarray:
    """Cells whose coordinates equal another cell's (here: no counts in any HVG, same total)."""
    _, inverse, counts = np.unique(x, axis=0, return_inverse=True, return_counts=True)
    return counts[inverse.ravel()] > 1


def test_qc_and_filters(runs):
    ref, ours = (run["qc"] for run in runs)
    assert ref.n_obs < N_CELLS and ref.n_vars < 1000  # both filters removed something
    np.testing.assert_array_equal(ours.obs_names, ref.obs_names)
    np.testing.assert_array_equal(ours.var_names, ref.var_names)
    np.testing.assert_array_equal(_dense(ours.X), _dense(ref.X))
    for frame in ("obs", "var"):
        theirs, mine = getattr(ref, frame), getattr(ours, frame)
        assert list(mine.columns) == list(theirs.columns)
        for column in theirs.columns:
            if not pd.api.types.is_float_dtype(theirs[column]):
                np.testing.assert_array_equal(mine[column].to_numpy(), theirs[column].to_numpy())
                continue
            # scanpy sums float32 counts in float32 and keeps that dtype (n_genes_by_counts:
            # int32); scsnake sums in float64. The counts are integers, so the sums agree.
            # scanpy 1.12 also rounds float32 data's gene means to float32 (mean_counts:
            # 5.7e-8 apart, relative); scanpy 1.11's and scsnake's are float64.
            np.testing.assert_allclose(
                mine[column].to_numpy(),
                theirs[column].to_numpy(),
                rtol=np.finfo(np.float32).eps,
                atol=0,
                err_msg=column,
            )
    assert not ref.var["mt"].any()  # chromosome 1 has no mitochondrial gene (module docstring)


def test_normalize_log1p_hvg(runs):
    ref, ours = runs
    # 1 float32 ulp (1.2e-7, relative): scanpy divides by float32 size factors, scsnake by
    # the float64 ones, each rounded once to float32
    for step in ("normalized", "log1p"):
        np.testing.assert_allclose(_dense(ours[step]), _dense(ref[step]), rtol=2.5e-7, atol=0, err_msg=step)
    theirs, mine = ref["final"].raw.to_adata(), ours["final"].raw.to_adata()
    np.testing.assert_array_equal(mine.var["highly_variable"], theirs.var["highly_variable"])
    # the 1-ulp differences of the log-data reach the z-scores near 0 by cancellation
    # (0.00074 vs 0.00074001): an absolute bound there, of z-scores of order 1
    for column in ("means", "dispersions", "dispersions_norm"):
        np.testing.assert_allclose(mine.var[column], theirs.var[column], rtol=1e-5, atol=1e-7, err_msg=column)
    assert ours["final"].uns["hvg"] == ref["final"].uns["hvg"]
    # on scanpy's log-data, the same values to rounding
    same_input = ad.AnnData(ref["log1p"].copy(), uns={"log1p": {"base": None}})
    scsnake.pp.highly_variable_genes(same_input, min_mean=0.0125, max_mean=3, min_disp=0.5)
    np.testing.assert_array_equal(same_input.var["highly_variable"], theirs.var["highly_variable"])
    for column in ("means", "dispersions", "dispersions_norm"):
        np.testing.assert_allclose(
            same_input.var[column], theirs.var[column], rtol=1e-6, atol=0, err_msg=column
        )


def test_regress_out_scale_pca_on_scanpys_input(runs):
    """Each step on scanpy's output of the step before: equal to rounding."""
    ref, _ = runs
    final = ref["final"]
    hvg = final.raw.var_names.isin(final.var_names)
    adata = ad.AnnData(_dense(ref["log1p"])[:, hvg], obs=final.obs[["total_counts", "pct_counts_mt"]])
    scsnake.pp.regress_out(adata, ["total_counts", "pct_counts_mt"])
    np.testing.assert_allclose(adata.X, ref["regressed"], rtol=1e-9, atol=1e-13)
    adata = ad.AnnData(ref["regressed"].copy())
    scsnake.pp.scale(adata, max_value=10)
    np.testing.assert_allclose(adata.X, ref["scaled"], rtol=1e-9, atol=1e-13)
    adata = ad.AnnData(ref["scaled"].copy(), var=final.var[["highly_variable"]])
    scsnake.tl.pca(adata, svd_solver="arpack")
    _assert_same_pca(adata, final, rtol=1e-5)


def _assert_same_pca(ours: ad.AnnData, ref: ad.AnnData, rtol: float, atol: float = 0) -> None:
    # components are unique up to sign; both follow scikit-learn's sign rule, so the signs agree too
    np.testing.assert_allclose(ours.obsm["X_pca"], ref.obsm["X_pca"], rtol=rtol, atol=atol)
    np.testing.assert_allclose(ours.varm["PCs"], ref.varm["PCs"], rtol=rtol, atol=max(atol, 1e-7))
    for key in ("variance", "variance_ratio"):
        np.testing.assert_allclose(ours.uns["pca"][key], ref.uns["pca"][key], rtol=rtol, err_msg=key)
    assert ours.uns["pca"]["params"] == ref.uns["pca"]["params"]


def test_regress_out_scale_pca_end_to_end(runs):
    """The tutorial's own chain: scanpy's and scsnake's inputs differ by 1 float32 ulp of the
    log-data (test above), which ``regress_out`` carries to residuals near 0 and scaling
    divides by standard deviations near 0.3: absolute differences up to 1e-6 follow."""
    ref, ours = runs
    np.testing.assert_allclose(ours["regressed"], ref["regressed"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours["scaled"], ref["scaled"], rtol=1e-5, atol=3e-6)
    _assert_same_pca(ours["final"], ref["final"], rtol=1e-5, atol=1e-5)


def test_neighbors_on_scanpys_pca(runs):
    """Same exact kNN search (scanpy: scikit-learn's brute force below 8,192 cells).

    Identical distances except for duplicate cells (204 here: no counts in any HVG and the
    same total), where scikit-learn may list another copy before the cell itself and scanpy
    then keeps different copies than scsnake (tests/parity/test_graph_parity.py); the copies
    are interchangeable, so the UMAP connectivities are identical everywhere.
    """
    ref = runs[0]["neighbors"]
    ours = ref.copy()
    scsnake.pp.neighbors(ours, n_neighbors=10, n_pcs=40)
    assert ours.uns["neighbors"] == ref.uns["neighbors"]
    dups = _duplicated_cells(ref.obsm["X_pca"][:, :40])
    assert 0 < dups.sum() < 300
    for key in ("distances", "connectivities"):
        mine, theirs = ours.obsp[key].tocsr(copy=True), ref.obsp[key].tocsr(copy=True)
        assert mine.dtype == theirs.dtype, key
        np.testing.assert_array_equal(mine.indptr, theirs.indptr)
        if key == "distances":  # the rows of the duplicate cells apart
            mine, theirs = mine[~dups], theirs[~dups]
            assert ours.obsp[key].diagonal().max() == 0
        mine.sort_indices()  # scikit-learn lists equally distant cells in any order
        theirs.sort_indices()
        np.testing.assert_array_equal(mine.indices, theirs.indices, err_msg=key)
        np.testing.assert_allclose(mine.data, theirs.data, rtol=1e-6, err_msg=key)


def _before_leiden(run: dict[str, object]) -> ad.AnnData:
    """The tutorial's object as scanpy's leiden saw it (scanpy < 1.12: a pruned graph, below)."""
    adata = run["final"].copy()
    adata.obs["leiden"] = run["leiden"]
    return adata


def test_leiden_on_scanpys_graph(runs):
    """scanpy < 1.12 ran its leiden on connectivities that its umap had pruned in place
    (umap-learn zeroes weights below max/n_epochs of the graph it is given; scanpy passed
    it ``tocoo()`` without a copy, fixed in scverse/scanpy#4031). scsnake's umap leaves
    the graph alone, as scanpy 1.12 does. On the same graph the partition is scanpy's."""
    ref = runs[0]
    ours = _before_leiden(ref)
    del ours.obs["leiden"]
    scsnake.tl.leiden(ours, flavor="igraph", n_iterations=2, directed=False)
    assert ours.obs["leiden"].tolist() == ref["leiden"].tolist()
    # scanpy 1.11's graph holds umap's pruning as explicit zeros (284 of 41,828 weights here), 1.12.5's none
    assert (
        runs[1]["final"].obsp["connectivities"].count_nonzero() == runs[1]["final"].obsp["connectivities"].nnz
    )


def test_leiden_agreement(runs):
    """The two tutorials' partitions agree as well as scanpy's with itself under another
    seed: the graphs differ where the PCA differs by rounding (near-tied neighbours) and,
    with scanpy < 1.12, by umap's pruning (test above)."""
    ref, ours = runs
    graph = _before_leiden(ref)
    seeds = []
    for seed in (1, 2, 3):
        other = scanpy.tl.leiden(
            graph, flavor="igraph", n_iterations=2, directed=False, random_state=seed, copy=True
        )
        seeds.append(adjusted_rand_score(ref["leiden"], other.obs["leiden"]))
    ari = adjusted_rand_score(ref["leiden"], ours["leiden"])
    assert ari >= min(seeds), (ari, seeds)


def test_umap(runs):
    ref, ours = runs
    same_graph = ref["final"].copy()
    scsnake.tl.umap(same_graph)  # scanpy's graph (pruned or not, the same embedding) and seed
    np.testing.assert_allclose(same_graph.obsm["X_umap"], ref["final"].obsm["X_umap"], rtol=1e-5, atol=1e-5)
    assert same_graph.uns["umap"] == ref["final"].uns["umap"]
    high = ref["final"].obsm["X_pca"][:, :40]
    t_ref = trustworthiness(high, ref["final"].obsm["X_umap"], n_neighbors=15)
    t_ours = trustworthiness(high, ours["final"].obsm["X_umap"], n_neighbors=15)
    assert t_ours >= t_ref - 0.01, (t_ours, t_ref)


def _assert_same_ranking(ours: dict, theirs: dict, fields: tuple[str, ...]) -> None:
    assert ours["params"] == theirs["params"]
    assert ours["names"].dtype.names == theirs["names"].dtype.names
    for group in theirs["names"].dtype.names:
        np.testing.assert_array_equal(ours["names"][group], theirs["names"][group], err_msg=group)
        for field in fields:
            np.testing.assert_allclose(
                ours[field][group], theirs[field][group], rtol=1e-5, atol=0, err_msg=f"{group} {field}"
            )


def test_markers_dendrogram_on_scanpys_clusters(runs):
    ref = runs[0]
    adata = _before_leiden(ref)
    reference = ref["t-test"]
    if not scanpy_at_least("1.12.3"):
        # README, Differences from scanpy: scanpy < 1.12.3 squares float32 values in float32
        # for the t-test variances, scsnake in float64; on float64 data they agree
        raw64 = ad.AnnData(adata.raw.X.astype(np.float64), var=adata.raw.var)
        ref64 = adata.copy()
        ref64.raw = raw64
        scanpy.tl.rank_genes_groups(ref64, "leiden", method="t-test")
        reference = ref64.uns["rank_genes_groups"]
    stats = ("scores", "pvals", "pvals_adj", "logfoldchanges")
    scsnake.tl.rank_genes_groups(adata, "leiden", method="t-test")
    _assert_same_ranking(adata.uns["rank_genes_groups"], reference, stats)
    scsnake.tl.rank_genes_groups(adata, "leiden", method="wilcoxon")
    _assert_same_ranking(adata.uns["rank_genes_groups"], ref["wilcoxon"], stats)
    pd.testing.assert_frame_equal(scsnake.get.rank_genes_groups_df(adata, group="0"), ref["df0"])
    scsnake.tl.rank_genes_groups(adata, "leiden", method="logreg", max_iter=1000)
    _assert_same_ranking(adata.uns["rank_genes_groups"], ref["logreg"], ("scores",))
    scsnake.tl.dendrogram(adata, "leiden")
    mine, theirs = adata.uns["dendrogram_leiden"], ref["final"].uns["dendrogram_leiden"]
    assert mine.keys() == theirs.keys()
    for key, value in theirs.items():
        if isinstance(value, np.ndarray) and value.dtype.kind == "f":
            np.testing.assert_allclose(mine[key], value, rtol=1e-10, err_msg=key)
        else:
            assert mine[key] == value, key


def test_renamed_clusters(runs):
    ref, ours = (run["final"] for run in runs)
    n = ref.obs["leiden"].cat.categories.size
    assert ref.obs["leiden"].cat.categories.tolist() == [f"type {i}" for i in range(n)]
    n = ours.obs["leiden"].cat.categories.size
    assert ours.obs["leiden"].cat.categories.tolist() == [f"type {i}" for i in range(n)]
    assert len(ours.uns["leiden_colors"]) == n
