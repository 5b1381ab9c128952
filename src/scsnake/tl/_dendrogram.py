"""Hierarchical clustering of cell groups by the correlation of their mean profiles."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from itertools import product
from typing import TYPE_CHECKING, Annotated, Any, Literal, overload

import numpy as np
import pandas as pd
from pydantic import Field
from scipy import sparse

from scsnake._matrix import close_matches, get_obs_column, is_sparse
from scsnake._params import StageParams, validated
from scsnake.errors import InputDataError, MissingKeyError, ParamError
from scsnake.neighbors._neighbors import choose_representation

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["DendrogramParams", "dendrogram"]

logger = logging.getLogger(__name__)

LinkageMethod = Literal["single", "complete", "average", "weighted", "centroid", "median", "ward"]


class DendrogramParams(StageParams):
    """Parameters of :func:`dendrogram`."""

    groupby: str | Sequence[str]
    """Categorical ``obs`` column(s); several are combined into ``a_b`` groups."""
    n_pcs: Annotated[int, Field(ge=0)] | None = None
    """Use the first ``n_pcs`` columns of the representation."""
    use_rep: str | None = None
    """``obsm`` key or ``"X"``; None takes ``X_pca`` (or ``X`` itself when it has ≤ 50 genes)."""
    var_names: Sequence[str] | None = None
    """Genes whose mean expression is correlated instead of a representation."""
    use_raw: bool | None = None
    """With ``var_names``: read ``raw`` (None: when present)."""
    cor_method: Literal["pearson", "kendall", "spearman"] = "pearson"
    """Correlation between group means."""
    linkage_method: LinkageMethod = "complete"
    """Linkage of :func:`scipy.cluster.hierarchy.linkage`."""
    optimal_ordering: bool = False
    """Reorder the leaves so neighbouring ones are closest (slower)."""
    key_added: str | None = None
    """``uns`` key; None gives ``dendrogram_<groupby>``."""


def _groups(adata: AnnData, groupby: list[str], *, product_order: bool) -> pd.Categorical:
    """One group per cell: the category, or the ``a_b`` combination of several columns."""
    columns = []
    for key in groupby:
        column = get_obs_column(adata, key, what="groupby")
        if not isinstance(column.dtype, pd.CategoricalDtype):
            msg = f"groupby: obs[{key!r}] must be categorical, got dtype {column.dtype}"
            raise InputDataError(msg)
        columns.append(column)
    if len(columns) == 1:
        return pd.Categorical(columns[0])
    joined = columns[0].astype(str)
    for column in columns[1:]:
        joined = joined + "_" + column.astype(str)
    groups = pd.Categorical(joined)
    if product_order:  # scanpy orders var_names groups like the product of the categories
        order = {
            "_".join(map(str, k)): i for i, k in enumerate(product(*(c.cat.categories for c in columns)))
        }
        groups = groups.reorder_categories(sorted(groups.categories, key=lambda x: order[x]))
    return groups


def _gene_matrix(adata: AnnData, var_names: Sequence[str], use_raw: bool | None) -> Any:
    use_raw = adata.raw is not None if use_raw is None else use_raw
    if use_raw and adata.raw is None:
        msg = "use_raw=True but the AnnData has no .raw; set use_raw=False"
        raise MissingKeyError(msg)
    source = adata.raw if use_raw else adata
    names = source.var_names
    for name in var_names:
        if name not in names:
            msg = f"var_names: gene {name!r} not found in {'raw.' if use_raw else ''}var_names{close_matches(name, names)}"
            raise MissingKeyError(msg)
    return source.X[:, names.get_indexer(list(var_names))]


def _group_means(x: Any, groups: pd.Categorical) -> pd.DataFrame:
    """Mean of each group's rows (categories in order; one row per category).

    Dense input goes through pandas' grouped mean like scanpy (same precision); sparse
    input (which scanpy cannot take) is averaged in float64 without densifying it.
    """
    codes = np.asarray(groups.codes)
    categories = list(groups.categories)
    sizes = np.bincount(codes[codes >= 0], minlength=len(categories))
    if (sizes == 0).any():
        empty = [str(c) for c, n in zip(categories, sizes, strict=True) if n == 0]
        msg = f"groupby: categories without cells: {', '.join(empty)}; remove them (obs[key].cat.remove_unused_categories())"
        raise InputDataError(msg)
    if not is_sparse(x):
        frame = pd.DataFrame(np.asarray(x), index=pd.CategoricalIndex(groups))
        return frame.groupby(level=0, observed=True).mean().loc[categories]
    keep = codes >= 0
    onehot = sparse.csr_matrix(
        (np.ones(int(keep.sum())), (codes[keep], np.flatnonzero(keep))), shape=(len(categories), codes.size)
    )
    sums = (onehot @ x).toarray()
    return pd.DataFrame(sums / sizes[:, None], index=categories)


@overload
def dendrogram(
    adata: AnnData,
    groupby: str | Sequence[str],
    *,
    n_pcs: int | None = ...,
    use_rep: str | None = ...,
    var_names: Sequence[str] | None = ...,
    use_raw: bool | None = ...,
    cor_method: str = ...,
    linkage_method: str = ...,
    optimal_ordering: bool = ...,
    key_added: str | None = ...,
    inplace: Literal[True] = ...,
) -> None: ...
@overload
def dendrogram(
    adata: AnnData,
    groupby: str | Sequence[str],
    *,
    n_pcs: int | None = ...,
    use_rep: str | None = ...,
    var_names: Sequence[str] | None = ...,
    use_raw: bool | None = ...,
    cor_method: str = ...,
    linkage_method: str = ...,
    optimal_ordering: bool = ...,
    key_added: str | None = ...,
    inplace: Literal[False],
) -> dict[str, Any]: ...
@validated(DendrogramParams)
def dendrogram(
    adata: AnnData,
    groupby: str | Sequence[str],
    *,
    n_pcs: int | None = None,
    use_rep: str | None = None,
    var_names: Sequence[str] | None = None,
    use_raw: bool | None = None,
    cor_method: str = "pearson",
    linkage_method: str = "complete",
    optimal_ordering: bool = False,
    key_added: str | None = None,
    inplace: bool = True,
) -> dict[str, Any] | None:
    """Cluster the ``groupby`` categories hierarchically by their mean profiles.

    Each group's mean of the representation (``X_pca`` by default, or ``X`` with ≤ 50
    genes) or of ``var_names`` is computed; groups are linked by ``1 - correlation`` of
    these means, as scanpy does, so plots that take ``dendrogram=True`` can use it.
    Unlike scanpy 1.11 (scverse/scanpy#1549), ``var_names`` really selects the genes:
    scanpy uses all genes whenever ``var_names`` is given.

    Parameters
    ----------
    adata
        Cells with categorical ``obs[groupby]``.
    groupby
        Categorical ``obs`` column, or several (combined into ``a_b`` groups).
    n_pcs
        Use the first ``n_pcs`` columns of the representation.
    use_rep
        ``obsm`` key or ``"X"`` (ignored with ``var_names``).
    var_names
        Genes to use instead of a representation.
    use_raw
        With ``var_names``: read ``raw`` (None: when present).
    cor_method
        ``"pearson"``, ``"kendall"`` or ``"spearman"``.
    linkage_method
        Linkage of :func:`scipy.cluster.hierarchy.linkage` (``"complete"``, ``"average"``, …).
    optimal_ordering
        Reorder the leaves optimally.
    key_added
        ``uns`` key (default ``dendrogram_<groupby>``, the groupby keys joined by ``_``).
    inplace
        Store the result (True) or return it.

    Returns
    -------
    The dendrogram dict if ``inplace=False``, else None. Writes
    ``adata.uns[key_added]`` (when ``inplace``) with ``linkage``, ``groupby`` (list),
    ``use_rep``, ``cor_method``, ``linkage_method``, ``categories_ordered`` (leaf
    labels), ``categories_idx_ordered`` (leaf category indices), ``dendrogram_info``
    (scipy's ``dendrogram`` output) and ``correlation_matrix`` (groups × groups).

    Examples
    --------
    >>> import numpy as np, anndata as ad, pandas as pd, scsnake as ss
    >>> x = np.repeat(np.array([[1, 0, 0], [0.9, 0.1, 0], [0, 0, 1]], dtype="float32"), 5, axis=0)
    >>> adata = ad.AnnData(x, obs=pd.DataFrame({"g": pd.Categorical(np.repeat(["a", "b", "c"], 5))}))
    >>> ss.tl.dendrogram(adata, "g")
    >>> adata.uns["dendrogram_g"]["categories_ordered"]
    ['c', 'a', 'b']
    """
    import scipy.cluster.hierarchy as sch
    from scipy.spatial import distance

    groupby = [groupby] if isinstance(groupby, str) else list(groupby)
    if not groupby:
        msg = "groupby: give at least one obs column"
        raise ParamError(msg)
    if var_names is None:
        groups = _groups(adata, groupby, product_order=False)
        x = choose_representation(adata, use_rep=use_rep, n_pcs=n_pcs)
    else:
        if isinstance(var_names, str):
            var_names = [var_names]
        groups = _groups(adata, groupby, product_order=True)
        x = _gene_matrix(adata, var_names, use_raw)
    if len(groups.categories) < 2:
        msg = f"groupby: a dendrogram needs at least 2 groups, obs[{'_'.join(groupby)!r}] has {len(groups.categories)}"
        raise InputDataError(msg)
    categories = list(groups.categories)
    corr_matrix = _group_means(x, groups).T.corr(method=cor_method).clip(-1, 1)
    undefined = [str(c) for c, bad in zip(categories, corr_matrix.isna().all(axis=0), strict=True) if bad]
    if undefined:
        msg = (
            f"groups {', '.join(undefined)} have the same mean for every feature, so their correlation is "
            "undefined; choose other var_names or use_rep"
        )
        raise InputDataError(msg)
    corr_condensed = distance.squareform(1 - corr_matrix)
    z_var = sch.linkage(corr_condensed, method=linkage_method, optimal_ordering=optimal_ordering)
    dendro_info = sch.dendrogram(z_var, labels=categories, no_plot=True)
    result = {
        "linkage": z_var,
        "groupby": groupby,
        "use_rep": use_rep,
        "cor_method": cor_method,
        "linkage_method": linkage_method,
        "categories_ordered": dendro_info["ivl"],
        "categories_idx_ordered": dendro_info["leaves"],
        "dendrogram_info": dendro_info,
        "correlation_matrix": corr_matrix.to_numpy(),
    }
    if not inplace:
        return result
    key = f"dendrogram_{'_'.join(groupby)}" if key_added is None else key_added
    adata.uns[key] = result
    logger.info("stored the dendrogram in uns[%r]", key)
    return None
