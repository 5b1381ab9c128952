"""Artifacts written under the other environment read here: h5ad and zarr, full and lean.

The repository has two environments: ``.venv`` (the locked versions) and ``.venv-latest``
(the newest releases: another anndata, zarr format, pandas string dtype…). Running this file
in one of them starts pytest of the other on ``tests/cross_env_writer.py``, which writes a
workflow-like object with scsnake's ``io.write`` (h5ad and zarr, compressed or not, and lean
artifacts); this file reads them back with scsnake's readers and with anndata and compares
them exactly with the object built here. Running it in both environments tests both
directions. Skipped when the other environment does not exist.
"""

from __future__ import annotations

import json
import mmap
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import zarr
from scipy import sparse

from cross_env_writer import ARTIFACT_ID, DIRECTORY_VARIABLE, FULL, LEAN, workflow_like
from scsnake._artifacts import attach_matrix, copy_elements, mark_full, matrix_copies, matrix_pointer
from scsnake.io import read, write
from scsnake.io._formats import named_layers
from scsnake.io._mapped import read_artifact
from scsnake.io._write import write_completed
from scsnake.io._zarr import WRITE_FORMAT, open_zarr_group

REPO = Path(__file__).resolve().parents[2]
#: The locked environment and the newest releases, each a virtual environment in the repository.
ENVIRONMENTS = (".venv", ".venv-latest")

pytestmark = pytest.mark.slow


