"""``bbknn`` with ``scanpy.external.pp.bbknn``'s signature, on scsnake's exact batch-balanced graph.

scsnake computes BBKNN itself (:func:`scsnake.pp.bbknn`, checked against the bbknn package);
this front end takes the keywords scanpy users pass. The approximate-search options choose
how bbknn *approximates* each batch's nearest neighbours (Annoy, pynndescent, faiss); scsnake
always finds them exactly, which is bbknn's result with ``approx=False``, so they are accepted
and have no effect.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import NonNegativeInt, PositiveInt

from scsnake._params import validated
from scsnake.pp._bbknn import BbknnParams as _BbknnParams
from scsnake.pp._bbknn import bbknn as _bbknn

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["ExternalBbknnParams", "bbknn"]


class ExternalBbknnParams(_BbknnParams):
    """Parameters of :func:`scsnake.external.pp.bbknn`: :func:`scsnake.pp.bbknn`'s and scanpy's search options."""

    n_pcs: PositiveInt | None = 50
    """Use the first ``n_pcs`` columns of the representation (all if it has fewer; None: all)."""
    approx: bool = True
    """Accepted for scanpy's signature; the search is exact either way (bbknn's ``approx=False``)."""
    use_annoy: bool = True
    """Accepted for scanpy's signature; no effect (approximate search only)."""
    annoy_n_trees: PositiveInt = 10
    """Accepted for scanpy's signature; no effect (approximate search only)."""
    pynndescent_n_neighbors: PositiveInt = 30
    """Accepted for scanpy's signature; no effect (approximate search only)."""
    pynndescent_random_state: NonNegativeInt = 0
    """Accepted for scanpy's signature; no effect (approximate search only)."""
    use_faiss: bool = True
    """Accepted for scanpy's signature; no effect (approximate search only)."""


@validated(ExternalBbknnParams)
def bbknn(
    adata: AnnData,
    *,
    batch_key: str = "batch",
    use_rep: str = "X_pca",
    approx: bool = True,
    use_annoy: bool = True,
    metric: str = "euclidean",
    copy: bool = False,
    neighbors_within_batch: int = 3,
    n_pcs: int | None = 50,
    trim: int | None = None,
    annoy_n_trees: int = 10,
    pynndescent_n_neighbors: int = 30,
    pynndescent_random_state: int = 0,
    use_faiss: bool = True,
    set_op_mix_ratio: float = 1.0,
    local_connectivity: float = 1.0,
    key_added: str | None = None,
) -> AnnData | None:
    """Batch-balanced kNN graph (Polański et al. 2020), called as ``scanpy.external.pp.bbknn``.

    Each cell's neighbours are its ``neighbors_within_batch`` nearest cells in every batch;
    connectivities are UMAP's fuzzy simplicial set of that graph, trimmed to each cell's
    strongest ``trim`` edges. Computed by :func:`scsnake.pp.bbknn` (no extra package needed),
    which searches exactly: equal to bbknn with ``approx=False``.

    Parameters
    ----------
    adata
        Cells with a representation in ``obsm[use_rep]``.
    batch_key
        obs column with the batch of each cell.
    use_rep
        obsm key of the representation (``"X"``: the data matrix).
    approx, use_annoy, annoy_n_trees, pynndescent_n_neighbors, pynndescent_random_state, use_faiss
        bbknn's approximate-search options, accepted for scanpy's signature: no effect, the
        search is exact.
    metric
        Distance metric.
    copy
        Return a changed copy instead of writing to ``adata``.
    neighbors_within_batch
        Neighbours per batch; every batch needs at least this many cells.
    n_pcs
        Use this many leading columns of the representation (all if it has fewer, as bbknn).
    trim
        Keep each cell's strongest ``trim`` connectivities; None: ``10 × k``; 0: keep all.
    set_op_mix_ratio, local_connectivity
        UMAP's fuzzy set options.
    key_added
        Store under ``uns[key_added]`` and ``obsp[f"{key_added}_distances"]`` /
        ``obsp[f"{key_added}_connectivities"]`` instead of the default keys.

    Returns
    -------
    None, or the copy if ``copy=True``. Writes ``adata.obsp['distances']``,
    ``adata.obsp['connectivities']`` and ``adata.uns['neighbors']`` (see :func:`scsnake.pp.bbknn`).

    Examples
    --------
    >>> import anndata as ad, numpy as np, pandas as pd, scsnake as ss
    >>> rng = np.random.default_rng(0)
    >>> adata = ad.AnnData(obs=pd.DataFrame({"batch": ["a", "b"] * 30}, index=[str(i) for i in range(60)]))
    >>> adata.obsm["X_pca"] = rng.normal(size=(60, 5))
    >>> ss.external.pp.bbknn(adata, batch_key="batch", neighbors_within_batch=2)
    >>> adata.uns["neighbors"]["params"]["n_neighbors"]
    4
    """
    if n_pcs is not None and n_pcs >= _n_columns(adata, use_rep):
        n_pcs = None  # bbknn slices the first n_pcs columns: all of them
    return _bbknn(
        adata,
        batch_key,
        use_rep=use_rep,
        n_pcs=n_pcs,
        neighbors_within_batch=neighbors_within_batch,
        trim=trim,
        metric=metric,
        set_op_mix_ratio=set_op_mix_ratio,
        local_connectivity=local_connectivity,
        key_added=key_added,
        copy=copy,
    )


def _n_columns(adata: AnnData, use_rep: str) -> int:
    """Columns of the representation; a missing key counts as wide (:func:`scsnake.pp.bbknn` reports it)."""
    if use_rep == "X":
        return adata.n_vars
    if use_rep in adata.obsm:
        return adata.obsm[use_rep].shape[1]
    return 1 << 62
