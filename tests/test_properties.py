"""Invariants of the core library, checked on many small matrices drawn by hypothesis.

Each property holds for any input of its kind: normalised totals, round trips, filter
thresholds, scaled moments, one result for dense, CSR and CSC input, and results that follow
a permutation of the cells. Matrices are tiny (≤ 40 × 25) so the file runs in well under a
minute. Profiles: ``scsnake`` (default; derandomised, so every run checks the same examples)
and ``scsnake-explore`` (random, more examples): ``SCSNAKE_HYPOTHESIS_PROFILE=scsnake-explore``.
"""

from __future__ import annotations

import os
import warnings
from contextlib import nullcontext
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import sparse

import scsnake as ss
from scsnake.errors import AdjustedParamWarning, DataWarning, InputDataError

settings.register_profile(
    "scsnake",
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,  # never write .hypothesis/ into the checkout
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "scsnake-explore",
    parent=settings.get_profile("scsnake"),
    max_examples=300,
    derandomize=False,
)
PROFILE = settings.get_profile(os.environ.get("SCSNAKE_HYPOTHESIS_PROFILE", "scsnake"))

FORMATS = ("dense", "csr", "csc")
COUNT_DTYPES = (np.float32, np.float64, np.int32, np.int64)


def as_format(x: np.ndarray, fmt: str) -> Any:
    if fmt == "dense":
        return x.copy()
    return sparse.csr_matrix(x) if fmt == "csr" else sparse.csc_matrix(x)


def dense(x: Any) -> np.ndarray:
    return x.toarray() if sparse.issparse(x) else np.asarray(x)


def adata_of(x: np.ndarray, fmt: str = "dense", **obs: Any) -> ad.AnnData:
    names = pd.DataFrame(obs, index=[f"c{i}" for i in range(x.shape[0])])
    return ad.AnnData(
        as_format(x, fmt), obs=names, var=pd.DataFrame(index=[f"g{j}" for j in range(x.shape[1])])
    )


@st.composite
def count_matrices(
    draw: st.DrawFn,
    min_obs: int = 1,
    max_obs: int = 30,
    min_vars: int = 1,
    max_vars: int = 20,
    dtypes: tuple[type, ...] = COUNT_DTYPES,
) -> np.ndarray:
    """Non-negative integer counts, sparse-ish, with the occasional all-zero cell or gene."""
    shape = draw(st.tuples(st.integers(min_obs, max_obs), st.integers(min_vars, max_vars)))
    dtype = draw(st.sampled_from(dtypes))
    values = st.one_of(st.just(0), st.integers(0, 5), st.integers(0, 500))
    return draw(hnp.arrays(np.int64, shape, elements=values)).astype(dtype)


@st.composite
def log_data(
    draw: st.DrawFn, min_obs: int = 4, max_obs: int = 30, min_vars: int = 2, max_vars: int = 20
) -> np.ndarray:
    """log1p of normalised counts (float32), the input of scale, HVG and marker tests."""
    counts = draw(count_matrices(min_obs, max_obs, min_vars, max_vars, dtypes=(np.float64,)))
    totals = counts.sum(axis=1, keepdims=True)
    return np.log1p(np.divide(counts * 100, totals, out=np.zeros_like(counts), where=totals > 0)).astype(
        np.float32
    )


