"""Seurat v3 HVG selection (variance of regularised z-scores) and the loess fit it needs.

The loess is a one-predictor re-implementation of Cleveland, Grosse & Shyu's ``dloess``
(what ``skmisc.loess`` wraps) with its defaults: degree 2, tricube weights, a k-d tree of
vertices with local fits (value and slope) blended by cubic Hermite interpolation
(``surface="interpolate"``, ``cell=0.2``). It reproduces ``skmisc`` to ~1e-12.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from scsnake.errors import DataWarning, InputDataError
from scsnake.pp._hvg_kernels import grouped_clipped_sums, grouped_moments, mean_var_from_sums, squares_rtol

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["loess_fit", "seurat_v3_table"]

#: dloess' default fraction of points per k-d tree cell (multiplied by the span).
_CELL = 0.2


def _split_points(xs: NDArray[np.float64], max_in_cell: int, max_vertices: int) -> NDArray[np.float64]:
    """Vertices of dloess' k-d tree over the sorted predictor ``xs`` (bounding box included)."""
    n = xs.size
    lo, hi = float(xs[0]), float(xs[-1])
    margin = 0.005 * max(hi - lo, 1e-10 * max(abs(lo), abs(hi)) + 1e-30)
    vertices = [lo - margin, hi + margin]
    # cells in breadth-first order: 1-based inclusive ranges into xs, and their bounds
    cells = [(1, n, vertices[0], vertices[1])]
    n_cells = 1
    for first, last, left, right in cells:  # the list grows while it is walked
        if last - first + 1 <= max_in_cell or right <= left:
            continue
        if max_vertices < n_cells + 2 or max_vertices < len(vertices) + 0.5:
            continue
        mid = (first + last) // 2
        # move the cut to the nearest position between two different values
        offset = 0
        while first <= mid + offset < last:
            if xs[mid + offset - 1] == xs[mid + offset]:
                offset = -offset + (1 if -offset >= 0 else 0)
            else:
                mid += offset
                break
        cut = float(xs[mid - 1])
        if cut in (left, right):
            continue
        cells.append((first, mid, left, cut))
        cells.append((mid + 1, last, cut, right))
        n_cells += 2
        vertices.append(cut)
    return np.sort(np.asarray(vertices))


def _local_quadratic(
    x: NDArray[np.float64], y: NDArray[np.float64], at: float, n_near: int, span: float
) -> tuple[float, float, bool]:
    """Tricube-weighted quadratic fit around ``at``: value, slope, and whether it was singular."""
    dist = (x - at) ** 2
    near = np.argpartition(dist, n_near - 1)[:n_near]
    d = dist[near]
    radius = d.max() * max(1.0, span)
    if radius <= 0:
        msg = (
            f"loess: the {n_near} genes nearest to log10(mean)={at:.4g} all have the same mean; "
            "too few distinct genes for the fit (increase span)"
        )
        raise InputDataError(msg)
    w = np.sqrt((1 - np.sqrt(d / radius) ** 3) ** 3)
    dx = x[near] - at
    design = np.column_stack([w, w * dx, w * dx * dx])
    norms = np.sqrt((design**2).sum(axis=0))
    norms[norms <= 0] = 1.0
    u, s, vt = np.linalg.svd(design / norms, full_matrices=False)
    tol = s[0] * (100 * np.finfo(np.float64).eps)
    keep = s > tol
    gamma = np.zeros_like(s)
    gamma[keep] = (u[:, keep].T @ (w * y[near])) / s[keep]
    coef = (vt.T @ gamma) / norms
    return float(coef[0]), float(coef[1]), not keep.all()


