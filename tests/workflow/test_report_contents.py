"""What the report holds: QC before/after (from the qc artifact), cluster sizes, config and versions.

The fast tests run the pieces (qc stage, qc_plots runner path, run-info CLI, caption values);
the slow one runs the workflow and reads the HTML report.
"""

from __future__ import annotations

import copy
import json
import re
from importlib.metadata import version
from pathlib import Path

import anndata as ad
import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from workflow_helpers import TINY_CONFIG, snakemake, write_config

from factories import make_counts
from scsnake.cli import main
from scsnake.config import load_config, stage_params_json, validate_config
from scsnake.errors import MissingKeyError
from scsnake.runner import PROVENANCE_PACKAGES, run_stage
from scsnake.stages._plots import (
    QC_FIGURES,
    caption_values,
    figure_names,
    qc_figure_names,
    sample_config_json,
)
from scsnake.stages._qc import QcParams, qc, qc_cells_table

REQUIRED_VERSIONS = {
    "python", "scsnake", "anndata", "numpy", "scipy", "scikit-learn", "umap-learn", "igraph", "leidenalg", "snakemake",
}  # fmt: skip


# ----------------------------------------------------------------------------- qc: every input cell


@pytest.mark.parametrize("fmt", ["dense", "csr", "csc"])
@pytest.mark.parametrize("dtype", [np.int64, np.float32])
def test_qc_keeps_the_metrics_of_every_input_cell(fmt: str, dtype: type) -> None:
    adata = make_counts(120, 40, fmt=fmt, dtype=dtype, seed=5)
    x = adata.X.toarray() if sparse.issparse(adata.X) else np.asarray(adata.X)
    n_genes, total = (x > 0).sum(1), x.sum(1, dtype=np.float64)
    pct_mt = 100 * x[:, :2].sum(1) / total  # MT-0, MT-1
    params = QcParams(
        qc_vars={"mt": "^MT-", "ribo": "^RPS"},  # the genes of make_counts (no haemoglobin genes)
        min_genes=12,
        max_counts=int(np.quantile(total, 0.9)),
        max_pct_mt=8.0,
        min_cells=1,
        percent_top=[],
    )
    expected = (n_genes >= 12) & (total <= params.max_counts) & (pct_mt <= 8.0)
    assert 0 < expected.sum() < len(expected)  # the thresholds bite
    names = adata.obs_names.copy()
    qc(adata, params)
    before = adata.uns["qc"]["before"]
    assert set(before) == {"n_genes_by_counts", "total_counts", "pct_counts_mt", "passed"}
    assert all(len(v) == 120 for v in before.values())
    np.testing.assert_array_equal(before["passed"], expected)
    np.testing.assert_array_equal(before["n_genes_by_counts"], n_genes)
    np.testing.assert_allclose(before["total_counts"], total, rtol=1e-6)
    np.testing.assert_allclose(before["pct_counts_mt"], pct_mt, rtol=1e-5)
    assert before["n_genes_by_counts"].dtype == np.int32 and before["total_counts"].dtype == np.float32
    assert list(adata.obs_names) == list(names[expected])  # the cells that passed, in order
    table = qc_cells_table(adata)
    assert list(table.columns) == ["n_genes_by_counts", "total_counts", "pct_counts_mt", "passed"]
    assert len(table) == 120 and table["passed"].sum() == adata.n_obs
    np.testing.assert_allclose(
        table.loc[table["passed"], "total_counts"], adata.obs["total_counts"], rtol=1e-6
    )


def test_qc_pass_flag_counts_removed_doublets() -> None:
    import scsnake as ss

    adata = ss.datasets.synthetic(n_cells=300, n_genes=200, n_types=3, doublet_rate=0.1, seed=1)
    names = adata.obs_names.copy()
    params = QcParams(qc_vars={"ribo": "^RP[SL]"}, min_genes=10, min_cells=1, max_pct_mt=None,
                      doublets={"enabled": True, "threshold": 0.2})  # fmt: skip
    qc(adata, params)
    passed = np.asarray(adata.uns["qc"]["before"]["passed"])
    assert adata.uns["qc"]["removed"]["doublets"] > 0
    assert passed.sum() == adata.n_obs and list(adata.obs_names) == list(names[passed])
    assert "pct_counts_mt" not in adata.uns["qc"]["before"]  # no mt gene set: only the metrics computed


