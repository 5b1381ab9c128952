"""The count simulator: structure, determinism, biology it promises, exact NB sampling, bounds."""

from __future__ import annotations

import os
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

import scsnake.datasets._synthetic as synthetic_module
from scsnake.datasets import synthetic, write_synthetic
from scsnake.datasets._kernels import sample_chunk
from scsnake.errors import InputDataError, ParamError


@pytest.fixture(scope="module")
def small():
    return synthetic(600, 400, 4, seed=3)


def _fraction(adata, mask: np.ndarray) -> np.ndarray:
    totals = np.asarray(adata.X.sum(axis=1)).ravel()
    return np.asarray(adata.X[:, mask].sum(axis=1)).ravel() / totals


def test_structure(small) -> None:
    x = small.X
    assert small.shape == (600, 400)
    assert sparse.isspmatrix_csr(x) and x.dtype == np.float32 and x.has_canonical_format
    np.testing.assert_array_equal(x.data, np.round(x.data))
    assert (x.data > 0).all()
    assert small.obs["truth"].cat.categories.tolist() == ["type0", "type1", "type2", "type3"]
    assert small.obs["batch"].cat.categories.tolist() == ["batch0"]
    assert small.obs["is_doublet"].dtype == bool and not small.obs["is_doublet"].any()
    assert small.var_names.is_unique and small.obs_names.is_unique
    assert small.var["gene_ids"].is_unique and small.var["gene_ids"].str.startswith("ENSSIMG").all()
    assert small.obs["truth"].value_counts().min() >= 1


def test_gene_families(small) -> None:
    names = small.var_names
    assert names.str.startswith("MT-").sum() == 13 and "MT-CO1" in names
    assert names.str.startswith(("RPS", "RPL")).sum() == 50
    ribo = _fraction(small, names.str.startswith(("RPS", "RPL")))
    assert 0.15 < np.median(ribo) < 0.35  # ribosomal genes are highly expressed
    detected = np.asarray((small.X > 0).sum(axis=0)).ravel()
    assert 20 <= (detected == 0).sum() <= 60  # about 6% of the 337 other genes are silent


def test_low_quality_cells(small) -> None:
    mito = _fraction(small, small.var_names.str.startswith("MT-"))
    low = small.obs["low_quality"].to_numpy()
    totals = np.asarray(small.X.sum(axis=1)).ravel()
    assert 0 < low.sum() < 0.1 * small.n_obs
    assert np.median(mito[low]) > 0.2 > 0.08 > np.median(mito[~low])
    assert np.median(totals[low]) < 0.5 * np.median(totals[~low])


def test_marker_programmes() -> None:
    adata = synthetic(800, 300, 3, seed=5)
    x = adata.X.toarray()
    means = np.stack([x[adata.obs["truth"] == t].mean(axis=0) for t in ["type0", "type1", "type2"]])
    expressed = means.mean(axis=0) > 0.5
    fold = means[:, expressed].max(axis=0) / means[:, expressed].min(axis=0)
    assert (fold > 2.5).sum() >= 6  # each type up-regulates its own markers several-fold


def test_same_seed_same_object_other_seed_differs() -> None:
    a = synthetic(300, 200, 3, seed=7)
    b = synthetic(300, 200, 3, seed=7)
    c = synthetic(300, 200, 3, seed=8)
    assert (a.X != b.X).nnz == 0 and a.obs.equals(b.obs) and a.var.equals(b.var)
    assert (a.X != c.X).nnz > 0


def test_chunks_do_not_depend_on_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(synthetic_module, "_CHUNK", 64)
    threaded = synthetic(300, 150, 2, seed=1)
    monkeypatch.setattr(synthetic_module.os, "cpu_count", lambda: 1)
    serial = synthetic(300, 150, 2, seed=1)
    assert (threaded.X != serial.X).nnz == 0


