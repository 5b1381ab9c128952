"""The workflow config: defaults, schema, and errors that name every bad key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from scsnake.config import WorkflowConfig, config_schema, load_config, stage_params_json, validate_config
from scsnake.errors import ConfigError
from scsnake.stages import STAGES

REPO = Path(__file__).resolve().parents[2]


def test_committed_config_equals_model_defaults() -> None:
    raw = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    assert validate_config(raw) == WorkflowConfig()
    # every section of the model is shown in the file, so the file documents every key
    assert set(raw) == set(WorkflowConfig.model_fields)


def test_committed_schema_is_current() -> None:
    committed = json.loads((REPO / "workflow" / "schemas" / "config.schema.json").read_text())
    assert committed == json.loads(json.dumps(config_schema()))


def test_every_stage_has_a_config_section() -> None:
    assert {stage.section or name for name, stage in STAGES.items()} <= set(WorkflowConfig.model_fields)


def test_all_problems_reported_together_with_key_paths() -> None:
    raw = {
        "qc": {"min_genez": 3, "max_pct_mt": 200},
        "hvg": {"flavor": "bad"},
        "pca": {"n_comps": 0},
        "leiden": {"resolution": -1},
        "samples": {"a": {"input": "does/not/exist.h5ad"}},
    }
    with pytest.raises(ConfigError) as info:
        validate_config(raw)
    text = str(info.value)
    assert "qc.min_genez: unknown key (allowed: qc_vars" in text
    assert "qc.max_pct_mt: Input should be less than or equal to 100 (got 200)" in text
    assert "hvg.flavor: 'bad' is not one of" in text
    assert "pca.n_comps" in text and "(got 0)" in text
    assert "leiden.resolution" in text and "(got -1)" in text
    assert "samples.a.input: path does not exist" in text


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ({"seed": -1}, "seed"),
        ({"artifact_format": "loom"}, "artifact_format"),
        ({"samples": {}}, "samples"),
        ({"samples": {"bad name": {}}}, "sample name"),
        ({"samples": {"a": {"format": "bam"}}}, r"samples\.a\.format"),
        ({"samples": {"a": {"metadata": {"sample": "x"}}}}, "reserved"),
        ({"samples": {"a": {"synthetic": {"median_counts": 0}}}}, r"samples\.a\.synthetic\.median_counts"),
        ({"qc": {"qc_vars": {"mt": "("}}}, "not a valid regular expression"),
        ({"hvg": {"flavor": "seurat", "min_mean": 5}}, "min_mean"),
        ({"hvg": {"flavor": "seurat_v3", "min_mean": 1}}, r"hvg\.min_mean: unknown key"),
        ({"neighbors": {"n_neighbors": 1}}, r"neighbors\.n_neighbors"),
        ({"markers": {"method": "logreg2"}}, r"markers\.method"),
        ({"plots": {"dpi": 5}}, r"plots\.dpi"),
        ({"unknown_section": {}}, "unknown_section: unknown key"),
        ([1, 2], "expected a mapping"),
    ],
)
def test_bad_values_name_their_key(raw: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        validate_config(raw)


def test_yaml_scientific_notation_is_accepted() -> None:
    # YAML 1.1 reads 1e4 as a string; lax coercion turns it back into a number
    config = validate_config(yaml.safe_load("normalize: {target_sum: 1e4}"))
    assert config.normalize.target_sum == 10000.0


def test_load_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("qc: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_stage_params_are_canonical_and_seeded() -> None:
    config = validate_config({"seed": 7, "leiden": {"resolution": 0.5}})
    text = stage_params_json(config, "leiden")
    assert json.loads(text)["random_state"] == 7
    assert text == stage_params_json(validate_config({"leiden": {"resolution": 0.5}, "seed": 7}), "leiden")
    # an explicit random_state wins over the seed
    assert (
        json.loads(stage_params_json(validate_config({"seed": 7, "umap": {"random_state": 3}}), "umap"))[
            "random_state"
        ]
        == 3
    )
    # unseeded stages do not change with the seed
    assert stage_params_json(config, "normalize") == stage_params_json(validate_config({}), "normalize")
    load = json.loads(stage_params_json(config, "load", "demo"))
    assert load["sample"]["input"] == "synthetic" and load["seed"] == 7


def test_repeated_keys_are_refused_with_their_lines(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "samples:\n  a:\n    input: synthetic\n  a:\n    input: synthetic\nqc:\n  min_genes: 1\n  min_genes: 2\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).splitlines()[1:] == [
        "  - samples.a: given twice (lines 2 and 4)",
        "  - qc.min_genes: given twice (lines 7 and 8)",
    ]
