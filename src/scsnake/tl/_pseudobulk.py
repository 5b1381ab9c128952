"""Pseudobulks: the raw counts of each sample's cells summed per group of cells."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from anndata import AnnData
from pydantic import PositiveInt
from scipy import sparse

from scsnake._matrix import check_counts, get_matrix, get_obs_column
from scsnake._params import StageParams, validated
from scsnake.errors import InputDataError, ParamError
from scsnake.get import aggregate

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["PseudobulkParams", "pseudobulk"]


class PseudobulkParams(StageParams):
    """Parameters of :func:`pseudobulk`."""

    sample_key: str
    """``obs`` column naming each cell's sample (replicate)."""
    groupby: str
    """``obs`` column of the cell groups (clusters, cell types): one profile per sample × group."""
    layer: str | None = None
    """Layer of raw counts to sum; None sums ``X``."""
    min_cells: PositiveInt = 10
    """A sample's group with fewer cells is left out."""
    obs_keys: Sequence[str] | None = None
    """``obs`` columns to carry over (each constant within a sample × group); None carries
    every column that is constant within each sample (condition, donor, batch…)."""


@validated(PseudobulkParams)
def pseudobulk(
    adata: AnnData,
    sample_key: str,
    groupby: str,
    *,
    layer: str | None = None,
    min_cells: int = 10,
    obs_keys: Iterable[str] | None = None,
) -> AnnData:
    """Sum the raw counts of each sample's cells per group: one profile per sample × group.

    The profiles are what a count model (:func:`scsnake.tl.pseudobulk_de`, DESeq2, edgeR)
    compares across replicates. Built on :func:`scsnake.get.aggregate`.

    Parameters
    ----------
    adata
        Cells with raw counts in ``X`` (or ``layer``) and ``sample_key`` and ``groupby`` columns.
    sample_key
        ``obs`` column of each cell's sample.
    groupby
        ``obs`` column of each cell's group (e.g. ``"leiden"`` or a cell type).
    layer
        Layer of raw counts to sum instead of ``X``.
    min_cells
        A sample's group with fewer cells is left out (for that sample).
    obs_keys
        ``obs`` columns to carry over; each must be constant within every sample × group.
        None carries every column that is constant within each sample.

    Returns
    -------
    A new AnnData with one observation per kept sample × group, named ``"<sample>_<group>"``:
    ``X`` the summed counts (CSR, float64 holding integers); ``obs`` the ``sample_key`` and
    ``groupby`` columns (categorical), ``n_cells`` and the carried-over columns; ``var`` a copy
    of ``adata.var``.

    Examples
    --------
    >>> import scsnake as ss
    >>> adata = ss.datasets.synthetic(n_cells=300, n_genes=100, n_types=3, seed=0)
    >>> adata.obs["sample"] = ["s1", "s2", "s3"] * 100
    >>> pdata = ss.tl.pseudobulk(adata, "sample", "truth")
    >>> pdata.obs.columns[:3].tolist(), int(pdata.obs["n_cells"].sum()) == adata.n_obs
    (['sample', 'truth', 'n_cells'], True)
    """
    if sample_key == groupby:
        msg = f"pseudobulk: sample_key and groupby are both {groupby!r}; groupby must be the cell groups"
        raise ParamError(msg)
    samples = get_obs_column(adata, sample_key, what="sample_key")
    get_obs_column(adata, groupby, what="groupby")
    where = f"layers[{layer!r}]" if layer is not None else "X"
    check_counts(get_matrix(adata, layer=layer), where=where, step="pseudobulk")
    keys = list(obs_keys) if obs_keys is not None else None
    for key in keys or ():
        get_obs_column(adata, key, what="obs_keys entry")

    summed = aggregate(adata, [sample_key, groupby], "sum", layer=layer)
    n_cells = summed.obs["n_obs_aggregated"].to_numpy()
    kept = n_cells >= min_cells
    if not kept.any():
        msg = (
            f"pseudobulk: no sample × {groupby} group has min_cells={min_cells} cells "
            f"(largest: {int(n_cells.max(initial=0))}); lower min_cells"
        )
        raise InputDataError(msg)
    summed = summed[kept].copy()
    obs = pd.DataFrame(index=summed.obs_names.astype(str))
    for key in (sample_key, groupby):  # categorical, the categories in aggregate's order
        obs[key] = pd.Categorical(summed.obs[key].array).remove_unused_categories()
    obs["n_cells"] = summed.obs["n_obs_aggregated"].to_numpy().astype(np.int64)

    first = _first_cells(adata, sample_key, groupby, obs)
    if keys is None:
        keys = _constant_within(adata.obs, samples, exclude={sample_key, groupby, "n_cells"})
    else:
        _check_constant(adata.obs, keys, sample_key, groupby)
    for key in keys:
        if key in (sample_key, groupby, "n_cells"):
            continue
        values = adata.obs[key].iloc[first]
        if isinstance(values.dtype, pd.CategoricalDtype):
            values = values.cat.remove_unused_categories()
        obs[key] = values.to_numpy() if not isinstance(values.dtype, pd.CategoricalDtype) else values.array

    counts = np.asarray(summed.layers["sum"], dtype=np.float64)
    return AnnData(X=sparse.csr_matrix(counts), obs=obs, var=adata.var.copy())


def _first_cells(adata: AnnData, sample_key: str, groupby: str, obs: pd.DataFrame) -> np.ndarray:
    """Index of one cell of each profile (sample × group) in ``obs``."""
    cells = pd.DataFrame(
        {"s": adata.obs[sample_key].astype(str).to_numpy(), "g": adata.obs[groupby].astype(str).to_numpy()}
    )
    cells["i"] = np.arange(adata.n_obs)
    firsts = cells.drop_duplicates(["s", "g"]).set_index(["s", "g"])["i"]
    wanted = pd.MultiIndex.from_arrays([obs[sample_key].astype(str), obs[groupby].astype(str)])
    return firsts.reindex(wanted).to_numpy()


def _n_distinct_pairs(outer: np.ndarray, values: pd.Series) -> int:
    inner, _ = pd.factorize(values, use_na_sentinel=False)
    return np.unique(outer.astype(np.int64) * (int(inner.max(initial=0)) + 1) + inner).size


def _constant_within(obs: pd.DataFrame, samples: pd.Series, *, exclude: set[str]) -> list[str]:
    """The ``obs`` columns with a single value in each sample (NaN counts as a value)."""
    codes, uniques = pd.factorize(samples, use_na_sentinel=False)
    n_samples = len(uniques)
    return [
        key for key in obs.columns if key not in exclude and _n_distinct_pairs(codes, obs[key]) == n_samples
    ]


def _check_constant(obs: pd.DataFrame, keys: list[str], sample_key: str, groupby: str) -> None:
    profile = obs[sample_key].astype(str) + "\x00" + obs[groupby].astype(str)
    codes, uniques = pd.factorize(profile)
    for key in keys:
        if key in (sample_key, groupby):
            continue
        if _n_distinct_pairs(codes, obs[key]) != len(uniques):
            msg = (
                f"pseudobulk: obs_keys column {key!r} varies within a sample × {groupby} group; "
                "carry over only per-sample columns (condition, donor, batch…)"
            )
            raise ParamError(msg)
