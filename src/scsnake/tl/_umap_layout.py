"""UMAP's layout optimised on every core, deterministically.

umap-learn's seeded layout is serial: each sampled edge moves its two ends, and the next
sample sees the move. Its parallel mode lets threads race on shared coordinates, so a seed
no longer fixes the result. Here the edges (sorted by their head cell) are cut into
:data:`N_BLOCKS` blocks of cells, a fixed number whatever the thread count; in each epoch
every block runs umap-learn's serial update over its own edges, with its own cells' live
coordinates and, for cells of other blocks, their coordinates at the start of the epoch. The
moves a block makes to other blocks' cells are kept and added after the epoch, in block
order. Negative samples come from umap-learn's per-cell random states. Each block's work
depends only on the epoch's starting coordinates, so the result is the same for a seed on
any number of threads; it is not umap-learn's (cells of other blocks are at most one epoch
behind), and is checked to agree with it in quality.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import sparse

from .._numba import njit, prange

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["N_BLOCKS", "layout_graph", "optimize_layout_blocks"]

#: Blocks of cells optimised side by side; fixed, so results do not depend on the threads.
N_BLOCKS = 64


@njit
def _tau_rand_int(state: NDArray[np.int64]) -> int:
    """umap-learn's Tausworthe generator (``umap.utils.tau_rand_int``)."""
    state[0] = (((state[0] & 4294967294) << 12) & 0xFFFFFFFF) ^ (
        (((state[0] << 13) & 0xFFFFFFFF) ^ state[0]) >> 19
    )
    state[1] = (((state[1] & 4294967288) << 4) & 0xFFFFFFFF) ^ (
        (((state[1] << 2) & 0xFFFFFFFF) ^ state[1]) >> 25
    )
    state[2] = (((state[2] & 4294967280) << 17) & 0xFFFFFFFF) ^ (
        (((state[2] << 3) & 0xFFFFFFFF) ^ state[2]) >> 11
    )
    return np.int32(state[0] ^ state[1] ^ state[2])  # umap-learn's is typed i4(i8[:])


@njit(fastmath=True)
def _clip(value: float) -> float:
    return 4.0 if value > 4.0 else (-4.0 if value < -4.0 else value)


@njit(fastmath=True)
def _dist_squared(x, y):  # pragma: no cover - numba
    """Squared Euclidean distance (umap-learn's ``rdist``)."""
    result = 0.0
    for d in range(x.shape[0]):
        diff = x[d] - y[d]
        result += diff * diff
    return result


@njit(parallel=True, fastmath=True)  # fastmath as umap-learn's epoch
def _epoch(
    embedding,
    start,
    head,
    tail,
    edge_starts,
    cell_starts,
    epochs_per_sample,
    epochs_per_negative_sample,
    epoch_of_next_sample,
    epoch_of_next_negative_sample,
    rng_states,
    n,
    a,
    b,
    gamma,
    alpha,
    moved_cells,
    moved_by,
    n_moved,
):  # pragma: no cover - numba
    n_vertices, dim = embedding.shape
    for block in prange(edge_starts.size - 1):
        first, last = cell_starts[block], cell_starts[block + 1]
        base = edge_starts[block]
        count = 0
        for i in range(edge_starts[block], edge_starts[block + 1]):
            if epoch_of_next_sample[i] > n:
                continue
            j = head[i]
            k = tail[i]
            own = first <= k < last
            other = embedding if own else start  # other blocks' cells: as at the epoch's start
            dist_squared = _dist_squared(embedding[j], other[k])
            if dist_squared > 0.0:
                grad_coeff = -2.0 * a * b * dist_squared ** (b - 1.0)
                grad_coeff /= a * dist_squared**b + 1.0
            else:
                grad_coeff = 0.0
            for d in range(dim):
                grad_d = _clip(grad_coeff * (embedding[j, d] - other[k, d]))
                embedding[j, d] += grad_d * alpha
                if own:
                    embedding[k, d] += -grad_d * alpha
                else:
                    moved_by[base + count, d] = -grad_d * alpha
            if not own:
                moved_cells[base + count] = k
                count += 1
            epoch_of_next_sample[i] += epochs_per_sample[i]
            n_neg_samples = int((n - epoch_of_next_negative_sample[i]) / epochs_per_negative_sample[i])
            for _ in range(n_neg_samples):
                k = _tau_rand_int(rng_states[j]) % n_vertices
                other = embedding if first <= k < last else start
                dist_squared = _dist_squared(embedding[j], other[k])
                if dist_squared > 0.0:
                    grad_coeff = 2.0 * gamma * b
                    grad_coeff /= (0.001 + dist_squared) * (a * dist_squared**b + 1)
                elif j == k:
                    continue
                else:
                    grad_coeff = 0.0
                for d in range(dim):
                    grad_d = _clip(grad_coeff * (embedding[j, d] - other[k, d])) if grad_coeff > 0.0 else 0.0
                    embedding[j, d] += grad_d * alpha
            epoch_of_next_negative_sample[i] += n_neg_samples * epochs_per_negative_sample[i]
        n_moved[block] = count


