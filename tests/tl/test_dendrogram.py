"""dendrogram: correlation and linkage by hand, representations, genes, stored keys, errors."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from factories import make_counts
from scsnake.errors import InputDataError, MissingKeyError, ParamError
from scsnake.tl import dendrogram

MEANS = np.array([[10, 0, 0], [9, 1, 0], [0, 0, 10]])


def three_groups(fmt=np.asarray, dtype=np.float32) -> ad.AnnData:
    x = np.repeat(MEANS, 4, axis=0) + 5
    x[::4] += 5  # cells differ, group means stay
    x[1::4] -= 5
    obs = pd.DataFrame(
        {"g": pd.Categorical(np.repeat(["a", "b", "c"], 4))}, index=[f"c{i}" for i in range(12)]
    )
    return ad.AnnData(fmt(x.astype(dtype)), obs=obs)


@pytest.mark.parametrize(
    "fmt", [np.asarray, sparse.csr_matrix, sparse.csc_matrix], ids=["dense", "csr", "csc"]
)
@pytest.mark.parametrize("dtype", [np.float32, np.int64], ids=["float32", "int"])
def test_by_hand(fmt, dtype):
    adata = three_groups(fmt, dtype)
    dendrogram(adata, "g")
    result = adata.uns["dendrogram_g"]
    corr = np.corrcoef(MEANS)
    np.testing.assert_allclose(result["correlation_matrix"], corr, rtol=1e-6)
    linkage = result["linkage"]
    # complete linkage: a and b first, then c at the larger of its two distances
    np.testing.assert_allclose(linkage[:, :2], [[0, 1], [2, 3]])
    np.testing.assert_allclose(linkage[:, 2], [1 - corr[0, 1], 1 - min(corr[0, 2], corr[1, 2])], rtol=1e-6)
    assert result["categories_ordered"] == ["c", "a", "b"]
    assert result["categories_idx_ordered"] == [2, 0, 1]
    assert result["groupby"] == ["g"] and result["use_rep"] is None
    assert result["cor_method"] == "pearson" and result["linkage_method"] == "complete"
    assert set(result["dendrogram_info"]) >= {"icoord", "dcoord", "ivl", "leaves"}


def test_not_inplace_key_added_and_methods():
    adata = three_groups()
    out = dendrogram(adata, "g", inplace=False, cor_method="spearman", linkage_method="average")
    assert not any(k.startswith("dendrogram") for k in adata.uns) and out["cor_method"] == "spearman"
    dendrogram(adata, "g", key_added="mine", optimal_ordering=True)
    assert "mine" in adata.uns


def test_representation_and_pcs():
    adata = make_counts(90, 60, n_groups=3)
    adata.obsm["X_pca"] = np.random.default_rng(0).normal(size=(90, 10)).astype(np.float32)
    adata.obsm["X_pca"][:, 0] += adata.obs["group"].cat.codes.to_numpy() * 3
    full = dendrogram(adata, "group", inplace=False)  # 60 genes > 50: X_pca
    same = dendrogram(adata, "group", use_rep="X_pca", inplace=False)
    np.testing.assert_array_equal(full["linkage"], same["linkage"])
    first = dendrogram(adata, "group", use_rep="X_pca", n_pcs=2, inplace=False)
    means = pd.DataFrame(adata.obsm["X_pca"][:, :2]).groupby(adata.obs["group"].to_numpy()).mean()
    np.testing.assert_allclose(first["correlation_matrix"], np.corrcoef(means.to_numpy()), rtol=1e-5)


def test_var_names_and_raw():
    adata = make_counts(90, 40, n_groups=3)
    genes = adata.var_names[5:15].tolist()
    by_genes = dendrogram(adata, "group", var_names=genes, inplace=False)
    subset = adata[:, genes].copy()
    by_x = dendrogram(subset, "group", use_rep="X", inplace=False)
    np.testing.assert_allclose(by_genes["correlation_matrix"], by_x["correlation_matrix"], rtol=1e-6)
    adata.raw = adata.copy()
    adata.X = sparse.csr_matrix(np.ones(adata.shape, dtype=np.float32))
    from_raw = dendrogram(adata, "group", var_names=genes, inplace=False)  # use_raw=None: raw if present
    np.testing.assert_allclose(from_raw["correlation_matrix"], by_genes["correlation_matrix"], rtol=1e-6)
    with pytest.raises(InputDataError, match="same mean for every feature"):
        dendrogram(adata, "group", var_names=genes, use_raw=False)


def test_several_groupby_keys():
    adata = three_groups()
    adata.obs["h"] = pd.Categorical(["x", "y"] * 6)
    dendrogram(adata, ["g", "h"])
    result = adata.uns["dendrogram_g_h"]
    assert sorted(result["categories_ordered"]) == ["a_x", "a_y", "b_x", "b_y", "c_x", "c_y"]
    assert result["groupby"] == ["g", "h"]


def test_errors():
    adata = three_groups()
    with pytest.raises(MissingKeyError, match="groupby 'gg' not found"):
        dendrogram(adata, "gg")
    adata.obs["num"] = np.arange(12)
    with pytest.raises(InputDataError, match="must be categorical"):
        dendrogram(adata, "num")
    with pytest.raises(MissingKeyError, match="gene 'nope'"):
        dendrogram(adata, "g", var_names=["nope"])
    with pytest.raises(ParamError, match="cor_method"):
        dendrogram(adata, "g", cor_method="cosine")
    with pytest.raises(ParamError, match="linkage_method"):
        dendrogram(adata, "g", linkage_method="fast")
    with pytest.raises(MissingKeyError, match="use_rep='X_umap'"):
        dendrogram(adata, "g", use_rep="X_umap")
    adata.obs["unused"] = pd.Categorical(adata.obs["g"].astype(str), categories=["a", "b", "c", "d"])
    with pytest.raises(InputDataError, match="without cells: d"):
        dendrogram(adata, "unused")
    adata.obs["one"] = pd.Categorical(["a"] * 12)
    with pytest.raises(InputDataError, match="at least 2 groups"):
        dendrogram(adata, "one")
