"""Which PCA solver runs for a ``svd_solver`` (scanpy's rules), and the two solvers only those
rules add: LAPACK's full SVD (``full``, dense data) and LOBPCG (``lobpcg``, sparse data).

scanpy hands ``svd_solver`` to scikit-learn's ``PCA`` (centred) or ``TruncatedSVD``
(``zero_center=False``), after replacing a value the class does not take for the input
by its default, with a warning. Centred dense data take ``auto``, ``full``, ``arpack``,
``randomized`` and ``covariance_eigh`` (``auto``: scikit-learn's choice by shape);
centred sparse data ``arpack``, ``covariance_eigh`` and (deprecated in scanpy) ``lobpcg``;
uncentred data ``arpack`` and ``randomized``. None is ``arpack`` when centring, else
``randomized``; ``chunked`` ignores the solver. ``tsqr`` exists for dask arrays only.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from scipy import linalg
from scipy.sparse.linalg import LinearOperator, svds

from scsnake._matrix import is_sparse
from scsnake.errors import AdjustedParamWarning
from scsnake.pp._hvg_kernels import column_mean_var
from scsnake.pp._pca_solvers import _svd_flip, column_mean, decompose

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["SvdSolver", "full_svd", "lobpcg_svd", "resolve_svd_solver", "solve"]

#: Every ``svd_solver`` scanpy's ``pp.pca`` takes.
SvdSolver = Literal["auto", "full", "arpack", "randomized", "lobpcg", "covariance_eigh", "tsqr"]

_PCA_DENSE = ("auto", "full", "randomized", "arpack", "covariance_eigh")
_PCA_SPARSE = ("arpack", "covariance_eigh", "lobpcg")
_TRUNCATED_SVD = ("arpack", "randomized")


def _auto(shape: tuple[int, int], n_comps: int) -> str:
    """scikit-learn's ``PCA(svd_solver="auto")`` choice for dense data."""
    n_obs, n_vars = shape
    if n_vars <= 1_000 and n_obs >= 10 * n_vars:
        return "covariance_eigh"
    if max(shape) <= 500:
        return "full"
    if 1 <= n_comps < 0.8 * min(shape):
        return "randomized"
    return "full"


def resolve_svd_solver(
    svd_solver: str | None, *, zero_center: bool, sparse: bool, shape: tuple[int, int], n_comps: int
) -> str:
    """The solver that runs (``arpack``, ``randomized``, ``covariance_eigh``, ``full`` or ``lobpcg``).

    A value the case does not take is replaced by the case's default with an
    :class:`~scsnake.errors.AdjustedParamWarning`; ``lobpcg`` on sparse data warns
    (``FutureWarning``) as scanpy does, which deprecates it.
    """
    if zero_center:
        accepted, default = (_PCA_SPARSE if sparse else _PCA_DENSE), "arpack"
        case = "PCA of sparse data" if sparse else "PCA of dense data"
    else:
        accepted, default, case = _TRUNCATED_SVD, "randomized", "a truncated SVD (zero_center=False)"
    if svd_solver is None:
        return default
    if svd_solver not in accepted:
        msg = f"svd_solver={svd_solver!r} does not apply to {case} (it takes {', '.join(accepted)}); using {default!r}"
        warnings.warn(msg, AdjustedParamWarning, stacklevel=5)
        return default
    if svd_solver == "lobpcg":
        msg = "svd_solver='lobpcg' is deprecated in scanpy and may be inaccurate; use 'arpack'"
        warnings.warn(msg, FutureWarning, stacklevel=5)
    if svd_solver == "auto":
        return _auto(shape, n_comps)
    return svd_solver


def full_svd(x: NDArray[np.floating], mean: NDArray[np.float64], k: int) -> tuple[Any, Any, Any, Any]:
    """LAPACK's SVD of the centred (dense) data, as scikit-learn's ``svd_solver="full"``.

    Returns scores, components (k × genes), variances and variance ratios (of all the
    singular values' total).
    """
    centred = np.asarray(x) - mean.astype(x.dtype)
    u, s, vt = linalg.svd(centred, full_matrices=False)
    u, vt = _svd_flip(u, vt)
    variance = s**2 / (x.shape[0] - 1)
    ratio = variance / variance.sum()
    return u[:, :k] * s[:k], vt[:k], variance[:k], ratio[:k]


def lobpcg_svd(x: Any, k: int, seed: int) -> tuple[Any, Any, Any, Any]:
    """scanpy's sparse PCA by ``svds(solver="lobpcg")`` on an implicitly centred operator.

    The same operator, start (a ``RandomState(seed)`` drawing ``rand(min(shape))``, then
    LOBPCG's block) and sign rule as scanpy's ``_pca_compat_sparse``, without touching
    numpy's global random state.
    """
    rng = np.random.RandomState(seed)
    v0 = rng.rand(min(x.shape))
    mu = np.asarray(x.mean(0)).flatten()[None, :]
    ones = np.ones(x.shape[0])[None, :].dot
    xt = x.T.conj()

    def mat_op(v: NDArray[np.floating]) -> NDArray[np.floating]:
        return (x @ v) - (mu @ v)

    def rmat_op(v: NDArray[np.floating]) -> NDArray[np.floating]:
        return (xt @ v) - (mu.T @ ones(v))

    op = LinearOperator(
        dtype=x.dtype, shape=x.shape, matvec=mat_op, matmat=mat_op, rmatvec=rmat_op, rmatmat=rmat_op
    )
    with warnings.catch_warnings():
        # svds asks LOBPCG for tolerance 0, so it always reports "Exited at iteration …"
        warnings.filterwarnings("ignore", "Exited ", UserWarning)
        u, s, vt = svds(op, solver="lobpcg", k=k, v0=v0, random_state=rng)
    u, vt = _svd_flip(u, vt)
    order = np.argsort(-s)
    variance = s[order] ** 2 / (x.shape[0] - 1)
    total = column_mean_var(x)[1].sum()
    return (u * s)[:, order], vt[order], variance, variance / total


def solve(
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
    """Scores, components (k × genes), variances and ratios by the solver scanpy would run."""
    if chunked:  # incremental PCA: the solver is ignored
        return decompose(
            x, k, zero_center=True, svd_solver=None, seed=seed, chunked=True, chunk_size=chunk_size
        )
    solver = resolve_svd_solver(
        svd_solver, zero_center=zero_center, sparse=is_sparse(x), shape=x.shape, n_comps=k
    )
    if solver == "full":
        x_pca, vt, variance, ratio = full_svd(x, column_mean(x) if mean is None else mean, k)
    elif solver == "lobpcg":
        x_pca, vt, variance, ratio = lobpcg_svd(x, k, seed)
    else:
        return decompose(
            x,
            k,
            zero_center=zero_center,
            svd_solver=solver,
            seed=seed,
            chunked=False,
            chunk_size=None,
            mean=mean,
        )
    return x_pca, vt.astype(x.dtype), variance.astype(x.dtype), ratio.astype(x.dtype)