def test_qc_table_written_by_the_runner(tmp_path: Path) -> None:
    config = validate_config({"samples": {"s": {"synthetic": {"n_cells": 200, "n_genes": 200, "n_types": 2}}},
                              "qc": {"min_genes": 150, "min_cells": 1}})  # fmt: skip
    load, out, table = tmp_path / "load.h5ad", tmp_path / "qc.h5ad", tmp_path / "qc_cells.csv"
    run_stage("load", inputs=[], output=load, params_json=stage_params_json(config, "load", "s"), sample="s")
    run_stage("qc", inputs=[load], output=out, params_json=stage_params_json(config, "qc"), table=table)
    cells = pd.read_csv(table)
    kept = ad.read_h5ad(out)
    assert len(cells) == 200 and cells["passed"].sum() == kept.n_obs < 200
    failed = cells[~cells["passed"]]
    assert ((failed["n_genes_by_counts"] < 150) | (failed["pct_counts_mt"] > 20)).all()
    np.testing.assert_array_equal(qc_cells_table(kept)["passed"], cells["passed"])


# ----------------------------------------------------------------------------- qc_plots, run-info


def test_qc_figures_come_from_the_qc_artifact(tmp_path: Path) -> None:
    config = validate_config({"samples": {"s": {"synthetic": {"n_cells": 150, "n_genes": 150, "n_types": 2}}},
                              "qc": {"min_genes": 100, "min_cells": 1}})  # fmt: skip
    load, out, figures = tmp_path / "load.h5ad", tmp_path / "qc.h5ad", tmp_path / "figures"
    run_stage("load", inputs=[], output=load, params_json=stage_params_json(config, "load", "s"), sample="s")
    run_stage("qc", inputs=[load], output=out, params_json=stage_params_json(config, "qc"))
    run_stage("qc_plots", inputs=[out], output=figures, params_json=stage_params_json(config, "plots"))
    assert sorted(p.stem for p in figures.iterdir()) == sorted(QC_FIGURES)
    for path in figures.iterdir():
        image = mpimg.imread(path)
        assert image.shape[0] >= 150 and image.shape[1] >= 300 and image[..., :3].std() > 0.01
    with pytest.raises(
        MissingKeyError, match=r"qc_plots needs uns\['qc'\] \(written by `qc`\); not found in .*load\.h5ad"
    ):
        run_stage(
            "qc_plots",
            inputs=[load],
            output=tmp_path / "other",
            params_json=stage_params_json(config, "plots"),
        )


def test_qc_overview_widens_its_axes_to_show_every_threshold() -> None:
    import matplotlib.pyplot as plt

    from scsnake import pl

    adata = make_counts(80, 30, seed=2)
    adata.obs["n_genes_by_counts"] = np.asarray((adata.X > 0).sum(1)).ravel()
    low, high = int(adata.obs["n_genes_by_counts"].min()) - 5, int(adata.obs["n_genes_by_counts"].max()) + 5
    fig = pl.qc_overview(
        adata, keys=["n_genes_by_counts"], thresholds={"n_genes_by_counts": (low, high)}, return_fig=True
    )
    left, right = fig.axes[0].get_xlim()
    assert left < low and right > high  # both lines lie outside the data, yet are drawn inside the axes
    assert [line.get_xdata()[0] for line in fig.axes[0].lines] == [low, high]
    plt.close(fig)


def test_figure_rules_split_qc_from_final() -> None:
    config = validate_config({"paga": {"enabled": True}})
    assert qc_figure_names(config) == ["qc_violin", "qc_overview"]
    final_figures = figure_names(config)
    assert "cluster_sizes" in final_figures and "paga" in final_figures
    assert not set(final_figures) & set(QC_FIGURES)


def test_caption_values_are_the_validated_sections() -> None:
    config = validate_config(
        {"seed": 4, "leiden": {"resolution": 0.7}, "qc": {"max_pct_mt": 12}, "tsne": {"enabled": True}}
    )
    plots = caption_values(config, "plots")
    assert plots["leiden"]["resolution"] == 0.7 and plots["leiden"]["random_state"] == 4
    assert plots["neighbors"]["n_neighbors"] == 15 and plots["plots"]["n_marker_genes"] == 3
    assert "tsne" in plots and "paga" not in plots and "qc" not in plots
    assert caption_values(config, "qc_plots")["qc"]["max_pct_mt"] == 12.0


