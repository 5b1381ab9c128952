"""scanpy's ``sc.experimental.pp``: Pearson-residual gene selection, normalisation, PCA and recipe."""

from __future__ import annotations

from scsnake.pp import normalize_pearson_residuals

from ._pearson_residuals import (
    highly_variable_genes,
    normalize_pearson_residuals_pca,
    recipe_pearson_residuals,
)

__all__ = [
    "highly_variable_genes",
    "normalize_pearson_residuals",
    "normalize_pearson_residuals_pca",
    "recipe_pearson_residuals",
]
