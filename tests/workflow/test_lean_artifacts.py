"""Lean artifacts: stages that keep the matrix write none and point to the one that has it."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pytest
from scipy import sparse

from scsnake.config import stage_params_json, validate_config
from scsnake.errors import InputDataError
from scsnake.io._formats import named_layers
from scsnake.runner import run_stage

CONFIG = validate_config(
    {
        "samples": {"s": {"synthetic": {"n_cells": 200, "n_genes": 200, "n_types": 2}}},
        "qc": {"min_genes": 10},
        "hvg": {"n_top_genes": 100},
        "pca": {"n_comps": 10},
        "neighbors": {"n_neighbors": 10},
    }
)
CHAIN = ("normalize", "hvg", "pca", "neighbors", "umap", "leiden", "markers")


def _run(stage: str, inputs: list[Path | str], out: Path, fmt: str) -> Path:
    path = out / f"{stage}.{fmt}"
    sample = "s" if stage in ("load", "qc") else None
    params = stage_params_json(CONFIG, stage, "s") if sample else stage_params_json(CONFIG, stage)
    run_stage(stage, inputs=inputs, output=path, params_json=params, sample=sample)
    return path


def _pipeline(out: Path, fmt: str = "h5ad") -> dict[str, Path]:
    paths = {"load": _run("load", [], out, fmt)}
    previous = _run("qc", [paths["load"]], out, fmt)
    paths["qc"] = previous
    for stage in CHAIN:
        main = paths["neighbors"] if stage in ("umap", "leiden") else previous
        paths[stage] = _run(stage, [main], out, fmt)
        previous = paths[stage]
    paths["final"] = _run("final", [paths["markers"], f"umap={paths['umap']}"], out, fmt)
    return paths


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _pipeline(tmp_path_factory.mktemp("lean"))


def test_only_matrix_changing_stages_store_the_matrix(run: dict[str, Path]) -> None:
    normalize = ad.read_h5ad(run["normalize"])
    for stage in ("hvg", "pca", "neighbors", "umap", "leiden", "markers"):
        lean = ad.read_h5ad(run[stage])
        assert lean.X is None and not lean.layers, stage
        pointer = lean.uns["scsnake"]["matrix"]
        assert pointer["path"] == "normalize.h5ad", stage
        assert pointer["artifact_id"] == normalize.uns["scsnake"]["artifact_id"], stage


def test_final_is_complete_and_equals_the_normalised_matrix(run: dict[str, Path]) -> None:
    final = ad.read_h5ad(run["final"])
    normalize = ad.read_h5ad(run["normalize"])
    qc = ad.read_h5ad(run["qc"])
    assert "matrix" not in final.uns["scsnake"] and "layers" not in final.uns["scsnake"]
    assert (final.X != normalize.X).nnz == 0
    assert set(named_layers(final)) == {"counts"}
    assert (final.layers["counts"] != qc.X).nnz == 0
    assert {"X_pca", "X_umap"} <= set(final.obsm) and "leiden" in final.obs
    assert "rank_genes_groups" in final.uns and "highly_variable" in final.var
    assert set(final.uns["scsnake"]["provenance"]) >= {"load", "qc", *CHAIN, "final"}


def test_normalize_keeps_the_counts_as_a_pointer_to_its_input(run: dict[str, Path]) -> None:
    normalize = ad.read_h5ad(run["normalize"])
    qc = ad.read_h5ad(run["qc"])
    assert not normalize.layers  # the counts are qc's X: not written twice
    pointer = normalize.uns["scsnake"]["layers"]["counts"]
    assert pointer == {"path": "qc.h5ad", "artifact_id": qc.uns["scsnake"]["artifact_id"]}


def test_counts_flavors_read_the_counts_through_the_pointer(run: dict[str, Path], tmp_path: Path) -> None:
    from scsnake import pp

    params = '{"flavor": "seurat_v3", "n_top_genes": 50}'
    out = tmp_path / "hvg.h5ad"
    run_stage("hvg", inputs=[run["normalize"]], output=out, params_json=params)
    got = ad.read_h5ad(out)
    want = ad.read_h5ad(run["normalize"])
    assert got.X is None and got.uns["scsnake"]["matrix"]["artifact_id"] == want.uns["scsnake"]["artifact_id"]
    want.layers["counts"] = ad.read_h5ad(run["qc"]).X
    pp.highly_variable_genes(want, flavor="seurat_v3", n_top_genes=50, layer="counts")
    np.testing.assert_array_equal(
        got.var["highly_variable"].to_numpy(), want.var["highly_variable"].to_numpy()
    )


def test_a_rewritten_or_missing_counts_artifact_is_refused(tmp_path: Path) -> None:
    load = _run("load", [], tmp_path, "h5ad")
    qc = _run("qc", [load], tmp_path, "h5ad")
    normalize = _run("normalize", [qc], tmp_path, "h5ad")
    _run("qc", [load], tmp_path, "h5ad")  # rewritten: a new artifact id
    hvg = tmp_path / "hvg.h5ad"
    params = '{"flavor": "seurat_v3", "n_top_genes": 50}'  # reads the counts
    pattern = r"normalize\.h5ad was made from another version of .*qc\.h5ad.*forcerun"
    with pytest.raises(InputDataError, match=pattern):
        run_stage("hvg", inputs=[normalize], output=hvg, params_json=params)
    assert not hvg.exists()
    qc.unlink()
    with pytest.raises(InputDataError, match=r"keeps layers\['counts'\] in .*qc\.h5ad, which does not exist"):
        run_stage("hvg", inputs=[normalize], output=hvg, params_json=params)


def test_zarr_artifacts_are_lean_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import zarr

    from scsnake import _artifacts, runner
    from scsnake.io import read

    paths = _pipeline(tmp_path, "zarr")
    lean = ad.read_zarr(paths["pca"])
    assert lean.X is None and lean.uns["scsnake"]["matrix"]["path"] == "normalize.zarr"
    final = ad.read_zarr(paths["final"])
    normalize = ad.read_zarr(paths["normalize"])
    assert sparse.issparse(final.X) and (final.X != normalize.X).nnz == 0
    assert normalize.uns["scsnake"]["layers"]["counts"]["path"] == "qc.zarr"
    assert (final.layers["counts"] != ad.read_zarr(paths["qc"]).X).nnz == 0

    def no_reading(*args: object, **kwargs: object) -> None:
        raise AssertionError("final read the matrix")

    # final copies the stored matrix (chunks or shards) without reading it, in either zarr format
    monkeypatch.setattr(runner, "attach_matrix", no_reading)
    monkeypatch.setattr(_artifacts, "_read_pointed", no_reading)
    copied = tmp_path / "copied" / "final.zarr"
    inputs = [paths["markers"], f"umap={paths['umap']}"]
    run_stage("final", inputs=inputs, output=copied, params_json="{}", compression="gzip")
    assert zarr.open_array(copied / "X" / "data", mode="r").compressors == ()  # stored as it was
    assert "gzip" in repr(zarr.open_array(copied / "obsm" / "X_pca", mode="r").compressors).lower()
    got = read(copied)  # through the rewritten consolidated metadata
    assert (got.X != normalize.X).nnz == 0 and (got.layers["counts"] != ad.read_zarr(paths["qc"]).X).nnz == 0


def test_a_rewritten_matrix_artifact_is_refused(tmp_path: Path) -> None:
    paths = {"load": _run("load", [], tmp_path, "h5ad")}
    qc = _run("qc", [paths["load"]], tmp_path, "h5ad")
    normalize = _run("normalize", [qc], tmp_path, "h5ad")
    hvg = _run("hvg", [normalize], tmp_path, "h5ad")
    _run("normalize", [qc], tmp_path, "h5ad")  # rewritten: a new artifact id
    with pytest.raises(
        InputDataError, match=r"hvg\.h5ad was made from another version of .*normalize\.h5ad.*forcerun"
    ):
        _run("pca", [hvg], tmp_path, "h5ad")
    assert not (tmp_path / "pca.h5ad").exists()
    normalize.unlink()
    with pytest.raises(InputDataError, match=r"keeps its matrix in .*normalize\.h5ad, which does not exist"):
        _run("pca", [hvg], tmp_path, "h5ad")


def test_a_matrix_artifact_of_other_cells_is_refused(tmp_path: Path) -> None:
    load = _run("load", [], tmp_path, "h5ad")
    normalize = _run("normalize", [_run("qc", [load], tmp_path, "h5ad")], tmp_path, "h5ad")
    hvg = _run("hvg", [normalize], tmp_path, "h5ad")
    adata = ad.read_h5ad(normalize)
    smaller = adata[: adata.n_obs // 2].copy()  # same artifact id, fewer cells
    smaller.write_h5ad(normalize)
    with pytest.raises(InputDataError, match=r"holds a matrix of shape \(\d+, \d+\), but .*hvg\.h5ad has"):
        _run("pca", [hvg], tmp_path, "h5ad")


def test_lean_and_full_runs_give_the_same_results(run: dict[str, Path], tmp_path: Path) -> None:
    # neighbors on a full pca artifact written before artifact ids existed (no pointer, no id)
    adata = ad.read_h5ad(run["pca"])
    source = ad.read_h5ad(run["normalize"])
    adata.X, adata.layers["counts"] = source.X, ad.read_h5ad(run["qc"]).X
    del adata.uns["scsnake"]["matrix"]
    full = {"pca": tmp_path / "pca.h5ad"}
    adata.write_h5ad(full["pca"])
    neighbors = _run("neighbors", [full["pca"]], tmp_path, "h5ad")
    got = ad.read_h5ad(neighbors)
    assert got.X is not None  # no artifact id to point to: written in full
    want = ad.read_h5ad(run["neighbors"])
    np.testing.assert_array_equal(got.obsp["connectivities"].toarray(), want.obsp["connectivities"].toarray())


def test_each_stage_reads_only_the_parts_of_the_matrix_it_uses() -> None:
    from types import SimpleNamespace

    from scsnake.config import WorkflowConfig
    from scsnake.stages import STAGES, matrix_holder

    def _matrix_parts(name: str, adata: ad.AnnData, params: object) -> str | None:
        return STAGES[name].matrix_parts(adata, params)

    adata = ad.AnnData(obs={"a": np.arange(4)}, var={"b": np.arange(60)}, obsm={"X_pca": np.zeros((4, 2))})
    assert _matrix_parts("leiden", adata, None) is None
    assert _matrix_parts("neighbors", adata, SimpleNamespace(use_rep="X_pca", n_pcs=None)) is None
    assert _matrix_parts("neighbors", adata, SimpleNamespace(use_rep="X", n_pcs=None)) == "X"
    assert _matrix_parts("tsne", adata, SimpleNamespace(use_rep=None, n_pcs=None)) is None
    assert _matrix_parts("tsne", adata, SimpleNamespace(use_rep=None, n_pcs=0)) == "X"
    adata.uns["neighbors"] = {"params": {"use_rep": "X_pca"}}
    assert _matrix_parts("umap", adata, None) is None
    assert _matrix_parts("markers", adata, None) == "X"
    assert _matrix_parts("final", adata, None) == _matrix_parts("integration_metrics", adata, None) == "all"
    assert _matrix_parts("pca", adata, None) == "X"
    assert _matrix_parts("hvg", adata, SimpleNamespace(flavor="seurat")) == "X"
    assert _matrix_parts("hvg", adata, SimpleNamespace(flavor="seurat_v3")) == "all"
    residuals = SimpleNamespace(residuals=SimpleNamespace(theta=100.0, clip=None, counts_layer="counts"))
    assert _matrix_parts("pca", adata, residuals) == "all"
    assert (
        _matrix_parts("tsne", adata[:, :10].copy(), SimpleNamespace(use_rep=None, n_pcs=None)) == "X"
    )  # ≤ 50 genes: X
    # the workflow lists the counts artifact as an input of exactly the stages that may read it
    config = WorkflowConfig()
    after_normalize = {
        s
        for s, d in STAGES.items()
        if d.kind not in ("source", "gather") and matrix_holder(config, s) == "normalize"
    }
    reading = {s for s in after_normalize if STAGES[s].reads_matrix}
    widest = SimpleNamespace(flavor="seurat_v3", residuals=residuals.residuals, use_rep=None, n_pcs=None)
    may_read_counts = {s for s in reading if _matrix_parts(s, adata, widest) == "all"}
    assert may_read_counts == {s for s, d in STAGES.items() if d.reads_counts}


def test_final_copies_the_stored_matrix_without_reading_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import h5py

    from scsnake import _artifacts, runner

    def no_reading(*args: object, **kwargs: object) -> None:
        raise AssertionError("final read the matrix")

    paths = _pipeline(tmp_path)
    monkeypatch.setattr(runner, "attach_matrix", no_reading)
    monkeypatch.setattr(_artifacts, "_read_pointed", no_reading)
    final = tmp_path / "copied" / "final.h5ad"
    run_stage(
        "final",
        inputs=[paths["markers"], f"umap={paths['umap']}"],
        output=final,
        params_json="{}",
        compression="gzip",
    )
    with h5py.File(final) as got, h5py.File(paths["normalize"]) as normalize, h5py.File(paths["qc"]) as qc:
        for key in ("data", "indices", "indptr"):  # stored as they were: same values, same (no) compression
            assert got[f"X/{key}"].compression is None and got[f"layers/counts/{key}"].compression is None
            np.testing.assert_array_equal(got[f"X/{key}"][:], normalize[f"X/{key}"][:])
            np.testing.assert_array_equal(got[f"layers/counts/{key}"][:], qc[f"X/{key}"][:])
        assert got["obsm/X_pca"].compression == "gzip"  # what final writes itself is compressed
    adata = ad.read_h5ad(final)
    assert set(named_layers(adata)) == {"counts"} and "matrix" not in adata.uns["scsnake"]
    assert (adata.X != ad.read_h5ad(paths["normalize"]).X).nnz == 0


def test_final_refuses_a_rewritten_matrix_artifact_and_writes_nothing(
    run: dict[str, Path], tmp_path: Path
) -> None:
    import shutil

    for name in ("qc", "normalize", "markers", "umap"):
        shutil.copy(run[name], tmp_path / run[name].name)
    _run("normalize", [tmp_path / "qc.h5ad"], tmp_path, "h5ad")  # a new artifact id
    final = tmp_path / "final.h5ad"
    with pytest.raises(
        InputDataError, match=r"markers\.h5ad was made from another version of .*normalize\.h5ad"
    ):
        run_stage(
            "final",
            inputs=[tmp_path / "markers.h5ad", f"umap={tmp_path / 'umap.h5ad'}"],
            output=final,
            params_json="{}",
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "markers.h5ad",
        "normalize.h5ad",
        "qc.h5ad",
        "umap.h5ad",
    ]


def test_final_in_another_format_reads_and_writes_the_matrix(run: dict[str, Path], tmp_path: Path) -> None:
    final = tmp_path / "final.zarr"  # h5ad sources, a zarr result: nothing to copy file to file
    run_stage("final", inputs=[run["markers"], f"umap={run['umap']}"], output=final, params_json="{}")
    got = ad.read_zarr(final)
    assert (got.X != ad.read_h5ad(run["normalize"]).X).nnz == 0
    assert (got.layers["counts"] != ad.read_h5ad(run["qc"]).X).nnz == 0


def test_normalize_copies_only_the_values_and_leaves_the_counts_alone() -> None:
    from factories import make_counts
    from scsnake import pp
    from scsnake.stages._normalize import NormalizeParams, normalize

    adata = make_counts()
    counts = adata.X
    want = counts.copy()
    normalize(adata, NormalizeParams())
    assert adata.layers["counts"] is counts and (counts != want).nnz == 0
    assert np.shares_memory(adata.X.indices, counts.indices) and not np.shares_memory(
        adata.X.data, counts.data
    )
    expected = ad.AnnData(want)
    pp.normalize_total(expected, target_sum=1e4)
    pp.log1p(expected)
    np.testing.assert_array_equal(adata.X.toarray(), expected.X.toarray())


@pytest.mark.filterwarnings("ignore:Tensorflow not installed:ImportWarning")
def test_umap_stage_runs_the_parallel_layout(run: dict[str, Path], tmp_path: Path) -> None:
    params = '{"method": "parallel", "maxiter": 50}'
    outputs = [tmp_path / "a" / "umap.h5ad", tmp_path / "b" / "umap.h5ad"]
    for out in outputs:
        run_stage("umap", inputs=[run["neighbors"]], output=out, params_json=params)
    first, second = (ad.read_h5ad(out) for out in outputs)
    assert first.uns["umap"]["params"]["method"] == "parallel"
    assert first.obsm["X_umap"].shape == (first.n_obs, 2) and np.isfinite(first.obsm["X_umap"]).all()
    np.testing.assert_array_equal(first.obsm["X_umap"], second.obsm["X_umap"])
    serial = ad.read_h5ad(run["umap"])
    assert not np.array_equal(first.obsm["X_umap"], serial.obsm["X_umap"])  # another optimiser
