"""Numba kernels of :mod:`scsnake._matrix` (imported on first use: most callers need none)."""

from __future__ import annotations

import numpy as np

from ._numba import njit

__all__ = ["count_problems"]


@njit
def count_problems(values):
    """Number of negative values, the minimum, and the number of non-integer values (one pass)."""
    n_negative = 0
    n_fraction = 0
    low = np.inf
    for v in values:
        if v < 0:
            n_negative += 1
        if v < low:
            low = v
        if v != np.floor(v):
            n_fraction += 1
    return n_negative, low, n_fraction
