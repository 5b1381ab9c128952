"""A deterministic simulator of realistic UMI count data (the workflow's demo input).

Counts are negative binomial (gamma-Poisson with gene-wise dispersion) around a cell's
library size times its group's expression profile; a group is one (cell type, batch,
quality) combination. The sampler never builds the dense matrix: per cell, genes with an
expected count >= 1 are drawn directly, and the long tail of weakly expressed genes is
visited through binomial thinning in blocks of similar expression, so the work per cell is
proportional to its number of nonzero entries.
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Self

import numpy as np
import pandas as pd
from anndata import AnnData
from pydantic import Field, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, model_validator
from scipy import sparse

from scsnake._params import StageParams, validated

from ._kernels import sample_chunk

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["Simulation", "SyntheticParams", "index_dtype", "simulate", "synthetic"]

_MT_NAMES = ("ND1", "ND2", "CO1", "CO2", "ATP8", "ATP6", "CO3", "ND3", "ND4L", "ND4", "ND5", "ND6", "CYB")
_CHUNK = 2048  # cells per seeded chunk: results do not depend on the number of threads
_LOW_QUALITY = 0.04  # fraction of damaged cells: few counts, many mitochondrial reads


class SyntheticParams(StageParams):
    """Parameters of :func:`synthetic`."""

    n_cells: PositiveInt = 3000
    """Number of cells (doublets included)."""
    n_genes: PositiveInt = 2000
    """Number of genes, including the mitochondrial and ribosomal ones."""
    n_types: PositiveInt = 6
    """Number of cell types, stored in ``obs['truth']``."""
    n_batches: PositiveInt = 1
    """Number of batches, stored in ``obs['batch']``."""
    batch_effect: NonNegativeFloat = 0.5
    """Strength of the per-batch gene-wise multiplicative shifts (standard deviation of the log shift / 2)."""
    doublet_rate: Annotated[float, Field(ge=0, lt=0.5)] = 0.0
    """Fraction of cells that are doublets of two cell types (``obs['is_doublet']``)."""
    median_counts: PositiveFloat | None = None
    """Median library size (UMIs) of intact cells, before batch depth shifts; None: ``2000 + 0.2 * n_genes``."""
    mito_genes: NonNegativeInt = 13
    """Number of mitochondrial genes (``MT-…``)."""
    ribo_genes: NonNegativeInt = 50
    """Number of ribosomal protein genes (``RPS…``/``RPL…``)."""
    seed: NonNegativeInt = 0
    """Random seed: the same seed gives the same data."""

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.n_cells < self.n_types:
            msg = f"n_cells ({self.n_cells}) must be at least n_types ({self.n_types})"
            raise ValueError(msg)
        needed = self.mito_genes + self.ribo_genes + 4 * self.n_types
        if self.n_genes < needed:
            msg = (
                f"n_genes ({self.n_genes}) must be at least mito_genes + ribo_genes + 4 * n_types "
                f"({needed}) to leave room for marker genes"
            )
            raise ValueError(msg)
        if self.doublet_rate > 0 and self.n_types < 2:
            msg = "doublet_rate > 0 needs n_types >= 2 (a doublet joins two cell types)"
            raise ValueError(msg)
        return self


# --- the model -----------------------------------------------------------------------------


def _gene_names(
    n_genes: int, mito: int, ribo: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Gene symbols scattered along the genome, and each gene's role (0 other, 1 mito, 2 ribo)."""
    mt = [f"MT-{_MT_NAMES[i]}" if i < len(_MT_NAMES) else f"MT-X{i + 1}" for i in range(mito)]
    n_rpl = (ribo + 1) // 2
    rb = [f"RPL{i + 1}" for i in range(n_rpl)] + [f"RPS{i + 1}" for i in range(ribo - n_rpl)]
    n_other = n_genes - mito - ribo
    width = len(str(n_other))
    other = [f"Gene{i + 1:0{width}d}" for i in range(n_other)]
    names = np.array(mt + rb + other, dtype=object)
    roles = np.repeat(np.array([1, 2, 0], dtype=np.int8), [mito, ribo, n_other])
    perm = rng.permutation(n_genes)
    return names[perm], roles[perm]


