"""rank_genes_groups(method="logreg"): coefficients of sklearn's LogisticRegression, scanpy's layout."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from sklearn.linear_model import LogisticRegression

from factories import make_counts
from scsnake import tl
from scsnake.errors import AdjustedParamWarning, ParamError


def log_counts(fmt: str = "csr", dtype: type = np.float32, **kwargs) -> ad.AnnData:
    adata = make_counts(fmt=fmt, dtype=dtype, **kwargs)
    x = adata.X.astype(np.float32)
    adata.X = x.log1p() if sparse.issparse(x) else np.log1p(x)
    return adata


def stored(adata: ad.AnnData, key: str = "rank_genes_groups") -> dict:
    return adata.uns[key]


def test_scores_are_the_coefficients():
    adata = log_counts(n_groups=3)
    tl.rank_genes_groups(adata, "group", method="logreg")
    result = stored(adata)
    assert set(result) == {"params", "names", "scores"}  # no p-values or fold changes, as scanpy
    assert result["params"]["method"] == "logreg"
    assert result["names"].dtype.names == ("g0", "g1", "g2")
    assert result["scores"].dtype["g0"] == np.float32
    clf = LogisticRegression().fit(adata.X, adata.obs["group"].cat.codes)
    for k, group in enumerate(("g0", "g1", "g2")):
        coef = pd.Series(clf.coef_[k], index=adata.var_names)
        names = list(result["names"][group])
        assert names == list(coef.sort_values(ascending=False, kind="stable").index)
        np.testing.assert_allclose(result["scores"][group], coef[names].to_numpy(np.float32), rtol=1e-6)


def test_marker_gene_ranks_first():
    rng = np.random.default_rng(0)
    labels = np.repeat(["a", "b", "c"], 20)
    x = rng.poisson(1.0, size=(60, 6)).astype(np.float32)
    x[labels == "b", 4] += 6  # gene "m4" marks b
    obs = pd.DataFrame({"g": pd.Categorical(labels)}, index=[f"c{i}" for i in range(60)])
    adata = ad.AnnData(np.log1p(x), obs=obs, var=pd.DataFrame(index=[f"m{j}" for j in range(6)]))
    tl.rank_genes_groups(adata, "g", method="logreg")
    assert stored(adata)["names"]["b"][0] == "m4"
    assert stored(adata)["names"]["a"][-1] == "m4"


def test_layouts_agree():
    results = {}
    for fmt in ("dense", "csr", "csc"):
        adata = log_counts(fmt)
        tl.rank_genes_groups(adata, "group", method="logreg", n_genes=10)
        results[fmt] = stored(adata)
    for fmt in ("csr", "csc"):
        for group in ("g0", "g1", "g2"):
            np.testing.assert_array_equal(results[fmt]["names"][group], results["dense"]["names"][group])
            np.testing.assert_allclose(
                results[fmt]["scores"][group], results["dense"]["scores"][group], rtol=1e-3
            )


def test_int_and_float_counts_agree():
    ints = make_counts(dtype=np.int64)
    floats = make_counts(dtype=np.float32)
    tl.rank_genes_groups(ints, "group", method="logreg")  # no raw-counts warning for logreg (as scanpy)
    tl.rank_genes_groups(floats, "group", method="logreg")
    for group in ("g0", "g1", "g2"):
        np.testing.assert_array_equal(stored(ints)["names"][group], stored(floats)["names"][group])


def test_two_groups_store_the_first_only():
    adata = log_counts()
    tl.rank_genes_groups(adata, "group", method="logreg", groups=["g2", "g0"])
    result = stored(adata)
    assert result["names"].dtype.names == ("g2",)  # binary model: one coefficient vector (scanpy)
    inside = adata.obs["group"].isin(["g0", "g2"]).to_numpy()
    clf = LogisticRegression().fit(adata.X[inside], adata.obs["group"].cat.codes[inside])
    coef = pd.Series(clf.coef_[0], index=adata.var_names)
    np.testing.assert_allclose(result["scores"]["g2"], coef[list(result["names"]["g2"])], rtol=1e-6)


def test_reference_is_one_of_the_classes():
    adata = log_counts(n_groups=4)
    tl.rank_genes_groups(adata, "group", method="logreg", groups=["g0", "g3"], reference="g1")
    result = stored(adata)
    assert result["names"].dtype.names == ("g0", "g3", "g1")
    assert result["params"]["reference"] == "g1"


def test_options_and_kwds():
    adata = log_counts()
    tl.rank_genes_groups(adata, "group", method="logreg", n_genes=5, rankby_abs=True, key_added="lr", C=0.05)
    result = stored(adata, "lr")
    assert len(result["names"]) == 5
    scores = np.abs(result["scores"]["g1"])
    assert (np.diff(scores) <= 0).all()
    strong = stored(tl.rank_genes_groups(adata, "group", method="logreg", copy=True))
    assert np.abs(strong["scores"]["g1"]).max() > scores.max()  # C=0.05 shrinks the coefficients


def test_pts_has_no_effect():
    adata = log_counts()
    with pytest.warns(AdjustedParamWarning, match="pts=True has no effect"):
        tl.rank_genes_groups(adata, "group", method="logreg", pts=True)
    assert "pts" not in stored(adata)


def test_errors():
    adata = log_counts()
    with pytest.raises(ParamError, match=r"LogisticRegression.*rejected.*not_an_option"):
        tl.rank_genes_groups(adata, "group", method="logreg", not_an_option=1)
    with pytest.raises(ParamError, match=r"rejected the keywords.*'C'"):
        tl.rank_genes_groups(adata, "group", method="logreg", C=-1.0)
    with pytest.raises(ParamError, match=r"unexpected keyword.*'C'.*method='logreg' only"):
        tl.rank_genes_groups(adata, "group", method="t-test", C=1.0)
    with pytest.raises(ParamError, match="method"):
        tl.rank_genes_groups(adata, "group", method="logistic")
