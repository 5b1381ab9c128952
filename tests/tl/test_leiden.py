"""leiden: hand-made graphs, both flavors, options, stored keys, errors."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from factories import make_counts
from scsnake.errors import InputDataError, MissingKeyError, ParamError
from scsnake.neighbors import neighbors
from scsnake.tl import leiden
from scsnake.tl._graph import igraph_from_adjacency

FLAVORS = [{"flavor": "leidenalg"}, {"flavor": "igraph", "n_iterations": 2}]


def two_cliques(fmt=sparse.csr_matrix) -> ad.AnnData:
    """A 6-clique (cells 0–5) and a 4-clique (6–9) joined by one weak edge."""
    adj = np.zeros((10, 10))
    adj[:6, :6] = 1
    adj[6:, 6:] = 1
    np.fill_diagonal(adj, 0)
    adj[5, 6] = adj[6, 5] = 0.1
    adata = ad.AnnData(np.zeros((10, 2), dtype=np.float32))
    adata.obsp["connectivities"] = fmt(adj)
    adata.uns["neighbors"] = {
        "connectivities_key": "connectivities",
        "distances_key": "distances",
        "params": {},
    }
    return adata


@pytest.mark.parametrize("kwargs", FLAVORS, ids=["leidenalg", "igraph"])
@pytest.mark.parametrize(
    "fmt", [sparse.csr_matrix, sparse.csc_matrix, np.asarray], ids=["csr", "csc", "dense"]
)
def test_two_cliques_by_hand(kwargs, fmt):
    adata = two_cliques(fmt)
    leiden(adata, **kwargs)
    labels = adata.obs["leiden"]
    assert isinstance(labels.dtype, pd.CategoricalDtype)
    assert labels.cat.categories.tolist() == ["0", "1"]
    assert labels.iloc[:6].nunique() == 1 and labels.iloc[6:].nunique() == 1
    assert labels.iloc[0] != labels.iloc[9]
    if kwargs["flavor"] == "leidenalg":  # leidenalg numbers clusters by size
        assert labels.iloc[0] == "0"
    modularity = adata.uns["leiden"].pop("modularity")
    assert adata.uns["leiden"] == {
        "params": {"resolution": 1, "random_state": 0, "n_iterations": kwargs.get("n_iterations", -1)}
    }
    if kwargs["flavor"] == "igraph":  # weighted: 15 + 6 edges of weight 1 and the 0.1 bridge
        expected = 21 / 21.1 - (30.1**2 + 12.1**2) / 42.2**2
    else:  # leidenalg's: unweighted, one arc per direction (30 + 12 inside, 31 + 13 ends per side)
        expected = 42 / 44 - (31**2 + 13**2) / 44**2
    assert modularity == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("kwargs", FLAVORS, ids=["leidenalg", "igraph"])
def test_deterministic_and_resolution(kwargs):
    adata = make_counts(120, 30, n_groups=4)
    neighbors(adata, n_neighbors=10)
    leiden(adata, **kwargs, key_added="a")
    leiden(adata, **kwargs, key_added="b")
    pd.testing.assert_series_equal(adata.obs["a"], adata.obs["b"], check_names=False)
    leiden(adata, **kwargs, resolution=3, key_added="fine")
    assert adata.obs["fine"].nunique() > adata.obs["a"].nunique()


def test_natural_category_order():
    # a graph of 12 separate pairs: labels 0..11 sort as numbers, not text
    adj = sparse.csr_matrix(np.kron(np.eye(12), [[0, 1], [1, 0]]))
    adata = ad.AnnData(np.zeros((24, 1), dtype=np.float32))
    leiden(adata, adjacency=adj)
    assert adata.obs["leiden"].cat.categories.tolist() == [str(i) for i in range(12)]


def test_graph_sources_are_equivalent():
    adata = make_counts(80, 30)
    neighbors(adata, n_neighbors=8)
    neighbors(adata, n_neighbors=8, key_added="other")
    leiden(adata, key_added="default")
    leiden(adata, key_added="by_key", neighbors_key="other")
    leiden(adata, key_added="by_obsp", obsp="other_connectivities")
    leiden(adata, key_added="by_adjacency", adjacency=adata.obsp["connectivities"])
    for key in ("by_key", "by_obsp", "by_adjacency"):
        assert (adata.obs[key] == adata.obs["default"]).all()


def test_directed_and_weights_change_the_graph():
    adj = sparse.csr_matrix(np.array([[0, 2.0, 0], [0.5, 0, 1], [0, 1, 0]]))
    g = igraph_from_adjacency(adj, directed=True)
    assert g.is_directed() and g.vcount() == 3
    assert g.get_edgelist() == [(0, 1), (1, 0), (1, 2), (2, 1)]  # one edge per stored entry, row-major
    assert g.es["weight"] == [2.0, 0.5, 1.0, 1.0]
    assert not igraph_from_adjacency(adj).is_directed()
    adata = two_cliques()
    leiden(adata, directed=False, use_weights=False, key_added="plain")
    assert adata.obs["plain"].nunique() == 2


def test_clustering_args_are_passed_on():
    adata = two_cliques()
    # leidenalg: no iterations keep the initial membership
    leiden(adata, n_iterations=0, initial_membership=[0, 1] * 5)
    assert adata.obs["leiden"].tolist() == ["0", "1"] * 5
    leiden(adata, flavor="igraph", n_iterations=2, beta=0.01, key_added="ig")  # an igraph option
    assert adata.obs["ig"].nunique() == 2


def test_restrict_to():
    adata = two_cliques()
    adata.obs["coarse"] = pd.Categorical(["a"] * 6 + ["b"] * 4)
    leiden(adata, restrict_to=("coarse", ["a"]), resolution=3)
    new = adata.obs["leiden_R"]
    assert (new.iloc[6:] == "b").all()
    assert new.iloc[:6].str.startswith("a,").all()
    assert new.cat.categories.tolist()[-1] == "b"
    leiden(adata, restrict_to=("coarse", ["a", "b"]), key_added="both")
    assert set(adata.obs["both"]) == {"a-b,0", "a-b,1"}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"resolution": 0}, "resolution"),
        ({"resolution": -1.0}, "resolution"),
        ({"flavor": "louvain"}, "flavor"),
        ({"flavor": "igraph", "directed": True}, "directed"),
        ({"flavor": "igraph", "partition_type": object}, "partition_type"),
        ({"n_iterations": -2}, "n_iterations"),
        ({"obsp": "connectivities", "neighbors_key": "neighbors"}, "not both"),
        ({"restrict_to": ("coarse", ["z"])}, r"'z' is not a category of obs\['coarse'\]"),
        ({"restrict_to": ("coarse", [1])}, "restrict_to"),
    ],
)
def test_bad_parameters(kwargs, match):
    adata = two_cliques()
    adata.obs["coarse"] = pd.Categorical(["a"] * 6 + ["b"] * 4)
    with pytest.raises(ParamError, match=match):
        leiden(adata, **kwargs)


def test_missing_or_bad_graph():
    adata = ad.AnnData(np.zeros((10, 2), dtype=np.float32))
    with pytest.raises(MissingKeyError, match="run neighbors first"):
        leiden(adata)
    with pytest.raises(MissingKeyError, match=r"obsp\['knn'\] not found"):
        leiden(adata, obsp="knn")
    with pytest.raises(InputDataError, match=r"adjacency has shape \(3, 3\)"):
        leiden(adata, adjacency=sparse.eye(3, format="csr"))
    adata = two_cliques()
    adata.obs["coarse"] = ["a"] * 10
    with pytest.raises(InputDataError, match=r"obs\['coarse'\] must be categorical"):
        leiden(adata, restrict_to=("coarse", ["a"]))
    with pytest.raises(MissingKeyError, match="restrict_to key 'nope' not found"):
        leiden(adata, restrict_to=("nope", ["a"]))


def test_copy():
    adata = two_cliques()
    out = leiden(adata, copy=True)
    assert "leiden" not in adata.obs and "leiden" in out.obs
