"""external.tl.celltypist_train / celltypist_annotate on the real labelled PBMCs of ../shared/data:
a model trained offline on 70% of the cells labels the rest well, and every result equals
celltypist's own on the same model (nothing is downloaded)."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
import warnings
from typing import TYPE_CHECKING

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

import scsnake as ss
from scsnake.errors import DataWarning, InputDataError, MissingKeyError, ParamError
from scsnake.external.tl._celltypist_data import n_cells_off_target

if TYPE_CHECKING:
    from pathlib import Path

celltypist = pytest.importorskip("celltypist")

# measured: 0.895 of the 210 held-out cells (the bulk labels mix CD4+/CD8+ T subsets)
MIN_ACCURACY = 0.85


@pytest.fixture(scope="module")
def pbmc(shared_data: Path) -> ad.AnnData:
    """pbmc68k_reduced: 700 PBMCs × 765 genes, ``X`` = log1p of its counts normalised to 10,000.

    The shared file's ``raw`` is empty; ``layers['counts']`` holds the counts.
    """
    stored = ss.read(shared_data / "pbmc68k_reduced.zarr.zip")
    adata = ad.AnnData(
        X=stored.layers["counts"].astype(np.float32),
        obs=stored.obs[["bulk_labels", "louvain"]].copy(),
        var=pd.DataFrame(index=stored.var_names),
    )
    ss.pp.normalize_total(adata, target_sum=1e4)
    ss.pp.log1p(adata)
    return adata


@pytest.fixture(scope="module")
def split(pbmc: ad.AnnData) -> tuple[ad.AnnData, ad.AnnData]:
    """70% of each label to train on (490 cells), the rest (210) held out; seeded."""
    rng = np.random.default_rng(0)
    labels = pbmc.obs["bulk_labels"].to_numpy()
    train = np.zeros(pbmc.n_obs, dtype=bool)
    for label in np.unique(labels):
        cells = np.flatnonzero(labels == label)
        rng.shuffle(cells)
        train[cells[: round(0.7 * cells.size)]] = True
    return pbmc[train].copy(), pbmc[~train].copy()


@pytest.fixture(scope="module")
def model(split: tuple[ad.AnnData, ad.AnnData]) -> object:
    return ss.external.tl.celltypist_train(split[0], "bulk_labels")


def annotated(query: ad.AnnData, model: object, **kwargs: object) -> ad.AnnData:
    out = ss.external.tl.celltypist_annotate(query, model, copy=True, **kwargs)
    assert out is not None
    return out


def direct(query: ad.AnnData, model: object, **kwargs: object) -> object:
    """celltypist.annotate on (a copy of) the same cells and model."""
    return celltypist.annotate(query.copy(), model=model, **kwargs)


def test_labels_held_out_cells(split: tuple[ad.AnnData, ad.AnnData], model: object) -> None:
    query = split[1]
    out = annotated(query, model)
    accuracy = float((out.obs["celltypist"].astype(str) == query.obs["bulk_labels"].astype(str)).mean())
    assert accuracy >= MIN_ACCURACY
    assert isinstance(out.obs["celltypist"].dtype, pd.CategoricalDtype)
    probabilities = out.obsm["celltypist_probabilities"]
    assert probabilities.shape == (210, 10)
    np.testing.assert_array_equal(out.obs["celltypist_conf_score"].to_numpy(), probabilities.max(axis=1))
    info = out.uns["celltypist"]
    assert info["model"] == {"source": "object"}
    assert info["cell_types"] == sorted(pbmc_labels(query)) and info["n_genes_used"] == 765
    assert info["matrix"] == "X" and info["celltypist_version"] == celltypist.__version__
    assert info["params"] == {"mode": "best match", "p_thres": 0.5, "majority_voting": False, "min_prop": 0}
    assert "celltypist" not in query.obs  # copy=True


def pbmc_labels(adata: ad.AnnData) -> list[str]:
    return [str(c) for c in adata.obs["bulk_labels"].cat.categories]


@pytest.mark.parity
@pytest.mark.parametrize("kwargs", [{}, {"mode": "prob match", "p_thres": 0.3}])
def test_equals_celltypist_annotate(
    split: tuple[ad.AnnData, ad.AnnData], model: object, kwargs: dict[str, object]
) -> None:
    query = split[1]
    out = annotated(query, model, **kwargs)
    theirs = direct(query, model, **kwargs)
    np.testing.assert_array_equal(
        out.obs["celltypist"].astype(str).to_numpy(),
        theirs.predicted_labels["predicted_labels"].astype(str).to_numpy(),
    )
    np.testing.assert_array_equal(out.obsm["celltypist_probabilities"], theirs.probability_matrix.to_numpy())
    assert out.uns["celltypist"]["cell_types"] == list(theirs.probability_matrix.columns)


@pytest.mark.parity
def test_majority_voting_on_given_clusters_equals_celltypist(
    split: tuple[ad.AnnData, ad.AnnData], model: object
) -> None:
    query = split[1]
    out = annotated(query, model, majority_voting=True, over_clustering="louvain", min_prop=0.3)
    theirs = direct(
        query, model, majority_voting=True, over_clustering="louvain", min_prop=0.3
    ).predicted_labels
    for column in ("majority_voting", "over_clustering"):
        np.testing.assert_array_equal(
            out.obs[f"celltypist_{column}"].astype(str).to_numpy(), theirs[column].astype(str).to_numpy()
        )
    assert out.uns["celltypist"]["params"]["over_clustering"] == "louvain"


@pytest.mark.slow
@pytest.mark.parity
def test_majority_voting_with_celltypists_clustering_equals_celltypist(
    split: tuple[ad.AnnData, ad.AnnData], model: object
) -> None:
    """No clusters given: celltypist's own over-clustering (scanpy HVG, PCA, kNN, Leiden) on the same cells."""
    query = split[1]
    out = annotated(query, model, majority_voting=True)  # emits no warning
    with (
        warnings.catch_warnings()
    ):  # celltypist's scanpy calls warn (a view copied, a sparse matrix densified)
        warnings.simplefilter("ignore", UserWarning)
        theirs = direct(query, model, majority_voting=True).predicted_labels
    for column in ("majority_voting", "over_clustering"):
        np.testing.assert_array_equal(
            out.obs[f"celltypist_{column}"].astype(str).to_numpy(), theirs[column].astype(str).to_numpy()
        )
    assert "X_pca" not in out.obsm and "connectivities" not in out.obsp  # celltypist's graph is not kept


