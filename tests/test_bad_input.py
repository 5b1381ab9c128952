"""Bad input gives a clear error: the exception class, a message that names the file, key or
value, and no partial output.

The rules checked here (one place for all of them):

* Missing, corrupt or truncated inputs raise :class:`InputDataError` naming the path.
* An empty matrix (0 cells or 0 genes) raises :class:`InputDataError` naming the matrix and
  its shape in every function that needs data (``normalize_total``, ``filter_*``, ``scale``,
  ``highly_variable_genes``, ``pca``, ``neighbors``); element-wise ``log1p`` and the
  per-cell/per-gene tables of ``calculate_qc_metrics`` return empty results. The workflow
  refuses empty samples (``load``) and empty artifacts (every later stage).
* NaN or infinite values raise :class:`InputDataError` naming the matrix (``X``, the layer,
  or the representation) and how many there are, in every function that reads values.
* Counts are checked where counts are needed: ``highly_variable_genes(flavor="seurat_v3")``
  refuses negative, non-integer or log-transformed values; ``normalize_total`` refuses
  negative values and warns (:class:`DataWarning`) when ``uns['log1p']`` says ``X`` was
  log-transformed.
* Duplicated names: ``io.read`` keeps them with one :class:`DataWarning` naming the file; the
  ``load`` stage refuses duplicated cell names and makes gene names unique.
* A missing obs column / gene / layer / representation raises :class:`MissingKeyError`
  listing close matches.
* Impossible parameters, as in scanpy: ``pca`` raises :class:`ParamError` saying the largest
  allowed ``n_comps`` (the ``pca`` stage lowers it with an :class:`AdjustedParamWarning`);
  ``neighbors`` lowers ``n_neighbors`` above the number of cells with an
  :class:`AdjustedParamWarning`; ``highly_variable_genes`` flags all genes when
  ``n_top_genes`` exceeds them (the ``hvg`` stage warns); ``umap`` falls back to a random
  initialisation (with a warning) when there are too few cells for the spectral one.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import pytest
from scipy import io as spio
from scipy import sparse

import scsnake as ss
from factories import make_counts
from scsnake.config import stage_params_json, validate_config
from scsnake.errors import (
    AdjustedParamWarning,
    ConfigError,
    DataWarning,
    InputDataError,
    MissingKeyError,
    ParamError,
)
from scsnake.io._zarr import WRITE_FORMAT
from scsnake.runner import run_stage
from scsnake.stages._pca import PcaStageParams
from scsnake.stages._pca import pca as pca_stage

FORMATS = {"dense": np.asarray, "csr": sparse.csr_matrix, "csc": sparse.csc_matrix}


def _path(path: Path) -> str:
    """A regex matching ``path`` literally."""
    return re.escape(str(path))


def _log_normalised(n_obs: int = 60, n_vars: int = 40, fmt: str = "csr") -> ad.AnnData:
    adata = make_counts(n_obs, n_vars, fmt=fmt)
    ss.pp.normalize_total(adata, target_sum=1e4)
    ss.pp.log1p(adata)
    return adata


def _load_params(path: Path | str, **sample: Any) -> str:
    # the input is not opened here: these tests check what the load job itself refuses
    raw = {"samples": {"s": {"input": str(path), **sample}}}
    config = validate_config(raw, base_dir="/", open_inputs=False)
    return stage_params_json(config, "load", "s")


def _run_load(path: Path, out_dir: Path, **sample: Any) -> Path:
    out = out_dir / "load.h5ad"
    run_stage("load", inputs=[], output=out, params_json=_load_params(path, **sample), sample="s")
    return out


def _no_output(directory: Path) -> None:
    """Nothing was left behind: neither the artifact nor a temporary sibling."""
    assert not directory.exists() or list(directory.iterdir()) == []


# --- missing inputs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "reader",
    [ss.io.read, ss.io.read_h5ad, ss.io.read_zarr, ss.io.read_10x_h5, ss.io.read_10x_mtx, ss.io.read_csv],
)
def test_missing_input_names_the_path(tmp_path: Path, reader: Any) -> None:
    (tmp_path / "sample1.h5ad").touch()
    missing = tmp_path / "sample_1.h5ad"
    with pytest.raises(
        InputDataError, match=rf"input not found: {_path(missing)}; close matches in .*: sample1\.h5ad"
    ):
        reader(missing)


def test_missing_sample_is_a_config_error_and_a_load_error(tmp_path: Path) -> None:
    missing = tmp_path / "pbmc.h5ad"
    with pytest.raises(
        ConfigError, match=rf"samples\.s\.input: path does not exist \(got '{_path(missing)}'"
    ):
        validate_config({"samples": {"s": {"input": str(missing)}}})
    out = tmp_path / "results"
    params = json.dumps({"sample": {"input": str(missing)}, "options": {}, "seed": 0})
    with pytest.raises(InputDataError, match=rf"input not found: {_path(missing)}"):
        run_stage("load", inputs=[], output=out / "load.h5ad", params_json=params, sample="s")
    _no_output(out)


def test_missing_artifact_leaves_no_output(tmp_path: Path) -> None:
    missing = tmp_path / "load.h5ad"
    with pytest.raises(InputDataError, match=rf"input artifact not found: {_path(missing)}"):
        run_stage(
            "qc",
            inputs=[missing],
            output=tmp_path / "out" / "qc.h5ad",
            params_json=stage_params_json(validate_config({}), "qc"),
        )
    _no_output(tmp_path / "out")


# --- corrupt and truncated files ---------------------------------------------------------


@pytest.fixture
def h5ad_file(tmp_path: Path) -> Path:
    path = tmp_path / "x.h5ad"
    ss.io.write(make_counts(30, 20), path)
    return path


@pytest.fixture
def zarr_dir(tmp_path: Path) -> Path:
    path = tmp_path / "x.zarr"
    ss.io.write(make_counts(30, 20), path)
    return path


#: The metadata files of the root group as scsnake writes it: format 2 keeps the group, its
#: attributes and the consolidated metadata apart, format 3 (anndata >= 0.13) all in zarr.json.
ROOT_METADATA = [".zgroup", ".zattrs", ".zmetadata"] if WRITE_FORMAT == 2 else ["zarr.json"]


def _first_chunk(array: Path) -> Path:
    """The file of a stored 1-D array's first chunk (format 2) or shard (format 3)."""
    return array / "0" if WRITE_FORMAT == 2 else array / "c" / "0"


