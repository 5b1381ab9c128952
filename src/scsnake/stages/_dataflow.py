"""How a stage's inputs and parameters depend on the config: the ``route``, ``reads`` and
``derive`` functions that the stage declarations (``scsnake.stages``) name.

Each is a small pure function of the validated config (or of a job's input and parameters),
so the rules' inputs, the job arguments and the provenance all follow from the declarations.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from anndata import AnnData

    from ._stage import MatrixParts

__all__ = [
    "batch_key",
    "de_derive",
    "embedding_reads",
    "hvg_derive",
    "hvg_reads",
    "integration_derive",
    "integration_metrics_derive",
    "load_derive",
    "neighbors_derive",
    "neighbors_route",
    "normalize_route",
    "pca_derive",
    "pca_reads",
    "pseudobulk_derive",
    "qc_derive",
    "umap_reads",
    "umap_route",
]

#: HVG flavors computed on the raw counts (they read the counts layer).
COUNTS_FLAVORS = ("seurat_v3", "seurat_v3_paper", "pearson_residuals")


def batch_key(config: Any) -> str:
    """The ``obs`` column of the batches to integrate: ``integration.batch_key``, else ``merge.batch_key``."""
    return config.integration.batch_key or config.merge.batch_key


# --- routes: the upstream stages where the config decides them ---------------------------


def normalize_route(config: Any) -> list[str]:
    """Merged samples are normalised together, after ``merge``; else each after its ``qc``."""
    return ["merge"] if config.merge.enabled else ["qc"]


def neighbors_route(config: Any) -> list[str]:
    """Harmony's corrected PCA (``integration``) feeds the graph when it is the method."""
    return ["integration"] if config.integration.method == "harmony" else ["pca"]


def umap_route(config: Any) -> list[str]:
    """UMAP starts from the PAGA layout (and so after ``paga``) with ``init_pos: paga``."""
    return ["paga"] if config.umap.init_pos == "paga" else ["neighbors"]


# --- reads: what a job reads of a lean input's matrix -------------------------------------


def embedding_reads(adata: AnnData, params: Any) -> MatrixParts:
    """``neighbors`` and ``tsne`` read ``X`` only when the representation they use is ``X``
    (as :func:`~scsnake.neighbors.choose_representation` picks it)."""
    return _representation_reads(adata, getattr(params, "use_rep", None), getattr(params, "n_pcs", None))


def umap_reads(adata: AnnData, params: Any) -> MatrixParts:
    """UMAP reads ``X`` only when the graph was built on it (``uns['neighbors']['params']``)."""
    neighbors = adata.uns.get("neighbors", {})
    use_rep = neighbors.get("params", {}).get("use_rep") if isinstance(neighbors, dict) else None
    return _representation_reads(adata, use_rep, None)


def _representation_reads(adata: AnnData, use_rep: str | None, n_pcs: int | None) -> MatrixParts:
    from ..neighbors._neighbors import N_PCS

    if use_rep is None and adata.n_vars > N_PCS and n_pcs != 0:
        use_rep = "X_pca"
    return None if use_rep is not None and use_rep != "X" and use_rep in adata.obsm else "X"


def hvg_reads(adata: AnnData, params: Any) -> MatrixParts:
    """The counts layer too for the flavors of counts."""
    return "all" if getattr(params, "flavor", "") in COUNTS_FLAVORS else "X"


def pca_reads(adata: AnnData, params: Any) -> MatrixParts:
    """The counts layer too for the PCA of Pearson residuals."""
    return "all" if getattr(params, "residuals", None) is not None else "X"


# --- derive: what the sample sheet and other sections decide for a stage ------------------


def load_derive(config: Any, values: dict[str, Any], sample: str | None) -> dict[str, Any]:
    """``load`` reads one sample: its sheet row (QC overrides re-run ``qc``, not ``load``)."""
    if sample is None:
        msg = "the load stage's parameters need the sample name"
        raise ValueError(msg)
    row = config.samples[sample].model_dump(mode="json", exclude={"qc"})
    return {"sample": row, "options": values, "seed": config.seed}


