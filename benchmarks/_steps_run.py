"""The steps of ``steps.py`` and the process that times one of them with one tool.

    python benchmarks/_steps_run.py --tool scanpy --context inputs.json --steps hvg_seurat --out-dir DIR

reads the step's prepared input, imports the library and the third-party modules the step
uses (untimed), then times only the step call: seconds, peak RSS above the RSS after the
read (a sampling thread, ``pipeline.PeakRss``) and the absolute peak. Writes
``<out-dir>/<prefix><step>_<tool>_r<repeat>.json`` and the results compared across tools to
the ``.npz`` beside it. ``steps.py`` runs one step per process; several steps in one process
are for ``--one-process`` smoke runs and ``--warmup`` (write nothing: fills numba's caches).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline import PeakRss, _shim_scanpy_pynndescent

HEAD_ROWS = 1000  # rows of a transformed matrix kept for the comparison
EMBED_SAMPLE = 1000  # cells whose neighbours are checked in an embedding
EMBED_K = 15


@dataclass(frozen=True)
class Step:
    name: str
    suite: str
    input: str  # key of the prepared file (see _prepare.INPUTS)
    run: Callable[[Any, str, Any, dict[str, Any]], Any]  # timed: (lib, tool, adata, ctx)
    extract: Callable[[Any, dict[str, Any]], dict[str, Any]]  # untimed: results to compare
    agreement: str  # how steps.py compares the two tools' results
    preload: tuple[str, ...] = ()  # third-party modules imported before timing
    cap: str | None = None  # context key capping the number of cells (first N cells)
    scanpy_needs: str | None = None  # module scanpy needs for this step; "n/a" without it
    note: str = ""


# --- what each step keeps for the comparison (untimed) -------------------------------------
def _row_sums(adata: Any, ctx: dict[str, Any]) -> dict[str, Any]:
    return {"values": np.asarray(adata.X.sum(axis=1), dtype=np.float64).ravel()}


def _hvg_genes(adata: Any, ctx: dict[str, Any]) -> dict[str, Any]:
    return {"genes": adata.var_names[adata.var["highly_variable"].to_numpy(dtype=bool)].to_numpy(dtype=str)}


def _head(adata: Any, ctx: dict[str, Any]) -> dict[str, Any]:
    head = adata.X[:HEAD_ROWS]
    head = head.toarray() if hasattr(head, "toarray") else np.asarray(head)
    return {"values": head.astype(np.float64)}


def _variance_ratio(adata: Any, ctx: dict[str, Any]) -> dict[str, Any]:
    return {"values": np.asarray(adata.uns["pca"]["variance_ratio"], dtype=np.float64)}


def _knn(adata: Any, ctx: dict[str, Any]) -> dict[str, Any]:
    dist = adata.obsp["distances"].tocsr()
    counts = np.diff(dist.indptr)
    knn = np.full((adata.n_obs, max(1, counts.max(initial=0))), -1, dtype=np.int64)
    for i in range(adata.n_obs):
        row = dist.indices[dist.indptr[i] : dist.indptr[i + 1]]
        knn[i, : len(row)] = np.sort(row)
    return {"knn": knn}


def _labels(key: str) -> Callable[[Any, dict[str, Any]], dict[str, Any]]:
    return lambda adata, ctx: {"labels": adata.obs[key].astype(str).to_numpy(dtype=str)}


def knn_preservation(
    reference: np.ndarray, embedding: np.ndarray, k: int = EMBED_K, n_sample: int = EMBED_SAMPLE
) -> float:
    """Mean fraction of a sampled cell's k nearest neighbours in ``reference`` kept in ``embedding``."""
    from sklearn.neighbors import NearestNeighbors

    n = reference.shape[0]
    k = min(k, n - 1)
    cells = np.random.default_rng(0).choice(n, size=min(n_sample, n), replace=False)

    def neighbours(x: np.ndarray) -> list[set[int]]:
        _, idx = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x[cells])
        return [set(row[row != c].tolist()[:k]) for row, c in zip(idx, cells, strict=True)]

    ref, emb = (
        neighbours(np.asarray(reference, dtype=np.float64)),
        neighbours(np.asarray(embedding, dtype=np.float64)),
    )
    return float(np.mean([len(a & b) / k for a, b in zip(ref, emb, strict=True)]))


