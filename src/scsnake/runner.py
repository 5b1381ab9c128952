"""Run one workflow stage: read → check → run → provenance → atomic write."""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter, ValidationError

from ._artifacts import (
    attach_layers,
    attach_matrix,
    copy_elements,
    lean_copy,
    mark_full,
    matrix_copies,
    matrix_pointer,
    point_layers,
)
from ._params import format_validation_error
from ._stage_warnings import RecordedWarnings, recording_warnings, warn_cell_loss
from .errors import CellLossWarning, InputDataError, MissingKeyError, ParamError
from .stages import STAGES, Stage
from .stages._custom import custom_declaration

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from anndata import AnnData

__all__ = [
    "PROVENANCE_PACKAGES",
    "checksum",
    "package_versions",
    "provenance",
    "run_stage",
    "write_atomic",
]

logger = logging.getLogger(__name__)

#: Packages whose versions every artifact's provenance and the report's ``versions.csv`` record.
PROVENANCE_PACKAGES = (
    "scsnake", "anndata", "numpy", "scipy", "pandas", "scikit-learn", "numba", "umap-learn",
    "pynndescent", "igraph", "leidenalg", "openTSNE", "h5py", "zarr", "matplotlib", "pydantic",
    "snakemake",
)  # fmt: skip


def run_stage(
    name: str,
    *,
    inputs: list[Path | str],
    output: Path,
    params_json: str,
    sample: str | None = None,
    compression: str = "none",
    table: Path | None = None,
    view: Path | None = None,
) -> None:
    """Run stage ``name`` on ``inputs`` and write ``output`` atomically.

    Parameters
    ----------
    name
        A stage (see :data:`scsnake.stages.STAGES`), or a custom stage (``custom_stages``:
        its spec is in ``params_json``).
    inputs
        The main input artifact first (none for ``load``), then side branches as
        ``<stage>=<path>`` (``final`` gathers ``umap=…``, ``tsne=…``); for ``merge``, the
        ``qc`` artifact of every sample.
    output
        The artifact to write (``.h5ad`` or ``.zarr``), the figures directory for ``plots``,
        or the CSV of a table stage (``integration_metrics``).
    params_json
        The stage's parameters as JSON (the workflow passes its config section).
    sample
        Sample name (``load`` labels the cells with it).
    compression
        Artifact compression: ``none``, ``gzip`` or ``lzf``.
    table
        For stages with a table (``markers``, ``leiden``): also write it to this CSV path.
    view
        For stages with a table: also write it as an HTML page here (the report shows it).

    Every scsnake warning raised meanwhile is logged and listed in the stage's provenance
    record (``warnings``), as is a :class:`~scsnake.errors.CellLossWarning` when the stage
    kept less than half of its input's cells (:mod:`scsnake._stage_warnings`).
    """
    with recording_warnings() as caught:
        _run_stage(
            name,
            inputs=inputs,
            output=output,
            params_json=params_json,
            sample=sample,
            compression=compression,
            table=table,
            view=view,
            caught=caught,
        )


