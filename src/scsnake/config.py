"""The whole workflow configuration (``config/config.yaml``) as one validated model."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, NonNegativeInt, ValidationError, field_validator, model_validator

from ._params import StageParams, format_validation_error
from ._yaml import read_yaml
from .errors import ConfigError
from .stages import STAGES, SampleSpec
from .stages._annotate import AnnotateParams
from .stages._final import FinalParams
from .stages._graph import LeidenStageParams, NeighborsStageParams, UmapStageParams
from .stages._hvg import DispersionHvg, HvgParams
from .stages._load import LoadParams
from .stages._markers import MarkersParams
from .stages._normalize import NormalizeParams
from .stages._pca import PcaStageParams
from .stages._plots import PlotsParams
from .stages._qc import QcParams
from .stages._trajectory import DptStageParams, DrawGraphStageParams, PagaStageParams, TsneStageParams

__all__ = ["WorkflowConfig", "load_config", "stage_params_json", "validate_config"]

SAMPLE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class WorkflowConfig(StageParams):
    """Everything in ``config/config.yaml``: global settings, the sample sheet, one section per stage."""

    seed: NonNegativeInt = 0
    """Seed of every random step (simulation, PCA solver, kNN search, UMAP, Leiden)."""
    artifact_format: Literal["h5ad", "zarr"] = "h5ad"
    """Format of the per-stage artifacts ``results/<sample>/<stage>.<format>``."""
    compression: Literal["none", "gzip", "lzf"] = "none"
    """Compression of artifacts: ``none`` is fastest; ``lzf`` fast and smaller; ``gzip`` smallest."""
    samples: dict[str, SampleSpec] = Field(default_factory=lambda: {"demo": SampleSpec()}, min_length=1)
    """Sample sheet: ``name: {input, format, metadata}``; each sample runs independently."""
    load: LoadParams = LoadParams()
    qc: QcParams = QcParams()
    normalize: NormalizeParams = NormalizeParams()
    hvg: HvgParams = DispersionHvg()
    pca: PcaStageParams = PcaStageParams()
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
    plots: PlotsParams = PlotsParams()

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


def validate_config(raw: Any, *, base_dir: Path | str = ".") -> WorkflowConfig:
    """Validate a config mapping; raise :class:`ConfigError` listing every problem.

    Each problem names the key path, the bad value and what is allowed. Sample input paths
    are checked to exist (relative to ``base_dir``).
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        msg = f"config: expected a mapping of sections, got {type(raw).__name__}"
        raise ConfigError(msg)
    problems: list[str] = []
    try:
        config = WorkflowConfig.model_validate(raw)
    except ValidationError as err:
        problems = format_validation_error(err, model=WorkflowConfig)
        config = None
    problems += _missing_inputs(raw.get("samples"), Path(base_dir))
    if problems:
        msg = "invalid config:\n" + "\n".join(f"  - {p}" for p in problems)
        raise ConfigError(msg)
    assert config is not None  # for type checkers: problems is non-empty otherwise
    return config


def _missing_inputs(samples: Any, base_dir: Path) -> list[str]:
    """Problems for sample inputs that do not exist (samples that are otherwise valid)."""
    if not isinstance(samples, dict):
        return []
    problems = []
    for name, row in samples.items():
        try:
            sample = SampleSpec.model_validate(row if row is not None else {})
        except ValidationError:
            continue  # already reported
        if not sample.is_synthetic and not (base_dir / sample.input).exists():
            problems.append(f"samples.{name}.input: path does not exist (got {sample.input!r}, relative to {base_dir})")
    return problems


def load_config(path: Path | str) -> WorkflowConfig:
    """Read and validate a YAML config file."""
    return validate_config(read_yaml(path), base_dir=Path.cwd())


def stage_params_json(config: WorkflowConfig, stage: str, sample: str | None = None) -> str:
    """Canonical JSON of one stage's parameters (sorted keys, defaults filled in).

    Seeded stages get ``random_state`` = the config's ``seed`` unless set; ``load`` gets
    the sample's sheet row too. Snakemake's params trigger re-runs a stage exactly when
    this text changes.
    """
    section = getattr(config, stage)
    values: dict[str, Any] = section.model_dump(mode="json")
    if STAGES[stage].seeded and values.get("random_state") is None:
        values["random_state"] = config.seed
    if stage == "load":
        if sample is None:
            msg = "stage_params_json('load') needs the sample name"
            raise ValueError(msg)
        values = {"sample": config.samples[sample].model_dump(mode="json"), "options": values, "seed": config.seed}
    return json.dumps(values, sort_keys=True, separators=(",", ":"))
