"""Filter marker genes by fold change and by the fractions of cells expressing them."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Annotated

import numpy as np
import pandas as pd
from pydantic import Field

from scsnake._matrix import close_matches, get_matrix, get_obs_column
from scsnake._params import StageParams, validated
from scsnake.errors import InputDataError, MissingKeyError

from ._rank_genes_stats import group_moments

if TYPE_CHECKING:
    from anndata import AnnData
    from numpy.typing import NDArray

__all__ = ["FilterRankGenesGroupsParams", "filter_rank_genes_groups"]

logger = logging.getLogger(__name__)

Fraction = Annotated[float, Field(ge=0, le=1)]


class FilterRankGenesGroupsParams(StageParams):
    """Parameters of :func:`filter_rank_genes_groups`."""

    key: str | None = None
    """``uns`` key of the ``rank_genes_groups`` result; None means ``"rank_genes_groups"``."""
    groupby: str | None = None
    """``obs`` column of the groups; None takes the one the result was computed with."""
    use_raw: bool | None = None
    """Use ``raw``; None takes the result's setting."""
    key_added: str = "rank_genes_groups_filtered"
    """``uns`` key of the filtered result."""
    min_in_group_fraction: Fraction = 0.25
    """Keep genes expressed in more than this fraction of the group's cells."""
    min_fold_change: float = 1
    """Keep genes whose log2 fold change is above this."""
    max_out_group_fraction: Fraction = 0.5
    """Keep genes expressed in less than this fraction of the other cells."""
    compare_abs: bool = False
    """Compare the absolute log2 fold change with ``min_fold_change``."""


@validated(FilterRankGenesGroupsParams)
def filter_rank_genes_groups(
    adata: AnnData,
    *,
    key: str | None = None,
    groupby: str | None = None,
    use_raw: bool | None = None,
    key_added: str = "rank_genes_groups_filtered",
    min_in_group_fraction: float = 0.25,
    min_fold_change: float = 1,
    max_out_group_fraction: float = 0.5,
    compare_abs: bool = False,
) -> None:
    """Blank out marker genes with a small fold change or unspecific expression, as scanpy.

    A gene stays in a group's list when the fraction of the group's cells expressing it
    is above ``min_in_group_fraction``, the fraction of all other cells is below
    ``max_out_group_fraction`` and its log2 fold change is above ``min_fold_change``.
    Fold changes and fractions come from the result when it was computed against
    ``"rest"`` with the same ``groupby`` and ``use_raw`` (fractions need ``pts=True``);
    otherwise they are computed from the data in one pass (sparse stays sparse).

    Parameters
    ----------
    adata
        Annotated data matrix with a ``rank_genes_groups`` result.
    key
        ``uns`` key of that result; default ``"rank_genes_groups"``.
    groupby
        ``obs`` column of the groups; default: the result's ``groupby``.
    use_raw
        Use ``raw``; default: the result's ``use_raw``.
    key_added
        ``uns`` key of the filtered result.
    min_in_group_fraction, max_out_group_fraction
        Bounds on the fractions of cells with a non-zero value, inside and outside the group.
    min_fold_change
        Lower bound (exclusive) on the log2 fold change.
    compare_abs
        Compare the absolute log2 fold change.

    Returns
    -------
    None. Writes ``uns[key_added]``: a copy of ``uns[key]`` whose ``names`` record array has
    NaN in place of every filtered gene (lists keep their order and length).

    Examples
    --------
    >>> import anndata as ad, numpy as np, pandas as pd
    >>> x = np.log1p(np.array([[5, 0], [6, 1], [7, 0], [0, 4], [1, 5], [0, 6]], dtype=float))
    >>> adata = ad.AnnData(x, obs=pd.DataFrame({"g": list("aaabbb")}, index=list("123456")))
    >>> from scsnake.tl import rank_genes_groups
    >>> rank_genes_groups(adata, "g")
    >>> filter_rank_genes_groups(adata, max_out_group_fraction=0.7)
    >>> adata.uns["rank_genes_groups_filtered"]["names"]["a"].tolist()
    ['0', nan]
    """
    key = "rank_genes_groups" if key is None else key
    result = _result(adata, key)
    params = result["params"]
    groupby = params["groupby"] if groupby is None else groupby
    use_raw = params["use_raw"] if use_raw is None else use_raw
    same_params = (
        params["groupby"] == groupby and params["reference"] == "rest" and params["use_raw"] == use_raw
    )
    use_logfolds = same_params and "logfoldchanges" in result
    use_fraction = same_params and "pts_rest" in result

    names = pd.DataFrame(result["names"])
    groups = [str(g) for g in names.columns]
    if use_logfolds:
        fold_change = pd.DataFrame(result["logfoldchanges"]).to_numpy(dtype=np.float64)
    if use_fraction:
        frac_in = np.column_stack([result["pts"][g].reindex(names[g]).to_numpy() for g in groups])
        frac_out = np.column_stack([result["pts_rest"][g].reindex(names[g]).to_numpy() for g in groups])
    if not (use_logfolds and use_fraction):
        stats = _group_stats(adata, key, groupby, use_raw, names, groups)
        if not use_logfolds:
            fold_change = stats[2]
        if not use_fraction:
            frac_in, frac_out = stats[:2]
    logger.info(
        "filtering genes: min_in_group_fraction %s, min_fold_change %s, max_out_group_fraction %s",
        min_in_group_fraction,
        min_fold_change,
        max_out_group_fraction,
    )
    if compare_abs:
        fold_change = np.abs(fold_change)
    with np.errstate(invalid="ignore"):  # NaN (no data) never passes
        keep = (
            (frac_in > min_in_group_fraction)
            & (frac_out < max_out_group_fraction)
            & (fold_change > min_fold_change)
        )
    filtered = names.where(keep)
    adata.uns[key_added] = {**result, "names": filtered.to_records(index=False)}