def _run_stage(
    name: str,
    *,
    inputs: list[Path | str],
    output: Path,
    params_json: str,
    sample: str | None,
    compression: str,
    table: Path | None,
    view: Path | None,
    caught: RecordedWarnings,
) -> None:
    """:func:`run_stage`, with the scsnake warnings raised recorded in ``caught``."""
    from .io._write import write_completed

    stage = declaration(name, params_json)
    params = parse_params(stage, params_json)
    # what the artifact was made from; their checksums (provenance) are computed while the stage runs
    source = (
        [params.sample.input]
        if stage.kind == "source"
        else [str(Path(str(i).partition("=")[2] or i)) for i in inputs]
    )
    hashing = _HASHER.submit(_checksums, source) if stage.kind not in ("table", "figures") else None
    output.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    n_cells_in: int | None = None  # cells of the main input artifact
    matrix_source: tuple[Path, str] | None = None  # lean output: where its matrix lives
    matrix_before: tuple[Any, dict[str, Any]] = (None, {})
    copies: list[tuple[Path, str, str]] | None = None  # the matrix, copied file to file into the output
    if (stage.kind == "source") != (len(inputs) == 0):
        expected = "no input (it reads the sample)" if stage.kind == "source" else "an input artifact"
        msg = f"stage {name!r} takes {expected}, got {len(inputs)}"
        raise ParamError(msg)
    if stage.kind == "source":
        adata = stage.func(params.sample, params.options, name=sample or "sample", random_state=params.seed)
    elif stage.kind == "gather":  # merge: the same stage's artifact of every sample, in order
        paths = [Path(item) for item in inputs]
        adata = stage.func([_read_stage_input(name, path) for path in paths], params)
    else:
        main = Path(inputs[0])
        adata = _read_stage_input(name, main)
        n_cells_in = adata.n_obs
        check_needs(stage, adata, main)
        copies = matrix_copies(adata, main, output) if stage.copies_matrix else None
        if copies is None:
            matrix_source = _matrix_source(stage, adata, main, params)
            matrix_before = (adata.X, dict(adata.layers))
        branches = dict(_branch(item) for item in inputs[1:])
        kwargs: dict[str, Any] = {up: _read_light(path) for up, path in branches.items()}
        if stage.seeded:
            kwargs["random_state"] = params.random_state if params.random_state is not None else 0
        if stage.kind == "table":
            frame = stage.func(adata, params, **kwargs)
            _write_table(frame, output)
            _write_view(frame, view, output)
            logger.info("%s: wrote %s in %.1f s", name, output, time.perf_counter() - started)
            return
        if stage.kind == "figures":
            stage.func(adata, params, outdir=output, **kwargs)
            logger.info("%s: wrote figures to %s in %.1f s", name, output, time.perf_counter() - started)
            return
        adata = stage.func(adata, params, **kwargs)
    # a loss of cells, unless the stage said why or its rows are groups of cells (pseudobulk)
    if n_cells_in is not None and not stage.aggregates and not caught.has(CellLossWarning):
        warn_cell_loss(name, n_cells_in, adata.n_obs)
    record = provenance(name, params_json, source, time.perf_counter() - started, sums=hashing.result())
    if caught:
        record["warnings"] = caught.messages()
    adata.uns.setdefault("scsnake", {}).setdefault("provenance", {})[name] = record
    written = adata
    if stage.keeps_matrix and matrix_source is not None and _same_matrix(adata, *matrix_before):
        written = lean_copy(adata, matrix_path=matrix_source[0], artifact_id=matrix_source[1], output=output)
    else:
        mark_full(adata)
        # layers that are the input's X as read (normalize's counts): a pointer, not a second copy
        # (anndata >= 0.13 lists X itself as layers[None]: not a layer to point at)
        kept = [k for k, layer in adata.layers.items() if k is not None and layer is matrix_before[0]]
        if kept and matrix_source is not None:
            written = point_layers(
                adata, kept, source=matrix_source[0], artifact_id=matrix_source[1], output=output
            )
    complete = None if copies is None else (lambda staged: copy_elements(staged, copies))
    write_completed(
        written, output, compression=None if compression == "none" else compression, complete=complete
    )
    if table is not None:
        if stage.table is None:
            msg = f"stage {name!r} writes no table; drop --table"
            raise ParamError(msg)
        frame = stage.table(adata, params)
        _write_table(frame, table)
        _write_view(frame if stage.view is None else stage.view(adata, params), view, table)
    logger.info(
        "%s: wrote %s (%d cells × %d genes) in %.1f s",
        name,
        output,
        adata.n_obs,
        adata.n_vars,
        time.perf_counter() - started,
    )


def declaration(name: str, params_json: str) -> Stage:
    """The stage ``name``: a built-in one, or a custom stage declared by its parameters' spec."""
    if name in STAGES:
        return STAGES[name]
    try:
        after = json.loads(params_json).get("after")
    except (json.JSONDecodeError, AttributeError):
        after = None
    if not isinstance(after, str):
        msg = f"unknown stage {name!r} (stages: {', '.join(STAGES)}; a custom stage's --params names its 'after')"
        raise ParamError(msg)
    return custom_declaration(name, after)


def _matrix_source(stage: Stage, adata: AnnData, main: Path, params: Any) -> tuple[Path, str] | None:
    """Where the input's matrix lives (path and artifact id), attaching what ``stage`` reads
    of it; None if the input has no artifact id (older files)."""
    pointer = matrix_pointer(adata)
    parts = stage.matrix_parts(adata, params)
    if pointer is None:
        if parts == "all" or not stage.keeps_matrix:  # a full output needs every layer
            attach_layers(adata, main)
        artifact_id = adata.uns.get("scsnake", {}).get("artifact_id")
        return None if artifact_id is None else (main, artifact_id)
    if parts is None:
        return (main.parent / pointer["path"]).resolve(), pointer["artifact_id"]
    return attach_matrix(adata, main, layers=parts == "all"), pointer["artifact_id"]


def _same_matrix(adata: AnnData, x: Any, layers: dict[str, Any]) -> bool:
    """Whether the stage left ``X`` and ``layers`` as read (the same objects, the same keys)."""
    now = dict(adata.layers)
    return adata.X is x and now.keys() == layers.keys() and all(now[k] is layers[k] for k in now)


def _branch(item: Path | str) -> tuple[str, Path]:
    """``umap=results/s/umap.h5ad`` → ``("umap", Path(...))``."""
    name, sep, path = str(item).partition("=")
    if not sep or not name.isidentifier():
        msg = f"side input {str(item)!r} must be <stage>=<path> with a stage name"
        raise ParamError(msg)
    return name, Path(path)


