"""``rank_genes_groups(method="logreg")``: marker genes from a logistic regression's coefficients."""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from scsnake.errors import AdjustedParamWarning, ParamError

from ._rank_genes_stats import select_top

if TYPE_CHECKING:
    from anndata import AnnData
    from numpy.typing import NDArray

__all__ = ["logreg_records"]

logger = logging.getLogger(__name__)


def logreg_records(
    adata: AnnData,
    groupby: str,
    x: Any,
    var_names: pd.Index,
    names: list[str],
    codes: NDArray[np.int64],
    *,
    n_top: int,
    rankby_abs: bool,
    pts: bool,
    kwds: dict[str, Any],
) -> dict[str, np.recarray]:
    """``names`` and ``scores`` record arrays of a logistic regression, as scanpy stores them.

    One ``sklearn.linear_model.LogisticRegression(**kwds)`` is fitted on the cells of the
    selected groups (``codes >= 0``; the reference, if any, is one of them), with the
    groups' category codes as classes. A group's scores are its class coefficients. With
    two groups the model is binary and, as in scanpy, only the first group is stored,
    with the coefficients of the binary model (positive: towards the second group's
    category code).
    """
    from sklearn.linear_model import LogisticRegression

    if pts:
        msg = "rank_genes_groups: pts=True has no effect with method='logreg' (as in scanpy); no pts stored"
        warnings.warn(msg, AdjustedParamWarning, stacklevel=4)
    try:
        clf = LogisticRegression(**kwds)
    except TypeError as err:
        msg = f"rank_genes_groups(method='logreg'): extra keywords go to sklearn's LogisticRegression, which rejected them: {err}"
        raise ParamError(msg) from None

    column = adata.obs[groupby]
    categories = (
        column.cat.categories
        if isinstance(column.dtype, pd.CategoricalDtype)
        else pd.Categorical(column).categories
    )
    category_names = [str(c) for c in categories]
    # classes are category codes, as scanpy fits them (sklearn sorts the classes)
    cat_codes = np.array([category_names.index(n) for n in names], dtype=np.int64)
    selected = codes >= 0
    y = cat_codes[codes[selected]]
    x_fit = x if selected.all() else x[np.flatnonzero(selected)]
    logger.info("fitting a logistic regression on %d cells, %d genes, %d groups", *x_fit.shape, len(names))
    try:
        clf.fit(x_fit, y)
    except ValueError as err:
        if not kwds:
            raise
        msg = f"rank_genes_groups(method='logreg'): LogisticRegression rejected the keywords {kwds!r}: {err}"
        raise ParamError(msg) from None
    coef = np.asarray(clf.coef_)
    classes = np.asarray(clf.classes_)

    columns: dict[str, dict[str, np.ndarray]] = {"names": {}, "scores": {}}
    stored = names[:1] if len(names) <= 2 else names
    for i, name in enumerate(stored):
        scores = coef[0] if len(names) <= 2 else coef[np.flatnonzero(classes == cat_codes[i])[0]]
        top = select_top(np.abs(scores) if rankby_abs else scores, n_top)
        columns["names"][name] = np.asarray(var_names[top], dtype=object)
        columns["scores"][name] = scores[top]
    return {
        "names": pd.DataFrame(columns["names"]).to_records(index=False, column_dtypes="O"),
        "scores": pd.DataFrame(columns["scores"]).to_records(index=False, column_dtypes="float32"),
    }
