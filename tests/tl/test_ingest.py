"""ingest: PCA projection, kNN label transfer, UMAP transform, formats, errors."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest
from scipy import sparse

from factories import make_counts
from scsnake.errors import InputDataError, MissingKeyError, ParamError
from scsnake.neighbors import neighbors
from scsnake.pp import log1p, normalize_total, pca
from scsnake.tl import ingest, umap
from scsnake.tl._ingest import _majority_labels


def _split(fmt: str = "csr", n_cells: int = 300) -> tuple[ad.AnnData, ad.AnnData]:
    adata = make_counts(n_cells, 60, seed=5, n_groups=3, fmt=fmt)
    normalize_total(adata)
    log1p(adata)
    order = np.random.default_rng(0).permutation(n_cells)
    ref, query = adata[order[:200]].copy(), adata[order[200:]].copy()
    return ref, query


@pytest.fixture(scope="module")
def reference() -> tuple[ad.AnnData, ad.AnnData]:
    ref, query = _split()
    pca(ref, n_comps=10)
    neighbors(ref, n_neighbors=10)
    umap(ref, maxiter=30)
    return ref, query


@pytest.mark.slow  # umap-learn's import and first compilation
def test_labels_embeddings_and_keys(reference):
    ref, query = reference
    truth = query.obs["group"].copy()
    new = query.copy()
    del new.obs["group"]
    ingest(new, ref, obs="group")
    assert set(new.obsm) == {"X_pca", "X_umap", "rep"}
    assert new.obsm["X_pca"].shape == (100, 10) and new.obsm["X_pca"].dtype == np.float32
    assert new.obsm["X_umap"].shape == (100, 2) and np.isfinite(new.obsm["X_umap"]).all()
    assert list(new.obs["group"].cat.categories) == list(ref.obs["group"].cat.categories)
    assert (new.obs["group"].astype(str) == truth.astype(str)).mean() >= 0.9
    # mapped cells land next to the reference cells of their group
    ref_centres = {
        g: ref.obsm["X_umap"][(ref.obs["group"] == g).to_numpy()].mean(0) for g in truth.cat.categories
    }
    nearest = [min(ref_centres, key=lambda g: np.linalg.norm(p - ref_centres[g])) for p in new.obsm["X_umap"]]
    assert (np.array(nearest) == truth.astype(str).to_numpy()).mean() >= 0.9


def test_pca_is_the_projection_on_the_reference_loadings(reference):
    ref, query = reference
    new = query.copy()
    ingest(new, ref, embedding_method="pca")
    x = query.X.toarray().astype(np.float64)
    ref_mean = ref.X.toarray().astype(np.float64).mean(0)
    expected = (x - ref_mean) @ ref.varm["PCs"]  # centred on the reference's mean, like scanpy >= 1.12.3
    np.testing.assert_allclose(new.obsm["X_pca"], expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(new.obsm["rep"], new.obsm["X_pca"])
    # the reference's own cells land on their PCA scores
    itself = ref.copy()
    ingest(itself, ref, embedding_method="pca")
    np.testing.assert_allclose(itself.obsm["X_pca"], ref.obsm["X_pca"], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("fmt", ["dense", "csc"])
def test_formats_give_equal_results(reference, fmt):
    ref, query = reference
    new_csr = query.copy()
    ingest(new_csr, ref, obs="group")
    other = query.copy()
    other.X = query.X.toarray() if fmt == "dense" else sparse.csc_matrix(query.X)
    ingest(other, ref, obs="group")
    np.testing.assert_allclose(other.obsm["X_pca"], new_csr.obsm["X_pca"], rtol=1e-5, atol=1e-5)
    assert (other.obs["group"] == new_csr.obs["group"]).all()


def test_deterministic_and_not_inplace(reference):
    ref, query = reference
    first = ingest(query, ref, obs="group", inplace=False)
    second = ingest(query, ref, obs="group", inplace=False)
    np.testing.assert_array_equal(first.obsm["X_umap"], second.obsm["X_umap"])
    assert "X_umap" not in query.obsm


def test_hvg_mask_and_k(reference):
    ref, query = _split()
    ref.var["highly_variable"] = np.arange(ref.n_vars) % 2 == 0
    pca(ref, n_comps=8)
    neighbors(ref, n_neighbors=10)
    new = query.copy()
    ingest(new, ref, obs=["group"], embedding_method=["pca"], labeling_method=["knn"], k=3)
    hvg = ref.var["highly_variable"].to_numpy()
    x = query.X.toarray()[:, hvg].astype(np.float64)
    ref_mean = ref.X.toarray()[:, hvg].astype(np.float64).mean(0)
    basis = ref.varm["PCs"][hvg]
    np.testing.assert_allclose(new.obsm["X_pca"], (x - ref_mean) @ basis, rtol=1e-5, atol=1e-5)
    assert (new.obs["group"].astype(str) == query.obs["group"].astype(str)).mean() >= 0.9


def test_majority_vote_ties_take_the_first_category():
    codes = np.array([[2, 1, 1, 2], [0, 2, 2, 2], [-1, -1, 1, -1], [-1, -1, -1, -1]])
    np.testing.assert_array_equal(_majority_labels(codes, 3), [1, 2, 1, -1])


def test_other_representation_and_small_x():
    ref, query = _split("dense")
    ref.obsm["X_mine"] = ref.X[:, :5].copy()
    query.obsm["X_mine"] = query.X[:, :5].copy()
    neighbors(ref, use_rep="X_mine", n_neighbors=8)
    ingest(query, ref, obs="group", embedding_method=())
    np.testing.assert_array_equal(query.obsm["rep"], query.obsm["X_mine"])
    small_ref, small_query = ref[:, :20].copy(), query[:, :20].copy()  # ≤ 50 genes: X itself
    neighbors(small_ref, n_neighbors=8)
    ingest(small_query, small_ref, obs="group", embedding_method=())
    np.testing.assert_array_equal(small_query.obsm["rep"], small_query.X)


def test_errors(reference):
    ref, query = reference
    bare = ref.copy()
    del bare.uns["neighbors"]
    with pytest.raises(MissingKeyError, match="run neighbors on the reference"):
        ingest(query.copy(), bare)
    no_umap = ref.copy()
    del no_umap.obsm["X_umap"]
    with pytest.raises(MissingKeyError, match="run umap on the reference"):
        ingest(query.copy(), no_umap)
    no_pca = ref.copy()
    del no_pca.uns["pca"]
    with pytest.raises(MissingKeyError, match="run pca on the reference"):
        ingest(query.copy(), no_pca)
    with pytest.raises(InputDataError, match="genes of adata"):
        ingest(query[:, :30].copy(), ref)
    with pytest.raises(MissingKeyError, match="'cell_type'"):
        ingest(query.copy(), ref, obs="cell_type")
    with pytest.raises(ParamError, match="embedding_method"):
        ingest(query.copy(), ref, embedding_method="tsne")
    with pytest.raises(ParamError, match="labeling_method"):
        ingest(query.copy(), ref, obs="group", labeling_method="svm")
    with pytest.raises(ParamError, match="labeling_method has 2 entries for 1"):
        ingest(query.copy(), ref, obs="group", labeling_method=["knn", "knn"])
    with pytest.raises(ParamError, match=r"unknown option.*'n_neighbors'"):
        ingest(query.copy(), ref, obs="group", n_neighbors=3)
    with pytest.raises(ParamError, match="k=500"):
        ingest(query.copy(), ref, obs="group", embedding_method="pca", k=500)
    with pytest.raises(ParamError, match="adata_ref"):
        ingest(query.copy(), "not an AnnData")