@pytest.mark.parametrize("fraction", [0.0, 0.01, 0.5, 0.99])
def test_truncated_h5ad(h5ad_file: Path, fraction: float) -> None:
    with h5ad_file.open("r+b") as f:
        f.truncate(int(h5ad_file.stat().st_size * fraction))
    with pytest.raises(InputDataError, match=rf"cannot read {_path(h5ad_file)} as h5ad: "):
        ss.io.read(h5ad_file)


def test_h5ad_with_damaged_bytes(h5ad_file: Path) -> None:
    raw = bytearray(h5ad_file.read_bytes())
    start = len(raw) // 3
    raw[start : start + 2000] = bytes(b ^ 0xFF for b in raw[start : start + 2000])
    h5ad_file.write_bytes(bytes(raw))
    with pytest.raises(InputDataError, match=rf"cannot read {_path(h5ad_file)} as h5ad: "):
        ss.io.read(h5ad_file)


def test_h5ad_without_obs(h5ad_file: Path) -> None:
    with h5py.File(h5ad_file, "a") as f:
        del f["obs"]
    with pytest.raises(InputDataError, match=rf"cannot read {_path(h5ad_file)} as h5ad: KeyError: .*'obs'"):
        ss.io.read(h5ad_file)


@pytest.mark.parametrize("store", ["x.h5ad", "x.zarr"])
def test_damaged_sparse_structure(tmp_path: Path, store: str) -> None:
    """An index pointer that does not match the stored values (e.g. a lost zarr chunk)."""
    path = tmp_path / store
    ss.io.write(make_counts(30, 20), path)
    if store.endswith(".h5ad"):
        with h5py.File(path, "a") as f:
            f["X/indptr"][-1] = 3
    else:
        _first_chunk(path / "X" / "indptr").unlink()  # zarr fills a missing chunk with zeros
    with pytest.raises(
        InputDataError,
        match=rf"cannot read {_path(path)}: X is a damaged sparse matrix \(its index pointer ends at",
    ):
        ss.io.read(path)


def test_sparse_indices_out_of_range(h5ad_file: Path) -> None:
    with h5py.File(h5ad_file, "a") as f:
        f["X/indices"][0] = 999
    with pytest.raises(
        InputDataError,
        match=r"X is a damaged sparse matrix \(its indices run from 0 to 999, outside 0\.\.19\)",
    ):
        ss.io.read(h5ad_file)


