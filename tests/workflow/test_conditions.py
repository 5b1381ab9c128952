"""Comparing conditions: the ``pseudobulk`` and ``de`` sections, refused before any job when they
cannot run; their parameters as the jobs get them; the report's table of the results.

Fast: no Snakemake, no PyDESeq2 (the end-to-end run is in ``test_multisample.py``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from scsnake.cli import main
from scsnake.config import WorkflowConfig, stage_params_json, validate_config
from scsnake.errors import ConfigError
from scsnake.runner import parse_params
from scsnake.stages import STAGES, upstream
from scsnake.stages._de import DeRun, de_view


def _samples(**conditions: str) -> dict[str, Any]:
    """Synthetic samples (never opened) with a ``condition`` and a ``donor`` column."""
    return {
        name: {"input": "synthetic", "metadata": {"condition": level, "donor": f"D{i % 2}"}}
        for i, (name, level) in enumerate(conditions.items())
    }


FOUR = _samples(a1="A", a2="A", b1="B", b2="B")
ON = {
    "samples": FOUR,
    "merge": {"enabled": True},
    "pseudobulk": {"enabled": True},
    "de": {"enabled": True, "design": "~condition", "contrast": ["condition", "B", "A"]},
}


def _problems(raw: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as err:
        validate_config(raw)
    return str(err.value)


def test_both_stages_are_off_by_default() -> None:
    config = WorkflowConfig()
    assert not config.pseudobulk.enabled and not config.de.enabled
    assert config.pseudobulk.groupby == "leiden" and config.pseudobulk.min_cells == 10
    assert config.de.design == "~condition" and config.de.contrast is None


def test_a_valid_comparison_is_accepted_and_wired() -> None:
    config = validate_config(ON)
    assert config.de.contrast == ("condition", "B", "A")
    assert upstream(config, "pseudobulk") == ["final"]
    assert upstream(config, "de") == ["pseudobulk"] and upstream(config, "de_plots") == ["de"]
    pseudobulk = json.loads(stage_params_json(config, "pseudobulk"))
    assert pseudobulk == {
        "enabled": True, "groupby": "leiden", "min_cells": 10, "sample_key": "sample", "layer": "counts",
        "obs_keys": ["condition", "donor"],
    }  # fmt: skip
    de = json.loads(stage_params_json(config, "de"))
    assert de["groupby"] == "leiden" and de["random_state"] == 0  # the top-level seed
    for stage in ("pseudobulk", "de", "de_plots"):
        parse_params(STAGES[stage], stage_params_json(config, stage))  # the runner accepts them


def test_derived_params_follow_the_sections_they_come_from() -> None:
    config = validate_config(
        {
            **ON,
            "seed": 5,
            "merge": {"enabled": True, "batch_key": "sample_id"},
            "normalize": {"counts_layer": "raw"},
            "annotate": {"enabled": True, "markers": {"T": ["CD3E"]}},
            "pseudobulk": {"enabled": True, "groupby": "cell_type"},
        }
    )
    pseudobulk = json.loads(stage_params_json(config, "pseudobulk"))
    assert (pseudobulk["sample_key"], pseudobulk["layer"], pseudobulk["groupby"]) == (
        "sample_id",
        "raw",
        "cell_type",
    )
    de = json.loads(stage_params_json(config, "de"))
    assert (de["groupby"], de["random_state"]) == ("cell_type", 5)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"merge": {"enabled": False}}, "pseudobulk.enabled needs merge.enabled: true"),
        ({"merge": {"enabled": False}}, "de.enabled needs merge.enabled: true"),
        ({"pseudobulk": {"enabled": False}}, "de.enabled needs pseudobulk.enabled: true"),
        ({"de": {"enabled": True}}, "de.enabled needs de.contrast"),
        ({"de": {**ON["de"], "contrast": ["condition", "A", "A"]}}, "de.contrast: contrast ['condition', 'A', 'A'] compares level 'A' with itself"),
        ({"de": {**ON["de"], "contrast": ["group", "B", "A"]}}, "de.contrast: contrast factor 'group' is not in the design"),
        ({"de": {**ON["de"], "min_samples": 3}}, "de.min_samples: 3, but level 'B' of 'condition' has 2 samples"),
        ({"de": {**ON["de"], "contrast": ["condition", "B"]}}, "de.contrast"),
        ({"de": {**ON["de"], "design": "condition"}}, "de.design"),
        ({"de": {**ON["de"], "min_samples": 1}}, "de.min_samples"),
        ({"de": {**ON["de"], "alpha": 1.5}}, "de.alpha"),
        ({"pseudobulk": {"enabled": True, "min_cells": 0}}, "pseudobulk.min_cells"),
        ({"pseudobulk": {"enabled": True, "groupby": "cell_type"}}, "pseudobulk.groupby 'cell_type' is written by annotate"),
    ],
)  # fmt: skip
def test_section_problems_name_their_key(change: dict[str, Any], expected: str) -> None:
    assert expected in _problems({**ON, **change})


def test_design_must_fit_the_sample_sheet() -> None:
    missing = _problems({**ON, "de": {**ON["de"], "design": "~batch + condition"}})
    assert (
        "de.design: design '~batch + condition' names column 'batch', which the sample sheet lacks" in missing
    )
    assert "add the column to the sample sheet or drop it from the design" in missing
    unknown_level = _problems({**ON, "de": {**ON["de"], "contrast": ["condition", "C", "A"]}})
    assert "de.contrast: contrast level 'C' of 'condition': no sample has it (levels: A, B)" in unknown_level
    one_replicate = _problems({**ON, "samples": _samples(a1="A", a2="A", b1="B")})
    assert "de.contrast: contrast level 'B' of 'condition': only 1 sample has it" in one_replicate
    assert len(one_replicate.splitlines()) == 2  # one line per problem, under the heading
    validate_config({**ON, "de": {**ON["de"], "design": "~donor + condition"}})  # both columns there


def test_de_without_pydeseq2_is_refused_with_the_install_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from scsnake.stages import _de

    monkeypatch.setattr(_de, "_pydeseq2_installed", lambda: False)
    assert "de.enabled needs PyDESeq2, which is not installed: pip install 'scsnake[de]'" in _problems(ON)
    validate_config({**ON, "de": {"enabled": False}})  # only when de is on


def test_validate_command_refuses_a_bad_design(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({**ON, "de": {**ON["de"], "contrast": ["condition", "C", "A"]}}))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "'C'" in err and "Traceback" not in err


def test_de_view_shows_each_groups_top_genes_and_the_skipped_groups() -> None:
    rng = np.random.default_rng(0)
    genes = [f"g{i}" for i in range(6)]
    results = pd.DataFrame(
        {
            "group": np.repeat(["1", "0"], 6),
            "gene": genes * 2,
            "baseMean": rng.uniform(1, 100, 12),
            "log2FoldChange": rng.normal(size=12),
            "lfcSE": 0.3,
            "stat": rng.normal(size=12),
            "pvalue": np.linspace(0.001, 0.9, 12),
            "padj": [*np.linspace(0.5, 0.01, 6), np.nan, *np.linspace(0.02, 0.9, 5)],
        }
    )
    pdata = ad.AnnData(uns={"de": {"results": results, "skipped": {"2": "1 sample of B"}, "params": {}}})
    view = de_view(pdata, DeRun(enabled=False, n_table_genes=2))
    assert view["group"].tolist() == ["1", "1", "0", "0", "2"]  # the table's group order, then the skipped
    assert view["gene"].iloc[:4].tolist() == ["g5", "g4", "g1", "g2"]  # smallest padj first; NaN last
    assert view["note"].tolist() == ["", "", "", "", "skipped: 1 sample of B"]
