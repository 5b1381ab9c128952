"""Getters: results of tools as tidy tables (scanpy's ``sc.get``)."""

from __future__ import annotations

from ._aggregate import aggregate
from ._rank_genes_groups_df import rank_genes_groups_df

__all__ = ["aggregate", "rank_genes_groups_df"]
