"""ss.external: scanpy.external's names and signatures, params models usable as custom stages, the
old ss.pp names kept, and a clear error naming the extra when an optional package is missing."""

from __future__ import annotations

import inspect
import sys

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

import scsnake as ss
from scsnake._params import StageParams
from scsnake.errors import ParamError, ScsnakeError
from scsnake.external import MissingExtraError

EXEMPT = {"adata", "copy", "inplace", "data"}
NAMESPACES = {"pp": ss.external.pp, "tl": ss.external.tl}
FUNCTIONS = [
    (f"{name}.{attr}", getattr(module, attr))
    for name, module in NAMESPACES.items()
    for attr in module.__all__
    if inspect.isfunction(getattr(module, attr))
]


def test_namespace_is_public() -> None:
    assert "external" in ss.__all__
    assert set(ss.external.__all__) == {"MissingExtraError", "pp", "tl"}
    assert {n for n, _ in FUNCTIONS} == {
        "pp.bbknn",
        "pp.harmony_integrate",
        "pp.scanorama_integrate",
        "tl.celltypist_annotate",
        "tl.celltypist_train",
    }


def test_old_pp_names_stay() -> None:
    assert ss.external.pp.harmony_integrate is ss.pp.harmony_integrate
    assert callable(ss.pp.bbknn)


@pytest.mark.parametrize(("name", "func"), FUNCTIONS, ids=[n for n, _ in FUNCTIONS])
def test_params_model_fields_equal_keywords(name: str, func: object) -> None:
    model = func.__scsnake_params__
    assert issubclass(model, StageParams)
    assert model.__name__ in NAMESPACES[name.split(".")[0]].__all__, f"{name}: export {model.__name__}"
    params = inspect.signature(func).parameters.values()
    keywords = {
        p.name for p in params if p.name not in EXEMPT and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    }
    assert set(model.model_fields) == keywords
    first = next(iter(inspect.signature(func).parameters))
    assert first == "adata"
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    assert len(positional) <= 3


@pytest.mark.parametrize("name", ["harmony_integrate", "bbknn", "scanorama_integrate"])
def test_scanpy_external_signatures_are_accepted(name: str) -> None:
    """Every named argument of scanpy.external's function is ours too, with scanpy's default."""
    sce = pytest.importorskip("scanpy.external")
    theirs = inspect.signature(getattr(sce.pp, name)).parameters
    ours = inspect.signature(getattr(ss.external.pp, name)).parameters
    for p in theirs.values():
        if p.kind is p.VAR_KEYWORD:
            continue
        assert p.name in ours, f"{name}: {p.name}"
        if p.default is not p.empty:
            assert ours[p.name].default == p.default, f"{name}: {p.name}"
        if p.kind is p.KEYWORD_ONLY:
            assert ours[p.name].kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD), f"{name}: {p.name}"


def test_harmony_takes_harmonypys_options() -> None:
    """scanpy passes its **kwargs to harmonypy.run_harmony: its numerical options are ours."""
    harmonypy = pytest.importorskip("harmonypy")
    options = set(inspect.signature(harmonypy.run_harmony).parameters)
    not_ours = {
        "data_mat",
        "meta_data",
        "vars_use",
        "plot_convergence",
        "verbose",
        "reference_values",
        "cluster_prior",
        "cluster_fn",
    }
    assert options - not_ours <= set(inspect.signature(ss.external.pp.harmony_integrate).parameters)


def batched(n: int = 120, n_pcs: int = 30, seed: int = 0) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    types = rng.integers(0, 3, n)
    batch = np.where(np.arange(n) % 3 == 0, "b", "a")
    x = rng.normal(size=(n, n_pcs)) + types[:, None] * 4.0 + (batch == "b")[:, None] * 1.5
    obs = pd.DataFrame(
        {"batch": pd.Categorical(batch), "type": types.astype(str)}, index=[f"c{i}" for i in range(n)]
    )
    adata = ad.AnnData(obs=obs)
    adata.obsm["X_pca"] = x
    return adata


