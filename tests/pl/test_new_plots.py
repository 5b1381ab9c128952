"""The plots scanpy users reach for most, added for issue 21: each reads scanpy's keys and draws them.

The results come from scsnake's own tools (tl.embedding_density, pp.scrublet, tl.dendrogram,
tl.paga, tl.dpt), which store them under scanpy's keys.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import anndata as ad
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import scsnake
import scsnake as ss
from factories import make_counts
from scsnake.errors import MissingKeyError, ParamError


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(scsnake, "settings", None, raising=False)
    plt.close("all")
    yield
    leaked = plt.get_fignums()
    plt.close("all")
    assert not leaked, f"figures left open: {leaked}"


@pytest.fixture(scope="module")
def base() -> ad.AnnData:
    """80 cells × 20 genes in 3 groups along a path: PCA, graph, UMAP-like layout, paga, dpt."""
    adata = make_counts(80, 20, n_groups=3, seed=2)
    adata.layers["counts"] = adata.X.copy()
    adata.X = adata.X.log1p()
    ss.pp.pca(adata, n_comps=5)
    ss.pp.neighbors(adata, n_neighbors=8, use_rep="X_pca")
    codes = adata.obs["group"].cat.codes.to_numpy()
    rng = np.random.default_rng(1)
    adata.obsm["X_umap"] = codes[:, None] * np.array([2.0, 0.5]) + rng.normal(0, 0.5, (80, 2))
    ss.tl.embedding_density(adata, basis="umap", groupby="group")
    ss.tl.embedding_density(adata, basis="umap")
    ss.tl.paga(adata, groups="group")
    ss.tl.diffmap(adata, n_comps=5)
    adata.uns["iroot"] = int(np.argmin(adata.obsm["X_umap"][:, 0]))
    ss.tl.dpt(adata, n_dcs=5, n_branchings=1, min_group_size=0.1)
    adata.obs["doublet_score"] = rng.uniform(0, 0.5, 80)
    adata.uns["scrublet"] = {"doublet_scores_sim": rng.uniform(0, 1, 160), "threshold": 0.3}
    return adata


@pytest.fixture
def adata(base) -> ad.AnnData:
    return base.copy()


def test_embedding_density_per_group(adata, tmp_path):
    axes = ss.pl.embedding_density(adata, groupby="group", show=False)
    assert [a.get_title() for a in axes] == ["g0", "g1", "g2"]
    one = ss.pl.embedding_density(adata, groupby="group", group="g1", show=False, save=".png")
    coloured = max(one.collections, key=lambda c: 0 if c.get_array() is None else len(c.get_array()))
    assert len(coloured.get_array()) == (adata.obs["group"] == "g1").sum()
    assert (tmp_path / "figures" / "umap_density_group_.png").exists()
    ax = ss.pl.embedding_density(adata, show=False)  # without a covariate: every cell
    assert ax.get_title() == ""
    with pytest.raises(MissingKeyError, match=r"run tl\.embedding_density"):
        ss.pl.embedding_density(adata, basis="pca")
    plt.close("all")


def test_scrublet_score_distribution(adata):
    obs_ax, sim_ax = ss.pl.scrublet_score_distribution(adata, show=False)
    assert obs_ax.get_title().startswith("Observed") and obs_ax.get_yscale() == "log"
    assert list(sim_ax.lines[0].get_xdata()) == [0.3, 0.3]  # the threshold
    adata.obs["batch"] = pd.Categorical(np.repeat(["a", "b"], 40))
    per_batch = {b: dict(adata.uns["scrublet"]) for b in ("a", "b")}
    adata.uns["scrublet"] = {"batches": per_batch, "batched_by": "batch"}
    fig = ss.pl.scrublet_score_distribution(adata, return_fig=True)
    assert len(fig.axes) == 4 and fig.axes[2].get_title() == "Observed transcriptomes (b)"
    plt.close("all")
    with pytest.raises(MissingKeyError, match=r"run pp\.scrublet"):
        ss.pl.scrublet_score_distribution(make_counts(20, 10))


def test_correlation_matrix_computes_its_dendrogram(adata):
    tree, matrix, _ = ss.pl.correlation_matrix(adata, "group", show_correlation_numbers=True, show=False)
    entry = adata.uns["dendrogram_group"]
    order = [str(c) for c in entry["categories_ordered"]]
    assert [t.get_text() for t in matrix.get_yticklabels()] == order
    assert len(matrix.texts) == 9 and tree.lines
    _, ax = plt.subplots()
    assert ss.pl.correlation_matrix(adata, "group", ax=ax, show=False) == [ax]  # no tree in a given Axes
    plt.close("all")


def test_ranking_and_pca_overview(adata, tmp_path):
    adata.var["score"] = np.arange(adata.n_vars, dtype=float)
    (ax,) = ss.pl.ranking(adata, "var", "score", n_points=5, show=False)
    assert [t.get_text() for t in ax.texts] == list(adata.var_names[::-1][:5])
    axes = ss.pl.ranking(adata, "varm", "PCs", indices=[0, 1], n_points=4, show=False)
    assert [a.get_title() for a in axes] == ["PCs1", "PCs2"]
    with pytest.raises(MissingKeyError):
        ss.pl.ranking(adata, "obs", "nope")
    results = ss.pl.pca_overview(adata, color="group", save="_o.png", show=False)
    assert len(results) == 3
    assert {p.name for p in (tmp_path / "figures").iterdir()} == {
        "pca_o.png",
        "pca_loadings_o.png",
        "pca_variance_ratio_o.png",
    }
    plt.close("all")


def test_paga_compare_and_path(adata):
    left, right = ss.pl.paga_compare(adata, basis="umap", show=False)
    assert left.get_xlim() == right.get_xlim() and "pos" in adata.uns["paga"]
    medians = [
        np.median(adata.obsm["X_umap"][(adata.obs["group"] == g).to_numpy()], 0) for g in ("g0", "g1", "g2")
    ]
    np.testing.assert_allclose(adata.uns["paga"]["pos"], medians)
    ax, data = ss.pl.paga_path(
        adata, ["g0", "g1", 2], ["Gene5", "Gene6"], n_avg=3, return_data=True, show=False
    )
    assert list(data.columns) == ["dpt_pseudotime", "Gene5", "Gene6"] and len(data) == adata.n_obs
    assert [t.get_text() for t in ax.get_xticklabels()] == ["g0", "g1", "g2"]
    with pytest.raises(ParamError, match="nodes"):
        ss.pl.paga_path(adata, ["g9"], ["Gene5"])
    plt.close("all")


def test_dpt_plots(adata):
    ax = ss.pl.dpt_timeseries(adata, show=False)
    assert ax.get_xlabel() == "dpt order" and len(ax.get_yticklabels()) == adata.n_vars
    fig = ss.pl.dpt_timeseries(adata, as_heatmap=False, return_fig=True)
    assert isinstance(fig, Figure)
    plt.close(fig)
    top, bottom = ss.pl.dpt_groups_pseudotime(adata, show=False)
    assert top.get_ylabel() == "dpt groups" and bottom.get_ylabel() == "pseudotime"
    plt.close("all")
    with pytest.raises(MissingKeyError, match=r"tl\.dpt"):
        ss.pl.dpt_groups_pseudotime(make_counts(20, 10))
