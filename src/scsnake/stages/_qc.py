"""The ``qc`` stage: QC metrics, then cell and gene filters with their thresholds recorded."""

from __future__ import annotations

import logging
import re
import warnings
from typing import TYPE_CHECKING, Annotated

import numpy as np
import pandas as pd
from pydantic import Field, NonNegativeInt, PositiveInt, field_validator

from .._params import Seed, StageParams
from .._stage_warnings import warn_cell_loss
from ..errors import EmptyGeneSetWarning, InputDataError, MissingKeyError

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["GENE_FILTERS", "DoubletParams", "QcParams", "qc", "qc_cells_table"]

logger = logging.getLogger(__name__)

Percent = Annotated[float, Field(ge=0, le=100)]

#: Keys of ``uns['qc']['removed']`` that count genes; the others count cells.
GENE_FILTERS = ("min_cells",)


class DoubletParams(StageParams):
    """``qc.doublets``: Scrublet doublet detection on the filtered counts."""

    enabled: bool = False
    """Detect doublets (``obs['doublet_score']``, ``obs['predicted_doublet']``)."""
    expected_doublet_rate: Annotated[float, Field(gt=0, lt=1)] = 0.05
    """Expected fraction of doublets (10x: about 0.8% per 1,000 cells loaded)."""
    threshold: Annotated[float, Field(gt=0, lt=1)] | None = None
    """Score above which a cell is a doublet (None: found automatically)."""
    batch_key: str | None = None
    """``obs`` column: detect per batch (e.g. per 10x lane)."""
    remove: bool = True
    """Remove predicted doublets (False: only flag them)."""


class QcParams(StageParams):
    """The ``qc`` section: which gene sets to measure and which cells/genes to keep."""

    qc_vars: dict[str, str] = {
        "mt": "^(MT|mt|Mt)-",
        "ribo": "^(RPS|RPL|Rps|Rpl)",
        "hb": "^(HB[ABDEGMQZ]\\d*|Hb[abdegmqz][^p]?)$",
    }
    """Gene sets as ``name: regex`` on gene names; each adds ``var[name]`` and ``obs['pct_counts_<name>']``."""
    percent_top: list[PositiveInt] = [50, 100, 200]
    """Ranks for ``obs['pct_counts_in_top_<n>_genes']`` (ranks above the gene count are skipped)."""
    min_genes: NonNegativeInt | None = 200
    """Keep cells with at least this many detected genes."""
    max_genes: PositiveInt | None = None
    """Keep cells with at most this many detected genes."""
    min_counts: NonNegativeInt | None = None
    """Keep cells with at least this many counts."""
    max_counts: PositiveInt | None = None
    """Keep cells with at most this many counts."""
    max_pct_mt: Percent | None = 20.0
    """Keep cells with at most this percentage of counts in the ``mt`` gene set (needs ``qc_vars.mt``)."""
    min_cells: NonNegativeInt | None = 3
    """Keep genes detected in at least this many cells."""
    doublets: DoubletParams = DoubletParams()
    """Doublet detection (off by default)."""
    random_state: Seed | None = None
    """Seed of the doublet simulation; None takes the config's ``seed``."""

    @field_validator("qc_vars")
    @classmethod
    def _regexes_compile(cls, value: dict[str, str]) -> dict[str, str]:
        for name, pattern in value.items():
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
                msg = f"gene-set name {name!r} must be an identifier (letters, digits, _)"
                raise ValueError(msg)
            try:
                re.compile(pattern)
            except re.error as err:
                msg = f"qc_vars.{name}: {pattern!r} is not a valid regular expression ({err})"
                raise ValueError(msg) from None
        return value


