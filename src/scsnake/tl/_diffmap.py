"""Diffusion maps of the neighbour graph and the diffusion-pseudotime distances built on them."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
from pydantic import Field
from scipy import sparse

from scsnake._params import StageParams, validated
from scsnake._rng import as_seed
from scsnake.errors import InputDataError

from ._graph import neighbors_entry

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["DiffmapParams", "DptDistances", "component_labels", "diffmap", "diffusion_components"]

logger = logging.getLogger(__name__)

#: Eigenvalues at or above this count as stationary (float32 precision), as in scanpy.
STATIONARY_EVAL = 0.9994


class DiffmapParams(StageParams):
    """Parameters of :func:`diffmap`."""

    n_comps: Annotated[int, Field(gt=2)] = 15
    """Diffusion components to compute, the stationary first one included (> 2)."""
    neighbors_key: str | None = None
    """``uns`` key of the ``neighbors`` result whose connectivities are used."""
    random_state: int | None = 0
    """Seed of the start vector of the eigensolver (None means 0)."""


def symmetric_transitions(connectivities: Any) -> Any:
    """The symmetrised transition matrix ``Z⁻¹ K̃ Z⁻¹`` with density normalisation.

    ``K̃ = D⁻¹ K D⁻¹`` (Coifman and Lafon's density rescaling, ``D`` the degrees) and
    ``Z² = diag(K̃ 1)``; computed in the connectivities' own precision, with the same
    operations as scanpy's ``Neighbors.compute_transitions``.
    """
    conn = connectivities
    n = conn.shape[0]
    dens = np.asarray(conn.sum(axis=0))
    if sparse.issparse(conn):
        d_inv = sparse.spdiags(1.0 / dens, 0, n, n)
        conn_norm = d_inv @ conn @ d_inv
        z = np.sqrt(np.asarray(conn_norm.sum(axis=0)))
        z_inv = sparse.spdiags(1.0 / z, 0, n, n)
        return (z_inv @ conn_norm @ z_inv).tocsr()
    conn = np.asarray(conn)
    d_inv = (1.0 / dens).ravel()
    conn_norm = conn * d_inv[:, None] * d_inv[None, :]
    z_inv = (1.0 / np.sqrt(conn_norm.sum(axis=0))).ravel()
    return conn_norm * z_inv[:, None] * z_inv[None, :]


def diffusion_components(
    connectivities: Any, n_comps: int, random_state: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Largest eigenvalues (decreasing, float32) and eigenvectors (columns) of the transitions.

    ``eigsh`` on the float64 symmetrised matrix with a start vector drawn from
    ``RandomState(random_state)``, as scanpy's ``Neighbors.compute_eigen``.
    """
    from scipy.sparse.linalg import eigsh

    n_obs = connectivities.shape[0]
    if n_obs < 3:
        msg = f"diffmap needs at least 3 cells, got {n_obs}"
        raise InputDataError(msg)
    degrees = np.asarray(connectivities.sum(axis=0)).ravel()
    if (degrees <= 0).any():
        n_isolated = int((degrees <= 0).sum())
        msg = f"the neighbour graph has {n_isolated} cell(s) without edges; a transition matrix needs every cell connected"
        raise InputDataError(msg)
    matrix = symmetric_transitions(connectivities).astype(np.float64)
    n_comps = min(n_obs - 1, n_comps)
    v0 = np.random.RandomState(as_seed(random_state)).standard_normal(n_obs)
    evals, evecs = eigsh(matrix, k=n_comps, which="LM", ncv=None, v0=v0)
    evals, evecs = evals.astype(np.float32)[::-1], evecs.astype(np.float32)[:, ::-1]
    logger.info("eigenvalues of the transition matrix: %s", evals)
    return evals, evecs


def component_labels(connectivities: Any) -> np.ndarray | None:
    """Connected-component label of each cell (weak connection), None if only one (or dense)."""
    if not sparse.issparse(connectivities):
        return None
    from scipy.sparse.csgraph import connected_components

    n_components, labels = connected_components(connectivities)
    return labels if n_components > 1 else None


class DptDistances:
    """Diffusion-pseudotime distances, one row at a time (rows are cached).

    Row ``i`` is Haghverdi et al.'s (2016) distance with scanpy's additions: components
    with eigenvalue ≥ 0.9994 enter unweighted, and cells in other connected components
    are infinitely far. Computed in float32 with the operations of scanpy's
    ``Neighbors._get_dpt_row``. ``d[i]`` is a row, ``d[i, j]`` one distance,
    ``d.restrict(cells)`` the same on a subset (indices local to it).
    """

    def __init__(
        self,
        evals: np.ndarray,
        basis: np.ndarray,
        labels: np.ndarray | None = None,
        *,
        cells: np.ndarray | None = None,
        rows: dict[int, np.ndarray] | None = None,
    ) -> None:
        self.evals, self.basis, self.labels = evals, basis, labels
        self.cells = cells
        self._rows = {} if rows is None else rows

    def _full_row(self, i: int) -> np.ndarray:
        if i not in self._rows:
            evals, basis = self.evals, self.basis
            row: Any = 0
            for j in range(evals.size):
                if evals[j] < STATIONARY_EVAL:
                    row = row + (evals[j] / (1 - evals[j]) * (basis[i, j] - basis[:, j])) ** 2
            stationary: Any = 0
            for k in range(evals.size):
                if evals[k] >= STATIONARY_EVAL:
                    stationary = stationary + (basis[i, k] - basis[:, k]) ** 2
            row = row + stationary
            if self.labels is not None:
                row[self.labels != self.labels[i]] = np.inf
            self._rows[i] = np.sqrt(row)
        return self._rows[i]

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, tuple):
            i, j = index
            return self[i][j]
        if self.cells is None:
            return self._full_row(int(index))
        return self._full_row(int(self.cells[index]))[self.cells]

    def restrict(self, cells: np.ndarray) -> DptDistances:
        """The distances among ``cells`` (global indices), sharing the row cache."""
        if self.cells is not None:
            cells = self.cells[cells]
        return DptDistances(self.evals, self.basis, self.labels, cells=np.asarray(cells), rows=self._rows)


