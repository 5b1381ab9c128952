"""The run summary and the warnings: what the stages record, what the summary counts, what the
report shows on its page and what the end of a run prints.

The fast tests run the pieces (qc's warnings, the runner's recording, the summary of real
artifacts, the HTML views); the slow one runs the workflow, builds the report and reads both.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import warnings
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from workflow_helpers import TINY_CONFIG, snakemake, write_config

from scsnake._stage_warnings import recording_warnings, warn_cell_loss
from scsnake.cli import main
from scsnake.config import stage_params_json, validate_config
from scsnake.errors import CellLossWarning, DataWarning, EmptyGeneSetWarning, ParamError
from scsnake.provenance import read_provenance
from scsnake.runner import run_stage
from scsnake.stages import STAGES
from scsnake.stages._qc import QcParams, qc
from scsnake.stages._summary import parse_artifacts, read_summary, warnings_text, write_summary
from scsnake.stages._tables import format_value, table_page

SYNTHETIC = {"n_cells": 300, "n_genes": 200, "n_types": 2}


def _config(**qc: object) -> object:
    return validate_config({"samples": {"s": {"synthetic": SYNTHETIC}}, "qc": {"min_cells": 1, **qc}})


def _load(tmp_path: Path, config: object, sample: str = "s") -> Path:
    out = tmp_path / sample / "load.h5ad"
    run_stage(
        "load", inputs=[], output=out, params_json=stage_params_json(config, "load", sample), sample=sample
    )
    return out


def _qc(tmp_path: Path, config: object, sample: str = "s") -> Path:
    out = tmp_path / sample / "qc.h5ad"
    load = _load(tmp_path, config, sample)
    run_stage("qc", inputs=[load], output=out, params_json=stage_params_json(config, "qc", sample))
    return out


def _n_genes(tmp_path: Path) -> np.ndarray:
    """Detected genes per cell of the synthetic sample (the qc stage's ``n_genes_by_counts``)."""
    adata = ad.read_h5ad(_load(tmp_path / "probe", _config()))
    return np.asarray((adata.X > 0).sum(axis=1)).ravel()


# ----------------------------------------------------------------------------- qc's warnings


def test_qc_warns_when_a_gene_set_matches_no_gene() -> None:
    import scsnake as ss

    adata = ss.datasets.synthetic(n_cells=200, n_genes=150, n_types=2, seed=3)
    params = QcParams(qc_vars={"mt": "^mito-", "ribo": "^RP[SL]"}, min_genes=1, min_cells=1)
    with recording_warnings() as caught:  # not pytest.warns: it would re-raise anndata's own warnings
        qc(adata, params)
    assert caught.has(EmptyGeneSetWarning)
    (found,) = caught.messages()
    assert found.startswith("qc.qc_vars.mt: '^mito-' matches none of the 150 gene names")
    assert "pct_counts_mt is 0 in every cell, so qc.max_pct_mt=20.0 removes no cell" in found
    assert adata.uns["qc"]["removed"]["max_pct_mt"] == 0


def test_qc_warns_when_it_removes_more_than_half_of_the_cells(tmp_path: Path) -> None:
    import scsnake as ss

    n_genes = _n_genes(tmp_path)
    threshold = int(np.quantile(n_genes, 0.8))
    adata = ss.datasets.synthetic(n_cells=300, n_genes=200, n_types=2, seed=0)
    params = QcParams(qc_vars={"mt": "^MT-"}, min_genes=threshold, min_cells=1, max_pct_mt=None)
    with recording_warnings() as caught:
        qc(adata, params)
    kept, removed = adata.n_obs, adata.uns["qc"]["removed"]["min_genes"]
    assert kept + removed == 300 and kept < 150
    assert caught.has(CellLossWarning) and caught.messages() == [
        f"qc kept {kept} of 300 cells ({kept / 300:.1%}; {removed} removed): qc.min_genes={threshold} "
        f"removed {removed}. If the sample is low-depth, lower these thresholds (for this sample alone: "
        "samples.<name>.qc)"
    ]
    with recording_warnings() as caught:  # half or more kept: no warning
        qc(
            ss.datasets.synthetic(n_cells=300, n_genes=200, n_types=2, seed=0),
            params.model_copy(update={"min_genes": 1}),
        )
    assert caught.messages() == []


# ----------------------------------------------------------------------------- the runner records them


def test_recording_keeps_scsnake_warnings_and_shows_every_warning() -> None:
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("error")  # as under pytest: scsnake's warnings are recorded, not raised
        warnings.filterwarnings("always", "other", UserWarning)
        with recording_warnings() as caught:
            warnings.warn("odd data", DataWarning, stacklevel=1)
            warnings.warn("odd data", DataWarning, stacklevel=1)
            warn_cell_loss("step", 10, 4)
            warn_cell_loss("step", 10, 5)  # half kept: fine
            warnings.warn("other", UserWarning, stacklevel=1)
        with pytest.raises(DataWarning):  # the filters are back
            warnings.warn("odd data", DataWarning, stacklevel=1)
    loss = "step kept 4 of 10 cells (40.0%; 6 removed). check that the thresholds of step fit this sample"
    assert caught.messages() == ["odd data", loss]
    assert caught.has(CellLossWarning) and not caught.has(EmptyGeneSetWarning) and len(caught) == 3
    assert [str(w.message) for w in shown] == ["odd data", "odd data", loss, "other"]


def test_the_runner_keeps_the_warnings_in_the_provenance(tmp_path: Path) -> None:
    threshold = int(np.quantile(_n_genes(tmp_path), 0.8))
    config = _config(min_genes=threshold, qc_vars={"mt": "^mito-"})
    record = read_provenance(_qc(tmp_path, config))["qc"]
    assert len(record["warnings"]) == 2
    assert record["warnings"][0].startswith("qc.qc_vars.mt: '^mito-' matches none of the 200 gene names")
    assert re.match(
        rf"qc kept \d+ of 300 cells .*: qc.min_genes={threshold} removed \d+", record["warnings"][1]
    )
    assert "warnings" not in read_provenance(tmp_path / "s" / "load.h5ad")["load"]  # none: no key


def test_the_runner_warns_for_any_stage_that_loses_most_cells(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(qc_vars={"mt": "^MT-"}, min_genes=1)
    qc_path = _qc(tmp_path, config)
    normalize = STAGES["normalize"]

    def drop_most(adata: ad.AnnData, params: object, **kwargs: object) -> ad.AnnData:
        return normalize.func(adata[: adata.n_obs // 4].copy(), params, **kwargs)

    monkeypatch.setitem(STAGES, "normalize", dataclasses.replace(normalize, func=drop_most))
    out = tmp_path / "s" / "normalize.h5ad"
    run_stage("normalize", inputs=[qc_path], output=out, params_json=stage_params_json(config, "normalize"))
    n = ad.read_h5ad(qc_path).n_obs
    assert read_provenance(out)["normalize"]["warnings"] == [
        f"normalize kept {n // 4} of {n} cells ({(n // 4) / n:.1%}; {n - n // 4} removed). "
        "check that the thresholds of normalize fit this sample"
    ]


# ----------------------------------------------------------------------------- the summary


def test_summary_counts_each_filter_and_lists_each_warning_once(tmp_path: Path) -> None:
    """Two samples, then merged: QC numbers per sample, the merged object's cells; a warning
    carried by the merged artifact too is listed under its sample only."""
    config = validate_config(
        {
            "samples": {"a": {"synthetic": SYNTHETIC}, "b": {"synthetic": {**SYNTHETIC, "n_cells": 250}}},
            "qc": {"min_genes": 40, "max_pct_mt": 12.5, "min_cells": 2},
            "merge": {"enabled": True},
        }
    )
    paths = {s: _qc(tmp_path, config, s) for s in ("a", "b")}
    merged = tmp_path / "merged" / "merge.h5ad"
    run_stage(
        "merge", inputs=list(paths.values()), output=merged, params_json=stage_params_json(config, "merge")
    )
    artifacts = {"a": [paths["a"]], "b": [paths["b"]], "merged": [merged]}
    csv, html = tmp_path / "summary.csv", tmp_path / "summary.html"
    assert (
        main(
            [
                "summary",
                *[f"--artifact={s}={p}" for s, ps in artifacts.items() for p in ps],
                "--csv",
                str(csv),
                "--html",
                str(html),
            ]
        )
        == 0
    )

    table = pd.read_csv(csv).set_index("sample")
    assert list(table.index) == ["a", "b", "merged"]
    assert list(table.columns) == [
        "n_cells_in", "n_cells_removed_min_genes", "n_cells_removed_max_genes", "n_cells_removed_min_counts",
        "n_cells_removed_max_counts", "n_cells_removed_max_pct_mt", "n_cells_kept", "n_genes_in",
        "n_genes_removed_min_cells", "n_genes_kept", "n_clusters", "n_warnings", "warnings",
    ]  # fmt: skip
    for sample in ("a", "b"):
        load, kept = ad.read_h5ad(tmp_path / sample / "load.h5ad"), ad.read_h5ad(paths[sample])
        x = load.X.toarray() if hasattr(load.X, "toarray") else np.asarray(load.X)
        n_genes, total = (x > 0).sum(1), x.sum(1)
        mt = load.var_names.str.startswith("MT-")
        pct_mt = 100 * x[:, mt].sum(1) / total
        row = table.loc[sample]
        assert row["n_cells_in"] == load.n_obs
        assert row["n_cells_removed_min_genes"] == (n_genes < 40).sum()
        assert row["n_cells_removed_max_pct_mt"] == ((n_genes >= 40) & (pct_mt > 12.5)).sum()
        assert (
            row["n_cells_kept"]
            == kept.n_obs
            == load.n_obs - row["n_cells_removed_min_genes"] - row["n_cells_removed_max_pct_mt"]
        )
        assert row["n_genes_in"] == load.n_vars and row["n_genes_kept"] == kept.n_vars
        assert row["n_genes_removed_min_cells"] == load.n_vars - kept.n_vars
        assert row["n_warnings"] == 1 and row["warnings"].startswith("qc: qc.qc_vars.hb: ")  # no HB genes
    merged_row = table.loc["merged"]
    assert merged_row["n_warnings"] == 0 and pd.isna(merged_row["n_cells_in"])
    assert merged_row["n_cells_kept"] == table.loc[["a", "b"], "n_cells_kept"].sum()

    text = html.read_text()
    assert (
        text.startswith('<section id="scsnake-run-summary"') and "<style" not in text and "<html" not in text
    )
    assert ">removed by qc.min_genes</th>" in text and "(≥ 40)" in text and "(≤ 12.5)" in text
    assert "max_genes" not in text and "min_counts" not in text  # off for every sample
    assert text.count("qc.qc_vars.hb") == 2 and "⚠ 2 warnings" in text
    lines = warnings_text(artifacts, where="summary.html").splitlines()
    assert lines[1] == "scsnake: 2 warnings (also in summary.html and the report):"
    assert lines[2].startswith("  a (qc): qc.qc_vars.hb: ") and lines[3].startswith("  b (qc): ")


def test_summary_clusters_and_missing_artifacts(tmp_path: Path) -> None:
    config = _config(qc_vars={"mt": "^MT-"}, min_genes=1)
    path = _qc(tmp_path, config)
    adata = ad.read_h5ad(path)
    adata.obs["leiden"] = pd.Categorical(np.arange(adata.n_obs) % 4)
    adata.uns["rank_genes_groups"] = {"params": {"groupby": "leiden"}}
    final = tmp_path / "s" / "final.h5ad"
    adata.write_h5ad(final)
    summary = write_summary(
        {"s": [path, final], "t": [tmp_path / "nope.h5ad"]},
        csv=tmp_path / "x.csv",
        html_path=tmp_path / "x.html",
    )
    table = summary.table().set_index("sample")
    assert table.loc["s", "n_clusters"] == 4 and table.loc["s", "n_warnings"] == 0
    assert table.loc["t"].drop("warnings").isna().sum() == len(table.columns) - 2  # nothing read, no warnings
    assert (
        "clusters (leiden)" in (tmp_path / "x.html").read_text()
        and "No warnings." in (tmp_path / "x.html").read_text()
    )
    assert warnings_text({"s": [path, final]}) == ""
    with pytest.raises(ParamError, match="must be <sample>=<path>"):
        parse_artifacts(["results/s/qc.h5ad"])


def test_summary_of_zarr_artifacts(tmp_path: Path) -> None:
    config = _config(qc_vars={"mt": "^MT-", "hb": "^HB"}, min_genes=1)
    h5ad, zarr = _qc(tmp_path, config), tmp_path / "s" / "qc.zarr"
    params = stage_params_json(config, "qc", "s")
    run_stage("qc", inputs=[tmp_path / "s" / "load.h5ad"], output=zarr, params_json=params)
    from_zarr, from_h5ad = read_summary({"s": [zarr]}), read_summary({"s": [h5ad]})
    assert from_zarr.table().equals(from_h5ad.table()) and from_zarr.table().loc[0, "n_warnings"] == 1


# ----------------------------------------------------------------------------- HTML views of the tables


def test_table_page_shows_every_row_escaped_and_rounded() -> None:
    frame = pd.DataFrame(
        {
            "gene": ["<b>CD3E</b>", "MS4A1"],
            "pval": [1.234567e-30, np.nan],
            "n": [12345, 2],
            "up": [True, False],
        }
    )
    page = table_page(frame, "markers · demo", note="full table: markers.csv")
    assert page.startswith("<!doctype html>") and "<title>markers · demo</title>" in page
    assert "2 rows · full table: markers.csv" in page
    assert (
        "<td>&lt;b&gt;CD3E&lt;/b&gt;</td><td class=num>1.235e-30</td><td class=num>12,345</td><td>yes</td>"
        in page
    )
    assert "<td>MS4A1</td><td class=num></td>" in page
    assert [format_value(v) for v in (None, pd.NA, 0.5, np.int64(3), "x")] == ["", "", "0.5", "3", "x"]


def test_the_runner_writes_the_view_beside_the_table(tmp_path: Path) -> None:
    config = _config(qc_vars={"mt": "^MT-"}, min_genes=1)
    load, table, view = (
        _load(tmp_path, config),
        tmp_path / "s" / "qc_cells.csv",
        tmp_path / "s" / "qc_cells.html",
    )
    params = stage_params_json(config, "qc", "s")
    run_stage(
        "qc", inputs=[load], output=tmp_path / "s" / "qc.h5ad", params_json=params, table=table, view=view
    )
    page = view.read_text()
    assert "<title>qc_cells · s</title>" in page and f"300 rows · full table: {table}" in page
    assert page.count("<tr>") == 301 and len(pd.read_csv(table)) == 300


# ----------------------------------------------------------------------------- the workflow and its report


def _report_text(html: str) -> str:
    from html import unescape

    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html.replace("\\n", " "))))


@pytest.mark.workflow
@pytest.mark.once
@pytest.mark.slow
@pytest.mark.xdist_group("workflow-run_summary")
def test_warnings_reach_the_summary_the_terminal_and_the_report(tmp_path: Path) -> None:
    config = copy.deepcopy(TINY_CONFIG)
    probe = tmp_path / "probe" / "load.h5ad"  # the tiny sample as the workflow loads it
    params = stage_params_json(validate_config(config), "load", "tiny")
    run_stage("load", inputs=[], output=probe, params_json=params, sample="tiny")
    x = ad.read_h5ad(probe).X
    threshold = int(np.quantile(np.asarray((x > 0).sum(axis=1)).ravel(), 0.6))  # removes ~60%
    config["qc"] = {**config["qc"], "min_genes": threshold, "qc_vars": {"mt": "^mito-"}}
    proc = snakemake(tmp_path, config=write_config(tmp_path, config))

    summary = pd.read_csv(tmp_path / "results" / "summary.csv").set_index("sample")
    row = summary.loc["tiny"]
    cells = pd.read_csv(tmp_path / "results" / "tiny" / "qc_cells.csv")
    assert row["n_cells_in"] == len(cells) == 400
    assert row["n_cells_removed_min_genes"] == (cells["n_genes_by_counts"] < threshold).sum() > 200
    assert (
        row["n_cells_kept"]
        == cells["passed"].sum()
        == ad.read_h5ad(tmp_path / "results/tiny/final.h5ad").n_obs
    )
    clustering = pd.read_csv(tmp_path / "results" / "tiny" / "clustering.csv")
    assert row["n_clusters"] == clustering.loc[clustering["key"] == "leiden", "n_clusters"].item()
    assert row["n_warnings"] >= 2
    assert "qc: qc.qc_vars.mt: '^mito-' matches none of the 300 gene names" in row["warnings"]
    assert f"qc: qc kept {row['n_cells_kept']} of 400 cells" in row["warnings"]

    # loud at the end of the run
    err = proc.stderr
    assert "scsnake: " in err and "warnings (also in results/summary.html and the report):" in err
    assert "  tiny (qc): qc.qc_vars.mt: '^mito-' matches none" in err
    assert f"  tiny (qc): qc kept {row['n_cells_kept']} of 400 cells" in err

    snakemake(tmp_path, "--report", "report.html", config=tmp_path / "config.yaml")
    html = (tmp_path / "report.html").read_text(errors="replace")
    desc = json.loads(re.search(r"^ *var workflow_desc = (\".*\");$", html, flags=re.M).group(1))
    assert desc.index('id="scsnake-run-summary"') < desc.index(
        "scsnake single-cell analysis"
    )  # it opens with it
    text = _report_text(desc)
    assert (
        "Run summary" in text
        and f"removed by qc.min_genes {row['n_cells_removed_min_genes']} (≥ {threshold})" in text
    )
    assert (
        "qc.qc_vars.mt: '^mito-' matches none" in text
        and f"qc kept {row['n_cells_kept']} of 400 cells" in text
    )
    results = json.loads(re.search(r"^ *var results = (\{.*\});$", html, flags=re.M).group(1))
    views = {Path(path).name: entry for path, entry in results.items() if entry["mime_type"] == "text/html"}
    assert set(views) == {"markers.html", "clustering.html", "summary.html"}
    assert views["markers.html"]["labels"] == {"sample": "tiny", "table": "top markers"}
    assert {Path(path).name for path, entry in results.items() if entry["mime_type"] == "text/csv"} >= {
        "markers.csv",
        "clustering.csv",
    }
