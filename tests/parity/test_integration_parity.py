"""harmony_integrate, bbknn and lisi against the reference packages on the same data.

References: harmonypy 0.0.10 (the numpy implementation ``scanpy.external`` wraps; harmonypy
≥ 2 is a C++ rewrite) and bbknn 1.6.0 with ``computation="cKDTree"`` (exact search). Each
test skips when its package is not installed (bbknn needs annoy, which PyPI has only as a
source distribution: it builds only where a C++ compiler is). The BBKNN graph is also
compared with ``reference_bbknn`` below, bbknn's algorithm written out with scipy's
``cKDTree`` and umap-learn's ``fuzzy_simplicial_set``, so it is checked where bbknn is absent.

Data: ``synthetic`` (1,500 cells, 4 types, 3 batches with a strong effect) through our
normalize_total/log1p/hvg/scale/pca (30 PCs), and the real pbmc68k_reduced (700 cells,
50 PCs) with ``phase`` (3 batches, one of 17 cells) or a split at the median ``n_counts``
as batch. harmonypy computes in the dtype of its input (float32 PCs give float32
arithmetic and results off by up to 1e-4, once 0.2), we in float64: it gets the PCs as
float64. Measured: Harmony within 1.03e-12 absolute (values up to 27), LISI within 4.4e-15
relative, BBKNN connectivities bit for bit and distances within 7e-15 relative.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

import scsnake as ss
from scsnake.pp._bbknn import fuzzy_connectivities

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [
    pytest.mark.parity,
    # umap-learn (imported by bbknn and the reference) warns that Tensorflow is absent
    pytest.mark.filterwarnings("ignore:Tensorflow not installed:ImportWarning"),
]

# Measured maxima (ours vs reference; 1 and 2 BLAS threads): Harmony 1.03e-12 absolute on values
# up to 27 (≤ 1.4e-10 relative where |x| > 1e-3), LISI 4.4e-15 relative, BBKNN distances 7e-15
# relative (cKDTree vs our brute-force search) and connectivities bit for bit.
HARMONY_RTOL, HARMONY_ATOL = 1e-10, 1e-11
LISI_RTOL = 1e-13
DIST_RTOL = 1e-13


# --- data -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def batched() -> ad.AnnData:
    """1,500 cells, 4 types, 3 batches (strong effect), 30 PCs; ``lane``: a second, random covariate."""
    adata = ss.datasets.synthetic(
        n_cells=1500, n_genes=1000, n_types=4, n_batches=3, batch_effect=0.7, seed=0
    )
    ss.pp.normalize_total(adata)
    ss.pp.log1p(adata)
    ss.pp.highly_variable_genes(adata, n_top_genes=500, subset=True)
    ss.pp.scale(adata, max_value=10)
    ss.pp.pca(adata, n_comps=30)
    adata.obs["lane"] = pd.Categorical(np.random.default_rng(1).choice(["l1", "l2"], adata.n_obs))
    return adata


@pytest.fixture(scope="module")
def pbmc(shared_data: Path) -> ad.AnnData:
    """pbmc68k_reduced (700 cells, 50 PCs); ``depth``: cells below / above the median n_counts."""
    adata = ss.datasets.pbmc68k_reduced(path=shared_data / "pbmc68k_reduced.zarr.zip")
    counts = adata.obs["n_counts"].to_numpy()
    adata.obs["depth"] = pd.Categorical(np.where(counts > np.median(counts), "deep", "shallow"))
    return adata


# --- Harmony --------------------------------------------------------------------------------

HARMONY_CONFIGS: dict[str, dict[str, Any]] = {
    "defaults": {"key": "batch"},
    "tau_nclust": {"key": "batch", "nclust": 20, "tau": 20.0},
    "seed_sigma_lamb_theta": {"key": "batch", "random_state": 7, "sigma": 0.2, "lamb": 0.5, "theta": 1.0},
    "two_keys": {"key": ["batch", "lane"], "theta": [2.0, 0.5], "lamb": [1.0, 2.0]},
    "block_size": {"key": "batch", "block_size": 0.2},
}


def import_harmonypy() -> Any:
    """harmonypy 0.0.x (the numpy implementation), else skip."""
    harmonypy = pytest.importorskip("harmonypy", minversion="0.0.10")
    if not harmonypy.__version__.startswith("0.0."):
        pytest.skip(f"harmonypy {harmonypy.__version__} is the C++ rewrite; the reference is 0.0.10")
    return harmonypy


def harmonypy_result(adata: ad.AnnData, key: str | list[str], **kwargs: Any) -> np.ndarray:
    """harmonypy's corrected embedding (cells × PCs) for our keywords; theta passed explicitly
    (our default 2 is R harmony's, harmonypy's ``run_harmony`` defaults to 1)."""
    harmonypy = import_harmonypy()
    logging.getLogger("harmonypy").setLevel(logging.WARNING)  # it logs k-means progress to stderr
    kwargs.setdefault("theta", 2.0)
    x = np.asarray(adata.obsm["X_pca"], dtype=np.float64)  # float32 input → float32 arithmetic there
    return harmonypy.run_harmony(x, adata.obs, key, verbose=False, **kwargs).Z_corr.T


def assert_harmony_equal(adata: ad.AnnData, key: str | list[str], **kwargs: Any) -> None:
    theirs = harmonypy_result(adata, key, **kwargs)
    adata = adata.copy()
    ss.pp.harmony_integrate(adata, key, **kwargs)
    ours = adata.obsm["X_pca_harmony"]
    assert ours.shape == theirs.shape and ours.dtype == np.float64
    np.testing.assert_allclose(ours, theirs, rtol=HARMONY_RTOL, atol=HARMONY_ATOL)


@pytest.mark.slow
@pytest.mark.parametrize("config", list(HARMONY_CONFIGS))
def test_harmony_equals_harmonypy(batched: ad.AnnData, config: str) -> None:
    kwargs = dict(HARMONY_CONFIGS[config])
    assert_harmony_equal(batched, kwargs.pop("key"), **kwargs)


@pytest.mark.slow
@pytest.mark.parametrize(("key", "kwargs"), [("phase", {}), ("depth", {"tau": 10.0, "theta": 1.0})])
def test_harmony_equals_harmonypy_on_pbmc68k(pbmc: ad.AnnData, key: str, kwargs: dict[str, Any]) -> None:
    assert_harmony_equal(pbmc, key, **kwargs)


def assert_lisi_equal(adata: ad.AnnData, rep: str, labels: list[str]) -> None:
    x = np.asarray(adata.obsm[rep], dtype=np.float64)
    theirs = import_harmonypy().compute_lisi(x, adata.obs, labels)
    view = ad.AnnData(obs=adata.obs[labels].copy(), obsm={"x": x})
    for i, label in enumerate(labels):
        ours = ss.metrics.lisi(view, label, use_rep="x")
        np.testing.assert_allclose(ours, theirs[:, i], rtol=LISI_RTOL, err_msg=f"{rep}, {label}")


@pytest.mark.slow
def test_lisi_equals_harmonypy_compute_lisi(batched: ad.AnnData) -> None:
    adata = batched.copy()
    ss.pp.harmony_integrate(adata, "batch", nclust=20)
    for rep in ("X_pca", "X_pca_harmony"):  # batches apart (iLISI ≈ 1) and mixed (≈ 2.6)
        assert_lisi_equal(adata, rep, ["batch", "truth"])


def test_lisi_equals_harmonypy_compute_lisi_on_pbmc68k(pbmc: ad.AnnData) -> None:
    assert_lisi_equal(pbmc, "X_pca", ["phase", "bulk_labels"])


# --- BBKNN ----------------------------------------------------------------------------------

BBKNN_CONFIGS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "trim": {"trim": 30},
    "set_op_mix_ratio": {"set_op_mix_ratio": 0.5},
    "local_connectivity": {"local_connectivity": 2.0},
    "n_pcs_nwb": {"n_pcs": 10, "neighbors_within_batch": 5},
}


def reference_bbknn(
    x: np.ndarray,
    batch: np.ndarray,
    *,
    neighbors_within_batch: int = 3,
    n_pcs: int | None = None,
    trim: int | None = None,
    set_op_mix_ratio: float = 1.0,
    local_connectivity: float = 1.0,
) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    """bbknn 1.6.0's ``matrix.bbknn`` with ``computation="cKDTree"``: (distances, connectivities)."""
    from scipy.spatial import cKDTree
    from umap.umap_ import fuzzy_simplicial_set

    x = np.asarray(x[:, :n_pcs], dtype=np.float64)
    n_obs, nwb = x.shape[0], neighbors_within_batch
    batches = np.unique(batch)
    k = nwb * len(batches)
    dists, indices = np.empty((n_obs, k)), np.empty((n_obs, k), dtype=np.int64)
    for b, name in enumerate(batches):  # each cell's nwb nearest cells of every batch
        members = np.flatnonzero(batch == name)
        d, i = cKDTree(x[members]).query(x, k=nwb)
        dists[:, b * nwb : (b + 1) * nwb] = d.reshape(n_obs, nwb)
        indices[:, b * nwb : (b + 1) * nwb] = members[i.reshape(n_obs, nwb)]
    order = np.argsort(dists, axis=1, kind="stable")
    dists, indices = np.take_along_axis(dists, order, axis=1), np.take_along_axis(indices, order, axis=1)
    conns = fuzzy_simplicial_set(
        sparse.coo_matrix((n_obs, 1)),
        k,
        None,
        None,
        knn_indices=indices,
        knn_dists=dists,
        set_op_mix_ratio=set_op_mix_ratio,
        local_connectivity=local_connectivity,
    )[0].tocsr()
    rows = np.repeat(np.arange(n_obs), k)
    values = np.where(indices.ravel() == rows, 0.0, dists.ravel())  # no self-distances
    distances = sparse.csr_matrix((values, (rows, indices.ravel())), shape=(n_obs, n_obs))
    distances.eliminate_zeros()
    trim = 10 * k if trim is None else trim
    if trim > 0:  # an edge stays if it is among the `trim` strongest of both its cells
        thresholds = np.zeros(n_obs)
        for i in range(n_obs):
            row = conns.data[conns.indptr[i] : conns.indptr[i + 1]]
            if row.size > trim:
                thresholds[i] = np.sort(row)[-trim]
        coo = conns.tocoo()
        keep = (coo.data >= thresholds[coo.row]) & (coo.data >= thresholds[coo.col])
        conns = sparse.csr_matrix((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=conns.shape)
    return distances, conns


def assert_same_graph(
    ours: tuple[sparse.spmatrix, sparse.spmatrix], theirs: tuple[sparse.spmatrix, sparse.spmatrix]
) -> None:
    """Same edges; connectivities bit for bit (float32), distances within DIST_RTOL."""
    for name, a, b in zip(("distances", "connectivities"), ours, theirs, strict=True):
        a, b = sparse.csr_matrix(a), sparse.csr_matrix(b)
        a.sort_indices()
        b.sort_indices()
        np.testing.assert_array_equal(a.indptr, b.indptr, err_msg=f"{name}: edges per cell")
        np.testing.assert_array_equal(a.indices, b.indices, err_msg=f"{name}: edges")
        if name == "connectivities":
            assert a.dtype == b.dtype == np.float32
            np.testing.assert_array_equal(a.data, b.data, err_msg=name)
        else:
            np.testing.assert_allclose(a.data, b.data, rtol=DIST_RTOL, err_msg=name)


def our_graph(adata: ad.AnnData, batch_key: str, **kwargs: Any) -> tuple[sparse.spmatrix, sparse.spmatrix]:
    out = ss.pp.bbknn(adata, batch_key, copy=True, **kwargs)
    assert out is not None
    return out.obsp["distances"], out.obsp["connectivities"]


def bbknn_graph(adata: ad.AnnData, batch_key: str, **kwargs: Any) -> tuple[sparse.spmatrix, sparse.spmatrix]:
    bbknn = pytest.importorskip("bbknn", minversion="1.6.0")
    out = bbknn.bbknn(adata, batch_key, computation="cKDTree", copy=True, **kwargs)
    return out.obsp["distances"], out.obsp["connectivities"]


@pytest.mark.slow
@pytest.mark.parametrize("config", list(BBKNN_CONFIGS))
def test_bbknn_equals_bbknn_package(batched: ad.AnnData, config: str) -> None:
    kwargs = BBKNN_CONFIGS[config]
    theirs = bbknn_graph(batched, "batch", **kwargs)
    ours = our_graph(batched, "batch", **kwargs)
    assert_same_graph(ours, theirs)


@pytest.mark.slow
@pytest.mark.parametrize("config", list(BBKNN_CONFIGS))
def test_bbknn_equals_reference(batched: ad.AnnData, config: str) -> None:
    kwargs = BBKNN_CONFIGS[config]
    theirs = reference_bbknn(batched.obsm["X_pca"], batched.obs["batch"].to_numpy(), **kwargs)
    ours = our_graph(batched, "batch", **kwargs)
    assert_same_graph(ours, theirs)


@pytest.mark.parametrize("key", ["phase", "depth"])
def test_bbknn_equals_bbknn_package_on_pbmc68k(pbmc: ad.AnnData, key: str) -> None:
    theirs = bbknn_graph(pbmc, key, trim=20)
    assert_same_graph(our_graph(pbmc, key, trim=20), theirs)


@pytest.mark.parametrize("key", ["phase", "depth"])
def test_bbknn_equals_reference_on_pbmc68k(pbmc: ad.AnnData, key: str) -> None:
    theirs = reference_bbknn(pbmc.obsm["X_pca"], pbmc.obs[key].to_numpy(), trim=20)
    assert_same_graph(our_graph(pbmc, key, trim=20), theirs)


@pytest.mark.slow
def test_fuzzy_connectivities_equal_umap_learn() -> None:
    umap_ = pytest.importorskip("umap.umap_")
    rng = np.random.default_rng(2)
    x = rng.normal(size=(80, 4))
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    idx = np.argsort(d, axis=1, kind="stable")[:, :8]
    dist = np.take_along_axis(d, idx, axis=1).astype(np.float32)
    for mix, local in ((1.0, 1.0), (0.3, 1.0), (1.0, 2.0), (0.6, 1.5)):
        ours = fuzzy_connectivities(idx, dist, n_obs=80, set_op_mix_ratio=mix, local_connectivity=local)
        theirs = umap_.fuzzy_simplicial_set(
            sparse.coo_matrix(([], ([], [])), shape=(80, 1)),
            8,
            None,
            None,
            knn_indices=idx,
            knn_dists=dist,
            set_op_mix_ratio=mix,
            local_connectivity=local,
        )[0]
        np.testing.assert_allclose(ours.toarray(), theirs.toarray(), rtol=1e-6, atol=1e-7)
