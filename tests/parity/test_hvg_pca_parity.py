"""highly_variable_genes and pca against scanpy (1.11 and 1.12) on the same data.

HVG: identical selections and statistics within rtol 1e-5, for every flavor, with and
without ``batch_key``, on real (mouse10k) and synthetic data. PCA: top-20 variance ratios
within 1e-4 (relative) and top-20 loadings with cosine ≥ 0.999 (same signs), for every
solver, on sparse and dense input.
"""

from __future__ import annotations

import importlib
import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from factories import make_counts
from scanpy_reference import SCANPY_1_12, scanpy_at_least
from scsnake import pp
from scsnake.errors import AdjustedParamWarning
from scsnake.pp._hvg_seurat_v3 import loess_fit

sc = pytest.importorskip("scanpy")

pytestmark = pytest.mark.parity


def _with_batches(adata: ad.AnnData) -> ad.AnnData:
    adata = adata.copy()
    adata.obs["batch"] = pd.Categorical(np.random.default_rng(0).choice(["a", "b", "c"], adata.n_obs))
    return adata


def _log(adata: ad.AnnData) -> ad.AnnData:
    adata = adata.copy()
    with warnings.catch_warnings():
        # mouse10k has a few cells without counts; scanpy warns and leaves them at zero
        warnings.filterwarnings("ignore", "Some cells have zero counts", UserWarning)
        sc.pp.normalize_total(adata)
    sc.pp.log1p(adata)
    return adata


@pytest.fixture(scope="module")
def datasets(mouse10k: ad.AnnData) -> dict[str, ad.AnnData]:
    """Counts and log-normalised data, each with a ``batch`` column."""
    mouse = _with_batches(mouse10k)
    expressed = mouse[:, np.asarray((mouse.X > 0).sum(axis=0)).ravel() > 0].copy()
    small = make_counts(300, 200, seed=4)
    small.obs["batch"] = small.obs["group"]
    return {
        "mouse": mouse,
        "mouse_log": _log(mouse),
        # scanpy's cell_ranger fails on repeated mean percentiles (unexpressed genes)
        "mouse_expressed_log": _log(expressed),
        "small": small,
        "small_log": _log(small),
    }


def _as_format(adata: ad.AnnData, fmt: str) -> ad.AnnData:
    adata = adata.copy()
    if fmt == "dense":
        adata.X = adata.X.toarray()
    elif fmt == "csc":
        adata.X = sparse.csc_matrix(adata.X)
    return adata


def _with_text_bins(ref: pd.DataFrame) -> pd.DataFrame:
    """scanpy 1.11 labels mean bins with Interval categories; scanpy 1.12 and scsnake with their text."""
    if SCANPY_1_12 or "mean_bin" not in ref:
        return ref
    bins = ref["mean_bin"]
    return ref.assign(mean_bin=bins.cat.rename_categories(bins.cat.categories.astype("string")))


def _assert_same_hvg(ours: pd.DataFrame, ref: pd.DataFrame) -> None:
    ref = _with_text_bins(ref)
    assert list(ours.columns) == list(ref.columns)
    np.testing.assert_array_equal(ours["highly_variable"].to_numpy(), ref["highly_variable"].to_numpy())
    for col in ref.columns:
        expected, got = ref[col].to_numpy(), ours[col].to_numpy()
        assert got.dtype == expected.dtype, col
        if expected.dtype.kind == "f":
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=0, err_msg=col)
        else:
            np.testing.assert_array_equal(got, expected, err_msg=col)


def _run_both(adata: ad.AnnData, **kwargs: object) -> tuple[ad.AnnData, ad.AnnData]:
    ref, ours = adata.copy(), adata.copy()
    sc.pp.highly_variable_genes(ref, **kwargs)
    pp.highly_variable_genes(ours, **kwargs)
    assert ours.uns["hvg"] == ref.uns["hvg"]
    return ours, ref


@pytest.mark.parametrize("data", ["mouse", "small"])
@pytest.mark.parametrize("flavor", ["seurat", "cell_ranger"])
@pytest.mark.parametrize("batch_key", [None, "batch"])
@pytest.mark.parametrize("n_top_genes", [None, 50])
def test_dispersion_flavors(
    datasets: dict, data: str, flavor: str, batch_key: str | None, n_top_genes: int | None
) -> None:
    name = (
        "mouse_expressed_log"
        if (data, flavor, batch_key) == ("mouse", "cell_ranger", None)
        else f"{data}_log"
    )
    ours, ref = _run_both(datasets[name], flavor=flavor, batch_key=batch_key, n_top_genes=n_top_genes)
    _assert_same_hvg(ours.var, ref.var)


