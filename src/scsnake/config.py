"""The whole workflow configuration (``config/config.yaml``) as one validated model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ._params import DocumentedJsonSchema, Seed, StageParams, format_validation_error
from ._yaml import read_yaml
from .errors import ConfigError
from .stages import STAGES, SampleSpec, batch_key, stage
from .stages._annotate import AnnotateParams
from .stages._custom import CustomStageSpec, custom_stage_problems, source_sha256, with_registered_defaults
from .stages._de import DeParams, de_problems
from .stages._final import FinalParams
from .stages._graph import LeidenStageParams, NeighborsStageParams, UmapStageParams
from .stages._hvg import DispersionHvg, HvgParams
from .stages._integration import IntegrationParams
from .stages._integration_metrics import IntegrationMetricsParams
from .stages._load import LoadParams, input_problems
from .stages._markers import MarkersParams
from .stages._merge import MergeParams
from .stages._normalize import NormalizeParams
from .stages._pca import PcaStageParams
from .stages._plots import PlotsParams
from .stages._pseudobulk import PseudobulkParams
from .stages._qc import QcParams
from .stages._sheet import SAMPLE_NAME, read_sample_sheet
from .stages._trajectory import DptStageParams, DrawGraphStageParams, PagaStageParams, TsneStageParams

__all__ = [
    "WorkflowConfig",
    "analysed_samples",
    "batch_key",
    "config_schema",
    "load_config",
    "stage_params_json",
    "validate_config",
]


def _sheet_file(value: Any) -> Any:
    """A sample sheet given as a TSV path (relative to the working directory) → its rows."""
    if not isinstance(value, str):
        return value
    rows, problems = read_sample_sheet(value, Path.cwd())
    if problems:
        raise ValueError("; ".join(problems))
    return rows


SampleSheet = Annotated[
    dict[str, SampleSpec],
    BeforeValidator(_sheet_file, json_schema_input_type=dict[str, SampleSpec] | str),
]


class WorkflowConfig(StageParams):
    """Everything in ``config/config.yaml``: global settings, the sample sheet, one section per stage."""

    seed: Seed = 0
    """Seed of every random step (simulation, PCA solver, kNN search, UMAP, Leiden)."""
    artifact_format: Literal["h5ad", "zarr"] = "h5ad"
    """Format of the per-stage artifacts ``results/<sample>/<stage>.<format>``."""
    compression: Literal["none", "gzip", "lzf"] = "none"
    """Compression of artifacts: ``none`` is fastest; ``lzf`` fast and smaller; ``gzip`` smallest."""
    samples: SampleSheet = Field(default_factory=lambda: {"demo": SampleSpec()}, min_length=1)
    """Sample sheet: ``name: {input, format, metadata, qc}``, or the path of a TSV sheet (columns
    ``sample``, ``input``, ``format``, ``qc.<key>``, metadata). Without ``merge`` each sample runs on its own."""
    load: LoadParams = LoadParams()
    qc: QcParams = QcParams()
    merge: MergeParams = MergeParams()
    normalize: NormalizeParams = NormalizeParams()
    hvg: HvgParams = DispersionHvg()
    pca: PcaStageParams = PcaStageParams()
    integration: IntegrationParams = IntegrationParams()
    integration_metrics: IntegrationMetricsParams = IntegrationMetricsParams()
    neighbors: NeighborsStageParams = NeighborsStageParams()
    umap: UmapStageParams = UmapStageParams()
    leiden: LeidenStageParams = LeidenStageParams()
    markers: MarkersParams = MarkersParams()
    annotate: AnnotateParams = AnnotateParams()
    tsne: TsneStageParams = TsneStageParams()
    draw_graph: DrawGraphStageParams = DrawGraphStageParams()
    paga: PagaStageParams = PagaStageParams()
    dpt: DptStageParams = DptStageParams()
    final: FinalParams = FinalParams()
    pseudobulk: PseudobulkParams = PseudobulkParams()
    de: DeParams = DeParams()
    plots: PlotsParams = PlotsParams()
    custom_stages: Annotated[dict[str, CustomStageSpec], BeforeValidator(with_registered_defaults)] = Field(
        default_factory=dict
    )
    """Stages of your own: ``name: {function, model, after, params}`` (see README, "Stages of your own")."""

    @field_validator("samples")
    @classmethod
    def _sample_names(cls, value: dict[str, SampleSpec]) -> dict[str, SampleSpec]:
        bad = [name for name in value if not SAMPLE_NAME.match(str(name))]
        if bad:
            msg = f"sample name(s) {bad} must start with a letter or digit and use only letters, digits, '_', '.', '-'"
            raise ValueError(msg)
        return value

    @model_validator(mode="before")
    @classmethod
    def _hvg_flavor_default(cls, data: Any) -> Any:
        # the hvg section is a tagged union on `flavor`; a section without it means seurat
        if isinstance(data, dict) and isinstance(data.get("hvg"), dict) and "flavor" not in data["hvg"]:
            data = {**data, "hvg": {"flavor": "seurat", **data["hvg"]}}
        return data

    @model_validator(mode="after")
    def _markers_group_exists(self) -> WorkflowConfig:
        if self.markers.groupby == "leiden" and self.leiden.key_added != "leiden":
            msg = f"markers.groupby is 'leiden' but leiden.key_added is {self.leiden.key_added!r}; make them equal"
            raise ValueError(msg)
        return self

    @model_validator(mode="after")
    def _samples_merge_integration(self, info: ValidationInfo) -> WorkflowConfig:
        # every problem at once: one message, one problem per line (as ConfigError lists them)
        sheet_failed = bool((info.context or {}).get("sheet_problems"))
        problems = [
            *self._qc_override_problems(),
            *self._merge_problems(sheet_failed),
            *self._integration_problems(),
            *de_problems(self, sheet_failed=sheet_failed),
            *custom_stage_problems(self, STAGES),
        ]
        if problems:
            raise ValueError("\n  - ".join(problems))
        return self

    def _qc_override_problems(self) -> list[str]:
        problems = []
        for name, sample in self.samples.items():
            try:
                sample.qc_params(self.qc)
            except ValidationError as err:
                problems += format_validation_error(err, prefix=f"samples.{name}.qc", model=QcParams)
        return problems

    def _merge_problems(self, sheet_failed: bool) -> list[str]:
        merge = self.merge
        if not merge.enabled:
            return []
        problems = []
        if len(self.samples) < 2 and not sheet_failed:
            problems.append(
                f"merge.enabled needs at least 2 samples (got {len(self.samples)}: {list(self.samples)})"
            )
        if merge.name in self.samples:
            problems.append(
                f"merge.name {merge.name!r} is also a sample's name; pick another (results/<name>/ holds the merged object)"
            )
        clashes = [name for name, sample in self.samples.items() if merge.batch_key in sample.metadata]
        if clashes:
            problems.append(
                f"merge.batch_key {merge.batch_key!r} is also a metadata column of sample(s) {clashes}, and the "
                "merge writes the sample names there: pick another name (to integrate by it, set "
                f"integration.batch_key: {merge.batch_key})"
            )
        return problems

    def _integration_problems(self) -> list[str]:
        integration = self.integration
        method = integration.method
        problems = []
        if (
            (method != "none" or integration.compare)
            and not self.merge.enabled
            and integration.batch_key is None
        ):
            what = f"integration.method {method!r}" if method != "none" else "integration.compare"
            problems.append(
                f"{what} needs integration.batch_key (an obs column of the batches) when merge.enabled is false; "
                "or merge the samples (merge.enabled: true) to integrate them"
            )
        key = batch_key(self)
        if method == "combat" and self.pca.combat_key not in (None, key):
            problems.append(
                f"integration.method is 'combat' on {key!r} but pca.combat_key is {self.pca.combat_key!r}; "
                "unset pca.combat_key (integration sets it)"
            )
        if method == "combat" and self.normalize.method == "pearson_residuals":
            problems.append(
                "integration.method 'combat' corrects log-normalised genes, but normalize.method is "
                "pearson_residuals (the PCA of residuals skips ComBat); use harmony or bbknn"
            )
        if method == "harmony" and self.neighbors.use_rep != "X_pca":
            problems.append(
                f"integration.method 'harmony' makes neighbors use X_pca_harmony, but neighbors.use_rep is "
                f"{self.neighbors.use_rep!r}; leave neighbors.use_rep at X_pca"
            )
        return problems


def config_schema() -> dict[str, Any]:
    """The config's JSON schema, each key described by its docstring (``workflow/schemas``)."""
    return WorkflowConfig.model_json_schema(schema_generator=DocumentedJsonSchema)


