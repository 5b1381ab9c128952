"""Parity with scanpy 1.11.5: 10x readers on every file in shared/data/10x, and the simulator
through scanpy's standard pipeline."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from scsnake.datasets import synthetic
from scsnake.io import read_10x_h5, read_10x_mtx

sc = pytest.importorskip("scanpy")

pytestmark = pytest.mark.parity

MTX_DIRS = ["1.2.0/filtered_gene_bc_matrices/hg19_chr21", "3.0.0/filtered_feature_bc_matrix"]


def assert_same(ours: ad.AnnData, theirs: ad.AnnData) -> None:
    """Same X (values, dtype), names, var/obs columns and their dtypes."""
    assert ours.shape == theirs.shape
    assert sparse.isspmatrix_csr(ours.X)
    assert ours.X.dtype == theirs.X.dtype == np.float32
    assert (sparse.csr_matrix(theirs.X) != ours.X).nnz == 0
    pd.testing.assert_index_equal(ours.obs_names, theirs.obs_names)
    pd.testing.assert_index_equal(ours.var_names, theirs.var_names)
    pd.testing.assert_frame_equal(ours.var, theirs.var)
    # with pandas 3, anndata makes an empty column index 'object' or 'str' by how the frame came
    # (scanpy 1.12's obs=dict(...) gives 'object', a copy or obs=None 'str'): only its type differs
    pd.testing.assert_frame_equal(ours.obs, theirs.obs, check_column_type=len(theirs.obs.columns) > 0)


@pytest.mark.parametrize("sub", MTX_DIRS)
@pytest.mark.parametrize("var_names", ["gene_symbols", "gene_ids"])
@pytest.mark.parametrize("gex_only", [True, False])
def test_read_10x_mtx(shared_data: Path, sub: str, var_names: str, gex_only: bool) -> None:
    path = shared_data / "10x" / sub
    kwargs = {"var_names": var_names, "gex_only": gex_only}
    assert_same(read_10x_mtx(path, **kwargs), sc.read_10x_mtx(path, **kwargs))


def _gzipped_copy(src: Path, dst: Path) -> Path:
    """scanpy 1.11.5 reads a features.tsv directory only gzipped (its int-ids fix came later)."""
    dst.mkdir()
    for file in src.iterdir():
        with file.open("rb") as f_in, gzip.open(dst / f"{file.name}.gz", "wb") as f_out:
            shutil.copyfileobj(f_in, f_out)
    return dst


def test_read_10x_mtx_int_ids(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "10x" / "int-ids"
    theirs = sc.read_10x_mtx(_gzipped_copy(src, tmp_path / "gz"))
    ours = read_10x_mtx(src)
    # scanpy 1.11 parses the integer ids as int64; we keep them as text, as scanpy does from 1.12
    if theirs.var["gene_ids"].dtype == np.int64:
        theirs.var["gene_ids"] = theirs.var["gene_ids"].astype(str).astype(ours.var["gene_ids"].dtype)
    assert_same(ours, theirs)
    assert_same(read_10x_mtx(tmp_path / "gz"), theirs)


H5_CASES = [
    ("1.2.0/filtered_gene_bc_matrices_h5.h5", {}),
    ("1.2.0/filtered_gene_bc_matrices_h5.h5", {"genome": "hg19_chr21"}),
    ("1.2.0/multiple_genomes.h5", {"genome": "hg19_chr21"}),
    ("1.2.0/multiple_genomes.h5", {"genome": "another_genome"}),
    ("3.0.0/filtered_feature_bc_matrix.h5", {}),
    ("3.0.0/filtered_feature_bc_matrix.h5", {"gex_only": False}),
    ("3.0.0/filtered_feature_bc_matrix.h5", {"genome": "GRCh38_chr21"}),
]


@pytest.mark.parametrize(("sub", "kwargs"), H5_CASES, ids=[f"{s}-{k}" for s, k in H5_CASES])
def test_read_10x_h5(shared_data: Path, sub: str, kwargs: dict) -> None:
    path = shared_data / "10x" / sub
    assert_same(read_10x_h5(path, **kwargs), sc.read_10x_h5(path, **kwargs))


def test_read_10x_h5_several_genomes_need_a_choice(shared_data: Path) -> None:
    path = shared_data / "10x" / "1.2.0" / "multiple_genomes.h5"
    with pytest.raises(ValueError, match="more than one genome"):
        sc.read_10x_h5(path)
    with pytest.raises(ValueError, match="several genomes"):  # InputDataError is a ValueError
        read_10x_h5(path)


@pytest.mark.slow
def test_synthetic_clusters_are_recovered_by_scanpy() -> None:
    """scanpy's standard pipeline on the default simulation finds the simulated cell types."""
    from sklearn.metrics import adjusted_rand_score

    adata = synthetic()
    adata = adata[~adata.obs["low_quality"].to_numpy()].copy()
    sc.pp.filter_genes(adata, min_cells=3)
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    sc.pp.highly_variable_genes(adata, n_top_genes=1000)
    sc.pp.pca(adata, n_comps=30, mask_var="highly_variable", random_state=0)
    sc.pp.neighbors(adata, n_neighbors=15, random_state=0)
    sc.tl.leiden(adata, flavor="igraph", n_iterations=2, resolution=0.5, random_state=0)
    ari = adjusted_rand_score(adata.obs["truth"], adata.obs["leiden"])
    assert ari > 0.8, f"ARI {ari:.3f}"
