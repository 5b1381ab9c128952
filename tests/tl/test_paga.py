"""paga: both models by hand, tree, group handling, stored keys, errors."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from factories import make_counts
from scsnake.errors import InputDataError, MissingKeyError, ParamError
from scsnake.neighbors import neighbors
from scsnake.tl import paga

FORMATS = [sparse.csr_matrix, sparse.csc_matrix, np.asarray]
FORMAT_IDS = ["csr", "csc", "dense"]


def three_groups(fmt=sparse.csr_matrix) -> ad.AnnData:
    """Groups A={0,1}, B={2,3}, C={4,5}: kNN edges inside each, plus 1→2 and 3→4."""
    dist = np.zeros((6, 6))
    for i, j in [(0, 1), (1, 0), (2, 3), (3, 2), (4, 5), (5, 4), (1, 2), (3, 4)]:
        dist[i, j] = 0.5
    conn = ((dist + dist.T) > 0).astype(np.float32)
    adata = ad.AnnData(np.zeros((6, 2), dtype=np.float32))
    adata.obs["leiden"] = pd.Categorical(["A", "A", "B", "B", "C", "C"])
    adata.obsp["distances"] = fmt(dist)
    adata.obsp["connectivities"] = fmt(conn)
    adata.uns["neighbors"] = {
        "connectivities_key": "connectivities",
        "distances_key": "distances",
        "params": {"n_neighbors": 2},
    }
    return adata


@pytest.mark.parametrize("fmt", FORMATS, ids=FORMAT_IDS)
def test_v1_2_by_hand(fmt):
    adata = three_groups(fmt)
    paga(adata)
    # edges leaving each group: A 2+1, B 2+1, C 2; n = 6 cells, 2 per group
    # A–B: 1 / ((3·2 + 3·2) / 5) = 5/12; B–C: 1 / ((3·2 + 2·2) / 5) = 1/2
    expected = np.zeros((3, 3))
    expected[0, 1] = expected[1, 0] = 5 / 12
    expected[1, 2] = expected[2, 1] = 0.5
    conn = adata.uns["paga"]["connectivities"]
    assert isinstance(conn, sparse.csr_matrix) and conn.dtype == np.float64
    np.testing.assert_allclose(conn.toarray(), expected, rtol=1e-12)
    tree = adata.uns["paga"]["connectivities_tree"]
    assert isinstance(tree, sparse.csr_matrix) and tree.nnz == 2  # one entry per tree edge
    np.testing.assert_allclose((tree + tree.T).toarray(), expected, rtol=1e-12)
    assert adata.uns["paga"]["groups"] == "leiden"
    np.testing.assert_array_equal(adata.uns["leiden_sizes"], [2, 2, 2])


@pytest.mark.parametrize("fmt", FORMATS, ids=FORMAT_IDS)
def test_v1_0_by_hand(fmt):
    adata = three_groups(fmt)
    paga(adata, model="v1.0")
    # connectivity pairs between groups / (n_neighbors · sqrt(n_i n_j)) = 1 / (2 · 2)
    expected = np.zeros((3, 3))
    expected[0, 1] = expected[1, 0] = expected[1, 2] = expected[2, 1] = 0.25
    np.testing.assert_allclose(adata.uns["paga"]["connectivities"].toarray(), expected, rtol=1e-12)
    assert adata.uns["paga"]["connectivities_tree"].nnz == 2


def test_tree_keeps_the_strongest_edges():
    adata = make_counts(150, 30, n_groups=3)
    neighbors(adata, n_neighbors=10)
    adata.obs["leiden"] = pd.Categorical(np.arange(150) % 5).astype(str)
    paga(adata)
    conn = adata.uns["paga"]["connectivities"].toarray()
    tree = adata.uns["paga"]["connectivities_tree"]
    assert tree.nnz == 4  # a spanning tree of 5 groups
    rows, cols = tree.nonzero()
    np.testing.assert_array_equal(tree.data, conn[rows, cols])
    np.testing.assert_allclose(conn, conn.T)
    assert conn.max() <= 1 and np.all(np.diag(conn) == 0)


def test_groups_default_string_column_and_other_uns_keys():
    adata = three_groups()
    adata.obs["louvain"] = adata.obs.pop("leiden").astype(str)  # strings: made categorical, as scanpy does
    adata.uns["paga"] = {"pos": np.zeros((3, 2))}
    out = paga(adata, copy=True)
    assert "paga" in adata.uns and "connectivities" not in adata.uns["paga"]
    assert out.uns["paga"]["groups"] == "louvain" and "pos" in out.uns["paga"]
    assert isinstance(out.obs["louvain"].dtype, pd.CategoricalDtype)
    assert out.uns["louvain_sizes"].tolist() == [2, 2, 2]


def test_neighbors_key():
    adata = make_counts(60, 20)
    neighbors(adata, n_neighbors=6, key_added="nb")
    adata.obs["leiden"] = adata.obs["group"]
    paga(adata, neighbors_key="nb")
    neighbors(adata, n_neighbors=6)
    ref = paga(adata, copy=True)
    assert (adata.uns["paga"]["connectivities"] != ref.uns["paga"]["connectivities"]).nnz == 0


def test_errors():
    adata = three_groups()
    with pytest.raises(ParamError, match=r"use_rna_velocity=True .* is not supported"):
        paga(adata, use_rna_velocity=True)
    with pytest.raises(ParamError, match="model"):
        paga(adata, model="v2")
    with pytest.raises(MissingKeyError, match="groups 'cluster' not found"):
        paga(adata, groups="cluster")
    adata.obs["number"] = np.arange(6)
    with pytest.raises(InputDataError, match="must be categorical"):
        paga(adata, groups="number")
    adata.obs["gaps"] = pd.Categorical(["A", None, "B", "B", "C", "C"])
    with pytest.raises(InputDataError, match="missing value"):
        paga(adata, groups="gaps")
    with pytest.raises(MissingKeyError, match="run leiden first"):
        paga(
            ad.AnnData(
                obs=pd.DataFrame(index=["a"]),
                uns={"neighbors": {}},
                obsp={"connectivities": sparse.eye(1, format="csr")},
            )
        )
    with pytest.raises(MissingKeyError, match="run neighbors first"):
        paga(ad.AnnData(np.zeros((3, 1), dtype=np.float32)), groups="x")
    del adata.obsp["distances"]
    with pytest.raises(MissingKeyError, match="distances"):
        paga(adata)