def _embedding(key: str) -> Callable[[Any, dict[str, Any]], dict[str, Any]]:
    def extract(adata: Any, ctx: dict[str, Any]) -> dict[str, Any]:
        emb = np.asarray(adata.obsm[key])
        return {"preservation": np.float64(knn_preservation(adata.obsm["X_pca"][:, : ctx["n_pcs"]], emb)),
                "sample": np.int64(min(EMBED_SAMPLE, adata.n_obs))}  # fmt: skip

    return extract


def _paga(adata: Any, ctx: dict[str, Any]) -> dict[str, Any]:
    return {"values": adata.uns["paga"]["connectivities"].toarray().astype(np.float64)}


def _diffmap(adata: Any, ctx: dict[str, Any]) -> dict[str, Any]:
    return {"values": np.asarray(adata.uns["diffmap_evals"], dtype=np.float64)}


def _pseudotime(adata: Any, ctx: dict[str, Any]) -> dict[str, Any]:
    return {"values": adata.obs["dpt_pseudotime"].to_numpy(dtype=np.float64)}


def _scrublet(adata: Any, ctx: dict[str, Any]) -> dict[str, Any]:
    return {"values": adata.obs["doublet_score"].to_numpy(dtype=np.float64),
            "predicted": adata.obs["predicted_doublet"].to_numpy(dtype=bool)}  # fmt: skip


def _markers(adata: Any, ctx: dict[str, Any]) -> dict[str, Any]:
    names = adata.uns["rank_genes_groups"]["names"]
    groups = list(names.dtype.names)
    return {"groups": np.array(groups, dtype=str),
            "markers": np.array([[str(g) for g in names[grp][:25]] for grp in groups], dtype=str)}  # fmt: skip


# --- the timed calls ------------------------------------------------------------------------
def _normalize_log1p(lib: Any, tool: str, adata: Any, ctx: dict[str, Any]) -> None:
    lib.pp.normalize_total(adata, target_sum=1e4)
    lib.pp.log1p(adata)


def _hvg(flavor: str, batch: bool = False) -> Callable[..., None]:
    def run(lib: Any, tool: str, adata: Any, ctx: dict[str, Any]) -> None:
        lib.pp.highly_variable_genes(adata, flavor=flavor, n_top_genes=ctx["n_top_genes"],
                                     batch_key="batch" if batch else None)  # fmt: skip

    return run


def _hvg_pearson(lib: Any, tool: str, adata: Any, ctx: dict[str, Any]) -> None:
    if tool == "scanpy":
        lib.experimental.pp.highly_variable_genes(
            adata, flavor="pearson_residuals", n_top_genes=ctx["n_top_genes"]
        )
    else:  # scsnake has no `experimental` namespace: scanpy's function under its own name
        from scsnake.pp._pearson_residuals import highly_variable_genes_pearson_residuals

        highly_variable_genes_pearson_residuals(adata, n_top_genes=ctx["n_top_genes"])


def _normalize_pearson(lib: Any, tool: str, adata: Any, ctx: dict[str, Any]) -> None:
    (lib.experimental.pp if tool == "scanpy" else lib.pp).normalize_pearson_residuals(adata)


def _pca(solver: str) -> Callable[..., None]:
    def run(lib: Any, tool: str, adata: Any, ctx: dict[str, Any]) -> None:
        lib.pp.pca(adata, n_comps=ctx["n_pcs"], svd_solver=solver, random_state=0)

    return run