@pytest.mark.skipif(not SCANPY_1_12, reason="filter_unexpressed_genes is new in scanpy 1.12")
@pytest.mark.parametrize("flavor", ["seurat", "cell_ranger"])
@pytest.mark.parametrize("n_top_genes", [None, 50])
@pytest.mark.parametrize("inplace", [True, False])
def test_filter_unexpressed_genes(
    datasets: dict, flavor: str, n_top_genes: int | None, inplace: bool
) -> None:
    data = datasets["mouse_log"]  # mouse10k has genes without counts
    assert (np.asarray((data.X > 0).sum(axis=0)).ravel() == 0).any()
    kwargs = {"flavor": flavor, "n_top_genes": n_top_genes, "filter_unexpressed_genes": True}
    if inplace:
        ours, ref = _run_both(data, **kwargs)
        _assert_same_hvg(ours.var, ref.var)
    else:
        got = pp.highly_variable_genes(data, inplace=False, **kwargs)
        _assert_same_hvg(got, sc.pp.highly_variable_genes(data, inplace=False, **kwargs))


@pytest.fixture
def exact_batch_moments(monkeypatch: pytest.MonkeyPatch) -> None:
    """On scanpy ≥ 1.12.2, its batched ``seurat_v3`` with each batch's exact mean and variance.

    A documented difference (README, "Differences from scanpy"): scanpy 1.12 takes the
    per-batch moments from ``get.aggregate``, which adds up cells by Welford's update since
    1.12.2 (scverse/scanpy#4147). Genes with equal count sums then get means an ulp or two
    apart; that splits ties in the loess predictor (log10 mean), which moves the cells of
    dloess' k-d tree and the neighbour sets: on mouse10k ``variances_norm`` moves by up to
    5e-4 and 2-6 of 200 selected genes change. scsnake divides exact sums, as scanpy 1.11 and
    scanpy 1.12 without ``batch_key`` do. Here scanpy's batched path gets the moments its
    unbatched path computes, and everything else it does is compared at full tolerance.
    """
    if not scanpy_at_least("1.12.2"):
        return
    from fast_array_utils import stats  # scanpy 1.12's own mean/variance (a scanpy dependency)

    module = importlib.import_module("scanpy.preprocessing._highly_variable_genes")
    aggregate = module.aggregate

    def aggregate_exact(adata: ad.AnnData, by: str, func: list[str], **kwargs: object) -> ad.AnnData:
        out = aggregate(adata, by=by, func=func, **kwargs)
        groups = adata.obs[by].to_numpy()
        for row, group in enumerate(out.obs[by]):
            mean, var = stats.mean_var(adata.X[groups == group], axis=0, correction=1)
            out.layers["mean"][row], out.layers["var"][row] = mean, var
        return out

    monkeypatch.setattr(module, "aggregate", aggregate_exact)


@pytest.mark.parametrize("data", ["mouse", "small"])
@pytest.mark.parametrize("flavor", ["seurat_v3", "seurat_v3_paper"])
@pytest.mark.parametrize("batch_key", [None, "batch"])
@pytest.mark.parametrize("n_top_genes", [None, 50])
@pytest.mark.usefixtures("exact_batch_moments")
def test_seurat_v3_flavors(
    datasets: dict, data: str, flavor: str, batch_key: str | None, n_top_genes: int | None
) -> None:
    ours, ref = _run_both(datasets[data], flavor=flavor, batch_key=batch_key, n_top_genes=n_top_genes)
    _assert_same_hvg(ours.var, ref.var)


@pytest.mark.parametrize("fmt", ["dense", "csc"])
@pytest.mark.parametrize("flavor", ["seurat", "cell_ranger", "seurat_v3", "seurat_v3_paper"])
@pytest.mark.usefixtures("exact_batch_moments")
def test_formats_and_returned_frame(datasets: dict, fmt: str, flavor: str) -> None:
    data = _as_format(datasets["mouse" if flavor.startswith("seurat_v3") else "mouse_log"], fmt)
    kwargs = {"flavor": flavor, "n_top_genes": 200, "batch_key": "batch", "inplace": False}
    _assert_same_hvg(pp.highly_variable_genes(data, **kwargs), sc.pp.highly_variable_genes(data, **kwargs))


@pytest.mark.parametrize("flavor", ["seurat", "seurat_v3"])
def test_returned_frame_single_batch_with_subset(datasets: dict, flavor: str) -> None:
    data = datasets["mouse" if flavor == "seurat_v3" else "mouse_log"]
    kwargs = {"flavor": flavor, "n_top_genes": 100, "subset": True, "inplace": False}
    ours, ref = pp.highly_variable_genes(data, **kwargs), sc.pp.highly_variable_genes(data, **kwargs)
    pd.testing.assert_index_equal(ours.index, ref.index)
    _assert_same_hvg(ours, ref)


def test_seurat_log_base(datasets: dict) -> None:
    data = datasets["mouse"].copy()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Some cells have zero counts", UserWarning)
        sc.pp.normalize_total(data)
    sc.pp.log1p(data, base=2)
    ours, ref = _run_both(data, n_top_genes=200, batch_key="batch")
    _assert_same_hvg(ours.var, ref.var)


