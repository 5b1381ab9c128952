"""Random subsets of cells or genes: scanpy 1.11's ``pp.sample`` (the successor of ``subsample``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from anndata import AnnData
from pydantic import NonNegativeFloat, NonNegativeInt
from pydantic.json_schema import SkipJsonSchema

from scsnake._matrix import close_matches
from scsnake._params import StageParams, validated
from scsnake.errors import MissingKeyError, ParamError

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["SampleParams", "sample"]


class SampleParams(StageParams):
    """Parameters of :func:`sample`."""

    fraction: NonNegativeFloat | None = None
    """Fraction of cells (or genes) to draw; at most 1 without ``replace``."""
    n: NonNegativeInt | None = None
    """Number of cells (or genes) to draw; give ``fraction`` or ``n``."""
    rng: int | SkipJsonSchema[Any] | None = None
    """Seed or numpy Generator (``np.random.default_rng(rng)``); None draws a fresh seed."""
    replace: bool = False
    """Draw with replacement."""
    axis: Literal["obs", 0, "var", 1] = "obs"
    """Sample cells (``obs``/0) or genes (``var``/1)."""
    p: str | SkipJsonSchema[Any] | None = None
    """Probabilities (or a boolean mask, or an obs/var column of them) of drawing each item."""


def _probabilities(adata: Any, p: Any, axis_name: str) -> NDArray[np.float64] | None:
    if p is None:
        return None
    if isinstance(p, str):
        if not isinstance(adata, AnnData):
            msg = f"p={p!r} names a column, which needs an AnnData"
            raise ParamError(msg)
        frame = adata.obs if axis_name == "obs" else adata.var
        if p not in frame:
            msg = f"p {p!r} not found in adata.{axis_name}{close_matches(p, frame.columns)}"
            raise MissingKeyError(msg)
        p = frame[p].to_numpy()
    p = np.asarray(p)
    if p.dtype == bool:
        return p.astype(np.float64) / p.sum()
    return p.astype(np.float64)


@validated(SampleParams)
def sample(
    adata: AnnData | Any,
    fraction: float | None = None,
    *,
    n: int | None = None,
    rng: Any = None,
    copy: bool = False,
    replace: bool = False,
    axis: Literal["obs", 0, "var", 1] = "obs",
    p: str | NDArray[Any] | None = None,
) -> AnnData | tuple[Any, NDArray[np.int64]] | None:
    """Draw a random subset of cells or genes, as scanpy's ``pp.sample``.

    The indices are ``np.random.default_rng(rng).choice(n_items, size=n, replace=replace, p=p)``,
    the same draw as scanpy's for the same ``rng``.

    Parameters
    ----------
    adata
        An AnnData, or an array / sparse matrix (then the subset and indices are returned).
    fraction
        Fraction of the items to draw (``int(fraction * n_items)``).
    n
        Number of items to draw.
    rng
        Seed or Generator.
    copy
        Return a subset copy of the AnnData instead of subsetting it in place.
    replace
        Draw with replacement.
    axis
        ``"obs"``/0 for cells, ``"var"``/1 for genes.
    p
        Probabilities, a boolean mask (uniform over it) or a column name of them.

    Returns
    -------
    None (``adata`` subset in place), the subset AnnData with ``copy=True``, or for an
    array input ``(subset, indices)``.

    Examples
    --------
    >>> import scsnake as ss
    >>> adata = ss.datasets.synthetic(n_cells=100, n_genes=100, n_types=2, seed=0)
    >>> ss.pp.sample(adata, 0.1, rng=0)
    >>> adata.n_obs
    10
    """
    axis_name = "obs" if axis in ("obs", 0) else "var"
    axis_index = 0 if axis_name == "obs" else 1
    if isinstance(adata, AnnData) and adata.isbacked and not copy:
        msg = "sample: subsetting a backed AnnData in place is not supported; pass copy=True"
        raise ParamError(msg)
    n_items = adata.shape[axis_index]
    if fraction is None and n is None:
        msg = "sample: give fraction or n"
        raise ParamError(msg)
    if fraction is not None and n is not None:
        msg = f"sample: give fraction or n, not both (got fraction={fraction}, n={n})"
        raise ParamError(msg)
    if fraction is not None:
        if not replace and fraction > 1:
            msg = f"sample: fraction={fraction} must be within [0, 1] when replace=False"
            raise ParamError(msg)
        n = int(fraction * n_items)
    probabilities = _probabilities(adata, p, axis_name)
    indices = np.random.default_rng(rng).choice(n_items, size=n, replace=replace, p=probabilities)
    if isinstance(adata, AnnData):
        if not copy:
            if axis_name == "obs":
                adata._inplace_subset_obs(indices)
            else:
                adata._inplace_subset_var(indices)
            return None
        subset = adata[indices] if axis_name == "obs" else adata[:, indices]
        return subset.to_memory() if adata.isbacked else subset.copy()
    subset = adata[indices] if axis_name == "obs" else adata[:, indices]
    return (subset.copy() if copy else subset), indices
