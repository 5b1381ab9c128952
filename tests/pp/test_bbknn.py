"""bbknn: balanced neighbours per batch, exact search, connectivities, trimming, storage like
neighbors (umap / leiden run on it), better mixing on strong batch effects, bad input."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

import scsnake as ss
from scsnake.errors import InputDataError, MissingKeyError, ParamError
from scsnake.pp._bbknn import fuzzy_connectivities, trim_connectivities


@pytest.fixture(scope="module")
def batched() -> ad.AnnData:
    """1,500 cells, 4 types, 3 batches with a strong effect (uncorrected iLISI ≈ 1.01); 30 PCs."""
    adata = ss.datasets.synthetic(
        n_cells=1500, n_genes=1000, n_types=4, n_batches=3, batch_effect=0.7, seed=0
    )
    ss.pp.normalize_total(adata)
    ss.pp.log1p(adata)
    ss.pp.highly_variable_genes(adata, n_top_genes=500, subset=True)
    ss.pp.scale(adata, max_value=10)
    ss.pp.pca(adata, n_comps=30)
    return adata


def tiny(n: int = 90, n_batches: int = 3, seed: int = 0, dims: int = 5) -> ad.AnnData:
    """Random cells in ``n_batches`` unequal, shifted batches (float64 PCs)."""
    rng = np.random.default_rng(seed)
    batch = rng.choice(
        [f"b{i}" for i in range(n_batches)],
        size=n,
        p=np.linspace(1, 2, n_batches) / np.linspace(1, 2, n_batches).sum(),
    )
    shift = pd.Categorical(batch).codes[:, None] * 2.0
    adata = ad.AnnData(obs=pd.DataFrame({"batch": pd.Categorical(batch)}, index=[f"c{i}" for i in range(n)]))
    adata.obsm["X_pca"] = rng.normal(size=(n, dims)) + shift
    return adata


def neighbour_lists(adata: ad.AnnData) -> list[np.ndarray]:
    d = adata.obsp["distances"]
    return [d.indices[d.indptr[i] : d.indptr[i + 1]] for i in range(adata.n_obs)]


@pytest.mark.parametrize("nwb", [1, 3, 5])
def test_every_cell_has_nwb_neighbours_from_each_batch(nwb: int) -> None:
    adata = tiny()
    ss.pp.bbknn(adata, neighbors_within_batch=nwb)
    codes = adata.obs["batch"].cat.codes.to_numpy()
    n_batches = 3
    assert adata.obsp["distances"].getnnz(axis=1).tolist() == [n_batches * nwb - 1] * adata.n_obs
    for i, others in enumerate(neighbour_lists(adata)):
        assert i not in others
        with_self = np.append(others, i)
        assert np.bincount(codes[with_self], minlength=n_batches).tolist() == [nwb] * n_batches


def test_neighbours_are_the_nearest_of_each_batch() -> None:
    adata = tiny()
    ss.pp.bbknn(adata, neighbors_within_batch=3, trim=0)
    x, codes = adata.obsm["X_pca"], adata.obs["batch"].cat.codes.to_numpy()
    dist = adata.obsp["distances"]
    full = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    for i in range(adata.n_obs):
        others = dist.indices[dist.indptr[i] : dist.indptr[i + 1]]
        np.testing.assert_allclose(
            dist.data[dist.indptr[i] : dist.indptr[i + 1]], full[i, others], rtol=1e-12
        )
        for b in range(3):
            members = np.flatnonzero(codes == b)
            nearest = set(members[np.argsort(full[i, members], kind="stable")[:3]].tolist())
            found = {j for j in others if codes[j] == b} | ({i} if codes[i] == b else set())
            assert found == nearest


def test_stored_like_neighbors() -> None:
    adata = tiny()
    ss.pp.bbknn(adata, neighbors_within_batch=2)
    assert adata.uns["neighbors"] == {
        "connectivities_key": "connectivities",
        "distances_key": "distances",
        "params": {
            "n_neighbors": 6,
            "method": "umap",
            "metric": "euclidean",
            "use_rep": "X_pca",
            "bbknn": {"batch_key": "batch", "neighbors_within_batch": 2, "trim": 60},
        },
    }
    conn = adata.obsp["connectivities"]
    assert sparse.isspmatrix_csr(conn) and sparse.isspmatrix_csr(adata.obsp["distances"])
    assert conn.dtype == np.float32
    assert abs(conn - conn.T).max() == 0
    assert conn.diagonal().max() == 0
    assert conn.data.min() > 0 and conn.data.max() <= 1


def test_key_added_n_pcs_and_copy() -> None:
    adata = tiny()
    out = ss.pp.bbknn(adata, n_pcs=3, key_added="bb", copy=True)
    assert out is not None and "bb" not in adata.uns and not adata.obsp
    assert set(out.obsp) == {"bb_distances", "bb_connectivities"}
    entry = out.uns["bb"]
    assert entry["connectivities_key"] == "bb_connectivities" and entry["distances_key"] == "bb_distances"
    assert entry["params"]["n_pcs"] == 3
    reference = tiny()
    reference.obsm["X_pca"] = reference.obsm["X_pca"][:, :3].copy()
    ss.pp.bbknn(reference)
    np.testing.assert_array_equal(
        out.obsp["bb_connectivities"].toarray(), reference.obsp["connectivities"].toarray()
    )


def test_one_batch_equals_neighbors() -> None:
    adata = tiny(n_batches=1)
    ss.pp.bbknn(adata, neighbors_within_batch=10, trim=0, key_added="bb")
    ss.pp.neighbors(adata, n_neighbors=10, use_rep="X_pca")
    for kind in ("distances", "connectivities"):
        ours, theirs = adata.obsp[f"bb_{kind}"], adata.obsp[kind]
        np.testing.assert_array_equal(ours.toarray(), theirs.toarray())


def test_trim_keeps_edges_strong_for_both_cells() -> None:
    conn = sparse.csr_matrix(
        np.array(
            [
                [0.0, 0.9, 0.5, 0.1],
                [0.9, 0.0, 0.2, 0.3],
                [0.5, 0.2, 0.0, 0.8],
                [0.1, 0.3, 0.8, 0.0],
            ],
            dtype=np.float32,
        )
    )
    # thresholds (2nd largest per row): 0.5, 0.3, 0.5, 0.3
    expected = np.array(
        [
            [0.0, 0.9, 0.5, 0.0],
            [0.9, 0.0, 0.0, 0.3],
            [0.5, 0.0, 0.0, 0.8],
            [0.0, 0.3, 0.8, 0.0],
        ],
        dtype=np.float32,
    )
    np.testing.assert_array_equal(trim_connectivities(conn, 2).toarray(), expected)
    np.testing.assert_array_equal(trim_connectivities(conn, 3).toarray(), conn.toarray())


def test_trim_limits_edges_per_cell() -> None:
    adata = tiny(n=150)
    ss.pp.bbknn(adata, trim=0, key_added="all")
    ss.pp.bbknn(adata, trim=4)
    full, trimmed = adata.obsp["all_connectivities"].toarray(), adata.obsp["connectivities"].toarray()
    # each cell's threshold: its 4th largest connectivity (0 with fewer edges); ties may keep more
    thresholds = np.array([np.sort(row[row > 0])[-4] if (row > 0).sum() > 4 else 0 for row in full])
    expected = np.where((full >= thresholds[:, None]) & (full >= thresholds[None, :]), full, 0)
    np.testing.assert_array_equal(trimmed, expected)
    assert (trimmed > 0).sum() < (full > 0).sum()
    assert adata.uns["neighbors"]["params"]["bbknn"]["trim"] == 4


def test_set_op_mix_ratio_blends_union_and_intersection() -> None:
    adata = tiny()
    conns = {}
    for mix in (0.0, 0.5, 1.0):
        ss.pp.bbknn(adata, trim=0, set_op_mix_ratio=mix)
        conns[mix] = adata.obsp["connectivities"].toarray()
    distances = adata.obsp["distances"].toarray() > 0
    np.testing.assert_array_equal(conns[0.0] > 0, distances & distances.T)  # mutual neighbours only
    np.testing.assert_allclose(conns[0.5], 0.5 * conns[1.0] + 0.5 * conns[0.0], rtol=1e-6)


def test_local_connectivity_connects_nearest_fully() -> None:
    adata = tiny()
    ss.pp.bbknn(adata, trim=0, local_connectivity=2.0)
    conn, dist = adata.obsp["connectivities"], adata.obsp["distances"]
    for i in range(adata.n_obs):
        row = dist.indices[dist.indptr[i] : dist.indptr[i + 1]]
        order = np.argsort(dist.data[dist.indptr[i] : dist.indptr[i + 1]], kind="stable")
        for j in row[order[:2]]:  # the two nearest: membership 1, so the union is 1
            assert conn[i, j] == 1.0


def test_fuzzy_connectivities_defaults_equal_the_general_formula() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 4))
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    idx = np.argsort(d, axis=1, kind="stable")[:, :6]
    dist = np.take_along_axis(d, idx, axis=1)
    default = fuzzy_connectivities(idx, dist, n_obs=60)
    nearly = fuzzy_connectivities(idx, dist, n_obs=60, set_op_mix_ratio=1.0 - 1e-12)
    np.testing.assert_allclose(default.toarray(), nearly.toarray(), rtol=1e-6)


def test_umap_and_leiden_run_on_the_graph(batched: ad.AnnData) -> None:
    adata = batched.copy()
    ss.pp.bbknn(adata, "batch")
    ss.tl.leiden(adata, resolution=0.3)
    ss.tl.umap(adata, maxiter=30)
    assert adata.obs["leiden"].nunique() >= 3
    assert adata.obsm["X_umap"].shape == (adata.n_obs, 2)
    assert np.isfinite(adata.obsm["X_umap"]).all()


def test_graph_ilisi_improves(batched: ad.AnnData) -> None:
    # measured (seed 0): graph iLISI 1.00 with neighbors, 2.51 with bbknn; kBET 0.02 -> 0.56
    adata = batched.copy()
    ss.pp.neighbors(adata, use_rep="X_pca")
    before = np.median(ss.metrics.lisi(adata, "batch", use_rep=None))
    ss.pp.bbknn(adata, "batch")
    after = np.median(ss.metrics.lisi(adata, "batch", use_rep=None))
    assert before < 1.1
    assert after > 2.2
    clisi = np.median(ss.metrics.lisi(adata, "truth", use_rep=None))
    assert clisi < 1.1


def test_missing_keys_name_close_matches() -> None:
    with pytest.raises(
        MissingKeyError, match=r"batch_key 'batchh' not found in adata.obs \(close matches: batch"
    ):
        ss.pp.bbknn(tiny(), "batchh")
    with pytest.raises(
        MissingKeyError, match=r"use_rep='X_pcaa' not found in adata.obsm \(close matches: X_pca"
    ):
        ss.pp.bbknn(tiny(), use_rep="X_pcaa")


def test_small_batch_and_bad_parameters() -> None:
    adata = tiny(n=30)
    adata.obs["batch"] = pd.Categorical(["a"] * 28 + ["b"] * 2)
    with pytest.raises(
        InputDataError,
        match=r"batch\(es\) 'b' \(2\) of obs\['batch'\] have fewer cells than neighbors_within_batch=3",
    ):
        ss.pp.bbknn(adata)
    with pytest.raises(ParamError, match=r"n_pcs=9 but obsm\['X_pca'\] has only 5 columns"):
        ss.pp.bbknn(tiny(), n_pcs=9)
    with pytest.raises(ParamError, match="neighbors_within_batch"):
        ss.pp.bbknn(tiny(), neighbors_within_batch=0)
    with pytest.raises(ParamError, match="set_op_mix_ratio"):
        ss.pp.bbknn(tiny(), set_op_mix_ratio=1.5)
    with pytest.raises(ParamError, match="metric"):
        ss.pp.bbknn(tiny(), metric="nope")
    with pytest.raises(ParamError, match="trim"):
        ss.pp.bbknn(tiny(), trim=-1)


def test_one_batch_of_one_neighbour() -> None:
    adata = tiny(n_batches=1)
    with pytest.raises(ParamError, match=r"gives k=1; the graph needs k ≥ 2"):
        ss.pp.bbknn(adata, neighbors_within_batch=1)


def test_missing_batch_values() -> None:
    adata = tiny()
    adata.obs["batch"] = adata.obs["batch"].cat.add_categories([]).astype(object)
    adata.obs.loc[adata.obs_names[0], "batch"] = None
    with pytest.raises(InputDataError, match=r"1 cell\(s\) have no batch in obs\['batch'\]"):
        ss.pp.bbknn(adata)
