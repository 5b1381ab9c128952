"""The ``integration`` section and stage: remove batch effects between samples (or batches).

``integration.method`` picks where the correction happens: ``combat`` corrects the PCA genes
in the ``pca`` stage (``pca.combat_key``), ``harmony`` corrects the PCA in this stage
(``obsm['X_pca_harmony']``, which ``neighbors`` then uses), ``bbknn`` builds a batch-balanced
graph in the ``neighbors`` stage. This stage is in the workflow only for ``harmony``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt

from .._matrix import get_obs_column
from .._params import Seed, StageParams
from ..errors import InputDataError

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["BbknnOptions", "HarmonyOptions", "IntegrationParams", "check_batches", "integration"]

logger = logging.getLogger(__name__)

#: Every integration method, in the order of the comparison table.
METHODS = ("none", "combat", "harmony", "bbknn")


class HarmonyOptions(StageParams):
    """``integration.harmony``: options of Harmony (``pp.harmony_integrate``)."""

    theta: NonNegativeFloat = 2.0
    """Diversity penalty: higher mixes the batches more (0: none)."""
    lamb: PositiveFloat = 1.0
    """Ridge penalty of the correction: lower corrects more."""
    max_iter_harmony: PositiveInt = 10
    """Rounds of clustering and correction at most."""


class BbknnOptions(StageParams):
    """``integration.bbknn``: options of the batch-balanced kNN graph (``pp.bbknn``)."""

    neighbors_within_batch: PositiveInt = 3
    """Neighbours of each cell in every batch (the graph has ``n_batches ×`` this many)."""
    trim: NonNegativeInt | None = None
    """Keep each cell's strongest ``trim`` edges (None: 10 × n_batches × neighbors_within_batch; 0: all)."""


class IntegrationParams(StageParams):
    """The ``integration`` section: batch correction of the (merged) samples."""

    method: Literal["none", "combat", "harmony", "bbknn"] = "none"
    """``none``; ``combat`` (genes, before PCA); ``harmony`` (the PCA); ``bbknn`` (the kNN graph)."""
    batch_key: Annotated[str, Field(min_length=1)] | None = None
    """``obs`` column of the batches; None: ``merge.batch_key`` (the sample). Required without ``merge``."""
    compare: bool = False
    """Also run every method on the PCA and score them: ``results/<name>/integration_metrics.csv``."""
    label_key: Annotated[str, Field(min_length=1)] | None = None
    """``obs`` column of known cell types for the comparison; None: ``truth`` if present, else the
    Leiden clusters of the uncorrected data."""
    harmony: HarmonyOptions = HarmonyOptions()
    """Options of ``method: harmony``."""
    bbknn: BbknnOptions = BbknnOptions()
    """Options of ``method: bbknn``."""
    random_state: Seed | None = None
    """Seed of Harmony and of the comparison; None takes the config's ``seed``."""


def integration(adata: AnnData, params: IntegrationParams, *, random_state: int) -> AnnData:
    """Harmony on the PCA, batches from ``obs[params.batch_key]``.

    Returns
    -------
    The AnnData with ``obsm['X_pca_harmony']`` (the corrected PCA) and ``uns['integration']``
    (method, batch key, number of batches).
    """
    from .. import pp

    if params.method != "harmony":
        msg = f"the integration stage runs Harmony only (integration.method is {params.method!r})"
        raise InputDataError(msg)
    key = _batch_key(params)
    n_batches = check_batches(adata, key, "integration")
    pp.harmony_integrate(
        adata,
        key,
        basis="X_pca",
        adjusted_basis="X_pca_harmony",
        theta=params.harmony.theta,
        lamb=params.harmony.lamb,
        max_iter_harmony=params.harmony.max_iter_harmony,
        random_state=random_state,
    )
    adata.uns["integration"] = {"method": "harmony", "batch_key": key, "n_batches": n_batches}
    logger.info("integration: harmony on %d batches of obs[%r]", n_batches, key)
    return adata


def _batch_key(params: IntegrationParams) -> str:
    if params.batch_key is None:  # the workflow always fills it in
        msg = "integration.batch_key is not set (an obs column of the batches)"
        raise InputDataError(msg)
    return params.batch_key


def check_batches(adata: AnnData, key: str, stage: str) -> int:
    """The number of batches in ``obs[key]``; an error if the column is absent or has one batch."""
    values = get_obs_column(adata, key, what=f"{stage}: batch column")
    n_batches = int(values.nunique())
    if n_batches < 2:
        msg = (
            f"{stage}: obs[{key!r}] holds {n_batches} batch(es) {values.unique()[:3].tolist()}; "
            "integration needs at least 2 (merge the samples, or set integration.batch_key)"
        )
        raise InputDataError(msg)
    return n_batches
