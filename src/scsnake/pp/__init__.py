"""Preprocessing: QC, filtering, normalisation (total, Pearson residuals), HVGs, scaling, PCA, regress-out, ComBat, Harmony, BBKNN, Scrublet, recipes."""

from __future__ import annotations

from ..neighbors import neighbors
from ._bbknn import bbknn
from ._combat import combat
from ._filter import filter_cells, filter_genes
from ._filter_genes_dispersion import filter_genes_dispersion
from ._harmony import harmony_integrate
from ._highly_variable_genes import highly_variable_genes
from ._log1p import log1p
from ._normalize_per_cell import normalize_per_cell
from ._normalize_total import normalize_total
from ._pca import pca
from ._pearson_residuals import normalize_pearson_residuals
from ._qc import calculate_qc_metrics
from ._recipes import recipe_seurat, recipe_weinreb17, recipe_zheng17
from ._regress_out import regress_out
from ._sample import sample
from ._scale import scale
from ._scaled_pca import scaled_pca
from ._scrublet import scrublet, scrublet_simulate_doublets
from ._sqrt import sqrt
from ._subsample import downsample_counts, subsample

__all__ = [
    "bbknn",
    "calculate_qc_metrics",
    "combat",
    "downsample_counts",
    "filter_cells",
    "filter_genes",
    "filter_genes_dispersion",
    "harmony_integrate",
    "highly_variable_genes",
    "log1p",
    "neighbors",
    "normalize_pearson_residuals",
    "normalize_per_cell",
    "normalize_total",
    "pca",
    "recipe_seurat",
    "recipe_weinreb17",
    "recipe_zheng17",
    "regress_out",
    "sample",
    "scale",
    "scaled_pca",
    "scrublet",
    "scrublet_simulate_doublets",
    "sqrt",
    "subsample",
]