def _call(path: str, *args: Any, **kwargs: Any) -> Callable[..., Any]:
    """``lib.<path>(adata, *args, **kwargs)``; ``n_jobs=None`` means the context's ``n_jobs``."""
    module, func = path.split(".")

    def run(lib: Any, tool: str, adata: Any, ctx: dict[str, Any]) -> Any:
        kw = {k: (ctx["n_jobs"] if k == "n_jobs" and v is None else v) for k, v in kwargs.items()}
        return getattr(getattr(lib, module), func)(adata, *args, **kw)

    return run


def _umap_parallel(lib: Any, tool: str, adata: Any, ctx: dict[str, Any]) -> Any:
    """scanpy's umap against scsnake's block-parallel layout."""
    return lib.tl.umap(adata, random_state=0, **({"method": "parallel"} if tool == "scsnake" else {}))


_PP, _GR, _MK = "preprocessing", "graph", "markers"
STEPS: dict[str, Step] = {
    s.name: s
    for s in [
        Step("normalize_log1p", _PP, "counts", _normalize_log1p, _row_sums, "row_sums",
             note="normalize_total(target_sum=1e4) + log1p on all genes"),
        Step("hvg_seurat", _PP, "lognorm", _hvg("seurat"), _hvg_genes, "jaccard", preload=("pandas",)),
        Step("hvg_seurat_batch", _PP, "lognorm", _hvg("seurat", batch=True), _hvg_genes, "jaccard",
             note="batch_key='batch' (3 batches)"),
        Step("hvg_cell_ranger", _PP, "lognorm", _hvg("cell_ranger"), _hvg_genes, "jaccard"),
        Step("hvg_seurat_v3", _PP, "counts", _hvg("seurat_v3"), _hvg_genes, "jaccard", preload=("skmisc.loess",)),
        Step("hvg_seurat_v3_batch", _PP, "counts", _hvg("seurat_v3", batch=True), _hvg_genes, "jaccard",
             preload=("skmisc.loess",), note="batch_key='batch' (3 batches)"),
        Step("hvg_seurat_v3_paper", _PP, "counts", _hvg("seurat_v3_paper"), _hvg_genes, "jaccard",
             preload=("skmisc.loess",)),
        Step("hvg_pearson_residuals", _PP, "counts", _hvg_pearson, _hvg_genes, "jaccard",
             note="scanpy: sc.experimental.pp.highly_variable_genes; scsnake: "
                  "pp._pearson_residuals.highly_variable_genes_pearson_residuals"),
        Step("normalize_pearson_residuals", _PP, "hvg_counts", _normalize_pearson, _head, "head",
             note="on the HVG counts (densifies, as in scanpy)"),
        Step("scale", _PP, "hvg", _call("pp.scale", max_value=10), _head, "head",
             note="HVGs, max_value=10 (sparse input becomes dense)"),
        Step("pca_arpack", _PP, "scaled", _pca("arpack"), _variance_ratio, "variance_ratio",
             note="on the scaled HVGs (dense)"),
        Step("pca_randomized", _PP, "scaled", _pca("randomized"), _variance_ratio, "variance_ratio"),
        Step("pca_covariance_eigh", _PP, "scaled", _pca("covariance_eigh"), _variance_ratio, "variance_ratio"),
        Step("regress_out", _PP, "hvg", _call("pp.regress_out", ["total_counts", "pct_counts_mt"]), _head, "head",
             note="HVGs on total_counts + pct_counts_mt (numeric: scanpy solves least squares with numpy)"),
        Step("regress_out_categorical", _PP, "hvg", _call("pp.regress_out", "batch"), _head, "head",
             preload=("statsmodels.api", "joblib"), cap="regress_out_cells",
             note="HVGs on the batch (categorical): scanpy fits one statsmodels GLM per gene, so the cells are "
                  "capped (--regress-out-cells); default n_jobs (scanpy: 1 process, so no joblib workers whose "
                  "memory would not be counted)"),
        Step("combat", _PP, "hvg", _call("pp.combat", key="batch"), _head, "head", note="HVGs, 3 batches"),
        Step("scrublet", _PP, "counts", _call("pp.scrublet", random_state=0), _scrublet, "scrublet",
             preload=("sklearn.decomposition", "pynndescent", "annoy"), cap="scrublet_cells",
             note="all genes (scrublet selects its own); 5% simulated doublets in the data"),
        Step("neighbors", _GR, "pca", _call("pp.neighbors", n_neighbors=15, use_rep="X_pca", random_state=0),
             _knn, "knn", preload=("pynndescent", "umap", "sklearn.neighbors"), note="15 neighbours"),
        Step("umap", _GR, "graph", _call("tl.umap", random_state=0), _embedding("X_umap"), "embedding",
             preload=("umap",)),
        Step("umap_parallel", _GR, "graph", _umap_parallel, _embedding("X_umap"), "embedding", preload=("umap",),
             note="scsnake: method='parallel' (umap-learn's start and updates in 64 blocks of cells on every core, "
                  "deterministic for the seed); scanpy: its umap, serial with the seed"),
        Step("tsne", _GR, "pca", _call("tl.tsne", use_rep="X_pca", random_state=0, n_jobs=None),
             _embedding("X_tsne"), "embedding", preload=("sklearn.manifold", "openTSNE"), cap="tsne_cells",
             note="scanpy: scikit-learn Barnes-Hut; scsnake: openTSNE; both with the n_jobs of the header"),
        Step("leiden", _GR, "graph", _call("tl.leiden", flavor="igraph", n_iterations=2, directed=False,
             random_state=0), _labels("leiden"), "labels", preload=("igraph",), note="igraph flavor, 2 iterations"),
        Step("leiden_leidenalg", _GR, "graph", _call("tl.leiden", flavor="leidenalg", random_state=0,
             key_added="leiden_la"), _labels("leiden_la"), "labels", preload=("igraph", "leidenalg"),
             note="leidenalg flavor (scanpy's default), directed graph, until converged"),
        Step("louvain", _GR, "graph", _call("tl.louvain", flavor="igraph", directed=False, random_state=0),
             _labels("louvain"), "labels", preload=("igraph",), note="igraph flavor (community_multilevel): scanpy does not seed igraph here, so its "
                  "clusters (and the ARI) can change from run to run"),
        Step("paga", _GR, "graph", _call("tl.paga", groups="leiden"), _paga, "max_abs",
             note="groups: the prepared leiden clusters"),
        Step("diffmap", _GR, "graph", _call("tl.diffmap", n_comps=15), _diffmap, "max_rel", note="15 components"),
        Step("dpt", _GR, "graph", _call("tl.dpt"), _pseudotime, "spearman",
             note="on the prepared diffusion map and root cell"),
        Step("draw_graph_fr", _GR, "graph", _call("tl.draw_graph", layout="fr", random_state=0),
             _embedding("X_draw_graph_fr"), "embedding", preload=("igraph",),
             note="both: igraph's Fruchterman-Reingold"),
        Step("draw_graph_fa", _GR, "graph", _call("tl.draw_graph", layout="fa", random_state=0),
             _embedding("X_draw_graph_fa"), "embedding", scanpy_needs="fa2_modified",
             note="ForceAtlas2: scanpy needs fa2-modified (without it scanpy runs fr, timed as draw_graph_fr); "
                  "scsnake has its own numba port"),
        Step("rank_genes_groups_wilcoxon", _MK, "markers", _call("tl.rank_genes_groups", "groups", method="wilcoxon"),
             _markers, "markers"),
        Step("rank_genes_groups_t-test", _MK, "markers", _call("tl.rank_genes_groups", "groups", method="t-test"),
             _markers, "markers"),
        Step("rank_genes_groups_logreg", _MK, "markers", _call("tl.rank_genes_groups", "groups", method="logreg"),
             _markers, "markers", preload=("sklearn.linear_model",), note="scikit-learn LogisticRegression defaults"),
    ]
}  # fmt: skip


