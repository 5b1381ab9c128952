"""Pearson residuals, their HVG selection and Scrublet against scanpy 1.11.5 on the same data.

Residuals and residual-variance HVGs: within rtol 1e-5 and identical selections (in
practice bit-identical), with and without ``batch_key``, on 2,000 mouse10k cells and on
``make_counts``. Scrublet: the same simulated parents for a seed and doublet scores with
Spearman ≥ 0.99 (in practice identical) on mouse10k; on ``datasets.synthetic`` with 10%
doublets the ROC AUC against ``obs['is_doublet']`` is at least scanpy's − 0.01.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse, stats

from factories import make_counts
from scanpy_reference import SCANPY_1_12
from scsnake import pp
from scsnake.datasets import synthetic
from scsnake.errors import DataWarning
from scsnake.pp._pearson_residuals import highly_variable_genes_pearson_residuals
from scsnake.pp._scrublet_kernels import threshold_minimum

sc = pytest.importorskip("scanpy")

pytestmark = pytest.mark.parity


def _reference(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run scanpy quietly: it warns about NaN residuals and zero-count cells in its own way."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return func(*args, **kwargs)


@pytest.fixture(scope="module")
def datasets(mouse10k: ad.AnnData) -> dict[str, ad.AnnData]:
    """2,000 real cells and a small int64 matrix, each with an unbalanced ``batch`` column."""
    mouse = mouse10k[:2000].copy()
    small = make_counts(300, 200, seed=4, fmt="dense", dtype=np.int64)
    for adata in (mouse, small):
        rng = np.random.default_rng(0)
        adata.obs["batch"] = pd.Categorical(rng.choice(["b", "a", "c"], adata.n_obs, p=[0.5, 0.3, 0.2]))
    return {"mouse": mouse, "small": small}


def _as_format(adata: ad.AnnData, fmt: str) -> ad.AnnData:
    adata = adata.copy()
    if fmt == "dense":
        adata.X = adata.X.toarray() if sparse.issparse(adata.X) else adata.X
    else:
        adata.X = getattr(sparse, f"{fmt}_matrix")(adata.X)
    return adata


@pytest.mark.parametrize("name", ["mouse", "small"])
@pytest.mark.parametrize("fmt", ["dense", "csr", "csc"])
@pytest.mark.parametrize("clip", [None, 4.0])
def test_residuals_match_scanpy(
    datasets: dict[str, ad.AnnData], name: str, fmt: str, clip: float | None
) -> None:
    adata = _as_format(datasets[name], fmt)
    ref = _reference(
        sc.experimental.pp.normalize_pearson_residuals, adata, theta=50, clip=clip, inplace=False
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # mouse10k has genes without counts: NaN
        ours = pp.normalize_pearson_residuals(adata, theta=50, clip=clip, inplace=False)
    np.testing.assert_allclose(ours["X"], ref["X"], rtol=1e-5, atol=0, equal_nan=True)
    assert {k: ours[k] for k in ("theta", "clip", "computed_on")} == {
        k: ref[k] for k in ("theta", "clip", "computed_on")
    }
    if clip is not None:  # scanpy's default clip (a float64 scalar) promotes float32 results to float64
        assert ours["X"].dtype == ref["X"].dtype


@pytest.mark.skipif(not SCANPY_1_12, reason="normalize_pearson_residuals(obsm=) is new in scanpy 1.12")
def test_residuals_of_obsm_match_scanpy(datasets: dict[str, ad.AnnData]) -> None:
    adata = datasets["small"].copy()
    adata.obsm["counts"] = np.asarray(adata.X, dtype=np.float32)[:, :50]
    ref = adata.copy()
    _reference(sc.experimental.pp.normalize_pearson_residuals, ref, theta=50, clip=4.0, obsm="counts")
    pp.normalize_pearson_residuals(adata, theta=50, clip=4.0, obsm="counts")  # clip given: see above
    np.testing.assert_allclose(adata.obsm["counts"], ref.obsm["counts"], rtol=1e-5, atol=0)
    assert adata.obsm["counts"].dtype == ref.obsm["counts"].dtype
    np.testing.assert_array_equal(adata.X, ref.X)  # X untouched
    assert adata.uns["pearson_residuals_normalization"] == ref.uns["pearson_residuals_normalization"]


def _assert_same_frame(ours: pd.DataFrame, ref: pd.DataFrame) -> None:
    assert list(ours.columns) == list(ref.columns)
    assert ours.index.equals(ref.index)
    np.testing.assert_array_equal(ours["highly_variable"], ref["highly_variable"])
    for col in ref.columns:
        expected, got = ref[col].to_numpy(), ours[col].to_numpy()
        assert got.dtype == expected.dtype, col
        if expected.dtype.kind == "f":
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=0, equal_nan=True, err_msg=col)
        else:
            np.testing.assert_array_equal(got, expected, err_msg=col)


@pytest.mark.parametrize("name", ["mouse", "small"])
@pytest.mark.parametrize("fmt", ["dense", "csr", "csc"])
@pytest.mark.parametrize("batch_key", [None, "batch"])
def test_hvg_matches_scanpy(
    datasets: dict[str, ad.AnnData], name: str, fmt: str, batch_key: str | None
) -> None:
    adata = _as_format(datasets[name], fmt)
    n_top = 200 if name == "mouse" else 40
    ref = _reference(
        sc.experimental.pp.highly_variable_genes, adata, n_top_genes=n_top, batch_key=batch_key, inplace=False
    )
    ours = highly_variable_genes_pearson_residuals(
        adata, n_top_genes=n_top, batch_key=batch_key, inplace=False
    )
    _assert_same_frame(ours, ref)


def test_hvg_inplace_matches_scanpy(datasets: dict[str, ad.AnnData]) -> None:
    ref, ours = datasets["mouse"].copy(), datasets["mouse"].copy()
    ref.layers["counts"] = ref.X
    ours.layers["counts"] = ours.X
    _reference(
        sc.experimental.pp.highly_variable_genes,
        ref,
        n_top_genes=300,
        batch_key="batch",
        theta=20,
        clip=10,
        layer="counts",
        subset=True,
    )
    highly_variable_genes_pearson_residuals(
        ours, n_top_genes=300, batch_key="batch", theta=20, clip=10, layer="counts", subset=True
    )
    _assert_same_frame(ours.var, ref.var)
    assert ours.uns["hvg"] == ref.uns["hvg"]


# --- scrublet ---------------------------------------------------------------------------


@pytest.mark.slow
def test_scrublet_matches_scanpy_on_mouse(datasets: dict[str, ad.AnnData]) -> None:
    pytest.importorskip("skimage")  # scanpy's automatic threshold
    ref, ours = datasets["mouse"].copy(), datasets["mouse"].copy()
    _reference(sc.pp.scrublet, ref, random_state=0)
    pp.scrublet(ours, random_state=0, verbose=False)
    ref_scores, our_scores = ref.obs["doublet_score"].to_numpy(), ours.obs["doublet_score"].to_numpy()
    # cells set aside by the gene filter: NaN in both
    np.testing.assert_array_equal(np.isnan(our_scores), np.isnan(ref_scores))
    kept = ~np.isnan(ref_scores)
    assert stats.spearmanr(our_scores[kept], ref_scores[kept]).statistic >= 0.99
    np.testing.assert_array_equal(
        ours.uns["scrublet"]["doublet_parents"], ref.uns["scrublet"]["doublet_parents"]
    )
    assert ours.uns["scrublet"]["parameters"] == ref.uns["scrublet"]["parameters"]
    sim_ref = ref.uns["scrublet"]["doublet_scores_sim"]
    assert stats.spearmanr(ours.uns["scrublet"]["doublet_scores_sim"], sim_ref).statistic >= 0.99
    # our threshold search reproduces skimage's on scanpy's own simulated scores
    assert threshold_minimum(sim_ref) == pytest.approx(ref.uns["scrublet"]["threshold"], rel=1e-12)
    assert ours.uns["scrublet"]["threshold"] == pytest.approx(ref.uns["scrublet"]["threshold"], abs=0.02)


@pytest.mark.slow
def test_scrublet_finds_doublets_as_well_as_scanpy() -> None:
    pytest.importorskip("skimage")
    from sklearn.metrics import roc_auc_score

    # 2,400 cells: cells + simulated doublets stay below 8,192 points, where scanpy's default
    # (pynndescent) kNN path fails with scipy's sparse arrays ('csr_array' has no 'getnnz')
    adata = synthetic(2400, 1000, doublet_rate=0.1, seed=0)
    ref, ours = adata.copy(), adata.copy()
    _reference(sc.pp.scrublet, ref, random_state=0)
    pp.scrublet(ours, random_state=0, verbose=False)
    truth = adata.obs["is_doublet"].to_numpy()
    auc_ref = roc_auc_score(truth, ref.obs["doublet_score"])
    auc_ours = roc_auc_score(truth, ours.obs["doublet_score"])
    assert auc_ours >= auc_ref - 0.01, f"ROC AUC: ours {auc_ours:.4f}, scanpy {auc_ref:.4f}"
    assert stats.spearmanr(ours.obs["doublet_score"], ref.obs["doublet_score"]).statistic >= 0.99


@pytest.mark.slow
def test_scrublet_batches_match_scanpy() -> None:
    pytest.importorskip("skimage")
    adata = synthetic(1200, 600, n_batches=2, doublet_rate=0.1, seed=2)
    ref, ours = adata.copy(), adata.copy()
    _reference(sc.pp.scrublet, ref, batch_key="batch", random_state=0)
    pp.scrublet(ours, batch_key="batch", random_state=0, verbose=False)
    assert ours.uns["scrublet"]["batched_by"] == ref.uns["scrublet"]["batched_by"] == "batch"
    assert list(ours.uns["scrublet"]["batches"]) == [str(b) for b in ref.uns["scrublet"]["batches"]]
    for batch, ref_uns in ref.uns["scrublet"]["batches"].items():
        np.testing.assert_array_equal(
            ours.uns["scrublet"]["batches"][str(batch)]["doublet_parents"], ref_uns["doublet_parents"]
        )
    ref_scores = ref.obs.loc[ours.obs_names, "doublet_score"].to_numpy()
    assert stats.spearmanr(ours.obs["doublet_score"], ref_scores).statistic >= 0.99
