"""diffmap, dpt, paga, louvain and dendrogram against scanpy (1.11 and 1.12) on the same graphs.

Data: krumsiek11 (640 simulated myeloid cells × 11 genes, root cell 0 as in scanpy's
example) and the first 2,000 mouse10k cells preprocessed by scanpy (normalize_total,
log1p, 500 HVGs, 30 PCs, exact kNN, igraph leiden). Both libraries get scanpy's graph.
Everything is identical to scanpy: diffusion eigenvalues and components, pseudotime
(Spearman 1.0), branch groups, order and tips, PAGA connectivities and tree, louvain
(igraph) labels under the same igraph random numbers (scanpy does not seed igraph; we
give scanpy the generator scsnake seeds from ``random_state``), and dendrograms. One
deliberate difference: scanpy's ``dendrogram(var_names=...)`` uses all genes
(scverse/scanpy#1549); we use the genes given, so we compare with all genes.
"""

from __future__ import annotations

import random
import warnings
from pathlib import Path

import anndata as ad
import numpy as np
import pytest
from scipy import sparse
from scipy.stats import spearmanr

from scsnake.io import read_csv
from scsnake.neighbors import neighbors
from scsnake.tl import dendrogram, diffmap, dpt, louvain, paga
from scsnake.tl._leiden import _IgraphRng

sc = pytest.importorskip("scanpy")
igraph = pytest.importorskip("igraph")

pytestmark = pytest.mark.parity

DPT_KEYS = ["dpt_pseudotime", "dpt_groups", "dpt_order", "dpt_order_indices"]
# scanpy 1.12 deprecates its louvain in favour of leiden (attributed to the caller, so the
# pyproject filter on scanpy's modules misses it); scsnake keeps tl.louvain without a warning
LOUVAIN_DEPRECATED = "ignore:The function louvain is deprecated:FutureWarning"


@pytest.fixture(scope="module")
def krumsiek(shared_data: Path) -> ad.AnnData:
    with warnings.catch_warnings():
        # the simulation time in the first column repeats across the 4 branches
        warnings.filterwarnings("ignore", "Observation names are not unique", UserWarning)
        adata = read_csv(shared_data / "krumsiek11.txt", delimiter=None)
    adata.obs_names_make_unique()
    assert adata.shape == (640, 11)
    return adata


@pytest.fixture(scope="module")
def krumsiek_graphs(krumsiek: ad.AnnData) -> dict[str, ad.AnnData]:
    out = {}
    for name, kwargs in {
        "umap": {},
        "umap5": {"n_neighbors": 5},
        "gauss5": {"method": "gauss", "n_neighbors": 5},
    }.items():
        adata = krumsiek.copy()
        sc.pp.neighbors(adata, **kwargs)
        out[name] = adata
    return out


@pytest.fixture(scope="module")
def mouse(mouse10k: ad.AnnData) -> ad.AnnData:
    adata = mouse10k[:2000].copy()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Some cells have zero counts", UserWarning)
        sc.pp.normalize_total(adata)
    sc.pp.log1p(adata)
    sc.pp.highly_variable_genes(adata, n_top_genes=500)
    sc.pp.pca(adata, n_comps=30)
    sc.pp.neighbors(adata, transformer="sklearn")
    sc.tl.leiden(adata, flavor="igraph", n_iterations=2)
    sc.tl.leiden(adata, flavor="igraph", n_iterations=2, resolution=0.3, key_added="coarse")
    return adata


def assert_same_csr(ours: sparse.spmatrix, ref: sparse.spmatrix) -> None:
    assert type(ours) is type(ref) and ours.dtype == ref.dtype
    np.testing.assert_array_equal(ours.indptr, ref.indptr)
    np.testing.assert_array_equal(ours.indices, ref.indices)
    np.testing.assert_allclose(ours.data, ref.data, rtol=1e-12)


def run_both(adata: ad.AnnData, ours_fn, ref_fn) -> tuple[ad.AnnData, ad.AnnData]:
    ref, ours = adata.copy(), adata.copy()
    ref_fn(ref)
    ours_fn(ours)
    return ref, ours


