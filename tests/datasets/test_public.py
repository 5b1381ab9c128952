"""Public dataset loaders: parsing (real and hand-built files), the cache, downloads from a local server, scanpy parity."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.metadata
import importlib.util
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import pytest

import scsnake as ss
from scsnake.datasets import DownloadNetworkError, MissingDependencyError
from scsnake.datasets._public import REGISTRY
from scsnake.errors import InputDataError, ParamError


class _QuietHandler(SimpleHTTPRequestHandler):
    requests: list[str]

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.requests.append(self.path)
        super().do_GET()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path, list[str]]]:
    """A threaded HTTP server on 127.0.0.1 (free port) serving a directory: (base URL, directory, requests)."""
    root = tmp_path / "www"
    root.mkdir()
    requests: list[str] = []
    handler = type("Handler", (_QuietHandler,), {"requests": requests})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", root, requests
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv("SCSNAKE_DATA_DIR", str(directory))
    return directory


@pytest.fixture
def scanpy_datasetdir(tmp_path: Path) -> Iterator[Path]:
    """scanpy's ``settings.datasetdir`` pointed at a temporary directory (scanpy then finds files there)."""
    sc = pytest.importorskip("scanpy")
    old = sc.settings.datasetdir
    sc.settings.datasetdir = tmp_path / "scanpy"
    try:
        yield tmp_path / "scanpy"
    finally:
        sc.settings.datasetdir = old


def _scanpy_datasets_dir() -> Path:
    spec = importlib.util.find_spec("scanpy")
    if spec is None or spec.origin is None:
        pytest.skip("scanpy is not installed")
    return Path(spec.origin).parent / "datasets"


# ------------------------------------------------------------------------------- krumsiek11


def test_krumsiek11_parses_the_real_file(shared_data: Path) -> None:
    adata = ss.datasets.krumsiek11(path=shared_data / "krumsiek11.txt")
    assert adata.shape == (640, 11) and adata.X.dtype == np.float32
    assert adata.var_names[:3].tolist() == ["Gata2", "Gata1", "Fog1"]
    counts = adata.obs["cell_type"].value_counts()
    assert counts.to_dict() == {"progenitor": 320, "Ery": 80, "Mk": 80, "Mo": 80, "Neu": 80}
    assert adata.obs["cell_type"].iloc[[0, 80, 240, 400, 560]].tolist() == [
        "progenitor",
        "Mo",
        "Ery",
        "Mk",
        "Neu",
    ]
    assert adata.uns["iroot"] == 0 and adata.uns["highlights"]["159"] == "Mo"
    assert not adata.obs_names.is_unique  # the simulation time, repeated across branches


def test_krumsiek11_is_writable(shared_data: Path, tmp_path: Path) -> None:
    adata = ss.datasets.krumsiek11(path=shared_data / "krumsiek11.txt")
    with pytest.warns(ss.errors.DataWarning, match="not unique"):  # read back: the names repeat
        ss.io.write(adata, tmp_path / "k.h5ad")
        back = ss.read(tmp_path / "k.h5ad")
    assert back.uns["highlights"] == adata.uns["highlights"]


@pytest.mark.parity
@pytest.mark.filterwarnings("ignore:Observation names are not unique:UserWarning")  # scanpy's own warning
def test_krumsiek11_matches_scanpy(shared_data: Path) -> None:
    sc = pytest.importorskip("scanpy")
    ours = ss.datasets.krumsiek11(path=shared_data / "krumsiek11.txt")
    theirs = sc.datasets.krumsiek11()
    np.testing.assert_array_equal(ours.X, theirs.X)
    assert ours.X.dtype == theirs.X.dtype
    assert ours.obs_names.tolist() == theirs.obs_names.tolist()
    assert ours.var_names.tolist() == theirs.var_names.tolist()
    assert ours.obs["cell_type"].astype(str).tolist() == theirs.obs["cell_type"].astype(str).tolist()
    assert list(ours.obs["cell_type"].cat.categories) == list(theirs.obs["cell_type"].cat.categories)
    assert ours.uns["iroot"] == theirs.uns["iroot"]
    assert ours.uns["highlights"] == {str(k): v for k, v in theirs.uns["highlights"].items()}


