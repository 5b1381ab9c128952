"""Gene-set scores against expression-matched control genes (Seurat's ``AddModuleScore``), and cell-cycle phases."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import pandas as pd
from pydantic import Field, PositiveInt
from pydantic.json_schema import SkipJsonSchema
from scipy import sparse

from scsnake._matrix import get_matrix
from scsnake._numba import njit
from scsnake._params import Seed, StageParams, validated
from scsnake.errors import DataWarning, InputDataError, ParamError

if TYPE_CHECKING:
    from anndata import AnnData
    from numpy.typing import NDArray

__all__ = ["ScoreGenesCellCycleParams", "ScoreGenesParams", "score_genes", "score_genes_cell_cycle"]

logger = logging.getLogger(__name__)

GeneList = str | Sequence[str] | SkipJsonSchema[np.ndarray | pd.Index]


class ScoreGenesParams(StageParams):
    """Parameters of :func:`score_genes`."""

    gene_list: GeneList
    """Genes of the set (names in ``var_names``); absent genes are ignored with a warning."""
    ctrl_as_ref: bool = True
    """Let the sampled control genes include genes of the set (they are then dropped), as scanpy's default."""
    ctrl_size: PositiveInt = 50
    """Control genes sampled from each expression bin that holds a gene of the set."""
    gene_pool: Sequence[str] | SkipJsonSchema[np.ndarray | pd.Index] | None = None
    """Genes to sample controls from; None means all genes."""
    n_bins: Annotated[int, Field(ge=2)] = 25
    """Number of expression bins (genes binned by the rank of their mean)."""
    score_name: str = "score"
    """``obs`` column of the scores."""
    random_state: Seed | SkipJsonSchema[np.random.RandomState] | None = 0
    """Seed of the control-gene sampling (numpy's legacy generator, as scanpy); None means 0."""
    use_raw: bool | None = None
    """Use ``raw``; None uses it when present and no ``layer`` is given."""
    layer: str | None = None
    """Score this layer instead of ``X``."""


