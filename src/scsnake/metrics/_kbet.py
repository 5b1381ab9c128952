"""kBET-like batch-mixing test (Büttner et al. 2019): are neighbourhoods composed like the whole data?

For a random sample of cells, the batch counts in each cell's neighbourhood (the cell and
its ``n_neighbors - 1`` nearest cells, as kBET's ``env``) are compared with the counts
expected from the global batch frequencies by Pearson's χ² test (``n_batches - 1`` degrees
of freedom). The result is the acceptance rate: the fraction of tested neighbourhoods
whose p-value is at least ``alpha`` (kBET reports its complement, the rejection rate).
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Annotated

import numpy as np
from pydantic import Field

from scsnake._params import StageParams, validated
from scsnake._rng import as_generator
from scsnake.errors import InputDataError

from ._knn import category_codes, neighbourhoods

if TYPE_CHECKING:
    from anndata import AnnData
    from numpy.typing import NDArray

__all__ = ["KbetParams", "acceptance_rate", "kbet", "kbet_pvalues"]

logger = logging.getLogger(__name__)

#: kBET tests this fraction of the cells ...
_TEST_FRACTION = 0.1
#: ... but here at least this many (all cells of smaller data), so small data give stable rates.
_MIN_TESTS = 500


class KbetParams(StageParams):
    """Parameters of :func:`kbet`."""

    batch_key: str
    """obs column with the batch of each cell."""
    use_rep: str | None = "X_pca"
    """obsm key to find neighbours in; None: shortest paths in the stored distances graph."""
    n_neighbors: Annotated[int, Field(ge=2)] = 50
    """Neighbourhood size, the cell itself included."""
    alpha: Annotated[float, Field(gt=0, lt=1)] = 0.05
    """Significance level of the test."""
    random_state: int | None = 0
    """Seed of the sample of tested cells."""


def kbet_pvalues(
    indices: NDArray[np.int64], codes: NDArray[np.int64], n_batches: int, tested: NDArray[np.int64]
) -> NDArray[np.float64]:
    """χ² p-value of the batch composition of each tested cell's neighbourhood (self included).

    ``indices`` are the other neighbours (self excluded, -1 padded: a padded neighbourhood
    is tested with its actual size).
    """
    from scipy.stats import chi2

    counts = np.zeros((tested.size, n_batches))
    rows = np.arange(tested.size)
    np.add.at(counts, (rows, codes[tested]), 1.0)  # the cell itself
    neighbours = indices[tested]
    valid = neighbours >= 0
    np.add.at(counts, (np.repeat(rows, valid.sum(axis=1)), codes[neighbours[valid]]), 1.0)
    frequencies = np.bincount(codes, minlength=n_batches) / codes.size
    expected = counts.sum(axis=1, keepdims=True) * frequencies
    statistic = ((counts - expected) ** 2 / expected).sum(axis=1)
    return chi2.sf(statistic, df=n_batches - 1)


@validated(KbetParams)
def kbet(
    adata: AnnData,
    batch_key: str,
    *,
    use_rep: str | None = "X_pca",
    n_neighbors: int = 50,
    alpha: float = 0.05,
    random_state: int | None = 0,
) -> float:
    """Acceptance rate of a kBET-like χ² test of batch mixing in cell neighbourhoods.

    Tests ``max(10% of the cells, 500)`` random cells (all cells of smaller data): each
    neighbourhood (the cell and its ``n_neighbors - 1`` nearest cells in ``obsm[use_rep]``)
    is tested against the global batch frequencies. 1 means every neighbourhood looks
    like a random draw from all batches; near 0, batches stay apart.

    Parameters
    ----------
    adata
        Cells with ``obsm[use_rep]`` (or a neighbour graph) and ``obs[batch_key]``.
    batch_key
        obs column with the batch of each cell (at least two batches).
    use_rep
        obsm key of the representation; None: shortest paths in the stored distances graph.
    n_neighbors
        Neighbourhood size, the cell itself included (lowered to ``n_obs`` with a warning).
    alpha
        Significance level.
    random_state
        Seed of the sample of tested cells (None means 0).

    Returns
    -------
    The fraction of tested neighbourhoods not rejected (0 to 1). ``adata`` is not changed.

    Examples
    --------
    >>> import anndata as ad, numpy as np, pandas as pd, scsnake as ss
    >>> rng = np.random.default_rng(0)
    >>> adata = ad.AnnData(obs=pd.DataFrame({"batch": rng.choice(["a", "b"], 300)}, index=[str(i) for i in range(300)]))
    >>> adata.obsm["X_pca"] = rng.normal(size=(300, 5))
    >>> ss.metrics.kbet(adata, "batch") > 0.8
    True
    """
    codes, names = category_codes(adata, batch_key, step="kbet")
    if len(names) < 2:
        msg = f"kbet: obs[{batch_key!r}] has {len(names)} batch(es); the test needs at least 2"
        raise InputDataError(msg)
    indices, _ = neighbourhoods(adata, use_rep, n_neighbors, step="kbet")
    return acceptance_rate(indices, codes, len(names), alpha=alpha, random_state=random_state)


def acceptance_rate(
    indices: NDArray[np.int64],
    codes: NDArray[np.int64],
    n_batches: int,
    *,
    alpha: float,
    random_state: int | None,
) -> float:
    """Fraction of a seeded sample of neighbourhoods (``max(10%, 500)`` cells) with p ≥ ``alpha``."""
    n_obs = codes.size
    n_tests = min(n_obs, max(math.ceil(_TEST_FRACTION * n_obs), _MIN_TESTS))
    rng = as_generator(random_state)
    tested = np.sort(rng.choice(n_obs, size=n_tests, replace=False)) if n_tests < n_obs else np.arange(n_obs)
    p_values = kbet_pvalues(indices, codes, n_batches, tested)
    rate = float(np.mean(p_values >= alpha))
    logger.info("kbet: %d of %d neighbourhoods accepted", round(rate * n_tests), n_tests)
    return rate
