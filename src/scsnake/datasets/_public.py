"""Public example datasets (as scanpy's ``sc.datasets``): downloaded once into the cache, then read from it."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from anndata import AnnData

from scsnake._params import StageParams, validated
from scsnake.errors import DataWarning, InputDataError

from ._download import MissingDependencyError, RemoteFile, fetch

if TYPE_CHECKING:
    from os import PathLike

__all__ = [
    "REGISTRY",
    "Krumsiek11Params",
    "Moignard15Params",
    "Paul15Params",
    "Pbmc3kParams",
    "Pbmc3kProcessedParams",
    "Pbmc68kReducedParams",
    "krumsiek11",
    "moignard15",
    "paul15",
    "pbmc3k",
    "pbmc3k_processed",
    "pbmc68k_reduced",
]

_SCANPY = "https://raw.githubusercontent.com/scverse/scanpy/1.11.5/src/scanpy/datasets"
_MIRROR = "https://exampledata.scverse.org/scanpy"

#: Where each dataset comes from. The SHA-256 of the downloaded files are those scanpy
#: records for them (krumsiek11 and pbmc68k_reduced: of the copies scanpy 1.11.5 ships).
REGISTRY: dict[str, RemoteFile] = {
    "pbmc3k": RemoteFile(
        url="https://falexwolf.de/data/pbmc3k_raw.h5ad",
        filename="pbmc3k_raw.h5ad",
        sha256="89a96f1beaa2dd83a687666d3f19a4513ac27a2a2d12581fcd77afed7ea653a1",
        mirrors=(f"{_MIRROR}/pbmc3k_raw.h5ad",),
    ),
    "pbmc3k_processed": RemoteFile(
        url="https://raw.githubusercontent.com/chanzuckerberg/cellxgene/main/example-dataset/pbmc3k.h5ad",
        filename="pbmc3k_processed.h5ad",
        sha256="0db367b991dd95809732b218539ede489bea99113807f62ebd7ccc970025fe38",
        mirrors=(f"{_MIRROR}/pbmc3k.h5ad",),
    ),
    "pbmc68k_reduced": RemoteFile(
        url=f"{_SCANPY}/10x_pbmc68k_reduced.h5ad",
        filename="pbmc68k_reduced.h5ad",
        sha256="e71d41e737c941559b7c57c9243bdb3d2c889c2adfdf00e3422ac6b46783676f",
        size=1772368,
    ),
    "paul15": RemoteFile(
        url="https://falexwolf.de/data/paul15.h5",
        filename="paul15/paul15.h5",
        sha256="6161984f758dd464992edc23f1a8ab89b2081600130c6aa93a1ab12b3ada5bfb",
        mirrors=(f"{_MIRROR}/paul15.h5",),
    ),
    "krumsiek11": RemoteFile(
        url=f"{_SCANPY}/krumsiek11.txt",
        filename="krumsiek11.txt",
        sha256="a49c6d04bd77f61028133a9b787222ebf00c4fc02dbf8e2b8edda493a0d5dc93",
        size=59808,
    ),
    "moignard15": RemoteFile(
        url="https://static-content.springer.com/esm/art%3A10.1038%2Fnbt.3154/MediaObjects/41587_2015_BFnbt3154_MOESM4_ESM.xlsx",
        filename="moignard15/nbt.3154-S3.xlsx",
        sha256="e7b358fef2b6da115b7ee3ab4c7fc55fd80e210bba427902e4afc9118992747c",
        mirrors=(f"{_MIRROR}/41587_2015_BFnbt3154_MOESM4_ESM.xlsx",),
    ),
}


class _LocalCopyParams(StageParams):
    path: Path | None = None
    """A local copy of the dataset's file to read instead of the cached download."""


class Pbmc3kParams(_LocalCopyParams):
    """Parameters of :func:`pbmc3k`."""


class Pbmc3kProcessedParams(_LocalCopyParams):
    """Parameters of :func:`pbmc3k_processed`."""


class Pbmc68kReducedParams(_LocalCopyParams):
    """Parameters of :func:`pbmc68k_reduced`."""


class Paul15Params(_LocalCopyParams):
    """Parameters of :func:`paul15`."""


class Krumsiek11Params(_LocalCopyParams):
    """Parameters of :func:`krumsiek11`."""


class Moignard15Params(_LocalCopyParams):
    """Parameters of :func:`moignard15`."""


def _source(name: str, path: str | PathLike[str] | None) -> Path:
    """The local copy if given (it must exist), else the cached download of ``name``."""
    from scsnake.io._formats import check_exists

    if path is None:
        return fetch(REGISTRY[name])
    path = Path(path)
    check_exists(path)
    return path


