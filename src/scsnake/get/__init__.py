"""Getters: results of tools as tidy tables (scanpy's ``sc.get``)."""

from __future__ import annotations

from ._aggregate import aggregate
from ._obs_df import obs_df, var_df
from ._rank_genes_groups_df import rank_genes_groups_df

__all__ = ["aggregate", "obs_df", "rank_genes_groups_df", "var_df"]