def test_batches() -> None:
    adata = synthetic(400, 200, 2, n_batches=3, batch_effect=1.0, seed=2)
    assert adata.obs["batch"].cat.categories.tolist() == ["batch0", "batch1", "batch2"]
    assert adata.obs["batch"].value_counts().tolist() == [134, 133, 133]
    x = adata.X.toarray()
    b0, b1 = (x[adata.obs["batch"] == b].mean(axis=0) for b in ["batch0", "batch1"])
    expressed = (b0 > 1) & (b1 > 1)
    assert np.median(np.abs(np.log(b0[expressed] / b1[expressed]))) > 0.2


def test_doublets() -> None:
    adata = synthetic(1000, 200, 3, doublet_rate=0.2, seed=4)
    doublet = adata.obs["is_doublet"].to_numpy()
    assert doublet.sum() == 200
    totals = np.asarray(adata.X.sum(axis=1)).ravel()
    assert np.median(totals[doublet]) > 1.6 * np.median(totals[~doublet])
    assert not (adata.obs["low_quality"].to_numpy() & doublet).any()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_cells": 3, "n_types": 4}, r"n_cells \(3\) must be at least n_types \(4\)"),
        ({"n_genes": 70}, r"n_genes \(70\) must be at least mito_genes \+ ribo_genes"),
        ({"doublet_rate": 0.5}, "doublet_rate"),
        ({"doublet_rate": 0.1, "n_types": 1}, "doublet_rate > 0 needs n_types >= 2"),
        ({"batch_effect": -1}, "batch_effect"),
        ({"n_batches": 0}, "n_batches"),
        ({"seed": -1}, "seed"),
        ({"median_counts": 0}, "median_counts"),
        ({"median_counts": -100.0}, "median_counts"),
    ],
)
def test_bounds(kwargs: dict, match: str) -> None:
    with pytest.raises(ParamError, match=match):
        synthetic(**kwargs)


def test_sampler_is_negative_binomial() -> None:
    """Means from 0.001 to 60 (thinned tail, inversion, gamma-Poisson) match NB moments."""
    n_genes, n_cells, lib = 30, 20000, 1000.0
    mu = np.geomspace(1e-3, 60, n_genes)
    theta = np.linspace(0.5, 8, n_genes)
    order, probs, n_expr, block_ends, n_blocks = synthetic_module._sorted_groups((mu / lib)[None, :])
    groups = np.zeros((n_cells, 1), dtype=np.int64)
    libs = np.full((n_cells, 1), lib)
    indptr, indices, data = sample_chunk(
        11, groups, libs, order, probs, theta[order], n_expr, block_ends, n_blocks, n_genes
    )
    x = sparse.csr_matrix((data, indices, indptr), shape=(n_cells, n_genes)).toarray().astype(np.float64)
    variance = mu + mu**2 / theta
    z_mean = (x.mean(axis=0) - mu) / np.sqrt(variance / n_cells)
    p0 = (theta / (theta + mu)) ** theta
    z_zero = ((x == 0).mean(axis=0) - p0) / np.sqrt(p0 * (1 - p0) / n_cells)
    assert np.abs(z_mean).max() < 4.5 and np.abs(z_zero).max() < 4.5
    well_measured = mu > 0.5
    np.testing.assert_allclose(x.var(axis=0)[well_measured], variance[well_measured], rtol=0.12)


def _intact_median_total(adata) -> float:
    totals = np.asarray(adata.X.sum(axis=1)).ravel()
    intact = ~adata.obs["low_quality"].to_numpy() & ~adata.obs["is_doublet"].to_numpy()
    return float(np.median(totals[intact]))


def test_median_counts_sets_the_depth() -> None:
    shallow = synthetic(2000, 2000, 3, batch_effect=0.0, median_counts=500, seed=6)
    deep = synthetic(2000, 2000, 3, batch_effect=0.0, median_counts=8000, seed=6)
    assert _intact_median_total(shallow) == pytest.approx(500, rel=0.05)
    assert _intact_median_total(deep) == pytest.approx(8000, rel=0.05)
    assert 2 * shallow.X.nnz < deep.X.nnz  # deeper cells detect more genes
    assert shallow.obs.equals(deep.obs) and shallow.var.equals(deep.var)  # only the counts change