def parse_params(stage: Stage, params_json: str) -> Any:
    """Validate the JSON parameters of ``stage`` (``ParamError`` names the bad key)."""
    try:
        raw = json.loads(params_json)
    except json.JSONDecodeError as err:
        msg = f"{stage.name}: --params is not valid JSON ({err})"
        raise ParamError(msg) from None
    try:
        return TypeAdapter(stage.params).validate_python(raw)
    except ValidationError as err:
        lines = format_validation_error(err, prefix=stage.name, model=stage.params)
        raise ParamError("invalid parameters:\n" + "\n".join(f"  - {line}" for line in lines)) from None


def check_needs(stage: Stage, adata: AnnData, path: Path) -> None:
    """Raise :class:`MissingKeyError` if a slot the stage needs is absent from its input."""
    for need in stage.needs:
        attr, key = need.split("/", 1)
        if key not in getattr(adata, attr):
            writer = next((s.name for s in STAGES.values() if need in s.writes), None)
            by = f" (written by `{writer}`)" if writer else ""
            msg = f"{stage.name} needs {attr}[{key!r}]{by}; not found in {path}"
            raise MissingKeyError(msg)


def _read_stage_input(name: str, path: Path) -> AnnData:
    """An input artifact of stage ``name``; an error if it is missing or holds no cells or genes."""
    adata = _read_input(path)
    if adata.n_obs == 0 or adata.n_vars == 0:
        msg = (
            f"{name}: the input artifact {path} holds an empty matrix ({adata.n_obs} cells × {adata.n_vars} genes); "
            "check the stages that ran before"
        )
        raise InputDataError(msg)
    return adata


def _read_input(path: Path) -> AnnData:
    from .io._mapped import read_artifact

    if not path.exists():
        msg = f"input artifact not found: {path}"
        raise InputDataError(msg)
    return read_artifact(path)


def _read_light(path: Path) -> AnnData:
    """An artifact's annotations (obs, var, obsm, obsp, varm, uns): side inputs never load ``X``."""
    import anndata as ad
    from anndata.io import read_elem

    if not path.exists():
        msg = f"input artifact not found: {path}"
        raise InputDataError(msg)
    keys = ("obs", "var", "obsm", "obsp", "varm", "uns")
    if path.suffix == ".zarr":
        import zarr

        store = zarr.open_group(str(path), mode="r")
        parts = {k: read_elem(store[k]) for k in keys if k in store}
    else:
        import h5py

        with h5py.File(path, "r") as store:
            parts = {k: read_elem(store[k]) for k in keys if k in store}
    return ad.AnnData(**{k: v for k, v in parts.items() if v is not None})


def checksum(path: Path | str) -> str:
    """SHA-256 of a file, or of a directory's files (paths and contents, sorted)."""
    path = Path(path)
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode())
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
    return digest.hexdigest()


def package_versions(packages: Iterable[str] = PROVENANCE_PACKAGES) -> dict[str, str]:
    """``{"python": …, package: version}`` for the installed ones among ``packages``."""
    versions = {"python": platform.python_version()}
    for package in packages:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            continue
    return versions


def _checksums(paths: list[str]) -> list[str]:
    """SHA-256 of each path that exists ("" for the simulator and missing paths)."""
    return [checksum(p) if p != "synthetic" and Path(p).exists() else "" for p in paths]


#: One background thread hashes a job's inputs while the stage computes (hashlib releases the GIL).
_HASHER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scsnake-hash")


def provenance(
    stage: str, params_json: str, inputs: list[str], seconds: float, *, sums: list[str] | None = None
) -> dict[str, Any]:
    """What made an artifact: stage parameters, package versions, inputs and their checksums
    (``sums``, if already computed)."""
    versions = package_versions()
    sums = _checksums(inputs) if sums is None else sums
    return {
        "stage": stage,
        "params": params_json,
        "inputs": inputs,
        "input_sha256": sums,
        "versions": versions,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(seconds, 3),
    }


def _write_view(frame: Any, view: Path | None, csv: Path) -> None:
    """Write the HTML view of a table (:func:`~scsnake.stages._tables.write_table_view`) if asked."""
    if view is not None:
        from .stages._tables import write_table_view

        write_table_view(frame, view, csv=csv)


def _write_table(frame: Any, path: Path) -> None:
    """Write a CSV atomically (temporary sibling, then rename)."""
    write_atomic(path, lambda tmp: frame.to_csv(tmp, index=False))


def write_atomic(path: Path, write: Callable[[Path], Any]) -> None:
    """Call ``write(tmp)`` on a temporary sibling of ``path`` that then replaces ``path``
    (:func:`scsnake.io._write.staged_write`: removed if ``write`` fails)."""
    from .io._write import staged_write

    path.parent.mkdir(parents=True, exist_ok=True)
    with staged_write(path, path.suffix) as tmp:
        write(tmp)
