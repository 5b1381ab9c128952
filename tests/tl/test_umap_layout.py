"""UMAP's block-parallel layout: umap-learn's updates, the same result on any number of threads."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from scipy import sparse

from scsnake.tl._umap_layout import _blocks, optimize_layout_blocks
from two_threads import only_with_one_thread, run_with_two_threads

pytestmark = pytest.mark.filterwarnings("ignore:Tensorflow not installed:ImportWarning")
needs_two_threads = pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 numba threads")


def _graph(n: int = 300, seed: int = 0) -> tuple[sparse.coo_matrix, np.ndarray, np.ndarray]:
    """A symmetric kNN-like graph, pruned as umap-learn prunes it, with its epochs per sample."""
    from umap.umap_ import make_epochs_per_sample

    rng = np.random.default_rng(seed)
    points = rng.normal(size=(n, 5)) + np.repeat(rng.normal(scale=4, size=(3, 5)), -(-n // 3), axis=0)[:n]
    distances = ((points[:, None] - points[None]) ** 2).sum(-1)
    nearest = np.argsort(distances, axis=1)[:, 1:11]
    weights = sparse.csr_matrix(
        (rng.uniform(0.2, 1, nearest.size), nearest.ravel(), np.arange(0, nearest.size + 1, 10)), shape=(n, n)
    )
    graph = (weights + weights.T).tocoo()
    graph.sum_duplicates()
    init = (10 * rng.random((n, 2))).astype(np.float32)
    return graph, make_epochs_per_sample(graph.data, 50), init


def test_one_block_follows_umap_learns_serial_updates():
    from umap.layouts import optimize_layout_euclidean
    from umap.umap_ import find_ab_params

    graph, _, init = _graph()
    a, b = find_ab_params(1.0, 0.5)
    from umap.umap_ import make_epochs_per_sample

    # Epoch 0 moves nothing; epoch 1 samples edges, negatives and moves both ends. Later epochs
    # are not compared: both kernels are compiled with fastmath, and a rounding difference in
    # how many negative samples are due changes the random draws from then on.
    n_epochs = 2
    per_sample = make_epochs_per_sample(graph.data, n_epochs)
    for state in ([11, 22, 33], [123456789, -98765432, 555555555]):
        theirs = init.copy()
        optimize_layout_euclidean(
            theirs,
            theirs,
            graph.row,
            graph.col,
            n_epochs,
            init.shape[0],
            per_sample,
            a,
            b,
            np.array(state, dtype=np.int64),
            1.0,
            1.0,
            5.0,
            parallel=False,
            move_other=True,
        )
        ours = optimize_layout_blocks(
            init.copy(),
            graph.row,
            graph.col,
            n_epochs,
            per_sample,
            a,
            b,
            np.array(state, dtype=np.int64),
            n_blocks=1,
        )
        assert np.abs(theirs - init).max() > 0.1  # the points moved
        np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_blocks_hold_whole_cells_and_every_edge():
    graph, _, _ = _graph()
    edge_starts, cell_starts = _blocks(graph.row, 300, 7)
    assert edge_starts[0] == 0 and edge_starts[-1] == graph.nnz and cell_starts[-1] == 300
    assert np.all(np.diff(edge_starts) >= 0) and np.all(np.diff(cell_starts) >= 0)
    for block in range(7):  # a block's edges are exactly those whose head is one of its cells
        heads = graph.row[edge_starts[block] : edge_starts[block + 1]]
        assert np.all((heads >= cell_starts[block]) & (heads < cell_starts[block + 1]))
    assert np.ptp(np.diff(edge_starts)) < 0.2 * graph.nnz / 7 + 40  # about equal work


def test_layout_is_deterministic_and_moves_points():
    from umap.umap_ import find_ab_params

    graph, per_sample, init = _graph()
    a, b = find_ab_params(1.0, 0.5)
    state = np.array([1, 2, 3], dtype=np.int64)
    first = optimize_layout_blocks(
        init.copy(), graph.row, graph.col, 50, per_sample, a, b, state.copy(), n_blocks=8
    )
    again = optimize_layout_blocks(
        init.copy(), graph.row, graph.col, 50, per_sample, a, b, state.copy(), n_blocks=8
    )
    np.testing.assert_array_equal(first, again)
    assert np.isfinite(first).all() and np.abs(first - init).max() > 1


def test_unsorted_edges_are_refused():
    graph, per_sample, init = _graph()
    order = np.random.default_rng(0).permutation(graph.nnz)
    with pytest.raises(ValueError, match="sorted by head"):
        optimize_layout_blocks(
            init,
            graph.row[order],
            graph.col[order],
            10,
            per_sample[order],
            1.0,
            1.0,
            np.array([1, 2, 3], dtype=np.int64),
        )


@needs_two_threads
def test_same_for_one_and_two_threads():
    from umap.umap_ import find_ab_params

    graph, per_sample, init = _graph(600)
    a, b = find_ab_params(1.0, 0.5)
    results = []
    n_threads = numba.get_num_threads()
    try:
        for threads in (1, 2):
            numba.set_num_threads(threads)
            results.append(
                optimize_layout_blocks(
                    init.copy(),
                    graph.row,
                    graph.col,
                    50,
                    per_sample,
                    a,
                    b,
                    np.array([5, 6, 7], dtype=np.int64),
                )
            )
    finally:
        numba.set_num_threads(n_threads)
    np.testing.assert_array_equal(results[0], results[1])


@only_with_one_thread
def test_thread_check_in_a_two_thread_process():
    """``make test`` gives numba one thread per worker: run the 1-vs-2-thread check in a child."""
    run_with_two_threads(__file__, "same_for_one_and_two_threads")