def test_run_info_writes_the_validated_config_and_versions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = {"samples": {"a": {"input": "synthetic"}, "b": {"input": "synthetic"}}, "leiden": {"resolution": 0.3},
           "hvg": {"n_top_genes": 100}}  # fmt: skip
    config = validate_config(raw)
    config_path, versions_path = tmp_path / "b" / "config.yaml", tmp_path / "b" / "versions.csv"
    args = ["run-info", "--params", sample_config_json(config, "b"), "--config", str(config_path),
            "--versions", str(versions_path), "--snakemake", "9.9.9"]  # fmt: skip
    assert main(args) == 0
    text = config_path.read_text()
    assert text.startswith("# The validated scsnake config of sample b")
    reread = load_config(config_path)
    assert list(reread.samples) == ["b"]
    assert reread.model_dump(exclude={"samples"}) == config.model_dump(
        exclude={"samples"}
    )  # every default written
    assert "max_disp: .inf" in text and "resolution: 0.3" in text
    versions = pd.read_csv(versions_path, dtype=str)
    assert list(versions.columns) == ["package", "version"]
    assert versions["package"].tolist() == ["python", *PROVENANCE_PACKAGES]
    assert set(versions["package"]) >= REQUIRED_VERSIONS
    found = dict(zip(versions["package"], versions["version"], strict=True))
    assert (
        found["snakemake"] == "9.9.9"
        and found["numpy"] == np.__version__
        and found["anndata"] == version("anndata")
    )
    assert not list(tmp_path.rglob("*.tmp-*"))
    assert list(json.loads(sample_config_json(config, "merged"))["samples"]) == ["a", "b"]  # merge.name: all
    assert main([*args[:2], '{"leiden": {"resolution": -1}}', *args[3:]]) == 1
    assert "leiden.resolution" in capsys.readouterr().err


# ----------------------------------------------------------------------------- the report


def _text(html: str) -> str:
    """The report's captions as plain text: tags dropped, escaped newlines and spaces collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html.replace("\\n", " ")))


def _planned(dry_run_output: str) -> set[str]:
    return set(re.findall(r"^(?:local)?rule (\w+):", dry_run_output, flags=re.M)) - {"all"}


@pytest.mark.workflow
@pytest.mark.once
@pytest.mark.slow
@pytest.mark.xdist_group("workflow-report_contents")
def test_report_holds_qc_cluster_sizes_config_versions_and_parameter_values(tmp_path: Path) -> None:
    config = copy.deepcopy(TINY_CONFIG)
    config["qc"] = {**config["qc"], "min_genes": 27, "max_pct_mt": 17.5}
    config["neighbors"] = {"n_neighbors": 12}
    config["leiden"] = {"resolution": 0.7}
    config["plots"] = {**config["plots"], "n_marker_genes": 2}
    snakemake(tmp_path, config=write_config(tmp_path, config))
    results = tmp_path / "results" / "tiny"
    for name in (
        "qc_overview",
        "qc_violin",
        "cluster_sizes",
        "umap_clusters",
        "markers_dotplot",
        "markers_heatmap",
    ):
        assert (results / "figures" / f"{name}.png").stat().st_size > 1000, name
    assert load_config(results / "config.yaml").leiden.resolution == 0.7
    assert set(pd.read_csv(results / "versions.csv")["package"]) >= REQUIRED_VERSIONS

    snakemake(tmp_path, "--report", "report.html", config=tmp_path / "config.yaml")
    html = (tmp_path / "report.html").read_text(errors="replace")
    for name in (
        "cluster_sizes.png",
        "qc_overview.png",
        "qc_violin.png",
        "config.yaml",
        "versions.csv",
        "markers.csv",
    ):
        assert name in html, name
    text = _text(html)
    for phrase in (
        "QC before and after filtering (sample tiny)",
        "qc.min_genes = 27", "qc.max_pct_mt = 17.5", "qc.max_genes = off",
        "Cells per cluster of leiden (Leiden, leiden.resolution = 0.7",
        "leiden.resolution = 0.7", "neighbors.n_neighbors = 12", "Top 2 marker genes",
        "markers.method = t-test", "pca.n_comps = 15", "hvg.n_top_genes = 150",
        "The validated configuration of sample tiny", "Versions of Python",
    ):  # fmt: skip
        assert phrase in text, phrase
    assert '"rule": "qc_plots"' in html  # QC figures are drawn from the qc artifact

    # QC figures follow the qc artifact only; the config and versions follow every change
    changed = copy.deepcopy(config)
    changed["leiden"] = {"resolution": 0.9}
    planned = _planned(snakemake(tmp_path, "--dry-run", config=write_config(tmp_path, changed)).stdout)
    assert planned == {"leiden", "markers", "final", "plots", "run_info", "summary"}
    changed["qc"] = {**changed["qc"], "min_genes": 30}
    planned = _planned(snakemake(tmp_path, "--dry-run", config=write_config(tmp_path, changed)).stdout)
    assert {"qc", "qc_plots", "plots", "run_info", "summary"} <= planned