def loess_fit(x: Any, y: Any, *, span: float = 0.3) -> NDArray[np.float64]:
    """Fitted values of a degree-2 loess of ``y`` on ``x`` (like ``skmisc.loess``' defaults)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n = x.size
    n_near = min(n, math.floor(n * span))
    if n_near < 4:
        msg = (
            f"loess: span={span} of {n} genes gives {n_near} neighbours, fewer than the 4 a "
            "quadratic fit needs; increase span or use more genes"
        )
        raise InputDataError(msg)
    vertices = _split_points(np.sort(x), math.floor(n * (span * _CELL)), max(200, n))
    values = np.empty(vertices.size)
    slopes = np.empty(vertices.size)
    singular = []
    for i, at in enumerate(vertices):
        values[i], slopes[i], is_singular = _local_quadratic(x, y, at, n_near, span)
        if is_singular:
            singular.append(at)
    if singular:
        msg = f"loess: near-singular local fit at log10(mean)={singular[0]:.4g} (pseudo-inverse used); too many genes share a mean"
        warnings.warn(msg, DataWarning, stacklevel=4)
    # leaf cells are the intervals between consecutive vertices; a point on a vertex
    # belongs to the cell on its left, as in dloess
    cell = np.clip(np.searchsorted(vertices, x, side="left") - 1, 0, vertices.size - 2)
    v0, v1 = vertices[cell], vertices[cell + 1]
    h = (x - v0) / (v1 - v0)
    phi0 = (1 - h) ** 2 * (1 + 2 * h)
    phi1 = h**2 * (3 - 2 * h)
    psi0 = h * (1 - h) ** 2
    psi1 = h**2 * (h - 1)
    return (
        phi0 * values[cell]
        + phi1 * values[cell + 1]
        + (psi0 * slopes[cell] + psi1 * slopes[cell + 1]) * (v1 - v0)
    )


def seurat_v3_table(
    x: Any,
    codes: NDArray[np.int64],
    n_batches: int,
    *,
    n_top_genes: int,
    span: float,
    paper: bool,
) -> pd.DataFrame:
    """Means, variances, normalised variances, ranks and the HVG flag for ``seurat_v3[_paper]``.

    ``codes`` assigns each cell a batch ``0..n_batches-1``. The frame is in gene order with
    columns ``means, variances, highly_variable_nbatches, highly_variable_rank,
    variances_norm, highly_variable``.
    """
    sums, sumsq, _ = grouped_moments(x, codes, count_positive=False)
    n_cells = np.bincount(codes, minlength=n_batches)
    rtol = squares_rtol(x)
    means, variances = mean_var_from_sums(sums.sum(axis=0), sumsq.sum(axis=0), x.shape[0], rtol=rtol)
    batch_mean, batch_var = mean_var_from_sums(sums, sumsq, n_cells, rtol=rtol)

    reg_std = np.ones_like(batch_mean)
    for b in range(n_batches):
        varying = batch_var[b] > 0
        if not varying.any():
            continue
        with np.errstate(divide="ignore"):
            fitted = loess_fit(np.log10(batch_mean[b, varying]), np.log10(batch_var[b, varying]), span=span)
        reg_std[b, varying] = np.sqrt(10**fitted)
    # clip large values as Seurat does, then the variance of the regularised z-scores
    n_col = n_cells[:, None].astype(np.float64)
    clip = reg_std * np.sqrt(n_col) + batch_mean
    clipped_sum, clipped_sumsq = grouped_clipped_sums(x, codes, clip)
    norm_var = (1 / ((n_col - 1) * np.square(reg_std))) * (
        (n_col * np.square(batch_mean)) + clipped_sumsq - 2 * clipped_sum * batch_mean
    )

    # rank within each batch (0 = most variable), as scanpy does it
    ranks = np.argsort(np.argsort(-norm_var, axis=1), axis=1).astype(np.float32)
    nbatches = np.sum(ranks < n_top_genes, axis=0)
    ranks[ranks >= n_top_genes] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # genes never in the top: all-NaN
        median_rank = np.nanmedian(ranks, axis=0)

    position = np.arange(norm_var.shape[1])
    rank_key = np.where(np.isnan(median_rank), np.inf, median_rank)
    if paper:
        order = np.lexsort((position, rank_key, -nbatches))
    else:
        order = np.lexsort((position, -nbatches, rank_key))
    highly_variable = np.zeros(norm_var.shape[1], dtype=bool)
    highly_variable[order[: int(n_top_genes)]] = True
    return pd.DataFrame(
        {
            "means": means,
            "variances": variances,
            "highly_variable_nbatches": nbatches.astype(np.int64),
            "highly_variable_rank": median_rank.astype(np.float32),
            "variances_norm": np.mean(norm_var, axis=0),
            "highly_variable": highly_variable,
        }
    )
