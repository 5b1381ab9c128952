"""Wilcoxon rank sums in parallel: the same numbers for any thread count, and as scipy's ranks."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from scipy import sparse, stats

from scsnake.tl import _rank_genes_stats
from scsnake.tl._rank_genes_stats import wilcoxon_rank_sums
from two_threads import only_with_one_thread, run_with_two_threads

N_GROUPS = 4
LAYOUTS = ("dense", "csr", "csc")
needs_two_threads = pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 numba threads")


@pytest.fixture
def small_chunks(monkeypatch):
    """Several gene blocks in the CSR path and several row and column chunks per kernel."""
    monkeypatch.setattr(_rank_genes_stats, "_CHUNK_NNZ", 40)
    monkeypatch.setattr(_rank_genes_stats, "_N_CHUNKS", 3)


@pytest.fixture
def restore_threads():
    n_threads = numba.get_num_threads()
    yield
    numba.set_num_threads(n_threads)


def ties_and_negatives(layout: str) -> tuple[object, np.ndarray, np.ndarray]:
    """50 cells × 9 genes of small integers (many ties, negatives, an all-zero gene); codes with -1."""
    rng = np.random.default_rng(7)
    x = rng.integers(-2, 4, size=(50, 9)).astype(np.float32) * (rng.random((50, 9)) < 0.6)
    x[:, 4] = 0
    x[:, 6] = 1.5  # no zeros at all
    codes = rng.integers(-1, N_GROUPS, size=50).astype(np.int64)
    sizes = np.bincount(codes[codes >= 0], minlength=N_GROUPS).astype(np.int64)
    if layout == "dense":
        return x, codes, sizes
    matrix = getattr(sparse, f"{layout}_matrix")(x)
    matrix.data[:3] = 0  # explicit zeros count as zeros
    return matrix, codes, sizes


def comparisons(ref: int) -> np.ndarray:
    return np.array([g for g in range(N_GROUPS) if g != ref], dtype=np.int64)


def scipy_rank_sums(x: np.ndarray, codes: np.ndarray, ref: int) -> tuple[np.ndarray, np.ndarray]:
    """Rank sums and tie terms from ``scipy.stats.rankdata``, one gene and comparison at a time."""
    if ref < 0:  # all cells ranked together, one rank sum per group
        pairs = [(np.ones(codes.shape, dtype=bool), list(range(N_GROUPS)))]
    else:  # the cells of each target and the reference ranked together
        pairs = [(np.isin(codes, (t, ref)), [t]) for t in comparisons(ref)]
    sums = np.zeros((N_GROUPS if ref < 0 else len(pairs), x.shape[1]))
    ties = np.zeros((len(pairs), x.shape[1]))
    for j in range(x.shape[1]):
        for p, (cells, groups) in enumerate(pairs):
            ranks = stats.rankdata(x[cells, j])
            for g in groups:
                sums[g if ref < 0 else p, j] = ranks[codes[cells] == g].sum()
            counts = np.unique(x[cells, j], return_counts=True)[1].astype(np.float64)
            ties[p, j] = (counts**3 - counts).sum()
    return sums, ties


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("ref", [-1, 2])
def test_matches_scipy_ranks(layout, ref):
    x, codes, sizes = ties_and_negatives(layout)
    sums, ties = wilcoxon_rank_sums(x, codes, sizes, comparisons(ref), ref)
    dense = x.toarray() if sparse.issparse(x) else x
    expected_sums, expected_ties = scipy_rank_sums(dense, codes, ref)
    np.testing.assert_array_equal(sums, expected_sums)
    np.testing.assert_array_equal(ties, expected_ties)


@needs_two_threads
@pytest.mark.usefixtures("small_chunks", "restore_threads")
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("ref", [-1, 2])
def test_same_for_one_and_two_threads(layout, ref):
    x, codes, sizes = ties_and_negatives(layout)
    results = []
    for n_threads in (1, 2):
        numba.set_num_threads(n_threads)
        results.append(wilcoxon_rank_sums(x, codes, sizes, comparisons(ref), ref))
    for one, two in zip(*results, strict=True):
        assert np.array_equal(one, two)


@needs_two_threads
@pytest.mark.usefixtures("restore_threads")
def test_csr_blocks_to_csc():
    x = sparse.random(30, 11, density=0.4, format="csr", random_state=3)
    expected = x.tocsc()
    for n_threads in (1, 2):
        numba.set_num_threads(n_threads)
        cursor = x.indptr[:-1].astype(np.int64)
        for start, stop in ((0, 4), (4, 5), (5, 11)):
            colptr, rows, vals = _rank_genes_stats._csr_block_to_csc(
                x.indptr, x.indices, x.data, cursor, start, stop, 4
            )
            block = expected[:, start:stop]
            np.testing.assert_array_equal(colptr, block.indptr)
            np.testing.assert_array_equal(rows, block.indices)
            np.testing.assert_array_equal(vals, block.data)
        np.testing.assert_array_equal(cursor, x.indptr[1:])


@only_with_one_thread
def test_thread_checks_in_a_two_thread_process():
    """``make test`` gives numba one thread per worker: run the 1-vs-2-thread checks in a child."""
    run_with_two_threads(__file__, "same_for_one_and_two_threads or csr_blocks_to_csc")
