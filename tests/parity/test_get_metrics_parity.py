"""Parity with scanpy for ``get.obs_df`` / ``get.var_df`` and ``metrics`` (confusion matrix,
Geary's C, Moran's I, modularity), on seeded ``make_counts`` data and 1,000 real cells."""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

import scsnake as ss
from factories import make_counts
from scanpy_reference import scanpy_at_least

sc = pytest.importorskip("scanpy")

pytestmark = pytest.mark.parity


@pytest.fixture(scope="module")
def graph_adata(mouse10k: ad.AnnData) -> ad.AnnData:
    """1,000 real cells, log-normalised, with a kNN graph and arbitrary labels (both libraries read them)."""
    adata = mouse10k[:1000, :200].copy()
    ss.pp.filter_cells(adata, min_counts=1)
    ss.pp.normalize_total(adata)
    ss.pp.log1p(adata)
    ss.pp.pca(adata, n_comps=10)
    ss.pp.neighbors(adata, n_neighbors=10)
    adata.obs["cluster"] = pd.Categorical(np.arange(adata.n_obs) % 7).astype(str)
    adata.obs["cluster"] = adata.obs["cluster"].astype("category")
    return adata


def test_obs_df_var_df_equal_scanpy() -> None:
    adata = make_counts()
    adata.var["symbol"] = [f"S{i}" for i in range(adata.n_vars)]
    adata.layers["counts"] = adata.X.copy() * 2
    adata.obsm["X_pca"] = np.arange(adata.n_obs * 3, dtype=float).reshape(-1, 3)
    adata.varm["PCs"] = np.ones((adata.n_vars, 2))
    adata.raw = adata
    keys = ["Gene5", "group", "MT-0"]
    obsm = [("X_pca", 0), ("X_pca", 2)]
    pd.testing.assert_frame_equal(ss.get.obs_df(adata, keys, obsm), sc.get.obs_df(adata, keys, obsm))
    for kwargs in ({"layer": "counts"}, {"use_raw": True}):
        pd.testing.assert_frame_equal(
            ss.get.obs_df(adata, keys, **kwargs), sc.get.obs_df(adata, keys, **kwargs)
        )
    pd.testing.assert_frame_equal(
        ss.get.obs_df(adata, ["S3", "group"], gene_symbols="symbol"),
        sc.get.obs_df(adata, ["S3", "group"], gene_symbols="symbol"),
    )
    cells = ["cell3", "cell1"]
    pd.testing.assert_frame_equal(
        ss.get.var_df(adata, cells, [("PCs", 1)]), sc.get.var_df(adata, cells, [("PCs", 1)])
    )
    with pytest.raises(KeyError, match="nope"):
        ss.get.obs_df(adata, ["nope"])


@pytest.mark.parametrize("normalize", [True, False])
def test_confusion_matrix_equal_scanpy(normalize: bool) -> None:
    rng = np.random.default_rng(0)
    orig = pd.Series(rng.choice(["c10", "c2", "c1"], 50), name="orig")
    new = pd.Categorical(rng.choice(["b", "a", "c"], 50), categories=["c", "b", "a"])
    obs = pd.DataFrame({"orig": orig, "new": new})
    # scanpy 1.11 divides with `where=` but no `out=` (numpy warns); the rows it leaves
    # uninitialised are those of labels only in `new`, which it then drops.
    warnings.filterwarnings("ignore", "'where' used without 'out'", UserWarning)
    pd.testing.assert_frame_equal(
        ss.metrics.confusion_matrix("orig", "new", obs, normalize=normalize),
        sc.metrics.confusion_matrix("orig", "new", obs, normalize=normalize),
    )
    pd.testing.assert_frame_equal(
        ss.metrics.confusion_matrix(orig.to_numpy(), new, normalize=normalize),
        sc.metrics.confusion_matrix(orig.to_numpy(), new, normalize=normalize),
    )


@pytest.mark.slow  # scanpy 1.12 compiles its numba kernels on each run (5-20 s per input type)
@pytest.mark.parametrize("name", ["gearys_c", "morans_i"])
def test_autocorrelation_equal_scanpy(graph_adata: ad.AnnData, name: str) -> None:
    ours, theirs = getattr(ss.metrics, name), getattr(sc.metrics, name)
    adata = graph_adata
    graph = adata.obsp["connectivities"]
    genes = np.asarray(adata.X[:, :30].toarray(), dtype=np.float64).T  # some constant: nan
    with warnings.catch_warnings():  # constant genes: nan with a warning in both
        warnings.simplefilter("ignore")
        expected = theirs(graph, genes)  # one scanpy call: one kernel to compile
        assert np.isnan(expected).any()
        np.testing.assert_allclose(ours(graph, genes), expected, rtol=1e-9, equal_nan=True)
        np.testing.assert_allclose(ours(graph, sparse.csr_matrix(genes)), expected, rtol=1e-9, equal_nan=True)
        np.testing.assert_allclose(ours(adata)[:30], expected, rtol=1e-9, equal_nan=True)
    pcs = ours(adata, obsm="X_pca")  # obsm and a single vector go through the same kernel
    assert pcs.shape == (10,)
    assert ours(graph, adata.obsm["X_pca"][:, 3]) == pytest.approx(pcs[3], rel=1e-12)


@pytest.mark.skipif(not scanpy_at_least("1.12"), reason="metrics.modularity is new in scanpy 1.12")
def test_modularity_equal_scanpy(graph_adata: ad.AnnData) -> None:
    adata = graph_adata
    expected = sc.metrics.modularity(adata, "cluster")
    assert ss.metrics.modularity(adata, "cluster") == pytest.approx(expected, rel=1e-10)
    graph = adata.obsp["distances"]
    labels = adata.obs["cluster"].to_numpy()
    for directed in (True, False):
        assert ss.metrics.modularity(graph, labels, is_directed=directed) == pytest.approx(
            sc.metrics.modularity(graph, labels, is_directed=directed), rel=1e-10
        )