def test_truncated_zarr_chunks(zarr_dir: Path) -> None:
    chunks = [_first_chunk(array) for array in (zarr_dir / "X").iterdir() if array.is_dir()]
    assert len(chunks) == 3  # data, indices, indptr
    for chunk in chunks:
        chunk.write_bytes(chunk.read_bytes()[: chunk.stat().st_size // 2])
    with pytest.raises(InputDataError, match=rf"cannot read {_path(zarr_dir)} as zarr: "):
        ss.io.read(zarr_dir)


@pytest.mark.parametrize("name", ROOT_METADATA)
def test_zarr_with_broken_metadata(zarr_dir: Path, name: str) -> None:
    (zarr_dir / name).write_text("{not json")
    with pytest.raises(InputDataError, match=rf"cannot read {_path(zarr_dir)} as zarr: JSONDecodeError"):
        ss.io.read(zarr_dir)


def test_zarr_without_root_group(zarr_dir: Path) -> None:
    (zarr_dir / ROOT_METADATA[0]).unlink()
    with pytest.raises(InputDataError, match=rf"cannot read {_path(zarr_dir)} as zarr: GroupNotFoundError"):
        ss.io.read(zarr_dir)


def _write_10x_h5(path: Path, counts: np.ndarray) -> Path:
    csc = sparse.csc_matrix(counts.T.astype(np.int32))  # features × cells
    with h5py.File(path, "w") as f:
        m = f.create_group("matrix")
        m["barcodes"] = np.array([f"B{i}-1" for i in range(counts.shape[0])], dtype="S")
        m["data"], m["indices"], m["indptr"] = (
            csc.data,
            csc.indices.astype(np.int64),
            csc.indptr.astype(np.int64),
        )
        m["shape"] = np.array(csc.shape, dtype=np.int32)
        feats = m.create_group("features")
        feats["id"] = np.array([f"ENSG{j}" for j in range(counts.shape[1])], dtype="S")
        feats["name"] = np.array([f"G{j}" for j in range(counts.shape[1])], dtype="S")
        feats["feature_type"] = np.array(["Gene Expression"] * counts.shape[1], dtype="S")
        feats["genome"] = np.array(["GRCh38"] * counts.shape[1], dtype="S")
    return path


@pytest.fixture
def tenx_h5(tmp_path: Path) -> Path:
    return _write_10x_h5(tmp_path / "x.h5", np.asarray(make_counts(12, 8, fmt="dense").X, dtype=np.int32))


def test_10x_h5_ok(tenx_h5: Path) -> None:
    assert ss.io.read(tenx_h5).shape == (12, 8)


@pytest.mark.parametrize("fraction", [0.01, 0.5, 0.95])
def test_truncated_10x_h5(tenx_h5: Path, fraction: float) -> None:
    with tenx_h5.open("r+b") as f:
        f.truncate(int(tenx_h5.stat().st_size * fraction))
    with pytest.raises(InputDataError, match=rf"cannot read {_path(tenx_h5)} as 10x_h5: "):
        ss.io.read(tenx_h5, format="10x_h5")


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (lambda m: m.__delitem__("data"), r"a dataset Cell Ranger writes is missing"),
        (lambda m: m["indptr"].__setitem__(-1, 10**6), r"as 10x_h5: ValueError"),
        (
            lambda m: m["indices"].__setitem__(0, 99),
            r"as 10x_h5: ValueError: the matrix is damaged \(its indices run from 0 to 99, outside 0\.\.7\)",
        ),
    ],
)
def test_10x_h5_with_damaged_matrix(tenx_h5: Path, damage: Any, match: str) -> None:
    with h5py.File(tenx_h5, "a") as f:
        damage(f["matrix"])
    with pytest.raises(InputDataError, match=rf"cannot read {_path(tenx_h5)}.*{match}"):
        ss.io.read(tenx_h5)


@pytest.fixture
def mtx_text(tmp_path: Path) -> list[str]:
    spio.mmwrite(tmp_path / "m.mtx", sparse.coo_matrix(np.arange(12).reshape(3, 4)), field="integer")
    return (tmp_path / "m.mtx").read_text().splitlines()


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda lines: lines[:-3], "Truncated file"),
        (lambda lines: [*lines[:-1], "1 2 abc"], "Invalid integer value"),
        (lambda lines: [*lines[:-1], "9 9 3"], "Row index out of bounds"),
        (lambda lines: lines[:1], "Premature EOF"),
        (lambda lines: [], ""),
    ],
)
def test_corrupt_mtx(tmp_path: Path, mtx_text: list[str], edit: Any, match: str) -> None:
    path = tmp_path / "bad.mtx"
    path.write_text("\n".join(edit(mtx_text)) + "\n")
    with pytest.raises(
        InputDataError, match=rf"cannot read {_path(path)} as mtx \(Matrix Market\): .*{match}"
    ):
        ss.io.read(path)


def test_truncated_gzipped_mtx(tmp_path: Path, mtx_text: list[str]) -> None:
    path = tmp_path / "bad.mtx.gz"
    path.write_bytes(gzip.compress(("\n".join(mtx_text) + "\n").encode())[:-20])
    with pytest.raises(InputDataError, match=rf"cannot read {_path(path)} as mtx .*EOFError"):
        ss.io.read(path)


def _write_10x_dir(directory: Path, n_cells: int = 4, n_genes: int = 5) -> Path:
    directory.mkdir()
    counts = np.arange(n_cells * n_genes).reshape(n_cells, n_genes) % 3
    spio.mmwrite(directory / "matrix.mtx", sparse.coo_matrix(counts.T), field="integer")
    (directory / "features.tsv").write_text("".join(f"E{j}\tG{j}\tGene Expression\n" for j in range(n_genes)))
    (directory / "barcodes.tsv").write_text("".join(f"B{i}-1\n" for i in range(n_cells)))
    return directory