@validated(ScoreGenesParams)
def score_genes(
    adata: AnnData,
    gene_list: str | Sequence[str] | pd.Index,
    *,
    ctrl_as_ref: bool = True,
    ctrl_size: int = 50,
    gene_pool: Sequence[str] | pd.Index | None = None,
    n_bins: int = 25,
    score_name: str = "score",
    random_state: int | np.random.RandomState | None = 0,
    copy: bool = False,
    use_raw: bool | None = None,
    layer: str | None = None,
) -> AnnData | None:
    """Score each cell by a gene set's mean expression minus that of random control genes.

    As scanpy's ``tl.score_genes`` (Seurat's approach): the pool genes are binned by the
    rank of their mean expression into ``n_items = round(n_pool / (n_bins - 1))``-gene bins;
    from every bin holding a gene of the set, ``ctrl_size`` genes are drawn with numpy's
    legacy generator seeded with ``random_state`` (the same draws as scanpy); the score is
    the mean of the set's genes minus the mean of the control genes. Means ignore NaN.
    Sparse input stays sparse: gene means and per-cell set means come from sums over the
    stored values; gene means for the bins are summed in the input's precision as scanpy
    does (so the bins agree), the per-cell means in float64 for every layout.

    Parameters
    ----------
    adata
        Annotated data matrix (log-normalised values).
    gene_list
        Genes of the set.
    ctrl_as_ref
        Sample controls among all genes of a bin (then drop the set's genes) instead of
        among the bin's genes outside the set.
    ctrl_size
        Control genes drawn per bin.
    gene_pool
        Genes to draw controls from; default all.
    n_bins
        Number of expression bins.
    score_name
        ``obs`` column written.
    random_state
        Seed of the sampling.
    copy
        Return a changed copy instead of changing ``adata``.
    use_raw
        Use ``raw``; None uses it when present and ``layer`` is not given.
    layer
        Layer to score.

    Returns
    -------
    None, or the copy when ``copy=True``. Writes ``obs[score_name]`` (float64).

    Examples
    --------
    >>> import anndata as ad, numpy as np
    >>> x = np.log1p(np.random.default_rng(0).poisson(2.0, (50, 30)).astype(np.float32))
    >>> adata = ad.AnnData(x)
    >>> score_genes(adata, ["0", "1", "2"], ctrl_size=5, n_bins=5)
    >>> adata.obs["score"].shape
    (50,)
    """
    adata = adata.copy() if copy else adata
    if use_raw is None:
        use_raw = layer is None and adata.raw is not None
    x = get_matrix(adata, layer=layer, use_raw=use_raw)
    var_names = adata.raw.var_names if use_raw else adata.var_names
    if not var_names.is_unique:
        msg = "score_genes needs unique var_names; call adata.var_names_make_unique() first"
        raise InputDataError(msg)
    genes = _present(gene_list, var_names)
    pool = np.arange(var_names.size) if gene_pool is None else _pool(gene_pool, var_names)
    col_sums, col_nan = column_nansums(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        gene_means = col_sums.astype(np.float64) / (x.shape[0] - col_nan)
    control = control_genes(
        gene_means,
        genes,
        pool,
        var_names,
        ctrl_as_ref=ctrl_as_ref,
        ctrl_size=ctrl_size,
        n_bins=n_bins,
        random_state=random_state,
    )
    if control.size == 0:
        hint = " Try ctrl_as_ref=False." if ctrl_as_ref else ""
        msg = f"score_genes: no control genes found in any expression bin (gene_pool of {pool.size} genes).{hint}"
        raise InputDataError(msg)
    labels = np.full(var_names.size, -1, dtype=np.int64)
    labels[genes] = 0
    labels[control] = 1
    sums, n_nan = row_set_nansums(x, labels, 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / (np.array([genes.size, control.size]) - n_nan)
    adata.obs[score_name] = pd.Series(means[:, 0] - means[:, 1], index=adata.obs_names, dtype="float64")
    logger.info("score %r: %d genes, %d control genes", score_name, genes.size, control.size)
    return adata if copy else None


def control_genes(
    gene_means: NDArray[np.float64],
    genes: NDArray[np.intp],
    pool: NDArray[np.intp],
    var_names: pd.Index,
    *,
    ctrl_as_ref: bool,
    ctrl_size: int,
    n_bins: int,
    random_state: int | np.random.RandomState | None,
) -> NDArray[np.intp]:
    """Column indices of the control genes (sorted), drawn exactly as scanpy draws them."""
    from scipy import stats  # here: scipy.stats takes ~0.5 s to import, every workflow job imports tl

    pool = pool[np.isfinite(gene_means[pool])]  # genes that are all NaN have no level
    n_items = int(np.round(pool.size / (n_bins - 1)))
    ranks = stats.rankdata(gene_means[pool], method="min")
    # scanpy divides by zero here for tiny pools: every rank becomes inf, one bin
    cuts = ranks // n_items if n_items > 0 else np.zeros(pool.size, dtype=np.int64)
    position = pd.Index(pool).get_indexer(genes)
    if (position < 0).any():
        absent = var_names[genes[position < 0]][:5].tolist()
        msg = f"score_genes: genes of gene_list are not in gene_pool (or are all NaN): {absent}; add them to gene_pool"
        raise InputDataError(msg)
    rng = (
        random_state
        if isinstance(random_state, np.random.RandomState)
        else np.random.RandomState(random_state or 0)
    )
    in_list = np.isin(pool, genes)
    chosen = []
    for cut in np.unique(cuts[position]):
        candidates = pool[(cuts == cut) & ~in_list] if not ctrl_as_ref else pool[cuts == cut]
        if candidates.size == 0:
            logger.warning(
                "no control genes for bin %s; a larger gene_pool may help (size %d)", cut, pool.size
            )
        if ctrl_size < candidates.size:
            candidates = candidates[rng.choice(candidates.size, size=ctrl_size, replace=False)]
        chosen.append(candidates)
    control = np.unique(np.concatenate(chosen)) if chosen else np.empty(0, dtype=np.intp)
    return np.setdiff1d(control, genes) if ctrl_as_ref else control


def _present(gene_list: Any, var_names: pd.Index) -> NDArray[np.intp]:
    """Column indices of the listed genes found in ``var_names`` (first occurrences, in order)."""
    listed = pd.Index([gene_list] if isinstance(gene_list, str) else list(gene_list)).unique()
    idx = var_names.get_indexer(listed.astype(str))
    if (idx < 0).any():
        absent = listed[idx < 0].tolist()
        shown = ", ".join(map(repr, absent[:10])) + (", …" if len(absent) > 10 else "")
        msg = (
            f"score_genes: {len(absent)} of {listed.size} genes are not in var_names and are ignored: {shown}"
        )
        warnings.warn(msg, DataWarning, stacklevel=3)
    if not (idx >= 0).any():
        msg = f"score_genes: none of the {listed.size} genes of gene_list is in var_names"
        raise InputDataError(msg)
    return idx[idx >= 0]


def _pool(gene_pool: Any, var_names: pd.Index) -> NDArray[np.intp]:
    """Column indices of the pool genes found in ``var_names``, in the pool's order."""
    idx = var_names.get_indexer(pd.Index(list(gene_pool)).unique().astype(str))
    idx = idx[idx >= 0]
    if idx.size == 0:
        msg = "score_genes: none of the genes of gene_pool is in var_names"
        raise InputDataError(msg)
    return idx


class ScoreGenesCellCycleParams(StageParams):
    """Parameters of :func:`score_genes_cell_cycle`."""

    s_genes: Annotated[Sequence[str], Field(min_length=1)] | SkipJsonSchema[np.ndarray | pd.Index]
    """Genes of the S phase."""
    g2m_genes: Annotated[Sequence[str], Field(min_length=1)] | SkipJsonSchema[np.ndarray | pd.Index]
    """Genes of the G2/M phase."""


@validated(ScoreGenesCellCycleParams)
def score_genes_cell_cycle(
    adata: AnnData,
    *,
    s_genes: Sequence[str] | pd.Index,
    g2m_genes: Sequence[str] | pd.Index,
    copy: bool = False,
    **kwargs: Any,
) -> AnnData | None:
    """Score S and G2/M genes and call each cell's cell-cycle phase, as scanpy.

    Runs :func:`score_genes` for both lists with ``ctrl_size = min(len(s_genes),
    len(g2m_genes))``. A cell is in ``"G2M"`` if its G2M score is above its S score, else
    ``"S"``; ``"G1"`` if both scores are negative.

    Parameters
    ----------
    adata
        Annotated data matrix (log-normalised values).
    s_genes, g2m_genes
        Genes of the S and G2/M phases.
    copy
        Return a changed copy instead of changing ``adata``.
    **kwargs
        Passed to :func:`score_genes` (not ``ctrl_size`` or ``score_name``).

    Returns
    -------
    None, or the copy when ``copy=True``. Writes ``obs['S_score']``, ``obs['G2M_score']``
    (float64) and ``obs['phase']`` (``"G1"``, ``"S"`` or ``"G2M"``).

    Examples
    --------
    >>> import anndata as ad, numpy as np
    >>> x = np.log1p(np.random.default_rng(0).poisson(2.0, (50, 30)).astype(np.float32))
    >>> adata = ad.AnnData(x)
    >>> score_genes_cell_cycle(adata, s_genes=["0", "1"], g2m_genes=["2", "3"], n_bins=5)
    >>> sorted(set(adata.obs["phase"])) <= ["G1", "G2M", "S"]
    True
    """
    fixed = sorted({"ctrl_size", "score_name"} & set(kwargs))
    if fixed:
        msg = f"score_genes_cell_cycle sets {', '.join(fixed)} itself; do not pass {'it' if len(fixed) == 1 else 'them'}"
        raise ParamError(msg)
    adata = adata.copy() if copy else adata
    ctrl_size = min(len(s_genes), len(g2m_genes))
    for genes, name in ((s_genes, "S_score"), (g2m_genes, "G2M_score")):
        score_genes(adata, genes, score_name=name, ctrl_size=ctrl_size, **kwargs)
    s, g2m = adata.obs["S_score"].to_numpy(), adata.obs["G2M_score"].to_numpy()
    phase = np.where(g2m > s, "G2M", "S").astype(object)
    phase[(s < 0) & (g2m < 0)] = "G1"
    # pandas' own dtype for text, as scanpy gets it: object on pandas 2, str on pandas 3
    adata.obs["phase"] = pd.Series(phase, index=adata.obs_names)
    return adata if copy else None


# ----------------------------------------------------------------------------- kernels


@njit
def _column_nansums_dense(x, sums):
    n_cells, n_genes = x.shape
    n_nan = np.zeros(n_genes, dtype=np.int64)
    for i in range(n_cells):
        for j in range(n_genes):
            v = x[i, j]
            if v != v:
                n_nan[j] += 1
            else:
                sums[j] += v
    return sums, n_nan


@njit
def _column_nansums_csr(indices, data, sums):
    n_nan = np.zeros(sums.shape[0], dtype=np.int64)
    for p in range(data.shape[0]):
        v = data[p]
        if v != v:
            n_nan[indices[p]] += 1
        else:
            sums[indices[p]] += v
    return sums, n_nan


@njit
def _column_nansums_csc(indptr, data, sums):
    n_genes = indptr.shape[0] - 1
    n_nan = np.zeros(n_genes, dtype=np.int64)
    for j in range(n_genes):
        for p in range(indptr[j], indptr[j + 1]):
            v = data[p]
            if v != v:
                n_nan[j] += 1
            else:
                sums[j] += v
    return sums, n_nan


def column_nansums(x: Any) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Each gene's sum over cells (NaN skipped, in cell order) and its NaN count.

    Sums accumulate in float32 for float32 input, else in float64: scanpy's gene means
    (dense and sparse) are float32 sums in cell order, and the expression bins built from
    them must be the same to draw the same control genes.
    """
    sums = np.zeros(x.shape[1], dtype=np.float32 if x.dtype == np.float32 else np.float64)
    if sparse.issparse(x) and x.format == "csc":
        return _column_nansums_csc(x.indptr, x.data, sums)
    if sparse.issparse(x):
        x = x if x.format == "csr" else x.tocsr()
        return _column_nansums_csr(x.indices, x.data, sums)
    return _column_nansums_dense(np.asarray(x), sums)


@njit
def _row_set_nansums_dense(x, columns, labels, n_sets):
    n_cells = x.shape[0]
    sums = np.zeros((n_cells, n_sets))
    n_nan = np.zeros((n_cells, n_sets), dtype=np.int64)
    for i in range(n_cells):
        for k in range(columns.shape[0]):
            v = x[i, columns[k]]
            if v != v:
                n_nan[i, labels[k]] += 1
            else:
                sums[i, labels[k]] += np.float64(v)
    return sums, n_nan


@njit
def _row_set_nansums_csr(indptr, indices, data, labels, n_sets):
    n_cells = indptr.shape[0] - 1
    sums = np.zeros((n_cells, n_sets))
    n_nan = np.zeros((n_cells, n_sets), dtype=np.int64)
    for i in range(n_cells):
        for p in range(indptr[i], indptr[i + 1]):
            s = labels[indices[p]]
            if s >= 0:
                v = data[p]
                if v != v:
                    n_nan[i, s] += 1
                else:
                    sums[i, s] += np.float64(v)
    return sums, n_nan


@njit
def _row_set_nansums_csc(indptr, indices, data, columns, labels, n_cells, n_sets):
    sums = np.zeros((n_cells, n_sets))
    n_nan = np.zeros((n_cells, n_sets), dtype=np.int64)
    for k in range(columns.shape[0]):
        j = columns[k]
        s = labels[k]
        for p in range(indptr[j], indptr[j + 1]):
            v = data[p]
            if v != v:
                n_nan[indices[p], s] += 1
            else:
                sums[indices[p], s] += np.float64(v)
    return sums, n_nan


def row_set_nansums(x: Any, labels: NDArray[np.int64], n_sets: int) -> tuple[NDArray, NDArray]:
    """Per cell and gene set (``labels[j]``: set of gene ``j``, -1 none): sums (NaN skipped) and NaN counts."""
    columns = np.flatnonzero(labels >= 0)
    if sparse.issparse(x) and x.format == "csc":
        return _row_set_nansums_csc(x.indptr, x.indices, x.data, columns, labels[columns], x.shape[0], n_sets)
    if sparse.issparse(x):
        x = x if x.format == "csr" else x.tocsr()
        return _row_set_nansums_csr(x.indptr, x.indices, x.data, labels, n_sets)
    return _row_set_nansums_dense(np.asarray(x), columns, labels[columns], n_sets)
