"""Marker genes: rank genes by how well they separate each group from the rest (or a reference)."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from pydantic import PositiveInt
from pydantic.json_schema import SkipJsonSchema
from scipy import special

from scsnake._matrix import close_matches, get_matrix, get_obs_column
from scsnake._params import StageParams, validated
from scsnake.errors import DataWarning, InputDataError, MissingKeyError, ParamError

from ._rank_genes_logreg import logreg_records
from ._rank_genes_stats import (
    adjust_pvalues,
    group_moments,
    select_top,
    t_test,
    value_flags,
    wilcoxon_rank_sums,
)

if TYPE_CHECKING:
    from anndata import AnnData
    from numpy.typing import NDArray

__all__ = ["RankGenesGroupsParams", "rank_genes_groups"]

logger = logging.getLogger(__name__)

_Method = Literal["logreg", "t-test", "t-test_overestim_var", "wilcoxon"]
#: Result fields in scanpy's order, with their stored dtypes.
_DTYPES = {
    "names": "O",
    "scores": "float32",
    "pvals": "float64",
    "pvals_adj": "float64",
    "logfoldchanges": "float32",
}


class RankGenesGroupsParams(StageParams):
    """Parameters of :func:`rank_genes_groups`."""

    groupby: str
    """``obs`` column whose categories are the groups."""
    mask_var: SkipJsonSchema[np.ndarray] | Sequence[bool] | str | None = None
    """Genes to test: a boolean mask or the name of a boolean ``var`` column; None tests all."""
    use_raw: bool | None = None
    """Test ``raw.X``; None uses ``raw`` when present (and no ``layer`` is given)."""
    groups: Literal["all"] | Sequence[str | int] | SkipJsonSchema[np.ndarray | pd.Index] = "all"
    """Groups to test, or ``"all"``; "rest" still means every other cell."""
    reference: str = "rest"
    """Compare each group with ``"rest"`` (all other cells) or with this group."""
    n_genes: PositiveInt | None = None
    """Genes stored per group (the top ranked); None stores all."""
    rankby_abs: bool = False
    """Rank by the absolute score (stored scores keep their sign)."""
    pts: bool = False
    """Also store the fraction of cells expressing each gene (``pts``, ``pts_rest``)."""
    key_added: str | None = None
    """``uns`` key of the result; None means ``"rank_genes_groups"``."""
    method: _Method | None = None
    """Test: ``"t-test"`` (Welch, the default), ``"t-test_overestim_var"``, ``"wilcoxon"`` or ``"logreg"``."""
    corr_method: Literal["benjamini-hochberg", "bonferroni"] = "benjamini-hochberg"
    """Multiple-testing correction of the p-values (over the tested genes, per group)."""
    tie_correct: bool = False
    """Wilcoxon only: correct the rank-sum variance for ties."""
    layer: str | None = None
    """Test this layer instead of ``X``."""


@validated(RankGenesGroupsParams)
def rank_genes_groups(
    adata: AnnData,
    groupby: str,
    *,
    mask_var: NDArray[np.bool_] | Sequence[bool] | str | None = None,
    use_raw: bool | None = None,
    groups: Literal["all"] | Sequence[str | int] = "all",
    reference: str = "rest",
    n_genes: int | None = None,
    rankby_abs: bool = False,
    pts: bool = False,
    key_added: str | None = None,
    copy: bool = False,
    method: _Method | None = None,
    corr_method: Literal["benjamini-hochberg", "bonferroni"] = "benjamini-hochberg",
    tie_correct: bool = False,
    layer: str | None = None,
    **kwds: Any,
) -> AnnData | None:
    """Rank genes that characterise each group, as scanpy's ``tl.rank_genes_groups``.

    Expects log-normalised values. Sparse input stays sparse: group moments come from
    one pass over the stored values, and for ``"wilcoxon"`` each gene is ranked once
    (zeros share one tied rank) and every group's rank sum is read off that ranking.

    Parameters
    ----------
    adata
        Annotated data matrix.
    groupby
        ``obs`` column with the groups (non-categorical columns are used as categories).
    mask_var
        Boolean mask over genes, or a boolean ``var`` column, selecting the genes to test.
    use_raw
        Use ``adata.raw``; None uses it when present and ``layer`` is not given.
    groups
        Groups to test, in the order they are stored; ``"all"`` tests every category.
    reference
        ``"rest"`` or a group to compare with.
    n_genes
        Genes stored per group; None stores all tested genes.
    rankby_abs
        Rank by absolute scores.
    pts
        Store the fraction of cells with a non-zero value per group.
    key_added
        ``uns`` key; default ``"rank_genes_groups"``.
    copy
        Return a changed copy instead of changing ``adata``.
    method
        ``"t-test"`` (default), ``"t-test_overestim_var"``, ``"wilcoxon"`` or ``"logreg"``
        (scores are the coefficients of sklearn's ``LogisticRegression``; no p-values,
        fold changes or ``pts``).
    corr_method
        ``"benjamini-hochberg"`` or ``"bonferroni"``.
    tie_correct
        Tie-corrected variance for ``"wilcoxon"``.
    layer
        Layer to test.
    **kwds
        ``method="logreg"`` only: passed to ``sklearn.linear_model.LogisticRegression``.

    Returns
    -------
    None, or the copy when ``copy=True``. Writes ``uns[key_added]`` (``"rank_genes_groups"``):
    ``params`` (groupby, reference, method, use_raw, layer, corr_method) and record arrays
    ``names``, ``scores``, ``logfoldchanges``, ``pvals``, ``pvals_adj`` with one field per
    group, sorted by score; with ``pts=True`` the DataFrames ``pts`` and (reference
    ``"rest"``) ``pts_rest``.

    Examples
    --------
    >>> import anndata as ad, numpy as np, pandas as pd
    >>> x = np.log1p(np.array([[5, 0], [6, 1], [7, 0], [0, 4], [1, 5], [0, 6]], dtype=float))
    >>> adata = ad.AnnData(x, obs=pd.DataFrame({"g": list("aaabbb")}, index=list("123456")))
    >>> rank_genes_groups(adata, "g", method="wilcoxon")
    >>> adata.uns["rank_genes_groups"]["names"]["a"].tolist()
    ['0', '1']
    """
    if method is None:
        method = "t-test"
    if kwds and method != "logreg":
        msg = f"rank_genes_groups: unexpected keyword(s) {', '.join(map(repr, kwds))}; extra keywords are passed to LogisticRegression with method='logreg' only"
        raise ParamError(msg)
    if use_raw is None:
        use_raw = adata.raw is not None and layer is None
    elif use_raw and adata.raw is None:
        msg = "rank_genes_groups: use_raw=True but adata.raw is empty; pass use_raw=False"
        raise MissingKeyError(msg)
    if layer is not None and use_raw:
        msg = f"rank_genes_groups: layer={layer!r} and use_raw=True both select a matrix; pick one"
        raise ParamError(msg)
    adata = adata.copy() if copy else adata

    names, codes, sizes = _select_groups(adata, groupby, groups, reference)
    x = get_matrix(adata, layer=layer, use_raw=use_raw)
    var_names = adata.raw.var_names if use_raw else adata.var_names
    if mask_var is not None:
        mask = _var_mask(adata, mask_var, x.shape[1])
        x, var_names = x[:, mask], var_names[mask]
    finite, counts_like = value_flags(x)
    if not finite:
        msg = (
            "rank_genes_groups: the tested matrix contains NaN or infinite values; clean or impute them first"
        )
        raise InputDataError(msg)
    if method == "logreg":
        n_top = x.shape[1] if n_genes is None else min(n_genes, x.shape[1])
        records = logreg_records(
            adata, groupby, x, var_names, names, codes, n_top=n_top, rankby_abs=rankby_abs, pts=pts, kwds=kwds
        )
        adata.uns["rank_genes_groups" if key_added is None else key_added] = {
            "params": {
                "groupby": groupby,
                "reference": reference,
                "method": method,
                "use_raw": use_raw,
                "layer": layer,
                "corr_method": corr_method,
            },
            **records,
        }
        return adata if copy else None
    if counts_like:
        msg = "rank_genes_groups expects log-normalised data, but the values are non-negative integers (raw counts?); run normalize_total and log1p first"
        warnings.warn(msg, DataWarning, stacklevel=3)

    ref = -1 if reference == "rest" else names.index(reference)
    targets = np.array([g for g in range(len(names)) if g != ref], dtype=np.int64)
    logger.info("ranking %d genes in %d groups of obs[%r] (%s)", x.shape[1], len(targets), groupby, method)
    if method == "wilcoxon" and sizes.min() <= 25:
        logger.info("groups with <= 25 cells: the normal approximation of the rank-sum test is rough")
    sums, sumsq, nnz = group_moments(x, codes, len(names))
    stats = _test(method, x, codes, sizes, targets, ref, sums, sumsq, tie_correct)

    n_genes_total = x.shape[1]
    n_top = n_genes_total if n_genes is None else min(n_genes, n_genes_total)
    base = adata.uns.get("log1p", {}).get("base")
    total, means = sums.sum(axis=0), sums[:-1] / sizes[:, None]
    columns: dict[str, dict[str, np.ndarray]] = {field: {} for field in _DTYPES}
    for p, (scores, pvals) in enumerate(stats):
        t = targets[p]
        rest_mean = (total - sums[t]) / (x.shape[0] - sizes[t]) if ref < 0 else means[ref]
        with np.errstate(invalid="ignore", divide="ignore"):  # negative (scaled) means: NaN, as scanpy
            lfc = np.log2((_expm1(means[t], base) + 1e-9) / (_expm1(rest_mean, base) + 1e-9))
        top = select_top(np.abs(scores) if rankby_abs else scores, n_top)
        values = {
            "names": np.asarray(var_names[top], dtype=object),
            "scores": scores[top],
            "pvals": pvals[top],
            "pvals_adj": adjust_pvalues(pvals.copy(), corr_method)[top],
            "logfoldchanges": lfc[top],
        }
        for field, value in values.items():
            columns[field][names[t]] = value

    result: dict[str, object] = {
        "params": {
            "groupby": groupby,
            "reference": reference,
            "method": method,
            "use_raw": use_raw,
            "layer": layer,
            "corr_method": corr_method,
        }
    }
    if pts:
        result["pts"] = pd.DataFrame((nnz[:-1] / sizes[:, None]).T, index=var_names, columns=names)
        if ref < 0:
            rest = (nnz.sum(axis=0) - nnz[:-1]) / (x.shape[0] - sizes)[:, None]
            result["pts_rest"] = pd.DataFrame(rest.T, index=var_names, columns=names)
    for field in _DTYPES:
        frame = pd.DataFrame(columns[field])
        result[field] = frame.to_records(index=False, column_dtypes=_DTYPES[field])
    adata.uns["rank_genes_groups" if key_added is None else key_added] = result
    return adata if copy else None


def _test(
    method: str,
    x: object,
    codes: NDArray[np.int64],
    sizes: NDArray[np.int64],
    targets: NDArray[np.int64],
    ref: int,
    sums: NDArray,
    sumsq: NDArray,
    tie_correct: bool,
) -> list[tuple[NDArray[np.float64], NDArray[np.float64]]]:
    """(scores, p-values) of each target group, in the order of ``targets``."""
    n_cells = codes.shape[0]
    out = []
    if method == "wilcoxon":
        rank_sums, ties = wilcoxon_rank_sums(x, codes, sizes, targets, ref)
        for p, t in enumerate(targets):
            n_a = sizes[t]
            n_b = n_cells - n_a if ref < 0 else sizes[ref]
            n = n_a + n_b
            coef = 1.0
            if tie_correct:  # every group has >= 2 cells, so n >= 4
                coef = 1.0 - (ties[0] if ref < 0 else ties[p]) / (float(n) ** 3 - n)
            with np.errstate(divide="ignore", invalid="ignore"):
                std = np.sqrt(coef * n_a * n_b * (n + 1) / 12.0)
                scores = (rank_sums[t if ref < 0 else p] - n_a * (n + 1) / 2.0) / std
            scores[np.isnan(scores)] = 0
            out.append((scores, 2 * special.ndtr(-np.abs(scores))))
        return out
    total, total_sq = sums.sum(axis=0), sumsq.sum(axis=0)
    for t in targets:
        n_a = sizes[t]
        mean_a, var_a = _mean_var(sums[t], sumsq[t], n_a)
        if ref < 0:
            n_b = n_cells - n_a
            mean_b, var_b = _mean_var(total - sums[t], total_sq - sumsq[t], n_b)
        else:
            n_b = sizes[ref]
            mean_b, var_b = _mean_var(sums[ref], sumsq[ref], n_b)
        n_rest = n_a if method == "t-test_overestim_var" else n_b
        out.append(t_test(mean_a, var_a, n_a, mean_b, var_b, n_rest))
    return out


def _mean_var(s: NDArray, sq: NDArray, n: int) -> tuple[NDArray, NDArray]:
    """Mean and unbiased variance from sums, computed as scanpy does."""
    mean = s / n
    var = sq / n - mean**2
    if n != 1:
        var *= n / (n - 1)
    return mean, var


def _expm1(x: NDArray, base: float | None) -> NDArray:
    return np.expm1(x) if base is None else np.expm1(x * np.log(base))


def _select_groups(
    adata: AnnData, groupby: str, groups: object, reference: str
) -> tuple[list[str], NDArray[np.int64], NDArray[np.int64]]:
    """Tested group names (in output order), per-cell codes (-1: untested) and group sizes."""
    column = get_obs_column(adata, groupby, what="groupby")
    cat = column.array if isinstance(column.dtype, pd.CategoricalDtype) else pd.Categorical(column)
    all_names = [str(c) for c in cat.categories]
    all_codes = np.asarray(cat.codes, dtype=np.int64)
    counts = np.bincount(all_codes[all_codes >= 0], minlength=len(all_names))
    present = [n for n, c in zip(all_names, counts, strict=True) if c > 0]
    if len(present) < 2:
        shown = ", ".join(repr(n) for n in present) or "none"
        msg = (
            f"rank_genes_groups needs at least two groups in obs[{groupby!r}]; found {len(present)}: {shown}"
        )
        raise InputDataError(msg)
    available = ", ".join(all_names)
    if isinstance(groups, str) and groups == "all":
        wanted = list(all_names)
    else:
        wanted = list(dict.fromkeys(str(g) for g in groups))  # type: ignore[attr-defined]
        if not wanted:
            msg = f"rank_genes_groups: groups is empty (available: {available})"
            raise ParamError(msg)
    missing = [g for g in wanted if g not in all_names]
    if missing:
        msg = f"rank_genes_groups: group(s) {', '.join(map(repr, missing))} not in obs[{groupby!r}] (available: {available})"
        raise ParamError(msg)
    if reference != "rest":
        if reference not in all_names:
            msg = f"rank_genes_groups: reference {reference!r} is not a group of obs[{groupby!r}]{close_matches(reference, all_names)}; use 'rest' or one of: {available}"
            raise ParamError(msg)
        if reference not in wanted:
            wanted.append(reference)
        if len(wanted) < 2:
            msg = f"rank_genes_groups: reference {reference!r} is the only group selected; add groups to compare with it"
            raise ParamError(msg)
    small = [
        f"{g!r} ({n} cell{'' if n == 1 else 's'})" for g in wanted if (n := counts[all_names.index(g)]) < 2
    ]
    if small:
        msg = f"rank_genes_groups cannot test groups with fewer than 2 cells in obs[{groupby!r}]: {', '.join(small)}; drop them (or unused categories) or pass groups= without them"
        raise InputDataError(msg)
    # codes index the selected groups; cells of other groups (and NaN) are "rest" only
    remap = np.full(len(all_names) + 1, -1, dtype=np.int64)
    for i, g in enumerate(wanted):
        remap[all_names.index(g)] = i
    codes = remap[all_codes]  # code -1 (NaN) picks the last entry, -1
    sizes = np.array([counts[all_names.index(g)] for g in wanted], dtype=np.int64)
    return wanted, codes, sizes


def _var_mask(adata: AnnData, mask_var: object, n_vars: int) -> NDArray[np.bool_]:
    if isinstance(mask_var, str):
        if mask_var not in adata.var.columns:
            msg = f"mask_var {mask_var!r} not found in adata.var{close_matches(mask_var, adata.var.columns)}"
            raise MissingKeyError(msg)
        mask = adata.var[mask_var].to_numpy()
    else:
        mask = np.asarray(mask_var)
    if mask.dtype != bool or mask.ndim != 1 or mask.shape[0] != n_vars:
        msg = f"rank_genes_groups: mask_var must be a boolean mask over the {n_vars} tested genes, got dtype {mask.dtype} and shape {mask.shape}"
        raise ParamError(msg)
    if not mask.any():
        msg = "rank_genes_groups: mask_var selects no gene"
        raise ParamError(msg)
    return mask