@njit
def _apply_moves(embedding, edge_starts, moved_cells, moved_by, n_moved):  # pragma: no cover - numba
    """Add the moves blocks made to other blocks' cells, block by block, in order."""
    dim = embedding.shape[1]
    for block in range(edge_starts.size - 1):
        base = edge_starts[block]
        for c in range(n_moved[block]):
            k = moved_cells[base + c]
            for d in range(dim):
                embedding[k, d] += moved_by[base + c, d]


def layout_graph(graph: Any, n_epochs: int) -> sparse.coo_matrix:
    """The graph umap-learn lays out for ``n_epochs``: COO, duplicates summed, and the edges
    too weak to be sampled (below ``max / n_epochs``; with 10 epochs or fewer, below ``max /``
    its default epochs) dropped. A new matrix: ``graph`` is left as it is."""
    graph = sparse.coo_matrix(graph, copy=True)
    graph.sum_duplicates()
    cutoff = n_epochs if n_epochs > 10 else (500 if graph.shape[0] <= 10_000 else 200)
    graph.data[graph.data < graph.data.max() / float(cutoff)] = 0.0
    graph.eliminate_zeros()
    return graph


def _blocks(
    head: NDArray[np.integer], n_vertices: int, n_blocks: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Edge and cell boundaries of ``n_blocks`` blocks of whole cells with about equal edges."""
    counts = np.bincount(head, minlength=n_vertices)
    cumulative = np.concatenate([[0], np.cumsum(counts)])
    targets = np.linspace(0, cumulative[-1], n_blocks + 1)
    cell_starts = np.searchsorted(cumulative, targets, side="left").astype(np.int64)
    cell_starts[0], cell_starts[-1] = 0, n_vertices
    cell_starts = np.maximum.accumulate(cell_starts)
    return cumulative[cell_starts].astype(np.int64), cell_starts


def optimize_layout_blocks(
    embedding: NDArray[np.float32],
    head: NDArray[np.integer],
    tail: NDArray[np.integer],
    n_epochs: int,
    epochs_per_sample: NDArray[np.float64],
    a: float,
    b: float,
    rng_state: NDArray[np.int64],
    *,
    gamma: float = 1.0,
    initial_alpha: float = 1.0,
    negative_sample_rate: float = 5.0,
    n_blocks: int = N_BLOCKS,
) -> NDArray[np.float32]:
    """Optimise ``embedding`` in place as umap-learn's ``optimize_layout_euclidean`` does
    (``move_other=True``), in blocks run side by side (see the module's notes).

    ``head`` must be sorted (umap-learn's edges are, by row). Returns ``embedding``.
    """
    if np.any(np.diff(head) < 0):
        msg = "optimize_layout_blocks needs the edges sorted by head"
        raise ValueError(msg)
    n_vertices = embedding.shape[0]
    edge_starts, cell_starts = _blocks(np.asarray(head), n_vertices, n_blocks)
    epochs_per_negative_sample = epochs_per_sample / negative_sample_rate
    epoch_of_next_negative_sample = epochs_per_negative_sample.copy()
    epoch_of_next_sample = epochs_per_sample.copy()
    # umap-learn's per-cell random states: its seed plus the cell's first coordinate's bits
    rng_states = np.full((n_vertices, len(rng_state)), rng_state, dtype=np.int64)
    rng_states += embedding[:, 0].astype(np.float64).view(np.int64).reshape(-1, 1)
    moved_cells = np.zeros(head.size, dtype=np.int64)
    moved_by = np.zeros((head.size, embedding.shape[1]), dtype=np.float32)
    n_moved = np.zeros(edge_starts.size - 1, dtype=np.int64)
    start = embedding.copy()
    alpha = initial_alpha
    for n in range(n_epochs):
        start[:] = embedding
        _epoch(
            embedding,
            start,
            head,
            tail,
            edge_starts,
            cell_starts,
            epochs_per_sample,
            epochs_per_negative_sample,
            epoch_of_next_sample,
            epoch_of_next_negative_sample,
            rng_states,
            n,
            a,
            b,
            gamma,
            alpha,
            moved_cells,
            moved_by,
            n_moved,
        )
        _apply_moves(embedding, edge_starts, moved_cells, moved_by, n_moved)
        alpha = initial_alpha * (1.0 - float(n) / float(n_epochs))  # as umap-learn: after the epoch
    return embedding