def test_krumsiek11_downloads_and_verifies(
    server: tuple[str, Path, list[str]], cache: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, root, requests = server
    (root / "krumsiek11.txt").write_bytes((shared_data / "krumsiek11.txt").read_bytes())
    monkeypatch.setitem(
        REGISTRY, "krumsiek11", dataclasses.replace(REGISTRY["krumsiek11"], url=f"{base}/krumsiek11.txt")
    )
    first = ss.datasets.krumsiek11()  # the registry's SHA-256 and size match the real file
    assert (cache / "krumsiek11.txt").is_file() and first.shape == (640, 11)
    second = ss.datasets.krumsiek11()
    assert requests == ["/krumsiek11.txt"]  # the second call read the cache
    np.testing.assert_array_equal(first.X, second.X)


def test_krumsiek11_wrong_file(tmp_path: Path) -> None:
    path = tmp_path / "k.txt"
    path.write_text("a b\n0 1 2\n1 3 4\n")
    with pytest.raises(InputDataError, match="expected 640 cells, found 2"):
        ss.datasets.krumsiek11(path=path)


# -------------------------------------------------------------------------- pbmc68k_reduced


def test_pbmc68k_reduced_parses_the_shared_copy(shared_data: Path) -> None:
    adata = ss.datasets.pbmc68k_reduced(path=shared_data / "pbmc68k_reduced.zarr.zip")
    assert adata.shape == (700, 765)
    assert {"bulk_labels", "louvain"} <= set(adata.obs) and {"X_pca", "X_umap"} <= set(adata.obsm)


@pytest.mark.parity
def test_pbmc68k_reduced_matches_scanpy(shared_data: Path) -> None:
    sc = pytest.importorskip("scanpy")
    ours = ss.datasets.pbmc68k_reduced(path=shared_data / "pbmc68k_reduced.zarr.zip")
    theirs = sc.datasets.pbmc68k_reduced()
    np.testing.assert_allclose(ours.X, theirs.X, rtol=1e-6)
    assert ours.obs_names.tolist() == theirs.obs_names.tolist()
    assert ours.var_names.tolist() == theirs.var_names.tolist()
    pd.testing.assert_frame_equal(ours.obs, theirs.obs, check_categorical=False)
    for key in ("X_pca", "X_umap"):
        np.testing.assert_allclose(ours.obsm[key], theirs.obsm[key], rtol=1e-6)


def _scanpy_file_as_registered(name: str, file: str) -> Path:
    """scanpy's bundled ``file``, when the installed scanpy ships the copy the registry records
    for ``name`` (krumsiek11's is the same in every release; pbmc68k_reduced's was rewritten
    after the release the registry downloads it from)."""
    bundled = _scanpy_datasets_dir() / file
    release = REGISTRY[name].url.split("/scverse/scanpy/", 1)[1].split("/", 1)[0]
    installed = importlib.metadata.version("scanpy")
    if name != "krumsiek11" and installed != release:
        pytest.skip(f"the registry records the {file} of scanpy {release}; scanpy {installed} ships another")
    return bundled


def test_pbmc68k_reduced_registry_checksum_is_scanpys_file(
    server: tuple[str, Path, list[str]], cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundled = _scanpy_file_as_registered("pbmc68k_reduced", "10x_pbmc68k_reduced.h5ad")
    base, root, _ = server
    (root / "pbmc.h5ad").write_bytes(bundled.read_bytes())
    monkeypatch.setitem(
        REGISTRY, "pbmc68k_reduced", dataclasses.replace(REGISTRY["pbmc68k_reduced"], url=f"{base}/pbmc.h5ad")
    )
    adata = ss.datasets.pbmc68k_reduced()
    assert adata.shape == (700, 765) and (cache / "pbmc68k_reduced.h5ad").is_file()


def test_pbmc68k_reduced_reads_the_installed_scanpys_copy() -> None:
    adata = ss.datasets.pbmc68k_reduced(path=_scanpy_datasets_dir() / "10x_pbmc68k_reduced.h5ad")
    assert adata.shape == (700, 765) and {"bulk_labels", "louvain"} <= set(adata.obs)


@pytest.mark.parametrize(
    ("name", "file"), [("krumsiek11", "krumsiek11.txt"), ("pbmc68k_reduced", "10x_pbmc68k_reduced.h5ad")]
)
def test_registry_checksums_of_bundled_files(name: str, file: str) -> None:
    data = _scanpy_file_as_registered(name, file).read_bytes()
    assert hashlib.sha256(data).hexdigest() == REGISTRY[name].sha256
    assert len(data) == REGISTRY[name].size


# ------------------------------------------------------------------------- pbmc3k (+ processed)


def _tiny_h5ad(path: Path) -> ad.AnnData:
    adata = ad.AnnData(np.arange(6, dtype=np.float32).reshape(3, 2))
    adata.obs_names = ["c1", "c2", "c3"]
    adata.var_names = ["g1", "g2"]
    adata.var["gene_ids"] = ["E1", "E2"]
    adata.write_h5ad(path)
    return adata


@pytest.mark.parametrize(
    ("loader", "cached"), [("pbmc3k", "pbmc3k_raw.h5ad"), ("pbmc3k_processed", "pbmc3k_processed.h5ad")]
)
def test_pbmc3k_reads_the_cache_without_network(
    cache: Path, loader: str, cached: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache.mkdir()
    written = _tiny_h5ad(cache / cached)
    offline = dataclasses.replace(REGISTRY[loader], url="http://127.0.0.1:9/unreachable", mirrors=())
    monkeypatch.setitem(REGISTRY, loader, offline)  # any network use would fail
    adata = getattr(ss.datasets, loader)()
    np.testing.assert_array_equal(adata.X, written.X)
    assert adata.var["gene_ids"].tolist() == ["E1", "E2"]


def test_pbmc3k_local_path(tmp_path: Path) -> None:
    written = _tiny_h5ad(tmp_path / "mine.h5ad")
    np.testing.assert_array_equal(ss.datasets.pbmc3k(path=tmp_path / "mine.h5ad").X, written.X)


def test_unreachable_server_names_url_and_file(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    offline = dataclasses.replace(REGISTRY["pbmc3k"], url="http://127.0.0.1:9/pbmc3k_raw.h5ad", mirrors=())
    monkeypatch.setitem(REGISTRY, "pbmc3k", offline)
    with pytest.raises(
        DownloadNetworkError, match=r"http://127\.0\.0\.1:9/pbmc3k_raw\.h5ad to .*cache/pbmc3k_raw\.h5ad"
    ):
        ss.datasets.pbmc3k()
    assert not (cache / "pbmc3k_raw.h5ad").exists()


def test_missing_local_path(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match=r"input not found: .*nothing\.h5ad"):
        ss.datasets.pbmc3k(path=tmp_path / "nothing.h5ad")


def test_bad_path_argument() -> None:
    with pytest.raises(ParamError, match="path"):
        ss.datasets.paul15(path=3.5)


# ----------------------------------------------------------------------------------- paul15


def _fake_paul15(path: Path) -> None:
    """paul15.h5's layout: genes × cells counts, two names per gene, cluster ids 1..19, informative genes."""
    rng = np.random.default_rng(0)
    genes = ["Zfp1;Zfp1b", "Gata1;Gata1x", "Apoe;Apoe2", "Mpo", "Car2;Car2b", "Junk"]
    cells = [f"W{i}" for i in range(12)]
    with h5py.File(path, "w") as f:
        f["data.debatched"] = rng.poisson(3.0, size=(len(genes), len(cells))).astype(np.float64)
        f["data.debatched_rownames"] = np.array(genes, dtype="S")
        f["data.debatched_colnames"] = np.array(cells, dtype="S")
        f["cluster.id"] = np.array([[1, 7, 19, 3, 7, 12, 1, 2, 15, 7, 16, 19]])
        f["info.genes_strings"] = np.array(["Mpo", "Zfp1", "Car2", "Gata1", "Missing"], dtype="S")


def test_paul15_parses(tmp_path: Path) -> None:
    _fake_paul15(tmp_path / "paul15.h5")
    adata = ss.datasets.paul15(path=tmp_path / "paul15.h5")
    assert adata.var_names.tolist() == ["Car2", "Gata1", "Mpo", "Zfp1"]  # informative, sorted, first names
    assert adata.obs["paul15_clusters"].iloc[:3].tolist() == ["1Ery", "7MEP", "19Lymph"]
    assert adata.X.dtype == np.float32 and adata.uns["iroot"] == 840
    with h5py.File(tmp_path / "paul15.h5") as f:
        raw = f["data.debatched"][()]
    np.testing.assert_array_equal(adata.X[:, 1], raw[1])  # Gata1 is the second stored gene


@pytest.mark.parity
def test_paul15_matches_scanpy(scanpy_datasetdir: Path) -> None:
    import scanpy as sc

    (scanpy_datasetdir / "paul15").mkdir(parents=True)
    _fake_paul15(scanpy_datasetdir / "paul15" / "paul15.h5")
    theirs = sc.datasets.paul15()  # scanpy finds the file: no download
    ours = ss.datasets.paul15(path=scanpy_datasetdir / "paul15" / "paul15.h5")
    np.testing.assert_array_equal(ours.X, theirs.X)
    assert ours.var_names.tolist() == theirs.var_names.tolist()
    assert ours.obs_names.tolist() == theirs.obs_names.tolist()
    assert (
        ours.obs["paul15_clusters"].astype(str).tolist() == theirs.obs["paul15_clusters"].astype(str).tolist()
    )
    assert ours.uns["iroot"] == theirs.uns["iroot"]


def test_paul15_bad_file(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "p.h5", "w") as f:
        f["other"] = np.zeros(3)
    with pytest.raises(InputDataError, match=r"paul15: cannot read .*p\.h5.*data\.debatched"):
        ss.datasets.paul15(path=tmp_path / "p.h5")


# ------------------------------------------------------------------------------- moignard15


def _fake_moignard15(path: Path) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    cells = ["HF1_1", "NP2_3", "PS4_1", "4SG_7", "4SFG_2", "HF2_9"]
    genes = ["Cdh5", "Eif2b1", "Gata1", "Ubc", "Runx1"]
    table = pd.DataFrame(rng.normal(size=(len(cells), len(genes))).round(3), columns=genes)
    table.insert(0, "Cell", cells)
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"x": [1]}).to_excel(writer, sheet_name="other", index=False)
        table.to_excel(writer, sheet_name="dCt_values.txt", index=False)
    return table


def test_moignard15_parses(tmp_path: Path) -> None:
    pytest.importorskip("openpyxl")
    table = _fake_moignard15(tmp_path / "m.xlsx")
    adata = ss.datasets.moignard15(path=tmp_path / "m.xlsx")
    assert adata.var_names.tolist() == ["Cdh5", "Gata1", "Runx1"]
    assert adata.obs["exp_groups"].tolist() == ["HF", "NP", "PS", "4SG", "4SFG", "HF"]
    assert list(adata.obs["exp_groups"].cat.categories) == ["HF", "NP", "PS", "4SG", "4SFG"]
    np.testing.assert_allclose(adata.X[:, 1], table["Gata1"], rtol=1e-6)
    assert adata.X.dtype == np.float32 and adata.uns["iroot"] == 532
    assert len(adata.uns["exp_groups_colors"]) == 5


@pytest.mark.parity
def test_moignard15_matches_scanpy(scanpy_datasetdir: Path) -> None:
    pytest.importorskip("openpyxl")
    import scanpy as sc

    (scanpy_datasetdir / "moignard15").mkdir(parents=True)
    _fake_moignard15(scanpy_datasetdir / "moignard15" / "nbt.3154-S3.xlsx")
    theirs = sc.datasets.moignard15()
    ours = ss.datasets.moignard15(path=scanpy_datasetdir / "moignard15" / "nbt.3154-S3.xlsx")
    np.testing.assert_allclose(ours.X, np.asarray(theirs.X, dtype=np.float64), rtol=1e-6)
    assert ours.var_names.tolist() == theirs.var_names.tolist()
    assert ours.obs_names.tolist() == theirs.obs_names.tolist()
    assert ours.obs["exp_groups"].tolist() == theirs.obs["exp_groups"].tolist()
    assert ours.uns["exp_groups_colors"] == theirs.uns["exp_groups_colors"]
    assert ours.uns["iroot"] == theirs.uns["iroot"]


def test_moignard15_unknown_cell_name(tmp_path: Path) -> None:
    pytest.importorskip("openpyxl")
    table = pd.DataFrame({"Cell": ["XX_1"], "Gata1": [0.5]})
    table.to_excel(tmp_path / "m.xlsx", sheet_name="dCt_values.txt", index=False)
    with pytest.raises(InputDataError, match="'XX_1'"):
        ss.datasets.moignard15(path=tmp_path / "m.xlsx")


def test_moignard15_missing_sheet(tmp_path: Path) -> None:
    pytest.importorskip("openpyxl")
    pd.DataFrame({"a": [1]}).to_excel(tmp_path / "m.xlsx", sheet_name="other", index=False)
    with pytest.raises(InputDataError, match=r"sheet 'dCt_values\.txt'"):
        ss.datasets.moignard15(path=tmp_path / "m.xlsx")


def test_moignard15_without_openpyxl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openpyxl", None)  # import openpyxl now fails
    with pytest.raises(MissingDependencyError, match="pip install openpyxl"):
        ss.datasets.moignard15(path=tmp_path / "m.xlsx")
