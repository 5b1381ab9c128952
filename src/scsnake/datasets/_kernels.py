"""Numba kernels of the count simulator: a small seeded RNG and the per-cell sampler.

The generator is xoshiro256** seeded through splitmix64; each chunk of cells owns its state,
so results do not depend on threads or on numba's global RNG. Small means are drawn
by inversion; larger ones as gamma (Marsaglia–Tsang) mixed Poisson (inversion or Hörmann's
PTRS, numpy's method).
"""

from __future__ import annotations

import math

import numpy as np

from scsnake._numba import njit

__all__ = ["new_state", "sample_chunk"]

_U53 = 1.0 / 9007199254740992.0  # 2**-53


@njit
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@njit
def _splitmix(x):
    z = x + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit
def new_state(seed):
    """A xoshiro256** state (4 × uint64) from an integer seed."""
    state = np.empty(4, dtype=np.uint64)
    x = np.uint64(seed)
    for i in range(4):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        state[i] = _splitmix(x)
    return state


@njit
def _uniform(s):
    """A double in [0, 1)."""
    result = _rotl(s[1] * np.uint64(5), 7) * np.uint64(9)
    t = s[1] << np.uint64(17)
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = _rotl(s[3], 45)
    return float(result >> np.uint64(11)) * _U53


@njit
def _normal(s):
    while True:  # Marsaglia's polar method
        u = 2.0 * _uniform(s) - 1.0
        v = 2.0 * _uniform(s) - 1.0
        r = u * u + v * v
        if 0.0 < r < 1.0:
            return u * math.sqrt(-2.0 * math.log(r) / r)


@njit
def _gamma(s, shape):
    """Gamma(shape, scale=1) by Marsaglia–Tsang (boosted for shape < 1)."""
    if shape < 1.0:
        u = _uniform(s)
        return _gamma(s, shape + 1.0) * (1.0 - u) ** (1.0 / shape)
    d = shape - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    while True:
        x = _normal(s)
        v = 1.0 + c * x
        if v <= 0.0:
            continue
        v = v * v * v
        u = _uniform(s)
        if u < 1.0 - 0.0331 * x * x * x * x:
            return d * v
        if math.log(u) < 0.5 * x * x + d * (1.0 - v + math.log(v)):
            return d * v


@njit
def _poisson(s, lam):
    """Poisson(lam): multiplication method below 10, else PTRS (as numpy does)."""
    if lam < 10.0:
        limit = math.exp(-lam)
        k = 0
        prod = _uniform(s)
        while prod > limit:
            prod *= _uniform(s)
            k += 1
        return k
    slam = math.sqrt(lam)
    loglam = math.log(lam)
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    invalpha = 1.1239 + 1.1328 / (b - 3.4)
    vr = 0.9277 - 3.6224 / (b - 2.0)
    while True:
        u = _uniform(s) - 0.5
        v = _uniform(s)
        us = 0.5 - abs(u)
        k = math.floor((2.0 * a / us + b) * u + lam + 0.43)
        if us >= 0.07 and v <= vr:
            return int(k)
        if k < 0 or (us < 0.013 and v > us):
            continue
        if math.log(v) + math.log(invalpha) - math.log(a / (us * us) + b) <= -lam + k * loglam - math.lgamma(
            k + 1.0
        ):
            return int(k)


@njit
def _nb_inversion(mu, theta, p0, u):
    """The negative binomial count (mean mu, size theta, P(0) = p0) at which the CDF passes u.

    Sequential search from 0: cheap for the small means it is used for.
    """
    p = mu / (theta + mu)
    f = p0
    cum = p0
    k = 0
    while u >= cum and k < 1_000_000:
        f *= (k + theta) / (k + 1) * p
        k += 1
        cum += f
    return k