def _read_anndata(path: Path) -> AnnData:
    """An h5ad (or any format :func:`scsnake.io.read` knows), without anndata's old-format notices."""
    import anndata as ad

    from scsnake.io import read

    with warnings.catch_warnings():  # files written by old anndata versions, as scanpy does
        warnings.filterwarnings("ignore", category=ad.OldFormatWarning)
        warnings.filterwarnings("ignore", category=FutureWarning, module="anndata")
        return read(path)


@validated(Pbmc3kParams)
def pbmc3k(*, path: str | PathLike[str] | None = None) -> AnnData:
    """3k PBMCs from 10x Genomics, raw counts (scanpy's ``datasets.pbmc3k``).

    Downloads 5.9 MB on first use into ``settings.datadir / "pbmc3k_raw.h5ad"``.

    Parameters
    ----------
    path
        Read this local copy of ``pbmc3k_raw.h5ad`` instead (no download).

    Returns
    -------
    2,700 cells × 32,738 genes: sparse counts in ``X``, ``var['gene_ids']``.
    """
    return _read_anndata(_source("pbmc3k", path))


@validated(Pbmc3kProcessedParams)
def pbmc3k_processed(*, path: str | PathLike[str] | None = None) -> AnnData:
    """3k PBMCs processed as in scanpy's clustering tutorial (scanpy's ``datasets.pbmc3k_processed``).

    Downloads cellxgene's example file on first use into ``settings.datadir``.

    Parameters
    ----------
    path
        Read this local copy instead (no download).

    Returns
    -------
    2,638 cells × 1,838 genes with ``obs['louvain']``, ``obsm['X_pca']``, ``obsm['X_umap']``,
    ``obsm['X_tsne']``, neighbors graphs and a ``rank_genes_groups`` result.
    """
    return _read_anndata(_source("pbmc3k_processed", path))


@validated(Pbmc68kReducedParams)
def pbmc68k_reduced(*, path: str | PathLike[str] | None = None) -> AnnData:
    """700 PBMCs × 765 genes, subsampled and processed (scanpy's ``datasets.pbmc68k_reduced``).

    scanpy ships this file; scsnake downloads the same file (checked against its SHA-256)
    on first use, from the scanpy 1.11.5 source tree.

    Parameters
    ----------
    path
        Read this local copy instead (h5ad, zarr or any format :func:`scsnake.io.read` reads).

    Returns
    -------
    Scaled ``X``; ``obs['bulk_labels']``, ``obs['louvain']``; ``obsm['X_pca']``,
    ``obsm['X_umap']``; ``raw`` (log-normalised); neighbors graphs; ``rank_genes_groups``.
    """
    return _read_anndata(_source("pbmc68k_reduced", path))


@validated(Krumsiek11Params)
def krumsiek11(*, path: str | PathLike[str] | None = None) -> AnnData:
    """Simulated myeloid progenitors (Krumsiek et al. 2011), as scanpy's ``datasets.krumsiek11``.

    Four fates from a common progenitor; the observation names are the simulation time and
    repeat across branches (kept as they are, as in scanpy). Downloaded (60 kB) on first use.

    Parameters
    ----------
    path
        Read this local copy of ``krumsiek11.txt`` instead (no download).

    Returns
    -------
    640 cells × 11 genes (float32); ``obs['cell_type']`` (categorical: ``progenitor``,
    ``Mo``, ``Ery``, ``Mk``, ``Neu``); ``uns['iroot'] = 0``; ``uns['highlights']``, the
    fate of some cells by position. Unlike scanpy, the ``highlights`` keys are strings
    (``"159"``), so the result can be written to h5ad.
    """
    from scsnake.io import read_csv

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"Observation names are not unique", DataWarning)
        adata = read_csv(_source("krumsiek11", path), delimiter=None, first_column_names=True)
    if adata.n_obs != 640:
        msg = f"krumsiek11: expected 640 cells, found {adata.n_obs} (is this the krumsiek11 file?)"
        raise InputDataError(msg)
    adata.uns["iroot"] = 0
    adata.uns["highlights"] = {"0": "Stem", "159": "Mo", "319": "Ery", "459": "Mk", "619": "Neu"}
    cell_type = np.full(adata.n_obs, "progenitor", dtype=object)
    for fate, start in (("Mo", 80), ("Ery", 240), ("Mk", 400), ("Neu", 560)):
        cell_type[start : start + 80] = fate
    adata.obs["cell_type"] = pd.Categorical(cell_type)
    return adata


_PAUL15_TYPES = ["Ery"] * 6 + "MEP Mk GMP GMP DC Baso Baso Mo Mo Neu Neu Eos Lymph".split()  # noqa: SIM905