def test_10x_mtx_directory_with_truncated_matrix(tmp_path: Path) -> None:
    directory = _write_10x_dir(tmp_path / "filtered")
    matrix = directory / "matrix.mtx"
    matrix.write_text("\n".join(matrix.read_text().splitlines()[:-2]) + "\n")
    with pytest.raises(InputDataError, match=rf"cannot read {_path(matrix)} as mtx .*Truncated file"):
        ss.io.read(directory)


def test_10x_mtx_directory_with_missing_barcodes(tmp_path: Path) -> None:
    directory = _write_10x_dir(tmp_path / "filtered")
    (directory / "barcodes.tsv").write_text("B0-1\nB1-1\n")
    with pytest.raises(
        InputDataError,
        match=rf"{_path(directory)}: matrix\.mtx is 5 features × 4 barcodes, but .* barcodes\.tsv has 2",
    ):
        ss.io.read(directory)


def test_corrupt_sample_leaves_no_artifact(h5ad_file: Path, tmp_path: Path) -> None:
    with h5ad_file.open("r+b") as f:
        f.truncate(100)
    out = tmp_path / "results"
    with pytest.raises(InputDataError, match=rf"cannot read {_path(h5ad_file)} as h5ad"):
        _run_load(h5ad_file, out)
    _no_output(out)


# --- empty matrices ----------------------------------------------------------------------

NEEDS_DATA = {
    "normalize_total": lambda a: ss.pp.normalize_total(a, target_sum=1e4),
    "filter_cells": lambda a: ss.pp.filter_cells(a, min_genes=1),
    "filter_genes": lambda a: ss.pp.filter_genes(a, min_cells=1),
    "scale": ss.pp.scale,
    "highly_variable_genes": ss.pp.highly_variable_genes,
    "highly_variable_genes_v3": lambda a: ss.pp.highly_variable_genes(a, flavor="seurat_v3"),
    "pca": ss.pp.pca,
    "neighbors": lambda a: ss.pp.neighbors(a, use_rep="X"),
}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("shape", [(0, 10), (10, 0)])
@pytest.mark.parametrize("step", NEEDS_DATA)
def test_empty_matrix_is_refused(step: str, shape: tuple[int, int], fmt: str) -> None:
    adata = ad.AnnData(FORMATS[fmt](np.zeros(shape, dtype=np.float32)))
    n_obs, n_vars = shape
    what = "no cells" if n_obs == 0 else "no genes"
    match = {
        "filter_cells": rf"filter_cells: adata is empty \({n_obs} cells × {n_vars} genes\)",
        "filter_genes": rf"filter_genes: adata is empty \({n_obs} cells × {n_vars} genes\)",
        "highly_variable_genes": rf"needs at least 2 cells and 1 gene, X has shape \({n_obs}, {n_vars}\)",
        "highly_variable_genes_v3": rf"needs at least 2 cells and 1 gene, X has shape \({n_obs}, {n_vars}\)",
        "pca": rf"pca needs at least 2 cells and 2 genes; the data used are {n_obs} × {n_vars}",
        "neighbors": "needs at least 2 cells" if n_obs == 0 else r"representation has shape \(10, 0\)",
    }.get(step, rf"{step}: X has {what} \(shape \({n_obs}, {n_vars}\)\)")
    with pytest.raises(InputDataError, match=match):
        NEEDS_DATA[step](adata)
    assert adata.shape == shape


@pytest.mark.parametrize("shape", [(0, 10), (10, 0)])
def test_elementwise_steps_accept_an_empty_matrix(shape: tuple[int, int]) -> None:
    adata = ad.AnnData(sparse.csr_matrix(shape, dtype=np.float32))
    ss.pp.log1p(adata)
    assert adata.X.shape == shape
    obs, var = ss.pp.calculate_qc_metrics(adata, percent_top=None)
    assert obs.shape[0] == shape[0] and var.shape[0] == shape[1]


@pytest.mark.parametrize("shape", [(0, 10), (10, 0)])
def test_load_refuses_an_empty_sample(tmp_path: Path, shape: tuple[int, int]) -> None:
    path = tmp_path / "empty.h5ad"
    ad.AnnData(sparse.csr_matrix(shape, dtype=np.float32)).write_h5ad(path)
    out = tmp_path / "results"
    with pytest.raises(
        InputDataError,
        match=rf"sample 's': {_path(path)} holds an empty matrix \({shape[0]} cells × {shape[1]} genes\)",
    ):
        _run_load(path, out)
    _no_output(out)


@pytest.mark.parametrize("shape", [(0, 10), (10, 0)])
def test_stages_refuse_an_empty_artifact(tmp_path: Path, shape: tuple[int, int]) -> None:
    artifact = tmp_path / "load.h5ad"
    ad.AnnData(sparse.csr_matrix(shape, dtype=np.float32)).write_h5ad(artifact)
    out = tmp_path / "results"
    with pytest.raises(
        InputDataError,
        match=rf"qc: the input artifact {_path(artifact)} holds an empty matrix \({shape[0]} cells × {shape[1]} genes\)",
    ):
        run_stage(
            "qc",
            inputs=[artifact],
            output=out / "qc.h5ad",
            params_json=stage_params_json(validate_config({}), "qc"),
        )
    _no_output(out)


