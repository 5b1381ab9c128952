"""calculate_qc_metrics: hand-checked values, layouts, dtypes, names, errors."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from scsnake.errors import InputDataError, MissingKeyError, ParamError
from scsnake.pp import calculate_qc_metrics

# cell 0: total 4, top-1 gene 3 (75%), MT 1 (25%); cell 1: total 4, only gene 2
X = np.array([[1, 0, 3], [0, 0, 4]])
FORMATS = {"dense": np.asarray, "csr": sparse.csr_matrix, "csc": sparse.csc_matrix}
OBS_COLUMNS = [
    "n_genes_by_counts", "log1p_n_genes_by_counts", "total_counts", "log1p_total_counts",
    "pct_counts_in_top_1_genes", "pct_counts_in_top_2_genes",
    "total_counts_mt", "log1p_total_counts_mt", "pct_counts_mt",
]  # fmt: skip
VAR_COLUMNS = [
    "n_cells_by_counts", "mean_counts", "log1p_mean_counts", "pct_dropout_by_counts",
    "total_counts", "log1p_total_counts",
]  # fmt: skip


def make(fmt: str = "csr", dtype: type = np.float32, x: np.ndarray = X) -> ad.AnnData:
    adata = ad.AnnData(FORMATS[fmt](x.astype(dtype)))
    adata.var["mt"] = np.arange(adata.n_vars) == 0
    return adata


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("dtype", [np.int64, np.float32])
def test_values_by_hand(fmt, dtype):
    obs, var = calculate_qc_metrics(make(fmt, dtype), qc_vars=["mt"], percent_top=[2, 1])
    assert list(obs.columns) == OBS_COLUMNS  # scanpy's order; percent_top sorted
    assert list(var.columns) == VAR_COLUMNS
    np.testing.assert_array_equal(obs["n_genes_by_counts"], [2, 1])
    np.testing.assert_allclose(obs["total_counts"], [4, 4])
    np.testing.assert_allclose(obs["log1p_total_counts"], np.log1p([4, 4]))
    np.testing.assert_allclose(obs["log1p_n_genes_by_counts"], np.log1p([2, 1]))
    np.testing.assert_allclose(obs["pct_counts_in_top_1_genes"], [75, 100])
    np.testing.assert_allclose(obs["pct_counts_in_top_2_genes"], [100, 100])
    np.testing.assert_allclose(obs["total_counts_mt"], [1, 0])
    np.testing.assert_allclose(obs["pct_counts_mt"], [25, 0])
    np.testing.assert_array_equal(var["n_cells_by_counts"], [1, 0, 2])
    np.testing.assert_allclose(var["mean_counts"], [0.5, 0, 3.5])
    np.testing.assert_allclose(var["pct_dropout_by_counts"], [50, 100, 0])
    np.testing.assert_allclose(var["total_counts"], [1, 0, 7])
    np.testing.assert_allclose(var["log1p_mean_counts"], np.log1p([0.5, 0, 3.5]))


def test_top_genes_include_ties_and_implicit_zeros():
    x = np.array([[5, 5, 0, 0, 1, 2]])
    obs, _ = calculate_qc_metrics(make(x=x), percent_top=[1, 2, 3, 5, 6])
    np.testing.assert_allclose(
        obs.filter(like="pct_counts_in_top").to_numpy().ravel(), np.array([5, 10, 12, 13, 13]) / 13 * 100
    )


def test_inplace_writes_obs_and_var():
    adata = make()
    assert calculate_qc_metrics(adata, qc_vars="mt", percent_top=[1], inplace=True) is None
    assert {"total_counts", "pct_counts_mt", "pct_counts_in_top_1_genes"} <= set(adata.obs.columns)
    assert {"n_cells_by_counts", "mean_counts", "total_counts"} <= set(adata.var.columns)


def test_names_and_switches():
    obs, var = calculate_qc_metrics(
        make(), expr_type="umis", var_type="features", percent_top=None, log1p=False
    )
    assert list(obs.columns) == ["n_features_by_umis", "total_umis"]
    assert list(var.columns) == ["n_cells_by_umis", "mean_umis", "pct_dropout_by_umis", "total_umis"]
    obs, _ = calculate_qc_metrics(make(), percent_top=())
    assert not any(c.startswith("pct_counts_in_top") for c in obs.columns)


def test_default_percent_top_needs_enough_genes():
    with pytest.raises(InputDataError, match=r"percent_top=\(50, 100, 200, 500\) .* only 3 genes"):
        calculate_qc_metrics(make())


def test_zero_count_cell_gets_nan_percentages():
    obs, _ = calculate_qc_metrics(make(x=np.array([[0, 0, 0], [1, 0, 1]])), qc_vars="mt", percent_top=[1])
    assert np.isnan(obs["pct_counts_mt"].iloc[0])
    assert np.isnan(obs["pct_counts_in_top_1_genes"].iloc[0])
    assert obs["total_counts"].iloc[0] == 0


def test_explicit_zeros_are_not_counted_and_input_is_unchanged():
    x = sparse.csr_matrix(
        (np.array([0.0, 2.0], dtype=np.float32), np.array([0, 1]), np.array([0, 2, 2])), shape=(2, 3)
    )
    adata = ad.AnnData(x)
    obs, var = calculate_qc_metrics(adata, percent_top=[1])
    np.testing.assert_array_equal(obs["n_genes_by_counts"], [1, 0])
    np.testing.assert_array_equal(var["n_cells_by_counts"], [0, 1, 0])
    assert adata.X.nnz == 2  # unlike scanpy, the input's explicit zeros are left alone


def test_layer_and_raw():
    adata = make()
    adata.layers["counts"] = adata.X * 2
    obs, _ = calculate_qc_metrics(adata, layer="counts", percent_top=None)
    np.testing.assert_allclose(obs["total_counts"], [8, 8])

    adata.raw = adata
    sub = adata[:, 1:].copy()  # raw keeps all three genes
    calculate_qc_metrics(sub, use_raw=True, qc_vars="mt", percent_top=None, inplace=True)
    np.testing.assert_allclose(sub.obs["pct_counts_mt"], [25, 0])
    np.testing.assert_allclose(sub.raw.var["total_counts"], [1, 0, 7])
    assert "total_counts" not in sub.var


def test_view_is_not_modified_through_parent():
    parent = make()
    view = parent[:1]
    calculate_qc_metrics(view, percent_top=None, inplace=True)
    assert "total_counts" in view.obs
    assert "total_counts" not in parent.obs


def test_empty_data():
    obs, var = calculate_qc_metrics(make(x=np.zeros((0, 3))), percent_top=[1])
    assert len(obs) == 0
    np.testing.assert_array_equal(var["n_cells_by_counts"], [0, 0, 0])


def test_missing_qc_var():
    with pytest.raises(MissingKeyError, match=r"qc_vars: column 'MT' not found in var \(available: mt\)"):
        calculate_qc_metrics(make(), qc_vars=["MT"], percent_top=None)


def test_qc_var_must_be_bool():
    adata = make()
    adata.var["gene_type"] = pd.Categorical(["a", "b", "a"])
    with pytest.raises(InputDataError, match=r"var\['gene_type'\] has dtype category; it must be bool"):
        calculate_qc_metrics(adata, qc_vars="gene_type", percent_top=None)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"percent_top": [0]}, "percent_top"),
        ({"percent_top": [-5]}, "percent_top"),
        ({"expr_type": ""}, "expr_type"),
        ({"var_type": ""}, "var_type"),
        ({"qc_vars": [1]}, "qc_vars"),
        ({"use_raw": True, "layer": "counts"}, "pick one"),
    ],
)
def test_bad_params(kwargs, match):
    with pytest.raises(ParamError, match=match):
        calculate_qc_metrics(make(), **kwargs)


def test_missing_layer_and_raw():
    with pytest.raises(MissingKeyError, match="layer 'counts' not found"):
        calculate_qc_metrics(make(), layer="counts")
    with pytest.raises(MissingKeyError, match=r"no \.raw"):
        calculate_qc_metrics(make(), use_raw=True)


@pytest.mark.parametrize("fmt", FORMATS)
def test_formats_agree_on_random_counts(fmt):
    from factories import make_counts

    def run(adata):
        adata.var["mt"] = adata.var_names.str.startswith("MT-")
        adata.var["ribo"] = adata.var_names.str.startswith("RPS")
        return calculate_qc_metrics(adata, qc_vars=["mt", "ribo"], percent_top=[5, 10, 40])

    ref_obs, ref_var = run(make_counts(fmt="dense", dtype=np.int64))
    obs, var = run(make_counts(fmt=fmt))
    pd.testing.assert_frame_equal(obs, ref_obs)
    pd.testing.assert_frame_equal(var, ref_var)
