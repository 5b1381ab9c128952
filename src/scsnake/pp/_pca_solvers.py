"""PCA's numerical solvers: arrays in, ``(scores, components, variances, ratios)`` out.

``arpack`` on at most :data:`GRAM_MAX_VARS` genes runs ARPACK (``eigsh``) on the
genes × genes Gram matrix, accumulated in float64 from row blocks that are centred
exactly (no ``XᵀX - nμμᵀ`` cancellation): one pass over the data with BLAS instead of
hundreds of matrix-vector products over it, and no centred or float64 copy of the
matrix. The eigenvectors of the Gram matrix are the right singular vectors of the
centred data, its eigenvalues the squared singular values, so the results are the
same as ARPACK's SVD of the centred matrix. With more genes (where the Gram matrix
would be large) ``arpack`` runs ``svds`` on a linear operator that centres implicitly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import linalg
from scipy.sparse.linalg import LinearOperator, aslinearoperator, eigsh, svds
from threadpoolctl import threadpool_limits

from scsnake._matrix import is_sparse
from scsnake._numba import njit
from scsnake.pp._hvg_kernels import column_mean_var
from scsnake.pp._kernels import _densify_scaled_csr

if TYPE_CHECKING:
    from collections.abc import Iterator

    from numpy.typing import NDArray

__all__ = ["GRAM_MAX_VARS", "ScaledCsr", "column_mean", "decompose"]

#: ``arpack`` uses the Gram matrix (float64, this many genes squared) up to this many genes.
GRAM_MAX_VARS = 4096
#: Values (rows × genes) per block when the Gram matrix or the scores are accumulated:
#: 16M (64 MB float32) lets BLAS run near its peak; blocks have 256 to 8192 rows.
_BLOCK_VALUES = 1 << 24


@njit
def _centred_rows_csr(indptr, indices, data, start, stop, mean, out):
    """Rows ``start:stop`` of a CSR matrix minus ``mean``, densified into ``out``."""
    for i in range(start, stop):
        row = out[i - start]
        for j in range(mean.size):
            row[j] = -mean[j]
        for k in range(indptr[i], indptr[i + 1]):
            row[indices[k]] += data[k]


class ScaledCsr:
    """A CSR matrix as ``pp.scale`` makes it dense: each gene minus ``mean``, divided by
    ``std``, clipped to ``[lower, upper]``; built a block of rows at a time, never whole.

    The Gram-matrix solvers (and :func:`column_mean`) read it block by block, so scaling
    and PCA together need no cells × genes float64 array.
    """

    def __init__(
        self, x: Any, mean: NDArray[np.float64], std: NDArray[np.float64], lower: float, upper: float
    ) -> None:
        self.x, self.mean, self.std, self.lower, self.upper = x, mean, std, lower, upper
        self.shape = x.shape
        self.dtype = np.dtype(np.float64)
        self._all = np.ones(x.shape[0], dtype=bool)

    def rows(self, start: int, stop: int, out: NDArray[np.float64]) -> None:
        """Write the scaled rows ``start:stop`` into ``out`` (the same values as ``pp.scale``)."""
        x = self.x
        _densify_scaled_csr(
            x.indptr[start : stop + 1],
            x.indices,
            x.data,
            self.mean,
            self.std,
            self._all[start:stop],
            self.lower,
            self.upper,
            out,
        )


def _block_dtype(x: Any) -> type[np.floating]:
    """float32 for float32 data (BLAS twice as fast, scanpy's precision), else float64."""
    return np.float32 if x.dtype == np.float32 else np.float64


def _centred_blocks(x: Any, mean: NDArray[np.float64]) -> Iterator[tuple[int, int, NDArray[np.floating]]]:
    """``(start, stop, x[start:stop] - mean)``, one reused buffer of row blocks.

    The buffer is float32 for float32 data and float64 otherwise; centring is exact
    (each value minus the float64 mean, rounded once).
    """
    n_obs, n_vars = x.shape
    rows = min(n_obs, max(256, min(8192, _BLOCK_VALUES // max(n_vars, 1))))
    buffer = np.empty((rows, n_vars), dtype=_block_dtype(x))
    mean = mean.astype(buffer.dtype)  # its rounding shifts every row alike: the Gram is unaffected
    sparse_rows = is_sparse(x)
    if sparse_rows and x.format != "csr":
        x = x.tocsr()  # a sparse copy; CSC has no cheap row blocks
    for start in range(0, n_obs, rows):
        stop = min(start + rows, n_obs)
        block = buffer[: stop - start]
        if sparse_rows:
            _centred_rows_csr(x.indptr, x.indices, x.data, start, stop, mean, block)
        elif isinstance(x, ScaledCsr):
            x.rows(start, stop, block)
            block -= mean
        else:
            np.subtract(x[start:stop], mean, out=block)
        yield start, stop, block


def _gram(x: Any, mean: NDArray[np.float64]) -> NDArray[np.float64]:
    """``(x - mean).T @ (x - mean)``: each row block's product in the block's precision,
    accumulated over blocks in float64."""
    gram = np.zeros((x.shape[1], x.shape[1]))
    for _, _, block in _centred_blocks(x, mean):
        gram += block.T @ block
    return gram


def _project(x: Any, mean: NDArray[np.float64], components: NDArray[np.float64]) -> NDArray[np.floating]:
    """Scores ``(x - mean) @ components.T`` of float data in its precision, in one product:
    ``x @ V - mean @ V`` (the scores are of the order of the data's spread, so the
    correction loses nothing)."""
    dtype = _block_dtype(x)
    if isinstance(x, ScaledCsr):
        scores = np.empty((x.shape[0], components.shape[0]), dtype=dtype)
        for start, stop, block in _centred_blocks(x, mean):
            scores[start:stop] = block @ components.T
        return scores
    scores = np.asarray(x @ np.ascontiguousarray(components.T, dtype=dtype), dtype=dtype)
    scores -= (mean @ components.T).astype(dtype)
    return scores


def _operator(x: Any, mean: NDArray[np.floating] | None) -> LinearOperator:
    """``x`` minus its column means, as a linear operator: the centred matrix is never built."""
    if mean is None:
        return aslinearoperator(x)
    mu = mean.astype(x.dtype)[None, :]
    xt = x.T

    def matmat(v: NDArray[np.floating]) -> NDArray[np.floating]:
        return x @ v - mu @ v

    def rmatmat(v: NDArray[np.floating]) -> NDArray[np.floating]:
        return xt @ v - mu.T @ v.sum(axis=0, keepdims=True)

    return LinearOperator(
        shape=x.shape,
        dtype=x.dtype,
        matvec=matmat,
        matmat=matmat,
        rmatvec=lambda v: rmatmat(v.reshape(-1, 1)).ravel(),
        rmatmat=rmatmat,
    )


def _svd_flip(u: NDArray[np.floating] | None, vt: NDArray[np.floating]) -> tuple[Any, NDArray[np.floating]]:
    """Make the largest-magnitude loading of every component positive (scikit-learn's rule)."""
    signs = np.sign(vt[np.arange(vt.shape[0]), np.argmax(np.abs(vt), axis=1)])
    signs[signs == 0] = 1
    vt = vt * signs[:, None]
    return (None if u is None else u * signs[None, :]), vt


def _arpack(op: LinearOperator, k: int, rng: np.random.RandomState) -> tuple[Any, Any, Any]:
    """ARPACK's truncated SVD (``svds``) of an operator, largest singular values first."""
    v0 = rng.uniform(-1, 1, min(op.shape))
    u, s, vt = svds(op, k=k, tol=0, v0=v0)
    order = np.argsort(-s, kind="stable")
    return u[:, order], s[order], vt[order]


def _arpack_gram(
    x: Any, mean: NDArray[np.float64], k: int, rng: np.random.RandomState
) -> tuple[NDArray[np.float64], NDArray[np.float64], float]:
    """ARPACK (``eigsh``, to machine precision) on the Gram matrix of the centred data.

    Returns the squared singular values and the right singular vectors (k × genes),
    largest first, and the Gram matrix's trace (the total sum of squares). ARPACK's many
    small BLAS calls run single-threaded: on 2 busy cores threading them made ``eigsh``
    6× slower.
    """
    gram = _gram(x, mean)
    v0 = rng.uniform(-1, 1, x.shape[1])
    with threadpool_limits(limits=1, user_api="blas"):
        eigenvalues, eigenvectors = eigsh(gram, k=k, which="LM", tol=0, v0=v0)
    order = np.argsort(-eigenvalues, kind="stable")
    return np.clip(eigenvalues[order], 0, None), eigenvectors[:, order].T, float(np.trace(gram))


def _randomized(
    op: LinearOperator, k: int, rng: np.random.RandomState, n_iter: int | None = None
) -> tuple[Any, Any, Any]:
    """Halko et al.'s randomized SVD as scikit-learn runs it: 10 oversamples, LU-normalised
    power iterations (by default 7, or 4 when ``k`` is at least a tenth of the smaller side)."""
    n_random = k + 10
    if n_iter is None:
        n_iter = 7 if k < 0.1 * min(op.shape) else 4
    transpose = op.shape[0] < op.shape[1]
    a = op.T if transpose else op
    q = rng.normal(size=(a.shape[1], n_random))
    if op.dtype == np.float32:
        q = q.astype(np.float32)
    for _ in range(n_iter):
        q, _ = linalg.lu(a @ q, permute_l=True, check_finite=False)
        q, _ = linalg.lu(a.T @ q, permute_l=True, check_finite=False)
    q, _ = linalg.qr(a @ q, mode="economic", check_finite=False)
    b = (a.T @ q).T
    u_hat, s, vt = linalg.svd(b, full_matrices=False, check_finite=False)
    u = q @ u_hat
    if transpose:
        return vt[:k].T, s[:k], u[:, :k].T
    return u[:, :k], s[:k], vt[:k]


def _covariance_eigh(x: Any, mean: NDArray[np.float64], k: int) -> tuple[Any, Any, Any, float]:
    """LAPACK's eigendecomposition of the gene covariance matrix (scikit-learn's solver).

    Returns scores, variances, components and the total variance (the covariance's trace).
    """
    cov = _gram(x, mean)
    cov /= x.shape[0] - 1
    n_vars = cov.shape[0]  # only the top k eigenpairs (LAPACK's MRRR): 2-3x faster than all
    eigenvalues, eigenvectors = linalg.eigh(cov, subset_by_index=[n_vars - k, n_vars - 1], driver="evr")
    eigenvalues = np.clip(eigenvalues[::-1], 0, None)
    _, vt = _svd_flip(None, eigenvectors[:, ::-1].T)
    return _project(x, mean, vt), eigenvalues, vt.astype(x.dtype), float(np.trace(cov))


def _incremental(x: Any, k: int, chunk_size: int) -> tuple[Any, Any, Any, Any]:
    """scikit-learn's IncrementalPCA over dense blocks of ``chunk_size`` cells, as scanpy runs it."""
    from sklearn.decomposition import IncrementalPCA

    starts = range(0, x.shape[0], chunk_size)
    blocks = (x[i : i + chunk_size] for i in starts)
    model = IncrementalPCA(n_components=k)
    for block in blocks:
        model.partial_fit(block.toarray() if is_sparse(block) else block)
    x_pca = np.zeros((x.shape[0], k), dtype=x.dtype)
    for i in starts:
        block = x[i : i + chunk_size]
        x_pca[i : i + chunk_size] = model.transform(block.toarray() if is_sparse(block) else block)
    return x_pca, model.components_, model.explained_variance_, model.explained_variance_ratio_


def column_mean(x: Any) -> NDArray[np.float64]:
    """Per-column mean, summed in float64 (no temporary of the matrix's size)."""
    if isinstance(x, ScaledCsr):
        sums = np.zeros(x.shape[1])
        for _, _, block in _centred_blocks(x, sums.copy()):
            sums += block.sum(axis=0)
        return sums / x.shape[0]
    if is_sparse(x):  # scipy's sum(dtype=float64) would copy the values as float64
        return column_mean_var(x)[0]
    return np.sum(x, axis=0, dtype=np.float64) / x.shape[0]


def decompose(
    x: Any,
    k: int,
    *,
    zero_center: bool,
    svd_solver: str | None,
    seed: int,
    chunked: bool,
    chunk_size: int | None,
    mean: NDArray[np.float64] | None = None,
) -> tuple[Any, Any, Any, Any]:
    """Scores, components (k × genes), variances and variance ratios.

    ``mean``: the per-gene mean of ``x`` if already computed. The solvers on the Gram
    matrix take the total variance from its trace; the others compute the per-gene
    variances in a pass of their own.
    """
    if chunked:
        return _incremental(x, k, int(chunk_size or 0))
    n, n_vars = x.shape
    # scikit-learn's legacy generator, so a seed gives scanpy's start vector / projection
    rng = np.random.RandomState(seed)
    solver = svd_solver or ("arpack" if zero_center else "randomized")
    if (solver == "arpack" and n_vars <= GRAM_MAX_VARS) or (zero_center and solver == "covariance_eigh"):
        centre = (column_mean(x) if mean is None else mean) if zero_center else np.zeros(n_vars)
        if solver == "covariance_eigh":
            x_pca, variance, vt, total = _covariance_eigh(x, centre, k)
        else:
            squares, vt, trace = _arpack_gram(x, centre, k, rng)
            _, vt = _svd_flip(None, vt)
            x_pca = _project(x, centre, vt)
            variance, total = squares / (n - 1), trace / (n - 1)
            vt = vt.astype(x.dtype)
        if not zero_center:  # like TruncatedSVD: the variance of the scores
            variance = np.var(x_pca, axis=0)
            total = column_mean_var(x)[1].sum() * (n - 1) / n
        ratio = variance / total
        return x_pca, vt, variance.astype(x.dtype), ratio.astype(x.dtype)
    mean, var = column_mean_var(x)
    if zero_center:
        op = _operator(x, mean)
        u, s, vt = (_arpack if solver == "arpack" else _randomized)(op, k, rng)
        u, vt = _svd_flip(u, vt)
        x_pca = u * s
        variance = s.astype(np.float64) ** 2 / (n - 1)
        ratio = variance / var.sum()
    else:
        op = _operator(x, None)
        if solver == "arpack":
            u, s, vt = _arpack(op, k, rng)
        else:
            u, s, vt = _randomized(op, k, rng, n_iter=5)  # TruncatedSVD's default
        u, vt = _svd_flip(u, vt)
        # like TruncatedSVD: ARPACK's scores are U·S, the randomized ones are X·V
        x_pca = u * s if solver == "arpack" else np.asarray(x @ vt.T)
        variance = np.var(x_pca, axis=0, dtype=np.float64)
        ratio = variance / (var.sum() * (n - 1) / n)
    return x_pca, vt, variance.astype(x.dtype), ratio.astype(x.dtype)