# --- values that are not counts ----------------------------------------------------------


def _not_counts(kind: str, fmt: str) -> ad.AnnData:
    if kind == "log-transformed":
        return _log_normalised(fmt=fmt)
    adata = make_counts(fmt="dense")
    if kind == "negative":
        adata.X[:3, 0] = -2
    else:
        adata.X = adata.X + 0.25
    adata.X = FORMATS[fmt](adata.X)
    return adata


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("flavor", ["seurat_v3", "seurat_v3_paper"])
@pytest.mark.parametrize(
    ("kind", "match"),
    [
        ("negative", r"X has 3 negative value\(s\) \(min -2\)"),
        ("non-integer", r"X has non-integer values"),
        ("log-transformed", r"X has non-integer values \(looks normalised or log-transformed\)"),
    ],
)
def test_seurat_v3_needs_counts(kind: str, match: str, flavor: str, fmt: str) -> None:
    adata = _not_counts(kind, fmt)
    before = adata.var.copy()
    with pytest.raises(
        InputDataError,
        match=rf"highly_variable_genes\(flavor='{flavor}'\) needs raw counts, but {match}.*layer='counts'",
    ):
        ss.pp.highly_variable_genes(adata, flavor=flavor, n_top_genes=5)
    pd.testing.assert_frame_equal(adata.var, before)  # nothing was written


def test_seurat_v3_names_the_layer() -> None:
    adata = _log_normalised()
    adata.layers["counts"] = adata.X.copy()
    with pytest.raises(InputDataError, match=r"but layers\['counts'\] has non-integer values"):
        ss.pp.highly_variable_genes(adata, flavor="seurat_v3", layer="counts", n_top_genes=5)


@pytest.mark.parametrize("fmt", FORMATS)
def test_normalize_total_refuses_negative_values(fmt: str) -> None:
    adata = _not_counts("negative", fmt)
    x = adata.X.copy()
    with pytest.raises(
        InputDataError,
        match=r"normalize_total needs non-negative counts, but X has 3 negative value\(s\) \(min -2\)",
    ):
        ss.pp.normalize_total(adata)
    np.testing.assert_array_equal(
        adata.X.toarray() if sparse.issparse(x) else adata.X, x.toarray() if sparse.issparse(x) else x
    )


def test_normalize_total_warns_on_log_transformed_data() -> None:
    adata = _log_normalised()
    with pytest.warns(DataWarning, match=r"uns\['log1p'\] exists, so X seems log-transformed"):
        ss.pp.normalize_total(adata)
    counts = _log_normalised()
    counts.layers["counts"] = make_counts().X
    ss.pp.normalize_total(counts, layer="counts")  # a counts layer is fine: no warning


def test_rank_genes_groups_warns_on_counts() -> None:
    with pytest.warns(DataWarning, match="expects log-normalised data"):
        ss.tl.rank_genes_groups(make_counts(), "group")


def test_log1p_refuses_values_at_or_below_minus_one() -> None:
    adata = ad.AnnData(np.array([[0.0, -1.0], [-3.0, 2.0]], dtype=np.float32))
    with pytest.raises(InputDataError, match=r"log1p: X has 2 value\(s\) at or below -1 \(min -3\)"):
        ss.pp.log1p(adata)
    assert "log1p" not in adata.uns


# --- NaN and infinite values -------------------------------------------------------------

READS_VALUES = {
    "normalize_total": lambda a, layer: ss.pp.normalize_total(a, layer=layer),
    "log1p": lambda a, layer: ss.pp.log1p(a, layer=layer),
    "scale": lambda a, layer: ss.pp.scale(a, layer=layer),
    "pca": lambda a, layer: ss.pp.pca(a, n_comps=3, layer=layer),
    "highly_variable_genes": lambda a, layer: ss.pp.highly_variable_genes(a, layer=layer, n_top_genes=5),
    "highly_variable_genes_cell_ranger": lambda a, layer: ss.pp.highly_variable_genes(
        a, layer=layer, n_top_genes=5, flavor="cell_ranger"
    ),
    "highly_variable_genes_v3": lambda a, layer: ss.pp.highly_variable_genes(
        a, layer=layer, n_top_genes=5, flavor="seurat_v3", check_values=False
    ),
    "calculate_qc_metrics": lambda a, layer: ss.pp.calculate_qc_metrics(a, layer=layer, percent_top=None),
    "filter_cells": lambda a, layer: ss.pp.filter_cells(a, min_counts=1),
    "filter_genes": lambda a, layer: ss.pp.filter_genes(a, min_counts=1),
    "rank_genes_groups": lambda a, layer: ss.tl.rank_genes_groups(a, "group", layer=layer),
}
X_ONLY = {"filter_cells", "filter_genes"}  # no layer argument


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("step", "where"),
    [
        (step, where)
        for step in READS_VALUES
        for where in ("X", "layer")
        if where == "X" or step not in X_ONLY
    ],
)
def test_nan_and_inf_are_refused(step: str, where: str, fmt: str) -> None:
    adata = make_counts(fmt="dense")
    x = adata.X.copy()
    x[0, 0], x[1, 1], x[2, 2] = np.nan, np.inf, -np.inf
    x = FORMATS[fmt](x)
    if where == "X":
        adata.X, layer, name = x, None, "X"
    else:
        adata.layers["counts"], layer = x, "counts"
        name = r"layers\['counts'\]" if step.startswith("highly_variable") else "layer 'counts'"
    snapshot = dict(adata.uns), adata.obs.copy(), adata.var.copy()
    match = (
        r"NaN or infinite"
        if step == "rank_genes_groups"
        else rf"{name} contains 3 NaN or infinite value\(s\)"
    )
    with pytest.raises(InputDataError, match=match):
        READS_VALUES[step](adata, layer)
    assert dict(adata.uns) == snapshot[0]  # nothing was written
    pd.testing.assert_frame_equal(adata.obs, snapshot[1])
    pd.testing.assert_frame_equal(adata.var, snapshot[2])