@validated(Paul15Params)
def paul15(*, path: str | PathLike[str] | None = None) -> AnnData:
    """Development of myeloid progenitors (Paul et al. 2015), raw counts, as scanpy's ``datasets.paul15``.

    Keeps the 3,451 informative genes (sorted by name, as scanpy) and the first of the two
    names of each gene. Downloaded on first use into ``settings.datadir / "paul15"``.

    Parameters
    ----------
    path
        Read this local copy of ``paul15.h5`` instead (no download).

    Returns
    -------
    2,730 cells × 3,451 genes, float32 ``X``; ``obs['paul15_clusters']`` (categorical, e.g.
    ``7MEP``); ``uns['iroot'] = 840`` (the root cell of Haghverdi et al. 2016).
    """
    import h5py

    source = _source("paul15", path)
    try:
        with h5py.File(source, "r") as f:
            x = f["data.debatched"][()].astype(np.float32)
            gene_names = f["data.debatched_rownames"][()].astype(str)
            cell_names = f["data.debatched_colnames"][()].astype(str)
            clusters = f["cluster.id"][()].flatten().astype(int)
            informative = f["info.genes_strings"][()].astype(str)
    except (OSError, KeyError) as err:
        msg = f"paul15: cannot read {source}: {type(err).__name__}: {err}"
        raise InputDataError(msg) from None
    if (
        clusters.size != cell_names.size
        or clusters.min(initial=1) < 1
        or clusters.max(initial=1) > len(_PAUL15_TYPES)
    ):
        msg = f"paul15: {source} has cluster ids outside 1..{len(_PAUL15_TYPES)} or not one per cell"
        raise InputDataError(msg)
    first: dict[str, int] = {}
    for i, name in enumerate(gene_names):
        first.setdefault(name.split(";")[0], i)  # the first of the two names; a name's first gene
    keep = np.intersect1d(informative, list(first))
    columns = np.array([first[name] for name in keep], dtype=np.intp)
    labels = [f"{c}{_PAUL15_TYPES[c - 1]}" for c in clusters]
    obs = pd.DataFrame({"paul15_clusters": pd.Categorical(labels)}, index=pd.Index(cell_names))
    adata = AnnData(np.ascontiguousarray(x.T[:, columns]), obs=obs, var=pd.DataFrame(index=pd.Index(keep)))
    adata.uns["iroot"] = 840
    return adata


_MOIGNARD15_GROUPS = {"HF": "#D7A83E", "NP": "#7AAE5D", "PS": "#497ABC", "4SG": "#AF353A", "4SFG": "#765099"}


@validated(Moignard15Params)
def moignard15(*, path: str | PathLike[str] | None = None) -> AnnData:
    """Hematopoiesis in early mouse embryos, qRT-PCR (Moignard et al. 2015), as scanpy's ``datasets.moignard15``.

    Reads the sheet ``dCt_values.txt`` of the supplementary table; drops the genes Eif2b1,
    Mrpl19, Polr2a and Ubc (as Haghverdi et al. 2016). Needs ``openpyxl``.

    Parameters
    ----------
    path
        Read this local copy of the ``.xlsx`` file instead (no download).

    Returns
    -------
    3,934 cells × 42 genes, float32 ``X`` (normalised dCt values); ``obs['exp_groups']``
    (categorical ``HF, NP, PS, 4SG, 4SFG``, from the cell names); ``uns['exp_groups_colors']``;
    ``uns['iroot'] = 532``.
    """
    try:
        import openpyxl  # noqa: F401
    except ImportError:
        msg = "moignard15 reads an Excel file and needs openpyxl: pip install openpyxl"
        raise MissingDependencyError(msg) from None
    source = _source("moignard15", path)
    try:
        table = pd.read_excel(source, "dCt_values.txt")
        values = table.iloc[:, 1:].to_numpy(dtype=np.float32)
    except (OSError, ValueError, KeyError) as err:
        msg = f"moignard15: cannot read the sheet 'dCt_values.txt' of {source}: {type(err).__name__}: {err}"
        raise InputDataError(msg) from None
    obs_names = table.iloc[:, 0].astype(str).to_numpy()
    var_names = table.columns[1:].astype(str)
    keep = ~np.isin(var_names, ["Eif2b1", "Mrpl19", "Polr2a", "Ubc"])
    groups = []
    for name in obs_names:
        group = next((g for g in _MOIGNARD15_GROUPS if name.startswith(g)), None)
        if group is None:
            msg = f"moignard15: cell {name!r} in {source} starts with none of {', '.join(_MOIGNARD15_GROUPS)}"
            raise InputDataError(msg)
        groups.append(group)
    obs = pd.DataFrame(
        {"exp_groups": pd.Categorical(groups, categories=list(_MOIGNARD15_GROUPS))}, index=pd.Index(obs_names)
    )
    adata = AnnData(values[:, keep], obs=obs, var=pd.DataFrame(index=pd.Index(var_names[keep])))
    adata.uns["iroot"] = 532
    adata.uns["exp_groups_colors"] = list(_MOIGNARD15_GROUPS.values())
    return adata
