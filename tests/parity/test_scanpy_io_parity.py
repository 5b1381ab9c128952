"""Parity with scanpy's top-level readers and ``write`` (``ss.read_*(filename, ...)``,
``ss.write(filename, adata)``): same arguments, same AnnData."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.io
from scipy import sparse

import scsnake as ss
from factories import make_counts

sc = pytest.importorskip("scanpy")

pytestmark = pytest.mark.parity


def dense(x: object) -> np.ndarray:
    return x.toarray() if sparse.issparse(x) else np.asarray(x)


def assert_same(ours: ad.AnnData, theirs: ad.AnnData) -> None:
    assert ours.shape == theirs.shape
    assert ours.X.dtype == theirs.X.dtype
    np.testing.assert_array_equal(dense(ours.X), dense(theirs.X))
    pd.testing.assert_index_equal(ours.obs_names, theirs.obs_names)
    pd.testing.assert_index_equal(ours.var_names, theirs.var_names)


def test_tenx_readers_equal_scanpy(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mtx = shared_data / "10x" / "3.0.0" / "filtered_feature_bc_matrix"
    assert_same(ss.read_10x_mtx(mtx, var_names="gene_ids"), sc.read_10x_mtx(mtx, var_names="gene_ids"))
    monkeypatch.setattr(ss.settings, "cachedir", tmp_path / "cache")
    first = ss.read_10x_mtx(mtx, cache=True)
    assert len(list((tmp_path / "cache").iterdir())) == 1
    assert_same(ss.read_10x_mtx(mtx, cache=True), first)
    h5 = shared_data / "10x" / "3.0.0" / "filtered_feature_bc_matrix.h5"
    assert_same(ss.read_10x_h5(filename=h5), sc.read_10x_h5(filename=h5))


def test_text_readers_and_write_equal_scanpy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    adata = make_counts(12, 6, fmt="dense")
    frame = pd.DataFrame(adata.X, index=adata.obs_names, columns=adata.var_names)
    frame.to_csv(tmp_path / "x.csv")
    frame.to_csv(tmp_path / "x.txt", sep="\t")
    kwargs = {"first_column_names": True, "dtype": "float64"}
    assert_same(ss.read_csv(tmp_path / "x.csv", **kwargs), sc.read_csv(tmp_path / "x.csv", **kwargs))
    assert_same(
        ss.read_text(tmp_path / "x.txt", "\t", **kwargs), sc.read_text(tmp_path / "x.txt", "\t", **kwargs)
    )
    ss.write(tmp_path / "w.h5ad", adata, compression="lzf")
    sc.write(tmp_path / "s.h5ad", adata, compression="lzf")
    assert_same(ss.read_h5ad(filename=tmp_path / "w.h5ad"), sc.read_h5ad(tmp_path / "s.h5ad"))
    assert_same(
        ss.read_h5ad(tmp_path / "w.h5ad", as_sparse=["X"]), sc.read_h5ad(tmp_path / "s.h5ad", as_sparse=["X"])
    )
    monkeypatch.setattr(ss.settings, "writedir", tmp_path / "write")
    ss.write("key", adata)  # a key: settings.writedir / key.h5ad, as scanpy
    assert (tmp_path / "write" / "key.h5ad").is_file()
    ss.write(adata, tmp_path / "old.h5ad")  # scsnake's former order still works
    assert (tmp_path / "old.h5ad").is_file()
    sparse_counts = make_counts(12, 6)
    scipy.io.mmwrite(tmp_path / "x.mtx", sparse_counts.X)
    assert_same(ss.read_mtx(tmp_path / "x.mtx"), sc.read_mtx(tmp_path / "x.mtx"))