def test_median_counts_none_is_the_default_formula() -> None:
    default = synthetic(300, 400, 3, seed=2)
    explicit = synthetic(300, 400, 3, median_counts=2000 + 0.2 * 400, seed=2)
    assert (default.X != explicit.X).nnz == 0


# --- write_synthetic -------------------------------------------------------------------------


def _assert_same_anndata(expected: ad.AnnData, got: ad.AnnData) -> None:
    assert sparse.isspmatrix_csr(got.X) and got.shape == expected.shape
    for name in ("data", "indices", "indptr"):
        want, have = getattr(expected.X, name), getattr(got.X, name)
        assert have.dtype == want.dtype, name
        np.testing.assert_array_equal(have, want, err_msg=name)
    pd.testing.assert_frame_equal(got.obs, expected.obs)
    pd.testing.assert_frame_equal(got.var, expected.var)


@pytest.mark.parametrize("compression", [None, "gzip"])
def test_write_synthetic_equals_synthetic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compression: str | None
) -> None:
    monkeypatch.setattr(synthetic_module, "_CHUNK", 64)  # 331 cells: six chunks, the last one short
    kwargs = {"n_types": 3, "n_batches": 2, "doublet_rate": 0.1, "median_counts": 900, "seed": 4}
    path = tmp_path / "sim.h5ad"
    write_synthetic(path, 331, 250, compression=compression, **kwargs)
    _assert_same_anndata(synthetic(331, 250, **kwargs), ad.read_h5ad(path))
    assert [p.name for p in tmp_path.iterdir()] == ["sim.h5ad"]


def test_write_synthetic_serial_and_default_depth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(synthetic_module, "_CHUNK", 50)
    monkeypatch.setattr(synthetic_module.os, "cpu_count", lambda: 1)
    path = tmp_path / "sim.h5ad"
    write_synthetic(str(path), 120, 200, seed=9)
    _assert_same_anndata(synthetic(120, 200, seed=9), ad.read_h5ad(path))


def test_write_synthetic_replaces_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "sim.h5ad"
    path.write_text("old")
    write_synthetic(path, 100, 200, n_types=2, seed=1)
    assert ad.read_h5ad(path).shape == (100, 200)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"path": "sim.txt"}, r"path: must be a file name ending in \.h5ad"),
        ({"compression": "zip"}, "compression"),
        ({"median_counts": 0}, "median_counts"),
        ({"n_cells": 2, "n_types": 3}, r"n_cells \(2\) must be at least n_types \(3\)"),
    ],
)
def test_write_synthetic_bounds(tmp_path: Path, kwargs: dict, match: str) -> None:
    kwargs = {"path": tmp_path / "sim.h5ad", **kwargs}
    with pytest.raises(ParamError, match=match):
        write_synthetic(**kwargs)
    assert list(tmp_path.iterdir()) == []


def test_write_synthetic_needs_the_directory(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match="does not exist"):
        write_synthetic(tmp_path / "missing" / "sim.h5ad", 100, 200)


def test_write_synthetic_failure_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(synthetic_module, "_CHUNK", 32)
    sampled = synthetic_module.Simulation.chunk

    def disk_full(self, i: int):
        if i == 2:
            raise OSError(28, "No space left on device")
        return sampled(self, i)

    monkeypatch.setattr(synthetic_module.Simulation, "chunk", disk_full)
    path = tmp_path / "sim.h5ad"
    path.write_text("old")
    with pytest.raises(InputDataError, match=r"cannot write .*sim\.h5ad: OSError: .*No space left on device"):
        write_synthetic(path, 200, 200, n_types=2)
    assert [p.name for p in tmp_path.iterdir()] == ["sim.h5ad"] and path.read_text() == "old"


@pytest.mark.skipif(
    os.name != "posix" or os.geteuid() == 0, reason="needs POSIX permissions; root may write anywhere"
)
def test_write_synthetic_unwritable_directory(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(InputDataError, match="cannot write"):
            write_synthetic(locked / "sim.h5ad", 100, 200)
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)
