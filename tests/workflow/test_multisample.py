"""Several samples in one analysis: per-sample QC, merge, integration and the methods compared.

The stage functions are tested on small objects; the workflow end to end on three samples
in three formats (a 10x mtx directory, a 10x h5 file and an h5ad), each a batch of one
simulated data set.
"""

from __future__ import annotations

import gzip
import html
import re
import shutil
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import pytest
from scipy import io as spio
from scipy import sparse
from workflow_helpers import snakemake, write_config

import scsnake as ss
from scsnake.errors import DataWarning, InputDataError, MissingKeyError
from scsnake.stages._graph import BbknnRun, NeighborsRunParams, neighbors
from scsnake.stages._integration import IntegrationParams, integration
from scsnake.stages._integration_metrics import IntegrationMetricsRun, integration_metrics
from scsnake.stages._merge import MergeParams, merge

SLOW = [
    pytest.mark.workflow,
    pytest.mark.once,
    pytest.mark.slow,
    pytest.mark.xdist_group("workflow-multisample"),
]


def _sample(name: str, n_cells: int, genes: list[str], seed: int, **obs: object) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    x = sparse.random(n_cells, len(genes), density=0.5, format="csr", dtype=np.float32, random_state=rng)
    x.data = np.ceil(x.data * 5)
    adata = ad.AnnData(
        x, obs=pd.DataFrame(index=[f"AAAC{i}-1" for i in range(n_cells)]), var=pd.DataFrame(index=genes)
    )
    adata.obs["sample"] = pd.Categorical([name] * n_cells)
    for key, value in obs.items():
        adata.obs[key] = pd.Categorical([value] * n_cells) if isinstance(value, str) else value
    adata.var["gene_ids"] = [f"ENSG{g}" for g in genes]
    adata.var["n_cells_by_counts"] = np.asarray((x > 0).sum(axis=0)).ravel()  # per-sample: recomputed
    adata.var["mt"] = [g.startswith("MT-") for g in genes]
    adata.uns["qc"] = {"params": "{}", "n_cells_after": n_cells, "before": {"passed": np.ones(n_cells, bool)}}
    adata.uns["scsnake"] = {"provenance": {"qc": {"stage": "qc", "params": "{}"}}}
    return adata


# --- merge -----------------------------------------------------------------------------------


def test_merge_concatenates_samples_with_unique_names_and_batches() -> None:
    a = _sample("a", 5, ["MT-1", "G1", "G2", "G3"], 0, donor="D1", age=30)
    b = _sample("b", 3, ["G1", "MT-1", "G2", "G4"], 1, donor="D2", lane="L1")
    merged = merge([a, b], MergeParams(enabled=True))
    assert merged.obs_names[:2].tolist() == ["AAAC0-1-a", "AAAC1-1-a"] and merged.obs_names.is_unique
    assert merged.var_names.tolist() == ["MT-1", "G1", "G2"]  # inner join, first sample's order
    assert merged.obs["sample"].cat.categories.tolist() == ["a", "b"]
    assert merged.obs["sample"].tolist() == ["a"] * 5 + ["b"] * 3
    assert merged.obs["donor"].tolist() == ["D1"] * 5 + ["D2"] * 3
    assert merged.obs["donor"].dtype == "category"
    assert (
        merged.obs["age"].isna().sum() == 3 and merged.obs["lane"].isna().sum() == 5
    )  # kept, empty elsewhere
    assert merged.var["gene_ids"].tolist() == ["ENSGMT-1", "ENSGG1", "ENSGG2"]  # equal in every sample: kept
    assert merged.var["mt"].tolist() == [True, False, False]
    expected = np.asarray((merged.X > 0).sum(axis=0)).ravel()
    np.testing.assert_array_equal(
        merged.var["n_cells_by_counts"], expected
    )  # recomputed on the merged counts
    np.testing.assert_array_equal(merged.X[5:].toarray(), b[:, ["MT-1", "G1", "G2"]].X.toarray())
    assert merged.uns["merge"]["samples"] == ["a", "b"] and merged.uns["merge"]["n_genes_merged"] == 3
    assert "before" not in merged.uns["merge"]["qc"]["a"]
    assert set(merged.uns["scsnake"]["provenance"]) == {"qc[a]", "qc[b]"}


