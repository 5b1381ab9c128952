"""write(): round trips, compression, atomic replacement and clear errors for unstorable values."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pytest
import zarr

import scsnake.io._write as write_module
from factories import make_counts
from scsnake.errors import InputDataError, ParamError
from scsnake.io import read, write
from scsnake.io._zarr import WRITE_FORMAT

FORMATS = ["x.h5ad", "x.zarr", "x.zarr.zip"]


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".tmp-" in p.name or ".old-" in p.name)


@pytest.mark.parametrize("compression", [None, "gzip", "lzf"])
@pytest.mark.parametrize("name", FORMATS)
def test_round_trip(tmp_path: Path, name: str, compression: str | None) -> None:
    adata = make_counts()
    adata.obsm["X_pca"] = np.arange(adata.n_obs * 2, dtype=np.float32).reshape(-1, 2)
    adata.uns["params"] = {"n_pcs": 2, "method": "test"}
    write(adata, tmp_path / name, compression=compression)
    back = read(tmp_path / name)
    assert (back.X != adata.X).nnz == 0 and back.X.dtype == np.float32
    assert back.obs["group"].equals(adata.obs["group"])
    np.testing.assert_array_equal(back.obsm["X_pca"], adata.obsm["X_pca"])
    assert back.uns["params"]["method"] == "test"
    assert _leftovers(tmp_path) == []


def test_h5ad_compression_is_applied(tmp_path: Path) -> None:
    write(make_counts(), tmp_path / "x.h5ad", compression="gzip")
    with h5py.File(tmp_path / "x.h5ad") as f:
        assert f["X/data"].compression == "gzip"


@pytest.mark.parametrize(("compression", "codec"), [(None, None), ("gzip", "gzip"), ("lzf", "lz4")])
def test_zarr_compression_is_applied(tmp_path: Path, compression: str | None, codec: str | None) -> None:
    write(make_counts(), tmp_path / "x.zarr", compression=compression)
    for array in ("X/data", "obs/group/categories"):  # numbers and text alike
        found = zarr.open_array(tmp_path / "x.zarr" / array, mode="r")
        assert found.metadata.zarr_format == WRITE_FORMAT
        if codec is None:
            assert found.compressors == ()
        else:
            (compressor,) = found.compressors
            assert codec in repr(compressor).lower()
    if WRITE_FORMAT == 3:  # anndata 0.13 stores format-3 arrays in shards
        assert found.shards is not None


@pytest.mark.parametrize("name", FORMATS)
def test_replaces_existing_target(tmp_path: Path, name: str) -> None:
    write(make_counts(seed=1), tmp_path / name)
    new = make_counts(seed=2)
    write(new, tmp_path / name)
    assert (read(tmp_path / name).X != new.X).nnz == 0
    assert _leftovers(tmp_path) == []


#: The writer that fills the temporary target: (module, name, position of the target argument).
_WRITERS = {"h5ad": (write_module, "_write_h5ad", 1), "zarr": (ad.io, "write_zarr", 0)}


@pytest.mark.parametrize(("name", "writer"), [("x.h5ad", "h5ad"), ("x.zarr", "zarr"), ("x.zarr.zip", "zarr")])
def test_failure_leaves_no_temp_and_keeps_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, writer: str
) -> None:
    old = make_counts(seed=1)
    write(old, tmp_path / name)
    module, attr, target = _WRITERS[writer]
    real = getattr(module, attr)
    created: list[Path] = []

    def failing(*args: object, **kwargs: object) -> None:
        real(*args, **kwargs)  # the temporary file exists now, complete
        created.append(Path(args[target]))
        raise RuntimeError("disk full (simulated)")

    monkeypatch.setattr(module, attr, failing)
    with pytest.raises(RuntimeError, match="simulated"):
        write(make_counts(seed=2), tmp_path / name)
    assert created and ".tmp-" in created[0].name and not created[0].exists()
    assert _leftovers(tmp_path) == []
    assert (read(tmp_path / name).X != old.X).nnz == 0


def test_failure_without_target_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = write_module._write_h5ad

    def failing(*args: object) -> None:
        real(*args)
        raise KeyboardInterrupt

    monkeypatch.setattr(write_module, "_write_h5ad", failing)
    with pytest.raises(KeyboardInterrupt):
        write(make_counts(), tmp_path / "x.h5ad")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["x.h5ad", "x.zarr"])
def test_unstorable_uns_value_is_named(tmp_path: Path, name: str) -> None:
    adata = make_counts()
    adata.uns["run"] = {"settings": {"callback": object()}}
    with pytest.raises(
        InputDataError, match=r"uns\['run'\]\['settings'\]\['callback'\] holds a object value"
    ):
        write(adata, tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_non_string_uns_key_is_named(tmp_path: Path) -> None:
    adata = make_counts()
    adata.uns["lookup"] = {1: "a"}
    with pytest.raises(InputDataError, match=r"uns\['lookup'\] has non-string key\(s\) \[1\]"):
        write(adata, tmp_path / "x.h5ad")
    assert list(tmp_path.iterdir()) == []


def test_bad_targets(tmp_path: Path) -> None:
    with pytest.raises(ParamError, match=r"cannot tell the format of .*x.loom"):
        write(make_counts(), tmp_path / "x.loom")
    with pytest.raises(ParamError, match="compression"):
        write(make_counts(), tmp_path / "x.h5ad", compression="zstd")
    with pytest.raises(InputDataError, match=r"the directory .*missing does not exist"):
        write(make_counts(), tmp_path / "missing" / "x.h5ad")


@pytest.mark.parametrize("name", ["x.h5ad", "x"])  # no suffix: the temporary name keeps the whole name
def test_staged_write_swaps_in_or_leaves_nothing(tmp_path: Path, name: str) -> None:
    from scsnake.io._write import staged_write

    path = tmp_path / name
    suffix = path.suffix
    with staged_write(path, suffix) as tmp:
        assert tmp.name.startswith(f"{name.removesuffix(suffix)}.tmp-") and tmp.name.endswith(suffix)
        tmp.write_text("new")
    assert path.read_text() == "new"
    with pytest.raises(RuntimeError, match="simulated"), staged_write(path, suffix) as tmp:
        tmp.write_text("half")
        raise RuntimeError("simulated")
    assert path.read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == [name]
