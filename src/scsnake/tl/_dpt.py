"""Diffusion pseudotime (DPT) from a root cell, and Haghverdi et al.'s branching detection."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pydantic import NonNegativeFloat, NonNegativeInt

from scsnake._matrix import get_matrix, is_sparse
from scsnake._numba import njit
from scsnake._params import StageParams, validated
from scsnake.errors import InputDataError, MissingKeyError, ParamError

from ._diffmap import DptDistances, component_labels, run_diffmap
from ._graph import neighbors_entry
from ._leiden import _natural_key

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["DptParams", "dpt"]

logger = logging.getLogger(__name__)

#: Shortest run of cells on each side of a Kendall-tau split (scanpy's ``min_length``).
MIN_SPLIT_LENGTH = 5


class DptParams(StageParams):
    """Parameters of :func:`dpt`."""

    n_dcs: NonNegativeInt = 10
    """Diffusion components used (the first ``n_dcs`` of ``obsm['X_diffmap']``)."""
    n_branchings: NonNegativeInt = 0
    """Branchings to detect (0: pseudotime only)."""
    min_group_size: NonNegativeFloat = 0.01
    """Do not split groups this small: a cell count (≥ 1) or a fraction of all cells."""
    allow_kendall_tau_shift: bool = True
    """Move a split that would leave a tiny branch away from the Kendall-tau maximum."""
    neighbors_key: str | None = None
    """``uns`` key of the ``neighbors`` result."""


def _root_cell(adata: AnnData) -> int | None:
    """``uns['iroot']``, or the cell closest to ``uns``/``var`` ``['xroot']``; None if neither."""
    if "iroot" in adata.uns:
        iroot = adata.uns["iroot"]
        if not isinstance(iroot, int | np.integer) or isinstance(iroot, bool) or not 0 <= iroot < adata.n_obs:
            msg = f"uns['iroot'] must be the integer index of the root cell (0 to {adata.n_obs - 1}), got {iroot!r}"
            raise InputDataError(msg)
        return int(iroot)
    xroot = adata.uns.get("xroot")
    if xroot is None and "xroot" in adata.var:
        xroot = adata.var["xroot"]
    if xroot is None:
        return None
    xroot = np.asarray(xroot, dtype=np.float64).ravel()
    if xroot.size != adata.n_vars:
        msg = f"xroot has {xroot.size} values but adata has {adata.n_vars} genes; it must be one cell's expression"
        raise InputDataError(msg)
    x = get_matrix(adata)
    dsq = np.empty(adata.n_obs)
    for start in range(0, adata.n_obs, 1000):  # dense chunks: never the whole matrix
        chunk = x[start : start + 1000]
        chunk = chunk.toarray() if is_sparse(chunk) else np.asarray(chunk)
        diff = chunk - xroot
        dsq[start : start + 1000] = np.einsum("ij,ij->i", diff, diff)
    exact = np.flatnonzero(np.sqrt(dsq) < 1e-10)  # scanpy stops at the first (near-)exact match
    return int(exact[0]) if exact.size else int(np.argmin(dsq))


@njit
def _kendall_tau_scores(a: np.ndarray, b: np.ndarray, pos: float, neg: float, min_length: int) -> np.ndarray:
    """``tau(a[:i+1], b[:i+1]) - tau(a[i+1:], b[i+1:])`` for each split, updated one cell at a time."""
    n = a.size
    n_splits = max(n - 2 * min_length - 1, 0)
    out = np.zeros(n_splits)
    for ii in range(n_splits):
        i = min_length + ii
        diff_pos = 0
        for k in range(i):
            sa = 1 if a[k] > a[i] else (-1 if a[k] < a[i] else 0)
            sb = 1 if b[k] > b[i] else (-1 if b[k] < b[i] else 0)
            diff_pos += sa * sb
        diff_neg = 0
        for k in range(i, n):
            sa = 1 if a[k] > a[i] else (-1 if a[k] < a[i] else 0)
            sb = 1 if b[k] > b[i] else (-1 if b[k] < b[i] else 0)
            diff_neg += sa * sb
        pos = pos + 2.0 / (i + 1) * (float(diff_pos) / i - pos)
        len_neg = n - i
        neg = neg + 2.0 / (len_neg - 2) * (-float(diff_neg) / (len_neg - 1) + neg)
        out[ii] = pos - neg
    return out


def _kendall_tau_split(a: np.ndarray, b: np.ndarray) -> int:
    """Split index maximising ``tau(a[:i], b[:i]) - tau(a[i:], b[i:])`` (scanpy's ``kendall_tau_split``)."""
    from scipy.stats import kendalltau

    if a.size < 2 * MIN_SPLIT_LENGTH + 2:
        msg = f"a group of {a.size} cells is too small to split (needs ≥ {2 * MIN_SPLIT_LENGTH + 2}); raise min_group_size or lower n_branchings"
        raise InputDataError(msg)
    m = MIN_SPLIT_LENGTH
    # in float64 (the same order, so the same tau): scipy >= 1.18 rounds it to float32 for float32 input
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    pos = float(kendalltau(a64[:m], b64[:m])[0])
    neg = float(kendalltau(a64[m:], b64[m:])[0])
    scores = _kendall_tau_scores(a, b, pos, neg, m)
    return m + int(np.argmax(scores))


def _position(seg: np.ndarray, cell: int) -> int:
    """Where ``cell`` is in the sorted index array ``seg``."""
    pos = int(np.searchsorted(seg, cell))
    if pos >= seg.size or seg[pos] != cell:
        msg = f"branching failed: tip cell {cell} left its group; lower n_branchings or raise min_group_size"
        raise InputDataError(msg)
    return pos


class _Branching:
    """Scanpy's hierarchical DPT (flavor ``haghverdi16``), restricted to what it stores."""

    def __init__(
        self, distances: DptDistances, n_obs: int, *, min_group_size: float, allow_kendall_tau_shift: bool
    ) -> None:
        self.d = distances
        self.n_obs = n_obs
        self.min_group_size = min_group_size if min_group_size >= 1 else int(min_group_size * n_obs)
        self.allow_shift = allow_kendall_tau_shift

    def detect(self, n_branchings: int, iroot: int | None) -> tuple[list[np.ndarray], list[np.ndarray]]:
        d = self.d
        tip_0 = np.argmax(d[iroot if iroot is not None else 0])
        segs = [np.arange(self.n_obs, dtype=int)]
        segs_tips = [np.array([tip_0, np.argmax(d[tip_0])])]
        undecided = [True]
        for ibranch in range(n_branchings):
            iseg, tips3 = self._select_segment(segs, segs_tips, undecided)
            if iseg == -1:
                logger.debug("partitioning converged after %d branchings", ibranch)
                break
            self._split(segs, segs_tips, undecided, iseg, tips3)
        return segs, segs_tips

    def _select_segment(
        self, segs: list[np.ndarray], segs_tips: list[np.ndarray], undecided: list[bool]
    ) -> tuple[int, np.ndarray | None]:
        d = self.d
        scores_tips = np.zeros((len(segs), 4))
        for iseg, seg in enumerate(segs):
            d_seg = d.restrict(seg)
            third_maximizer = None
            if undecided[iseg]:
                # do not triangulate from a tip that touches another segment's inner tip
                for jseg in range(len(segs)):
                    if jseg == iseg:
                        continue
                    for itip in range(2):
                        inner = d[segs_tips[jseg][1], segs_tips[iseg][itip]]
                        if inner < 0.5 * d[segs_tips[iseg][~itip], segs_tips[iseg][itip]]:
                            third_maximizer = itip
            tips = [_position(seg, tip) for tip in segs_tips[iseg]]
            dseg = d_seg[tips[0]] + d_seg[tips[1]]
            if not np.isfinite(dseg).any():
                continue
            third_tip = np.argmax(dseg)
            if third_maximizer is not None:
                dseg += d_seg[third_tip]
                fourth_tip = np.argmax(dseg)
                if fourth_tip != tips[0] and fourth_tip != third_tip:
                    tips[1] = fourth_tip
                    dseg -= d_seg[tips[1]]
                else:
                    dseg -= d_seg[third_tip]
            tips3 = np.append(tips, third_tip)
            score = dseg[tips3[2]] / d_seg[tips3[0], tips3[1]]
            if len(seg) <= self.min_group_size:
                score = 0
            scores_tips[iseg, 0] = score
            scores_tips[iseg, 1:] = tips3
        iseg = int(np.argmax(scores_tips[:, 0]))
        if scores_tips[iseg, 0] == 0:
            return -1, None
        return iseg, scores_tips[iseg, 1:].astype(int)

    def _branch_away(self, d_seg: DptDistances, tips: np.ndarray) -> np.ndarray:
        """Cells before the branching point, walking away from ``tips[0]``."""
        idcs = np.argsort(d_seg[tips[0]])
        imax = _kendall_tau_split(d_seg[tips[1]][idcs], d_seg[tips[2]][idcs])
        if imax > 0.95 * len(idcs) and self.allow_shift:
            logger.warning(
                "shifting branching point away from maximal kendall-tau correlation "
                "(suppress this with allow_kendall_tau_shift=False)"
            )
            ibranch = int(0.95 * imax)
        else:
            ibranch = imax + 1
        return idcs[:ibranch]

    def _split(
        self,
        segs: list[np.ndarray],
        segs_tips: list[np.ndarray],
        undecided: list[bool],
        iseg: int,
        tips3: np.ndarray,
    ) -> None:
        """Split ``segs[iseg]`` in three branches (+ undecided cells); trunk stays at ``iseg``."""
        seg = segs[iseg]
        d_seg = self.d.restrict(seg)
        ssegs, ssegs_tips, trunk = self._split_local(d_seg, tips3, seg.size)
        ssegs = [seg[s] for s in ssegs]
        ssegs_tips = [seg[np.asarray(t)] for t in ssegs_tips]
        segs.pop(iseg)
        segs_tips.pop(iseg)
        segs.insert(iseg, ssegs[trunk])
        segs_tips.insert(iseg, ssegs_tips[trunk])
        segs += [s for i, s in enumerate(ssegs) if i != trunk]
        segs_tips += [t for i, t in enumerate(ssegs_tips) if i != trunk]
        if len(ssegs) == 4:
            undecided[iseg] = True
        undecided += [False] * (len(ssegs) - 1)

    def _split_local(
        self, d_seg: DptDistances, tips: np.ndarray, n_seg: int
    ) -> tuple[list[np.ndarray], list[list[Any]], int]:
        branches = [self._branch_away(d_seg, tips[p]) for p in ([0, 1, 2], [1, 2, 0], [2, 0, 1])]
        masks = np.zeros((3, n_seg), dtype=bool)
        for i, branch in enumerate(branches):
            masks[i][branch] = True
        nonunique = masks.sum(axis=0) > 1
        masks[:, nonunique] = False
        ssegs = [np.flatnonzero(mask) for mask in masks]
        ssegs_tips: list[list[Any]] = []
        for i, newseg in enumerate(ssegs):
            if newseg.size <= 1:
                logger.warning("detected group with only %d cells", newseg.size)
            if newseg.size == 0:
                msg = "a branch lost all its cells to the undecided group; lower n_branchings or raise min_group_size"
                raise InputDataError(msg)
            ssegs_tips.append([tips[i], newseg[np.argmax(d_seg[tips[i]][newseg])]])
        undecided_cells = np.flatnonzero(nonunique)
        if undecided_cells.size > 0:
            ssegs.append(undecided_cells)
            tip_0 = undecided_cells[np.argmax(d_seg[undecided_cells[0]][undecided_cells])]
            ssegs_tips.append([tip_0, undecided_cells[np.argmax(d_seg[tip_0][undecided_cells])]])
            return ssegs, ssegs_tips, 3
        # no undecided cells: the trunk is the branch closest to the other two
        ref = [ssegs_tips[i][0] for i in range(3)]
        cp = np.zeros((3, 3), dtype=int)
        for i in range(3):
            for j in range(3):
                if i != j:
                    cp[i, j] = ssegs[j][np.argmin(d_seg[ref[i]][ssegs[j]])]
        added = np.zeros(3)
        added[0] = d_seg[cp[1, 0], cp[0, 1]] + d_seg[cp[2, 0], cp[0, 2]]
        added[1] = d_seg[cp[0, 1], cp[1, 0]] + d_seg[cp[2, 1], cp[1, 2]]
        added[2] = d_seg[cp[1, 2], cp[2, 1]] + d_seg[cp[0, 2], cp[2, 0]]
        return ssegs, ssegs_tips, int(np.argmin(added))


def _order(
    segs_names: np.ndarray, masks: np.ndarray, tips: np.ndarray, pseudotime: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Cell order by segment then pseudotime, and the changepoints between segments."""
    if pseudotime is not None:
        for i in range(tips.shape[0]):
            tips[i] = tips[i][np.argsort(pseudotime[tips[i]])]
    indices = np.argsort(segs_names)
    changepoints = np.arange(indices.size - 1)[np.diff(segs_names[indices]) == 1] + 1
    if pseudotime is not None:
        ordered_time = pseudotime[indices]
        for mask in masks:
            in_seg = mask[indices]
            indices[in_seg] = indices[in_seg][np.argsort(ordered_time[in_seg])]
    return indices, changepoints


@validated(DptParams)
def dpt(
    adata: AnnData,
    n_dcs: int = 10,
    *,
    n_branchings: int = 0,
    min_group_size: float = 0.01,
    allow_kendall_tau_shift: bool = True,
    neighbors_key: str | None = None,
    copy: bool = False,
) -> AnnData | None:
    """Order the cells by diffusion pseudotime from a root cell; optionally find branchings.

    Pseudotime is the DPT distance (Haghverdi et al. 2016, with scanpy's extensions for
    disconnected graphs) of each cell to the root ``uns['iroot']`` (or the cell closest
    to ``uns``/``var`` ``['xroot']``), scaled to [0, 1]. It uses ``obsm['X_diffmap']``;
    without it, ``diffmap`` runs first with its defaults (15 components). With
    ``n_branchings > 0`` the cells are split recursively into branches as in scanpy
    (``haghverdi16``); scanpy recommends ``paga`` for branchings instead.

    Parameters
    ----------
    adata
        Cells with a neighbour graph, a diffusion map and ``uns['iroot']``.
    n_dcs
        Diffusion components used (≤ the columns of ``obsm['X_diffmap']``).
    n_branchings
        Branchings to detect.
    min_group_size
        Groups this small are not split: a cell count (≥ 1) or a fraction of the cells.
    allow_kendall_tau_shift
        Shift a split that would leave almost no cells away from the Kendall-tau maximum.
    neighbors_key
        ``uns`` key of the ``neighbors`` result (default ``"neighbors"``).
    copy
        Return a changed copy instead of writing to ``adata``.

    Returns
    -------
    None, or the copy if ``copy=True``. Writes:

    ``adata.obs['dpt_pseudotime']``
        Float32 pseudotime in [0, 1] (inf for cells not connected to the root).
    ``adata.uns['iroot']``
        The root cell's index.
    ``adata.obs['dpt_groups']``, ``adata.obs['dpt_order']``, ``adata.obs['dpt_order_indices']``
        With ``n_branchings > 0``: categorical branch labels ``"0"``, ``"1"``, …, each
        cell's rank in the order by branch then pseudotime, and that order.
    ``adata.uns['dpt_changepoints']``, ``adata.uns['dpt_grouptips']``
        With ``n_branchings > 0``: positions in the order where the branch changes, and
        the two tip cells of each branch.

    Examples
    --------
    >>> import numpy as np, anndata as ad, scsnake as ss
    >>> t = np.linspace(0, 1, 60, dtype="float32")
    >>> adata = ad.AnnData(np.column_stack([t, t**2, np.sin(3 * t)]))
    >>> ss.pp.neighbors(adata, n_neighbors=5)
    >>> ss.tl.diffmap(adata, n_comps=5)
    >>> adata.uns["iroot"] = 0
    >>> ss.tl.dpt(adata, n_dcs=5)
    >>> float(adata.obs["dpt_pseudotime"].iloc[0]), bool(np.corrcoef(adata.obs["dpt_pseudotime"], t)[0, 1] > 0.99)
    (0.0, True)
    """
    adata = adata.copy() if copy else adata
    _, connectivities = neighbors_entry(adata, neighbors_key)
    iroot = _root_cell(adata)
    if iroot is None and n_branchings == 0:
        msg = (
            "dpt needs a root cell: uns['iroot'] not found; set adata.uns['iroot'] = index of a root cell "
            "(e.g. np.flatnonzero(adata.obs['cell_type'] == 'Stem')[0]) or adata.var['xroot'] = its expression"
        )
        raise MissingKeyError(msg)
    if "X_diffmap" not in adata.obsm or "diffmap_evals" not in adata.uns:
        logger.warning("obsm['X_diffmap'] not found: running diffmap with its defaults (n_comps=15) first")
        run_diffmap(adata, connectivities, n_comps=15, random_state=0)
    evals, basis = np.asarray(adata.uns["diffmap_evals"]), np.asarray(adata.obsm["X_diffmap"])
    if n_dcs > evals.size:
        msg = f"n_dcs={n_dcs} but the diffusion map has {evals.size} components; lower n_dcs or rerun diffmap with n_comps={n_dcs}"
        raise ParamError(msg)
    distances = DptDistances(evals[:n_dcs], basis[:, :n_dcs], component_labels(connectivities))
    pseudotime = None
    if iroot is not None:
        pseudotime = distances[iroot].copy()
        pseudotime /= np.max(pseudotime[pseudotime < np.inf])
        adata.uns["iroot"] = iroot
        adata.obs["dpt_pseudotime"] = pseudotime
    if n_branchings > 0:
        branching = _Branching(
            distances,
            adata.n_obs,
            min_group_size=min_group_size,
            allow_kendall_tau_shift=allow_kendall_tau_shift,
        )
        segs, segs_tips = branching.detect(n_branchings, iroot)
        masks = np.zeros((len(segs), adata.n_obs), dtype=bool)
        segs_names = np.zeros(adata.n_obs, dtype=np.int8)
        for iseg, seg in enumerate(segs):
            masks[iseg][seg] = True
            segs_names[masks[iseg]] = iseg
        tips = np.array(segs_tips)
        indices, changepoints = _order(segs_names, masks, tips, pseudotime)
        labels = segs_names.astype("U")
        categories = sorted(np.arange(len(segs)).astype("U"), key=_natural_key)
        adata.obs["dpt_groups"] = pd.Categorical(labels, categories=categories)
        adata.uns["dpt_changepoints"] = changepoints
        adata.uns["dpt_grouptips"] = tips
        order = np.zeros(adata.n_obs, dtype=int)
        order[indices] = np.arange(adata.n_obs)
        adata.obs["dpt_order"] = order
        adata.obs["dpt_order_indices"] = indices
        logger.info("found %d dpt groups", len(segs))
    return adata if copy else None
