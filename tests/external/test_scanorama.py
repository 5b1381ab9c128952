"""external.pp.scanorama_integrate: equal to scanpy.external's on contiguous batches, the same per
cell on interleaved batches (which scanpy refuses), deterministic, and bad input refused."""

from __future__ import annotations

import sys

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import scsnake as ss
from scsnake.errors import DataWarning, InputDataError, MissingKeyError, ParamError

pytest.importorskip("scanorama")


@pytest.fixture(scope="module")
def batched() -> ad.AnnData:
    """900 cells, 4 types, 3 interleaved batches with a strong effect; 30 PCs (float32)."""
    adata = ss.datasets.synthetic(n_cells=900, n_genes=800, n_types=4, n_batches=3, batch_effect=0.7, seed=0)
    ss.pp.normalize_total(adata)
    ss.pp.log1p(adata)
    ss.pp.highly_variable_genes(adata, n_top_genes=500, subset=True)
    ss.pp.scale(adata, max_value=10)
    ss.pp.pca(adata, n_comps=30)
    return adata


@pytest.fixture(scope="module")
def contiguous(batched: ad.AnnData) -> ad.AnnData:
    """The same cells grouped by batch (batch2 first), as scanpy.external needs them."""
    order = np.argsort(
        batched.obs["batch"].map({"batch2": 0, "batch0": 1, "batch1": 2}).to_numpy(), kind="stable"
    )
    return batched[order].copy()


def scanpy_result(adata: ad.AnnData, key: str, **kwargs: object) -> np.ndarray:
    sce = pytest.importorskip("scanpy.external")
    adata = adata.copy()
    sce.pp.scanorama_integrate(adata, key, verbose=0, **kwargs)
    return adata.obsm["X_scanorama"]


@pytest.mark.slow
@pytest.mark.parity
@pytest.mark.parametrize(
    "kwargs", [{}, {"approx": False}, {"knn": 10, "sigma": 5.0, "alpha": 0.2, "batch_size": 100}]
)
def test_equals_scanpy_external(contiguous: ad.AnnData, kwargs: dict[str, object]) -> None:
    theirs = scanpy_result(contiguous, "batch", **kwargs)
    adata = contiguous.copy()
    ss.external.pp.scanorama_integrate(adata, "batch", **kwargs)
    ours = adata.obsm["X_scanorama"]
    assert ours.shape == (900, 30) and ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours, theirs)  # the same call on the same blocks: bit for bit


@pytest.mark.slow
@pytest.mark.parity
def test_interleaved_batches_give_each_cell_its_contiguous_result(batched: ad.AnnData) -> None:
    """scanpy refuses interleaved batches; grouped in order of first appearance, the cells get scanpy's values."""
    with pytest.raises(ValueError, match="non-contiguous"):
        scanpy_result(batched, "batch")
    first_seen = pd.unique(batched.obs["batch"].to_numpy())
    order = np.argsort(pd.Categorical(batched.obs["batch"], categories=first_seen).codes, kind="stable")
    theirs = scanpy_result(batched[order].copy(), "batch")
    adata = batched.copy()
    ss.external.pp.scanorama_integrate(adata, "batch")
    np.testing.assert_array_equal(adata.obsm["X_scanorama"][order], theirs)
    np.testing.assert_array_equal(adata.obsm["X_pca"], batched.obsm["X_pca"])  # the input is untouched


@pytest.mark.slow
def test_mixes_batches_and_is_deterministic(batched: ad.AnnData) -> None:
    first, second = batched.copy(), batched.copy()
    ss.external.pp.scanorama_integrate(first, "batch")
    ss.external.pp.scanorama_integrate(second, "batch")
    np.testing.assert_array_equal(first.obsm["X_scanorama"], second.obsm["X_scanorama"])
    # measured (seed 0): median iLISI 1.006 -> 1.93 (3 batches); cell types stay apart (cLISI 1.38 -> 1.003)
    before = np.median(ss.metrics.lisi(first, "batch", use_rep="X_pca"))
    after = np.median(ss.metrics.lisi(first, "batch", use_rep="X_scanorama"))
    assert before < 1.1 and after > 1.7
    assert np.median(ss.metrics.lisi(first, "truth", use_rep="X_scanorama")) < 1.1