@pytest.mark.parity
def test_sgd_training_equals_celltypist_train(split: tuple[ad.AnnData, ad.AnnData]) -> None:
    reference = split[0]
    ours = ss.external.tl.celltypist_train(reference, "bulk_labels", use_SGD=True, random_state=3)
    theirs = celltypist.train(reference.copy(), labels="bulk_labels", use_SGD=True, random_state=3)
    np.testing.assert_array_equal(ours.features, theirs.features)
    np.testing.assert_array_equal(ours.classifier.coef_, theirs.classifier.coef_)
    np.testing.assert_array_equal(ours.classifier.intercept_, theirs.classifier.intercept_)
    np.testing.assert_array_equal(ours.scaler.scale_, theirs.scaler.scale_)


@pytest.mark.parity
def test_logistic_regression_is_one_vs_rest(split: tuple[ad.AnnData, ad.AnnData], model: object) -> None:
    """Each cell type's row is the binary fit of that type against the rest, in a plain LogisticRegression
    (scikit-learn ≥ 1.8 has no multi_class='ovr', which celltypist 1.7.1 passes)."""
    from sklearn.linear_model import LogisticRegression

    classifier = model.classifier
    assert type(classifier) is LogisticRegression and classifier.coef_.shape == (10, 765)
    reference = split[0]
    x = model.scaler.transform(reference.X.toarray())
    x[x > 10] = 10
    labels = reference.obs["bulk_labels"].astype(str).to_numpy()
    for row in (0, 6):
        cell_type = classifier.classes_[row]
        binary = LogisticRegression(C=1.0, solver="lbfgs", max_iter=1000, random_state=0).fit(
            x, labels == cell_type
        )
        np.testing.assert_allclose(classifier.coef_[row], binary.coef_[0], rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(classifier.intercept_[row], binary.intercept_[0], rtol=1e-6)
    assert (
        importlib.import_module("celltypist.train")._LRClassifier.__module__ == "celltypist.train"
    )  # restored


def test_model_file_and_reference_give_the_same_labels(
    split: tuple[ad.AnnData, ad.AnnData], model: object, tmp_path: Path
) -> None:
    reference, query = split
    expected = annotated(query, model).obs["celltypist"]
    model.write(str(tmp_path / "pbmc.pkl"))
    from_file = annotated(query, str(tmp_path / "pbmc.pkl"))
    pd.testing.assert_series_equal(from_file.obs["celltypist"], expected)
    source = from_file.uns["celltypist"]["model"]
    assert (
        source["source"] == "file"
        and source["path"] == str(tmp_path / "pbmc.pkl")
        and len(source["sha256"]) == 64
    )

    ss.io.write(reference, tmp_path / "reference.h5ad")
    spec = {"reference": str(tmp_path / "reference.h5ad"), "labels": "bulk_labels"}
    params = ss.external.tl.CelltypistAnnotateParams(model=spec, key_added="ct")
    trained = query.copy()
    assert ss.external.tl.celltypist_annotate(trained, **params.model_dump()) is None  # the custom-stage call
    pd.testing.assert_series_equal(trained.obs["ct"], expected.rename("ct"))
    source = trained.uns["ct"]["model"]
    assert source["source"] == "reference" and source["train"]["labels"] == "bulk_labels"
    assert source["train"]["C"] == 1.0 and "solver" not in source["train"]  # None is not stored


def test_results_round_trip_through_h5ad_and_zarr(
    split: tuple[ad.AnnData, ad.AnnData], model: object, tmp_path: Path
) -> None:
    out = annotated(split[1], model, majority_voting=True, over_clustering="louvain")
    for name in ("x.h5ad", "x.zarr"):
        ss.io.write(out, tmp_path / name)
        back = ss.read(tmp_path / name)
        pd.testing.assert_series_equal(
            back.obs["celltypist_majority_voting"], out.obs["celltypist_majority_voting"]
        )
        np.testing.assert_array_equal(
            back.obsm["celltypist_probabilities"], out.obsm["celltypist_probabilities"]
        )
        assert list(back.uns["celltypist"]["cell_types"]) == out.uns["celltypist"]["cell_types"]


def test_reads_raw_when_x_is_scaled(split: tuple[ad.AnnData, ad.AnnData], model: object) -> None:
    query = split[1].copy()
    expected = annotated(query, model).obs["celltypist"]
    query.raw = query
    ss.pp.scale(query)
    out = annotated(query, model)
    pd.testing.assert_series_equal(out.obs["celltypist"], expected)
    assert out.uns["celltypist"]["matrix"] == "raw.X"
    with pytest.raises(InputDataError, match=r"celltypist_annotate: X has negative values .*scaled"):
        ss.external.tl.celltypist_annotate(query, model, use_raw=False)


@pytest.mark.parametrize("fmt", ["dense", "csr", "csc"])
def test_cells_off_target_in_every_format(pbmc: ad.AnnData, fmt: str) -> None:
    x = pbmc.X[:50].toarray()
    x[7, :5] = 0  # cell 7 loses a few genes: its total drops below 10,000
    matrix = {"dense": x, "csr": sparse.csr_matrix(x), "csc": sparse.csc_matrix(x)}[fmt]
    n_off, first, total = n_cells_off_target(matrix)
    assert (n_off, first) == (1, 7) and total < 1e4 - 1


def test_gene_subset_warns_on_annotation_and_is_refused_for_training(
    split: tuple[ad.AnnData, ad.AnnData], model: object
) -> None:
    reference, query = split
    genes = query[:, :500].copy()
    with pytest.warns(DataWarning, match=r"210 of 210 cells of X do not add up to 10,000"):
        annotated(genes, model)
    with pytest.raises(
        InputDataError, match=r"490 of 490 cells of X do not add up to 10,000 .*check_expression=False"
    ):
        ss.external.tl.celltypist_train(reference[:, :500], "bulk_labels")
    subset = ss.external.tl.celltypist_train(reference[:, :500], "bulk_labels", check_expression=False)
    assert len(subset.features) <= 500


def test_bad_input(split: tuple[ad.AnnData, ad.AnnData], model: object, tmp_path: Path) -> None:
    reference, query = split
    counts = query.copy()
    counts.X = counts.X.expm1() * 3
    cases = [
        (lambda: annotated(counts, model), InputDataError, r"X has values up to .*above log1p\(10,000\)"),
        (
            lambda: annotated(query, tmp_path / "Immune_All_Low.pkl"),
            InputDataError,
            r"not found .*never downloads",
        ),
        (lambda: annotated(query, 3), ParamError, r"celltypist_annotate: model"),
        (
            lambda: annotated(query, model, mode="best"),
            ParamError,
            r"mode: Input should be 'best match' or 'prob match'",
        ),
        (
            lambda: annotated(query, model, layer="x", use_raw=True),
            ParamError,
            r"use_raw=True and layer='x' both",
        ),
        (
            lambda: annotated(query[:40], model, majority_voting=True),
            InputDataError,
            r"more than 50 cells .*got 40",
        ),
        (
            lambda: annotated(query, model, majority_voting=True, over_clustering="leiden"),
            MissingKeyError,
            r"over_clustering 'leiden' not found",
        ),
        (
            lambda: ss.external.tl.celltypist_train(reference, "cell_type"),
            MissingKeyError,
            r"labels 'cell_type' not found .*bulk_labels",
        ),
        (
            lambda: ss.external.tl.celltypist_train(reference, "bulk_labels", solver="adam"),
            ParamError,
            r"solver: Input should be",
        ),
        (
            lambda: ss.external.tl.celltypist_train(reference, "bulk_labels", use_SGD=True, mini_batch=True),
            ParamError,
            r"mini_batch needs more cells than batch_size=1000, got 490",
        ),
        (
            lambda: ss.external.tl.celltypist_train(
                reference, "bulk_labels", feature_selection=True, top_genes=800
            ),
            ParamError,
            r"top_genes=800 .*only 765 genes",
        ),
    ]
    for call, error, match in cases:
        with pytest.raises(error, match=match):
            call()

    (tmp_path / "junk.pkl").write_bytes(b"not a pickle")
    with pytest.raises(InputDataError, match=r"cannot read .*junk.pkl' as a CellTypist model"):
        annotated(query, tmp_path / "junk.pkl")
    renamed = query.copy()
    renamed.var_names = [f"ENSG{i:05d}" for i in range(renamed.n_vars)]
    with pytest.raises(InputDataError, match=r"none of the model's 765 genes .*gene symbols"):
        annotated(renamed, model)
    unlabelled = reference.copy()
    unlabelled.obs["bulk_labels"] = unlabelled.obs["bulk_labels"].astype(object)
    unlabelled.obs.iloc[:3, 0] = None
    with pytest.raises(InputDataError, match=r"3 cell\(s\) have no label"):
        ss.external.tl.celltypist_train(unlabelled, "bulk_labels")
    unlabelled.obs["one"] = "T"
    with pytest.raises(InputDataError, match=r"single label \('T'\)"):
        ss.external.tl.celltypist_train(unlabelled, "one")


@pytest.mark.slow
def test_importing_celltypist_leaves_warnings_and_logging_alone() -> None:
    """celltypist's import ignores every UserWarning/FutureWarning/RuntimeWarning and configures root logging."""
    code = textwrap.dedent(
        """
        import logging, warnings
        from scsnake.external.tl._celltypist_data import import_celltypist
        import_celltypist("test")
        blanket = [f for f in warnings.filters if f[0] == "ignore" and f[1] is None and f[3] is None
                   and f[2] in (UserWarning, FutureWarning, RuntimeWarning)]
        assert not blanket, blanket
        assert not logging.getLogger().handlers
        assert any(f[2].__module__.startswith("urllib3") for f in warnings.filters)  # others' filters kept
        """
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
