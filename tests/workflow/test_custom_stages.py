"""Stages of your own (``custom_stages``): validated before any job, run like built-in stages,
gathered into ``final``, re-run exactly when their params or their function change."""

from __future__ import annotations

import copy
import re
from importlib.metadata import EntryPoint
from pathlib import Path

import anndata as ad
import numpy as np
import pytest
from workflow_helpers import TINY_CONFIG, copy_run, planned_rules, shared_tiny_run, snakemake, write_config

from scsnake.config import validate_config
from scsnake.errors import ConfigError

#: A user's module: placed in the working directory, which jobs (and validation) import from.
MODULE = '''
import numpy as np
from pydantic import BaseModel, PositiveInt


class TopParams(BaseModel):
    n_genes: PositiveInt = 10


def top_score(adata, n_genes):
    """Mean expression of each cell's top genes; flags the genes used somewhere."""
    x = adata.X.toarray() if hasattr(adata.X, "toarray") else np.asarray(adata.X)
    top = np.sort(x, axis=1)[:, -n_genes:]
    adata.obs["top_score"] = top.mean(axis=1)
    adata.obs["counts_seen"] = np.asarray(adata.layers["counts"].sum(axis=1)).ravel()
    adata.var["top_gene"] = x.max(axis=0) > 0
    adata.obsp["self_loops"] = adata.obsp["connectivities"].copy()
    adata.uns["top"] = {"n_genes": n_genes, "clusters": int(adata.obs["leiden"].nunique())}


def failing(adata):
    raise ValueError("boom: this lab's step broke")
'''

pytestmark = [
    pytest.mark.workflow,
    pytest.mark.once,
    pytest.mark.slow,
    pytest.mark.xdist_group("workflow-custom_stages"),
]


def _config(**custom: dict) -> dict:
    config = copy.deepcopy(TINY_CONFIG)
    config["custom_stages"] = custom
    return config


TOP = {
    "function": "labsteps:top_score",
    "model": "labsteps:TopParams",
    "after": "leiden",
    "params": {"n_genes": 5},
}


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "labsteps.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))  # validation in this process imports it too
    return tmp_path