def test_params_model_call_and_view(batched: ad.AnnData) -> None:
    """The custom-stage call shape: fn(adata, **Params(**params).model_dump()) changes adata in place."""
    params = ss.external.pp.ScanoramaIntegrateParams(key="batch", adjusted_basis="X_sc", knn="10")
    view = batched[:600]
    assert ss.external.pp.scanorama_integrate(view, **params.model_dump()) is None
    assert not view.is_view and view.obsm["X_sc"].shape == (600, 30)
    assert "X_sc" not in batched.obsm


def test_logs_scanorama_output(batched: ad.AnnData, caplog: pytest.LogCaptureFixture) -> None:
    adata = batched[:300].copy()
    with caplog.at_level("INFO", logger="scsnake.external.pp._scanorama"):
        ss.external.pp.scanorama_integrate(adata, "batch", verbose=1)
    assert "scanorama: Processing datasets" in caplog.text


def test_scanorama_stderr_warning_becomes_a_data_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scanorama writes 'WARNING: Oversmoothing detected…' to stderr and leaves that batch uncorrected."""
    scanorama = pytest.importorskip("scanorama")

    def oversmoothed(datasets: list[np.ndarray], **kwargs: object) -> list[np.ndarray]:
        sys.stderr.write(
            "WARNING: Oversmoothing detected, refusing to batch correct, consider lowering sigma value.\n"
        )
        return datasets

    monkeypatch.setattr(scanorama, "assemble", oversmoothed)
    adata = small()
    with pytest.warns(DataWarning, match=r"scanorama: Oversmoothing detected, refusing to batch correct"):
        ss.external.pp.scanorama_integrate(adata, "batch", knn=3)
    np.testing.assert_array_equal(adata.obsm["X_scanorama"], adata.obsm["X_pca"])


def small(n: int = 40) -> ad.AnnData:
    rng = np.random.default_rng(0)
    obs = pd.DataFrame({"batch": np.repeat(["a", "b"], [n - 5, 5])}, index=[f"c{i}" for i in range(n)])
    adata = ad.AnnData(obs=obs)
    adata.obsm["X_pca"] = rng.normal(size=(n, 4))
    return adata


@pytest.mark.parametrize(
    ("change", "kwargs", "error", "match"),
    [
        (
            None,
            {"key": "batchh"},
            MissingKeyError,
            r"key 'batchh' not found in adata.obs \(close matches: batch\)",
        ),
        (None, {"basis": "X_umap"}, MissingKeyError, r"obsm\['X_umap'\] not found.*run pca first"),
        ("nan", {}, InputDataError, r"1 cell\(s\) have no batch in obs\['batch'\]"),
        ("single", {}, InputDataError, r"single batch \('a'\); there is nothing to integrate"),
        ("inf", {}, InputDataError, r"obsm\['X_pca'\] contains 1 NaN or infinite"),
        (
            None,
            {"approx": False},
            ParamError,
            r"knn=20 with approx=False needs at least 20 cells in batch 'b' \(it has 5\)",
        ),
        (None, {"knn": 0}, ParamError, r"scanorama_integrate: knn: Input should be greater than 0"),
        (None, {"alpha": 2}, ParamError, r"alpha: Input should be less than or equal to 1"),
        (None, {"view_match": True}, ParamError, r"unknown keyword\(s\) view_match .*only verbose"),
    ],
)
def test_bad_input(change: str | None, kwargs: dict[str, object], error: type[Exception], match: str) -> None:
    adata = small()
    if change == "nan":
        adata.obs.loc["c0", "batch"] = np.nan
    elif change == "single":
        adata.obs["batch"] = "a"
    elif change == "inf":
        adata.obsm["X_pca"][3, 1] = np.inf
    kwargs = {"key": "batch", **kwargs}
    with pytest.raises(error, match=match):
        ss.external.pp.scanorama_integrate(adata, **kwargs)
    assert "X_scanorama" not in adata.obsm
