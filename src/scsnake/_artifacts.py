"""Lean workflow artifacts: stages that leave the matrix alone do not rewrite it.

``X`` and ``layers`` (at 100k cells × 20k genes about 4.5 GB) are set by ``normalize``
and not changed by the stages after it until ``final``. Those stages (declared with
``keeps_matrix``, :class:`scsnake.stages.Stage`) write their artifact without them and record where they are instead::

    uns["scsnake"]["matrix"] = {"path": "normalize.h5ad", "artifact_id": "<id>"}

``path`` is relative to the lean artifact's directory; ``artifact_id`` is the id the
matrix's artifact was written with (``uns["scsnake"]["artifact_id"]``, new at every full
write), so a matrix artifact rewritten since is refused instead of silently combined. A
stage reading a lean artifact gets the matrix attached unless it reads only the graph
(its declaration's ``reads``); ``final`` writes everything again, so the result opens anywhere: it
copies the stored matrix elements file to file (:func:`matrix_copies`, :func:`copy_elements`)
instead of reading and re-encoding them.

A full artifact can point to a layer, too: ``normalize`` keeps the raw counts as they came
in, which are the ``X`` of its input artifact (``qc``), so it writes::

    uns["scsnake"]["layers"] = {"counts": {"path": "qc.h5ad", "artifact_id": "<id>"}}

instead of a second copy of the counts; :func:`attach_layers` reads them back when a stage
needs them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import InputDataError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from anndata import AnnData

__all__ = [
    "attach_layers",
    "attach_matrix",
    "copy_elements",
    "layer_pointers",
    "lean_copy",
    "mark_full",
    "matrix_copies",
    "matrix_pointer",
    "point_layers",
]


def _meta(adata: AnnData) -> dict[str, Any]:
    meta = adata.uns.setdefault("scsnake", {})
    if not isinstance(meta, dict):
        msg = f"uns['scsnake'] is a {type(meta).__name__}; scsnake keeps a dict there"
        raise InputDataError(msg)
    return meta


def matrix_pointer(adata: AnnData) -> dict[str, str] | None:
    """The ``{"path", "artifact_id"}`` of a lean artifact's matrix, None for a full artifact."""
    meta = adata.uns.get("scsnake")
    pointer = meta.get("matrix") if isinstance(meta, dict) else None
    return dict(pointer) if pointer else None


def layer_pointers(adata: AnnData) -> dict[str, dict[str, str]]:
    """``{layer: {"path", "artifact_id"}}`` of the layers kept as another artifact's ``X``."""
    meta = adata.uns.get("scsnake")
    pointers = meta.get("layers") if isinstance(meta, dict) else None
    return {key: dict(value) for key, value in pointers.items()} if pointers else {}


def mark_full(adata: AnnData) -> str:
    """Give an artifact about to be written in full a new id (and drop any pointer); returns it."""
    meta = _meta(adata)
    meta.pop("matrix", None)
    meta.pop("layers", None)
    meta["artifact_id"] = uuid.uuid4().hex
    return meta["artifact_id"]


def lean_copy(adata: AnnData, *, matrix_path: Path, artifact_id: str, output: Path) -> AnnData:
    """``adata`` without ``X``/``layers``, pointing to ``matrix_path`` (its artifact id given).

    The annotations are shared, not copied.
    """
    import anndata as ad

    lean = ad.AnnData(
        obs=adata.obs,
        var=adata.var,
        uns=adata.uns,
        obsm=dict(adata.obsm),
        varm=dict(adata.varm),
        obsp=dict(adata.obsp),
        varp=dict(adata.varp),
    )
    meta = _meta(lean)
    meta.pop("artifact_id", None)
    meta.pop("layers", None)  # the matrix artifact's own pointers say where its layers are
    meta["matrix"] = {
        "path": os.path.relpath(matrix_path, start=output.parent),
        "artifact_id": artifact_id,
    }
    return lean


@contextlib.contextmanager
def _open_store(path: Path) -> Iterator[Any]:
    """An h5ad file (h5py) or zarr directory, read-only (of any zarr version or format:
    :func:`~scsnake.io._zarr.open_zarr_group`)."""
    if path.is_dir():
        from .io._zarr import open_zarr_group

        with open_zarr_group(path) as group:
            yield group
        return
    import h5py

    with h5py.File(path, "r") as store:
        yield store