def test_merge_writes_its_batch_key_and_warns_on_a_replaced_column() -> None:
    a, b = _sample("a", 4, ["G1", "G2"], 0, batch="x"), _sample("b", 4, ["G1", "G2"], 1, batch="y")
    with pytest.warns(
        DataWarning,
        match=r"merge.batch_key 'batch' replaces the obs column of that name in sample\(s\) \['a', 'b'\]",
    ):
        merged = merge([a, b], MergeParams(enabled=True, batch_key="batch"))
    assert merged.obs["batch"].tolist() == ["a"] * 4 + ["b"] * 4
    assert merged.obs["sample"].tolist() == ["a"] * 4 + ["b"] * 4


def test_merge_errors_and_warnings() -> None:
    a = _sample("a", 4, ["G1", "G2", "G3", "G4"], 0)
    with pytest.raises(InputDataError, match=r"merge: samples \['a', 'b'\] share no genes"):
        merge([a, _sample("b", 4, ["X1", "X2"], 1)], MergeParams())
    with pytest.raises(
        InputDataError, match=r"the inputs hold the same sample more than once \(\['a', 'a'\]\)"
    ):
        merge([a, a.copy()], MergeParams())
    # built outside pytest.warns, which re-emits other warnings without their module (so the ignores miss them)
    b = _sample("b", 4, ["G1", "X2", "X3"], 1)
    with pytest.warns(DataWarning, match=r"only 1 genes are common to all samples; \{'a': 4, 'b': 3\}"):
        merge([a, b], MergeParams())
    merged_twice = ad.concat([a, _sample("c", 2, ["G1", "G2", "G3", "G4"], 1)], index_unique="-")
    with pytest.raises(InputDataError, match=r"input 1 is not one sample's qc artifact"):
        merge([merged_twice, a], MergeParams())


# --- integration stages ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def batches() -> ad.AnnData:
    """Three batches of three cell types, with an uncorrected PCA."""
    adata = ss.datasets.synthetic(n_cells=450, n_genes=300, n_types=3, n_batches=3, batch_effect=1.0, seed=1)
    adata.obs["sample"] = adata.obs["batch"]
    ss.pp.normalize_total(adata)
    ss.pp.log1p(adata)
    ss.pp.highly_variable_genes(adata, n_top_genes=150)
    scaled = adata[:, adata.var["highly_variable"]].copy()
    ss.pp.scale(scaled)
    ss.pp.pca(scaled, n_comps=10, random_state=0)
    adata.obsm["X_pca"] = scaled.obsm["X_pca"]
    return adata


@pytest.mark.slow
def test_integration_stage_runs_harmony(batches: ad.AnnData) -> None:
    adata = batches.copy()
    integration(adata, IntegrationParams(method="harmony", batch_key="sample"), random_state=0)
    assert adata.obsm["X_pca_harmony"].shape == adata.obsm["X_pca"].shape
    assert not np.allclose(adata.obsm["X_pca_harmony"], adata.obsm["X_pca"])
    assert adata.uns["integration"] == {"method": "harmony", "batch_key": "sample", "n_batches": 3}
    with pytest.raises(InputDataError, match="runs Harmony only"):
        integration(adata, IntegrationParams(method="bbknn", batch_key="sample"), random_state=0)


def test_integration_stage_refuses_one_batch_and_a_missing_column(batches: ad.AnnData) -> None:
    one = batches[batches.obs["sample"] == "batch0"].copy()
    with pytest.raises(
        InputDataError, match=r"integration: obs\['sample'\] holds 1 batch\(es\) \['batch0'\]"
    ):
        integration(one, IntegrationParams(method="harmony", batch_key="sample"), random_state=0)
    with pytest.raises(MissingKeyError, match=r"batch column 'donor' not found in adata.obs"):
        integration(batches.copy(), IntegrationParams(method="harmony", batch_key="donor"), random_state=0)


def test_neighbors_stage_builds_a_batch_balanced_graph(batches: ad.AnnData) -> None:
    adata = batches.copy()
    params = NeighborsRunParams(bbknn=BbknnRun(batch_key="sample", neighbors_within_batch=4))
    neighbors(adata, params, random_state=0)
    assert adata.uns["neighbors"]["params"]["n_neighbors"] == 12  # 3 batches × 4
    assert adata.uns["neighbors"]["params"]["bbknn"]["batch_key"] == "sample"
    rows = adata.obsp["distances"][:5].tocsr()
    for i in range(5):  # every cell has neighbours in each batch
        assert set(adata.obs["sample"].iloc[rows[i].indices]) == {"batch0", "batch1", "batch2"}