def gaussian(seed: int, n_obs: int, n_vars: int) -> np.ndarray:
    """Continuous data (no distance ties) with well separated principal axes."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n_obs, n_vars)) * 2.0 ** -np.arange(n_vars)


def expect_zero_cells(x: np.ndarray) -> Any:
    """``pytest.warns(DataWarning)`` if some cell has no counts, else nothing may warn."""
    return pytest.warns(DataWarning, match="zero counts") if (x.sum(axis=1) == 0).any() else nullcontext()


# --- normalize_total ---------------------------------------------------------------------


@PROFILE
@given(
    x=count_matrices(),
    fmt=st.sampled_from(FORMATS),
    target_sum=st.one_of(st.none(), st.sampled_from([1.0, 1e4]), st.floats(1e-3, 1e6)),
)
def test_normalize_total_sums_to_target(x: np.ndarray, fmt: str, target_sum: float | None) -> None:
    adata = adata_of(x, fmt)
    totals = x.sum(axis=1, dtype=np.float64)
    positive = totals > 0
    if target_sum is None and not positive.any():
        with pytest.raises(InputDataError, match="every cell has zero counts"):
            ss.pp.normalize_total(adata)
        return
    with expect_zero_cells(x):
        ss.pp.normalize_total(adata, target_sum=target_sum, key_added="factor")
    target = np.median(totals[positive]) if target_sum is None else target_sum
    out = dense(adata.X).astype(np.float64)
    np.testing.assert_allclose(out[positive].sum(axis=1), target, rtol=1e-5)
    assert not out[~positive].any()  # cells without counts stay zero
    np.testing.assert_allclose(adata.obs["factor"], totals / target, rtol=1e-6)
    assert sparse.issparse(adata.X) == (fmt != "dense")


@PROFILE
@given(x=count_matrices(min_vars=2), fmt=st.sampled_from(FORMATS), max_fraction=st.floats(0.05, 1.0))
def test_normalize_total_excluding_highly_expressed_sums_to_target(
    x: np.ndarray, fmt: str, max_fraction: float
) -> None:
    adata = adata_of(x, fmt)
    x64 = x.astype(np.float64)
    totals = x64.sum(axis=1, keepdims=True)
    high = (x64 > max_fraction * totals).any(axis=0)
    kept_totals = x64[:, ~high].sum(axis=1)
    with expect_zero_cells(x[:, ~high]):
        ss.pp.normalize_total(
            adata, target_sum=10.0, exclude_highly_expressed=True, max_fraction=max_fraction
        )
    out = dense(adata.X).astype(np.float64)
    scaled = kept_totals > 0
    np.testing.assert_allclose(out[scaled][:, ~high].sum(axis=1), 10.0, rtol=1e-5)
    np.testing.assert_array_equal(out[~scaled], x64[~scaled])  # left unscaled


# --- log1p -------------------------------------------------------------------------------


@PROFILE
@given(
    x=hnp.arrays(
        np.float32, st.tuples(st.integers(1, 20), st.integers(1, 15)), elements=st.floats(0, 1e4, width=32)
    ),
    fmt=st.sampled_from(FORMATS),
    base=st.sampled_from([None, 2.0, np.e, 10.0]),
)
def test_log1p_expm1_round_trip(x: np.ndarray, fmt: str, base: float | None) -> None:
    adata = adata_of(x, fmt)
    ss.pp.log1p(adata, base=base)
    y = dense(adata.X).astype(np.float64)
    back = np.expm1(y if base is None else y * np.log(base))
    np.testing.assert_allclose(back, x, rtol=2e-6, atol=1e-6)
    assert adata.uns["log1p"] == {"base": base}
    assert sparse.issparse(adata.X) == (fmt != "dense")


# --- filter_cells / filter_genes ---------------------------------------------------------


@PROFILE
@given(
    x=count_matrices(dtypes=(np.int64, np.float32)),
    fmt=st.sampled_from(FORMATS),
    axis=st.sampled_from(["cells", "genes"]),
    criterion=st.sampled_from(["min_counts", "max_counts", "min_n", "max_n"]),
    threshold=st.integers(0, 600),
)
def test_filters_keep_exactly_the_passing_cells_and_genes(
    x: np.ndarray, fmt: str, axis: str, criterion: str, threshold: int
) -> None:
    along = 1 if axis == "cells" else 0
    by_counts = criterion.endswith("counts")
    values = x.sum(axis=along, dtype=np.float64) if by_counts else (x > 0).sum(axis=along)
    keep = values >= threshold if criterion.startswith("min") else values <= threshold
    name = criterion if by_counts else criterion.replace("_n", "_genes" if axis == "cells" else "_cells")
    func = ss.pp.filter_cells if axis == "cells" else ss.pp.filter_genes
    adata = adata_of(x, fmt)
    if not keep.any():
        with pytest.raises(InputDataError, match=f"{name}={threshold}.*removed all"):
            func(adata, **{name: threshold})
        assert adata.shape == x.shape  # nothing was changed
        return
    mask, numbers = func(adata, **{name: threshold}, inplace=False)
    np.testing.assert_array_equal(mask, keep)
    np.testing.assert_array_equal(numbers, values)
    func(adata, **{name: threshold})
    names = adata.obs_names if axis == "cells" else adata.var_names
    expected = [f"{'c' if axis == 'cells' else 'g'}{i}" for i in np.flatnonzero(keep)]
    assert names.tolist() == expected
    np.testing.assert_array_equal(dense(adata.X), x[keep] if axis == "cells" else x[:, keep])


# --- scale -------------------------------------------------------------------------------


@PROFILE
@given(x=log_data(min_obs=2), fmt=st.sampled_from(FORMATS))
def test_scale_gives_zero_mean_and_unit_variance(x: np.ndarray, fmt: str) -> None:
    adata = adata_of(x, fmt)
    ss.pp.scale(adata)
    x64 = x.astype(np.float64)
    mean, std = x64.mean(axis=0), x64.std(axis=0, ddof=1)
    np.testing.assert_allclose(adata.var["mean"], mean, rtol=1e-6, atol=1e-7)
    varying = std > 1e-6
    np.testing.assert_allclose(adata.var["std"][varying], std[varying], rtol=1e-5)
    out = dense(adata.X).astype(np.float64)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(out[:, varying].std(axis=0, ddof=1), 1, rtol=1e-4)
    np.testing.assert_allclose(out[:, ~varying], 0, atol=1e-5)  # constant genes become 0
    # no clipping without max_value: the scaled values are exactly the z-scores
    z = np.divide(x64 - mean, std, out=np.zeros_like(x64), where=varying)
    np.testing.assert_allclose(out, z, rtol=1e-4, atol=1e-5)


@PROFILE
@given(x=log_data(min_obs=2), fmt=st.sampled_from(["csr", "csc"]))
def test_scale_without_centring_keeps_sparse_and_divides_by_std(x: np.ndarray, fmt: str) -> None:
    adata = adata_of(x, fmt)
    ss.pp.scale(adata, zero_center=False)
    assert sparse.issparse(adata.X) and adata.X.format == fmt
    np.testing.assert_allclose(dense(adata.X) * adata.var["std"].to_numpy(), x, rtol=1e-5, atol=1e-6)


# --- dense, CSR and CSC agree ------------------------------------------------------------


def _run_per_format(x: np.ndarray, func: Any, **obs: Any) -> dict[str, ad.AnnData]:
    out = {}
    for fmt in FORMATS:
        adata = adata_of(x, fmt, **obs)
        func(adata)
        out[fmt] = adata
    return out


@PROFILE
@given(x=count_matrices(min_obs=2, dtypes=(np.float32, np.int64)))
def test_formats_agree_normalize_total_and_log1p(x: np.ndarray) -> None:
    def steps(adata: ad.AnnData) -> None:
        ss.pp.normalize_total(adata, target_sum=1e4)
        ss.pp.log1p(adata)

    assume((x.sum(axis=1) > 0).all())
    results = _run_per_format(x, steps)
    for fmt in ("csr", "csc"):
        np.testing.assert_allclose(dense(results[fmt].X), results["dense"].X, rtol=1e-6, atol=1e-7)
        assert results[fmt].X.dtype == results["dense"].X.dtype


@PROFILE
@given(x=count_matrices(dtypes=(np.float32, np.int64)), data=st.data())
def test_formats_agree_qc_metrics(x: np.ndarray, data: st.DataObject) -> None:
    mt = data.draw(hnp.arrays(bool, x.shape[1]))
    top = sorted(data.draw(st.sets(st.integers(1, x.shape[1]), min_size=1, max_size=3)))
    frames = {}
    for fmt in FORMATS:
        adata = adata_of(x, fmt)
        adata.var["mt"] = mt
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            frames[fmt] = ss.pp.calculate_qc_metrics(adata, qc_vars="mt", percent_top=top)
    for fmt in ("csr", "csc"):
        for got, want in zip(frames[fmt], frames["dense"], strict=True):
            pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-6)
    obs = frames["dense"][0]
    np.testing.assert_allclose(obs["total_counts"], x.sum(axis=1), rtol=1e-6)
    np.testing.assert_array_equal(obs["n_genes_by_counts"], (x > 0).sum(axis=1))


@PROFILE
@given(x=log_data(min_obs=2), zero_center=st.booleans(), max_value=st.sampled_from([None, 1.0, 3.0]))
def test_formats_agree_scale(x: np.ndarray, zero_center: bool, max_value: float | None) -> None:
    results = _run_per_format(x, lambda a: ss.pp.scale(a, zero_center=zero_center, max_value=max_value))
    for fmt in ("csr", "csc"):
        np.testing.assert_allclose(dense(results[fmt].X), results["dense"].X, rtol=1e-5, atol=1e-6)
        pd.testing.assert_frame_equal(results[fmt].var, results["dense"].var, check_exact=False, rtol=1e-6)
    if max_value is not None:
        out = results["dense"].X
        assert out.max() <= max_value and (not zero_center or out.min() >= -max_value)


@PROFILE
@given(
    x=log_data(min_obs=3, min_vars=4, max_vars=25),
    n_top=st.integers(1, 6),
    flavor=st.sampled_from(["seurat", "cell_ranger"]),
)
def test_formats_agree_highly_variable_genes_float64(x: np.ndarray, n_top: int, flavor: str) -> None:
    # float64 values are squared and summed the same way in every layout: identical results
    x = x.astype(np.float64)
    with warnings.catch_warnings():  # fewer genes with a dispersion than n_top: all of them, with a warning
        warnings.simplefilter("ignore", AdjustedParamWarning)
        results = _run_per_format(
            x, lambda a: ss.pp.highly_variable_genes(a, n_top_genes=n_top, n_bins=5, flavor=flavor)
        )
    for fmt in ("csr", "csc"):
        pd.testing.assert_frame_equal(results[fmt].var, results["dense"].var, check_exact=True)


@PROFILE
@given(x=log_data(min_obs=3, min_vars=4, max_vars=25), n_top=st.integers(1, 6))
def test_formats_agree_highly_variable_genes_seurat_float32(x: np.ndarray, n_top: int) -> None:
    # Like scanpy, float32 dense/CSR data are squared in float32 and CSC data in float64, so
    # formats agree to rounding. Left out: near-constant genes (their variance is within that
    # rounding of zero; constant genes are fine) and equal dispersions (a bin whose genes all
    # have the same dispersion normalises them by a zero deviation: ±inf or NaN by rounding).
    e = np.expm1(x.astype(np.float64))
    mean_sq = (e**2).mean(axis=0)
    rel_var = np.divide(e.var(axis=0), mean_sq, out=np.zeros_like(mean_sq), where=mean_sq > 0)
    assume(((rel_var == 0) | (rel_var > 1e-3)).all())
    disp = np.sort(e.var(axis=0, ddof=1)[rel_var > 0] / e.mean(axis=0)[rel_var > 0])
    assume((np.diff(disp) > 1e-6 * disp[1:]).all())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AdjustedParamWarning)
        results = _run_per_format(x, lambda a: ss.pp.highly_variable_genes(a, n_top_genes=n_top, n_bins=5))
    want = results["dense"].var
    for fmt in ("csr", "csc"):
        got = results[fmt].var
        for col in ("means", "dispersions"):
            np.testing.assert_allclose(got[col], want[col], rtol=1e-4, atol=1e-6, equal_nan=True)
        norm = np.sort(want["dispersions_norm"].dropna().to_numpy(np.float64))[::-1]
        with np.errstate(invalid="ignore"):
            if n_top < norm.size and not norm[n_top - 1] - norm[n_top] > 1e-2:
                continue  # a near tie at the cut: either gene may be picked
        assert got["highly_variable"].tolist() == want["highly_variable"].tolist()


def _not_counts(x: np.ndarray) -> None:
    """Skip all-zero data: rank_genes_groups warns that integers look like raw counts."""
    assume(not np.array_equal(x, np.round(x)))


def _groups(data: st.DataObject, n_obs: int) -> pd.Categorical:
    """2–4 groups of at least 2 cells each."""
    n_groups = data.draw(st.integers(2, min(4, n_obs // 2)))
    labels = np.concatenate(
        [
            np.repeat(np.arange(n_groups), 2),
            data.draw(hnp.arrays(np.int64, n_obs - 2 * n_groups, elements=st.integers(0, n_groups - 1))),
        ]
    )
    return pd.Categorical([f"k{g}" for g in data.draw(st.permutations(labels.tolist()))])


def _scores(adata: ad.AnnData) -> dict[str, pd.Series]:
    """Score per gene of every group (gene order, so equal scores may be stored in any order)."""
    result = adata.uns["rank_genes_groups"]
    return {
        g: pd.Series(result["scores"][g], index=result["names"][g]).sort_index()
        for g in result["names"].dtype.names
    }


def _assert_same_scores(got: dict[str, pd.Series], want: dict[str, pd.Series]) -> None:
    assert got.keys() == want.keys()
    for g in want:
        pd.testing.assert_index_equal(got[g].index, want[g].index)
        np.testing.assert_allclose(got[g].to_numpy(), want[g].to_numpy(), rtol=1e-4, atol=1e-5)


@PROFILE
@given(x=log_data(min_obs=4), data=st.data())
def test_formats_agree_rank_genes_groups_t_test(x: np.ndarray, data: st.DataObject) -> None:
    _not_counts(x)
    groups = _groups(data, x.shape[0])
    results = _run_per_format(x, lambda a: ss.tl.rank_genes_groups(a, "k", method="t-test"), k=groups)
    for fmt in ("csr", "csc"):
        _assert_same_scores(_scores(results[fmt]), _scores(results["dense"]))


# --- permuting the cells permutes the results --------------------------------------------


@PROFILE
@given(
    x=count_matrices(min_obs=2, dtypes=(np.float32, np.int64)), fmt=st.sampled_from(FORMATS), data=st.data()
)
def test_permuted_cells_qc_metrics_and_normalize_total(x: np.ndarray, fmt: str, data: st.DataObject) -> None:
    perm = np.array(data.draw(st.permutations(range(x.shape[0]))))
    assume((x.sum(axis=1) > 0).all())
    a, b = adata_of(x, fmt), adata_of(x[perm], fmt)
    obs_a, var_a = ss.pp.calculate_qc_metrics(a, percent_top=[1])
    obs_b, var_b = ss.pp.calculate_qc_metrics(b, percent_top=[1])
    pd.testing.assert_frame_equal(
        obs_b.reset_index(drop=True), obs_a.iloc[perm].reset_index(drop=True), check_exact=False, rtol=1e-6
    )
    pd.testing.assert_frame_equal(var_b, var_a, check_exact=False, rtol=1e-6)
    ss.pp.normalize_total(a)  # median target: the same for any cell order
    ss.pp.normalize_total(b)
    np.testing.assert_allclose(dense(b.X), dense(a.X)[perm], rtol=1e-6)


@PROFILE
@given(
    seed=st.integers(0, 2**32 - 1),
    n_obs=st.integers(6, 40),
    n_vars=st.integers(3, 10),
    fmt=st.sampled_from(FORMATS),
    data=st.data(),
)
def test_permuted_cells_permute_pca_scores(
    seed: int, n_obs: int, n_vars: int, fmt: str, data: st.DataObject
) -> None:
    x = gaussian(seed, n_obs, n_vars)
    perm = np.array(data.draw(st.permutations(range(n_obs))))
    n_comps = min(n_obs, n_vars) - 1
    a, b = adata_of(x, fmt), adata_of(x[perm], fmt)
    for adata in (a, b):
        ss.pp.pca(adata, n_comps=n_comps, svd_solver="covariance_eigh", dtype="float64")
    variance = a.uns["pca"]["variance"]
    np.testing.assert_allclose(b.uns["pca"]["variance"], variance, rtol=1e-8)
    # components are defined up to sign, and only where the eigenvalue is well separated
    gaps = np.abs(np.diff(np.r_[np.inf, variance, -np.inf]))
    separated = np.minimum(gaps[:-1], gaps[1:]) > 1e-6 * variance.max()
    for k in np.flatnonzero(separated):
        got, want = b.obsm["X_pca"][:, k], a.obsm["X_pca"][perm, k]
        sign = np.sign(got @ want) or 1.0
        np.testing.assert_allclose(got, sign * want, rtol=1e-6, atol=1e-9 * np.abs(want).max())


@PROFILE
@given(
    seed=st.integers(0, 2**32 - 1),
    n_obs=st.integers(3, 40),
    n_vars=st.integers(1, 6),
    n_neighbors=st.integers(2, 8),
    method=st.sampled_from(["umap", "gauss"]),
    data=st.data(),
)
def test_permuted_cells_permute_the_neighbour_graph(
    seed: int, n_obs: int, n_vars: int, n_neighbors: int, method: str, data: st.DataObject
) -> None:
    assume(n_neighbors <= n_obs)
    x = gaussian(seed, n_obs, n_vars)
    perm = np.array(data.draw(st.permutations(range(n_obs))))
    a, b = adata_of(x), adata_of(x[perm])
    for adata in (a, b):
        ss.pp.neighbors(adata, n_neighbors=n_neighbors, use_rep="X", transformer="sklearn", method=method)
    for key in ("distances", "connectivities"):
        want = a.obsp[key][perm][:, perm].toarray()
        np.testing.assert_allclose(b.obsp[key].toarray(), want, rtol=1e-6, atol=1e-12, err_msg=key)


@PROFILE
@given(
    x=log_data(min_obs=4),
    method=st.sampled_from(["t-test", "wilcoxon"]),
    fmt=st.sampled_from(FORMATS),
    data=st.data(),
)
def test_permuted_cells_leave_rank_genes_groups_unchanged(
    x: np.ndarray, method: str, fmt: str, data: st.DataObject
) -> None:
    _not_counts(x)
    groups = _groups(data, x.shape[0])
    perm = np.array(data.draw(st.permutations(range(x.shape[0]))))
    a, b = adata_of(x, fmt, k=groups), adata_of(x[perm], fmt, k=groups[perm])
    for adata in (a, b):
        ss.tl.rank_genes_groups(adata, "k", method=method)
    _assert_same_scores(_scores(b), _scores(a))
