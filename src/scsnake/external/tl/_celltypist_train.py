"""Train a CellTypist model (Domínguez Conde et al. 2022) from a labelled reference AnnData.

``celltypist.train`` fits one logistic regression per cell type (one-vs-rest) on the scaled
log-normalised expression. scikit-learn 1.8 removed ``LogisticRegression(multi_class="ovr")``,
which celltypist ≤ 1.7.1 passes (Teichlab/celltypist#164): there, celltypist's classifier
step is swapped, for the call only, for the same one-vs-rest fit written with scikit-learn's
``OneVsRestClassifier``, stored as a plain ``LogisticRegression`` (one row of ``coef_`` per
cell type, as before), so the model is an ordinary celltypist model anywhere. Everything else
(scaling, clipping at 10, feature selection, SGD and mini-batch training) is celltypist's.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import logging
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt
from scipy import sparse

from scsnake._matrix import get_obs_column
from scsnake._params import StageParams, validated
from scsnake._rng import as_seed
from scsnake.errors import InputDataError, ParamError

from ._celltypist_data import expression, import_celltypist, n_cells_off_target

if TYPE_CHECKING:
    from collections.abc import Iterator

    from anndata import AnnData

__all__ = ["CelltypistTrainParams", "celltypist_train"]

logger = logging.getLogger(__name__)

Solver = Literal["liblinear", "lbfgs", "newton-cg", "sag", "saga"]


class CelltypistTrainParams(StageParams):
    """Parameters of :func:`celltypist_train` (celltypist.train's names)."""

    labels: str
    """obs column of the reference with each cell's label (cell type)."""
    use_raw: bool | None = None
    """Train on ``raw.X``; None: ``X`` if it holds log1p-normalised values, else ``raw.X``."""
    layer: str | None = None
    """Train on this layer instead of ``X``."""
    with_mean: bool = True
    """Centre the genes when scaling (False: less memory on sparse data, slightly worse models)."""
    check_expression: bool = True
    """Refuse cells whose expression is not log1p of 10,000 counts (False: train anyway)."""
    C: PositiveFloat = 1.0
    """Inverse L2 regularisation strength of the logistic regression (not with ``use_SGD``)."""
    solver: Solver | None = None
    """Logistic regression solver; None: ``sag`` above 50,000 cells, else ``lbfgs``."""
    max_iter: PositiveInt | None = None
    """Iterations; None: 1000 below 50,000 cells, 500 below 500,000, else 200."""
    n_jobs: int | None = None
    """CPUs of the fit (None: 1; -1: all)."""
    use_SGD: bool = False
    """Stochastic gradient descent logistic regression instead of the exact solver."""
    alpha: PositiveFloat = 0.0001
    """L2 regularisation strength of SGD (``use_SGD`` only)."""
    mini_batch: bool = False
    """Mini-batch SGD (``use_SGD`` only)."""
    batch_number: PositiveInt = 100
    """Mini-batches per epoch."""
    batch_size: PositiveInt = 1000
    """Cells per mini-batch."""
    epochs: PositiveInt = 10
    """Epochs of mini-batch training."""
    balance_cell_type: bool = False
    """Sample rare cell types more often in mini-batches."""
    feature_selection: bool = False
    """Train twice: the second time on the ``top_genes`` genes of each cell type in the first model."""
    top_genes: PositiveInt = 300
    """Genes kept per cell type by ``feature_selection``."""
    date: str = ""
    """Model description: date (empty: the time of training)."""
    details: str = ""
    """Model description: free text."""
    url: str = ""
    """Model description: where the model can be downloaded."""
    source: str = ""
    """Model description: publication or database it comes from."""
    version: str = ""
    """Model description: version."""
    random_state: Annotated[NonNegativeInt, Field(lt=2**32)] | None = 0
    """Seed of the solvers that draw random numbers (sag, saga, liblinear, SGD) and of the mini-batches."""


def _labels(adata: AnnData, key: str) -> np.ndarray:
    column = get_obs_column(adata, key, what="labels")
    if column.isna().any():
        msg = f"celltypist_train: {int(column.isna().sum())} cell(s) have no label in obs[{key!r}]; drop them (adata[adata.obs[{key!r}].notna()])"
        raise InputDataError(msg)
    labels = np.asarray(column.astype(str), dtype=object)
    if len(pd.unique(labels)) < 2:
        msg = f"celltypist_train: obs[{key!r}] has a single label ({labels[0]!r}); a classifier needs at least 2"
        raise InputDataError(msg)
    return labels


def _check_sizes(
    matrix: Any, mini_batch: bool, batch_size: int, feature_selection: bool, top_genes: int
) -> None:
    """What celltypist would refuse after preparing the data, said before (with the fix)."""
    n_cells = matrix.shape[0]
    if mini_batch and n_cells <= batch_size:
        msg = f"celltypist_train: mini_batch needs more cells than batch_size={batch_size}, got {n_cells}; lower batch_size or set mini_batch=False"
        raise ParamError(msg)
    if feature_selection:
        n_expressed = int(np.count_nonzero(np.asarray(matrix.sum(axis=0)).ravel()))
        if n_expressed <= top_genes:
            msg = f"celltypist_train: feature_selection keeps top_genes={top_genes} genes per label, but only {n_expressed} genes are expressed; lower top_genes"
            raise ParamError(msg)


def _ovr_logistic_regression(
    indata: Any, labels: Any, C: float, solver: str | None, max_iter: int, n_jobs: int | None, **kwargs: Any
) -> Any:
    """celltypist's ``_LRClassifier`` without ``multi_class``: one binary fit per cell type.

    ``LogisticRegression(multi_class="ovr")`` fitted each class against the rest; so does
    ``OneVsRestClassifier``. Its fits are stored in a plain ``LogisticRegression`` (``coef_``
    one row per class, one row in all for two classes), whose ``decision_function`` gives the
    same one-vs-rest scores, so the pickled model needs nothing but scikit-learn.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    if solver is None:
        solver = "sag" if len(labels) > 50000 else "lbfgs"
    logger.info("celltypist_train: one-vs-rest logistic regression (%s)", solver)
    ovr = OneVsRestClassifier(
        LogisticRegression(C=C, solver=solver, max_iter=max_iter, **kwargs), n_jobs=n_jobs
    )
    ovr.fit(indata, labels)
    classifier = LogisticRegression(C=C, solver=solver, max_iter=max_iter, **kwargs)
    classifier.classes_ = ovr.classes_
    classifier.coef_ = np.vstack([e.coef_ for e in ovr.estimators_])
    classifier.intercept_ = np.concatenate([e.intercept_ for e in ovr.estimators_])
    classifier.n_iter_ = np.concatenate([np.atleast_1d(e.n_iter_) for e in ovr.estimators_])
    classifier.n_features_in_ = indata.shape[1]
    return classifier


def _sklearn_has_multi_class() -> bool:
    from sklearn.linear_model import LogisticRegression

    return "multi_class" in inspect.signature(LogisticRegression).parameters


@contextlib.contextmanager
def _one_vs_rest_fit() -> Iterator[None]:
    """Where scikit-learn has no ``multi_class``, swap celltypist's classifier step for the call."""
    if _sklearn_has_multi_class():
        yield
        return
    module = importlib.import_module("celltypist.train")  # the module: celltypist.train is the function
    original = module._LRClassifier
    module._LRClassifier = _ovr_logistic_regression
    try:
        yield
    finally:
        module._LRClassifier = original


@contextlib.contextmanager
def _seeded_numpy(seed: int) -> Iterator[None]:
    """celltypist draws mini-batches from numpy's global generator: seed it, restore it after."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


@validated(CelltypistTrainParams)
def celltypist_train(
    adata: AnnData,
    labels: str,
    *,
    use_raw: bool | None = None,
    layer: str | None = None,
    with_mean: bool = True,
    check_expression: bool = True,
    C: float = 1.0,
    solver: str | None = None,
    max_iter: int | None = None,
    n_jobs: int | None = None,
    use_SGD: bool = False,
    alpha: float = 0.0001,
    mini_batch: bool = False,
    batch_number: int = 100,
    batch_size: int = 1000,
    epochs: int = 10,
    balance_cell_type: bool = False,
    feature_selection: bool = False,
    top_genes: int = 300,
    date: str = "",
    details: str = "",
    url: str = "",
    source: str = "",
    version: str = "",
    random_state: int | None = 0,
) -> Any:
    """Train a CellTypist model on a labelled reference (``celltypist.train``).

    The reference's log1p-normalised expression (10,000 counts per cell, all genes) is
    scaled per gene (clipped at 10) and one logistic regression per label is fitted.
    Needs ``pip install 'scsnake[celltypist]'``.

    Parameters
    ----------
    adata
        The labelled reference: cells × genes (gene symbols as ``var_names``), log1p-normalised.
    labels
        obs column with each cell's label; every cell needs one, at least 2 distinct.
    use_raw, layer
        Where the log-normalised values are: ``raw.X`` or a layer; by default ``X``, or
        ``raw.X`` if ``X`` cannot hold them (scaled data).
    with_mean, check_expression, C, solver, max_iter, n_jobs, use_SGD, alpha, mini_batch, batch_number, batch_size, epochs, balance_cell_type, feature_selection, top_genes
        As in ``celltypist.train``.
    date, details, url, source, version
        The model's description (free text).
    random_state
        Seed of the solvers that draw random numbers and of the mini-batches (None means 0).

    Returns
    -------
    The trained ``celltypist.models.Model`` (``model.write("x.pkl")`` saves it). ``adata`` is
    not changed.

    Examples
    --------
    >>> import scsnake as ss
    >>> ref = ss.datasets.synthetic(n_cells=300, n_genes=200, n_types=3, seed=0)
    >>> ss.pp.normalize_total(ref, target_sum=1e4)
    >>> ss.pp.log1p(ref)
    >>> model = ss.external.tl.celltypist_train(ref, "truth")
    >>> model.cell_types.tolist()
    ['type0', 'type1', 'type2']
    """
    celltypist = import_celltypist("celltypist_train")
    values = expression(adata, use_raw=use_raw, layer=layer, step="celltypist_train")
    cell_labels = _labels(adata, labels)
    if check_expression:
        n_off, first, total = n_cells_off_target(values.matrix)
        if n_off:
            names = adata.obs_names
            msg = (
                f"celltypist_train: {n_off} of {adata.n_obs} cells of {values.where} do not add up to 10,000 "
                f"after expm1 (cell {names[first]!r}: {total:.6g}); CellTypist trains on log1p of counts "
                "normalised to 10,000 per cell over all genes (ss.pp.normalize_total(adata, target_sum=1e4); "
                "ss.pp.log1p(adata)); check_expression=False trains anyway"
            )
            raise InputDataError(msg)
    _check_sizes(values.matrix, use_SGD and mini_batch, batch_size, feature_selection, top_genes)
    matrix = values.matrix
    if sparse.issparse(matrix) and not isinstance(matrix, sparse.spmatrix):
        matrix = sparse.csr_matrix(matrix)  # celltypist densifies (with_mean) only spmatrix
    seed = as_seed(random_state)
    logger.info(
        "celltypist_train: %d cells × %d genes of %s, %d labels",
        *matrix.shape,
        values.where,
        len(pd.unique(cell_labels)),
    )
    with _seeded_numpy(seed), _one_vs_rest_fit():
        model = celltypist.train(
            matrix,
            labels=cell_labels,
            genes=np.asarray(values.genes, dtype=object),
            with_mean=with_mean,
            check_expression=check_expression,
            C=C,
            solver=solver,
            max_iter=max_iter,
            n_jobs=n_jobs,
            use_SGD=use_SGD,
            alpha=alpha,
            mini_batch=mini_batch,
            batch_number=batch_number,
            batch_size=batch_size,
            epochs=epochs,
            balance_cell_type=balance_cell_type,
            feature_selection=feature_selection,
            top_genes=top_genes,
            date=date,
            details=details,
            url=url,
            source=source,
            version=version,
            random_state=seed,
        )
    return model