@pytest.mark.parametrize("graph", ["umap", "umap5", "gauss5"])
def test_diffmap_and_pseudotime_krumsiek(krumsiek_graphs, graph):
    adata = krumsiek_graphs[graph].copy()
    adata.uns["iroot"] = 0
    ref, ours = run_both(adata, lambda a: (diffmap(a), dpt(a)), lambda a: (sc.tl.diffmap(a), sc.tl.dpt(a)))
    np.testing.assert_allclose(ours.uns["diffmap_evals"], ref.uns["diffmap_evals"], rtol=1e-5)
    np.testing.assert_allclose(ours.obsm["X_diffmap"], ref.obsm["X_diffmap"], rtol=1e-5, atol=1e-6)
    time, ref_time = ours.obs["dpt_pseudotime"], ref.obs["dpt_pseudotime"]
    np.testing.assert_allclose(time, ref_time, rtol=1e-5, atol=1e-7)
    assert spearmanr(time, ref_time).statistic >= 0.99  # 1.0: identical
    assert ours.uns["iroot"] == ref.uns["iroot"] == 0


@pytest.mark.parametrize(
    ("graph", "n_branchings"), [("umap", 1), ("umap", 2), ("umap", 3), ("umap5", 2), ("gauss5", 1)]
)
def test_dpt_branchings_krumsiek(krumsiek_graphs, graph, n_branchings):
    adata = krumsiek_graphs[graph].copy()
    sc.tl.diffmap(adata)
    adata.uns["iroot"] = 0
    ref, ours = run_both(
        adata, lambda a: dpt(a, n_branchings=n_branchings), lambda a: sc.tl.dpt(a, n_branchings=n_branchings)
    )
    for key in DPT_KEYS:
        np.testing.assert_array_equal(ours.obs[key].to_numpy(), ref.obs[key].to_numpy(), err_msg=key)
    assert ours.obs["dpt_groups"].cat.categories.tolist() == ref.obs["dpt_groups"].cat.categories.tolist()
    np.testing.assert_array_equal(ours.uns["dpt_grouptips"], ref.uns["dpt_grouptips"])
    np.testing.assert_array_equal(ours.uns["dpt_changepoints"], ref.uns["dpt_changepoints"])


