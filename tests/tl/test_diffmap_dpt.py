"""diffmap and dpt: transitions by hand, eigenvectors, pseudotime, branchings, errors."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from scipy.stats import kendalltau, spearmanr

from scsnake.errors import InputDataError, MissingKeyError, ParamError
from scsnake.neighbors import neighbors
from scsnake.tl import diffmap, dpt
from scsnake.tl._diffmap import DptDistances, symmetric_transitions
from scsnake.tl._dpt import _kendall_tau_scores, _kendall_tau_split

FORMATS = [sparse.csr_matrix, sparse.csc_matrix, np.asarray]
FORMAT_IDS = ["csr", "csc", "dense"]


def graph_adata(adj: np.ndarray, fmt=sparse.csr_matrix) -> ad.AnnData:
    adata = ad.AnnData(np.zeros((adj.shape[0], 2), dtype=np.float32))
    adata.obsp["connectivities"] = fmt(adj.astype(np.float32))
    adata.uns["neighbors"] = {
        "connectivities_key": "connectivities",
        "distances_key": "distances",
        "params": {},
    }
    return adata


def curve(n: int = 80, seed: int = 0) -> tuple[ad.AnnData, np.ndarray]:
    """Cells along a smooth 3-d curve, ordered by the curve parameter ``t``."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, n)
    x = np.column_stack([t, t**2, np.sin(3 * t)]) + rng.normal(scale=0.005, size=(n, 3))
    adata = ad.AnnData(x.astype(np.float32))
    neighbors(adata, n_neighbors=8)
    return adata, t


def y_shape(n_arm: int = 100, seed: int = 0) -> ad.AnnData:
    """A trunk (cells 0..n_arm-1) splitting into two arms, in 2-d with a little noise."""
    rng = np.random.default_rng(seed)
    s = np.linspace(0, 1, n_arm)
    trunk = np.column_stack([np.zeros(n_arm), -s[::-1]])
    left = np.column_stack([-s, s])
    right = np.column_stack([s, s])
    x = np.vstack([trunk, left, right]) + rng.normal(scale=0.01, size=(3 * n_arm, 2))
    adata = ad.AnnData(x.astype(np.float32))
    neighbors(adata, n_neighbors=10)
    return adata


def test_symmetric_transitions_by_hand():
    # path 0-1-2: degrees (1, 2, 1); K~ = D^-1 K D^-1 has 0.5 on the edges; z = sqrt(0.5, 1, 0.5)
    adj = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=np.float64)
    expected = np.array([[0, np.sqrt(0.5), 0], [np.sqrt(0.5), 0, np.sqrt(0.5)], [0, np.sqrt(0.5), 0]])
    np.testing.assert_allclose(symmetric_transitions(sparse.csr_matrix(adj)).toarray(), expected, rtol=1e-12)
    np.testing.assert_allclose(symmetric_transitions(adj), expected, rtol=1e-12)


@pytest.mark.parametrize("fmt", FORMATS, ids=FORMAT_IDS)
def test_diffmap_is_the_eigenbasis_of_the_transitions(fmt):
    adata, _ = curve()
    conn = adata.obsp["connectivities"].toarray()
    adata = graph_adata(conn, fmt)
    diffmap(adata, n_comps=6)
    evals, evecs = adata.uns["diffmap_evals"], adata.obsm["X_diffmap"]
    assert evals.dtype == evecs.dtype == np.float32
    assert evecs.shape == (adata.n_obs, 6)
    t = symmetric_transitions(conn.astype(np.float64))
    ref = np.linalg.eigvalsh(t)
    ref = np.sort(ref[np.argsort(-np.abs(ref))[:6]])[::-1]
    np.testing.assert_allclose(evals, ref, rtol=1e-5, atol=1e-6)
    assert evals[0] == pytest.approx(1, abs=1e-5)
    np.testing.assert_allclose(t @ evecs, evecs * evals, atol=1e-4)


