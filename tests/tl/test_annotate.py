"""annotate_clusters and read_marker_file: scores by hand, synthetic truth, layouts, errors."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from scsnake import datasets, pp, tl
from scsnake.errors import DataWarning, InputDataError, MissingKeyError, ParamError
from scsnake.tl._annotate import read_marker_file

MARKERS = {"T": ["Cd3e", "Cd3d"], "B": ["Cd19"], "Mono": ["Lyz2", "Cd14"]}


def tiny(fmt: str = "dense", dtype: type = np.float32) -> ad.AnnData:
    """9 cells in clusters 0 (T-like), 1 (B-like), 2 (mono-like) × 6 genes."""
    x = np.array(
        [
            [3, 2, 0, 0, 0, 1],
            [2, 3, 0, 1, 0, 0],
            [3, 3, 0, 0, 0, 2],
            [0, 0, 4, 0, 0, 1],
            [1, 0, 3, 0, 0, 0],
            [0, 0, 5, 0, 1, 1],
            [0, 0, 0, 4, 3, 0],
            [0, 1, 0, 5, 2, 1],
            [0, 0, 1, 3, 4, 0],
        ],
        dtype=dtype,
    )
    obs = pd.DataFrame({"leiden": pd.Categorical(list("000111222"))}, index=[f"c{i}" for i in range(9)])
    adata = ad.AnnData(x, obs=obs, var=pd.DataFrame(index=["Cd3e", "Cd3d", "Cd19", "Lyz2", "Cd14", "Actb"]))
    if fmt != "dense":
        adata.X = getattr(sparse, f"{fmt}_matrix")(x)
    return adata


@pytest.mark.parametrize("fmt", ["dense", "csr", "csc"])
def test_scores_by_hand(fmt):
    adata = tiny(fmt)
    adata.X = adata.X.log1p() if sparse.issparse(adata.X) else np.log1p(adata.X)
    table = tl.annotate_clusters(adata, MARKERS)
    x = np.log1p(tiny().X.astype(np.float64))
    z = (x - x.mean(axis=0)) / x.std(axis=0, ddof=1)
    clusters = adata.obs["leiden"].to_numpy()
    want = pd.DataFrame(
        {
            t: [z[clusters == c][:, [adata.var_names.get_loc(g) for g in genes]].mean() for c in "012"]
            for t, genes in MARKERS.items()
        },
        index=pd.Index(list("012"), name="leiden"),
    )
    pd.testing.assert_frame_equal(table, want, rtol=1e-6)
    assert adata.uns["cell_type_scores"] is table
    assert adata.obs["cell_type"].tolist() == ["T"] * 3 + ["B"] * 3 + ["Mono"] * 3
    assert list(adata.obs["cell_type"].cat.categories) == ["T", "B", "Mono"]


def test_int_and_float_agree():
    with pytest.warns(DataWarning, match="expects log-normalised data"):
        ints = tl.annotate_clusters(tiny(dtype=np.int64), MARKERS)
    with pytest.warns(DataWarning, match="expects log-normalised data"):
        floats = tl.annotate_clusters(tiny(dtype=np.float32), MARKERS)
    pd.testing.assert_frame_equal(ints, floats)


def test_min_score_unassigned_and_nan_clusters():
    adata = tiny()
    adata.X = np.log1p(adata.X)
    adata.obs["leiden"] = pd.Categorical([*"0001112", np.nan, np.nan], categories=list("0123"))
    table = tl.annotate_clusters(
        adata, {"T": ["Cd3e"], "Mono": ["Lyz2"]}, min_score=0.5, unassigned="?", key_added="ct"
    )
    assert list(table.index) == ["0", "1", "2"]  # empty category 3 left out
    labels = adata.obs["ct"]
    assert labels.tolist()[:7] == ["T"] * 3 + ["?"] * 3 + ["Mono"]
    assert labels.isna().tolist()[7:] == [True, True]
    assert list(labels.cat.categories) == ["T", "Mono", "?"]
    assert "ct_scores" in adata.uns


def test_ties_go_to_the_first_type():
    adata = tiny()
    adata.X = np.log1p(adata.X)
    tl.annotate_clusters(adata, {"first": ["Cd19"], "second": ["Cd19"]})
    assert adata.obs["cell_type"].tolist()[3:6] == ["first"] * 3


def test_recovers_synthetic_truth(tmp_path):
    adata = datasets.synthetic(800, 600, 5, seed=2)
    pp.normalize_total(adata, target_sum=1e4)
    pp.log1p(adata)
    half = np.arange(adata.n_obs) % 2 == 0
    reference, query = adata[half].copy(), adata[~half].copy()
    # marker programmes are not stored by the simulator: learn them on one half ...
    tl.rank_genes_groups(reference, "truth", n_genes=10)
    names = reference.uns["rank_genes_groups"]["names"]
    markers = {t: list(names[t]) for t in names.dtype.names}
    # ... and annotate anonymous clusters of the other half
    codes = query.obs["truth"].cat.codes.to_numpy()
    query.obs["leiden"] = pd.Categorical(((codes * 3 + 1) % 5).astype(str))
    table = tl.annotate_clusters(query, markers)
    np.testing.assert_array_equal(query.obs["cell_type"].astype(str), query.obs["truth"].astype(str))
    assert (table.max(axis=1) > 0.3).all()
    query.write_h5ad(tmp_path / "q.h5ad")  # the score table is h5ad-writable
    pd.testing.assert_frame_equal(ad.read_h5ad(tmp_path / "q.h5ad").uns["cell_type_scores"], table)


def test_marker_file(tmp_path):
    path = tmp_path / "markers.yaml"
    path.write_text("T:\n  - Cd3e\n  - Cd3d\nB: [Cd19]\n'Mono': [Lyz2, Cd14]\n")
    assert read_marker_file(path) == MARKERS
    adata = tiny()
    adata.X = np.log1p(adata.X)
    table = tl.annotate_clusters(adata, str(path))
    assert list(table.columns) == ["T", "B", "Mono"]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("T: [Cd3e\n", "is not valid YAML"),
        ("- Cd3e\n- Cd19\n", "must map each cell type to a list of genes.*got list"),
        ("", "got an empty file"),
        ("T: Cd3e\n", "entry 'T': expected a non-empty list of gene names, got 'Cd3e'"),
        ("T: []\n", "entry 'T': expected a non-empty list"),
        ("T: [Cd3e, NO]\n", "entry 'T': False is not a gene name.*quote it"),
    ],
)
def test_marker_file_errors(tmp_path, text, match):
    path = tmp_path / "m.yaml"
    path.write_text(text)
    with pytest.raises(InputDataError, match=f"marker file '{path}'.*{match}"):
        read_marker_file(path)


def test_errors(tmp_path):
    adata = tiny()
    adata.X = np.log1p(adata.X)
    with pytest.warns(DataWarning, match=r"not in var_names are skipped \(T: Cd8a\)"):
        tl.annotate_clusters(adata, {"T": ["Cd3e", "Cd8a"], "B": ["Cd19"]})
    with pytest.warns(DataWarning, match="'NK' have no marker gene in var_names and are dropped"):
        table = tl.annotate_clusters(adata, {"NK": ["Nkg7"], "B": ["Cd19"]})
    assert list(table.columns) == ["B"]
    with (
        pytest.raises(InputDataError, match="none of the marker genes of 1 cell type"),
        pytest.warns(DataWarning),
    ):
        tl.annotate_clusters(adata, {"NK": ["Nkg7"]})
    with pytest.raises(MissingKeyError, match=r"groupby 'louvain' not found.*leiden"):
        tl.annotate_clusters(adata, MARKERS, groupby="louvain")
    with pytest.raises(ParamError, match="unassigned='T' is also a cell type"):
        tl.annotate_clusters(adata, MARKERS, unassigned="T")
    with pytest.raises(ParamError, match="method"):
        tl.annotate_clusters(adata, MARKERS, method="max")
    with pytest.raises(ParamError, match="markers"):
        tl.annotate_clusters(adata, {"T": "Cd3e"})
    with pytest.raises(InputDataError, match=r"marker file .*missing.yaml' cannot be read"):
        tl.annotate_clusters(adata, tmp_path / "missing.yaml")
    with pytest.raises(MissingKeyError, match=r"no .raw"):
        tl.annotate_clusters(adata, MARKERS, use_raw=True)
    adata.obs["leiden"] = pd.Categorical([np.nan] * 9, categories=["0"])
    with pytest.raises(InputDataError, match="no cells with a cluster"):
        tl.annotate_clusters(adata, MARKERS)
    adata = tiny()
    adata.X[0, 0] = np.nan
    with pytest.raises(InputDataError, match="NaN or infinite"):
        tl.annotate_clusters(adata, MARKERS)