@pytest.mark.parametrize("use_rep", ["X", "X_pca"])
def test_neighbors_refuses_nan_in_the_representation(use_rep: str) -> None:
    adata = ad.AnnData(np.random.default_rng(0).normal(size=(20, 5)).astype(np.float32))
    adata.obsm["X_pca"] = adata.X.copy()
    (adata.X if use_rep == "X" else adata.obsm["X_pca"])[4, 1] = np.nan
    with pytest.raises(InputDataError, match=r"the representation contains 1 NaN or infinite value\(s\)"):
        ss.pp.neighbors(adata, use_rep=use_rep, n_neighbors=5)
    assert "neighbors" not in adata.uns and "connectivities" not in adata.obsp


# --- duplicated names --------------------------------------------------------------------


@pytest.fixture
def duplicated(tmp_path: Path) -> Path:
    adata = make_counts(20, 10)
    path = tmp_path / "dup.h5ad"
    adata.obs_names = ["AAAC-1", "AAAC-1", *adata.obs_names[2:]]
    adata.var_names = ["CD3E", "CD3E", "CD3E", *adata.var_names[3:]]
    adata.write_h5ad(path)
    return path


def test_read_keeps_duplicated_names_with_one_warning_naming_the_file(duplicated: Path) -> None:
    with pytest.warns(DataWarning) as record:
        adata = ss.io.read(duplicated)
    messages = [str(w.message) for w in record if "not unique" in str(w.message)]
    assert len(messages) == 2  # one per axis, anndata's own warnings are replaced
    assert all(issubclass(w.category, DataWarning) for w in record if "not unique" in str(w.message))
    assert messages[0].startswith(
        f"Observation names are not unique in {duplicated} (1 duplicated, e.g. ['AAAC-1'])"
    )
    assert messages[1].startswith(
        f"Variable names are not unique in {duplicated} (2 duplicated, e.g. ['CD3E'])"
    )
    assert "var_names_make_unique()" in messages[1]
    assert adata.obs_names[:2].tolist() == ["AAAC-1", "AAAC-1"]  # kept as they are


def test_load_refuses_duplicated_cell_names(duplicated: Path, tmp_path: Path) -> None:
    out = tmp_path / "results"
    with (
        pytest.warns(DataWarning, match="not unique"),
        pytest.raises(
            InputDataError,
            match=rf"sample 's': {_path(duplicated)} has 1 duplicated cell name\(s\) \(e\.g\. \['AAAC-1'\]\)",
        ),
    ):
        _run_load(duplicated, out)
    _no_output(out)


def test_load_names_each_duplicated_cell_once(tmp_path: Path) -> None:
    adata = make_counts(20, 10)
    adata.obs_names = ["AAAC-1"] * 4 + ["GGGT-1"] * 2 + list(adata.obs_names[6:])
    path = tmp_path / "dup.h5ad"
    adata.write_h5ad(path)
    with (
        pytest.warns(DataWarning),
        pytest.raises(InputDataError, match=r"2 duplicated cell name\(s\) \(e\.g\. \['AAAC-1', 'GGGT-1'\]\)"),
    ):
        _run_load(path, tmp_path / "results")


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: _log_normalised(), "X has non-integer values"),
        (lambda: _negative_counts(), "X has 1 negative value"),
    ],
    ids=["log-normalised", "negative"],
)
def test_load_refuses_input_that_is_not_counts(tmp_path: Path, make: Any, reason: str) -> None:
    path = tmp_path / "processed.h5ad"
    make().write_h5ad(path)
    out = tmp_path / "results"
    with pytest.raises(
        InputDataError,
        match=rf"sample 's': {_path(path)} does not hold raw counts: {reason}.*point the sample at them",
    ):
        _run_load(path, out)
    _no_output(out)


def _negative_counts() -> ad.AnnData:
    adata = make_counts(30, 20, fmt="csr")
    adata.X.data[0] = -1
    return adata


