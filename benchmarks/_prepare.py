"""Input files of the per-step benchmarks (``steps.py``), prepared once per suite and size.

Everything is computed with scsnake from ``scsnake.datasets.synthetic`` and written to the
work directory, so scanpy and scsnake read the very same files. Run by ``steps.py`` in its
own process (the memory of the preparation is given back before anything is timed):

    python benchmarks/_prepare.py --suite graph --cells 5000 --genes 5000 --workdir DIR

prints the path of a JSON describing the inputs (paths, shapes, ``n_top_genes``, ``n_pcs``).
Files that exist are reused.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

#: Files each suite reads (steps name one of these as their input).
INPUTS = {
    "preprocessing": ("counts", "lognorm", "hvg", "hvg_counts", "scaled"),
    "graph": ("pca", "graph"),
    "markers": ("markers",),
}
N_TOP_GENES = 2000
N_PCS = 50
N_NEIGHBORS = 15


def tag(n_cells: int, n_genes: int) -> str:
    return f"{n_cells}x{n_genes}"


def context_path(suite: str, n_cells: int, n_genes: int, seed: int, workdir: Path) -> Path:
    return workdir / f"steps_{suite}_{tag(n_cells, n_genes)}_seed{seed}_inputs.json"


def _qc_filter(adata: Any) -> None:
    """Scanpy's usual light QC, scaled down for tiny test data."""
    import scsnake as ss

    ss.pp.filter_cells(adata, min_genes=min(200, adata.n_vars // 10))
    ss.pp.filter_genes(adata, min_cells=3)
    adata.var["mt"] = adata.var_names.str.startswith("MT-")
    ss.pp.calculate_qc_metrics(adata, qc_vars=["mt"], percent_top=None, log1p=False, inplace=True)


def _hvg_mask(adata: Any, n_top: int) -> np.ndarray:
    import scsnake as ss

    ss.pp.highly_variable_genes(adata, flavor="seurat", n_top_genes=n_top)
    return adata.var["highly_variable"].to_numpy()


def _write(adata: Any, path: Path) -> None:
    import scsnake as ss

    for key in list(adata.uns):  # leftovers of the preparation (hvg, log1p…) are not inputs
        if key not in {"neighbors", "iroot", "diffmap_evals", "pca", "log1p"}:
            del adata.uns[key]
    ss.io.write(adata, path)


def _prepare_preprocessing(paths: dict[str, Path], n_cells: int, n_genes: int, seed: int) -> dict[str, Any]:
    import anndata as ad

    import scsnake as ss

    adata = ss.datasets.synthetic(n_cells, n_genes, n_types=12, n_batches=3, doublet_rate=0.05, seed=seed)
    _qc_filter(adata)
    _write(adata, paths["counts"])
    ss.pp.normalize_total(adata, target_sum=1e4)
    ss.pp.log1p(adata)
    _write(adata, paths["lognorm"])
    n_top = min(N_TOP_GENES, adata.n_vars // 2)
    genes = adata.var_names[_hvg_mask(adata, n_top)]
    del adata.var["highly_variable"]
    hvg = adata[:, genes].copy()
    del adata
    hvg.var = hvg.var[["gene_ids"]]
    _write(hvg, paths["hvg"])
    ss.pp.scale(hvg, max_value=10)
    hvg.X = np.asarray(hvg.X, dtype=np.float32)
    _write(hvg, paths["scaled"])
    del hvg
    counts = ad.read_h5ad(paths["counts"])
    _write(counts[:, genes].copy(), paths["hvg_counts"])
    n_pcs = min(N_PCS, len(genes) - 1, counts.n_obs - 1)
    return {"n_top_genes": n_top, "n_pcs": n_pcs, "n_obs": counts.n_obs, "n_vars": counts.n_vars}


def _prepare_graph(paths: dict[str, Path], n_cells: int, n_genes: int, seed: int) -> dict[str, Any]:
    import anndata as ad
    from scipy import sparse

    import scsnake as ss

    adata = ss.datasets.synthetic(n_cells, n_genes, n_types=12, seed=seed)
    _qc_filter(adata)
    ss.pp.normalize_total(adata, target_sum=1e4)
    ss.pp.log1p(adata)
    n_top = min(N_TOP_GENES, adata.n_vars // 2)
    adata = adata[:, _hvg_mask(adata, n_top)].copy()
    ss.pp.scale(adata, max_value=10)
    n_pcs = min(N_PCS, adata.n_vars - 1, adata.n_obs - 1)
    ss.pp.pca(adata, n_comps=n_pcs, svd_solver="arpack", random_state=0)
    # no genes: graph steps read only obsm/obsp, and reading stays cheap
    graph = ad.AnnData(
        X=sparse.csr_matrix((adata.n_obs, 0), dtype=np.float32),
        obs=adata.obs[["truth", "total_counts"]].copy(),
        obsm={"X_pca": np.asarray(adata.obsm["X_pca"], dtype=np.float32)},
    )
    n_obs = adata.n_obs
    del adata
    _write(graph, paths["pca"])
    ss.pp.neighbors(graph, n_neighbors=N_NEIGHBORS, n_pcs=n_pcs, use_rep="X_pca", random_state=0)
    ss.tl.leiden(graph, flavor="igraph", n_iterations=2, directed=False, random_state=0)
    ss.tl.diffmap(graph, n_comps=15)
    graph.uns["iroot"] = int(np.argmin(graph.obsm["X_diffmap"][:, 1]))
    _write(graph, paths["graph"])
    return {"n_top_genes": n_top, "n_pcs": n_pcs, "n_obs": n_obs, "n_vars": 0,
            "n_clusters": int(graph.obs["leiden"].nunique())}  # fmt: skip


def _prepare_markers(paths: dict[str, Path], n_cells: int, n_genes: int, seed: int) -> dict[str, Any]:
    import scsnake as ss

    adata = ss.datasets.synthetic(n_cells, n_genes, n_types=20, seed=seed)
    _qc_filter(adata)
    ss.pp.normalize_total(adata, target_sum=1e4)
    ss.pp.log1p(adata)
    n_top = min(N_TOP_GENES, adata.n_vars // 2)
    adata = adata[:, _hvg_mask(adata, n_top)].copy()
    adata.var = adata.var[["gene_ids"]]
    adata.obs = adata.obs[["truth"]].rename(columns={"truth": "groups"})
    _write(adata, paths["markers"])
    return {"n_top_genes": n_top, "n_pcs": N_PCS, "n_obs": adata.n_obs, "n_vars": adata.n_vars,
            "n_groups": int(adata.obs["groups"].nunique())}  # fmt: skip


def prepare(suite: str, n_cells: int, n_genes: int, seed: int, workdir: Path) -> Path:
    """Write the suite's inputs (unless present) and a JSON describing them; returns its path."""
    workdir.mkdir(parents=True, exist_ok=True)
    ctx_path = context_path(suite, n_cells, n_genes, seed, workdir)
    paths = {
        key: workdir / f"steps_{suite}_{key}_{tag(n_cells, n_genes)}_seed{seed}.h5ad" for key in INPUTS[suite]
    }
    if ctx_path.exists() and all(p.exists() for p in paths.values()):
        return ctx_path
    start = time.perf_counter()
    build = {"preprocessing": _prepare_preprocessing, "graph": _prepare_graph, "markers": _prepare_markers}[
        suite
    ]
    info = build(paths, n_cells, n_genes, seed)
    info.update(suite=suite, cells=n_cells, genes=n_genes, seed=seed, inputs={k: str(p) for k, p in paths.items()},
                prepare_seconds=time.perf_counter() - start)  # fmt: skip
    ctx_path.write_text(json.dumps(info, indent=2))
    print(f"prepared {suite} inputs ({n_cells} x {n_genes}) in {info['prepare_seconds']:.1f} s", flush=True)
    return ctx_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=sorted(INPUTS), required=True)
    parser.add_argument("--cells", type=int, required=True)
    parser.add_argument("--genes", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, required=True)
    args = parser.parse_args()
    print(prepare(args.suite, args.cells, args.genes, args.seed, args.workdir))


if __name__ == "__main__":
    main()
