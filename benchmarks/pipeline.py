"""The standard pipeline, timed step by step, run with scanpy or scsnake in this process.

Used by ``compare.py`` (one process per tool and repeat); both libraries share the API, so
the same code runs both. Writes a JSON with per-step seconds and peak RSS, and an ``.npz``
with the results compared across tools (clusters, HVGs, PCA variance ratio, markers).

    python benchmarks/pipeline.py --tool scsnake --input data.h5ad --out run.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class PeakRss:
    """Samples this process's resident memory; reports the peak within each step."""

    def __init__(self, interval: float = 0.05) -> None:
        import psutil

        self._proc = psutil.Process()
        self._interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            time.sleep(self._interval)

    def reset(self) -> None:
        self.peak = self._proc.memory_info().rss

    def stop(self) -> None:
        self._stop.set()


def _shim_scanpy_pynndescent() -> None:
    """scanpy 1.11.5's pynndescent path calls ``getnnz`` on the ``csr_array`` that pynndescent
    0.7 returns (scipy >= 1.17 removed it from arrays); give it back so scanpy runs its own
    default algorithm above 8,192 cells instead of crashing."""
    from scipy import sparse

    if not hasattr(sparse.csr_array, "getnnz"):
        sparse.csr_array.getnnz = lambda self, axis=None: self._getnnz(axis=axis)


