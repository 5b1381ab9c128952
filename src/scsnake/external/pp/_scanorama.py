"""Scanorama integration (Hie et al. 2019) of a cell embedding, as ``scanpy.external`` calls it.

``scanorama.assemble`` gets one block of ``obsm[basis]`` per batch, in the order the batches
first appear, and returns them corrected; the blocks are put back in the cells' order. Unlike
``scanpy.external.pp.scanorama_integrate``, which refuses batches whose cells are not
contiguous, the cells are grouped by batch (keeping their order within a batch) and the
result is returned to the original order: on contiguous batches the blocks, and so the
result, are exactly scanpy's.

Scanorama is deterministic for given inputs: its exact search is scikit-learn's, and its
approximate one (``approx=True``, Annoy) searches every tree to the end (``search_k=-1``),
so the neighbours found do not depend on the trees' random splits or on the threads that
built them.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import logging
import warnings
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import pandas as pd
from pydantic import Field, PositiveFloat, PositiveInt

from scsnake._matrix import check_finite, get_obs_column, get_obsm, view_to_actual
from scsnake._params import StageParams, validated
from scsnake.errors import DataWarning, InputDataError, ParamError

from .._optional import import_extra

if TYPE_CHECKING:
    from anndata import AnnData
    from numpy.typing import NDArray

__all__ = ["ScanoramaIntegrateParams", "scanorama_integrate"]

logger = logging.getLogger(__name__)

#: Keywords of ``scanorama.assemble`` passed on through ``**kwargs`` (the others would change
#: what is returned or open figures).
_PASSED_ON = frozenset({"verbose"})


class ScanoramaIntegrateParams(StageParams):
    """Parameters of :func:`scanorama_integrate`."""

    key: str
    """obs column with the batch of each cell."""
    basis: str = "X_pca"
    """obsm key of the embedding to correct."""
    adjusted_basis: str = "X_scanorama"
    """obsm key the corrected embedding is stored under."""
    knn: PositiveInt = 20
    """Neighbours searched per cell when matching cells across batches."""
    sigma: PositiveFloat = 15
    """Width of the Gaussian kernel that smooths the correction vectors."""
    approx: bool = True
    """Approximate neighbour search (Annoy, Manhattan distance) instead of scikit-learn's exact one."""
    alpha: Annotated[float, Field(ge=0, le=1)] = 0.1
    """Two batches are merged only if their alignment score (share of matched cells) exceeds this."""
    batch_size: PositiveInt | None = 5000
    """Cells per block of the kernel computation (less memory); None: all at once."""


def _batch_blocks(adata: AnnData, key: str) -> tuple[NDArray[np.intp], NDArray[np.intp], list[str]]:
    """Cell order grouped by batch, block boundaries and batch names (in order of first appearance)."""
    column = get_obs_column(adata, key, what="key")
    codes, uniques = pd.factorize(column.to_numpy())
    if (codes < 0).any():
        msg = f"scanorama_integrate: {int((codes < 0).sum())} cell(s) have no batch in obs[{key!r}] (missing value); fill or drop them"
        raise InputDataError(msg)
    names = [str(u) for u in uniques]
    if len(names) < 2:
        msg = f"scanorama_integrate: obs[{key!r}] has a single batch ({names[0]!r}); there is nothing to integrate"
        raise InputDataError(msg)
    order = np.argsort(codes, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(codes, minlength=len(names)))])
    return order, bounds, names


def _check_exact_search(knn: int, sizes: list[int], names: list[str]) -> None:
    """scikit-learn's exact search needs ``knn`` cells among the batches before and after each batch.

    The smallest such groups are the first batch (searched from the second) and the last one
    (searched from the one before it).
    """
    for i in (0, len(sizes) - 1):
        if knn > sizes[i]:
            msg = (
                f"scanorama_integrate: knn={knn} with approx=False needs at least {knn} cells in batch "
                f"{names[i]!r} (it has {sizes[i]}); lower knn or use approx=True"
            )
            raise ParamError(msg)


def _report(stdout: str, stderr: str) -> list[str]:
    """Log Scanorama's printed progress; return its warnings (stderr lines ``WARNING: …``)."""
    for line in stdout.splitlines():
        if line.strip():
            logger.info("scanorama: %s", line)
    problems = []
    for line in stderr.splitlines():
        text = line.strip()
        if text.startswith("WARNING:"):  # e.g. oversmoothing: that batch is left uncorrected
            problems.append(text[len("WARNING:") :].strip())
        elif text:
            logger.warning("scanorama: %s", text)
    return problems


