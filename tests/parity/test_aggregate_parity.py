"""Parity of ``get.aggregate`` with scanpy's on real counts (a subsample of ``mouse10k``).

Against scanpy 1.12 the results are equal (values, dtypes, ``obs`` with ``n_obs_aggregated``,
layer order). scanpy 1.11 differs where 1.12 changed it: no ``n_obs_aggregated`` column; under
a mask its mean and variance divide by every cell of the group and its median takes the masked
cells in (1.12 and scsnake leave them out), so those are not compared there; its variance is
``E[x²] - E[x]²`` (1.12 and scsnake: Welford's update) and it sums masked float32 data in
float32, so the rest is compared to 1e-5.
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

import scsnake as ss
from scanpy_reference import SCANPY_1_12

sc = pytest.importorskip("scanpy")

pytestmark = pytest.mark.parity

FUNCS = ["sum", "mean", "count_nonzero", "var", "median"]
FORMATS = {
    "csr": sparse.csr_matrix,
    "csc": sparse.csc_matrix,
    "dense": lambda x: x.toarray(),
}


@pytest.fixture(scope="module")
def counts(mouse10k: ad.AnnData) -> ad.AnnData:
    """1,500 real cells × 300 genes (CSR float32) with sample, group and mask columns."""
    rng = np.random.default_rng(0)
    cells = np.sort(rng.choice(mouse10k.n_obs, 1500, replace=False))
    adata = mouse10k[cells, :300].copy()
    adata.obs["sample"] = pd.Categorical(rng.choice(["s1", "s2", "s3"], adata.n_obs))
    adata.obs["group"] = pd.Categorical(rng.choice(["a", "b", "c", "d"], adata.n_obs, p=[0.4, 0.3, 0.2, 0.1]))
    adata.obs["keep"] = rng.random(adata.n_obs) < 0.7
    adata.var["highly"] = rng.random(adata.n_vars) < 0.5
    adata.var["kind"] = pd.Categorical(rng.choice(["x", "y"], adata.n_vars))
    adata.layers["counts"] = adata.X.copy()
    adata.X = adata.X.copy()
    adata.X.data = np.log1p(adata.X.data)
    # float32 throughout: each dtype costs scanpy 1.12 a compilation of its (uncached) numba kernels
    adata.obsm["X_pca"] = rng.normal(size=(adata.n_obs, 5)).astype(np.float32)
    frame = rng.normal(size=(adata.n_obs, 3)).astype(np.float32)
    adata.obsm["frame"] = pd.DataFrame(frame, index=adata.obs_names, columns=list("pqr"))
    adata.varm["PCs"] = rng.normal(size=(adata.n_vars, 4)).astype(np.float32)
    return adata


def _compare(ours: ad.AnnData, theirs: ad.AnnData, *, masked: bool = False) -> None:
    assert ours.shape == theirs.shape
    assert list(ours.layers) == list(theirs.layers)
    pd.testing.assert_index_equal(ours.obs_names, theirs.obs_names)
    pd.testing.assert_index_equal(ours.var_names, theirs.var_names)
    if SCANPY_1_12:
        pd.testing.assert_frame_equal(ours.obs, theirs.obs)
        pd.testing.assert_frame_equal(ours.var, theirs.var)
    else:  # scanpy 1.11 has no n_obs_aggregated (in var after axis=1)
        groups = "var" if "n_obs_aggregated" in ours.var else "obs"
        mine = getattr(ours, groups).drop(columns="n_obs_aggregated")
        pd.testing.assert_frame_equal(mine, getattr(theirs, groups))
    for key in ours.layers:
        mine, ref = ours.layers[key], theirs.layers[key]
        if SCANPY_1_12:
            assert mine.dtype == ref.dtype, key
            np.testing.assert_allclose(mine, ref, rtol=1e-12, atol=0, err_msg=key)
        elif masked and key in ("mean", "var", "median"):
            continue  # scanpy 1.11 divides by masked cells too and takes their medians
        else:
            # scanpy 1.11 sums masked float32 data in float32
            np.testing.assert_allclose(mine, ref, rtol=1e-5, atol=1e-9, err_msg=key)


# CSC is checked against scsnake's CSR result: each scanpy 1.12 kernel (per layout and dtype)
# costs seconds of numba compilation in every test session.
@pytest.mark.parametrize("fmt", ["csr", "dense"])
def test_every_func_two_columns(counts: ad.AnnData, fmt: str) -> None:
    adata = counts.copy()
    adata.X = FORMATS[fmt](adata.X)
    ours = ss.get.aggregate(adata, ["sample", "group"], FUNCS)
    _compare(ours, sc.get.aggregate(adata, ["sample", "group"], FUNCS))
    for func in FUNCS:  # one at a time: mean without var takes the sums' path
        _compare(ss.get.aggregate(adata, "group", func), sc.get.aggregate(adata, "group", func))


def test_csc_equals_csr(counts: ad.AnnData) -> None:
    """The CSC layout gives the CSR layout's results bit for bit (same order of additions)."""
    csc = counts.copy()
    csc.X = sparse.csc_matrix(csc.X)
    for mask in (None, "keep"):
        by_row = ss.get.aggregate(counts, ["sample", "group"], FUNCS, mask=mask)
        by_column = ss.get.aggregate(csc, ["sample", "group"], FUNCS, mask=mask)
        for key in FUNCS:
            assert by_row.layers[key].dtype == by_column.layers[key].dtype
            np.testing.assert_array_equal(by_row.layers[key], by_column.layers[key])