@njit
def _add_cell(s, lib, order, probs, thetas, n_expr, block_ends, n_blocks, row):
    """Add one cell's negative binomial counts (library ``lib``) into the dense ``row``.

    Genes come sorted by decreasing expression. Those with mean >= 1 are drawn directly
    (gamma-Poisson). Below that, each block of genes whose means lie within a factor of two
    is visited by geometric skips at the block's largest mean (``rate``), and a visited gene
    is kept with probability P(count > 0) / rate (thinning): exact, and the work is about
    the number of nonzero counts. Bounds from the first two factorial moments settle most
    visits (kept? count 1?) without computing P(0).
    """
    k = 0
    while k < n_expr and lib * probs[k] >= 1.0:
        gene = order[k]
        th = thetas[k]
        mu = lib * probs[k]
        if mu < 16.0:
            row[gene] += _nb_inversion(mu, th, math.exp(-th * math.log1p(mu / th)), _uniform(s))
        else:
            row[gene] += _poisson(s, _gamma(s, th) * mu / th)
        k += 1
    for b in range(n_blocks):
        end = block_ends[b]
        if end <= k:
            continue
        rate = lib * probs[k]  # the largest mean left in this block, < 1
        if rate <= 0.0:
            break
        log_miss = math.log1p(-rate)
        j = k - 1
        while True:
            skip = math.log(1.0 - _uniform(s)) / log_miss  # failures before the next visit
            if j + 1 + skip >= end:
                break
            j += 1 + int(skip)
            mu = lib * probs[j]
            v = _uniform(s) * rate  # keep if v < P(count > 0) <= mu; v is then uniform below it
            if v >= mu:
                continue
            th = thetas[j]
            at_least_two = 0.5 * mu * mu * (1.0 + 1.0 / th)  # >= P(count >= 2) and >= mu - P(count > 0)
            if at_least_two < v < mu - at_least_two:
                row[order[j]] += 1.0  # certainly kept, and certainly a count of 1
                continue
            p0 = math.exp(-th * math.log1p(mu / th))
            if v < 1.0 - p0:
                row[order[j]] += _nb_inversion(mu, th, p0, 1.0 - v)
        k = end


@njit
def sample_chunk(seed, groups, libs, order, probs, thetas, n_expr, block_ends, n_blocks, n_genes):
    """Counts of a chunk of cells as canonical CSR arrays (sorted indices, float32 data).

    Row ``i`` adds up its components ``groups[i, c]`` (expression group, -1 for none) with
    library sizes ``libs[i, c]``: a doublet has two. Per group, ``order`` lists the expressed
    genes by decreasing share ``probs``, ``thetas`` their dispersions (NB size), and
    ``block_ends`` where the share halves.
    """
    s = new_state(seed)
    n_cells = groups.shape[0]
    indptr = np.zeros(n_cells + 1, dtype=np.int64)
    capacity = max(1024, n_cells * min(n_genes, 256))
    indices = np.empty(capacity, dtype=np.int32)
    data = np.empty(capacity, dtype=np.float32)
    row = np.zeros(n_genes, dtype=np.float32)
    pos = 0
    for i in range(n_cells):
        for c in range(groups.shape[1]):
            g = groups[i, c]
            if g >= 0:
                _add_cell(
                    s, libs[i, c], order[g], probs[g], thetas[g], n_expr[g], block_ends[g], n_blocks[g], row
                )
        if pos + n_genes > indices.size:
            new_size = 2 * indices.size + n_genes
            grown_i = np.empty(new_size, dtype=np.int32)
            grown_d = np.empty(new_size, dtype=np.float32)
            grown_i[:pos] = indices[:pos]
            grown_d[:pos] = data[:pos]
            indices, data = grown_i, grown_d
        for gene in range(n_genes):
            if row[gene] != 0.0:
                indices[pos] = gene
                data[pos] = row[gene]
                row[gene] = 0.0
                pos += 1
        indptr[i + 1] = pos
    return indptr, indices[:pos].copy(), data[:pos].copy()