def qc_derive(config: Any, values: dict[str, Any], sample: str | None) -> dict[str, Any]:
    """A sample's own QC parameters: the ``qc`` section updated by its overrides."""
    if sample not in config.samples:
        return values
    own = config.samples[sample].qc_params(config.qc).model_dump(mode="json")
    return own | {
        "random_state": values["random_state"] if own["random_state"] is None else own["random_state"]
    }


def hvg_derive(config: Any, values: dict[str, Any], sample: str | None) -> dict[str, Any]:
    """Batch-aware HVGs on merged samples (``hvg.batch_key`` null means ``merge.batch_key``)."""
    if config.merge.enabled and values["batch_key"] is None:
        values["batch_key"] = config.merge.batch_key
    return values


def pca_derive(config: Any, values: dict[str, Any], sample: str | None) -> dict[str, Any]:
    """ComBat on the PCA genes (``integration.method: combat``) corrects the batch key; the PCA
    of Pearson residuals (``normalize.method: pearson_residuals``) takes their settings."""
    if config.integration.method == "combat":
        values["combat_key"] = batch_key(config)
    normalize = config.normalize
    if normalize.method == "pearson_residuals":
        values["residuals"] = normalize.model_dump(mode="json", include={"theta", "clip", "counts_layer"})
    return values


def neighbors_derive(config: Any, values: dict[str, Any], sample: str | None) -> dict[str, Any]:
    """Harmony's embedding, or BBKNN's batch-balanced graph, under those integration methods."""
    method = config.integration.method
    if method == "harmony":
        values["use_rep"] = "X_pca_harmony"
    elif method == "bbknn":
        values["bbknn"] = {"batch_key": batch_key(config), **config.integration.bbknn.model_dump(mode="json")}
    return values


def integration_derive(config: Any, values: dict[str, Any], sample: str | None) -> dict[str, Any]:
    """The Harmony stage: only what changes its result, with the batch key."""
    kept = {key: values[key] for key in ("method", "harmony", "random_state")}
    return kept | {"batch_key": batch_key(config)}


def integration_metrics_derive(config: Any, values: dict[str, Any], sample: str | None) -> dict[str, Any]:
    """The comparison of every method takes its settings from the sections it re-runs, seeds filled in."""

    def seeded(section: Any, **kwargs: Any) -> dict[str, Any]:
        dumped = section.model_dump(mode="json", **kwargs)
        seed = config.seed if dumped["random_state"] is None else dumped["random_state"]
        return dumped | {"random_state": seed}

    integration = seeded(config.integration, exclude={"method", "compare"}) | {"batch_key": batch_key(config)}
    pca = pca_derive(config, seeded(config.pca), sample)
    return {
        "integration": integration,
        "pca": pca | {"combat_key": None},
        "neighbors": seeded(config.neighbors),
        "leiden": seeded(config.leiden, include={"resolution", "flavor", "n_iterations", "random_state"}),
        "random_state": integration["random_state"],
    }


def pseudobulk_derive(config: Any, values: dict[str, Any], sample: str | None) -> dict[str, Any]:
    """Pseudobulks per sample (``merge.batch_key``) of the raw counts (``normalize.counts_layer``),
    keeping the sample sheet's metadata columns."""
    metadata = [key for spec in config.samples.values() for key in spec.metadata]
    return values | {
        "sample_key": config.merge.batch_key,
        "layer": config.normalize.counts_layer,
        "obs_keys": list(dict.fromkeys(metadata)),
    }


def de_derive(config: Any, values: dict[str, Any], sample: str | None) -> dict[str, Any]:
    """The groups ``de`` tests are those of the pseudobulks (``pseudobulk.groupby``)."""
    return values | {"groupby": config.pseudobulk.groupby}
