# Load and validate the whole config before the DAG is built; path and parameter helpers.
import re
import shlex
import sys
from pathlib import Path

from scsnake._yaml import read_yaml
from scsnake.config import analysed_samples, stage_params_json, validate_config
from scsnake.errors import ConfigError
from scsnake._artifacts import READS_COUNTS, READS_MATRIX
from scsnake.stages import STAGES, enabled_side_stages, upstream
from scsnake.stages._plots import (
    caption_values,
    figure_names,
    qc_figure_names,
    sample_config_json,
)
from snakemake import __version__ as SNAKEMAKE_VERSION

try:
    for path in workflow.overwrite_configfiles or []:
        read_yaml(
            path
        )  # YAML loading keeps the last of repeated keys silently: refuse them
    # inputs are opened (headers, first values) once, by the main process; cluster jobs skip it
    CONFIG = validate_config(
        config, base_dir=Path.cwd(), open_inputs=workflow.is_main_process
    )
except ConfigError as err:
    sys.stderr.write(f"{err}\n")
    sys.exit(2)

SAMPLES = list(CONFIG.samples)  # the inputs: load and qc run on each
ANALYSED = analysed_samples(
    CONFIG
)  # normalize ... plots run on each: merge.name when merging, else SAMPLES
EXT = CONFIG.artifact_format


wildcard_constraints:
    sample="|".join(re.escape(name) for name in dict.fromkeys([*SAMPLES, *ANALYSED]))
    or "NO_SAMPLES",


def artifact(stage, sample="{sample}"):
    """Path of a stage's artifact for a sample."""
    return f"results/{sample}/{stage}.{EXT}"


def stage_output(stage):
    """The rule output of an artifact stage (zarr artifacts are directories)."""
    path = artifact(stage)
    return directory(path) if EXT == "zarr" else path


def stage_input(stage):
    """Artifacts of the stages this stage reads (scsnake.stages.upstream: the first is the main one).

    Stages that read the matrix from a lean artifact also list the artifact that holds it
    (``normalize``), and those that may read its counts layer the one that holds that
    (``qc``, or ``merge``), so Snakemake rebuilds them if they went missing. The others
    leave it out: a job's memory request grows with the size of its inputs.
    """
    paths = [artifact(up) for up in upstream(CONFIG, stage)]
    if stage in READS_MATRIX and artifact("normalize") not in paths:
        paths.append(artifact("normalize"))
    if stage in READS_COUNTS:  # normalize keeps the counts layer as its input's X
        paths.append(artifact(upstream(CONFIG, "normalize")[0]))
    return paths


def input_flags(stage):
    """``--input`` flags for the runner: the main artifact, then side branches as ``stage=path``."""
    names = upstream(CONFIG, stage)

    def flags(wildcards):
        paths = [artifact(up, wildcards.sample) for up in names]
        items = [paths[0], *(f"{up}={p}" for up, p in zip(names[1:], paths[1:]))]
        return " ".join(f"--input {shlex.quote(item)}" for item in items)

    return flags


def stage_params(stage):
    """Canonical JSON of the stage's config section: a change re-runs it and its dependents.

    ``load`` and ``qc`` are per sample (its sheet row; its qc overrides).
    """
    if stage in ("load", "qc"):
        return lambda wildcards: stage_params_json(CONFIG, stage, wildcards.sample)
    text = stage_params_json(CONFIG, stage)
    return lambda wildcards: text


def sample_input(wildcards):
    """The raw input of a sample (nothing for the built-in simulator)."""
    sample = CONFIG.samples[wildcards.sample]
    return [] if sample.is_synthetic else [sample.input]


def mem_mb(wildcards, input, attempt):
    """Memory for a job: grows with its input's size and with each retry."""
    return int((2000 + 6 * input.size_mb) * attempt)


def runtime(wildcards, input, attempt):
    """Wall-time limit in minutes for schedulers: grows with input size and each retry."""
    return int((15 + input.size_mb / 50) * attempt)


FIGURES = figure_names(CONFIG)
QC_FIGURES = qc_figure_names(CONFIG)


