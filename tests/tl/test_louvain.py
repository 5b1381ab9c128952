"""louvain: igraph flavor on hand-made graphs, options, stored keys, errors."""

from __future__ import annotations

import importlib.util

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from factories import make_counts
from scsnake.errors import InputDataError, MissingKeyError, ParamError
from scsnake.neighbors import neighbors
from scsnake.tl import louvain

HAS_LOUVAIN = importlib.util.find_spec("louvain") is not None


def cliques(sizes=(6, 4), fmt=sparse.csr_matrix) -> ad.AnnData:
    """Cliques of the given sizes, consecutive ones joined by one weak edge."""
    n = sum(sizes)
    adj = np.zeros((n, n))
    start = 0
    for size in sizes:
        adj[start : start + size, start : start + size] = 1
        if start:
            adj[start - 1, start] = adj[start, start - 1] = 0.1
        start += size
    np.fill_diagonal(adj, 0)
    adata = ad.AnnData(np.zeros((n, 2), dtype=np.float32))
    adata.obsp["connectivities"] = fmt(adj)
    adata.uns["neighbors"] = {
        "connectivities_key": "connectivities",
        "distances_key": "distances",
        "params": {},
    }
    return adata


@pytest.mark.parametrize(
    "fmt", [sparse.csr_matrix, sparse.csc_matrix, np.asarray], ids=["csr", "csc", "dense"]
)
@pytest.mark.parametrize("use_weights", [False, True])
def test_cliques_by_hand(fmt, use_weights):
    adata = cliques((6, 5, 5), fmt)
    louvain(adata, flavor="igraph", use_weights=use_weights)
    labels = adata.obs["louvain"]
    assert isinstance(labels.dtype, pd.CategoricalDtype)
    assert labels.cat.categories.tolist() == ["0", "1", "2"]
    assert [labels.iloc[a:b].nunique() for a, b in [(0, 6), (6, 11), (11, 16)]] == [1, 1, 1]
    assert labels.iloc[[0, 6, 11]].nunique() == 3
    assert adata.uns["louvain"] == {"params": {"resolution": None, "random_state": 0}}


def test_deterministic_and_seeded():
    adata = make_counts(150, 30, n_groups=4)
    neighbors(adata, n_neighbors=10)
    louvain(adata, flavor="igraph", key_added="a")
    louvain(adata, flavor="igraph", key_added="b")
    pd.testing.assert_series_equal(adata.obs["a"], adata.obs["b"], check_names=False)
    louvain(adata, flavor="igraph", random_state=5, key_added="c")
    assert adata.uns["c"]["params"]["random_state"] == 5


def test_graph_sources_and_copy():
    adata = make_counts(80, 30)
    neighbors(adata, n_neighbors=8)
    neighbors(adata, n_neighbors=8, key_added="other")
    out = louvain(adata, flavor="igraph", copy=True)
    assert "louvain" not in adata.obs and out is not None
    louvain(adata, flavor="igraph", key_added="by_key", neighbors_key="other")
    louvain(adata, flavor="igraph", key_added="by_obsp", obsp="other_connectivities")
    louvain(adata, flavor="igraph", key_added="by_adjacency", adjacency=adata.obsp["connectivities"])
    for key in ("by_key", "by_obsp", "by_adjacency"):
        assert (adata.obs[key] == out.obs["louvain"]).all()


def test_restrict_to():
    adata = cliques((6, 5, 5))
    adata.obs["coarse"] = pd.Categorical(["x"] * 11 + ["y"] * 5)
    louvain(adata, flavor="igraph", restrict_to=("coarse", ["x"]))
    labels = adata.obs["louvain_R"]
    assert set(labels.iloc[11:]) == {"y"}
    assert set(labels.iloc[:11]) == {"x,0", "x,1"}
    assert labels.cat.categories.tolist() == ["x,0", "x,1", "y"]
    with pytest.raises(ParamError, match="'z' is not a category"):
        louvain(adata, flavor="igraph", restrict_to=("coarse", ["z"]))


@pytest.mark.skipif(HAS_LOUVAIN, reason="the louvain package is installed")
def test_vtraag_without_the_louvain_package():
    with pytest.raises(ParamError, match="flavor='igraph'"):
        louvain(cliques())


def test_errors():
    adata = cliques()
    with pytest.raises(ParamError, match="partition_type"):
        louvain(adata, flavor="igraph", partition_type=object)
    with pytest.raises(ParamError, match="flavor"):
        louvain(adata, flavor="rapids")
    with pytest.raises(ParamError, match="resolution"):
        louvain(adata, resolution=-1, flavor="igraph")
    with pytest.raises(InputDataError, match="adjacency has shape"):
        louvain(adata, flavor="igraph", adjacency=sparse.eye(3, format="csr"))
    with pytest.raises(MissingKeyError, match="run neighbors first"):
        louvain(ad.AnnData(np.zeros((4, 2), dtype=np.float32)), flavor="igraph")
    with pytest.raises(ParamError, match="not both"):
        louvain(adata, flavor="igraph", obsp="connectivities", neighbors_key="neighbors")
