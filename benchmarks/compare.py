"""scsnake against scanpy on the same synthetic data, same machine, same run.

    python benchmarks/compare.py --cells 20000 --genes 20000 --repeats 2
    python benchmarks/compare.py --cells 100000 --genes 20000
    python benchmarks/compare.py --cells 20000 --genes 5000 --workflow   # + Snakemake overhead
    python benchmarks/compare.py --cells 1000000 --genes 20000 --median-counts 2500   # ~1,500 genes per cell

Generates the data once (streamed to ``--workdir`` and cached there), runs ``pipeline.py`` for each tool in
separate processes with interleaved repeats, and prints/writes per-step seconds, peak RSS,
the ratio scsnake/scanpy, and agreement of the results (cluster ARI, HVG Jaccard, PCA
variance-ratio difference, marker overlap). ``--workflow`` also times the Snakemake workflow
end to end against the in-process library pipeline on the same data.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def depth_tag(median_counts: float | None) -> str:
    """``_mc<median_counts>`` in file names when the simulator's depth is set, else nothing."""
    return "" if median_counts is None else f"_mc{median_counts:g}"


def data_path(
    workdir: Path, n_cells: int, n_genes: int, seed: int, median_counts: float | None = None
) -> Path:
    """The cached file of one data set: ``synthetic_<cells>x<genes>_seed<seed>[_mc<median_counts>].h5ad``."""
    return workdir / f"synthetic_{n_cells}x{n_genes}_seed{seed}{depth_tag(median_counts)}.h5ad"


def make_data(path: Path, n_cells: int, n_genes: int, seed: int, median_counts: float | None = None) -> Path:
    """The synthetic counts, generated once and cached (streamed to disk: memory stays small)."""
    if not path.exists():
        import scsnake as ss

        start = time.perf_counter()
        ss.datasets.write_synthetic(
            path, n_cells, n_genes, n_types=12, median_counts=median_counts, seed=seed
        )
        print(f"generated {path.name} in {time.perf_counter() - start:.1f} s", flush=True)
    return path


def drop_page_cache() -> None:
    """Empty the kernel's page cache (root only), so every run starts from the same state.

    With a full cache, new memory has to be reclaimed from it first; on the VMs this was
    measured on that made a 1 GB copy take 4.9 s instead of 0.5 s, hitting whichever
    tool allocated fresh memory rather than reusing what it had freed.
    """
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


def run_tool(
    tool: str,
    data: Path,
    out: Path,
    *,
    lean: bool = False,
    memory_limit_gb: float | None = None,
    umap_method: str = "umap",
) -> dict[str, Any]:
    """One pipeline run in a fresh process (cold imports, like a script).

    ``memory_limit_gb`` caps the process's address space, so a run that needs more fails
    with a MemoryError (recorded with the step it reached) instead of waking the OOM killer.
    A failed run returns its partial record, with ``failed`` set.
    """
    env = {**os.environ, "MPLBACKEND": "Agg"}
    cmd = [sys.executable, str(HERE / "pipeline.py"), "--tool", tool, "--input", str(data), "--out", str(out)]
    cmd += ["--lean"] if lean else []
    cmd += ["--umap-method", umap_method]

    def limit() -> None:
        if memory_limit_gb is not None:
            size = int(memory_limit_gb * 1e9)
            resource.setrlimit(resource.RLIMIT_AS, (size, size))

    out.unlink(missing_ok=True)
    done = subprocess.run(cmd, check=False, env=env, preexec_fn=limit)
    if done.returncode != 0:
        record = json.loads(out.read_text()) if out.exists() else {"tool": tool, "steps": {}}
        record.setdefault("failed", {})["returncode"] = done.returncode
        print(f"{tool} failed: {record['failed']}", flush=True)
        return record
    return json.loads(out.read_text())


