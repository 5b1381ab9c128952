"""export_csv: obs, embeddings and marker tables; atomic writes; clear errors."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import scsnake.io._export as export_module
from factories import make_counts
from scsnake.errors import InputDataError, MissingKeyError, ParamError
from scsnake.get import rank_genes_groups_df
from scsnake.io import export_csv
from scsnake.tl import rank_genes_groups


@pytest.fixture
def analysed() -> ad.AnnData:
    adata = make_counts(n_cells=30, n_genes=12)
    adata.X = adata.X.log1p()
    adata.obs["n_counts"] = np.arange(adata.n_obs, dtype=np.float32)
    adata.obsm["X_umap"] = np.arange(adata.n_obs * 2, dtype=np.float32).reshape(-1, 2)
    adata.obsm["X_pca"] = np.ones((adata.n_obs, 3))
    adata.obsm["X_draw_graph_fr"] = np.zeros((adata.n_obs, 2))
    rank_genes_groups(adata, "group", method="t-test")
    return adata


def test_writes_every_table(analysed, tmp_path: Path) -> None:
    out = tmp_path / "export"
    written = export_csv(analysed, out)
    names = ["obs.csv", "X_umap.csv", "X_pca.csv", "X_draw_graph_fr.csv", "markers.csv"]
    assert written == [out / n for n in names]
    assert sorted(p.name for p in out.iterdir()) == sorted(names)  # no temporary files left

    obs = pd.read_csv(out / "obs.csv", index_col=0)
    assert obs.index.name == "cell" and list(obs.index) == list(analysed.obs_names)
    assert obs["group"].tolist() == analysed.obs["group"].astype(str).tolist()
    np.testing.assert_array_equal(obs["n_counts"], analysed.obs["n_counts"])

    umap = pd.read_csv(out / "X_umap.csv", index_col=0)
    assert list(umap.columns) == ["UMAP1", "UMAP2"] and list(umap.index) == list(analysed.obs_names)
    np.testing.assert_array_equal(umap.to_numpy(), analysed.obsm["X_umap"])
    assert list(pd.read_csv(out / "X_pca.csv", index_col=0).columns) == ["PC1", "PC2", "PC3"]
    assert list(pd.read_csv(out / "X_draw_graph_fr.csv", index_col=0).columns) == [
        "DRAW_GRAPH_FR1",
        "DRAW_GRAPH_FR2",
    ]

    markers = pd.read_csv(out / "markers.csv")
    expected = rank_genes_groups_df(analysed, None)
    assert list(markers.columns) == list(expected.columns) and markers.columns[0] == "group"
    assert markers["group"].tolist() == expected["group"].astype(str).tolist()
    assert markers["names"].tolist() == expected["names"].tolist()
    np.testing.assert_allclose(markers["scores"], expected["scores"], rtol=1e-6)


def test_selected_embeddings_only(analysed, tmp_path: Path) -> None:
    written = export_csv(analysed, tmp_path, embeddings=["X_umap"], obs=False, markers=False)
    assert written == [tmp_path / "X_umap.csv"]


def test_one_group_still_has_a_group_column(tmp_path: Path) -> None:
    adata = make_counts(n_cells=20, n_genes=8, n_groups=2)
    adata.X = adata.X.log1p()
    rank_genes_groups(adata, "group", groups=["g0"], reference="g1", method="t-test")
    export_csv(adata, tmp_path, obs=False)
    markers = pd.read_csv(tmp_path / "markers.csv")
    assert set(markers["group"]) == {"g0"} and len(markers) == adata.n_vars


def test_no_markers_with_the_default_key_is_skipped(tmp_path: Path) -> None:
    adata = make_counts(n_cells=10, n_genes=5)
    assert export_csv(adata, tmp_path) == [tmp_path / "obs.csv"]


def test_missing_custom_marker_key(tmp_path: Path) -> None:
    with pytest.raises(MissingKeyError, match=r"uns\['wilcoxon'\] not found.*markers=False"):
        export_csv(make_counts(n_cells=10, n_genes=5), tmp_path, key="wilcoxon")
    assert list(tmp_path.iterdir()) == []


def test_missing_embedding(analysed, tmp_path: Path) -> None:
    with pytest.raises(MissingKeyError, match=r"obsm\['X_tsne'\] not found.*X_umap"):
        export_csv(analysed, tmp_path, embeddings=["X_tsne"])
    assert list(tmp_path.iterdir()) == []  # checked before anything is written


def test_embedding_key_that_is_no_file_name(analysed, tmp_path: Path) -> None:
    with pytest.raises(ParamError, match=r"'\.\./x'"):
        export_csv(analysed, tmp_path, embeddings=["../x"])


def test_directory_is_a_file(analysed, tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("")
    with pytest.raises(InputDataError, match="not a directory"):
        export_csv(analysed, target)


def test_bad_argument(analysed, tmp_path: Path) -> None:
    with pytest.raises(ParamError, match="embeddings"):
        export_csv(analysed, tmp_path, embeddings=5)


def test_failed_write_keeps_the_old_file(analysed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    export_csv(analysed, tmp_path, embeddings=[], markers=False)
    before = (tmp_path / "obs.csv").read_text()

    def broken(self: pd.DataFrame, path: Path, **kwargs: object) -> None:
        Path(path).write_text("half")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", broken)
    with pytest.raises(InputDataError, match=r"obs\.csv: OSError: disk full"):
        export_module.export_csv(analysed, tmp_path, embeddings=[], markers=False)
    assert (tmp_path / "obs.csv").read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["obs.csv"]