@pytest.mark.slow
def test_integration_metrics_score_every_method(batches: ad.AnnData) -> None:
    run = IntegrationMetricsRun(integration=IntegrationParams(batch_key="sample"), pca={"n_comps": 10},
                                neighbors={"n_neighbors": 10})  # fmt: skip
    table = integration_metrics(batches, run, random_state=0)
    assert table["method"].tolist() == ["none", "combat", "harmony", "bbknn"]
    assert table.columns[:7].tolist() == [
        "method",
        "ilisi",
        "clisi",
        "kbet_acceptance",
        "ari",
        "nmi",
        "asw_label",
    ]
    assert set(table["label_key"]) == {"truth"} and set(table["batch_key"]) == {"sample"}
    scores = table.set_index("method")
    assert scores.loc["harmony", "ilisi"] > scores.loc["none", "ilisi"]  # a strong batch effect, mixed
    assert scores.loc["combat", "kbet_acceptance"] > scores.loc["none", "kbet_acceptance"]
    assert (table[["ari", "nmi"]] <= 1).all().all() and (table["n_clusters"] >= 2).all()
    assert "X_pca_harmony" not in batches.obsm  # the input is not changed
    # without known cell types the uncorrected clusters are the labels
    unlabelled = batches.copy()
    del unlabelled.obs["truth"]
    fallback = integration_metrics(unlabelled, run, random_state=0).set_index("method")
    assert set(fallback["label_key"]) == {"leiden_uncorrected"}
    assert fallback.loc["none", "ari"] == 1.0
    with pytest.raises(MissingKeyError, match=r"integration\.label_key 'cell_type' not found"):
        integration_metrics(batches, run.model_copy(update={"integration": IntegrationParams(label_key="cell_type")}),
                            random_state=0)  # fmt: skip


# --- the workflow end to end -----------------------------------------------------------------