def figure_paths(sample="{sample}", names=None):
    """Figures of a sample: ``names``, by default those of rules plots (from final) and qc_plots (from qc)."""
    names = [*FIGURES, *QC_FIGURES] if names is None else names
    return [f"results/{sample}/figures/{name}.{CONFIG.plots.format}" for name in names]


def run_info_paths(sample="{sample}"):
    """The validated config and package versions of a sample (rule run_info)."""
    return [f"results/{sample}/config.yaml", f"results/{sample}/versions.csv"]


def all_outputs():
    """QC figures of every input sample; the results, figures and tables of every analysed one."""
    outputs = []
    for sample in SAMPLES:
        outputs.extend(figure_paths(sample, QC_FIGURES))
    for sample in ANALYSED:
        outputs.append(artifact("final", sample))
        outputs.append(f"results/{sample}/markers.csv")
        outputs.append(f"results/{sample}/clustering.csv")
        if CONFIG.annotate.enabled:
            outputs.append(f"results/{sample}/cell_types.csv")
        if CONFIG.integration.compare:
            outputs.append(f"results/{sample}/integration_metrics.csv")
        outputs.extend(figure_paths(sample, FIGURES))
        outputs.extend(run_info_paths(sample))
    return outputs


#: Threads of the umap job: umap-learn's seeded layout is serial; the parallel one uses two.
UMAP_THREADS = 1 if CONFIG.umap.method == "umap" else 2


def threads_beside_umap(threads=2):
    """Threads (a rule's ``threads:`` callable) of a job that can run beside UMAP's serial layout.

    On a local run with few cores one is left for ``umap`` (its seeded layout uses one), so
    ``markers`` runs alongside it instead of waiting: with ``--cores 2`` it gets 1 thread.
    Cluster jobs, and every job when UMAP's layout is the parallel one, get ``threads``.
    """

    def count(wildcards):
        if not (workflow.is_main_process and workflow.local_exec) or UMAP_THREADS > 1:
            return threads
        cores = getattr(
            workflow.global_resources.get("_cores"), "value", None
        )  # --cores
        return (
            threads if not isinstance(cores, int) else max(1, min(threads, cores - 1))
        )

    return count


def scsnake_command():
    """How jobs call scsnake: the one installed with the Python running Snakemake.

    Jobs then need no activated environment (``.venv/bin/snakemake`` with a bare PATH works).
    Under ``--sdm conda`` the rule's environment is activated, so its own Python runs it.
    """
    deployment = getattr(workflow, "deployment_settings", None)
    methods = {
        str(m).lower() for m in getattr(deployment, "deployment_method", ()) or ()
    }
    python = (
        "python" if any("conda" in m for m in methods) else shlex.quote(sys.executable)
    )
    return f"{python} -m scsnake"


SCSNAKE = scsnake_command()


def scsnake_shell(arguments):
    """Shell command that runs ``scsnake <arguments>`` (see ``scsnake_command``)."""
    return f"{SCSNAKE} {arguments}"


def stage_shell(stage, extra="", threads="{threads}", output="{output.artifact:q}"):
    """Shell command of a stage job: thread pools as Snakemake allots, the runner, the log.

    ``extra`` adds runner options (``--table {output.table:q}``); ``threads`` may pin the
    BLAS/numba pools to a number; ``output`` is what the runner writes.
    """
    pools = " ".join(
        f"{name}={threads}"
        for name in (
            "OMP_NUM_THREADS",
            "OPENBLAS_NUM_THREADS",
            "MKL_NUM_THREADS",
            "NUMBA_NUM_THREADS",
        )
    )
    return (
        f"export {pools}; {SCSNAKE} run {stage} {{params.inputs}} --output {output}"
        f" --params {{params.stage:q}} --compression {CONFIG.compression} {extra} > {{log:q}} 2>&1"
    )


def figure_outputs(names, category):
    """Named rule outputs of figures, each in the report with its caption and labels."""
    return {
        name: report(
            f"results/{{sample}}/figures/{name}.{CONFIG.plots.format}",
            caption=f"../report/{name}.rst",
            category=category,
            labels={"sample": "{sample}", "figure": name},
        )
        for name in names
    }