@validated(DiffmapParams)
def diffmap(
    adata: AnnData,
    n_comps: int = 15,
    *,
    neighbors_key: str | None = None,
    random_state: int | None = 0,
    copy: bool = False,
) -> AnnData | None:
    """Embed the cells with a diffusion map of the neighbour graph.

    The transition matrix is built from the ``neighbors`` connectivities (their kernel
    width is set by ``n_neighbors``; ``method="gauss"`` gives Haghverdi et al.'s
    original kernel), normalised for sampling density, and its largest eigenvectors are
    computed as scanpy does (``eigsh``, seeded start vector), so eigenvalues and
    components equal scanpy's (component signs included).

    Parameters
    ----------
    adata
        Cells with a neighbour graph (run ``neighbors`` first).
    n_comps
        Number of components (> 2); the first is the stationary, non-informative one.
    neighbors_key
        ``uns`` key of the ``neighbors`` result (default ``"neighbors"``).
    random_state
        Seed of the eigensolver's start vector.
    copy
        Return a changed copy instead of writing to ``adata``.

    Returns
    -------
    None, or the copy if ``copy=True``. Writes:

    ``adata.obsm['X_diffmap']``
        Float32 ``n_obs × n_comps`` right eigenvectors of the transition matrix; column 0
        is the stationary state, the first diffusion component is column 1.
    ``adata.uns['diffmap_evals']``
        Float32 eigenvalues, decreasing.

    Examples
    --------
    >>> import numpy as np, anndata as ad, scsnake as ss
    >>> t = np.linspace(0, 1, 60, dtype="float32")
    >>> adata = ad.AnnData(np.column_stack([t, t**2, np.sin(3 * t)]))
    >>> ss.pp.neighbors(adata, n_neighbors=5)
    >>> ss.tl.diffmap(adata, n_comps=4)
    >>> adata.obsm["X_diffmap"].shape, float(adata.uns["diffmap_evals"][0]) > 0.999
    ((60, 4), True)
    """
    adata = adata.copy() if copy else adata
    _, connectivities = neighbors_entry(adata, neighbors_key)
    run_diffmap(adata, connectivities, n_comps=n_comps, random_state=random_state)
    return adata if copy else None


def run_diffmap(adata: AnnData, connectivities: Any, *, n_comps: int, random_state: int | None) -> None:
    """Compute the diffusion map of ``connectivities`` and store it (``obsm``/``uns``)."""
    evals, evecs = diffusion_components(connectivities, n_comps, random_state)
    labels = component_labels(connectivities)
    if labels is not None and labels.max() + 1 > evals.size / 2:
        logger.warning("the transition matrix has many (%d) disconnected components", labels.max() + 1)
    adata.obsm["X_diffmap"] = evecs
    adata.uns["diffmap_evals"] = evals
    logger.info("added obsm['X_diffmap'] and uns['diffmap_evals'] (%d components)", evals.size)
