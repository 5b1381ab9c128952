"""Artifacts' matrices are mapped, not copied: same values, copy-on-write, safe against replacement."""

from __future__ import annotations

import mmap
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pytest

from factories import make_counts
from scsnake.errors import InputDataError
from scsnake.io import write
from scsnake.io._mapped import read_artifact


def _mapped(array: np.ndarray) -> bool:
    base = array
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
    return isinstance(base.obj if isinstance(base, memoryview) else base, mmap.mmap)


@pytest.fixture
def adata() -> ad.AnnData:
    adata = make_counts()
    adata.layers["counts"] = adata.X.copy()
    adata.layers["csc"] = adata.X.tocsc()
    adata.layers["dense"] = adata.X.toarray()
    adata.obsm["X_pca"] = np.ones((adata.n_obs, 2), dtype=np.float32)
    adata.uns["params"] = {"k": 1}
    return adata


def test_uncompressed_matrices_are_stored_contiguous_and_mapped(tmp_path: Path, adata: ad.AnnData) -> None:
    path = tmp_path / "a.h5ad"
    write(adata, path)
    with h5py.File(path) as store:
        assert store["X/data"].chunks is None and store["layers/csc/indices"].chunks is None
    got = read_artifact(path)
    assert _mapped(got.X.data) and _mapped(got.X.indices) and _mapped(got.layers["dense"])
    assert got.layers["csc"].format == "csc" and _mapped(got.layers["csc"].data)
    want = ad.read_h5ad(path)  # anndata reads the same file to the same values
    for key in ("counts", "csc"):
        assert (got.layers[key] != want.layers[key]).nnz == 0
    assert (got.X != adata.X).nnz == 0 and np.array_equal(got.layers["dense"], want.layers["dense"])
    assert got.uns["params"] == {"k": 1} and np.array_equal(got.obsm["X_pca"], adata.obsm["X_pca"])
    assert got.obs_names.equals(adata.obs_names) and got.var_names.equals(adata.var_names)


def test_writing_to_a_mapped_matrix_leaves_the_file_alone(tmp_path: Path, adata: ad.AnnData) -> None:
    path = tmp_path / "a.h5ad"
    write(adata, path)
    got = read_artifact(path)
    got.X.data[:] = -1  # copy on write: the process's own pages
    assert (ad.read_h5ad(path).X != adata.X).nnz == 0


def test_a_mapped_matrix_survives_the_artifact_being_replaced(tmp_path: Path, adata: ad.AnnData) -> None:
    path = tmp_path / "a.h5ad"
    write(adata, path)
    got = read_artifact(path)
    write(make_counts(seed=7), path)  # a rerun renames a new file into place
    assert (got.X != adata.X).nnz == 0


@pytest.mark.parametrize("compression", ["gzip", "lzf"])
def test_compressed_or_chunked_matrices_are_read_as_usual(
    tmp_path: Path, adata: ad.AnnData, compression: str
) -> None:
    compressed, chunked = tmp_path / "c.h5ad", tmp_path / "chunked.h5ad"
    write(adata, compressed, compression=compression)
    adata.write_h5ad(chunked)  # anndata's own layout: resizable, chunked
    for path in (compressed, chunked):
        got = read_artifact(path)
        assert not _mapped(got.X.data), path
        assert (got.X != adata.X).nnz == 0 and np.array_equal(got.layers["dense"], adata.layers["dense"])


def test_a_damaged_artifact_is_named(tmp_path: Path, adata: ad.AnnData) -> None:
    path = tmp_path / "a.h5ad"
    write(adata, path)
    with h5py.File(path, "r+") as store:
        store["X/indptr"][-1] = 10**9  # ends past the stored values
    with pytest.raises(InputDataError, match=r"cannot read .*a\.h5ad: X is a damaged sparse matrix"):
        read_artifact(path)
    path.write_bytes(path.read_bytes()[:2000])  # truncated
    with pytest.raises(InputDataError, match=r"a\.h5ad"):
        read_artifact(path)


def test_a_refused_mapping_reads_the_matrix(
    tmp_path: Path, adata: ad.AnnData, monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    import scsnake.io._mapped as mapped

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(12, "Cannot allocate memory")

    path = tmp_path / "a.h5ad"
    write(adata, path)
    monkeypatch.setattr(mapped, "mmap", SimpleNamespace(mmap=refuse, ACCESS_COPY=mmap.ACCESS_COPY))
    got = read_artifact(path)
    assert not _mapped(got.X.data) and (got.X != adata.X).nnz == 0