def _read_elems(path: Path, keys: tuple[str, ...]) -> dict[str, Any]:
    """The elements ``keys`` (paths such as ``"uns/scsnake/artifact_id"``) of an h5ad file or
    zarr store; absent ones are left out. Matrices of an uncompressed h5ad are mapped
    (:mod:`scsnake.io._mapped`)."""
    from anndata.io import read_elem

    from .io._mapped import mapped_file

    found = {}
    with _open_store(path) as store:
        matrices = not path.is_dir() and not {"X", "layers"}.isdisjoint(keys)
        mapping = mapped_file(path) if matrices else None  # matrices mapped, not copied
        for key in keys:
            try:
                node = store[key]
            except KeyError:
                continue
            if key == "X":
                found[key] = _read_matrix(node, mapping)
            elif key == "layers":
                found[key] = {name: _read_matrix(node[name], mapping) for name in node}
            else:
                found[key] = read_elem(node)
    return found


def _read_matrix(node: Any, mapping: Any) -> Any:
    """A stored matrix: mapped if it can be (:func:`~scsnake.io._mapped.map_matrix`), else read."""
    from anndata.io import read_elem

    from .io._mapped import map_matrix

    mapped = map_matrix(node, mapping)
    return read_elem(node) if mapped is None else mapped


def attach_matrix(adata: AnnData, artifact: Path, *, layers: bool = True) -> Path:
    """Read the matrix of the lean artifact ``artifact`` (read as ``adata``) into it:
    ``X`` and, with ``layers``, the layers.

    Returns the path of the artifact that holds the matrix. Raises
    :class:`~scsnake.errors.InputDataError` if that artifact is missing, was rewritten since
    ``artifact`` was made, or does not match its cells and genes.
    """
    pointer = matrix_pointer(adata)
    if pointer is None:
        return artifact
    extra = ("layers", "uns/scsnake/layers") if layers else ()
    source, parts = _read_pointed(adata, artifact, pointer, extra, "its matrix")
    adata.X = parts["X"]
    for key, layer in parts.get("layers", {}).items():
        adata.layers[key] = layer
    del adata.uns["scsnake"]["matrix"]
    if layers:
        _attach_pointed_layers(adata, source, parts.get("uns/scsnake/layers") or {})
    return source


def matrix_copies(adata: AnnData, artifact: Path, output: Path) -> list[tuple[Path, str, str]] | None:
    """What makes the lean artifact ``artifact`` (read as ``adata``) whole again, as
    ``(source, element, target)`` copies for :func:`copy_elements`: ``X`` and the layers of
    its matrix artifact, and the layers that one keeps as another artifact's ``X``.

    The sources are checked as :func:`attach_matrix` checks them, without reading the matrix.
    None if ``artifact`` is not lean or a source is not stored as ``output`` will be (an h5ad
    file, or a zarr directory of the format written here: an artifact of an environment with
    another anndata may have the other), so the matrix must be read and written instead.
    """
    pointer = matrix_pointer(adata)
    if pointer is None:
        return None
    source = _checked_source(adata, artifact, pointer, "its matrix")
    from anndata.io import read_elem

    with _open_store(source) as store:
        keys = list(store["layers"].keys()) if "layers" in store else []
        pointed = read_elem(store["uns/scsnake/layers"]) if "uns/scsnake/layers" in store else {}
    copies = [(source, "X", "X"), *((source, f"layers/{key}", f"layers/{key}") for key in keys)]
    for key, layer in pointed.items():
        copies.append((_checked_source(adata, source, layer, f"layers[{key!r}]"), "X", f"layers/{key}"))
    from .io._zarr import WRITE_FORMAT

    kind = "h5ad" if output.name.lower().endswith(".h5ad") else f"zarr{WRITE_FORMAT}"
    if any(_storage_kind(path) != kind for path, _, _ in copies):
        return None
    return copies


def _storage_kind(path: Path) -> str | None:
    if path.is_dir():
        return "zarr3" if (path / "zarr.json").is_file() else "zarr2"
    return "h5ad" if path.name.lower().endswith(".h5ad") else None


def copy_elements(staged: Path, copies: list[tuple[Path, str, str]]) -> None:
    """Copy stored elements into the h5ad file or zarr directory ``staged`` as they are
    (HDF5 object copies or zarr files: nothing is decoded, the compression is kept)."""
    if staged.is_dir():
        import zarr

        from .io._zarr import consolidate

        group = zarr.open_group(str(staged), mode="r+")
        for source, element, target in copies:
            parent = target.rpartition("/")[0]
            if parent and parent not in group:
                group.create_group(parent).attrs.update(_DICT_ENCODING)
            shutil.copytree(source / element, staged / target)
        consolidate(staged)
        return
    import h5py

    with h5py.File(staged, "r+") as out:
        for source, element, target in copies:
            parent, _, name = target.rpartition("/")
            if parent and parent not in out:
                out.create_group(parent).attrs.update(_DICT_ENCODING)
            with h5py.File(source, "r") as store:
                store.copy(store[element], out[parent] if parent else out, name=name)


