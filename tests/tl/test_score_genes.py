"""score_genes and score_genes_cell_cycle: control genes by hand, seeded sampling, layouts, errors."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from factories import make_counts
from scsnake import pp, tl
from scsnake.errors import DataWarning, InputDataError, MissingKeyError, ParamError


def ladder(fmt: str = "dense", dtype: type = np.float32) -> ad.AnnData:
    """8 cells × 10 genes; gene j's mean grows with j, so its rank is j + 1."""
    rng = np.random.default_rng(0)
    x = (np.arange(1, 11)[None, :] * rng.uniform(0.5, 1.5, (8, 1)) + rng.integers(0, 2, (8, 10))).astype(
        dtype
    )
    adata = ad.AnnData(x, var=pd.DataFrame(index=[f"g{j}" for j in range(10)]))
    adata.obs_names = [f"c{i}" for i in range(8)]
    if fmt != "dense":
        adata.X = getattr(sparse, f"{fmt}_matrix")(x)
    return adata


def dense(adata: ad.AnnData) -> np.ndarray:
    return adata.X.toarray() if sparse.issparse(adata.X) else np.asarray(adata.X)


@pytest.mark.parametrize("fmt", ["dense", "csr", "csc"])
@pytest.mark.parametrize("ctrl_as_ref", [True, False])
def test_by_hand(fmt, ctrl_as_ref):
    adata = ladder(fmt)
    # 10 genes, 3 bins: 5 genes per bin, cut = rank // 5: ranks 1-4 (g0-g3) share bin 0
    tl.score_genes(adata, ["g1"], n_bins=3, ctrl_as_ref=ctrl_as_ref)
    x = dense(adata).astype(np.float64)
    want = x[:, 1] - x[:, [0, 2, 3]].mean(axis=1)
    np.testing.assert_allclose(adata.obs["score"], want, rtol=1e-12)
    assert adata.obs["score"].dtype == np.float64


@pytest.mark.parametrize("seed", [0, 7])
def test_sampling_uses_the_legacy_generator(seed):
    adata = ladder()
    tl.score_genes(adata, ["g1"], n_bins=3, ctrl_size=2, random_state=seed, score_name="s")
    # bin 0 holds g0..g3 in gene order; scanpy seeds numpy's legacy generator and samples 2
    drawn = np.arange(4)[np.random.RandomState(seed).choice(4, size=2, replace=False)]
    control = sorted(set(drawn) - {1})
    x = dense(adata).astype(np.float64)
    np.testing.assert_allclose(adata.obs["s"], x[:, 1] - x[:, control].mean(axis=1), rtol=1e-12)


def test_layouts_and_dtypes_agree():
    scores = []
    for fmt in ("dense", "csr", "csc"):
        for dtype in (np.int64, np.float32):
            adata = make_counts(200, 80, fmt=fmt, dtype=dtype, seed=3)
            tl.score_genes(adata, ["Gene10", "Gene11", "Gene30", "Gene55"], ctrl_size=10, n_bins=8)
            scores.append(adata.obs["score"].to_numpy())
    for s in scores[1:]:
        np.testing.assert_allclose(s, scores[0], rtol=1e-12)


def test_seed_changes_controls_and_copy():
    adata = make_counts(100, 200, seed=1)
    pp.log1p(adata)
    genes = ["Gene10", "Gene11", "Gene30"]
    first = tl.score_genes(adata, genes, ctrl_size=5, random_state=1, copy=True)
    again = tl.score_genes(adata, genes, ctrl_size=5, random_state=1, copy=True)
    other = tl.score_genes(adata, genes, ctrl_size=5, random_state=2, copy=True)
    assert "score" not in adata.obs
    np.testing.assert_array_equal(first.obs["score"], again.obs["score"])
    assert not np.allclose(first.obs["score"], other.obs["score"])
    unseeded = tl.score_genes(adata, genes, ctrl_size=5, random_state=None, copy=True)
    zero = tl.score_genes(adata, genes, ctrl_size=5, random_state=0, copy=True)
    np.testing.assert_array_equal(unseeded.obs["score"], zero.obs["score"])  # None means 0


def test_nan_values_are_skipped():
    adata = ladder()
    adata.X[0, 2] = np.nan
    tl.score_genes(adata, ["g1"], n_bins=3)
    x = dense(adata).astype(np.float64)
    np.testing.assert_allclose(adata.obs["score"], x[:, 1] - np.nanmean(x[:, [0, 2, 3]], axis=1), rtol=1e-12)