@validated(ScanoramaIntegrateParams)
def scanorama_integrate(
    adata: AnnData,
    key: str,
    *,
    basis: str = "X_pca",
    adjusted_basis: str = "X_scanorama",
    knn: int = 20,
    sigma: float = 15,
    approx: bool = True,
    alpha: float = 0.1,
    batch_size: int | None = 5000,
    **kwargs: Any,
) -> None:
    """Remove batch effects from an embedding with Scanorama (Hie et al. 2019).

    Mutual nearest neighbours between batches align them into a panorama; each cell is moved
    by the Gaussian-weighted average of its matched neighbours' correction vectors. Calls
    ``scanorama.assemble`` as ``scanpy.external.pp.scanorama_integrate`` does, with the same
    arguments and result; batches need not be contiguous (the cells are grouped by batch
    for Scanorama and put back in their order). Needs ``pip install 'scsnake[scanorama]'``.

    Parameters
    ----------
    adata
        Cells with an embedding in ``obsm[basis]`` (usually PCA).
    key
        obs column with the batch of each cell; at least 2 batches.
    basis
        obsm key of the embedding to correct.
    adjusted_basis
        obsm key to store the corrected embedding under.
    knn
        Neighbours searched per cell when matching cells across batches.
    sigma
        Width of the Gaussian kernel that smooths the correction vectors.
    approx
        Approximate search with Annoy (Manhattan distance); False: scikit-learn's exact search.
    alpha
        Alignment score (share of matched cells) two batches need to be merged.
    batch_size
        Cells per block of the kernel computation; None computes it at once.
    **kwargs
        ``verbose`` of ``scanorama.assemble`` (its messages go to the log).

    Returns
    -------
    None. Writes ``adata.obsm[adjusted_basis]``: the corrected embedding (cells × the columns
    of ``obsm[basis]``, float64 where a batch was corrected).

    Examples
    --------
    >>> import anndata as ad, numpy as np, pandas as pd, scsnake as ss
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(120, 5)) + np.repeat([[0.0], [4.0]], 60, axis=0)
    >>> adata = ad.AnnData(obs=pd.DataFrame({"batch": ["a", "b"] * 60}, index=[str(i) for i in range(120)]))
    >>> adata.obsm["X_pca"] = x
    >>> ss.external.pp.scanorama_integrate(adata, "batch", knn=10)
    >>> adata.obsm["X_scanorama"].shape
    (120, 5)
    """
    unknown = sorted(set(kwargs) - _PASSED_ON)
    if unknown:
        msg = f"scanorama_integrate: unknown keyword(s) {', '.join(unknown)} (of scanorama.assemble's, only {', '.join(sorted(_PASSED_ON))} is passed on)"
        raise ParamError(msg)
    embedding = np.asarray(get_obsm(adata, basis, hint="; run pca first or pass basis="))
    if embedding.ndim != 2 or embedding.shape[1] == 0 or embedding.shape[0] < 2:
        msg = f"scanorama_integrate: obsm[{basis!r}] has shape {embedding.shape}; it needs at least 2 cells and 1 column"
        raise InputDataError(msg)
    check_finite(embedding, where=f"obsm[{basis!r}]")
    order, bounds, names = _batch_blocks(adata, key)
    if not approx:
        _check_exact_search(knn, np.diff(bounds).tolist(), names)
    scanorama = import_extra("scanorama", "scanorama", what="scanorama_integrate")

    blocks = [embedding[order[start:stop]] for start, stop in itertools.pairwise(bounds)]
    logger.info("scanorama: %d cells in %d batches of obs[%r]", adata.n_obs, len(names), key)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        integrated = scanorama.assemble(
            blocks,
            knn=knn,
            sigma=sigma,
            approx=approx,
            alpha=alpha,
            ds_names=names,
            batch_size=batch_size,
            **kwargs,
        )
    for problem in _report(out.getvalue(), err.getvalue()):
        warnings.warn(f"scanorama: {problem}", DataWarning, stacklevel=3)
    stacked = np.concatenate(integrated)
    corrected = np.empty_like(stacked)
    corrected[order] = stacked
    view_to_actual(adata)
    adata.obsm[adjusted_basis] = corrected
    logger.info("added obsm[%r]", adjusted_basis)