def test_load_makes_gene_names_unique(tmp_path: Path) -> None:
    adata = make_counts(20, 10)
    adata.var_names = ["CD3E", "CD3E", *adata.var_names[2:]]
    path = tmp_path / "genes.h5ad"
    adata.write_h5ad(path)
    with pytest.warns(DataWarning, match="Variable names are not unique"):
        out = _run_load(path, tmp_path / "results")
    assert ad.read_h5ad(out).var_names[:2].tolist() == ["CD3E", "CD3E-1"]


# --- keys that do not exist --------------------------------------------------------------


@pytest.fixture
def embedded() -> ad.AnnData:
    adata = _log_normalised()
    ss.pp.neighbors(adata, use_rep="X", n_neighbors=5)
    ss.tl.umap(adata, maxiter=5)
    return adata


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (
            lambda a: ss.pp.highly_variable_genes(a, batch_key="grop"),
            r"batch_key 'grop' not found in adata\.obs \(close matches: group\)",
        ),
        (
            lambda a: ss.tl.rank_genes_groups(a, "grop"),
            r"groupby 'grop' not found in adata\.obs \(close matches: group\)",
        ),
        (
            lambda a: ss.pp.normalize_total(a, layer="count"),
            r"layer 'count' not found in adata\.layers \(close matches: counts\)",
        ),
        (
            lambda a: ss.pp.scale(a, mask_obs="grop"),
            r"mask_obs column 'grop' not found in adata\.obs \(close matches: group\)",
        ),
        (
            lambda a: ss.pp.pca(a, mask_var="highly_variabel"),
            r"mask_var 'highly_variabel' not found in adata\.var \(close matches: highly_variable\)",
        ),
        (
            lambda a: ss.pp.neighbors(a, use_rep="X_pcaa"),
            r"use_rep='X_pcaa' not found in adata\.obsm \(close matches: X_pca\)",
        ),
        (
            lambda a: ss.pl.umap(a, color="grop", show=False),
            r"key 'grop' is neither an obs column nor a gene \(close matches: group\)",
        ),
        (
            lambda a: ss.pl.umap(a, color="Gene399", show=False),
            r"key 'Gene399' is neither an obs column nor a gene \(close matches: Gene39",
        ),
        (
            lambda a: ss.pl.violin(a, keys="totl_counts", show=False),
            r"key 'totl_counts' is neither .* \(close matches: total_counts\)",
        ),
        (
            lambda a: ss.pl.dotplot(a, var_names=["Gene99"], groupby="group", show=False),
            r"gene 'Gene99' not found in adata\.var_names \(close matches: Gene9",
        ),
        (
            lambda a: ss.pl.dotplot(a, var_names=["Gene5"], groupby="grop", show=False),
            r"groupby 'grop' not found in adata\.obs \(close matches: group\)",
        ),
        (
            lambda a: ss.tl.leiden(a, obsp="connectivity"),
            r"obsp\['connectivity'\] not found \(close matches: connectivities\)",
        ),
    ],
)
def test_missing_key_lists_close_matches(embedded: ad.AnnData, call: Any, match: str) -> None:
    embedded.layers["counts"] = embedded.X.copy()
    embedded.obs["total_counts"] = 1.0
    embedded.var["highly_variable"] = True
    embedded.obsm["X_pca"] = embedded.obsm["X_umap"]
    with pytest.raises(MissingKeyError, match=match):
        call(embedded)


def test_missing_prerequisite_says_what_to_run() -> None:
    adata = _log_normalised(n_vars=60)
    with pytest.raises(
        MissingKeyError, match=r"obsm\['X_pca'\] not found and X has 60 genes \(> 50\): run pca first"
    ):
        ss.pp.neighbors(adata)
    with pytest.raises(MissingKeyError, match=r"uns\['neighbors'\] not found .*run neighbors first"):
        ss.tl.leiden(adata)
    with pytest.raises(MissingKeyError, match=r"uns\['neighbors'\] not found .*run neighbors first"):
        ss.tl.umap(adata)


# --- impossible parameters ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "n_comps", "limit"), [((60, 40), 40, 39), ((8, 40), 10, 7), ((60, 12), 12, 11)]
)
def test_more_pcs_than_the_data_allow(shape: tuple[int, int], n_comps: int, limit: int) -> None:
    adata = _log_normalised(*shape)
    with pytest.raises(
        ParamError,
        match=rf"n_comps={n_comps} is too large: at most {limit} \(one less than min\({shape[0]} cells, {shape[1]} genes\)\)",
    ):
        ss.pp.pca(adata, n_comps=n_comps)
    assert "X_pca" not in adata.obsm
    ss.pp.pca(adata, n_comps=limit)  # the limit itself is fine
    assert adata.obsm["X_pca"].shape == (shape[0], limit)


