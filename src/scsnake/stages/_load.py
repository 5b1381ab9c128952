"""The ``load`` stage: read one sample (or simulate the demo data) into an AnnData."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    SerializationInfo,
    create_model,
    field_serializer,
    field_validator,
    model_validator,
)

from .._matrix import check_counts
from .._params import StageParams, attribute_docs
from ..errors import InputDataError, ParamError
from ._qc import QcParams

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = [
    "InputFormat",
    "LoadParams",
    "LoadRun",
    "QcOverrides",
    "SampleSpec",
    "SyntheticSpec",
    "input_problems",
    "load",
]

InputFormat = Literal[
    "auto", "synthetic", "h5ad", "zarr", "loom", "10x_h5", "10x_mtx", "csv", "tsv", "txt", "mtx"
]
MetadataValue = str | int | float | bool


class SyntheticSpec(StageParams):
    """Options of the built-in simulator (used when a sample's ``format`` is ``synthetic``)."""

    n_cells: PositiveInt = 3000
    """Number of simulated cells."""
    n_genes: Annotated[int, Field(ge=100)] = 4000
    """Number of simulated genes (including MT- and ribosomal genes)."""
    n_types: PositiveInt = 6
    """Number of cell types (truth labels in ``obs['truth']``)."""
    n_batches: PositiveInt = 1
    """Number of batches (``obs['batch']``)."""
    batch_effect: NonNegativeFloat = 0.5
    """Strength of the per-batch gene-wise shifts."""
    doublet_rate: Annotated[float, Field(ge=0, lt=0.5)] = 0.0
    """Fraction of simulated doublets (flagged in ``obs['is_doublet']``)."""
    median_counts: PositiveFloat | None = None
    """Median library size (UMIs) of intact cells; None: ``2000 + 0.2 * n_genes``."""

    @model_validator(mode="after")
    def _enough_genes(self) -> SyntheticSpec:
        from pydantic import ValidationError

        from ..datasets._synthetic import SyntheticParams

        try:  # the simulator's own cross-field rules, checked before any job runs
            SyntheticParams.model_validate({**self.model_dump(), "seed": 0})
        except ValidationError as err:
            raise ValueError(
                "; ".join(e["msg"].removeprefix("Value error, ") for e in err.errors())
            ) from None
        return self


def _partial(model: type[BaseModel], name: str, doc: str) -> type[StageParams]:
    """``model`` with every field optional (default None): a partial section of overrides.

    Which keys were given is ``model_fields_set``; a given ``None`` is an override too (it
    switches a filter off). Nested sections (``doublets``) are partial as well.
    """
    fields: dict[str, Any] = {}
    for key, info in model.model_fields.items():
        annotation: Any = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            annotation = _partial(
                annotation, f"{annotation.__name__}Overrides", f"Overrides of ``qc.{key}``."
            )
        elif info.metadata:
            annotation = Annotated[annotation, *info.metadata]
        fields[key] = (annotation | None, Field(None, description=attribute_docs(model).get(key)))
    return create_model(name, __base__=StageParams, __doc__=doc, **fields)


#: A sample's overrides of the ``qc`` section: any of its keys (nested ``doublets`` partially).
QcOverrides = _partial(
    QcParams, "QcOverrides", "Per-sample overrides of the ``qc`` section (only the keys given)."
)


class SampleSpec(StageParams):
    """One row of the sample sheet."""

    input: str = "synthetic"
    """Path to the sample's data (h5ad, zarr, 10x h5 or mtx directory, csv…), or ``synthetic``."""
    format: InputFormat = "auto"
    """Input format; ``auto`` detects it from the path (``synthetic`` when input is ``synthetic``)."""
    synthetic: SyntheticSpec = SyntheticSpec.model_construct()  # valid as it is: not re-checked at import
    """Simulator options when the input is ``synthetic``."""
    metadata: dict[str, MetadataValue] = {}
    """Columns added to ``obs`` for every cell of this sample (e.g. ``donor: D1``)."""
    qc: QcOverrides = QcOverrides()  # type: ignore[valid-type]
    """This sample's ``qc`` thresholds where they differ from the ``qc`` section (e.g. ``min_genes: 500``)."""

    @field_serializer("qc")
    def _given_overrides_only(self, value: BaseModel, info: SerializationInfo) -> dict[str, Any]:
        return value.model_dump(mode=info.mode, exclude_unset=True)

    def qc_params(self, base: QcParams) -> QcParams:
        """The sample's effective ``qc`` parameters: ``base`` (the qc section) updated by its overrides.

        A nested section (``doublets``) is updated key by key; other keys are replaced whole.
        Raises pydantic's ``ValidationError`` when the combination is invalid.
        """
        values = base.model_dump()
        for key in self.qc.model_fields_set:
            value = getattr(self.qc, key)
            if isinstance(value, BaseModel):
                values[key] = {**values[key], **value.model_dump(exclude_unset=True)}
            else:
                values[key] = value
        return QcParams.model_validate(values)

    @field_validator("metadata")
    @classmethod
    def _metadata_keys(cls, value: dict[str, MetadataValue]) -> dict[str, MetadataValue]:
        reserved = {"sample", "truth"} & set(value)
        if reserved:
            msg = f"metadata may not set reserved obs column(s) {sorted(reserved)}"
            raise ValueError(msg)
        return value

    @property
    def is_synthetic(self) -> bool:
        """True when the sample is simulated rather than read from a file."""
        return self.format == "synthetic" or (self.format == "auto" and self.input == "synthetic")


class LoadParams(StageParams):
    """The ``load`` section: how every sample's input is read."""

    var_names: Literal["gene_symbols", "gene_ids"] = "gene_symbols"
    """For 10x inputs: use gene symbols or Ensembl ids as ``var_names``."""
    make_unique: bool = True
    """Make duplicated gene names unique (``-1``, ``-2`` suffixes) like scanpy."""
    genome: str | None = None
    """For 10x h5 files with several genomes: the one to read (None: all)."""
    gex_only: bool = True
    """For 10x inputs: keep only 'Gene Expression' features."""


def load(sample: SampleSpec, params: LoadParams, *, name: str, random_state: int) -> AnnData:
    """Read (or simulate) one sample and label its cells with ``obs['sample']``.

    Parameters
    ----------
    sample
        The sample sheet row.
    params
        Reading options.
    name
        The sample name, stored in ``obs['sample']``.
    random_state
        Seed of the simulator (the config's ``seed``).

    Returns
    -------
    AnnData with counts in ``X`` and ``obs['sample']`` plus the sample's metadata columns.
    """
    from .. import datasets, io

    if sample.is_synthetic:
        adata = datasets.synthetic(**sample.synthetic.model_dump(), seed=random_state)
    else:
        path = Path(sample.input)
        kwargs: dict[str, Any] = {}
        fmt = sample.format if sample.format != "auto" else io.detect_format(path)
        if fmt == "10x_mtx":
            kwargs = {
                "var_names": params.var_names,
                "make_unique": params.make_unique,
                "gex_only": params.gex_only,
            }
        elif fmt == "10x_h5":
            kwargs = {"genome": params.genome, "gex_only": params.gex_only}
        adata = io.read(path, format=fmt, **kwargs)
    if adata.n_obs == 0 or adata.n_vars == 0:
        msg = f"sample {name!r}: {sample.input} holds an empty matrix ({adata.n_obs} cells × {adata.n_vars} genes)"
        raise InputDataError(msg)
    _require_counts(adata, name, sample.input)
    if params.make_unique and not adata.var_names.is_unique:
        adata.var_names_make_unique()
    if not adata.obs_names.is_unique:
        duplicated = adata.obs_names[adata.obs_names.duplicated()].unique()
        msg = (
            f"sample {name!r}: {sample.input} has {len(duplicated)} duplicated cell name(s) "
            f"(e.g. {duplicated[:3].tolist()}); cell barcodes must be unique"
        )
        raise InputDataError(msg)
    adata.obs["sample"] = pd.Categorical(np.repeat(name, adata.n_obs))
    for key, value in sample.metadata.items():
        adata.obs[key] = (
            pd.Categorical(np.repeat(str(value), adata.n_obs)) if isinstance(value, str) else value
        )
    return adata


#: What to do about a sample that is not raw counts.
_COUNTS_FIX = "The workflow starts from raw counts (e.g. Cell Ranger's filtered_feature_bc_matrix); point the sample at them"


def _counts_problem(x: Any, where: str = "X") -> str | None:
    """Why ``x`` is not raw counts (``X has 3 negative value(s) (min -1)``), or None."""
    try:
        check_counts(x, where=where)
    except InputDataError as err:
        return str(err).split(", but ", 1)[-1].split("; pass", 1)[0]
    return None


def _require_counts(adata: AnnData, name: str, source: str) -> None:
    """Refuse a sample whose ``X`` is not raw counts: every stage after ``load`` assumes them."""
    reason = _counts_problem(adata.X)
    if reason is not None:
        msg = f"sample {name!r}: {source} does not hold raw counts: {reason}. {_COUNTS_FIX}"
        raise InputDataError(msg)


def input_problems(
    sample: SampleSpec, where: str, base_dir: Path, params: LoadParams | None = None
) -> list[str]:
    """Problems of a sample's input, found before any job: one config error line each.

    The input must exist (relative to ``base_dir``). With ``params`` (the ``load`` section) it
    is also opened as ``load`` reads it, reading only headers and its first stored values
    (:func:`scsnake.io._probe.probe`): it must open, hold cells and genes, and look like raw
    counts. ``where`` is the sample's key path (``samples.pbmc``, or its sample-sheet row).
    """
    from ..io._probe import probe  # h5py, zarr: imported when inputs are checked

    if sample.is_synthetic:
        return []
    path = base_dir / sample.input
    if not path.exists():
        return [f"{where}.input: path does not exist (got {sample.input!r}, relative to {base_dir})"]
    if params is None:
        return []
    try:
        found = probe(path, format=sample.format, genome=params.genome, gex_only=params.gex_only)  # type: ignore[arg-type]
    except ParamError as err:  # the genome does not fit the file
        genome = "null" if params.genome is None else repr(params.genome)
        return [f"load.genome: {genome} does not fit {where}.input: {err}"]
    except InputDataError as err:
        return [f"{where}.input: {err}"]
    if found.n_obs == 0 or found.n_vars == 0:
        n_obs = "?" if found.n_obs is None else found.n_obs
        return [
            f"{where}.input: {path} holds an empty matrix ({n_obs} cells × {found.n_vars} genes); "
            "point the sample at a matrix with cells and genes"
        ]
    reason = _counts_problem(found.values, found.where)
    if reason is not None:
        return [
            f"{where}.input: {path} does not hold raw counts: {reason} (in its first {found.values.size} "
            f"stored values). {_COUNTS_FIX}"
        ]
    return []


class LoadRun(StageParams):
    """What a ``load`` job runs with: the sample's sheet row, the ``load`` section and the seed."""

    sample: SampleSpec
    options: LoadParams = LoadParams()
    seed: int = 0