@pytest.mark.parametrize("fmt", ["csr", "dense"])
@pytest.mark.parametrize("mask", ["keep", "array"])
def test_mask(counts: ad.AnnData, fmt: str, mask: str) -> None:
    adata = counts.copy()
    adata.X = FORMATS[fmt](adata.X)
    given = "keep" if mask == "keep" else adata.obs["keep"].to_numpy()
    ours = ss.get.aggregate(adata, "group", FUNCS, mask=given)
    _compare(ours, sc.get.aggregate(adata, "group", FUNCS, mask=given), masked=True)
    assert ours.obs["n_obs_aggregated"].sum() == adata.obs["keep"].sum()


def test_layer_dof_and_integer_counts(counts: ad.AnnData) -> None:
    adata = counts.copy()
    for dof in (0, 1, 3):
        ours = ss.get.aggregate(adata, "group", ["sum", "var", "mean"], layer="counts", dof=dof)
        _compare(ours, sc.get.aggregate(adata, "group", ["sum", "var", "mean"], layer="counts", dof=dof))
    adata.layers["int"] = adata.layers["counts"].astype(np.int32)  # scanpy 1.12: int64 sums (exact)
    ours = ss.get.aggregate(adata, "sample", "sum", layer="int")
    assert ours.layers["sum"].dtype == np.int64
    np.testing.assert_array_equal(ours.layers["sum"].sum(axis=0), adata.layers["int"].sum(axis=0).A1)


def test_obsm_varm_and_axis_1(counts: ad.AnnData) -> None:
    adata = counts.copy()
    # var (a numba kernel in scanpy 1.12) on C-contiguous data only: each layout is another compilation
    for key, funcs in (("X_pca", ["mean", "var"]), ("frame", ["sum", "mean"])):
        _compare(
            ss.get.aggregate(adata, "group", funcs, obsm=key),
            sc.get.aggregate(adata, "group", funcs, obsm=key),
        )
    _compare(
        ss.get.aggregate(adata, "kind", ["sum", "mean"], varm="PCs"),
        sc.get.aggregate(adata, "kind", ["sum", "mean"], varm="PCs"),
    )
    adata.layers["dense"] = np.asfortranarray(adata.X.toarray())  # its transpose is C-contiguous
    ours = ss.get.aggregate(adata, ["highly", "kind"], FUNCS, axis="var", layer="dense")
    _compare(ours, sc.get.aggregate(adata, ["highly", "kind"], FUNCS, axis=1, layer="dense"))
    assert ours.n_obs == adata.n_obs
    transposed = ss.get.aggregate(adata, ["highly", "kind"], FUNCS, axis=1)  # CSR X: grouped by column
    pd.testing.assert_frame_equal(transposed.var, ours.var)
    for key in FUNCS:  # sparse and dense differ in the order of additions only
        np.testing.assert_allclose(transposed.layers[key], ours.layers[key], rtol=1e-12, atol=1e-12)


@pytest.mark.skipif(not SCANPY_1_12, reason="scanpy 1.11 mislabels cells without a group")
def test_missing_labels_are_left_out(counts: ad.AnnData) -> None:
    adata = counts.copy()
    adata.obs.loc[adata.obs_names[:100], "group"] = np.nan
    _compare(
        ss.get.aggregate(adata, ["group", "sample"], FUNCS),
        sc.get.aggregate(adata, ["group", "sample"], FUNCS),
    )
