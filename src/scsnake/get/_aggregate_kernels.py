"""Numba kernels of :func:`scsnake.get.aggregate`: arrays in, arrays out.

Every kernel makes one pass over the stored values. ``codes`` gives each observation's group
(-1: left out, for a missing label or a mask). Sparse kernels take the three compressed
arrays; ``obs_major`` says whether observations are the major axis (CSR with observations as
rows) or the minor one (CSC), so one kernel serves both layouts. Each (group, feature) sees its
values in increasing observation order, in both layouts: the same order, and so the same
floating-point results, as scanpy's kernels.
"""

from __future__ import annotations

import numpy as np

from scsnake._numba import njit


@njit
def _group_sums_compressed(indptr, indices, data, codes, obs_major, out):
    """``out[g, j] += x[i, j]`` over the stored values of the observations ``i`` of group ``g``."""
    for major in range(indptr.size - 1):
        for k in range(indptr[major], indptr[major + 1]):
            obs = major if obs_major else indices[k]
            group = codes[obs]
            if group >= 0:
                feature = indices[k] if obs_major else major
                out[group, feature] += data[k]


@njit
def _group_nonzero_compressed(indptr, indices, data, codes, obs_major, out):
    """``out[g, j]``: how many observations of group ``g`` have ``x[i, j] != 0``."""
    for major in range(indptr.size - 1):
        for k in range(indptr[major], indptr[major + 1]):
            obs = major if obs_major else indices[k]
            group = codes[obs]
            if group >= 0 and data[k] != 0:
                feature = indices[k] if obs_major else major
                out[group, feature] += 1


@njit
def _group_mean_var_compressed(indptr, indices, data, codes, obs_major, group_counts, n_features):
    """Mean and population variance per group and feature by Welford's update.

    The stored values are accumulated first; each (group, feature) is then merged with its
    implicit zeros: ``mean = mean_a * n_a / n``, ``M2 += mean_a² * n_a * k / n``.
    """
    n_groups = group_counts.size
    mean = np.zeros((n_groups, n_features))
    var = np.zeros((n_groups, n_features))
    n_nonzero = np.zeros((n_groups, n_features), dtype=np.int64)
    for major in range(indptr.size - 1):
        for k in range(indptr[major], indptr[major + 1]):
            obs = major if obs_major else indices[k]
            group = codes[obs]
            if group < 0:
                continue
            feature = indices[k] if obs_major else major
            value = np.float64(data[k])
            n = n_nonzero[group, feature] + 1
            n_nonzero[group, feature] = n
            m = mean[group, feature]
            delta = value - m
            m += delta / n
            mean[group, feature] = m
            var[group, feature] += delta * (value - m)
    for group in range(n_groups):
        n_obs = group_counts[group]
        if n_obs == 0:
            continue
        for feature in range(n_features):
            n_nz = n_nonzero[group, feature]
            n_zero = n_obs - n_nz
            if n_zero > 0 and n_nz > 0:
                mean_a = mean[group, feature]
                mean[group, feature] = mean_a * n_nz / n_obs
                var[group, feature] += mean_a * mean_a * n_nz * n_zero / n_obs
            var[group, feature] /= n_obs
    return mean, var


@njit
def _group_sums_dense(x, codes, out):
    """Dense version of :func:`_group_sums_compressed` (``out`` float64)."""
    for obs in range(x.shape[0]):
        group = codes[obs]
        if group >= 0:
            for feature in range(x.shape[1]):
                out[group, feature] += np.float64(x[obs, feature])


@njit
def _group_nonzero_dense(x, codes, out):
    """Dense version of :func:`_group_nonzero_compressed`."""
    for obs in range(x.shape[0]):
        group = codes[obs]
        if group >= 0:
            for feature in range(x.shape[1]):
                if x[obs, feature] != 0:
                    out[group, feature] += 1


@njit
def _group_mean_var_dense(x, codes, n_groups):
    """Dense version of :func:`_group_mean_var_compressed`: Welford's update over every value."""
    n_features = x.shape[1]
    mean = np.zeros((n_groups, n_features))
    var = np.zeros((n_groups, n_features))
    seen = np.zeros(n_groups, dtype=np.int64)
    for obs in range(x.shape[0]):
        group = codes[obs]
        if group < 0:
            continue
        seen[group] += 1
        n = seen[group]
        for feature in range(n_features):
            value = np.float64(x[obs, feature])
            delta = value - mean[group, feature]
            mean[group, feature] += delta / n
            var[group, feature] += delta * (value - mean[group, feature])
    for group in range(n_groups):
        if seen[group] > 0:
            for feature in range(n_features):
                var[group, feature] /= seen[group]
    return mean, var
