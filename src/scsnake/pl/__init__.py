"""Plots (matplotlib) with scanpy's names and output keywords: ``show``, ``save`` (a suffix, written
to ``settings.figdir``), ``return_fig`` (see :mod:`scsnake.pl._show_save`)."""

from __future__ import annotations

from ._cluster_sizes import cluster_sizes
from ._de import ma, volcano
from ._dotplot import DotPlot, dotplot
from ._embedding import diffmap, draw_graph, embedding, pca, tsne, umap
from ._graph_plots import dendrogram, paga
from ._heatmap import heatmap, tracksplot
from ._matrix_plots import MatrixPlot, StackedViolin, matrixplot, stacked_violin
from ._overview import correlation_matrix, pca_overview, ranking
from ._preprocessing import highly_variable_genes, pca_loadings, pca_variance_ratio, qc_overview
from ._qc_scores import embedding_density, scrublet_score_distribution
from ._rank_genes_groups import (
    rank_genes_groups,
    rank_genes_groups_dotplot,
    rank_genes_groups_heatmap,
    rank_genes_groups_matrixplot,
    rank_genes_groups_stacked_violin,
    rank_genes_groups_tracksplot,
)
from ._rank_genes_groups_violin import rank_genes_groups_violin
from ._scatter import highest_expr_genes, scatter
from ._trajectory import dpt_groups_pseudotime, dpt_timeseries, paga_compare, paga_path
from ._violin import violin

__all__ = [
    "DotPlot",
    "MatrixPlot",
    "StackedViolin",
    "cluster_sizes",
    "correlation_matrix",
    "dendrogram",
    "diffmap",
    "dotplot",
    "dpt_groups_pseudotime",
    "dpt_timeseries",
    "draw_graph",
    "embedding",
    "embedding_density",
    "heatmap",
    "highest_expr_genes",
    "highly_variable_genes",
    "ma",
    "matrixplot",
    "paga",
    "paga_compare",
    "paga_path",
    "pca",
    "pca_loadings",
    "pca_overview",
    "pca_variance_ratio",
    "qc_overview",
    "rank_genes_groups",
    "rank_genes_groups_dotplot",
    "rank_genes_groups_heatmap",
    "rank_genes_groups_matrixplot",
    "rank_genes_groups_stacked_violin",
    "rank_genes_groups_tracksplot",
    "rank_genes_groups_violin",
    "ranking",
    "scatter",
    "scrublet_score_distribution",
    "stacked_violin",
    "tracksplot",
    "tsne",
    "umap",
    "violin",
    "volcano",
]