def _write_10x_mtx(directory: Path, adata: ad.AnnData) -> Path:
    """Cell Ranger v3 ``filtered_feature_bc_matrix/``: gzipped features × cells mtx, features, barcodes."""
    directory.mkdir(parents=True)
    spio.mmwrite(directory / "matrix.mtx", sparse.coo_matrix(adata.X.T).astype(np.int64), field="integer")
    with (directory / "matrix.mtx").open("rb") as src, gzip.open(directory / "matrix.mtx.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    (directory / "matrix.mtx").unlink()
    with gzip.open(directory / "features.tsv.gz", "wt") as f:
        f.writelines(
            f"{i}\t{n}\tGene Expression\n"
            for i, n in zip(adata.var["gene_ids"], adata.var_names, strict=True)
        )
    with gzip.open(directory / "barcodes.tsv.gz", "wt") as f:
        f.write("\n".join(adata.obs_names) + "\n")
    return directory


def _write_10x_h5(path: Path, adata: ad.AnnData) -> Path:
    """Cell Ranger v3 ``filtered_feature_bc_matrix.h5`` (CSC features × cells, features group)."""
    csc = sparse.csc_matrix(adata.X.T).astype(np.int32)
    with h5py.File(path, "w") as f:
        m = f.create_group("matrix")
        m["barcodes"] = np.array(adata.obs_names, dtype="S")
        m["data"], m["indices"], m["indptr"] = (
            csc.data,
            csc.indices.astype(np.int64),
            csc.indptr.astype(np.int64),
        )
        m["shape"] = np.array(csc.shape, dtype=np.int32)
        features = m.create_group("features")
        features["id"] = np.array(adata.var["gene_ids"], dtype="S")
        features["name"] = np.array(adata.var_names, dtype="S")
        features["feature_type"] = np.array(["Gene Expression"] * adata.n_vars, dtype="S")
        features["genome"] = np.array(["GRCh38"] * adata.n_vars, dtype="S")
    return path


SHEET = (
    "sample\tinput\tformat\tqc.min_genes\tdonor\tage\tcondition\n"
    "# one batch of the simulation per sample, each in another format; two conditions, two samples each\n"
    "S1\tdata/S1_filtered\t\t20\tD1\t30\tA\n"
    "S2\tdata/S2.h5\t10x_h5\t\tD2\t41\tB\n"
    "S3\tdata/S3.h5ad\tauto\t25\tD3\t\tA\n"
    "S4\tdata/S4.h5ad\t\t\tD4\t52\tB\n"
)
CONFIG = {
    "seed": 0,
    "samples": "samples.tsv",
    "qc": {"min_genes": 20, "min_cells": 1},
    "merge": {"enabled": True},
    "hvg": {"n_top_genes": 150},
    "pca": {"n_comps": 15},
    "integration": {"method": "harmony", "compare": True},
    "neighbors": {"n_neighbors": 10},
    "umap": {"maxiter": 50},
    "leiden": {"resolution": 0.5},  # a few clusters: PyDESeq2 fits each one's pseudobulks
    "markers": {"method": "t-test", "n_table_genes": 5},
    "pseudobulk": {"enabled": True, "min_cells": 10},
    "de": {"enabled": True, "design": "~condition", "contrast": ["condition", "B", "A"], "n_table_genes": 3},
    "plots": {"dpi": 60},
}


@pytest.fixture(scope="module")
def merged_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One run on four samples (≈300 cells × 500 genes each) in two conditions: merged, Harmony,
    methods compared, pseudobulks and their differential expression."""
    workdir = tmp_path_factory.mktemp("multisample")
    full = ss.datasets.synthetic(n_cells=1200, n_genes=500, n_types=3, n_batches=4, seed=0)
    s1, s2, s3, s4 = (full[full.obs["batch"] == b].copy() for b in full.obs["batch"].cat.categories)
    (workdir / "data").mkdir()
    _write_10x_mtx(workdir / "data" / "S1_filtered", s1)
    _write_10x_h5(workdir / "data" / "S2.h5", s2)
    s3.write_h5ad(workdir / "data" / "S3.h5ad")
    s4.write_h5ad(workdir / "data" / "S4.h5ad")
    (workdir / "samples.tsv").write_text(SHEET)
    snakemake(workdir, config=write_config(workdir, CONFIG))
    return workdir


class TestMergedRun:
    """The workflow on four samples: merged, Harmony, the methods compared, conditions compared."""

    pytestmark = SLOW

    def test_merged_run_ends_in_one_integrated_object(self, merged_run: Path) -> None:
        results = merged_run / "results"
        final = ad.read_h5ad(results / "merged" / "final.h5ad")
        assert final.obs["sample"].cat.categories.tolist() == ["S1", "S2", "S3", "S4"]
        assert final.obs_names.str.endswith(("-S1", "-S2", "-S3", "-S4")).all() and final.obs_names.is_unique
        assert final.obs["donor"].cat.categories.tolist() == ["D1", "D2", "D3", "D4"]
        assert final.obs.loc[final.obs["sample"] == "S3", "age"].isna().all()
        assert {"X_pca", "X_pca_harmony", "X_umap"} <= set(final.obsm)
        assert "leiden" in final.obs and "rank_genes_groups" in final.uns
        assert final.uns["neighbors"]["params"]["use_rep"] == "X_pca_harmony"
        assert "highly_variable_nbatches" in final.var  # HVGs per sample, combined
        records = final.uns["scsnake"]["provenance"]
        assert {"load[S1]", "qc[S2]", "merge", "integration", "neighbors", "final"} <= set(records)
        assert final.uns["merge"]["qc"]["S1"]["n_cells_after"] == (final.obs["sample"] == "S1").sum()
        for sample in ("S1", "S2", "S3", "S4"):  # QC figures per input sample; nothing after qc
            assert (results / sample / "figures" / "qc_violin.png").is_file()
            assert not (results / sample / "normalize.h5ad").exists()
        assert (results / "merged" / "markers.csv").is_file() and (
            results / "merged" / "figures" / "umap_clusters.png"
        ).is_file()
        table = pd.read_csv(results / "merged" / "integration_metrics.csv")
        assert table["method"].tolist() == ["none", "combat", "harmony", "bbknn"]
        assert {"ilisi", "clisi", "kbet_acceptance", "ari", "nmi", "asw_label"} <= set(table.columns)
        assert set(table["label_key"]) == {"leiden_uncorrected"}  # 10x files carry no truth labels

    def test_conditions_compared_on_pseudobulks(self, merged_run: Path) -> None:
        merged = merged_run / "results" / "merged"
        final = ad.read_h5ad(merged / "final.h5ad")
        pdata = ad.read_h5ad(merged / "pseudobulk.h5ad")
        assert {"sample", "leiden", "n_cells", "condition", "donor", "age"} <= set(pdata.obs.columns)
        assert set(pdata.obs["sample"]) == {"S1", "S2", "S3", "S4"} and (pdata.obs["n_cells"] >= 10).all()
        conditions = pdata.obs.groupby("sample", observed=True)["condition"].first().astype(str)
        assert conditions.to_dict() == {"S1": "A", "S2": "B", "S3": "A", "S4": "B"}  # from the sample sheet
        # X: the raw counts of each sample's cells of a cluster, summed
        first = pdata.obs.iloc[0]
        cells = (final.obs["sample"] == first["sample"]) & (final.obs["leiden"] == first["leiden"])
        summed = np.asarray(final.layers["counts"][cells.to_numpy()].sum(axis=0)).ravel()
        np.testing.assert_allclose(sparse.csr_matrix(pdata.X)[0].toarray().ravel(), summed)
        assert int(first["n_cells"]) == int(cells.sum())
        assert (
            "pseudobulk" in pdata.uns["scsnake"]["provenance"]
            and "final" in pdata.uns["scsnake"]["provenance"]
        )
        table = pd.read_csv(merged / "de.csv")
        assert table.columns.tolist() == [
            "group", "gene", "baseMean", "log2FoldChange", "lfcSE", "stat", "pvalue", "padj",
        ]  # fmt: skip
        assert len(table) > 0 and set(table["gene"]) <= set(final.var_names)
        assert table["pvalue"].dropna().between(0, 1).all()
        stored = ad.read_h5ad(merged / "de.h5ad").uns["de"]
        tested, skipped = set(table["group"].astype(str)), set(stored["skipped"])
        assert tested and tested | skipped == set(pdata.obs["leiden"].astype(str)) and not tested & skipped
        view = (merged / "de.html").read_text()
        assert all(html.escape(f"skipped: {reason}") in view for reason in stored["skipped"].values())
        for figure in ("de_volcano", "de_ma", "pseudobulk_pca"):
            assert (merged / "figures" / f"{figure}.png").stat().st_size > 0, figure

    def test_per_sample_qc_overrides_apply(self, merged_run: Path) -> None:
        import json

        for sample, min_genes in (("S1", 20), ("S2", 20), ("S3", 25)):
            qc = ad.read_h5ad(merged_run / "results" / sample / "qc.h5ad", backed="r")
            assert json.loads(qc.uns["qc"]["params"])["min_genes"] == min_genes
            assert qc.obs["n_genes_by_counts"].min() >= min_genes
            qc.file.close()

    def test_changing_one_samples_qc_reruns_only_that_sample(self, merged_run: Path, tmp_path: Path) -> None:
        workdir = tmp_path / "rerun"
        shutil.copytree(merged_run, workdir, symlinks=True)
        (workdir / "samples.tsv").write_text(
            SHEET.replace("S2\tdata/S2.h5\t10x_h5\t\t", "S2\tdata/S2.h5\t10x_h5\t40\t")
        )
        proc = snakemake(workdir, "--dry-run", config=workdir / "config.yaml")
        jobs = re.findall(r"rule (\w+):\n(?:    .*\n)*?    wildcards: sample=(\w+)", proc.stdout)
        per_sample = {(rule, sample) for rule, sample in jobs if sample != "merged"}
        assert per_sample == {("qc", "S2"), ("qc_plots", "S2")}, proc.stdout
        merged = {rule for rule, sample in jobs if sample == "merged"}
        assert {
            "normalize",
            "hvg",
            "pca",
            "integration",
            "integration_metrics",
            "neighbors",
            "final",
            "pseudobulk",
            "de",
            "de_plots",
        } <= merged
        assert "rule merge:" in proc.stdout and "rule load:" not in proc.stdout

    def test_unchanged_merged_run_plans_nothing_and_reports_the_metrics(self, merged_run: Path) -> None:
        proc = snakemake(merged_run, "--dry-run", config=merged_run / "config.yaml")
        assert "Nothing to be done" in proc.stdout, proc.stdout
        snakemake(merged_run, "--report", "report.html", config=merged_run / "config.yaml")
        html = (merged_run / "report.html").read_text(errors="replace")
        assert "integration_metrics.csv" in html and "Integration" in html
        assert "de.csv" in html and "Differential expression" in html and "de_volcano" in html