def _result(adata: AnnData, key: str) -> dict:
    if key not in adata.uns:
        msg = f"uns[{key!r}] not found{close_matches(key, adata.uns.keys())}; run rank_genes_groups first"
        raise MissingKeyError(msg)
    result = adata.uns[key]
    missing = [k for k in ("params", "names") if k not in result]
    if missing:
        msg = f"uns[{key!r}] is not a rank_genes_groups result: it has no {', '.join(missing)}"
        raise InputDataError(msg)
    return result


def _group_stats(
    adata: AnnData, key: str, groupby: str, use_raw: bool, names: pd.DataFrame, groups: list[str]
) -> tuple[NDArray, NDArray, NDArray]:
    """Fraction in, fraction out and log2 fold change of every listed gene, shaped like ``names``.

    One pass over the whole matrix gives per-group sums and non-zero counts of every gene.
    """
    x = get_matrix(adata, use_raw=use_raw)
    var_names = adata.raw.var_names if use_raw else adata.var_names
    if not var_names.is_unique:
        msg = "filter_rank_genes_groups needs unique var_names; call adata.var_names_make_unique() first"
        raise InputDataError(msg)
    listed = pd.unique(names.to_numpy().ravel())
    listed = listed[pd.notna(listed)]
    absent = pd.Index(listed).difference(var_names)
    if len(absent):
        where = "adata.raw.var_names" if use_raw else "adata.var_names"
        msg = f"genes of uns[{key!r}]['names'] are not in {where}: {absent[:5].tolist()}; pass use_raw= to match the result"
        raise InputDataError(msg)
    column = get_obs_column(adata, groupby, what="groupby")
    labels = column.astype(str).to_numpy()
    codes = np.full(adata.n_obs, -1, dtype=np.int64)
    for i, g in enumerate(groups):
        codes[labels == g] = i
    sums, _, nnz = group_moments(x, codes, len(groups))
    sizes = np.bincount(codes[codes >= 0], minlength=len(groups)).astype(np.float64)[:, None]
    n_out = adata.n_obs - sizes
    with np.errstate(invalid="ignore", divide="ignore"):
        frac_in = nnz[:-1] / sizes
        frac_out = (nnz.sum(axis=0) - nnz[:-1]) / n_out
        base = adata.uns.get("log1p", {}).get("base")
        scale = 1.0 if base is None else np.log(base)
        mean_in = sums[:-1] / sizes
        mean_out = (sums.sum(axis=0) - sums[:-1]) / n_out
        lfc = np.log2((np.expm1(mean_in * scale) + 1e-9) / (np.expm1(mean_out * scale) + 1e-9))
    # back to the layout of ``names``: row = rank, column = group
    out = []
    for values in (frac_in, frac_out, lfc):
        table = np.full(names.shape, np.nan)
        for j, g in enumerate(groups):
            idx = var_names.get_indexer(names[g])
            ok = idx >= 0
            table[ok, j] = values[j, idx[ok]]
        out.append(table)
    return out[0], out[1], out[2]