def suite_steps(suite: str) -> list[Step]:
    return [s for s in STEPS.values() if s.suite == suite]


# --- the worker -----------------------------------------------------------------------------
def _import(tool: str) -> Any:
    if tool == "scanpy":
        import scanpy as lib

        _shim_scanpy_pynndescent()
        importlib.import_module("scanpy.experimental.pp")
    else:
        import scsnake as lib

        for sub in ("pp", "tl", "neighbors"):  # scsnake loads its submodules on first use
            getattr(lib, sub)
        importlib.import_module("scsnake.pp._pearson_residuals")
    return lib


def _read(step: Step, ctx: dict[str, Any]) -> Any:
    import anndata as ad

    adata = ad.read_h5ad(ctx["inputs"][step.input])
    cap = ctx.get(step.cap) if step.cap else None
    if cap and cap < adata.n_obs:
        adata = adata[:cap].copy()
    return adata


def run_step(step: Step, lib: Any, tool: str, ctx: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read, time the step, extract its results: (timings, results)."""
    import psutil

    for module in step.preload:
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    adata = _read(step, ctx)
    gc.collect()
    proc = psutil.Process()
    rss = PeakRss()
    rss.reset()
    baseline = rss.peak
    start = time.perf_counter()
    step.run(lib, tool, adata, ctx)
    seconds = time.perf_counter() - start
    peak = max(rss.peak, proc.memory_info().rss)
    rss.stop()
    timings = {"tool": tool, "step": step.name, "seconds": seconds, "delta_gb": (peak - baseline) / 1e9,
               "peak_gb": peak / 1e9, "baseline_gb": baseline / 1e9, "n_obs": int(adata.n_obs),
               "n_vars": int(adata.n_vars)}  # fmt: skip
    return timings, step.extract(adata, ctx)


def output(out_dir: Path, prefix: str, step: str, tool: str, repeat: int) -> Path:
    """Where a step's ``.json`` / ``.npz`` / ``.log`` go (without suffix)."""
    return out_dir / f"{prefix}{step}_{tool}_r{repeat}"


def with_suffix(out: Path, suffix: str) -> Path:
    return out.with_name(out.name + suffix)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tool", choices=["scanpy", "scsnake"], required=True)
    parser.add_argument("--context", type=Path, required=True, help="inputs JSON written by _prepare.py")
    parser.add_argument("--steps", required=True, help="comma-separated step names, run in this order")
    parser.add_argument("--out-dir", type=Path, help="where <prefix><step>_<tool>_r<repeat>.json/.npz go")
    parser.add_argument("--prefix", default="")
    parser.add_argument("--repeat", type=int, default=0)
    parser.add_argument("--warmup", action="store_true", help="write nothing (fills numba's caches)")
    args = parser.parse_args()
    os.environ.setdefault("MPLBACKEND", "Agg")
    ctx = json.loads(args.context.read_text())
    lib = _import(args.tool)
    failed = False
    for name in args.steps.split(","):
        start = time.perf_counter()
        try:
            timings, results = run_step(STEPS[name], lib, args.tool, ctx)
        except Exception as err:  # recorded in the table; the other steps still run
            traceback.print_exc()
            failed = True
            message = f"{type(err).__name__}: {err}".splitlines()[0][:300]
            print(f"{args.tool} {name} failed: {message}", flush=True)
            if not args.warmup:
                out = output(args.out_dir, args.prefix, name, args.tool, args.repeat)
                with_suffix(out, ".json").write_text(
                    json.dumps({"tool": args.tool, "step": name, "error": message})
                )
            continue
        print(f"{args.tool} {name}: {time.perf_counter() - start:.1f} s with read", flush=True)
        if not args.warmup:
            out = output(args.out_dir, args.prefix, name, args.tool, args.repeat)
            np.savez(with_suffix(out, ".npz"), **results)
            with_suffix(out, ".json").write_text(json.dumps(timings, indent=2))
        del results
        gc.collect()
    sys.exit(1 if failed and not args.warmup else 0)


if __name__ == "__main__":
    main()
