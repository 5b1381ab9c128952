"""Density of cells in a 2-D embedding: Gaussian kernel density, scaled to [0, 1] per group."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from scsnake._matrix import get_obs_column, get_obsm
from scsnake._params import StageParams, validated
from scsnake.errors import InputDataError, ParamError

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["EmbeddingDensityParams", "embedding_density"]

logger = logging.getLogger(__name__)


class EmbeddingDensityParams(StageParams):
    """Parameters of :func:`embedding_density`."""

    basis: str = "umap"
    """Embedding ``obsm['X_<basis>']`` (``"fa"`` means ``draw_graph_fa``)."""
    groupby: str | None = None
    """Categorical ``obs`` column: densities are estimated within each category."""
    key_added: str | None = None
    """``obs`` column of the result; None: ``<basis>_density`` or ``<basis>_density_<groupby>``."""
    components: str | Sequence[int | str] | None = None
    """Two 1-based components, e.g. ``"1,2"`` or ``[2, 3]``; None means ``"1,2"``."""


def _parse_components(components: str | Sequence[int | str] | None) -> np.ndarray:
    """The two 1-based components as an int array."""
    if components is None:
        components = "1,2"
    parts = components.split(",") if isinstance(components, str) else list(components)
    try:
        values = np.array([int(str(p).strip()) for p in parts], dtype=np.int64)
    except ValueError:
        values = None
    if values is None or values.size != 2 or (values < 1).any():
        msg = f"components={components!r}: give exactly 2 positive (1-based) components, e.g. '1,2'"
        raise ParamError(msg)
    return values


def _scaled_density(points: np.ndarray, label: str) -> np.ndarray:
    """scipy's Gaussian KDE (Scott's bandwidth) at each point, min-max scaled to [0, 1]."""
    from scipy.stats import gaussian_kde

    n_points = points.shape[1]
    try:
        z = gaussian_kde(points)(points)
    except (np.linalg.LinAlgError, ValueError) as err:
        msg = f"cannot estimate the density of {label} ({n_points} cells): {err}; the cells must not lie on a line"
        raise InputDataError(msg) from None
    low, high = z.min(), z.max()
    if high == low:  # every cell equally dense
        return np.zeros_like(z)
    return (z - low) / (high - low)


def _categories(adata: AnnData, groupby: str) -> pd.Categorical:
    """``obs[groupby]`` as categories (text columns are turned into categories, as scanpy does)."""
    column = get_obs_column(adata, groupby, what="groupby")
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.array
    if pd.api.types.is_string_dtype(column.dtype) or column.dtype == object:
        return pd.Categorical(column)
    msg = f"groupby={groupby!r}: obs column must be categorical (or text), got dtype {column.dtype}"
    raise InputDataError(msg)


@validated(EmbeddingDensityParams)
def embedding_density(
    adata: AnnData,
    basis: str = "umap",
    *,
    groupby: str | None = None,
    key_added: str | None = None,
    components: str | Sequence[int | str] | None = None,
) -> None:
    """Estimate the density of cells in an embedding, optionally per category.

    A Gaussian kernel density estimate (scipy's ``gaussian_kde``, Scott's bandwidth)
    over two embedding components, evaluated at every cell and min-max scaled to
    [0, 1] — within each category of ``groupby`` if given, so values compare only
    within a category. As in scanpy, ``basis="diffmap"`` skips the first component.

    Parameters
    ----------
    adata
        Cells with the embedding ``obsm['X_<basis>']``.
    basis
        Embedding name, e.g. ``"umap"``, ``"tsne"``, ``"pca"``, ``"draw_graph_fa"`` (or ``"fa"``).
    groupby
        Categorical ``obs`` column; densities are estimated per category. Cells
        without a category get 0.
    key_added
        ``obs`` column of the result.
    components
        Two 1-based components (``"1,2"``, ``[2, 3]``); None means ``"1,2"``.

    Returns
    -------
    None. Writes:

    ``adata.obs['<basis>_density']`` (``<basis>_density_<groupby>`` with ``groupby``, or ``key_added``)
        Scaled density of each cell (float).
    ``adata.uns['<that key>_params']``
        ``covariate`` (``groupby``) and ``components`` (1-based).

    Examples
    --------
    >>> import numpy as np, anndata as ad
    >>> adata = ad.AnnData(np.zeros((50, 1), dtype=np.float32))
    >>> adata.obsm["X_umap"] = np.random.default_rng(0).normal(size=(50, 2))
    >>> embedding_density(adata)
    >>> float(adata.obs["umap_density"].min()), float(adata.obs["umap_density"].max())
    (0.0, 1.0)
    """
    basis = basis.lower()
    if basis == "fa":
        basis = "draw_graph_fa"
    key = f"X_{basis}"
    embedding = get_obsm(adata, key, hint=f": compute the {basis!r} embedding first")
    columns = _parse_components(components) - 1
    if basis == "diffmap":  # scanpy skips diffmap's first (constant) component
        columns = columns + 1
    if columns.max() >= embedding.shape[1]:
        msg = f"components={components!r}: obsm[{key!r}] has only {embedding.shape[1]} columns"
        raise ParamError(msg)
    coords = np.asarray(embedding[:, columns], dtype=np.float64).T  # (2, n_obs)
    if not np.isfinite(coords).all():
        msg = f"obsm[{key!r}] contains NaN or infinite values"
        raise InputDataError(msg)

    if key_added is not None:
        density_key = key_added
    elif groupby is not None:
        density_key = f"{basis}_density_{groupby}"
    else:
        density_key = f"{basis}_density"

    if groupby is None:
        density = _scaled_density(coords, "the embedding")
    else:
        groups = _categories(adata, groupby)
        density = np.zeros(adata.n_obs)
        for code, category in enumerate(groups.categories):
            mask = groups.codes == code
            if mask.any():  # unused categories have no cells to estimate
                density[mask] = _scaled_density(coords[:, mask], f"{groupby}={category!r}")

    adata.obs[density_key] = density
    stored = _parse_components(components).tolist()  # 1-based, as given
    adata.uns[f"{density_key}_params"] = {"covariate": groupby, "components": stored}
    logger.info("added obs[%r] and uns[%r]", density_key, f"{density_key}_params")