def agreement(scanpy_npz: Path, scsnake_npz: Path) -> dict[str, float]:
    """How far the two tools' results agree."""
    from sklearn.metrics import adjusted_rand_score

    a = np.load(scanpy_npz, allow_pickle=True)
    b = np.load(scsnake_npz, allow_pickle=True)
    common, ia, ib = np.intersect1d(a["obs_names"], b["obs_names"], return_indices=True)
    ari = adjusted_rand_score(a["leiden"][ia], b["leiden"][ib])

    def jaccard(x: np.ndarray, y: np.ndarray) -> float:
        sx, sy = set(x.tolist()), set(y.tolist())
        return len(sx & sy) / max(1, len(sx | sy))

    ratio_a, ratio_b = a["pca_variance_ratio"], b["pca_variance_ratio"]
    n = min(len(ratio_a), len(ratio_b))
    # markers: pair each scsnake cluster with the scanpy cluster sharing most cells
    overlaps = []
    groups_a = list(a["marker_groups"])
    for j, group in enumerate(b["marker_groups"]):
        cells = b["leiden"][ib] == group
        if not cells.any():
            continue
        labels, counts = np.unique(a["leiden"][ia][cells], return_counts=True)
        best = labels[np.argmax(counts)]
        if best in groups_a:
            overlaps.append(len(set(a["markers"][groups_a.index(best)]) & set(b["markers"][j])) / 25)
    return {
        "cells_compared": len(common),
        "leiden_ari": float(ari),
        "hvg_jaccard_seurat": jaccard(a["hvg"], b["hvg"]),
        "hvg_jaccard_seurat_v3": jaccard(a["hvg_v3"], b["hvg_v3"]),
        "pca_variance_ratio_max_rel_diff": float(np.max(np.abs(ratio_a[:n] - ratio_b[:n]) / ratio_a[:n])),
        "marker_top25_overlap_mean": float(np.mean(overlaps)) if overlaps else float("nan"),
    }