#: anndata's encoding of a mapping group (``layers``).
_DICT_ENCODING = {"encoding-type": "dict", "encoding-version": "0.1.0"}


def attach_layers(adata: AnnData, artifact: Path) -> None:
    """Read the layers that the full artifact ``artifact`` (read as ``adata``) keeps as
    another artifact's ``X`` (:func:`layer_pointers`) into ``adata.layers``."""
    pointers = layer_pointers(adata)
    if pointers:
        _attach_pointed_layers(adata, artifact, pointers)
        del adata.uns["scsnake"]["layers"]


def point_layers(adata: AnnData, keys: list[str], *, source: Path, artifact_id: str, output: Path) -> AnnData:
    """``adata`` without the layers ``keys``, recorded as the ``X`` of ``source`` (its id given).

    Call after :func:`mark_full`. The other slots are shared, not copied.
    """
    import anndata as ad

    from .io._formats import named_layers

    layers = {k: v for k, v in named_layers(adata).items() if k not in keys}
    out = ad.AnnData(
        X=adata.X,
        obs=adata.obs,
        var=adata.var,
        uns=adata.uns,
        obsm=dict(adata.obsm),
        varm=dict(adata.varm),
        obsp=dict(adata.obsp),
        varp=dict(adata.varp),
        layers=layers,
    )
    path = os.path.relpath(source, start=output.parent)
    _meta(out)["layers"] = {key: {"path": path, "artifact_id": artifact_id} for key in keys}
    return out


def _attach_pointed_layers(adata: AnnData, artifact: Path, pointers: dict[str, Any]) -> None:
    for key, pointer in pointers.items():
        adata.layers[key] = _read_pointed(adata, artifact, pointer, (), f"layers[{key!r}]")[1]["X"]


def _read_pointed(
    adata: AnnData, artifact: Path, pointer: dict[str, Any], extra: tuple[str, ...], what: str
) -> tuple[Path, dict[str, Any]]:
    """``X`` (and the ``extra`` elements) of the artifact ``pointer`` names, relative to
    ``artifact``, once :func:`_checked_source` has checked it."""
    source = _checked_source(adata, artifact, pointer, what)
    return source, _read_elems(source, ("X", *extra))


def _checked_source(adata: AnnData, artifact: Path, pointer: dict[str, Any], what: str) -> Path:
    """The artifact ``pointer`` names (relative to ``artifact``), checked to be the version
    the pointer was made with, with ``adata``'s cells and genes; its matrix is not read."""
    from anndata.io import read_elem

    source = (artifact.parent / pointer["path"]).resolve()
    hint = "rerun the workflow (snakemake --forcerun normalize) to rebuild both"
    if not source.exists():
        msg = f"{artifact} keeps {what} in {source}, which does not exist; {hint}"
        raise InputDataError(msg)
    with _open_store(source) as store:
        found = read_elem(store["uns/scsnake/artifact_id"]) if "uns/scsnake/artifact_id" in store else None
        if found != pointer["artifact_id"]:
            msg = (
                f"{artifact} was made from another version of {source} "
                f"(artifact id {found} ≠ {pointer['artifact_id']}); {hint}"
            )
            raise InputDataError(msg)
        shape = _shape(store["X"]) if "X" in store else None
        if shape != adata.shape:
            msg = f"{source} holds a matrix of shape {shape}, but {artifact} has {adata.shape}; {hint}"
            raise InputDataError(msg)
        obs, var = read_elem(store["obs"]), read_elem(store["var"])
    if not (obs.index.equals(adata.obs_names) and var.index.equals(adata.var_names)):
        msg = f"{source} and {artifact} name different cells or genes; {hint}"
        raise InputDataError(msg)
    return source


def _shape(node: Any) -> tuple[int, ...]:
    """Shape of a stored matrix without reading it: a sparse group's ``shape`` attribute, or
    the dense array's."""
    return tuple(int(n) for n in node.attrs["shape"]) if "shape" in node.attrs else tuple(node.shape)
