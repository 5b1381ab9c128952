"""Many samples in the config: the TSV sample sheet, per-sample QC, merge and integration settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from factories import make_counts
from input_files import write_10x_h5, write_10x_mtx
from scsnake.config import WorkflowConfig, analysed_samples, stage_params_json, validate_config
from scsnake.errors import ConfigError
from scsnake.runner import parse_params
from scsnake.stages import STAGES, upstream

HEADER = "sample\tinput\tformat\tqc.min_genes\tdonor\tage\n"


def _sheet(directory: Path, text: str, name: str = "samples.tsv") -> str:
    (directory / name).write_text(text)
    return name


def _errors(raw: Any, base_dir: Path) -> str:
    with pytest.raises(ConfigError) as info:
        validate_config(raw, base_dir=base_dir)
    return str(info.value)


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    """A working directory with three small sample inputs in ``data/`` (they are opened when validated)."""
    counts = make_counts(20, 10)
    write_10x_mtx(tmp_path / "data" / "s1_filtered", counts)
    write_10x_h5(tmp_path / "data" / "s2.h5", counts)
    counts.write_h5ad(tmp_path / "data" / "s3.h5ad")
    return tmp_path


# --- the TSV sheet ---------------------------------------------------------------------------


def test_tsv_sheet_becomes_the_samples_mapping(inputs: Path) -> None:
    sheet = _sheet(inputs, HEADER + "# a comment\n\nS1\tdata/s1_filtered\t\t300\tD1\t30\n"
                   "S2\tdata/s2.h5\t10x_h5\t\tD2\t41\nS3\tdata/s3.h5ad\tauto\t250\tD3\t\n")  # fmt: skip
    config = validate_config({"samples": sheet}, base_dir=inputs)
    assert list(config.samples) == ["S1", "S2", "S3"]
    s1, s2, s3 = config.samples.values()
    assert (s1.input, s1.format, s2.format) == ("data/s1_filtered", "auto", "10x_h5")
    assert s1.metadata == {"donor": "D1", "age": 30} and s3.metadata == {
        "donor": "D3"
    }  # empty cell: no value
    assert s1.qc_params(config.qc).min_genes == 300
    assert s2.qc_params(config.qc).min_genes == config.qc.min_genes  # empty cell: the qc section's value
    # the same rows written inline give the same config
    inline = {name: spec.model_dump(mode="json") for name, spec in config.samples.items()}
    assert validate_config({"samples": inline}, base_dir=inputs) == config


def test_tsv_nested_columns_and_metadata_types(inputs: Path) -> None:
    sheet = _sheet(inputs, "sample\tinput\tqc.doublets.enabled\tqc.max_pct_mt\tsynthetic.n_cells\tlane\tscore\n"
                   "A\tsynthetic\ttrue\tnull\t500\t007\t1.5\nB\tsynthetic\t\t5\t\t1\t2\n")  # fmt: skip
    config = validate_config({"samples": sheet}, base_dir=inputs)
    a, b = config.samples["A"], config.samples["B"]
    qc_a = a.qc_params(config.qc)
    assert qc_a.doublets.enabled and qc_a.doublets.expected_doublet_rate == 0.05  # nested: updated key by key
    assert qc_a.max_pct_mt is None  # null switches the filter off
    assert b.qc_params(config.qc).max_pct_mt == 5.0
    assert a.synthetic.n_cells == 500 and b.synthetic.n_cells == 3000
    assert a.metadata == {"lane": "007", "score": 1.5}  # leading zeros keep a column text
    assert b.metadata == {"lane": "1", "score": 2.0}


def test_relative_paths_are_relative_to_the_working_directory(inputs: Path) -> None:
    (inputs / "config").mkdir()
    sheet = _sheet(inputs / "config", "sample\tinput\nS1\tdata/s2.h5\n")
    config = validate_config({"samples": f"config/{sheet}"}, base_dir=inputs)
    assert config.samples["S1"].input == "data/s2.h5"
    (inputs / "config" / "local.h5").write_bytes(b"")  # beside the sheet, not in the working directory
    sheet = _sheet(inputs / "config", "sample\tinput\nS1\tlocal.h5\n", "local.tsv")
    text = _errors({"samples": f"config/{sheet}"}, inputs)
    assert (
        f"samples (config/local.tsv) row 1 'S1'.input: path does not exist (got 'local.h5', relative to {inputs})"
        in text
    )


def test_bad_rows_are_all_reported_with_file_row_sample_and_column(inputs: Path) -> None:
    sheet = _sheet(inputs, HEADER + "S1\tdata/s1_filtered\tbam\t300\tD1\t30\n"
                   "S2\tdata/missing.h5\t\tmany\tD2\t41\n"
                   "S1\tdata/s3.h5ad\t\t\tD3\t1\n"
                   "bad name\tdata/s3.h5ad\t\t\tD4\t1\n"
                   "S5\t\t\t\tD5\t1\n"
                   "S6\tdata/s3.h5ad\t\t\tD6\t1\textra\n")  # fmt: skip
    text = _errors({"samples": sheet, "pca": {"n_comps": 0}}, inputs)
    assert "samples (samples.tsv) row 1 'S1'.format: Input should be 'auto', 'synthetic'" in text
    assert "row 2 'S2'.qc.min_genes: Input should be a valid integer" in text
    assert "samples (samples.tsv) row 3 'S1'.sample: 'S1' is given twice (first in row 1)" in text
    assert "row 4 'bad name'.sample: must start with a letter or digit" in text
    assert "row 5 'S5'.input: empty" in text
    assert "row 6 'S6': 7 tab-separated fields, but the header has 6" in text
    assert "pca.n_comps" in text  # the rest of the config is checked too, in the same message
    assert "needs at least 2 samples" not in text


def test_missing_input_of_a_row_is_named(inputs: Path) -> None:
    sheet = _sheet(inputs, "sample\tinput\nS1\tdata/s2.h5\nS2\tdata/nope.h5\n")
    text = _errors({"samples": sheet}, inputs)
    assert "samples (samples.tsv) row 2 'S2'.input: path does not exist (got 'data/nope.h5'" in text
    assert "row 1" not in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "sample\tpath\nS1\tdata/s2.h5\n",
            "samples (samples.tsv): missing column(s) ['input'] (the header has ['sample', 'path']",
        ),
        (
            "sample\tinput\tqc.min_genez\nS1\tdata/s2.h5\t3\n",
            "samples (samples.tsv) column 'qc.min_genez': unknown key 'min_genez' (allowed: qc_vars, percent_top, min_genes",
        ),
        (
            "sample\tinput\tqc.doublets.enable\nS1\tdata/s2.h5\ttrue\n",
            "column 'qc.doublets.enable': unknown key 'enable' (allowed: enabled, expected_doublet_rate",
        ),
        (
            "sample\tinput\ttruth\nS1\tdata/s2.h5\tx\n",
            "column 'truth': not a sample-sheet column (it is reserved",
        ),
        (
            "sample\tinput\tqc\nS1\tdata/s2.h5\tx\n",
            "column 'qc': not a sample-sheet column (use qc.<key> columns)",
        ),
        ("sample\tinput\tdonor\tdonor\nS1\tdata/s2.h5\ta\tb\n", "column(s) ['donor'] given twice"),
        ("sample\tinput\n", "samples (samples.tsv): no samples (only a header)"),
        ("# only a comment\n", "samples (samples.tsv): the sample sheet is empty"),
        (
            "sample\tinput\tqc.percent_top\nS1\tdata/s2.h5\t[1, 2\n",
            "row 1 'S1'.qc.percent_top: '[1, 2' is not a value",
        ),
    ],
)
def test_bad_sheets_name_the_file_and_column(inputs: Path, text: str, expected: str) -> None:
    sheet = _sheet(inputs, text)
    assert expected in _errors({"samples": sheet}, inputs)


def test_missing_sheet(tmp_path: Path) -> None:
    text = _errors({"samples": "nope.tsv", "merge": {"enabled": True}}, tmp_path)
    assert f"samples: sample sheet 'nope.tsv' not found (relative to {tmp_path})" in text
    assert "needs at least 2 samples" not in text  # no follow-up error of the missing sheet


def test_model_reads_a_sheet_relative_to_the_working_directory(
    inputs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(inputs)
    _sheet(inputs, "sample\tinput\nS1\tdata/s2.h5\n")
    assert list(WorkflowConfig.model_validate({"samples": "samples.tsv"}).samples) == ["S1"]
    schema = WorkflowConfig.model_json_schema()["properties"]["samples"]
    assert {"type": "string"} in schema["anyOf"]


# --- per-sample QC ---------------------------------------------------------------------------


def test_inline_qc_overrides_are_partial_qc_sections() -> None:
    config = validate_config({"qc": {"min_genes": 100, "min_cells": 5},
                              "samples": {"a": {"qc": {"min_genes": 300}}, "b": {"qc": {"min_cells": None}}, "c": {}}})  # fmt: skip
    assert config.samples["a"].qc_params(config.qc).model_dump() == {
        **config.qc.model_dump(),
        "min_genes": 300,
    }
    assert config.samples["b"].qc_params(config.qc).min_cells is None
    assert config.samples["c"].qc_params(config.qc) == config.qc
    assert config.samples["a"].model_dump()["qc"] == {"min_genes": 300}  # only the keys given


@pytest.mark.parametrize(
    ("qc", "expected"),
    [
        (
            {"min_genez": 3},
            "samples.a.qc.min_genez: unknown key (allowed: qc_vars, percent_top, min_genes, max_genes",
        ),
        ({"doublets": {"enable": True}}, "samples.a.qc.doublets.enable: unknown key (allowed: enabled,"),
        ({"max_pct_mt": 200}, "samples.a.qc.max_pct_mt: Input should be less than or equal to 100 (got 200)"),
        ({"qc_vars": {"mt": "("}}, "samples.a.qc.qc_vars: qc_vars.mt: '(' is not a valid regular expression"),
        ("strict", "samples.a.qc: Input should be a valid dictionary"),
    ],
)
def test_bad_qc_overrides_name_the_sample_and_key(qc: Any, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate_config({"samples": {"a": {"qc": qc}, "b": {}}})
    assert expected in str(info.value)


def test_qc_params_are_per_sample_and_load_ignores_them() -> None:
    base = {"samples": {"a": {}, "b": {"qc": {"min_genes": 50}}}}
    changed = {"samples": {"a": {}, "b": {"qc": {"min_genes": 60}}}}
    one, two = validate_config(base), validate_config(changed)
    assert (
        stage_params_json(one, "qc", "a") == stage_params_json(two, "qc", "a") == stage_params_json(one, "qc")
    )
    assert stage_params_json(one, "qc", "b") != stage_params_json(two, "qc", "b")
    assert json.loads(stage_params_json(two, "qc", "b"))["min_genes"] == 60
    assert stage_params_json(one, "load", "b") == stage_params_json(two, "load", "b")
    parse_params(STAGES["qc"], stage_params_json(two, "qc", "b"))
    parse_params(STAGES["load"], stage_params_json(two, "load", "b"))


# --- merge -----------------------------------------------------------------------------------

TWO = {"a": {}, "b": {"metadata": {"donor": "D2"}}}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"merge": {"enabled": True}}, "merge.enabled needs at least 2 samples (got 1: ['demo'])"),
        ({"samples": TWO, "merge": {"enabled": True, "name": "a"}}, "merge.name 'a' is also a sample's name"),
        (
            {"samples": TWO, "merge": {"enabled": True, "batch_key": "donor"}},
            "merge.batch_key 'donor' is also a metadata column of sample(s) ['b']",
        ),
        ({"merge": {"name": "bad name"}}, "merge.name: String should match pattern"),
        ({"merge": {"batch_key": ""}}, "merge.batch_key: String should have at least 1 character"),
        ({"merge": {"enable": True}}, "merge.enable: unknown key (allowed: enabled, name, batch_key)"),
    ],
)
def test_bad_merge_settings(raw: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate_config(raw)
    assert expected in str(info.value)


def test_merge_reroutes_the_workflow_and_defaults_the_hvg_batches() -> None:
    config = validate_config({"samples": TWO, "merge": {"enabled": True}})
    assert analysed_samples(config) == ["merged"]
    assert upstream(config, "normalize") == ["merge"]
    assert json.loads(stage_params_json(config, "hvg"))["batch_key"] == "sample"
    explicit = validate_config({"samples": TWO, "merge": {"enabled": True}, "hvg": {"batch_key": "donor"}})
    assert json.loads(stage_params_json(explicit, "hvg"))["batch_key"] == "donor"
    unmerged = validate_config({"samples": TWO})
    assert analysed_samples(unmerged) == ["a", "b"] and upstream(unmerged, "normalize") == ["qc"]
    assert json.loads(stage_params_json(unmerged, "hvg"))["batch_key"] is None


def test_cross_section_problems_are_listed_together_one_per_line() -> None:
    with pytest.raises(ConfigError) as info:
        validate_config({"merge": {"enabled": True, "name": "demo"}, "integration": {"method": "harmony"},
                         "samples": {"demo": {"qc": {"qc_vars": {"mt": "("}}}}})  # fmt: skip
    lines = str(info.value).splitlines()
    assert len(lines) == 4 and lines[0] == "invalid config:", lines
    assert lines[1].startswith(
        "  - samples.demo.qc.qc_vars: qc_vars.mt: '(' is not a valid regular expression"
    )
    assert lines[2] == "  - merge.enabled needs at least 2 samples (got 1: ['demo'])"
    assert lines[3].startswith("  - merge.name 'demo' is also a sample's name")


# --- integration -----------------------------------------------------------------------------

MERGED = {"samples": TWO, "merge": {"enabled": True}}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            {**MERGED, "integration": {"method": "scanorama"}},
            "integration.method: Input should be 'none', 'combat', 'harmony' or 'bbknn' (got 'scanorama')",
        ),
        ({"integration": {"method": "harmony"}}, "integration.method 'harmony' needs integration.batch_key"),
        ({"integration": {"compare": True}}, "integration.compare needs integration.batch_key"),
        (
            {**MERGED, "integration": {"method": "combat"}, "pca": {"combat_key": "donor"}},
            "integration.method is 'combat' on 'sample' but pca.combat_key is 'donor'",
        ),
        (
            {**MERGED, "integration": {"method": "combat"}, "normalize": {"method": "pearson_residuals"}},
            "normalize.method is pearson_residuals",
        ),
        (
            {**MERGED, "integration": {"method": "harmony"}, "neighbors": {"use_rep": "X"}},
            "neighbors.use_rep is 'X'",
        ),
        ({**MERGED, "integration": {"harmony": {"theta": -1}}}, "integration.harmony.theta"),
        (
            {**MERGED, "integration": {"bbknn": {"neighbors_within_batch": 0}}},
            "integration.bbknn.neighbors_within_batch",
        ),
        ({**MERGED, "integration": {"batch_key": ""}}, "integration.batch_key"),
    ],
)
def test_bad_integration_settings(raw: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate_config(raw)
    assert expected in str(info.value)


def test_integration_without_merge_needs_a_batch_key() -> None:
    config = validate_config({"integration": {"method": "harmony", "batch_key": "batch"}})
    assert json.loads(stage_params_json(config, "integration"))["batch_key"] == "batch"


@pytest.mark.parametrize("method", ["none", "combat", "harmony", "bbknn"])
def test_each_method_is_wired_into_its_stage(method: str) -> None:
    config = validate_config({**MERGED, "integration": {"method": method, "compare": True}})
    pca = json.loads(stage_params_json(config, "pca"))
    neighbors = json.loads(stage_params_json(config, "neighbors"))
    assert pca["combat_key"] == ("sample" if method == "combat" else None)
    assert neighbors["use_rep"] == ("X_pca_harmony" if method == "harmony" else "X_pca")
    assert upstream(config, "neighbors") == (["integration"] if method == "harmony" else ["pca"])
    if method == "bbknn":
        assert neighbors["bbknn"] == {"batch_key": "sample", "neighbors_within_batch": 3, "trim": None}
    else:
        assert "bbknn" not in neighbors
    for stage in ("pca", "neighbors", "integration", "integration_metrics", "hvg", "merge"):
        parse_params(STAGES[stage], stage_params_json(config, stage))  # the runner accepts them


def test_comparison_params_follow_the_sections_it_reads_only() -> None:
    base = validate_config({**MERGED, "integration": {"compare": True}, "seed": 3})
    values = json.loads(stage_params_json(base, "integration_metrics"))
    assert values["leiden"] == {"resolution": 1.0, "flavor": "igraph", "n_iterations": 2, "random_state": 3}
    assert values["integration"]["batch_key"] == "sample" and values["random_state"] == 3
    same = validate_config({**MERGED, "integration": {"compare": True, "method": "harmony"}, "seed": 3,
                            "leiden": {"sweep": [0.5]}, "umap": {"maxiter": 5}})  # fmt: skip
    assert stage_params_json(same, "integration_metrics") == stage_params_json(base, "integration_metrics")
    other = validate_config(
        {**MERGED, "integration": {"compare": True}, "seed": 3, "leiden": {"resolution": 0.5}}
    )
    assert stage_params_json(other, "integration_metrics") != stage_params_json(base, "integration_metrics")
    # Harmony's stage re-runs only on what changes Harmony
    assert stage_params_json(same, "integration") == stage_params_json(
        validate_config({**MERGED, "integration": {"method": "harmony", "label_key": "x"}, "seed": 3}),
        "integration",
    )