def summarise(runs: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per step: the best of the repeats for each tool, and the ratio scsnake/scanpy."""
    rows = []
    steps = list(runs["scanpy"][0]["steps"])
    for name in [*steps, "total"]:
        row: dict[str, Any] = {"step": name}
        for tool in ("scanpy", "scsnake"):
            if name == "total":
                row[f"{tool}_s"] = min(r["total_seconds"] for r in runs[tool])
                row[f"{tool}_rss_gb"] = max(r["peak_rss_gb"] for r in runs[tool])
            else:
                row[f"{tool}_s"] = min(r["steps"][name]["seconds"] for r in runs[tool])
                row[f"{tool}_rss_gb"] = max(r["steps"][name]["peak_rss_gb"] for r in runs[tool])
        row["time_ratio"] = row["scsnake_s"] / row["scanpy_s"] if row["scanpy_s"] > 0 else float("nan")
        row["rss_ratio"] = (
            row["scsnake_rss_gb"] / row["scanpy_rss_gb"] if row["scanpy_rss_gb"] > 0 else float("nan")
        )
        rows.append(row)
    return rows


def markdown(rows: list[dict[str, Any]], agree: dict[str, float], header: str) -> str:
    lines = [
        header,
        "",
        "| step | scanpy s | scsnake s | ratio | scanpy peak GB | scsnake peak GB | ratio |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['step']} | {r['scanpy_s']:.2f} | {r['scsnake_s']:.2f} | {r['time_ratio']:.2f} | "
            f"{r['scanpy_rss_gb']:.2f} | {r['scsnake_rss_gb']:.2f} | {r['rss_ratio']:.2f} |"
        )
    lines += ["", "| agreement | value |", "|---|---:|"]
    lines += [f"| {k} | {v:.4g} |" for k, v in agree.items()]
    return "\n".join(lines) + "\n"


def workflow_overhead(
    data: Path, workdir: Path, library_seconds: float, *, drop_caches: bool = False
) -> dict[str, float]:
    """Time the Snakemake workflow on the same data against the in-process pipeline."""
    import yaml

    run_dir = workdir / "workflow_run"
    run_dir.mkdir(parents=True, exist_ok=True)
    config = {
        "samples": {"bench": {"input": str(data)}},
        # the library pipeline's QC: the mitochondrial share only, no top-gene shares
        "qc": {
            "min_genes": 200,
            "max_pct_mt": None,
            "min_cells": 3,
            "qc_vars": {"mt": "^MT-"},
            "percent_top": [],
        },
        "markers": {"method": "wilcoxon"},
    }
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    # the library pipeline's work ends with the markers: the target is the final artifact
    # (figures, report and run info are not built)
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "results/bench/final.h5ad",
        "-s",
        str(REPO / "Snakefile"),
        "-d",
        str(run_dir),
        "--configfile",
        str(run_dir / "config.yaml"),
        "--cores",
        "2",
        "--forceall",
        "--quiet",
    ]
    if drop_caches:
        drop_page_cache()
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env)
    seconds = time.perf_counter() - start
    jobs = {}
    for tsv in sorted((run_dir / "results" / "bench" / "benchmarks").glob("*.tsv")):
        lines = tsv.read_text().splitlines()
        if len(lines) > 1:
            row = dict(zip(lines[0].split("\t"), lines[1].split("\t"), strict=False))
            jobs[tsv.stem] = {"s": float(row["s"]), "max_rss_gb": float(row["max_rss"]) / 1024}
    return {
        "workflow_s": seconds,
        "library_s": library_seconds,
        "ratio": seconds / library_seconds,
        "jobs": jobs,
    }


def workflow_markdown(overhead: dict[str, Any]) -> str:
    """The workflow's total against the library's, and each job's seconds and peak RSS."""
    lines = [
        f"\nSnakemake workflow end to end (to `final.h5ad`): {overhead['workflow_s']:.1f} s vs in-process "
        f"library {overhead['library_s']:.1f} s (ratio {overhead['ratio']:.2f})\n",
        "| job | s | peak GB |",
        "|---|---:|---:|",
    ]
    lines += [
        f"| {name} | {job['s']:.1f} | {job['max_rss_gb']:.2f} |" for name, job in overhead["jobs"].items()
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=20000)
    parser.add_argument("--genes", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=HERE / "out")
    parser.add_argument("--tools", nargs="+", default=["scanpy", "scsnake"])
    parser.add_argument("--workflow", action="store_true", help="also time the Snakemake workflow")
    parser.add_argument(
        "--umap-method",
        choices=["umap", "parallel"],
        default="umap",
        help="scsnake's tl.umap method: umap (umap-learn's, as scanpy) or parallel (block-parallel layout)",
    )
    parser.add_argument("--lean", action="store_true",
                        help="one copy of the matrix: seurat_v3 on X before normalising, scsnake's scaled_pca")  # fmt: skip
    parser.add_argument("--memory-limit-gb", type=float, default=None,
                        help="cap each tool process's address space (a run that needs more fails cleanly)")  # fmt: skip
    parser.add_argument("--drop-caches", action="store_true",
                        help="empty the page cache before every run (root; same start for every tool)")  # fmt: skip
    parser.add_argument("--median-counts", type=float, default=None,
                        help="median UMIs per cell of the simulated data (default: the simulator's)")  # fmt: skip
    args = parser.parse_args()

    args.workdir.mkdir(parents=True, exist_ok=True)
    tag = f"{args.cells}x{args.genes}{depth_tag(args.median_counts)}{'_lean' if args.lean else ''}{'_umap-parallel' if args.umap_method == 'parallel' else ''}"  # names this run's outputs too
    path = data_path(args.workdir, args.cells, args.genes, args.seed, args.median_counts)
    data = make_data(path, args.cells, args.genes, args.seed, args.median_counts)
    runs: dict[str, list[dict[str, Any]]] = {t: [] for t in args.tools}
    for repeat in range(args.repeats):
        for tool in args.tools:  # interleaved: scanpy, scsnake, scanpy, scsnake…
            out = args.workdir / f"{tool}_{tag}_r{repeat}.json"
            print(f"[{tag}] {tool} repeat {repeat + 1}/{args.repeats}", flush=True)
            if args.drop_caches:
                drop_page_cache()
            runs[tool].append(
                run_tool(
                    tool,
                    data,
                    out,
                    lean=args.lean,
                    memory_limit_gb=args.memory_limit_gb,
                    umap_method=args.umap_method,
                )
            )
    if set(args.tools) != {"scanpy", "scsnake"} or any("failed" in r for rs in runs.values() for r in rs):
        print(json.dumps(runs, indent=2))
        if args.workflow and "scsnake" in runs:
            overhead = workflow_overhead(
                data,
                args.workdir,
                min(r["total_seconds"] for r in runs["scsnake"]),
                drop_caches=args.drop_caches,
            )
            report = workflow_markdown(overhead)
            print(report)
            (args.workdir / f"workflow_{tag}.md").write_text(report)
        return
    rows = summarise(runs)
    agree = agreement(args.workdir / f"scanpy_{tag}_r0.npz", args.workdir / f"scsnake_{tag}_r0.npz")
    header = (
        f"### {args.cells:,} cells × {args.genes:,} genes ({runs['scsnake'][0]['n_obs']:,} after QC), "
        f"best of {args.repeats}; {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}\n\n"
        f"`python benchmarks/compare.py --cells {args.cells} --genes {args.genes} --repeats {args.repeats}"
        f"{'' if args.median_counts is None else f' --median-counts {args.median_counts:g}'}{' --lean' if args.lean else ''}{' --umap-method parallel' if args.umap_method == 'parallel' else ''}{' --drop-caches' if args.drop_caches else ''}`"
    )
    report = markdown(rows, agree, header)
    if args.workflow:
        overhead = workflow_overhead(
            data, args.workdir, min(r["total_seconds"] for r in runs["scsnake"]), drop_caches=args.drop_caches
        )
        report += workflow_markdown(overhead)
    print(report)
    (args.workdir / f"compare_{tag}.md").write_text(report)
    (args.workdir / f"compare_{tag}.json").write_text(
        json.dumps({"rows": rows, "agreement": agree, "runs": runs}, indent=2)
    )


if __name__ == "__main__":
    main()