@pytest.mark.parity
def test_harmony_called_as_scanpy_external_equals_it() -> None:
    """``sce.pp.harmony_integrate(adata, key)`` runs harmonypy with theta=1; ours defaults to R's theta=2."""
    sce = pytest.importorskip("scanpy.external")
    pytest.importorskip("harmonypy", minversion="0.0.10")
    theirs = batched()
    sce.pp.harmony_integrate(theirs, "batch", verbose=False)
    ours = batched()
    ss.external.pp.harmony_integrate(ours, "batch", theta=1.0)
    np.testing.assert_allclose(
        ours.obsm["X_pca_harmony"], theirs.obsm["X_pca_harmony"], rtol=1e-10, atol=1e-11
    )


def same_graph(a: ad.AnnData, b: ad.AnnData) -> None:
    for key in ("distances", "connectivities"):
        assert (a.obsp[key] != b.obsp[key]).nnz == 0, key
    assert a.uns["neighbors"]["params"]["n_neighbors"] == b.uns["neighbors"]["params"]["n_neighbors"]


def test_bbknn_with_scanpys_keywords_is_scsnakes_exact_graph() -> None:
    ours = batched()
    ss.external.pp.bbknn(
        ours,
        batch_key="batch",
        approx=True,
        use_annoy=False,
        annoy_n_trees=5,
        pynndescent_n_neighbors=10,
        use_faiss=False,
    )
    reference = batched()
    ss.pp.bbknn(reference, "batch")  # n_pcs=50 of 30 columns: all of them, as bbknn slices
    same_graph(ours, reference)
    assert sparse.issparse(ours.obsp["connectivities"])


def test_bbknn_n_pcs_and_copy() -> None:
    adata = batched()
    out = ss.external.pp.bbknn(adata, batch_key="batch", n_pcs=10, neighbors_within_batch=2, copy=True)
    assert out is not None and "neighbors" not in adata.uns
    reference = batched()
    ss.pp.bbknn(reference, "batch", n_pcs=10, neighbors_within_batch=2)
    same_graph(out, reference)
    assert out.uns["neighbors"]["params"]["n_pcs"] == 10


def test_bbknn_refuses_bad_values_by_name() -> None:
    with pytest.raises(ParamError, match=r"bbknn: annoy_n_trees: Input should be greater than 0"):
        ss.external.pp.bbknn(batched(), batch_key="batch", annoy_n_trees=0)


def test_params_models_run_as_custom_stages() -> None:
    """``fn(adata, **Params(**params).model_dump())`` changes adata in place (values given as text too)."""
    adata = batched()
    calls = [
        (
            ss.external.pp.harmony_integrate,
            ss.external.pp.HarmonyIntegrateParams,
            {"key": "batch", "max_iter_harmony": "2"},
        ),
        (ss.external.pp.bbknn, ss.external.pp.ExternalBbknnParams, {"batch_key": "batch", "key_added": "bb"}),
    ]
    for func, model, params in calls:
        assert func(adata, **model(**params).model_dump()) is None
    assert adata.obsm["X_pca_harmony"].shape == (120, 30)
    assert "bb_connectivities" in adata.obsp


@pytest.mark.parametrize(
    ("module", "extra", "call"),
    [
        ("scanorama", "scanorama", lambda a: ss.external.pp.scanorama_integrate(a, "batch")),
        ("celltypist", "celltypist", lambda a: ss.external.tl.celltypist_train(a, "type")),
    ],
)
def test_missing_package_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, module: str, extra: str, call: object
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now fails
    adata = batched()
    with pytest.raises(
        MissingExtraError, match=rf"needs the optional package '{module}': pip install 'scsnake\[{extra}\]'"
    ) as info:
        call(adata)
    assert isinstance(info.value, ImportError) and isinstance(info.value, ScsnakeError)
