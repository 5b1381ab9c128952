"""scaled_pca: the results of scale + pca without the dense scaled matrix."""

from __future__ import annotations

import tracemalloc

import anndata as ad
import numpy as np
import pytest
from scipy import sparse

import scsnake as ss
from factories import make_counts
from scsnake.errors import InputDataError, ParamError


def _lognorm(n_cells: int = 300, n_genes: int = 40, *, fmt: str = "csr", seed: int = 0) -> ad.AnnData:
    adata = make_counts(n_cells, n_genes, seed=seed, fmt=fmt)
    ss.pp.normalize_total(adata, target_sum=1e4)
    ss.pp.log1p(adata)
    return adata


def _reference(adata: ad.AnnData, n_comps: int, max_value: float | None, **kwargs) -> ad.AnnData:
    """scale on a copy, then pca: what scaled_pca must equal."""
    ref = adata.copy()
    ss.pp.scale(ref, max_value=max_value)
    ss.pp.pca(ref, n_comps=n_comps, **kwargs)
    return ref


def _assert_same(ref: ad.AnnData, got: ad.AnnData) -> None:
    np.testing.assert_allclose(got.obsm["X_pca"], ref.obsm["X_pca"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got.varm["PCs"], ref.varm["PCs"], rtol=1e-10, atol=1e-12)
    for key in ("variance", "variance_ratio"):
        np.testing.assert_allclose(got.uns["pca"][key], ref.uns["pca"][key], rtol=1e-10)
    assert got.uns["pca"]["params"] == ref.uns["pca"]["params"]


@pytest.mark.parametrize("solver", [None, "arpack", "covariance_eigh"])
@pytest.mark.parametrize("max_value", [None, 10.0, 1.5])
def test_equals_scale_then_pca(solver: str | None, max_value: float | None) -> None:
    adata = _lognorm()
    before = adata.X.copy()
    ref = _reference(adata, 8, max_value, svd_solver=solver)
    ss.pp.scaled_pca(adata, n_comps=8, max_value=max_value, svd_solver=solver)
    _assert_same(ref, adata)
    assert sparse.issparse(adata.X)
    assert (before != adata.X).nnz == 0  # the data are not scaled in place


def test_many_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    from scsnake.pp import _pca_solvers

    monkeypatch.setattr(_pca_solvers, "_BLOCK_VALUES", 64 * 40)  # 256-row blocks: several of them
    adata = _lognorm(n_cells=1000)
    ref = _reference(adata, 5, 4.0)
    ss.pp.scaled_pca(adata, n_comps=5, max_value=4.0)
    _assert_same(ref, adata)


@pytest.mark.parametrize("fmt", ["dense", "csc"])
def test_other_layouts_take_the_literal_route(fmt: str) -> None:
    adata = _lognorm(fmt=fmt)
    ref = _reference(adata, 6, 10.0)
    ss.pp.scaled_pca(adata, n_comps=6, max_value=10.0)
    _assert_same(ref, adata)


def test_mask_var_layer_and_key_added() -> None:
    adata = _lognorm()
    mask = np.zeros(adata.n_vars, dtype=bool)
    mask[::2] = True
    adata.var["highly_variable"] = mask
    adata.layers["lognorm"] = adata.X.copy()
    adata.X = sparse.csr_matrix(adata.shape, dtype=np.float32)
    ref = adata[:, mask].copy()
    ref.X = ref.layers["lognorm"]
    ref = _reference(ref, 4, 10.0, mask_var=None)
    ss.pp.scaled_pca(adata, n_comps=4, max_value=10.0, layer="lognorm", key_added="scaled")
    np.testing.assert_allclose(adata.obsm["scaled"], ref.obsm["X_pca"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(adata.varm["scaled"][mask], ref.varm["PCs"], atol=1e-12)
    assert not adata.varm["scaled"][~mask].any()
    assert adata.uns["scaled"]["params"]["mask_var"] == "highly_variable"
    assert adata.uns["scaled"]["params"]["layer"] == "lognorm"


def test_no_dense_scaled_matrix(monkeypatch: pytest.MonkeyPatch) -> None:
    """Peak allocation stays far below the cells × genes float64 array scale + pca would make."""
    from scsnake.pp import _pca_solvers

    monkeypatch.setattr(_pca_solvers, "_BLOCK_VALUES", 1024 * 300)  # blocks of 1,024 of the 20,000 cells
    adata = _lognorm(n_cells=20000, n_genes=300)
    dense_bytes = adata.n_obs * adata.n_vars * 8
    ss.pp.scaled_pca(
        adata, n_comps=5, max_value=10.0
    )  # compile first: numba's allocations are not the data's
    tracemalloc.start()
    ss.pp.scaled_pca(adata, n_comps=5, max_value=10.0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 0.25 * dense_bytes, (peak, dense_bytes)


def test_bad_input() -> None:
    adata = _lognorm()
    adata.X.data[3] = np.nan
    with pytest.raises(InputDataError, match="X"):
        ss.pp.scaled_pca(adata, n_comps=3)
    with pytest.raises(ParamError, match="n_comps=40 is too large"):
        ss.pp.scaled_pca(_lognorm(), n_comps=40)
    with pytest.raises(ParamError, match="max_value"):
        ss.pp.scaled_pca(_lognorm(), n_comps=3, max_value=-1)
    with pytest.raises(ParamError, match="svd_solver"):
        ss.pp.scaled_pca(_lognorm(), n_comps=3, svd_solver="randomized")


@pytest.mark.filterwarnings("ignore:zero-centering a sparse:UserWarning")
def test_agrees_with_scanpy() -> None:
    sc = pytest.importorskip("scanpy")
    adata = _lognorm(n_cells=400, n_genes=60)
    ref = adata.copy()
    sc.pp.scale(ref, max_value=10)
    sc.pp.pca(ref, n_comps=10, svd_solver="arpack")
    ss.pp.scaled_pca(adata, n_comps=10, max_value=10)
    np.testing.assert_allclose(
        adata.uns["pca"]["variance_ratio"], ref.uns["pca"]["variance_ratio"], rtol=1e-5
    )
    np.testing.assert_allclose(np.abs(adata.varm["PCs"]), np.abs(ref.varm["PCs"]), atol=1e-5)
    np.testing.assert_allclose(adata.varm["PCs"], ref.varm["PCs"], atol=1e-5)  # same sign rule
