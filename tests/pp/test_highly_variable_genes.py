"""highly_variable_genes: hand-checked statistics, formats, dtypes, batches, errors."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from factories import make_counts
from scsnake import pp
from scsnake.errors import AdjustedParamWarning, InputDataError, MissingKeyError, ParamError, ScsnakeWarning
from scsnake.pp._hvg_seurat_v3 import loess_fit

FLAVORS = ["seurat", "cell_ranger", "seurat_v3", "seurat_v3_paper"]


def _log_normalised(adata: ad.AnnData) -> ad.AnnData:
    """log1p(counts / total * 1e4) as float32, in the matrix format of ``adata``."""
    counts = adata.X.toarray() if sparse.issparse(adata.X) else np.asarray(adata.X)
    counts = counts.astype(np.float64)
    x = np.log1p(counts / counts.sum(axis=1, keepdims=True) * 1e4).astype(np.float32)
    if sparse.issparse(adata.X):
        x = sparse.csr_matrix(x).asformat(adata.X.format)
    return ad.AnnData(x, obs=adata.obs.copy(), var=adata.var.copy())


def _data(fmt: str = "csr", dtype: type = np.float32) -> ad.AnnData:
    """Enough genes per mean bin that normalised dispersions have no exact ties."""
    return make_counts(100, 300, seed=1, fmt=fmt, dtype=dtype)


def _prepared(adata: ad.AnnData, flavor: str) -> ad.AnnData:
    return adata if flavor.startswith("seurat_v3") else _log_normalised(adata)


# --- statistics checked by hand -------------------------------------------------------


def test_seurat_by_hand() -> None:
    x = np.log1p(np.array([[0, 1, 5, 2], [0, 1, 0, 2], [1, 1, 9, 3], [0, 2, 1, 1]], dtype=np.float32))
    adata = ad.AnnData(x)
    pp.highly_variable_genes(adata, n_bins=1)
    e = np.expm1(x.astype(np.float64))
    mean, var = e.mean(axis=0), e.var(axis=0, ddof=1)
    disp = np.log(var / mean)
    norm = (disp - disp.mean()) / disp.std(ddof=1)
    np.testing.assert_allclose(adata.var["means"], np.log1p(mean), rtol=1e-6)
    # gene 0 has var == mean: its log-dispersion is 0 up to float32 rounding
    np.testing.assert_allclose(adata.var["dispersions"], disp, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(adata.var["dispersions_norm"], norm, rtol=1e-5, atol=1e-6)
    expected = (np.log1p(mean) > 0.0125) & (np.log1p(mean) < 3) & (norm > 0.5)
    assert adata.var["highly_variable"].tolist() == expected.tolist()
    assert adata.uns["hvg"] == {"flavor": "seurat"}
    assert adata.var["dispersions_norm"].dtype == np.float32


def test_seurat_single_gene_bin_gets_one() -> None:
    x = np.log1p(np.array([[0, 1, 50], [0, 2, 60], [1, 1, 70]], dtype=np.float32))
    adata = ad.AnnData(x)
    pp.highly_variable_genes(adata, n_bins=20)
    # the highest-mean gene is alone in its bin: normalised dispersion 1 by convention
    assert adata.var["dispersions_norm"].iloc[2] == pytest.approx(1.0)


def test_cell_ranger_by_hand() -> None:
    adata = _log_normalised(make_counts(80, 60, seed=3))
    pp.highly_variable_genes(adata, flavor="cell_ranger", n_top_genes=10)
    x = adata.X.toarray().astype(np.float64)
    mean, var = x.mean(axis=0), x.var(axis=0, ddof=1)
    mean_safe = np.where(mean == 0, 1e-12, mean)
    disp = var / mean_safe
    edges = np.r_[-np.inf, np.percentile(mean_safe, np.arange(10, 105, 5)), np.inf]
    bins = np.searchsorted(edges, mean_safe, side="left") - 1  # intervals closed on the right
    norm = np.empty_like(disp)
    for b in np.unique(bins):
        d = disp[bins == b]
        med = np.median(d)
        norm[bins == b] = (d - med) / (np.median(np.abs(d - med)) / 0.6744897501960817)
    np.testing.assert_allclose(adata.var["means"], mean_safe, rtol=1e-6)
    np.testing.assert_allclose(adata.var["dispersions"], disp, rtol=1e-6)
    np.testing.assert_allclose(adata.var["dispersions_norm"], norm, rtol=1e-5)
    top = np.argsort(-np.nan_to_num(norm, nan=-np.inf))[:10]
    assert set(np.flatnonzero(adata.var["highly_variable"])) == set(top)


def test_seurat_v3_normalised_variance_by_hand() -> None:
    adata = make_counts(120, 60, seed=5)
    pp.highly_variable_genes(adata, flavor="seurat_v3", n_top_genes=15)
    x = adata.X.toarray().astype(np.float64)
    n = x.shape[0]
    mean, var = x.mean(axis=0), x.var(axis=0, ddof=1)
    varying = var > 0
    reg_std = np.ones_like(mean)
    reg_std[varying] = np.sqrt(10 ** loess_fit(np.log10(mean[varying]), np.log10(var[varying]), span=0.3))
    z = np.minimum(x, reg_std * np.sqrt(n) + mean)
    expected = ((z - mean) ** 2).sum(axis=0) / ((n - 1) * reg_std**2)
    np.testing.assert_allclose(adata.var["variances_norm"], expected, rtol=1e-9)
    np.testing.assert_allclose(adata.var["means"], mean, rtol=1e-9)
    np.testing.assert_allclose(adata.var["variances"], var, rtol=1e-6)
    top = np.argsort(-expected, kind="stable")[:15]
    assert set(np.flatnonzero(adata.var["highly_variable"])) == set(top)
    assert adata.var["highly_variable_rank"].dtype == np.float32
    assert sorted(adata.var["highly_variable_rank"].dropna().astype(int)) == list(range(15))
    assert adata.uns["hvg"] == {"flavor": "seurat_v3"}


def test_loess_reproduces_a_quadratic() -> None:
    x = np.linspace(-1, 2, 200) + np.random.default_rng(0).normal(0, 0.01, 200)
    y = 1 + 2 * x - 3 * x**2
    np.testing.assert_allclose(loess_fit(x, y, span=0.3), y, rtol=1e-10, atol=1e-10)


def test_loess_needs_enough_neighbours() -> None:
    with pytest.raises(InputDataError, match=r"span=0\.3 of 10 genes"):
        loess_fit(np.arange(10.0), np.arange(10.0), span=0.3)


# --- formats, dtypes, results --------------------------------------------------------


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize("batch_key", [None, "group"])
@pytest.mark.parametrize("fmt", ["dense", "csc"])
def test_dense_csr_csc_equal(fmt: str, flavor: str, batch_key: str | None) -> None:
    kwargs = {"flavor": flavor, "n_top_genes": 20, "batch_key": batch_key, "inplace": False}
    expected = pp.highly_variable_genes(_prepared(_data(fmt="csr"), flavor), **kwargs)
    result = pp.highly_variable_genes(_prepared(_data(fmt=fmt), flavor), **kwargs)
    if fmt == "dense":
        pd.testing.assert_frame_equal(result, expected)
        return
    # like scanpy, float32 CSC data are squared in float64 (dense and CSR in float32):
    # statistics agree to float32 precision, normalised values up to cancellation
    pd.testing.assert_index_equal(result.columns, expected.columns)
    assert (result["highly_variable"] == expected["highly_variable"]).all()
    for col in ("means", "dispersions", "variances", "variances_norm", "dispersions_norm"):
        if col in expected:
            np.testing.assert_allclose(result[col], expected[col], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("flavor", ["seurat_v3", "seurat_v3_paper"])
def test_int_and_float32_counts_equal(flavor: str) -> None:
    as_float = pp.highly_variable_genes(_data(dtype=np.float32), flavor=flavor, n_top_genes=10, inplace=False)
    as_int = pp.highly_variable_genes(_data(dtype=np.int64), flavor=flavor, n_top_genes=10, inplace=False)
    pd.testing.assert_frame_equal(as_int, as_float, rtol=1e-6)


def test_log1p_base_is_undone() -> None:
    counts = make_counts()
    natural = _log_normalised(counts)
    base2 = natural.copy()
    base2.X = base2.X / np.float32(np.log(2))
    base2.uns["log1p"] = {"base": 2}
    a = pp.highly_variable_genes(natural, n_top_genes=10, inplace=False)
    b = pp.highly_variable_genes(base2, n_top_genes=10, inplace=False)
    np.testing.assert_allclose(b["dispersions_norm"], a["dispersions_norm"], rtol=1e-4)
    assert (a["highly_variable"] == b["highly_variable"]).all()


@pytest.mark.parametrize("fmt", ["dense", "csr", "csc"])
def test_expm1_in_blocks_equals_one_block(monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    adata = _log_normalised(_data(fmt=fmt))
    whole = pp.highly_variable_genes(adata, batch_key="group", inplace=False)
    monkeypatch.setattr("scsnake.pp._hvg_kernels._BLOCK_VALUES", 500)  # blocks of a few cells
    pd.testing.assert_frame_equal(pp.highly_variable_genes(adata, batch_key="group", inplace=False), whole)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_inplace_false_returns_scanpy_columns(flavor: str) -> None:
    adata = _prepared(_data(), flavor)
    before = adata.var.copy()
    df = pp.highly_variable_genes(adata, flavor=flavor, n_top_genes=10, inplace=False)
    pd.testing.assert_frame_equal(adata.var, before)
    if flavor.startswith("seurat_v3"):
        expected = [
            "means",
            "variances",
            "gene_name",
            "highly_variable_rank",
            "variances_norm",
            "highly_variable",
        ]
    else:
        expected = ["means", "dispersions", "mean_bin", "dispersions_norm", "highly_variable"]
    assert list(df.columns) == expected
    assert list(df.index) == list(adata.var_names)
    assert df["highly_variable"].sum() == 10


@pytest.mark.parametrize("flavor", FLAVORS)
def test_subset_keeps_only_flagged_genes(flavor: str) -> None:
    adata = _prepared(_data(), flavor)
    flagged = pp.highly_variable_genes(adata.copy(), flavor=flavor, n_top_genes=7, inplace=False)
    pp.highly_variable_genes(adata, flavor=flavor, n_top_genes=7, subset=True)
    assert adata.n_vars == 7
    assert list(adata.var_names) == list(flagged.index[flagged["highly_variable"]])
    frame = pp.highly_variable_genes(
        _prepared(_data(), flavor), flavor=flavor, n_top_genes=7, subset=True, inplace=False
    )
    assert frame["highly_variable"].all() and len(frame) == 7


@pytest.mark.parametrize("flavor", ["seurat", "cell_ranger"])
def test_batches_counted_and_ranked(flavor: str) -> None:
    adata = _log_normalised(_data())
    pp.highly_variable_genes(adata, flavor=flavor, n_top_genes=25, batch_key="group")
    var = adata.var
    # each batch selects among the genes expressed in it, as a one-batch run would
    counted = np.zeros(adata.n_vars, dtype=int)
    for g in adata.obs["group"].cat.categories:
        batch = adata[(adata.obs["group"] == g).to_numpy()]
        expressed = np.asarray((batch.X > 0).sum(axis=0)).ravel() > 0
        alone = pp.highly_variable_genes(
            batch[:, expressed].copy(), flavor=flavor, n_top_genes=25, inplace=False
        )
        counted[expressed] += alone["highly_variable"].to_numpy()
    np.testing.assert_array_equal(var["highly_variable_nbatches"], counted)
    assert var["highly_variable_nbatches"].dtype == np.int64
    assert (var["highly_variable_intersection"] == (counted == 3)).all()
    assert var["highly_variable"].sum() == 25
    # flagged genes are selected by at least as many batches as any unflagged gene
    assert counted[var["highly_variable"]].min() >= counted[~var["highly_variable"]].max()


def test_seurat_v3_batches_median_rank() -> None:
    adata = _data()
    pp.highly_variable_genes(adata, flavor="seurat_v3", n_top_genes=12, batch_key="group")
    var = adata.var
    assert var["highly_variable"].sum() == 12
    assert set(var.columns) >= {"highly_variable_nbatches", "highly_variable_rank", "variances_norm"}
    assert var["highly_variable_rank"].isna().equals(var["highly_variable_nbatches"] == 0)


def test_cell_ranger_with_repeated_percentiles() -> None:
    counts = _data()
    x = counts.X.toarray()
    x[:, :90] = 0  # 30% of the genes unexpressed: several percentiles are 0
    adata = _log_normalised(ad.AnnData(sparse.csr_matrix(x), obs=counts.obs, var=counts.var))
    pp.highly_variable_genes(adata, flavor="cell_ranger", n_top_genes=5)
    assert adata.var["highly_variable"].sum() == 5
    assert not adata.var["highly_variable"].iloc[:90].any()


def test_view_is_made_actual() -> None:
    adata = _log_normalised(_data())
    view = adata[:50]
    pp.highly_variable_genes(view, n_top_genes=5)
    assert not view.is_view and view.var["highly_variable"].sum() == 5


def test_layer_is_used() -> None:
    adata = make_counts()
    adata.layers["counts"] = adata.X.copy()
    adata.X = adata.X * 0.5  # not counts any more
    pp.highly_variable_genes(adata, flavor="seurat_v3", layer="counts", n_top_genes=5)
    expected = pp.highly_variable_genes(make_counts(), flavor="seurat_v3", n_top_genes=5, inplace=False)
    assert (adata.var["highly_variable"] == expected["highly_variable"]).all()


@pytest.mark.parametrize("flavor", ["seurat", "cell_ranger"])
def test_filter_unexpressed_genes(flavor: str) -> None:
    """Unexpressed genes are left out of the statistics (and bins) and get zeros."""
    adata = _log_normalised(_data(fmt="dense"))
    adata.X[:, [5, 40]] = 0
    expressed = np.ones(adata.n_vars, dtype=bool)
    expressed[[5, 40]] = False
    got = pp.highly_variable_genes(
        adata, flavor=flavor, n_top_genes=30, filter_unexpressed_genes=True, inplace=False
    )
    alone = pp.highly_variable_genes(adata[:, expressed].copy(), flavor=flavor, n_top_genes=30, inplace=False)
    for col in ("means", "dispersions", "dispersions_norm", "highly_variable"):
        np.testing.assert_array_equal(got[col].to_numpy()[expressed], alone[col].to_numpy(), err_msg=col)
        assert not got[col].to_numpy()[~expressed].any(), col
    assert got["mean_bin"].dtype == object and (got["mean_bin"].to_numpy()[~expressed] == 0).all()
    if flavor == "seurat":  # without the filter they are in the statistics (log of 0 dispersion: NaN)
        default = pp.highly_variable_genes(adata, flavor=flavor, n_top_genes=30, inplace=False)
        assert np.isnan(default["dispersions"].to_numpy()[~expressed]).all()


def test_filter_unexpressed_genes_false_is_ignored_with_batches() -> None:
    adata = _log_normalised(_data())
    adata.obs["batch"] = np.repeat(["a", "b"], adata.n_obs // 2)
    expected = pp.highly_variable_genes(adata, batch_key="batch", inplace=False)
    with pytest.warns(ScsnakeWarning, match="filter_unexpressed_genes=False is ignored"):
        got = pp.highly_variable_genes(
            adata, batch_key="batch", filter_unexpressed_genes=False, inplace=False
        )
    pd.testing.assert_frame_equal(got, expected)


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"flavor": "seurat_v4"}, "flavor must be one of 'seurat'"),
        ({"n_top_genes": 0}, "n_top_genes"),
        ({"n_bins": 0}, "n_bins"),
        ({"flavor": "seurat_v3", "span": 0}, "span"),
        ({"flavor": "seurat_v3", "span": 1.5}, "span"),
        ({"min_mean": 5}, "max_mean: must not be below min_mean"),
        ({"min_disp": 2, "max_disp": 1}, "max_disp: must not be below min_disp"),
        ({"filter_unexpressed_genes": "sometimes"}, "filter_unexpressed_genes"),
    ],
)
def test_bad_parameters(kwargs: dict, match: str) -> None:
    with pytest.raises(ParamError, match=match):
        pp.highly_variable_genes(make_counts(), **kwargs)


def test_missing_batch_key_lists_close_matches() -> None:
    with pytest.raises(
        MissingKeyError, match=r"batch_key 'grup' not found in adata.obs \(close matches: group\)"
    ):
        pp.highly_variable_genes(_log_normalised(make_counts()), batch_key="grup")


def test_missing_layer() -> None:
    with pytest.raises(MissingKeyError, match="layer 'counts'"):
        pp.highly_variable_genes(make_counts(), flavor="seurat_v3", layer="counts")


def test_seurat_v3_needs_counts() -> None:
    adata = _log_normalised(make_counts())
    with pytest.raises(InputDataError, match="needs raw counts"):
        pp.highly_variable_genes(adata, flavor="seurat_v3")
    pp.highly_variable_genes(adata, flavor="seurat_v3", check_values=False, n_top_genes=5)
    assert adata.var["highly_variable"].sum() == 5


def test_batch_with_missing_values() -> None:
    adata = _log_normalised(make_counts())
    adata.obs["batch"] = pd.Categorical(["a", "b", None] * 20)
    with pytest.raises(InputDataError, match="batch_key 'batch': 20 cell"):
        pp.highly_variable_genes(adata, batch_key="batch")


def test_batch_of_one_cell() -> None:
    adata = _log_normalised(make_counts())
    adata.obs["batch"] = ["a"] * 59 + ["b"]
    with pytest.raises(InputDataError, match="batch 'b' has 1 cell"):
        pp.highly_variable_genes(adata, batch_key="batch")


def test_one_cell() -> None:
    with pytest.raises(InputDataError, match="at least 2 cells"):
        pp.highly_variable_genes(_log_normalised(make_counts())[:1].copy())


def test_cutoffs_ignored_with_n_top_genes_warns() -> None:
    # built outside pytest.warns, which re-emits other warnings without their module (so the ignores miss them)
    adata = _log_normalised(make_counts())
    with pytest.warns(ScsnakeWarning, match="min_mean"):
        pp.highly_variable_genes(adata, n_top_genes=5, min_mean=0.1)


def test_more_top_genes_than_dispersions_warns() -> None:
    adata = make_counts(60, 40, fmt="dense")
    adata.X[:, :2] = 0  # unexpressed genes have no dispersion
    adata = _log_normalised(adata)
    with pytest.warns(AdjustedParamWarning, match="n_top_genes=40 is more than the 38 genes"):
        pp.highly_variable_genes(adata, n_top_genes=100, n_bins=1)
    assert adata.var["highly_variable"].tolist() == [False] * 2 + [True] * 38
