"""Tools: embeddings, clustering and marker genes."""

from __future__ import annotations

from scsnake.pp import pca  # scanpy's sc.tl.pca is sc.pp.pca, the same function

from ._annotate import annotate_clusters
from ._dendrogram import dendrogram
from ._diffmap import diffmap
from ._dpt import dpt
from ._draw_graph import draw_graph
from ._embedding_density import embedding_density
from ._filter_rank_genes_groups import filter_rank_genes_groups
from ._ingest import ingest
from ._leiden import leiden
from ._louvain import louvain
from ._marker_gene_overlap import marker_gene_overlap
from ._paga import paga
from ._pseudobulk import pseudobulk
from ._pseudobulk_de import check_de_design, pseudobulk_de
from ._rank_genes_groups import rank_genes_groups
from ._score_genes import score_genes, score_genes_cell_cycle
from ._sim import sim
from ._tsne import tsne
from ._umap import umap

__all__ = [
    "annotate_clusters",
    "check_de_design",
    "dendrogram",
    "diffmap",
    "dpt",
    "draw_graph",
    "embedding_density",
    "filter_rank_genes_groups",
    "ingest",
    "leiden",
    "louvain",
    "marker_gene_overlap",
    "paga",
    "pca",
    "pseudobulk",
    "pseudobulk_de",
    "rank_genes_groups",
    "score_genes",
    "score_genes_cell_cycle",
    "sim",
    "tsne",
    "umap",
]