def test_gene_pool_raw_and_layer():
    adata = ladder()
    tl.score_genes(
        adata, ["g5"], n_bins=3, gene_pool=["g3", "g4", "g5", "g6", "g9", "nope"], score_name="pool"
    )
    # pool of 5 genes: 2 per bin; ranks g3 1, g4 2, g5 3, g6 4, g9 5 → g5 shares bin 1 with g4
    x = dense(adata).astype(np.float64)
    np.testing.assert_allclose(adata.obs["pool"], x[:, 5] - x[:, 4], rtol=1e-12)
    adata.layers["twice"] = adata.X * 2
    tl.score_genes(adata, ["g1"], n_bins=3, layer="twice", score_name="layer")
    tl.score_genes(adata, ["g1"], n_bins=3, score_name="x")
    np.testing.assert_allclose(adata.obs["layer"], 2 * adata.obs["x"], rtol=1e-6)
    adata.raw = adata.copy()
    adata.X = np.zeros_like(adata.X)
    tl.score_genes(adata, ["g1"], n_bins=3, score_name="raw")  # raw is used by default
    np.testing.assert_allclose(adata.obs["raw"], adata.obs["x"], rtol=1e-12)


def test_missing_genes_warn():
    adata = ladder()
    with pytest.warns(DataWarning, match=r"1 of 2 genes are not in var_names.*'nope'"):
        tl.score_genes(adata, ["g1", "nope"], n_bins=3)


def test_errors():
    adata = ladder()
    with pytest.raises(InputDataError, match="none of the 2 genes of gene_list"), pytest.warns(DataWarning):
        tl.score_genes(adata, ["x", "y"])
    with pytest.raises(InputDataError, match="none of the genes of gene_pool"):
        tl.score_genes(adata, ["g1"], gene_pool=["x"])
    with pytest.raises(InputDataError, match=r"not in gene_pool.*'g1'"):
        tl.score_genes(adata, ["g1"], gene_pool=["g2", "g3"])
    with pytest.raises(InputDataError, match=r"no control genes.*ctrl_as_ref=False"):
        tl.score_genes(adata, ["g9"], n_bins=3)  # g9 is alone in the top bin
    with pytest.raises(ParamError, match="ctrl_size"):
        tl.score_genes(adata, ["g1"], ctrl_size=0)
    with pytest.raises(ParamError, match="n_bins"):
        tl.score_genes(adata, ["g1"], n_bins=1)
    with pytest.raises(ParamError, match="random_state"):
        tl.score_genes(adata, ["g1"], random_state=-1)
    with pytest.raises(MissingKeyError, match=r"no .raw"):
        tl.score_genes(adata, ["g1"], use_raw=True)
    with pytest.raises(MissingKeyError, match="layer 'counts' not found"):
        tl.score_genes(adata, ["g1"], layer="counts")
    with pytest.warns(UserWarning, match="not unique"):  # anndata's own warning
        twins = ad.AnnData(np.ones((3, 2), dtype=np.float32), var=pd.DataFrame(index=["a", "a"]))
    with pytest.raises(InputDataError, match="unique var_names"):
        tl.score_genes(twins, ["a"])


# ----------------------------------------------------------------------------- cell cycle


def test_cell_cycle_phases():
    adata = make_counts(120, 200, seed=2)
    pp.log1p(adata)
    s_genes, g2m_genes = ["Gene10", "Gene11", "Gene12"], ["Gene20", "Gene21", "Gene22", "Gene23"]
    tl.score_genes_cell_cycle(adata, s_genes=s_genes, g2m_genes=g2m_genes, n_bins=10)
    s = tl.score_genes(adata, s_genes, ctrl_size=3, n_bins=10, copy=True).obs["score"]
    g2m = tl.score_genes(adata, g2m_genes, ctrl_size=3, n_bins=10, copy=True).obs["score"]
    np.testing.assert_array_equal(adata.obs["S_score"], s)
    np.testing.assert_array_equal(adata.obs["G2M_score"], g2m)
    want = np.where((s < 0) & (g2m < 0), "G1", np.where(g2m > s, "G2M", "S"))
    assert adata.obs["phase"].tolist() == want.tolist()
    assert set(want) == {"G1", "G2M", "S"}


def test_cell_cycle_errors():
    adata = ladder()
    with pytest.raises(ParamError, match="sets ctrl_size itself"):
        tl.score_genes_cell_cycle(adata, s_genes=["g1"], g2m_genes=["g2"], ctrl_size=3)
    with pytest.raises(ParamError, match="s_genes"):
        tl.score_genes_cell_cycle(adata, s_genes=[], g2m_genes=["g2"])
    with pytest.raises(ParamError, match="n_bins"):
        tl.score_genes_cell_cycle(adata, s_genes=["g1"], g2m_genes=["g2"], n_bins=0)
    counts = make_counts(seed=4)
    copy = tl.score_genes_cell_cycle(
        counts, s_genes=["Gene10", "Gene11"], g2m_genes=["Gene20", "Gene30"], copy=True
    )
    assert "phase" in copy.obs and "phase" not in counts.obs