def test_formats_give_equal_diffmaps():
    adata, _ = curve()
    conn = adata.obsp["connectivities"].toarray()
    results = []
    for fmt in FORMATS:
        one = graph_adata(conn, fmt)
        diffmap(one, n_comps=5)
        results.append((one.uns["diffmap_evals"], one.obsm["X_diffmap"]))
    for evals, evecs in results[1:]:
        np.testing.assert_allclose(evals, results[0][0], rtol=1e-5)
        np.testing.assert_allclose(np.abs(evecs), np.abs(results[0][1]), atol=1e-5)


def test_diffmap_deterministic_copy_and_neighbors_key():
    adata, _ = curve()
    neighbors(adata, n_neighbors=8, key_added="other")
    out = diffmap(adata, copy=True)
    assert "X_diffmap" not in adata.obsm and out is not None
    again = diffmap(adata, copy=True)
    np.testing.assert_array_equal(out.obsm["X_diffmap"], again.obsm["X_diffmap"])
    by_key = diffmap(adata, neighbors_key="other", copy=True)
    np.testing.assert_array_equal(out.obsm["X_diffmap"], by_key.obsm["X_diffmap"])
    assert out.obsm["X_diffmap"].shape == (adata.n_obs, 15)


def test_diffmap_errors():
    adata, _ = curve(20)
    with pytest.raises(ParamError, match="n_comps"):
        diffmap(adata, n_comps=2)
    with pytest.raises(MissingKeyError, match="run neighbors first"):
        diffmap(ad.AnnData(np.zeros((5, 2), dtype=np.float32)))
    with pytest.raises(MissingKeyError, match="other"):
        diffmap(adata, neighbors_key="other")
    adj = np.ones((6, 6)) - np.eye(6)
    adj[5] = adj[:, 5] = 0
    with pytest.raises(InputDataError, match="1 cell"):
        diffmap(graph_adata(adj), n_comps=3)


def test_dpt_pseudotime_follows_the_curve():
    adata, t = curve()
    diffmap(adata, n_comps=10)
    adata.uns["iroot"] = np.int64(0)
    dpt(adata)
    time = adata.obs["dpt_pseudotime"].to_numpy()
    assert time.dtype == np.float32 and time[0] == 0 and time.max() == 1
    assert spearmanr(time, t).statistic > 0.99
    assert adata.uns["iroot"] == 0 and "dpt_groups" not in adata.obs


def test_dpt_distances_by_hand():
    evals = np.array([1.0, 0.5], dtype=np.float32)
    basis = np.array([[1, 0], [1, 1], [1, 3]], dtype=np.float32)
    d = DptDistances(evals, basis)
    # weight 0.5 / (1 - 0.5) = 1 on the second component; the stationary one adds nothing here
    np.testing.assert_allclose(d[0], [0, 1, 3])
    assert d[1, 2] == pytest.approx(2)
    sub = d.restrict(np.array([1, 2]))
    np.testing.assert_allclose(sub[0], [0, 2])
    labels = np.array([0, 0, 1])
    assert np.isinf(DptDistances(evals, basis, labels)[0][2])


def test_dpt_runs_diffmap_when_missing_and_checks_n_dcs():
    adata, _ = curve()
    adata.uns["iroot"] = 0
    dpt(adata)
    assert adata.obsm["X_diffmap"].shape[1] == 15
    with pytest.raises(ParamError, match="n_dcs=20"):
        dpt(adata, n_dcs=20)


def test_dpt_root_errors_and_xroot():
    adata, _ = curve()
    diffmap(adata)
    with pytest.raises(MissingKeyError, match=r"uns\['iroot'\] = index of a root cell"):
        dpt(adata)
    adata.uns["iroot"] = adata.n_obs
    with pytest.raises(InputDataError, match="iroot"):
        dpt(adata)
    del adata.uns["iroot"]
    adata.var["xroot"] = adata.X[5]
    dpt(adata)
    assert adata.uns["iroot"] == 5 and adata.obs["dpt_pseudotime"].iloc[5] == 0
    with pytest.raises(ParamError, match="n_branchings"):
        dpt(adata, n_branchings=-1)