def validate_config(raw: Any, *, base_dir: Path | str = ".", open_inputs: bool = True) -> WorkflowConfig:
    """Validate a config mapping; raise :class:`ConfigError` listing every problem.

    Each problem names the key path, the bad value and what is allowed. ``samples`` may be
    the path of a TSV sample sheet; it and the sample input paths are relative to ``base_dir``
    (the working directory), and the inputs are checked to exist. With ``open_inputs`` each
    input is also opened as ``load`` reads it, reading only its headers and first stored values:
    a truncated file, an empty 10x directory, an empty matrix or values that are not raw counts
    are refused here, before any job.
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        msg = f"config: expected a mapping of sections, got {type(raw).__name__}"
        raise ConfigError(msg)
    problems: list[str] = []
    load = _load_section(raw) if open_inputs else None
    samples = raw.get("samples")
    if isinstance(samples, str):  # a TSV sample sheet: its problems name the file, row and column
        rows, problems = read_sample_sheet(samples, Path(base_dir), load=load)
        raw = {**raw, "samples": rows} if rows else {k: v for k, v in raw.items() if k != "samples"}
    try:
        config = WorkflowConfig.model_validate(raw, context={"sheet_problems": bool(problems)})
    except ValidationError as err:
        problems += format_validation_error(err, model=WorkflowConfig)
        config = None
    problems += _input_problems(samples, Path(base_dir), load)
    if problems:
        msg = "invalid config:\n" + "\n".join(f"  - {p}" for p in problems)
        raise ConfigError(msg)
    assert config is not None  # for type checkers: problems is non-empty otherwise
    return config


def _load_section(raw: dict[str, Any]) -> LoadParams:
    """The ``load`` section inputs are opened with (its defaults when invalid: reported anyway)."""
    try:
        return LoadParams.model_validate(raw.get("load") or {})
    except ValidationError:
        return LoadParams()


def _input_problems(samples: Any, base_dir: Path, load: LoadParams | None) -> list[str]:
    """Problems of the inputs of samples that are otherwise valid (:func:`input_problems`)."""
    if not isinstance(samples, dict):
        return []
    problems = []
    for name, row in samples.items():
        try:
            sample = SampleSpec.model_validate(row if row is not None else {})
        except ValidationError:
            continue  # already reported
        problems += input_problems(sample, f"samples.{name}", base_dir, load)
    return problems


def load_config(path: Path | str) -> WorkflowConfig:
    """Read and validate a YAML config file."""
    return validate_config(read_yaml(path), base_dir=Path.cwd())


def stage_params_json(config: WorkflowConfig, name: str, sample: str | None = None) -> str:
    """Canonical JSON of one stage's parameters (sorted keys, defaults filled in).

    Seeded stages get ``random_state`` = the config's ``seed`` unless set; then the stage's
    declared ``derive`` fills in what the sample sheet and other sections decide (``load``:
    the sample's row; ``qc``: its overrides; the batch key of ``hvg``, ``pca`` and
    ``neighbors`` under merge and integration). A custom stage's spec carries the hash of its
    function's source. Snakemake's params trigger re-runs a stage exactly when this text changes.
    """
    declaration = stage(name, config)
    if name in config.custom_stages:
        spec = config.custom_stages[name]
        values = spec.model_dump(mode="json") | {"name": name, "source_sha256": source_sha256(spec.function)}
    else:
        values = getattr(config, declaration.section or name).model_dump(mode="json")
    if declaration.seeded and values.get("random_state") is None:
        values["random_state"] = config.seed
    if declaration.derive is not None:
        values = declaration.derive(config, values, sample)
    return json.dumps(values, sort_keys=True, separators=(",", ":"))


def analysed_samples(config: WorkflowConfig) -> list[str]:
    """The names normalize → … → plots run on: ``merge.name`` when merging, else every sample."""
    return [config.merge.name] if config.merge.enabled else list(config.samples)