def test_dpt_on_our_own_graph_krumsiek(krumsiek):
    ref, ours = krumsiek.copy(), krumsiek.copy()
    ref.uns["iroot"] = ours.uns["iroot"] = 0
    sc.pp.neighbors(ref)
    sc.tl.diffmap(ref)
    sc.tl.dpt(ref)
    neighbors(ours)
    diffmap(ours)
    dpt(ours)
    assert spearmanr(ours.obs["dpt_pseudotime"], ref.obs["dpt_pseudotime"]).statistic >= 0.99
    np.testing.assert_allclose(ours.obs["dpt_pseudotime"], ref.obs["dpt_pseudotime"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("model", ["v1.2", "v1.0"])
@pytest.mark.parametrize("groups", ["leiden", "coarse"])
def test_paga_mouse(mouse, model, groups):
    ref, ours = run_both(
        mouse, lambda a: paga(a, groups, model=model), lambda a: sc.tl.paga(a, groups, model=model)
    )
    assert_same_csr(ours.uns["paga"]["connectivities"], ref.uns["paga"]["connectivities"])
    assert_same_csr(ours.uns["paga"]["connectivities_tree"], ref.uns["paga"]["connectivities_tree"])
    assert ours.uns["paga"]["groups"] == ref.uns["paga"]["groups"] == groups
    sizes, ref_sizes = ours.uns[f"{groups}_sizes"], ref.uns[f"{groups}_sizes"]
    assert sizes.dtype == ref_sizes.dtype
    np.testing.assert_array_equal(sizes, ref_sizes)


@pytest.mark.filterwarnings(LOUVAIN_DEPRECATED)
@pytest.mark.parametrize(
    "kwargs", [{}, {"use_weights": True}, {"random_state": 3}], ids=["default", "weights", "seed3"]
)
def test_louvain_igraph_mouse(mouse, kwargs):
    def scanpy_louvain(adata: ad.AnnData) -> None:
        igraph.set_random_number_generator(_IgraphRng(kwargs.get("random_state", 0)))
        try:
            sc.tl.louvain(adata, flavor="igraph", **kwargs)
        finally:
            igraph.set_random_number_generator(random)

    ref, ours = run_both(mouse, lambda a: louvain(a, flavor="igraph", **kwargs), scanpy_louvain)
    assert ours.obs["louvain"].tolist() == ref.obs["louvain"].tolist()
    assert ours.obs["louvain"].cat.categories.tolist() == ref.obs["louvain"].cat.categories.tolist()
    assert ours.uns["louvain"] == ref.uns["louvain"]


@pytest.mark.filterwarnings(LOUVAIN_DEPRECATED)
def test_louvain_restrict_to_mouse(mouse):
    def scanpy_louvain(adata: ad.AnnData) -> None:
        igraph.set_random_number_generator(_IgraphRng(0))
        try:
            sc.tl.louvain(adata, flavor="igraph", restrict_to=("coarse", ["0", "1"]))
        finally:
            igraph.set_random_number_generator(random)

    ref, ours = run_both(
        mouse, lambda a: louvain(a, flavor="igraph", restrict_to=("coarse", ["0", "1"])), scanpy_louvain
    )
    assert ours.obs["louvain_R"].tolist() == ref.obs["louvain_R"].tolist()
    assert ours.obs["louvain_R"].cat.categories.tolist() == ref.obs["louvain_R"].cat.categories.tolist()


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"groupby": ["leiden", "coarse"]},
        {"use_rep": "X_pca", "n_pcs": 10, "optimal_ordering": True},
        {"cor_method": "spearman", "linkage_method": "average"},
        {"cor_method": "kendall", "linkage_method": "single"},
    ],
    ids=["default", "two-keys", "pcs", "spearman", "kendall"],
)
def test_dendrogram_mouse(mouse, kwargs):
    kwargs = dict(kwargs)
    groupby = kwargs.pop("groupby", "leiden")
    ref = sc.tl.dendrogram(mouse, groupby, inplace=False, **kwargs)
    ours = dendrogram(mouse, groupby, inplace=False, **kwargs)
    assert set(ours) == set(ref)
    np.testing.assert_allclose(ours["linkage"], ref["linkage"], rtol=1e-12)
    np.testing.assert_allclose(ours["correlation_matrix"], ref["correlation_matrix"], rtol=1e-12)
    assert ours["dendrogram_info"] == ref["dendrogram_info"]
    for key in (
        "groupby",
        "use_rep",
        "cor_method",
        "linkage_method",
        "categories_ordered",
        "categories_idx_ordered",
    ):
        assert ours[key] == ref[key], key


@pytest.mark.parametrize("fmt", ["sparse", "dense"])
def test_dendrogram_var_names_mouse(mouse, fmt):
    adata = mouse.copy()
    if fmt == "dense":
        adata.X = adata.X.toarray()
    genes = adata.var_names.tolist()  # scanpy always uses every gene (scverse/scanpy#1549)
    ref = sc.tl.dendrogram(adata, ["leiden", "coarse"], var_names=genes[:3], inplace=False)
    ours = dendrogram(adata, ["leiden", "coarse"], var_names=genes, inplace=False)
    rtol = 1e-12 if fmt == "dense" else 1e-6  # sparse: float64 means, scanpy float32 (dense only)
    np.testing.assert_allclose(ours["linkage"], ref["linkage"], rtol=rtol)
    np.testing.assert_allclose(ours["correlation_matrix"], ref["correlation_matrix"], rtol=rtol)
    assert ours["categories_ordered"] == ref["categories_ordered"]


def test_diffmap_dpt_mouse(mouse):
    adata = mouse.copy()
    adata.uns["iroot"] = 0
    ref, ours = run_both(
        adata,
        lambda a: (diffmap(a), dpt(a, n_branchings=1)),
        lambda a: (sc.tl.diffmap(a), sc.tl.dpt(a, n_branchings=1)),
    )
    np.testing.assert_allclose(ours.uns["diffmap_evals"], ref.uns["diffmap_evals"], rtol=1e-5)
    np.testing.assert_allclose(ours.obsm["X_diffmap"], ref.obsm["X_diffmap"], rtol=1e-5, atol=1e-6)
    assert spearmanr(ours.obs["dpt_pseudotime"], ref.obs["dpt_pseudotime"]).statistic >= 0.99
    for key in DPT_KEYS:
        np.testing.assert_array_equal(ours.obs[key].to_numpy(), ref.obs[key].to_numpy(), err_msg=key)