@pytest.fixture(scope="module")
def custom_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny run with the stage added to its config afterwards, as a user adds one."""
    workdir = copy_run(shared_tiny_run(tmp_path_factory), tmp_path_factory.mktemp("custom"))
    (workdir / "labsteps.py").write_text(MODULE)
    proc = snakemake(workdir, config=write_config(workdir, _config(top=TOP)))
    ran = set(re.findall(r"^(?:local)?rule (\w+):", proc.stdout + proc.stderr, flags=re.M))
    assert ran == {"top", "final", "plots", "run_info", "summary", "all"}, ran
    return workdir


def test_custom_stage_runs_and_its_results_join_final(custom_run: Path) -> None:
    results = custom_run / "results" / "tiny"
    top = ad.read_h5ad(results / "top.h5ad")
    assert "top_score" in top.obs and top.uns["scsnake"].get("matrix")  # a lean artifact
    final = ad.read_h5ad(results / "final.h5ad")
    assert final.uns["top"] == {"n_genes": 5, "clusters": final.obs["leiden"].nunique()}
    np.testing.assert_array_equal(final.obs["top_score"], top.obs["top_score"])
    # the function saw the complete object: log-normalised X, the raw counts layer, the graph
    np.testing.assert_allclose(
        final.obs["counts_seen"], np.asarray(final.layers["counts"].sum(axis=1)).ravel()
    )
    assert (
        final.var["top_gene"].dtype == bool
        and (final.obsp["self_loops"] != final.obsp["connectivities"]).nnz == 0
    )
    record = final.uns["scsnake"]["provenance"]["top"]
    assert '"function":"labsteps:top_score"' in record["params"] and "source_sha256" in record["params"]
    assert (custom_run / "logs" / "tiny" / "top.log").is_file()
    assert (results / "benchmarks" / "top.tsv").is_file()


def test_params_change_reruns_only_the_stage_and_what_follows(custom_run: Path, tmp_path: Path) -> None:
    workdir = copy_run(custom_run, tmp_path / "rerun")
    unchanged = snakemake(workdir, "--dry-run", config=write_config(workdir, _config(top=TOP)))
    assert planned_rules(unchanged.stdout) == set(), unchanged.stdout
    changed = _config(top={**TOP, "params": {"n_genes": 7}})
    proc = snakemake(workdir, "--dry-run", config=write_config(workdir, changed))
    assert planned_rules(proc.stdout) == {"top", "final", "plots", "run_info", "summary", "all"}, proc.stdout


def test_editing_the_function_reruns_the_stage(custom_run: Path, tmp_path: Path) -> None:
    workdir = copy_run(custom_run, tmp_path / "edited")
    module = workdir / "labsteps.py"
    module.write_text(module.read_text() + "\n# a changed line\n")
    proc = snakemake(workdir, "--dry-run", config=write_config(workdir, _config(top=TOP)))
    assert {"top", "final"} <= planned_rules(proc.stdout), proc.stdout
    assert "leiden" not in planned_rules(proc.stdout)


def test_bad_params_are_refused_before_any_job(workdir: Path) -> None:
    config = _config(top={**TOP, "params": {"n_genes": -1}})
    proc = snakemake(workdir, config=write_config(workdir, config), check=False)
    assert proc.returncode != 0
    assert "custom_stages.top.params.n_genes" in proc.stderr
    assert not (workdir / "results").exists()


def test_a_raising_function_fails_its_job_with_one_line(
    workdir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    copy_run(shared_tiny_run(tmp_path_factory), workdir)  # only the new stage runs, and fails
    config = _config(broken={"function": "labsteps:failing", "after": "umap"})
    proc = snakemake(workdir, config=write_config(workdir, config), check=False)
    assert proc.returncode != 0
    log = (workdir / "logs" / "tiny" / "broken.log").read_text()
    line = "custom stage 'broken' (labsteps:failing) failed: ValueError: boom: this lab's step broke"
    assert f"scsnake: error: {line}" in log
    assert "Traceback" in log  # the user's traceback stays in the job log
    assert not (workdir / "results" / "tiny" / "broken.h5ad").exists()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"function": "labsteps:nope"}, "custom_stages.top.function: cannot import 'labsteps:nope'"),
        ({"function": "no_such_module:f"}, "custom_stages.top.function: cannot import 'no_such_module:f'"),
        (
            {"function": "labsteps:top_score", "params": {"n_genes": 3}},
            "custom_stages.top.params: given without a model",
        ),
        ({"function": "labsteps:top_score", "model": "labsteps:top_score"}, "is not a pydantic model"),
        ({**TOP, "after": "qc"}, "custom_stages.top.after: 'qc' is not a stage it can follow"),
        ({**TOP, "after": "plots"}, "custom_stages.top.after: 'plots' is not a stage it can follow"),
        ({**TOP, "params": {"n_genez": 3}}, "custom_stages.top.params.n_genez"),
        ({"model": "labsteps:TopParams"}, "custom_stages.top.function"),
    ],
)
def test_config_problems_name_the_key(workdir: Path, entry: dict, message: str) -> None:
    with pytest.raises(ConfigError, match="invalid config") as err:
        validate_config({"custom_stages": {"top": entry}}, base_dir=workdir)
    assert message in str(err.value)


@pytest.mark.parametrize("name", ["leiden", "samples", "1top", "top-score"])
def test_a_custom_stage_name_must_be_new(workdir: Path, name: str) -> None:
    with pytest.raises(ConfigError, match=f"custom_stages.{name}: the name must be a new identifier"):
        validate_config({"custom_stages": {name: TOP}}, base_dir=workdir)


def test_custom_stages_may_follow_each_other(workdir: Path) -> None:
    config = validate_config({"custom_stages": {"a": TOP, "b": {**TOP, "after": "a"}}}, base_dir=workdir)
    from scsnake.workflow import job_inputs

    assert job_inputs(config, "b")[0] == ("main", "a")
    assert [up for role, up in job_inputs(config, "final") if role == "branch"] == ["umap", "a", "b"]
    with pytest.raises(ConfigError, match=r"custom_stages\.a\.after: 'b' is not a stage it can follow"):
        validate_config({"custom_stages": {"a": {**TOP, "after": "b"}, "b": TOP}}, base_dir=workdir)


def test_packages_register_stages_through_entry_points(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (workdir / "labplugin.py").write_text(
        "TOP = {'function': 'labsteps:top_score', 'model': 'labsteps:TopParams', 'after': 'umap'}\n"
    )
    point = EntryPoint(name="topscore", value="labplugin:TOP", group="scsnake.stages")
    monkeypatch.setattr(
        "scsnake.stages._custom.entry_points", lambda group: [point] if group == point.group else []
    )
    config = validate_config({"custom_stages": {"topscore": {"params": {"n_genes": 4}}}}, base_dir=workdir)
    spec = config.custom_stages["topscore"]
    assert (spec.function, spec.after, spec.params) == ("labsteps:top_score", "umap", {"n_genes": 4})


def test_scsnake_registers_its_external_wrappers_as_ready_stages(tmp_path: Path) -> None:
    raw = {
        "custom_stages": {
            "scanorama": {"params": {"key": "sample"}},
            "celltypist": {"params": {"model": "m.pkl"}},
        }
    }
    config = validate_config(raw, base_dir=tmp_path)
    assert config.custom_stages["scanorama"].function == "scsnake.external.pp:scanorama_integrate"
    assert config.custom_stages["celltypist"].after == "leiden"
    with pytest.raises(ConfigError, match=r"custom_stages\.scanorama\.params\.knn"):
        validate_config(
            {"custom_stages": {"scanorama": {"params": {"key": "sample", "knn": 0}}}}, base_dir=tmp_path
        )