def test_loess_matches_skmisc() -> None:
    loess = pytest.importorskip("skmisc.loess").loess
    rng = np.random.default_rng(1)
    for n, span, rounded in [(57, 0.3, False), (800, 0.3, False), (3000, 0.5, True), (400, 0.9, False)]:
        x = np.log10(rng.gamma(0.5, 2, n) + 1e-3)
        if rounded:  # many tied predictor values
            x = np.round(x, 2)
        y = 0.5 * x + 0.3 * x**2 + rng.normal(0, 0.3, n)
        model = loess(x, y, span=span, degree=2)
        model.fit()
        np.testing.assert_allclose(
            loess_fit(x, y, span=span), model.outputs.fitted_values, rtol=1e-9, atol=1e-12
        )


# --- PCA ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pca_input(datasets: dict) -> ad.AnnData:
    """Log-normalised mouse10k with scanpy's 500 highly variable genes (PCA's default mask)."""
    adata = datasets["mouse_log"].copy()
    sc.pp.highly_variable_genes(adata, n_top_genes=500)
    return adata


def _assert_pca_close(ours: ad.AnnData, ref: ad.AnnData, n_top: int = 20) -> None:
    assert ours.uns["pca"]["params"] == ref.uns["pca"]["params"]
    assert ours.obsm["X_pca"].shape == ref.obsm["X_pca"].shape
    assert ours.varm["PCs"].dtype == ref.varm["PCs"].dtype
    ratio, ref_ratio = ours.uns["pca"]["variance_ratio"][:n_top], ref.uns["pca"]["variance_ratio"][:n_top]
    np.testing.assert_allclose(ratio, ref_ratio, rtol=1e-4)
    for key, slot in (("PCs", "varm"), ("X_pca", "obsm")):
        a = getattr(ours, slot)[key][:, :n_top].astype(np.float64)
        b = getattr(ref, slot)[key][:, :n_top].astype(np.float64)
        cosine = (a * b).sum(axis=0) / np.linalg.norm(a, axis=0) / np.linalg.norm(b, axis=0)
        assert cosine.min() >= 0.999, (key, cosine)  # same direction and the same sign


@pytest.mark.parametrize("fmt", ["csr", pytest.param("dense", marks=pytest.mark.slow)])
@pytest.mark.parametrize(
    ("svd_solver", "zero_center"),
    [
        (None, True),
        ("auto", True),
        ("full", True),
        ("arpack", True),
        ("randomized", True),
        ("lobpcg", True),
        ("covariance_eigh", True),
        ("tsqr", True),
        (None, False),
        ("arpack", False),
        ("randomized", False),
        ("covariance_eigh", False),
    ],
)
def test_pca(pca_input: ad.AnnData, fmt: str, svd_solver: str | None, zero_center: bool) -> None:
    """Every solver scanpy takes, with its rules: one the case does not take is replaced by
    the case's default with a warning (scanpy: UserWarning, scsnake: AdjustedParamWarning),
    ``lobpcg`` on sparse data warns that it is deprecated (FutureWarning, both)."""
    data = _as_format(pca_input, fmt)
    kwargs = {"n_comps": 30, "svd_solver": svd_solver, "zero_center": zero_center, "copy": True}
    with warnings.catch_warnings(record=True) as ours_warned:
        warnings.simplefilter("always")
        ours = pp.pca(data, **kwargs)
    with warnings.catch_warnings(record=True) as ref_warned:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", "Exited ", UserWarning)  # scipy's LOBPCG at tolerance 0
        ref = sc.pp.pca(data, **kwargs)
    replaced = any("Ignoring svd_solver" in str(w.message) for w in ref_warned)
    assert replaced == any(issubclass(w.category, AdjustedParamWarning) for w in ours_warned)
    assert [w.category for w in ours_warned if w.category is FutureWarning] == [
        w.category for w in ref_warned if w.category is FutureWarning
    ]
    _assert_pca_close(ours, ref)


@pytest.mark.parametrize("fmt", ["dense", "csr"])
@pytest.mark.parametrize("offset", [0.0, 100.0])
def test_pca_arpack_ill_conditioned(fmt: str, offset: float) -> None:
    """ARPACK on the Gram matrix against scanpy's ARPACK SVD of the centred matrix, on data
    whose singular values span 6 orders of magnitude (12 for the Gram matrix) and with
    gene means far above their spread."""
    rng = np.random.default_rng(0)
    n_cells, n_genes = 2000, 60
    u, _ = np.linalg.qr(rng.normal(size=(n_cells, n_genes)))
    v, _ = np.linalg.qr(rng.normal(size=(n_genes, n_genes)))
    x = (u * np.logspace(3, -3, n_genes)) @ v.T + offset * rng.uniform(1, 2, n_genes)
    x = x.astype(np.float32)
    data = ad.AnnData(sparse.csr_matrix(x) if fmt == "csr" else x)
    kwargs = {"n_comps": 30, "svd_solver": "arpack", "copy": True}
    _assert_pca_close(pp.pca(data, **kwargs), sc.pp.pca(data, **kwargs))