def _other_python() -> Path:
    """The Python of the environment this one is not; skips when there is none."""
    running = Path(sys.prefix).resolve()
    others = [name for name in ENVIRONMENTS if (REPO / name).resolve() != running]
    if len(others) != 1:
        pytest.skip(f"running in {running}, neither of {', '.join(ENVIRONMENTS)}: no other environment")
    python = REPO / others[0] / "bin" / "python"
    if not python.is_file():
        pytest.skip(f"the other environment {others[0]} does not exist ({python} not found)")
    return python


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The artifacts the other environment wrote, and its versions."""
    python = _other_python()
    directory = tmp_path_factory.mktemp("other_env")
    env = {**os.environ, DIRECTORY_VARIABLE: str(directory), "PYTHONPATH": str(REPO / "src")}
    env.pop("VIRTUAL_ENV", None)
    cmd = [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist"]
    cmd.append("tests/cross_env_writer.py")
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0 and " passed" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-3000:]
    return directory, json.loads((directory / "info.json").read_text())


# --- exact comparison ----------------------------------------------------------------------


def _same_matrix(got: Any, want: Any, where: str) -> None:
    assert sparse.issparse(got) == sparse.issparse(want), where
    assert got.shape == want.shape and got.dtype == want.dtype, where
    if sparse.issparse(want):
        assert got.format == want.format, where
        for part in ("indptr", "indices", "data"):
            stored, built = getattr(got, part), getattr(want, part)
            assert np.array_equal(stored, built), f"{where}.{part}"
        return
    assert np.array_equal(np.asarray(got), want), where


def _same_frame(got: pd.DataFrame, want: pd.DataFrame, where: str) -> None:
    assert got.index.tolist() == want.index.tolist(), f"{where}.index"
    assert pd.api.types.is_string_dtype(got.index), f"{where}.index"
    assert got.columns.tolist() == want.columns.tolist(), where
    for column in want.columns:
        g, w, at = got[column], want[column], f"{where}[{column!r}]"
        if isinstance(w.dtype, pd.CategoricalDtype):
            assert isinstance(g.dtype, pd.CategoricalDtype), at
            assert (
                g.cat.categories.tolist() == w.cat.categories.tolist() and g.cat.ordered == w.cat.ordered
            ), at
            assert np.array_equal(g.cat.codes.to_numpy(), w.cat.codes.to_numpy()), at
        elif w.dtype.kind in "biuf":
            assert g.dtype == w.dtype and np.array_equal(
                g.to_numpy(), w.to_numpy(), equal_nan=w.dtype.kind == "f"
            ), at
        else:  # text: object before pandas 3, str from it (and read so by anndata >= 0.13)
            assert pd.api.types.is_string_dtype(g.dtype) and g.tolist() == w.tolist(), at


def _same_value(got: Any, want: Any, where: str) -> None:
    if isinstance(want, dict):
        assert isinstance(got, dict) and sorted(got) == sorted(want), where
        for key in want:
            _same_value(got[key], want[key], f"{where}[{key!r}]")
    elif isinstance(want, np.ndarray) and want.dtype.names:  # scanpy's structured arrays
        assert isinstance(got, np.ndarray) and got.dtype.names == want.dtype.names, where
        for name in want.dtype.names:
            _same_value(np.asarray(got[name]), np.asarray(want[name]), f"{where}[{name!r}]")
    elif isinstance(want, np.ndarray) and want.dtype.kind in "OUS":  # text: any string dtype
        assert isinstance(got, np.ndarray) and got.dtype.kind in "OUT" and got.tolist() == want.tolist(), (
            where
        )
    elif isinstance(want, np.ndarray):
        assert isinstance(got, np.ndarray) and got.dtype == want.dtype and np.array_equal(got, want), where
    else:
        assert type(got) is type(want) and got == want, where  # str, int, float, bool, None


def _same(got: ad.AnnData, want: ad.AnnData, *, ignore_id: bool = False) -> None:
    assert got.shape == want.shape
    _same_frame(got.obs, want.obs, "obs")
    _same_frame(got.var, want.var, "var")
    _same_matrix(got.X, want.X, "X")
    assert sorted(named_layers(got)) == sorted(named_layers(want))
    for key, layer in named_layers(want).items():
        _same_matrix(got.layers[key], layer, f"layers[{key!r}]")
    for slot in ("obsm", "varm", "obsp"):
        mine, theirs = getattr(got, slot), getattr(want, slot)
        assert sorted(mine) == sorted(theirs), slot
        for key in theirs:
            _same_matrix(mine[key], theirs[key], f"{slot}[{key!r}]")
    uns, want_uns = dict(got.uns), dict(want.uns)
    if ignore_id:  # a stage's rewrite gets a new artifact id
        uns["scsnake"], want_uns["scsnake"] = dict(uns["scsnake"]), dict(want_uns["scsnake"])
        uns["scsnake"].pop("artifact_id", None), want_uns["scsnake"].pop("artifact_id")
    _same_value(uns, want_uns, "uns")


def _mapped(array: np.ndarray) -> bool:
    base = array
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
    return isinstance(base.obj if isinstance(base, memoryview) else base, mmap.mmap)


# --- the tests -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(FULL))
def test_scsnake_reads_what_the_other_environment_wrote(
    written: tuple[Path, dict[str, Any]], name: str
) -> None:
    directory, _ = written
    _same(read(directory / name), workflow_like())


def _anndata_read_zarr(path: Path, writer: dict[str, Any]) -> ad.AnnData:
    """anndata's own reader of a zarr store; through scsnake's compat store only where zarr
    cannot open the store itself (:mod:`scsnake.io._zarr`)."""
    store: Any = zarr.storage.ZipStore(path, mode="r") if path.is_file() else path
    try:
        return ad.read_zarr(store)
    except ValueError as err:
        # zarr 3.1 knows a structured dtype as 'structured'; newer zarr writes it as 'struct'
        if "'struct'" not in str(err) or writer["zarr_format"] != 3:
            raise
    finally:
        if path.is_file():
            store.close()
    with open_zarr_group(path) as group:
        return ad.read_zarr(group)


@pytest.mark.parametrize("name", list(FULL))
def test_anndata_reads_what_the_other_environment_wrote(
    written: tuple[Path, dict[str, Any]], name: str
) -> None:
    directory, writer = written
    path = directory / name
    got = ad.read_h5ad(path) if name.endswith(".h5ad") else _anndata_read_zarr(path, writer)
    _same(got, workflow_like())


def test_the_matrices_of_the_other_environments_h5ad_are_mapped(written: tuple[Path, dict[str, Any]]) -> None:
    directory, _ = written
    got = read_artifact(directory / "full.h5ad")
    assert _mapped(got.X.data) and _mapped(got.X.indices) and _mapped(got.layers["counts"].data)
    _same(got, workflow_like())


@pytest.mark.parametrize("name", list(LEAN))
def test_a_lean_artifact_gets_its_matrix_from_the_other_environments_artifact(
    written: tuple[Path, dict[str, Any]], name: str
) -> None:
    directory, _ = written
    lean = read(directory / name)
    assert lean.X is None and not named_layers(lean)
    assert matrix_pointer(lean) == {"path": LEAN[name], "artifact_id": ARTIFACT_ID}
    assert attach_matrix(lean, directory / name) == directory / LEAN[name]
    _same(lean, workflow_like(), ignore_id=True)


@pytest.mark.parametrize("name", list(LEAN))
def test_final_completes_the_other_environments_lean_artifact(
    written: tuple[Path, dict[str, Any]], tmp_path: Path, name: str
) -> None:
    """As ``final`` does: the stored matrix copied file to file where it is stored as this
    environment writes (h5ad always; zarr in the same format), else read and written."""
    directory, writer = written
    output = tmp_path / name.replace("lean", "final")
    lean = read(directory / name)
    copies = matrix_copies(lean, directory / name, output)
    assert (copies is not None) == (name.endswith(".h5ad") or writer["zarr_format"] == WRITE_FORMAT)
    if copies is None:
        attach_matrix(lean, directory / name)
        mark_full(lean)
        write(lean, output)
    else:
        mark_full(lean)
        write_completed(lean, output, complete=lambda staged: copy_elements(staged, copies))
    _same(read(output), workflow_like(), ignore_id=True)