def test_pca_stage_lowers_n_comps_with_a_warning() -> None:
    adata = _log_normalised(30, 20)
    with pytest.warns(
        AdjustedParamWarning,
        match=r"pca\.n_comps=50 is more than this data allows \(30 cells × 20 genes\); using 19",
    ):
        pca_stage(adata, PcaStageParams(use_highly_variable=False), random_state=0)
    assert adata.obsm["X_pca"].shape == (30, 19)


def test_more_neighbours_than_cells_are_lowered_with_a_warning() -> None:
    adata = ad.AnnData(np.random.default_rng(0).normal(size=(10, 3)))
    with pytest.warns(
        AdjustedParamWarning, match=r"n_neighbors=30 is more than the 10 cells; using n_neighbors=6"
    ):
        ss.pp.neighbors(adata, n_neighbors=30)
    assert adata.uns["neighbors"]["params"]["n_neighbors"] == 6
    assert (adata.obsp["distances"].getnnz(axis=1) == 5).all()
    ss.pp.neighbors(adata, n_neighbors=10)  # every cell: allowed, no warning
    assert (adata.obsp["distances"].getnnz(axis=1) == 9).all()


@pytest.mark.parametrize("value", [1, 0, -3])
def test_too_few_neighbours(value: int) -> None:
    with pytest.raises(
        ParamError, match=rf"n_neighbors: Input should be greater than or equal to 2 \(got {value}\)"
    ):
        ss.pp.neighbors(ad.AnnData(np.zeros((5, 2))), n_neighbors=value)


def test_more_top_genes_than_genes() -> None:
    adata = _log_normalised(60, 40)
    ss.pp.highly_variable_genes(adata, n_top_genes=100)  # like scanpy: all genes
    assert adata.var["highly_variable"].sum() == 40


def test_umap_with_too_few_cells_for_a_spectral_start() -> None:
    adata = ad.AnnData(np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32))
    ss.pp.neighbors(adata, n_neighbors=2)
    with pytest.warns(
        AdjustedParamWarning,
        match=r"init_pos='spectral' needs more than n_components \+ 1 = 3 cells, got 3; using init_pos='random'",
    ):
        ss.tl.umap(adata, maxiter=5)
    assert adata.obsm["X_umap"].shape == (3, 2)


@pytest.mark.parametrize("resolution", [0, -1, -0.5])
def test_resolution_must_be_positive(embedded: ad.AnnData, resolution: float) -> None:
    with pytest.raises(
        ParamError, match=rf"leiden: resolution: Input should be greater than 0 \(got {resolution}\)"
    ):
        ss.tl.leiden(embedded, resolution=resolution)
    assert "leiden" not in embedded.obs
    with pytest.raises(
        ConfigError, match=rf"leiden\.resolution: Input should be greater than 0 \(got {resolution}\)"
    ):
        validate_config({"leiden": {"resolution": resolution}})


def test_rank_genes_groups_needs_two_groups() -> None:
    adata = _log_normalised()
    adata.obs["one"] = pd.Categorical(["c1"] * adata.n_obs)
    with pytest.raises(
        InputDataError, match=r"rank_genes_groups needs at least two groups in obs\['one'\]; found 1: 'c1'"
    ):
        ss.tl.rank_genes_groups(adata, "one")
    adata.obs["tiny"] = pd.Categorical(["a"] + ["b"] * (adata.n_obs - 1))
    with pytest.raises(
        InputDataError, match=r"groups with fewer than 2 cells in obs\['tiny'\]: 'a' \(1 cell\)"
    ):
        ss.tl.rank_genes_groups(adata, "tiny")
    assert "rank_genes_groups" not in adata.uns


def test_markers_stage_with_a_single_cluster_leaves_no_artifact(tmp_path: Path) -> None:
    adata = _log_normalised()
    adata.obs["leiden"] = pd.Categorical(["0"] * adata.n_obs)
    artifact = tmp_path / "leiden.h5ad"
    ss.io.write(adata, artifact)
    out = tmp_path / "results"
    with pytest.raises(InputDataError, match=r"needs at least two groups in obs\['leiden'\]; found 1: '0'"):
        run_stage(
            "markers",
            inputs=[artifact],
            output=out / "markers.h5ad",
            params_json=stage_params_json(validate_config({}), "markers"),
            table=out / "markers.csv",
        )
    _no_output(out)


def test_stage_with_a_missing_batch_key_leaves_no_artifact(tmp_path: Path) -> None:
    adata = _log_normalised()
    adata.obs["batch"] = pd.Categorical(["a", "b"] * (adata.n_obs // 2))
    artifact = tmp_path / "normalize.h5ad"
    ss.io.write(adata, artifact)
    out = tmp_path / "results"
    params = stage_params_json(validate_config({"hvg": {"batch_key": "batches", "n_top_genes": 10}}), "hvg")
    with pytest.raises(
        MissingKeyError, match=r"batch_key 'batches' not found in adata\.obs \(close matches: batch\)"
    ):
        run_stage("hvg", inputs=[artifact], output=out / "hvg.h5ad", params_json=params)
    _no_output(out)
