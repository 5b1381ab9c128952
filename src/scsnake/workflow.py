"""What the Snakemake rules use: config validation, each job's inputs and parameters, report files.

The workflow files (``workflow/rules/*.smk``) import only from here. Every function is
generic over the stage declarations (:data:`scsnake.stages.STAGES` and the config's
``custom_stages``): the rules' inputs and the jobs' ``--input`` arguments come from the same
:func:`job_inputs`.
"""

from __future__ import annotations

from typing import Any

from ._yaml import read_yaml
from .config import WorkflowConfig, analysed_samples, stage_params_json, validate_config
from .errors import ConfigError, ScsnakeError
from .stages import counts_holder, enabled_side_stages, matrix_holder, stage, upstream
from .stages._de import de_figure_names
from .stages._plots import caption_values, figure_names, qc_figure_names, sample_config_json
from .stages._summary import artifact_flags, warnings_text

__all__ = [
    "ConfigError",
    "ScsnakeError",
    "WorkflowConfig",
    "analysed_samples",
    "artifact_flags",
    "caption_values",
    "de_figure_names",
    "enabled_side_stages",
    "figure_names",
    "job_inputs",
    "load_config_files",
    "qc_figure_names",
    "sample_config_json",
    "stage_params_json",
    "validate_config",
    "warnings_text",
]


def load_config_files(paths: list[str]) -> None:
    """Read each config file given with ``--configfile`` strictly: a key given twice is refused
    (YAML loaders silently keep the last one)."""
    for path in paths:
        read_yaml(path)


def job_inputs(config: Any, name: str) -> list[tuple[str, str]]:
    """The artifacts a job of stage ``name`` reads, as ``(role, stage)`` pairs.

    ``main`` is its main input and ``branch`` the side inputs (both passed to the job as
    ``--input``); ``matrix`` is the artifact holding the matrix of a lean main input and
    ``counts`` the one holding the raw counts, listed so Snakemake rebuilds them if they went
    missing (the job finds them through the artifacts' pointers). Stages that read neither are
    not given them: a job's memory request grows with the size of its inputs.
    """
    declaration = stage(name, config)
    names = upstream(config, name)
    items = [("main", names[0]), *(("branch", up) for up in names[1:])] if names else []
    listed = set(names)
    if names and declaration.reads_matrix:
        holder = matrix_holder(config, name)
        if holder not in listed:
            items.append(("matrix", holder))
            listed.add(holder)
    if names and declaration.reads_counts:
        holder = counts_holder(config, name)
        if holder not in listed:
            items.append(("counts", holder))
    return items