def test_dpt_disconnected_component_is_infinitely_far():
    adata, _ = curve(40)
    conn = adata.obsp["connectivities"].toarray()
    both = sparse.csr_matrix(np.kron(np.eye(2), conn))
    two = graph_adata(both.toarray())
    diffmap(two, n_comps=6)
    two.uns["iroot"] = 0
    dpt(two, n_dcs=6)
    time = two.obs["dpt_pseudotime"].to_numpy()
    assert np.isinf(time[40:]).all() and np.isfinite(time[:40]).all() and time[:40].max() == 1


def test_kendall_tau_updates_equal_direct_kendall_tau():
    rng = np.random.default_rng(0)
    a, b = rng.random(40).astype(np.float32), rng.random(40).astype(np.float32)
    # scipy's tau on float64 copies (same order, same tau): scipy >= 1.18 rounds it to float32 for float32 input
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    pos, neg = kendalltau(a64[:5], b64[:5])[0], kendalltau(a64[5:], b64[5:])[0]
    scores = _kendall_tau_scores(a, b, pos, neg, 5)
    assert scores.size == 40 - 11
    for ii, score in enumerate(scores):
        i = 5 + ii
        direct = kendalltau(a64[: i + 1], b64[: i + 1])[0] - kendalltau(a64[i + 1 :], b64[i + 1 :])[0]
        assert score == pytest.approx(direct, abs=1e-10)


def test_dpt_branching_splits_the_arms():
    adata = y_shape()
    diffmap(adata, n_comps=10)
    adata.uns["iroot"] = 0
    dpt(adata, n_branchings=1)
    groups = adata.obs["dpt_groups"]
    assert isinstance(groups.dtype, pd.CategoricalDtype)
    n_groups = len(groups.cat.categories)
    assert n_groups in (3, 4) and groups.cat.categories.tolist() == [str(i) for i in range(n_groups)]
    # the trunk's root end and the two arm ends fall in three different groups
    assert len({groups.iloc[0], groups.iloc[199], groups.iloc[299]}) == 3
    order, indices = adata.obs["dpt_order"].to_numpy(), adata.obs["dpt_order_indices"].to_numpy()
    np.testing.assert_array_equal(np.sort(indices), np.arange(adata.n_obs))
    np.testing.assert_array_equal(order[indices], np.arange(adata.n_obs))
    assert adata.uns["dpt_changepoints"].size == n_groups - 1
    assert adata.uns["dpt_grouptips"].shape == (n_groups, 2)
    time = adata.obs["dpt_pseudotime"].to_numpy()
    for start, stop in zip(
        [0, *adata.uns["dpt_changepoints"]], [*adata.uns["dpt_changepoints"], adata.n_obs], strict=True
    ):
        assert np.all(np.diff(time[indices[start:stop]]) >= 0)  # ordered by pseudotime within a group
    again = dpt(adata, n_branchings=1, copy=True)
    pd.testing.assert_frame_equal(again.obs, adata.obs)


def test_dpt_branching_without_root_and_too_small_groups():
    adata = y_shape(30)
    diffmap(adata, n_comps=10)
    dpt(adata, n_branchings=1)  # no root: branches only
    assert "dpt_pseudotime" not in adata.obs and "dpt_groups" in adata.obs
    tiny, _ = curve(12)
    diffmap(tiny, n_comps=5)
    tiny.uns["iroot"] = 0
    with pytest.raises(InputDataError, match="lost all its cells"):
        dpt(tiny, n_dcs=5, n_branchings=2, min_group_size=0)
    with pytest.raises(InputDataError, match="11 cells is too small to split"):
        _kendall_tau_split(np.arange(11.0), np.arange(11.0))