def _profiles(p: SyntheticParams, roles: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Relative expression of every (type, batch, low-quality) group: shape (types, batches, 2, genes)."""
    n_genes = roles.size
    other = np.flatnonzero(roles == 0)
    mito, ribo = np.flatnonzero(roles == 1), np.flatnonzero(roles == 2)
    base = np.exp(rng.normal(0.0, 1.4, n_genes))
    # a few hundred genes (12% of the others) are silent or nearly so
    silent = rng.choice(other, size=round(0.12 * other.size), replace=False)
    base[silent[: silent.size // 2]] = 0.0
    base[silent[silent.size // 2 :]] *= 1e-4
    expressed = np.setdiff1d(other, silent)
    f_mito = 0.04 * min(1.0, mito.size / 13)
    f_ribo = 0.25 * min(1.0, ribo.size / 50)
    base[other] *= (1 - f_mito - f_ribo) / base[other].sum()
    if mito.size:
        base[mito] = rng.lognormal(0.0, 0.5, mito.size)
        base[mito] *= f_mito / base[mito].sum()
    if ribo.size:
        base[ribo] = rng.lognormal(0.0, 0.4, ribo.size)
        base[ribo] *= f_ribo / base[ribo].sum()
    # each type: mild gene-wise differences plus its marker programme (some markers shared)
    log_type = rng.normal(0.0, 0.15, (p.n_types, n_genes))
    log_type[:, np.setdiff1d(np.arange(n_genes), expressed)] = 0.0
    n_markers = int(np.clip(round(0.02 * expressed.size), 3, 60))
    n_own = max(1, round(0.8 * n_markers))
    own = rng.choice(expressed, size=(p.n_types, n_own), replace=p.n_types * n_own > expressed.size)
    for t in range(p.n_types):
        others = np.setdiff1d(own[np.arange(p.n_types) != t].ravel(), own[t])
        shared = rng.choice(others, size=min(n_markers - n_own, others.size), replace=False)
        markers = np.concatenate([own[t], shared])
        log_type[t, markers] += rng.normal(np.log(4.0), 0.35, markers.size)
    log_batch = rng.normal(0.0, 0.5 * p.batch_effect, (p.n_batches, n_genes))
    log_batch[:, np.flatnonzero(roles != 0)] *= 0.2  # housekeeping MT/RP genes shift less
    boost = np.ones((2, n_genes))
    boost[1, mito] = 12.0  # damaged cells: cytoplasmic mRNA lost, mitochondrial reads remain
    profiles = (
        base * np.exp(log_type[:, None, None, :] + log_batch[None, :, None, :]) * boost[None, None, :, :]
    )
    return profiles / profiles.sum(axis=-1, keepdims=True)


def _sorted_groups(profiles: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per group: genes by decreasing expression, and blocks where expression halves."""
    n_groups = profiles.shape[0]
    n_expr = (profiles > 0).sum(axis=1)
    width = int(n_expr.max())
    order = np.zeros((n_groups, width), dtype=np.int32)
    probs = np.zeros((n_groups, width))
    block_list = []
    for g in range(n_groups):
        idx = np.argsort(-profiles[g], kind="stable")[: n_expr[g]]
        order[g, : idx.size] = idx
        probs[g, : idx.size] = profiles[g, idx]
        level = np.floor(np.log2(probs[g, 0] / probs[g, : idx.size])).astype(np.int64)
        block_list.append(np.append(np.flatnonzero(np.diff(level)) + 1, idx.size))
    n_blocks = np.array([b.size for b in block_list], dtype=np.int64)
    block_ends = np.zeros((n_groups, int(n_blocks.max())), dtype=np.int64)
    for g, ends in enumerate(block_list):
        block_ends[g, : ends.size] = ends
    return order, probs, n_expr.astype(np.int64), block_ends, n_blocks


def _cells(p: SyntheticParams, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Each cell's type, batch, quality, doublet partner type and library sizes."""
    n = p.n_cells
    weights = rng.dirichlet(np.full(p.n_types, 4.0))
    per_type = 1 + rng.multinomial(n - p.n_types, weights)
    types = rng.permutation(np.repeat(np.arange(p.n_types), per_type))
    batches = rng.permutation(np.arange(n) % p.n_batches)
    is_doublet = np.zeros(n, dtype=bool)
    is_doublet[rng.choice(n, size=round(p.doublet_rate * n), replace=False)] = True
    low_quality = (rng.random(n) < _LOW_QUALITY) & ~is_doublet
    partner = np.full(n, -1)
    if is_doublet.any():
        shift = 1 + rng.integers(0, p.n_types - 1, is_doublet.sum())
        partner[is_doublet] = (types[is_doublet] + shift) % p.n_types
    median_lib = 2000 + 0.2 * p.n_genes if p.median_counts is None else p.median_counts
    batch_depth = np.exp(rng.normal(0.0, 0.2 * p.batch_effect, p.n_batches))
    libs = median_lib * batch_depth[batches][:, None] * rng.lognormal(0.0, 0.45, (n, 2))
    libs[low_quality, 0] *= 0.3
    return {
        "types": types,
        "batches": batches,
        "low_quality": low_quality,
        "partner": partner,
        "is_doublet": is_doublet,
        "libs": libs,
    }


@dataclass(frozen=True, eq=False)
class Simulation:
    """A drawn data set before its counts: cell and gene annotations, and what the sampler reads.

    Everything random except the counts is drawn up front; each chunk of ``chunk_size`` cells
    has its own seed, so :meth:`chunks` gives the same counts whatever the number of threads.
    """

    obs: pd.DataFrame
    var: pd.DataFrame
    groups: np.ndarray
    """Per cell: its expression group and a doublet's second one (-1: none), ``(n_cells, 2)``."""
    libs: np.ndarray
    """Per cell: the library size of each of its groups, ``(n_cells, 2)``."""
    tables: tuple[np.ndarray, ...]
    """Per group: genes by decreasing expression, shares, dispersions, counts and blocks."""
    seeds: np.ndarray
    chunk_size: int

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.obs), len(self.var)

    def chunk(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Canonical CSR arrays (int64 indptr from 0, int32 indices, float32 data) of chunk ``i``."""
        rows = slice(i * self.chunk_size, (i + 1) * self.chunk_size)
        return sample_chunk(
            int(self.seeds[i]), self.groups[rows], self.libs[rows], *self.tables, self.shape[1]
        )

    def chunks(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Every chunk in row order; threads sample at most two chunks each ahead of the reader."""
        n_chunks = self.seeds.size
        n_threads = min(n_chunks, os.cpu_count() or 1)
        if n_threads <= 1:
            yield from (self.chunk(i) for i in range(n_chunks))
            return
        pool = ThreadPoolExecutor(n_threads)
        try:
            pending = deque(pool.submit(self.chunk, i) for i in range(min(n_chunks, 2 * n_threads)))
            ahead = len(pending)
            while pending:
                part = pending.popleft().result()
                if ahead < n_chunks:
                    pending.append(pool.submit(self.chunk, ahead))
                    ahead += 1
                yield part
        finally:
            pool.shutdown(cancel_futures=True)


def simulate(p: SyntheticParams) -> Simulation:
    """Draw everything but the counts (in the order that fixes the result of a seed)."""
    rng = np.random.default_rng(p.seed)
    names, roles = _gene_names(p.n_genes, p.mito_genes, p.ribo_genes, rng)
    profiles = _profiles(p, roles, rng).reshape(p.n_types * p.n_batches * 2, p.n_genes)
    order, probs, n_expr, block_ends, n_blocks = _sorted_groups(profiles)
    theta = rng.lognormal(np.log(2.5), 0.5, p.n_genes)
    theta[roles != 0] *= 4.0  # housekeeping genes vary less
    thetas = theta[order]  # in each group's gene order: read sequentially by the sampler
    cells = _cells(p, rng)
    t, b = cells["types"], cells["batches"]
    groups = np.full((p.n_cells, 2), -1, dtype=np.int64)
    groups[:, 0] = (t * p.n_batches + b) * 2 + cells["low_quality"]
    doublets = cells["is_doublet"]
    groups[doublets, 1] = (cells["partner"][doublets] * p.n_batches + b[doublets]) * 2
    seeds = rng.integers(0, 2**63 - 1, len(range(0, p.n_cells, _CHUNK)))
    return Simulation(_obs(p, cells), _var(names), groups, cells["libs"],
                      (order, probs, thetas, n_expr, block_ends, n_blocks), seeds, _CHUNK)  # fmt: skip


def _obs(p: SyntheticParams, cells: dict[str, np.ndarray]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "truth": pd.Categorical.from_codes(cells["types"], [f"type{i}" for i in range(p.n_types)]),
            "batch": pd.Categorical.from_codes(cells["batches"], [f"batch{i}" for i in range(p.n_batches)]),
            "is_doublet": cells["is_doublet"],
            "low_quality": cells["low_quality"],
        },
        index=pd.Index([f"cell{i}" for i in range(p.n_cells)]),
    )


def _var(names: np.ndarray) -> pd.DataFrame:
    n_genes = names.size
    width = max(len(str(n_genes)), 11)
    gene_ids = [f"ENSSIMG{i:0{width}d}" for i in range(n_genes)]
    return pd.DataFrame({"gene_ids": gene_ids}, index=pd.Index(names.astype(str)))


def index_dtype(nnz: int) -> type[np.signedinteger]:
    """The CSR index type of a matrix with ``nnz`` stored values: int32 while it fits."""
    return np.int32 if nnz < np.iinfo(np.int32).max else np.int64


def _stack(parts: list, shape: tuple[int, int]) -> sparse.csr_matrix:
    """One CSR matrix from the chunks' canonical CSR arrays; each chunk is freed once copied."""
    sizes = [int(part[0][-1]) for part in parts]
    offsets = np.cumsum([0, *sizes])
    dtype = index_dtype(int(offsets[-1]))
    indptr = np.zeros(shape[0] + 1, dtype=dtype)
    indices = np.empty(offsets[-1], dtype=dtype)
    data = np.empty(offsets[-1], dtype=np.float32)
    row = 0
    for k, size in enumerate(sizes):
        chunk_indptr, chunk_indices, chunk_data = parts[k]
        parts[k] = None
        n_rows = chunk_indptr.size - 1
        indptr[row + 1 : row + n_rows + 1] = chunk_indptr[1:] + offsets[k]
        indices[offsets[k] : offsets[k] + size] = chunk_indices
        data[offsets[k] : offsets[k] + size] = chunk_data
        row += n_rows
    x = sparse.csr_matrix((data, indices, indptr), shape=shape, copy=False)
    x.has_canonical_format = True
    return x


@validated(SyntheticParams)
def synthetic(
    n_cells: int = 3000,
    n_genes: int = 2000,
    n_types: int = 6,
    *,
    n_batches: int = 1,
    batch_effect: float = 0.5,
    doublet_rate: float = 0.0,
    median_counts: float | None = None,
    mito_genes: int = 13,
    ribo_genes: int = 50,
    seed: int = 0,
) -> AnnData:
    """Simulate UMI counts of ``n_types`` cell types: negative binomial, with QC problems to find.

    Library sizes are log-normal; every type up-regulates its own marker genes 2–8-fold
    (some markers are shared by two types); mitochondrial (``MT-``) and ribosomal
    (``RPL``/``RPS``) genes are highly expressed; about 12% of the other genes are silent or
    nearly so; 4% of cells are damaged (few counts, ~35% mitochondrial); batches shift
    genes multiplicatively; doublets add up two cells of different types.

    Parameters
    ----------
    n_cells, n_genes, n_types, n_batches
        Size of the data and number of cell types and batches.
    batch_effect
        Strength of the batch shifts (0: none).
    doublet_rate
        Fraction of doublets.
    median_counts
        Median library size (UMIs) of intact cells before each batch's depth shift (a
        factor of about ``exp(±0.2 * batch_effect)``); None: ``2000 + 0.2 * n_genes``. With
        20,000 genes the default gives about 2,800 detected genes per cell, 2,500 about 1,500.
    mito_genes, ribo_genes
        Numbers of mitochondrial and ribosomal genes.
    seed
        Random seed; the same arguments give an identical object.

    Returns
    -------
    AnnData with ``X`` (CSR float32 integer counts), ``obs['truth']`` (categorical
    ``type0``…), ``obs['batch']`` (categorical ``batch0``…), ``obs['is_doublet']``,
    ``obs['low_quality']``, unique gene symbols as ``var_names`` and ``var['gene_ids']``.

    Examples
    --------
    >>> adata = synthetic(200, 300, 3, seed=1)
    >>> adata.shape, adata.obs["truth"].cat.categories.tolist()
    ((200, 300), ['type0', 'type1', 'type2'])
    """
    params = SyntheticParams(
        n_cells=n_cells,
        n_genes=n_genes,
        n_types=n_types,
        n_batches=n_batches,
        batch_effect=batch_effect,
        doublet_rate=doublet_rate,
        median_counts=median_counts,
        mito_genes=mito_genes,
        ribo_genes=ribo_genes,
        seed=seed,
    )
    sim = simulate(params)
    return AnnData(_stack(list(sim.chunks()), sim.shape), obs=sim.obs, var=sim.var)
