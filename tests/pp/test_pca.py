"""pca: solvers against numpy's SVD, formats, dtypes, masks, stored keys, errors."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest
from scipy import sparse

from factories import make_counts
from scsnake import pp
from scsnake.errors import AdjustedParamWarning, InputDataError, MissingKeyError, ParamError

#: The solvers of centred sparse data (scanpy's rules; lobpcg, deprecated, has a test of its own).
SOLVERS = ["arpack", "covariance_eigh"]
#: The solvers of centred dense data.
DENSE_SOLVERS = ["full", "auto", "arpack", "randomized", "covariance_eigh"]


def _reference(x: np.ndarray, k: int, *, zero_center: bool = True) -> dict[str, np.ndarray]:
    """PCA / truncated SVD of a dense matrix with numpy, signs as scikit-learn sets them."""
    x = x.astype(np.float64)
    centred = x - x.mean(axis=0) if zero_center else x
    u, s, vt = np.linalg.svd(centred, full_matrices=False)
    signs = np.sign(vt[np.arange(vt.shape[0]), np.abs(vt).argmax(axis=1)])
    vt, u = vt * signs[:, None], u * signs[None, :]
    scores = (u * s)[:, :k]
    n = x.shape[0]
    if zero_center:
        variance = s[:k] ** 2 / (n - 1)
        ratio = variance / x.var(axis=0, ddof=1).sum()
    else:
        variance = scores.var(axis=0)
        ratio = variance / x.var(axis=0).sum()
    return {"scores": scores, "components": vt[:k], "variance": variance, "ratio": ratio}


def _assert_matches(adata: ad.AnnData, ref: dict[str, np.ndarray], rtol: float = 1e-4) -> None:
    np.testing.assert_allclose(adata.uns["pca"]["variance"], ref["variance"], rtol=rtol)
    np.testing.assert_allclose(adata.uns["pca"]["variance_ratio"], ref["ratio"], rtol=rtol)
    np.testing.assert_allclose(adata.varm["PCs"], ref["components"].T, rtol=rtol, atol=1e-4)
    np.testing.assert_allclose(adata.obsm["X_pca"], ref["scores"], rtol=rtol, atol=1e-3)


@pytest.fixture
def data() -> ad.AnnData:
    """60 cells × 40 genes of log counts (CSR float32); distinct singular values."""
    adata = make_counts()
    adata.X.data = np.log1p(adata.X.data)
    return adata


def _low_rank(rank: int, n_obs: int = 60, n_vars: int = 40) -> ad.AnnData:
    """Rank-``rank`` data around a positive offset (CSR float32): randomized and incremental
    PCA are exact on it, so every solver can be checked against numpy."""
    rng = np.random.default_rng(7)
    u, _ = np.linalg.qr(rng.normal(size=(n_obs, rank)))
    v, _ = np.linalg.qr(rng.normal(size=(n_vars, rank)))
    x = (u * np.geomspace(20, 1, rank)) @ v.T * np.sqrt(n_obs) + 5
    return ad.AnnData(sparse.csr_matrix(x.astype(np.float32)))


# --- values checked against numpy ------------------------------------------------------


@pytest.mark.parametrize("svd_solver", SOLVERS)
def test_pca_matches_numpy_svd(svd_solver: str) -> None:
    adata = _low_rank(12)
    pp.pca(adata, n_comps=5, svd_solver=svd_solver)
    _assert_matches(adata, _reference(adata.X.toarray(), 5))
    assert adata.obsm["X_pca"].dtype == np.float32


@pytest.mark.parametrize("svd_solver", ["arpack", "covariance_eigh"])
def test_exact_solvers_on_full_rank_data(data: ad.AnnData, svd_solver: str) -> None:
    pp.pca(data, n_comps=8, svd_solver=svd_solver)
    _assert_matches(data, _reference(data.X.toarray(), 8))


@pytest.mark.parametrize("svd_solver", ["arpack", "randomized"])
def test_truncated_svd_matches_numpy(svd_solver: str) -> None:
    adata = _low_rank(12)
    pp.pca(adata, n_comps=5, zero_center=False, svd_solver=svd_solver)
    _assert_matches(adata, _reference(adata.X.toarray(), 5, zero_center=False))
    assert adata.uns["pca"]["params"]["zero_center"] is False


def test_rank_one_data_has_one_component() -> None:
    x = np.outer(np.arange(1.0, 9.0), [1.0, 2.0, -2.0]).astype(np.float32)
    adata = ad.AnnData(x)
    pp.pca(adata, n_comps=2, svd_solver="covariance_eigh")
    ratio = adata.uns["pca"]["variance_ratio"]
    assert ratio[0] == pytest.approx(1.0, abs=1e-6) and ratio[1] == pytest.approx(0.0, abs=1e-6)
    # loading of the direction (1, 2, -2)/3, largest-magnitude entry positive
    np.testing.assert_allclose(np.abs(adata.varm["PCs"][:, 0]), [1 / 3, 2 / 3, 2 / 3], rtol=1e-5)
    assert adata.varm["PCs"][np.abs(adata.varm["PCs"][:, 0]).argmax(), 0] > 0


# --- formats, dtypes ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("svd_solver", "zero_center"),
    [(None, True), *((s, True) for s in SOLVERS), (None, False), ("arpack", False), ("randomized", False)],
)
def test_dense_csr_csc_equal(
    counts_any_format: ad.AnnData, svd_solver: str | None, zero_center: bool
) -> None:
    reference = make_counts(fmt="dense")
    pp.pca(reference, n_comps=6, svd_solver=svd_solver, zero_center=zero_center)
    adata = counts_any_format
    pp.pca(adata, n_comps=6, svd_solver=svd_solver, zero_center=zero_center)
    np.testing.assert_allclose(
        adata.uns["pca"]["variance_ratio"], reference.uns["pca"]["variance_ratio"], rtol=1e-5
    )
    np.testing.assert_allclose(adata.varm["PCs"], reference.varm["PCs"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(adata.obsm["X_pca"], reference.obsm["X_pca"], rtol=1e-4, atol=1e-3)
    assert type(adata.X) is type(make_counts(fmt=_format(adata.X)).X)  # X untouched


def _format(x: object) -> str:
    return x.format if sparse.issparse(x) else "dense"


@pytest.mark.parametrize("svd_solver", SOLVERS)
def test_int_and_float32_counts(svd_solver: str) -> None:
    as_int = make_counts(dtype=np.int64)
    as_float = make_counts(dtype=np.float32)
    pp.pca(as_int, n_comps=5, svd_solver=svd_solver)
    pp.pca(as_float, n_comps=5, svd_solver=svd_solver)
    np.testing.assert_allclose(as_int.uns["pca"]["variance"], as_float.uns["pca"]["variance"], rtol=1e-5)
    np.testing.assert_allclose(as_int.obsm["X_pca"], as_float.obsm["X_pca"], rtol=1e-4, atol=1e-3)
    assert as_int.uns["pca"]["variance"].dtype == np.float64  # integers are computed in float64
    assert as_int.X.dtype == np.int64


def test_sparse_input_is_never_densified(monkeypatch: pytest.MonkeyPatch, data: ad.AnnData) -> None:
    shape = data.shape

    def refuse(self: sparse.spmatrix, *args: object, **kwargs: object) -> np.ndarray:
        if self.shape[0] == shape[0]:
            raise AssertionError("the cells × genes matrix was densified")
        return original(self, *args, **kwargs)

    original = sparse.csr_matrix.toarray
    for cls in (sparse.csr_matrix, sparse.csc_matrix):
        monkeypatch.setattr(cls, "toarray", refuse)
    for solver in SOLVERS:
        pp.pca(data, n_comps=4, svd_solver=solver)
    pp.pca(data, n_comps=4, zero_center=False)


def test_output_dtype(data: ad.AnnData) -> None:
    pp.pca(data, n_comps=3, dtype="float64")
    assert data.obsm["X_pca"].dtype == np.float64


# --- genes, keys, options -------------------------------------------------------------------


def test_default_mask_is_highly_variable(data: ad.AnnData) -> None:
    hvg = np.arange(data.n_vars) % 3 != 0
    data.var["highly_variable"] = hvg
    pp.pca(data, n_comps=4)
    assert data.uns["pca"]["params"] == {
        "zero_center": True,
        "use_highly_variable": True,
        "mask_var": "highly_variable",
    }
    assert (data.varm["PCs"][~hvg] == 0).all()
    _assert_matches(data, {**_reference(data.X.toarray()[:, hvg], 4), "components": _padded(data, hvg, 4)})


def _padded(adata: ad.AnnData, mask: np.ndarray, k: int) -> np.ndarray:
    full = np.zeros((k, adata.n_vars))
    full[:, mask] = _reference(adata.X.toarray()[:, mask], k)["components"]
    return full


def test_mask_none_uses_all_genes(data: ad.AnnData) -> None:
    data.var["highly_variable"] = np.arange(data.n_vars) % 2 == 0
    pp.pca(data, n_comps=4, mask_var=None)
    assert data.uns["pca"]["params"]["mask_var"] is None
    _assert_matches(data, _reference(data.X.toarray(), 4))


def test_mask_array(data: ad.AnnData) -> None:
    mask = np.arange(data.n_vars) < 30
    pp.pca(data, n_comps=4, mask_var=mask)
    assert data.uns["pca"]["params"]["use_highly_variable"] is False
    _assert_matches(data, {**_reference(data.X.toarray()[:, mask], 4), "components": _padded(data, mask, 4)})


def test_use_highly_variable_is_deprecated(data: ad.AnnData) -> None:
    data.var["highly_variable"] = np.arange(data.n_vars) % 2 == 0
    with pytest.warns(FutureWarning, match="use_highly_variable is deprecated"):
        pp.pca(data, n_comps=3, use_highly_variable=False)
    assert data.uns["pca"]["params"]["mask_var"] is None


def test_default_n_comps() -> None:
    adata = make_counts(60, 40)
    pp.pca(adata)
    assert adata.obsm["X_pca"].shape == (60, 39)
    adata = make_counts(80, 70)
    pp.pca(adata, svd_solver="covariance_eigh")
    assert adata.obsm["X_pca"].shape == (80, 50)


def test_key_added_layer_and_copy(data: ad.AnnData) -> None:
    data.layers["log"] = data.X.copy()
    result = pp.pca(data, n_comps=3, layer="log", key_added="pca_log", copy=True)
    assert result is not data and "pca_log" not in data.obsm
    assert result.obsm["pca_log"].shape == (60, 3)
    assert result.varm["pca_log"].shape == (40, 3)
    assert result.uns["pca_log"]["params"]["layer"] == "log"
    assert set(result.uns["pca_log"]) == {"params", "variance", "variance_ratio"}


@pytest.mark.parametrize(
    ("fmt", "svd_solver"), [*(("csr", s) for s in SOLVERS), *(("dense", s) for s in DENSE_SOLVERS)]
)
def test_deterministic(data: ad.AnnData, fmt: str, svd_solver: str) -> None:
    if fmt == "dense":
        data.X = data.X.toarray()
    first = pp.pca(data, n_comps=5, svd_solver=svd_solver, copy=True)
    second = pp.pca(data, n_comps=5, svd_solver=svd_solver, random_state=None, copy=True)
    np.testing.assert_array_equal(first.obsm["X_pca"], second.obsm["X_pca"])


def test_chunked_matches_full() -> None:
    adata = _low_rank(4)  # incremental PCA keeps n_comps directions between chunks
    full = pp.pca(adata, n_comps=4, copy=True)
    pp.pca(adata, n_comps=4, chunked=True, chunk_size=25)
    np.testing.assert_allclose(
        adata.uns["pca"]["variance_ratio"], full.uns["pca"]["variance_ratio"], rtol=1e-4
    )
    np.testing.assert_allclose(np.abs(adata.varm["PCs"]), np.abs(full.varm["PCs"]), rtol=1e-3, atol=1e-4)


def test_array_input(data: ad.AnnData) -> None:
    x = data.X.toarray()
    scores = pp.pca(x, 3)
    scores_again, components, ratio, variance = pp.pca(x, 3, return_info=True)
    ref = _reference(x, 3)
    np.testing.assert_allclose(scores, ref["scores"], rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(components, ref["components"], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ratio, ref["ratio"], rtol=1e-4)
    np.testing.assert_allclose(variance, ref["variance"], rtol=1e-4)
    np.testing.assert_array_equal(scores, scores_again)


def test_view_is_made_actual(data: ad.AnnData) -> None:
    view = data[:40]
    pp.pca(view, n_comps=3)
    assert not view.is_view and view.obsm["X_pca"].shape == (40, 3)


@pytest.mark.parametrize("svd_solver", DENSE_SOLVERS)
def test_dense_solvers_match_numpy_svd(svd_solver: str) -> None:
    adata = _low_rank(12)
    adata.X = adata.X.toarray()
    pp.pca(adata, n_comps=5, svd_solver=svd_solver)
    _assert_matches(adata, _reference(adata.X, 5))


def test_lobpcg_on_sparse_data_is_deprecated_and_matches_numpy(data: ad.AnnData) -> None:
    with pytest.warns(FutureWarning, match="lobpcg"):
        pp.pca(data, n_comps=5, svd_solver="lobpcg")
    _assert_matches(data, _reference(data.X.toarray(), 5))


@pytest.mark.parametrize(
    ("fmt", "zero_center", "svd_solver", "used"),
    [
        ("csr", True, "randomized", "arpack"),
        ("csr", True, "full", "arpack"),
        ("csr", True, "auto", "arpack"),
        ("dense", True, "lobpcg", "arpack"),
        ("dense", True, "tsqr", "arpack"),
        ("csr", False, "covariance_eigh", "randomized"),
        ("dense", False, "full", "randomized"),
        ("dense", False, "lobpcg", "randomized"),
    ],
)
def test_solver_the_case_does_not_take_is_replaced_like_scanpy(
    data: ad.AnnData, fmt: str, zero_center: bool, svd_solver: str, used: str
) -> None:
    if fmt == "dense":
        data.X = data.X.toarray()
    with pytest.warns(
        AdjustedParamWarning, match=f"svd_solver={svd_solver!r} does not apply.*using {used!r}"
    ):
        got = pp.pca(data, n_comps=5, svd_solver=svd_solver, zero_center=zero_center, copy=True)
    expected = pp.pca(data, n_comps=5, svd_solver=used, zero_center=zero_center, copy=True)
    np.testing.assert_array_equal(got.obsm["X_pca"], expected.obsm["X_pca"])


def test_auto_picks_scikit_learns_solver() -> None:
    from scsnake.pp._pca_solver_choice import resolve_svd_solver

    def auto(shape: tuple[int, int], k: int = 10) -> str:
        return resolve_svd_solver("auto", zero_center=True, sparse=False, shape=shape, n_comps=k)

    assert auto((5000, 100)) == "covariance_eigh"  # tall and skinny
    assert auto((400, 300)) == "full"  # small
    assert auto((2000, 1500)) == "randomized"
    assert auto((2000, 1500), k=1300) == "full"


# --- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_comps": 0}, "n_comps"),
        ({"svd_solver": "svd"}, "svd_solver"),
        ({"svd_solver": 1}, "svd_solver"),
        ({"random_state": -1}, "random_state"),
        ({"dtype": "int32"}, "dtype: must be a floating-point"),
        ({"chunked": True}, "chunk_size: needed with chunked=True"),
        ({"chunked": True, "chunk_size": 10, "layer": "x"}, "chunked: works on X only"),
        ({"mask_var": np.ones(40)}, "mask_var: must be a var column name"),
        (
            {"mask_var": None, "use_highly_variable": True},
            "use_highly_variable: cannot be combined with mask_var",
        ),
    ],
)
def test_bad_parameters(data: ad.AnnData, kwargs: dict, match: str) -> None:
    with pytest.raises(ParamError, match=match):
        pp.pca(data, **kwargs)


def test_too_many_components(data: ad.AnnData) -> None:
    with pytest.raises(ParamError, match=r"n_comps=40 is too large: at most 39"):
        pp.pca(data, n_comps=40)


def test_missing_mask_column_lists_close_matches(data: ad.AnnData) -> None:
    data.var["highly_variable"] = True
    with pytest.raises(
        MissingKeyError, match=r"mask_var 'highly_variabel' not found .*close matches: highly_variable"
    ):
        pp.pca(data, mask_var="highly_variabel")


def test_mask_problems(data: ad.AnnData) -> None:
    data.var["score"] = np.arange(data.n_vars, dtype=float)
    with pytest.raises(InputDataError, match="mask_var 'score': var column must be boolean"):
        pp.pca(data, mask_var="score")
    with pytest.raises(ParamError, match="length 3 does not match the 40 genes"):
        pp.pca(data, mask_var=np.ones(3, dtype=bool))
    with pytest.raises(InputDataError, match="selects no genes"):
        pp.pca(data, mask_var=np.zeros(40, dtype=bool))


def test_missing_layer(data: ad.AnnData) -> None:
    with pytest.raises(MissingKeyError, match="layer 'log'"):
        pp.pca(data, layer="log")


def test_one_cell(data: ad.AnnData) -> None:
    with pytest.raises(InputDataError, match="at least 2 cells and 2 genes"):
        pp.pca(data[:1].copy())


# --- arpack on the Gram matrix against arpack on the centred operator ----------------------


def _spectrum_data(
    n_cells: int, singular_values: np.ndarray, *, offset: float = 0.0, seed: int = 0
) -> np.ndarray:
    """Cells × genes data whose centred matrix has exactly these singular values."""
    rng = np.random.default_rng(seed)
    k = singular_values.size
    u, _ = np.linalg.qr(rng.normal(size=(n_cells, k)))
    u -= u.mean(axis=0)  # centred columns, still nearly orthogonal: re-orthonormalise
    u, _ = np.linalg.qr(u)
    v, _ = np.linalg.qr(rng.normal(size=(k, k)))
    return (u * singular_values) @ v.T + offset + rng.normal(size=k) * offset


@pytest.mark.parametrize("fmt", ["dense", "csr", "csc"])
@pytest.mark.parametrize("zero_center", [True, False])
def test_arpack_gram_equals_operator(monkeypatch: pytest.MonkeyPatch, fmt: str, zero_center: bool) -> None:
    from scsnake.pp import _pca_solvers

    gram = make_counts(200, 30, fmt=fmt)
    pp.pca(gram, n_comps=8, svd_solver="arpack", zero_center=zero_center)
    monkeypatch.setattr(_pca_solvers, "GRAM_MAX_VARS", 0)  # svds on the linear operator
    operator = make_counts(200, 30, fmt=fmt)
    pp.pca(operator, n_comps=8, svd_solver="arpack", zero_center=zero_center)
    for key in ("variance", "variance_ratio"):
        np.testing.assert_allclose(gram.uns["pca"][key], operator.uns["pca"][key], rtol=1e-5)
    np.testing.assert_allclose(gram.varm["PCs"], operator.varm["PCs"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(gram.obsm["X_pca"], operator.obsm["X_pca"], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("offset", [0.0, 1e4])
def test_arpack_on_ill_conditioned_data(offset: float) -> None:
    # singular values spanning 8 orders of magnitude (16 for the Gram matrix), and large
    # gene means next to small variances (where XᵀX - nμμᵀ would cancel)
    singular = np.logspace(4, -4, 40)
    x = _spectrum_data(500, singular, offset=offset)
    adata = ad.AnnData(x)
    pp.pca(adata, n_comps=20, svd_solver="arpack")
    ref = _reference(x, 20)
    np.testing.assert_allclose(adata.uns["pca"]["variance_ratio"][:12], ref["ratio"][:12], rtol=1e-6)
    np.testing.assert_allclose(adata.uns["pca"]["variance"][:12], singular[:12] ** 2 / 499, rtol=1e-6)
    cosine = np.abs((adata.varm["PCs"][:, :12] * ref["components"][:12].T).sum(axis=0))
    assert cosine.min() > 0.9999