def run(
    tool: str,
    data: Path,
    n_pcs: int = 50,
    n_neighbors: int = 15,
    *,
    lean: bool = False,
    umap_method: str = "umap",
    steps: dict[str, dict[str, float]] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run the pipeline; returns (timings, results). ``steps`` is filled as steps finish
    (so a caller still has the finished ones if a step fails).

    ``lean``: the same analysis in an order that keeps one copy of the matrix (for sizes
    where two do not fit): seurat_v3 HVGs on ``X`` before normalising instead of on a
    ``counts`` copy, and for scsnake ``scaled_pca`` (scale + PCA in blocks of cells)
    instead of the dense scaled matrix. ``umap_method``: scsnake's ``tl.umap(method=)``
    (``parallel``: its block-parallel layout; scanpy always runs its own).
    """
    steps = {} if steps is None else steps
    rss = PeakRss()

    @contextmanager
    def step(name: str):
        rss.reset()
        start = time.perf_counter()
        try:
            yield
        except BaseException as err:
            steps["failed"] = {
                "step": name,
                "error": f"{type(err).__name__}: {err}"[:300],
                "seconds": time.perf_counter() - start,
                "peak_rss_gb": rss.peak / 1e9,
            }
            raise
        steps[name] = {"seconds": time.perf_counter() - start, "peak_rss_gb": rss.peak / 1e9}

    with step("import"):
        if tool == "scanpy":
            import scanpy as lib

            _shim_scanpy_pynndescent()
        else:
            import scsnake as lib
        import anndata as ad

    with step("read"):
        adata = ad.read_h5ad(data)
    with step("qc_metrics"):
        adata.var["mt"] = adata.var_names.str.startswith("MT-")
        lib.pp.calculate_qc_metrics(adata, qc_vars=["mt"], inplace=True, percent_top=None, log1p=False)
    with step("filter"):
        lib.pp.filter_cells(adata, min_genes=200)
        lib.pp.filter_genes(adata, min_cells=3)
    if lean:  # seurat_v3 on the counts before normalising: no copy of them
        with step("hvg_seurat_v3"):
            v3 = lib.pp.highly_variable_genes(adata, flavor="seurat_v3", n_top_genes=2000, inplace=False)
        with step("normalize_log1p"):
            lib.pp.normalize_total(adata, target_sum=1e4)
            lib.pp.log1p(adata)
    else:
        with step("normalize_log1p"):
            adata.layers["counts"] = adata.X.copy()
            lib.pp.normalize_total(adata, target_sum=1e4)
            lib.pp.log1p(adata)
        with step("hvg_seurat_v3"):
            v3 = lib.pp.highly_variable_genes(
                adata, flavor="seurat_v3", n_top_genes=2000, layer="counts", inplace=False
            )
    with step("hvg_seurat"):
        lib.pp.highly_variable_genes(adata, flavor="seurat", n_top_genes=2000)
    if lean and tool == "scsnake":  # scale and PCA in blocks of cells: no dense scaled matrix
        with step("scale_pca"):
            hvg = adata[:, adata.var["highly_variable"].to_numpy()].copy()
            lib.pp.scaled_pca(hvg, n_comps=n_pcs, max_value=10, svd_solver="arpack", random_state=0)
    else:
        with step("scale"):
            hvg = adata[:, adata.var["highly_variable"].to_numpy()].copy()
            lib.pp.scale(hvg, max_value=10)
        with step("pca"):
            lib.pp.pca(hvg, n_comps=n_pcs, svd_solver="arpack", random_state=0)
    adata.obsm["X_pca"] = hvg.obsm["X_pca"]
    variance_ratio = hvg.uns["pca"]["variance_ratio"]
    del hvg
    with step("neighbors"):
        lib.pp.neighbors(adata, n_neighbors=n_neighbors, random_state=0)
    with step("umap"):
        lib.tl.umap(adata, random_state=0, **({"method": umap_method} if tool == "scsnake" else {}))
    with step("leiden"):
        lib.tl.leiden(adata, flavor="igraph", n_iterations=2, directed=False, random_state=0)
    with step("rank_genes_groups"):
        lib.tl.rank_genes_groups(adata, "leiden", method="wilcoxon")
    rss.stop()
    names = adata.uns["rank_genes_groups"]["names"]
    results = {
        "leiden": adata.obs["leiden"].astype(str).to_numpy(),
        "obs_names": adata.obs_names.to_numpy(dtype=str),
        "hvg": adata.var_names[adata.var["highly_variable"].to_numpy()].to_numpy(dtype=str),
        "hvg_v3": v3.index[v3["highly_variable"].to_numpy()].to_numpy(dtype=str)
        if v3.index.dtype == object
        else adata.var_names[v3["highly_variable"].to_numpy()].to_numpy(dtype=str),
        "pca_variance_ratio": variance_ratio,
        "umap": adata.obsm["X_umap"],
        "marker_groups": list(names.dtype.names),
        "markers": [list(map(str, names[g][:25])) for g in names.dtype.names],
    }
    timings = {
        "tool": tool,
        "steps": steps,
        "total_seconds": sum(s["seconds"] for s in steps.values()),
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9,
        "n_obs": int(adata.n_obs),
        "n_vars": int(adata.n_vars),
    }
    return timings, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tool", choices=["scanpy", "scsnake"], required=True)
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="timings JSON; results go to <out>.npz")
    parser.add_argument("--lean", action="store_true", help="keep one copy of the matrix (see run)")
    parser.add_argument(
        "--umap-method",
        choices=["umap", "parallel"],
        default="umap",
        help="scsnake's tl.umap method (scanpy runs its own)",
    )
    args = parser.parse_args()
    os.environ.setdefault("MPLBACKEND", "Agg")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    steps: dict[str, dict[str, Any]] = {}
    try:
        timings, results = run(
            args.tool, args.input, lean=args.lean, umap_method=args.umap_method, steps=steps
        )
    except (MemoryError, Exception):  # record how far it got, then fail
        failed = steps.pop("failed", {})
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9
        args.out.write_text(
            json.dumps({"tool": args.tool, "failed": failed, "steps": steps, "peak_rss_gb": peak}, indent=2)
        )
        raise
    import numpy as np

    args.out.write_text(json.dumps(timings, indent=2))
    markers = results.pop("markers")
    groups = results.pop("marker_groups")
    np.savez(
        args.out.with_suffix(".npz"),
        **results,
        markers=np.array(markers, dtype=object),
        marker_groups=np.array(groups, dtype=str),
    )


if __name__ == "__main__":
    main()
