# Load and validate the whole config before the DAG is built; path and parameter helpers.
import re
import shlex
import sys
from pathlib import Path

from scsnake.workflow import (
    ConfigError,
    ScsnakeError,
    artifact_flags,
    analysed_samples,
    caption_values,
    de_figure_names,
    figure_names,
    job_inputs,
    load_config_files,
    qc_figure_names,
    sample_config_json,
    stage_params_json,
    validate_config,
    warnings_text,
)
from snakemake import __version__ as SNAKEMAKE_VERSION

try:
    load_config_files(workflow.overwrite_configfiles or [])
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
    """Rule inputs: the artifacts a job of ``stage`` reads (scsnake.workflow.job_inputs).

    Besides its main and side inputs, a stage that reads the matrix of a lean artifact lists
    the artifact that holds it, and one that may read the raw counts the artifact holding
    those, so Snakemake rebuilds them if they went missing.
    """
    return [artifact(up) for _, up in job_inputs(CONFIG, stage)]


def input_flags(stage):
    """``--input`` flags of the job: the main artifact, then side branches as ``stage=path``."""
    items = [
        (role, up)
        for role, up in job_inputs(CONFIG, stage)
        if role in ("main", "branch")
    ]

    def flags(wildcards):
        paths = [
            (
                artifact(up, wildcards.sample)
                if role == "main"
                else f"{up}={artifact(up, wildcards.sample)}"
            )
            for role, up in items
        ]
        return " ".join(f"--input {shlex.quote(path)}" for path in paths)

    return flags


def stage_params(stage):
    """Canonical JSON of the job's parameters: a change re-runs it and its dependents.

    They may depend on the sample (``load``: its sheet row; ``qc``: its overrides).
    """
    return lambda wildcards: stage_params_json(
        CONFIG, stage, getattr(wildcards, "sample", None)
    )


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
DE_FIGURES = de_figure_names(CONFIG)


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
        tables = ["markers", "clustering"]
        if CONFIG.annotate.enabled:
            tables.append("cell_types")
        if CONFIG.integration.compare:
            tables.append("integration_metrics")
        if CONFIG.pseudobulk.enabled:
            outputs.append(artifact("pseudobulk", sample))
        if CONFIG.de.enabled:
            tables.append("de")
            outputs.extend(figure_paths(sample, DE_FIGURES))
        for suffix in ("csv", "html"):  # each table and its view (table_outputs)
            outputs.extend(f"results/{sample}/{table}.{suffix}" for table in tables)
        outputs.extend(figure_paths(sample, FIGURES))
        outputs.extend(run_info_paths(sample))
    outputs.extend(SUMMARY_FILES)
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


def table_outputs(name, category, label):
    """The named outputs of a stage's table, ``table``, the CSV (a download in the report),
    and ``view``, the same table as an HTML page (``--view``), which the report shows.
    """
    return {
        key: report(
            f"results/{{sample}}/{name}.{suffix}",
            caption=f"../report/{name}.rst",
            category=category,
            labels={"sample": "{sample}", "table": f"{label}{note}"},
        )
        for key, suffix, note in (("table", "csv", " (CSV)"), ("view", "html", ""))
    }


#: The run summary of every sample, written by the summary rule; the report opens with the HTML one.
SUMMARY_FILES = ["results/summary.csv", "results/summary.html"]


def summary_artifacts():
    """The artifacts the run summary reads, per sample: ``qc`` (the QC counts and the warnings
    of load and qc) of each input sample, ``final`` (the clusters and every other stage's
    warnings) of each analysed one, the merged object included."""
    return {
        name: [
            artifact(stage, name)
            for stage, names in (("qc", SAMPLES), ("final", ANALYSED))
            if name in names
        ]
        for name in dict.fromkeys([*SAMPLES, *ANALYSED])
    }


def summary_inputs():
    """The summary rule's inputs: every artifact :func:`summary_artifacts` names."""
    return [path for paths in summary_artifacts().values() for path in paths]


def print_warnings():
    """At the end of a successful run (``onsuccess``): every warning the stages recorded, on stderr.

    Read from the artifacts as they are now, so the warnings of jobs that did not run this
    time are repeated: a sample that lost most of its cells stays loud.
    """
    try:
        text = warnings_text(summary_artifacts(), where=SUMMARY_FILES[1])
    except ScsnakeError as err:
        text = f"scsnake: could not read the warnings of the run: {err}\n"
    sys.stderr.write(text)
