"""Run one workflow stage: read → check → run → provenance → atomic write."""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import time
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter, ValidationError

from ._params import format_validation_error
from .errors import InputDataError, MissingKeyError, ParamError
from .stages import STAGES, Stage

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["PROVENANCE_PACKAGES", "checksum", "provenance", "run_stage"]

logger = logging.getLogger(__name__)

PROVENANCE_PACKAGES = (
    "scsnake", "anndata", "numpy", "scipy", "pandas", "scikit-learn", "numba",
    "umap-learn", "pynndescent", "igraph", "leidenalg", "h5py", "zarr", "matplotlib",
)


def run_stage(
    name: str,
    *,
    inputs: list[Path | str],
    output: Path,
    params_json: str,
    sample: str | None = None,
    compression: str = "none",
    table: Path | None = None,
) -> None:
    """Run stage ``name`` on ``inputs`` and write ``output`` atomically.

    Parameters
    ----------
    name
        A registered stage (see :data:`scsnake.stages.STAGES`).
    inputs
        The main input artifact first (none for ``load``), then side branches as
        ``<stage>=<path>`` (``final`` gathers ``umap=…``, ``tsne=…``).
    output
        The artifact to write (``.h5ad`` or ``.zarr``), or the figures directory for ``plots``.
    params_json
        The stage's parameters as JSON (the workflow passes its config section).
    sample
        Sample name (``load`` labels the cells with it).
    compression
        Artifact compression: ``none``, ``gzip`` or ``lzf``.
    table
        For stages with a table (``markers``, ``leiden``): also write it to this CSV path.
    """
    from . import io

    stage = STAGES[name]
    params = parse_params(stage, params_json)
    output.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if (name == "load") != (len(inputs) == 0):
        expected = "no input (it reads the sample)" if name == "load" else "an input artifact"
        msg = f"stage {name!r} takes {expected}, got {len(inputs)}"
        raise ParamError(msg)
    if name == "load":
        adata = stage.func(params["sample"], params["options"], name=sample or "sample", random_state=params["seed"])
        source = [params["sample"].input]
    else:
        main = Path(inputs[0])
        adata = _read_input(main)
        if adata.n_obs == 0 or adata.n_vars == 0:
            msg = f"{name}: the input artifact {main} holds an empty matrix ({adata.n_obs} cells × {adata.n_vars} genes); check the stages that ran before"
            raise InputDataError(msg)
        check_needs(stage, adata, main)
        branches = dict(_branch(item) for item in inputs[1:])
        source = [str(main), *map(str, branches.values())]
        kwargs: dict[str, Any] = {up: _read_light(path) for up, path in branches.items()}
        if stage.seeded:
            kwargs["random_state"] = params.random_state if params.random_state is not None else 0
        if not stage.artifact:
            stage.func(adata, params, outdir=output, **kwargs)
            logger.info("%s: wrote figures to %s in %.1f s", name, output, time.perf_counter() - started)
            return
        adata = stage.func(adata, params, **kwargs)
    record = provenance(name, params_json, source, time.perf_counter() - started)
    adata.uns.setdefault("scsnake", {}).setdefault("provenance", {})[name] = record
    io.write(adata, output, compression=None if compression == "none" else compression)
    if table is not None:
        if stage.table is None:
            msg = f"stage {name!r} writes no table; drop --table"
            raise ParamError(msg)
        _write_table(stage.table(adata, params), table)
    logger.info("%s: wrote %s (%d cells × %d genes) in %.1f s", name, output, adata.n_obs, adata.n_vars,
                time.perf_counter() - started)


def _branch(item: Path | str) -> tuple[str, Path]:
    """``umap=results/s/umap.h5ad`` → ``("umap", Path(...))``."""
    name, sep, path = str(item).partition("=")
    if not sep or name not in STAGES:
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
        if stage.name == "load":
            from .stages import SampleSpec

            return {
                "sample": SampleSpec.model_validate(raw.get("sample", {})),
                "options": stage.params.model_validate(raw.get("options", {})),
                "seed": int(raw.get("seed", 0)),
            }
        return TypeAdapter(stage.params).validate_python(raw)
    except ValidationError as err:
        lines = format_validation_error(err, prefix=stage.name, model=stage.params)
        raise ParamError("invalid parameters:\n" + "\n".join(f"  - {line}" for line in lines)) from None


def check_needs(stage: Stage, adata: AnnData, path: Path) -> None:
    """Raise :class:`MissingKeyError` if a slot the stage needs is absent from its input."""
    for need in stage.needs:
        attr, key = need.split("/", 1)
        if key not in getattr(adata, attr):
            writer = next((s.name for s in STAGES.values() if need in _WRITES.get(s.name, ())), None)
            by = f" (written by `{writer}`)" if writer else ""
            msg = f"{stage.name} needs {attr}[{key!r}]{by}; not found in {path}"
            raise MissingKeyError(msg)


_WRITES = {
    "pca": ("obsm/X_pca",),
    "neighbors": ("obsp/connectivities", "obsp/distances"),
    "umap": ("obsm/X_umap",),
    "markers": ("uns/rank_genes_groups",),
}


def _read_input(path: Path) -> AnnData:
    from . import io

    if not path.exists():
        msg = f"input artifact not found: {path}"
        raise InputDataError(msg)
    return io.read(path)


def _read_light(path: Path) -> AnnData:
    """An artifact's ``obs``, ``obsm`` and ``uns`` only: side inputs never load ``X``."""
    import anndata as ad
    from anndata.io import read_elem

    if not path.exists():
        msg = f"input artifact not found: {path}"
        raise InputDataError(msg)
    if path.suffix == ".zarr":
        import zarr

        store = zarr.open_group(str(path), mode="r")
        parts = {k: read_elem(store[k]) for k in ("obs", "obsm", "uns") if k in store}
    else:
        import h5py

        with h5py.File(path, "r") as store:
            parts = {k: read_elem(store[k]) for k in ("obs", "obsm", "uns") if k in store}
    return ad.AnnData(obs=parts["obs"], obsm=parts.get("obsm", {}), uns=parts.get("uns", {}))


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


def provenance(stage: str, params_json: str, inputs: list[str], seconds: float) -> dict[str, Any]:
    """What made an artifact: stage parameters, package versions, inputs and their checksums."""
    versions = {"python": platform.python_version()}
    for package in PROVENANCE_PACKAGES:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            continue
    sums = [checksum(p) if p != "synthetic" and Path(p).exists() else "" for p in inputs]
    return {
        "stage": stage,
        "params": params_json,
        "inputs": inputs,
        "input_sha256": sums,
        "versions": versions,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(seconds, 3),
    }


def _write_table(frame: Any, path: Path) -> None:
    """Write a CSV atomically (temporary sibling, then rename)."""
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        frame.to_csv(tmp, index=False)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