def qc(adata: AnnData, params: QcParams, *, random_state: int = 0) -> AnnData:
    """Compute QC metrics and filter cells and genes.

    Returns
    -------
    The filtered AnnData with ``var[<qc_var>]`` flags, scanpy's QC columns in ``obs``/``var``
    (``n_genes_by_counts``, ``total_counts``, ``pct_counts_mt``…), and ``uns['qc']`` = the
    thresholds (``params``), how many cells/genes each filter removed (``removed``) and
    ``before``: the QC metrics of every input cell and whether it ``passed`` (see
    :func:`qc_cells_table`).

    Warns
    -----
    EmptyGeneSetWarning
        A gene set of ``qc_vars`` matches no gene name (its percentage is 0 in every cell).
    CellLossWarning
        The filters removed more than half of the cells; the message says which removed how many.
    """
    from .. import pp
    from ..pp._filter import _subset

    if params.max_pct_mt is not None and "mt" not in params.qc_vars:
        msg = "qc.max_pct_mt needs a gene set named 'mt' in qc.qc_vars"
        raise InputDataError(msg)
    names = adata.var_names.to_numpy(dtype=str)
    for name, pattern in params.qc_vars.items():
        regex = re.compile(pattern)
        adata.var[name] = np.fromiter((bool(regex.search(g)) for g in names), dtype=bool, count=len(names))
        if not adata.var[name].any():
            _warn_empty_gene_set(name, pattern, names, params)
    percent_top = [n for n in params.percent_top if n <= adata.n_vars]
    pp.calculate_qc_metrics(
        adata, qc_vars=list(params.qc_vars), percent_top=percent_top or None, inplace=True
    )

    n_cells_in, n_genes_in = adata.n_obs, adata.n_vars
    before = _before(adata)
    keep = np.ones(adata.n_obs, dtype=bool)
    removed: dict[str, int] = {}
    obs = adata.obs
    checks = [
        ("min_genes", obs["n_genes_by_counts"].to_numpy() >= (params.min_genes or 0)),
        ("max_genes", obs["n_genes_by_counts"].to_numpy() <= (params.max_genes or np.inf)),
        ("min_counts", obs["total_counts"].to_numpy() >= (params.min_counts or 0)),
        ("max_counts", obs["total_counts"].to_numpy() <= (params.max_counts or np.inf)),
    ]
    if params.max_pct_mt is not None:
        checks.append(("max_pct_mt", obs["pct_counts_mt"].to_numpy() <= params.max_pct_mt))
    for key, passed in checks:
        removed[key] = int((keep & ~passed).sum())
        keep &= passed
        if not keep.any():
            msg = (
                f"qc.{key}={getattr(params, key)!r} removed the last of {n_cells_in} cells; "
                f"relax qc.{key} (or the thresholds before it) for this sample"
            )
            raise InputDataError(msg)
    _subset(adata, keep, 0)  # CSR counts are compacted in place: no copy
    n_cells_kept = adata.n_obs
    if params.min_cells:
        # scanpy's filter_genes: stores var['n_cells']; raises naming min_cells if nothing is left
        pp.filter_genes(adata, min_cells=params.min_cells)
    removed["min_cells"] = n_genes_in - adata.n_vars
    if params.doublets.enabled:
        doublets = _doublets(adata, params.doublets, random_state, removed)
        keep[np.flatnonzero(keep)[doublets]] = False
        n_cells_kept = adata.n_obs
    before["passed"] = keep
    causes = ", ".join(
        f"qc.{key}{'' if key == 'doublets' else f'={getattr(params, key)!r}'} removed {n:,}"
        for key, n in removed.items()
        if n and key not in GENE_FILTERS
    )
    hint = "If the sample is low-depth, lower these thresholds (for this sample alone: samples.<name>.qc)"
    warn_cell_loss("qc", n_cells_in, n_cells_kept, causes=causes, hint=hint)
    adata.uns["qc"] = {
        "params": params.model_dump_json(),
        "n_cells_before": n_cells_in,
        "n_cells_after": n_cells_kept,
        "n_genes_before": n_genes_in,
        "n_genes_after": adata.n_vars,
        "removed": removed,
        "before": before,
    }
    logger.info("qc: kept %d of %d cells, %d of %d genes", n_cells_kept, n_cells_in, adata.n_vars, n_genes_in)
    return adata


def _warn_empty_gene_set(name: str, pattern: str, genes: np.ndarray, params: QcParams) -> None:
    """Warn that gene set ``name`` matches none of ``genes``, saying what that means for the filters."""
    examples = ", ".join(repr(str(g)) for g in genes[:3])
    filters = (
        f", so qc.max_pct_mt={params.max_pct_mt!r} removes no cell"
        if name == "mt" and params.max_pct_mt is not None
        else ""
    )
    msg = (
        f"qc.qc_vars.{name}: '{pattern}' matches none of the {len(genes):,} gene names (e.g. {examples}); "
        f"pct_counts_{name} is 0 in every cell{filters}. Check the gene names (gene IDs instead of "
        f"symbols? 10x: load.var_names: gene_symbols) or remove {name} from qc.qc_vars"
    )
    warnings.warn(msg, EmptyGeneSetWarning, stacklevel=3)


#: QC metrics kept for every input cell in ``uns['qc']['before']`` (those present), and their dtypes.
_BEFORE = {"n_genes_by_counts": np.int32, "total_counts": np.float32, "pct_counts_mt": np.float32}


def _before(adata: AnnData) -> dict[str, np.ndarray]:
    """The QC metrics of the unfiltered cells, compactly: three small columns, not the matrix."""
    obs = adata.obs
    return {k: obs[k].to_numpy(dtype=dtype) for k, dtype in _BEFORE.items() if k in obs.columns}


def qc_cells_table(adata: AnnData, params: QcParams | None = None) -> pd.DataFrame:
    """One row per cell of the ``qc`` input: its QC metrics and whether it ``passed`` every filter.

    Read from ``uns['qc']['before']`` of a ``qc`` artifact (or any artifact after it); the
    cells that passed are, in order, the cells of the artifact. ``params`` is unused (the
    registry's table signature).
    """
    before = adata.uns.get("qc", {}).get("before")
    if before is None:
        msg = "uns['qc']['before'] not found; it is written by the qc stage (re-run qc to add it)"
        raise MissingKeyError(msg)
    columns = {k: np.asarray(before[k]) for k in _BEFORE if k in before}  # stored order is not kept
    return pd.DataFrame({**columns, "passed": np.asarray(before["passed"], dtype=bool)})


def _doublets(
    adata: AnnData, params: DoubletParams, random_state: int, removed: dict[str, int]
) -> np.ndarray:
    """Scrublet on the filtered counts; flags (and optionally removes) predicted doublets.

    Returns which of the cells it was given it removed.
    """
    from .. import pp
    from ..pp._filter import _subset

    pp.scrublet(
        adata,
        expected_doublet_rate=params.expected_doublet_rate,
        threshold=params.threshold,
        batch_key=params.batch_key,
        random_state=random_state,
        verbose=False,
    )
    predicted = adata.obs["predicted_doublet"].to_numpy(dtype=bool)
    removed["doublets"] = int(predicted.sum()) if params.remove else 0
    if params.remove and predicted.any():
        if predicted.all():
            msg = "qc.doublets flagged every cell as a doublet; set qc.doublets.threshold or remove: false"
            raise InputDataError(msg)
        _subset(adata, ~predicted, 0)
    logger.info("qc: %d predicted doublets%s", int(predicted.sum()), " removed" if params.remove else "")
    return predicted if params.remove else np.zeros_like(predicted)
