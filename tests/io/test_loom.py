"""read_loom / write_loom: hand-built loom files (h5py), round trips, block reading and clear errors."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

import scsnake.io._loom as loom_module
from factories import make_counts
from scsnake.errors import InputDataError, MissingKeyError, ParamError
from scsnake.io import detect_format, read, read_loom, write_loom
from scsnake.io._formats import named_layers

N_GENES, N_CELLS = 7, 9


def _matrices() -> dict[str, np.ndarray]:
    """Genes × cells, as stored in a loom file (with zeros, so sparsity is visible)."""
    rng = np.random.default_rng(0)
    spliced = rng.poisson(1.0, size=(N_GENES, N_CELLS)).astype(np.uint16)
    unspliced = rng.poisson(0.5, size=(N_GENES, N_CELLS)).astype(np.uint16)
    return {"matrix": (spliced + unspliced).astype(np.float32), "spliced": spliced, "unspliced": unspliced}


@pytest.fixture
def loom_file(tmp_path: Path) -> Path:
    """A loom file as loompy / velocyto write them: text attributes as bytes and as UTF-8 strings."""
    path = tmp_path / "velo.loom"
    m = _matrices()
    text = h5py.string_dtype("utf-8")
    with h5py.File(path, "w") as f:
        for group in ("attrs", "layers", "row_attrs", "col_attrs", "row_graphs", "col_graphs"):
            f.create_group(group)
        f.create_dataset("matrix", data=m["matrix"], chunks=(4, 4))
        f["layers"].create_dataset("spliced", data=m["spliced"], chunks=(4, 4))
        f["layers"].create_dataset("unspliced", data=m["unspliced"], chunks=(7, 2))
        genes = np.array([f"G{i}" for i in range(N_GENES)], dtype="S")  # fixed-length bytes (loompy 2)
        f["row_attrs"]["Gene"] = genes
        f["row_attrs"].create_dataset("Accession", data=[f"ENSG{i:05d}" for i in range(N_GENES)], dtype=text)
        f["row_attrs"]["score"] = np.linspace(0, 1, N_GENES)
        f["row_attrs"]["chrom"] = np.array([b"chr1"] * N_GENES)  # one value: cleanup moves it to uns
        cells = [f"sample:cell{i}x" for i in range(N_CELLS)]
        f["col_attrs"].create_dataset("CellID", data=cells, dtype=text)  # variable-length UTF-8 (loompy 3)
        names = ["T&amp;NK", "caf&#233;", "B"] * 3  # loompy 2 stores non-ASCII as XML character references
        f["col_attrs"]["ClusterName"] = np.array(names, dtype="S")
        f["col_attrs"].create_dataset("label", data=["café", "naïve", "B"] * 3, dtype=text)
        f["col_attrs"]["umap"] = np.arange(N_CELLS * 2, dtype=np.float32).reshape(N_CELLS, 2)
        f["col_attrs"]["single"] = np.arange(N_CELLS, dtype=np.float64).reshape(N_CELLS, 1)
        f["col_attrs"]["tsne1"] = np.arange(N_CELLS, dtype=np.float32)
        f["col_attrs"]["tsne2"] = -np.arange(N_CELLS, dtype=np.float32)
        f["attrs"].create_dataset("LOOM_SPEC_VERSION", data="3.0.0", dtype=text)
    return path


def test_reads_layout_layers_and_attributes(loom_file: Path) -> None:
    m = _matrices()
    adata = read_loom(loom_file)
    assert adata.shape == (N_CELLS, N_GENES)
    assert sparse.issparse(adata.X) and adata.X.format == "csr" and adata.X.dtype == np.float32
    np.testing.assert_array_equal(adata.X.toarray(), m["spliced"].T)  # X_name="spliced"
    assert set(named_layers(adata)) == {"matrix", "spliced", "unspliced"}
    for name in ("matrix", "spliced", "unspliced"):
        assert adata.layers[name].format == "csr"
        assert adata.layers[name].dtype == m[name].dtype  # layers keep their stored dtype
        np.testing.assert_array_equal(adata.layers[name].toarray(), m[name].T)
    assert adata.X.nnz == np.count_nonzero(m["spliced"])  # zeros are not stored
    assert list(adata.obs_names) == [f"sample:cell{i}x" for i in range(N_CELLS)]
    assert list(adata.var_names) == [f"G{i}" for i in range(N_GENES)]
    assert adata.var["Accession"].tolist() == [f"ENSG{i:05d}" for i in range(N_GENES)]
    assert adata.obs["ClusterName"].tolist()[:3] == ["T&NK", "café", "B"]  # bytes decoded, entities unescaped
    assert adata.obs["label"].tolist()[:2] == ["café", "naïve"]  # UTF-8 strings
    np.testing.assert_array_equal(adata.obsm["umap"], np.arange(N_CELLS * 2).reshape(N_CELLS, 2))
    np.testing.assert_array_equal(adata.obs["single"], np.arange(N_CELLS))  # one column: an obs column
    np.testing.assert_allclose(adata.var["score"], np.linspace(0, 1, N_GENES))


def test_dense_equals_sparse(loom_file: Path) -> None:
    dense = read_loom(loom_file, sparse=False)
    sparse_ = read_loom(loom_file)
    assert isinstance(dense.X, np.ndarray) and dense.X.dtype == np.float32
    np.testing.assert_array_equal(dense.X, sparse_.X.toarray())
    for name in sparse_.layers:
        np.testing.assert_array_equal(dense.layers[name], sparse_.layers[name].toarray())


def test_block_reading_gives_the_same_matrix(loom_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = read_loom(loom_file)
    calls = []

    class Spy:  # scipy.sparse, counting the dense blocks turned into CSR
        def __getattr__(self, name: str) -> object:
            return getattr(sparse, name)

        def csr_matrix(self, x: np.ndarray, *args: object, **kwargs: object) -> object:
            calls.append(x.shape)
            return sparse.csr_matrix(x, *args, **kwargs)

    monkeypatch.setattr(loom_module, "_BLOCK_VALUES", 1)  # one HDF5 chunk of cells at a time
    monkeypatch.setattr(loom_module, "sp", Spy())
    blocks = read_loom(loom_file, X_name="", dtype="float64")
    assert sorted({c[0] for c in calls}) == [1, 2, 4]  # chunks of 4 cells (2 for unspliced), never all 9
    np.testing.assert_array_equal(blocks.X.toarray(), whole.layers["matrix"].toarray())
    assert blocks.X.dtype == np.float64
    np.testing.assert_array_equal(blocks.layers["unspliced"].toarray(), whole.layers["unspliced"].toarray())


def test_missing_x_layer_falls_back_on_matrix(loom_file: Path) -> None:
    adata = read_loom(loom_file, X_name="ambiguous")
    np.testing.assert_array_equal(adata.X.toarray(), _matrices()["matrix"].T)
    assert set(named_layers(adata)) == {"spliced", "unspliced"}  # no duplicate of /matrix


def test_obsm_names_mapping_and_names(loom_file: Path) -> None:
    adata = read_loom(loom_file, obsm_names={"X_tsne": ["tsne1", "tsne2"]}, var_names="Accession")
    np.testing.assert_array_equal(adata.obsm["X_tsne"][:, 1], -np.arange(N_CELLS))
    assert "tsne1" not in adata.obs
    assert adata.var_names[0] == "ENSG00000" and "Gene" in adata.var


def test_unknown_name_attributes_give_numbered_names(loom_file: Path) -> None:
    adata = read_loom(loom_file, obs_names="nope")
    assert list(adata.obs_names) == [str(i) for i in range(N_CELLS)]
    assert "CellID" in adata.obs


def test_cleanup_moves_constant_columns(loom_file: Path) -> None:
    adata = read_loom(loom_file, cleanup=True)
    assert "chrom" not in adata.var and adata.uns["loom-var"]["chrom"] == "chr1"
    assert "loom-obs" not in adata.uns


def test_read_detects_loom(loom_file: Path) -> None:
    assert detect_format(loom_file) == "loom"
    auto = read(loom_file)
    forced = read(loom_file, format="loom", X_name="unspliced")
    np.testing.assert_array_equal(auto.X.toarray(), read_loom(loom_file).X.toarray())
    np.testing.assert_array_equal(forced.X.toarray(), _matrices()["unspliced"].T)


def test_loompy_options_are_accepted(loom_file: Path) -> None:
    assert read_loom(loom_file, validate=False).shape == (N_CELLS, N_GENES)


@pytest.mark.parametrize("fmt", ["dense", "csr", "csc"])
@pytest.mark.parametrize("dtype", [np.float32, np.int32])
def test_round_trip(tmp_path: Path, fmt: str, dtype: type) -> None:
    adata = make_counts(n_cells=70, n_genes=30, fmt=fmt, dtype=dtype)  # 70 cells: two chunks of 64
    adata.layers["unspliced"] = adata.X.copy()
    adata.obs["n_counts"] = np.arange(adata.n_obs, dtype=np.float32)
    adata.obs["is_ok"] = np.arange(adata.n_obs) % 2 == 0
    adata.var["symbol"] = [f"S{i}" for i in range(adata.n_vars)]
    adata.obsm["X_umap"] = np.arange(adata.n_obs * 2, dtype=np.float64).reshape(-1, 2)
    path = tmp_path / "x.loom"
    write_loom(adata, path, write_obsm_varm=True)
    back = read_loom(path, X_name="", dtype=np.dtype(dtype).name)
    dense = adata.X.toarray() if sparse.issparse(adata.X) else adata.X
    np.testing.assert_array_equal(back.X.toarray(), dense)
    assert back.X.dtype == dtype and back.layers["unspliced"].dtype == dtype
    np.testing.assert_array_equal(back.layers["unspliced"].toarray(), dense)
    assert list(back.obs_names) == list(adata.obs_names) and list(back.var_names) == list(adata.var_names)
    assert back.obs["group"].tolist() == adata.obs["group"].astype(str).tolist()
    assert back.obs["is_ok"].tolist() == adata.obs["is_ok"].astype(int).tolist()  # bools as uint8 (as loompy)
    np.testing.assert_array_equal(back.obs["n_counts"], adata.obs["n_counts"])
    assert back.var["symbol"].tolist() == adata.var["symbol"].tolist()
    np.testing.assert_array_equal(back.obsm["X_umap"], adata.obsm["X_umap"])
    with h5py.File(path) as f:  # the loom layout: genes × cells
        assert f["matrix"].shape == (adata.n_vars, adata.n_obs)
        assert f["attrs/LOOM_SPEC_VERSION"][()].decode() == "3.0.0"
        assert {"row_graphs", "col_graphs"} <= set(f)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.loom"]


def test_x_is_written_once(tmp_path: Path) -> None:
    """anndata >= 0.13 lists X among the layers (``layers[None]``): it goes to /matrix only."""
    adata = make_counts(n_cells=200, n_genes=100, fmt="dense")
    adata.layers["unspliced"] = adata.X.copy()
    path = tmp_path / "x.loom"
    write_loom(adata, path)
    with h5py.File(path) as f:
        assert list(f["layers"]) == ["unspliced"]
    assert path.stat().st_size < 2.5 * adata.X.nbytes  # X and one layer, no unnamed third copy


def test_round_trip_without_cells(tmp_path: Path) -> None:
    adata = make_counts(n_cells=5, n_genes=4)[:0].copy()
    write_loom(adata, tmp_path / "empty.loom")
    back = read_loom(tmp_path / "empty.loom", X_name="")
    assert back.shape == (0, 4)


def test_write_replaces_atomically_and_cleans_up(tmp_path: Path) -> None:
    path = tmp_path / "x.loom"
    write_loom(make_counts(seed=1), path)
    before = path.read_bytes()
    bad = make_counts()
    bad.layers["text"] = np.full(bad.shape, "a", dtype=object)
    with pytest.raises(
        InputDataError,
        match=r"x\.loom: loom files store only numeric matrices; layers\['text'\] has dtype object",
    ):
        write_loom(bad, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.loom"]


def test_write_refuses_a_name_column_clash(tmp_path: Path) -> None:
    adata = make_counts()
    adata.obs["CellID"] = "x"
    with pytest.raises(ParamError, match="CellID"):
        write_loom(adata, tmp_path / "x.loom")
    write_loom(adata, tmp_path / "x.loom", obs_names="obs_names")
    assert read_loom(tmp_path / "x.loom", obs_names="obs_names").obs["CellID"].iloc[0] == "x"


def test_write_needs_an_existing_directory(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match="does not exist"):
        write_loom(make_counts(), tmp_path / "no" / "x.loom")


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match=r"input not found: .*absent\.loom"):
        read_loom(tmp_path / "absent.loom")


def test_not_hdf5(tmp_path: Path) -> None:
    path = tmp_path / "text.loom"
    path.write_text("not a loom file\n")
    with pytest.raises(InputDataError, match=r"text\.loom.*not HDF5"):
        read(path)


def test_hdf5_without_matrix(tmp_path: Path) -> None:
    path = tmp_path / "anndata.loom"
    ad.AnnData(np.ones((2, 2), dtype=np.float32)).write_h5ad(path)
    with pytest.raises(
        InputDataError, match=r"anndata\.loom is not a loom file: it has no 2-D /matrix .*found: .*obs"
    ):
        read_loom(path)


def test_layer_of_another_shape(loom_file: Path) -> None:
    with h5py.File(loom_file, "a") as f:
        f["layers"]["bad"] = np.zeros((2, 2))
    with pytest.raises(InputDataError, match="layer 'bad' has shape"):
        read_loom(loom_file)


def test_attribute_of_another_length(loom_file: Path) -> None:
    with h5py.File(loom_file, "a") as f:
        f["col_attrs"]["short"] = np.zeros(2)
    with pytest.raises(InputDataError, match="/col_attrs/short"):
        read_loom(loom_file)


def test_mapped_attribute_missing(loom_file: Path) -> None:
    with pytest.raises(MissingKeyError, match=r"'tsne3'.*X_tsne.*tsne1"):
        read_loom(loom_file, obsm_names={"X_tsne": ["tsne1", "tsne3"]})


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dtype": "str"}, "dtype"),
        ({"dtype": "nonsense"}, "dtype"),
        ({"sparse": "maybe"}, "sparse"),
        ({"obsm_names": ["tsne1"]}, "obsm_names"),
        ({"mode": "r+"}, "mode"),
    ],
)
def test_bad_arguments(loom_file: Path, kwargs: dict, match: str) -> None:
    with pytest.raises(ParamError, match=match):
        read_loom(loom_file, **kwargs)


def test_var_frame_keeps_attribute_order(loom_file: Path) -> None:
    var = read_loom(loom_file).var
    assert isinstance(var, pd.DataFrame) and list(var.columns) == ["Accession", "chrom", "score"]


def test_file_without_attributes_or_layers(tmp_path: Path) -> None:
    path = tmp_path / "bare.loom"
    with h5py.File(path, "w") as f:
        f["matrix"] = np.eye(3, 4, dtype=np.float32)
    adata = read_loom(path)
    assert adata.shape == (4, 3) and list(adata.obs_names) == ["0", "1", "2", "3"]
    assert list(adata.var_names) == ["0", "1", "2"] and not adata.layers


def test_many_attributes(loom_file: Path) -> None:
    with h5py.File(loom_file, "a") as f:
        for i in range(150):  # built at once: no pandas fragmentation warning
            f["col_attrs"][f"qc{i}"] = np.full(N_CELLS, i)
    assert read_loom(loom_file).obs.shape == (N_CELLS, 155)


def test_write_needs_x(tmp_path: Path) -> None:
    empty = ad.AnnData(obs=pd.DataFrame(index=["a"]), var=pd.DataFrame(index=["g"]))
    with pytest.raises(InputDataError, match=r"x\.loom: adata\.X is empty"):
        write_loom(empty, tmp_path / "x.loom")


def test_write_boolean_matrix_as_uint8(tmp_path: Path) -> None:
    adata = ad.AnnData(np.eye(3, dtype=bool))
    write_loom(adata, tmp_path / "b.loom")
    back = read_loom(tmp_path / "b.loom", X_name="", sparse=False, dtype="uint8")
    np.testing.assert_array_equal(back.X, np.eye(3, dtype=np.uint8))
