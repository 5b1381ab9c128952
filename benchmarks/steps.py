"""Per-step benchmark of scsnake against scanpy: same prepared data, same run, one process per step.

    python benchmarks/steps.py --suite preprocessing --cells 100000 --genes 20000
    python benchmarks/steps.py --suite graph --cells 100000 --genes 20000 --timeout 3600
    python benchmarks/steps.py --suite all --cells 100000 --genes 20000 --append-results

For each suite the input is prepared once with scsnake (``_prepare.py``, cached in
``--workdir``). Every step then runs in a fresh process per tool (scanpy, scsnake,
interleaved per repeat) that reads the prepared file and times only that step
(``_steps_run.py``): seconds without import and read, peak RSS above the RSS after the read
(ΔGB) and the absolute peak. The two tools' results are compared per step. Tables go to
``<workdir>/steps_<suite>_<cells>x<genes>.md`` and ``.json``; ``--append-results`` also puts
them in ``benchmarks/RESULTS.md``, replacing an earlier run of the same suite and size.

A step past ``--timeout`` is killed and reported as such; ``--regress-out-cells`` (default
10,000) caps scanpy's per-gene GLM regression, ``--tsne-cells`` / ``--scrublet-cells`` cap those
steps. Before timing, every step runs once on 500 cells (``--no-warmup`` skips it) so that
numba's on-disk caches are filled. ``--one-process`` is a smoke run (all steps of a tool in one
process: memory not isolated), used by ``tests/test_benchmarks.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _prepare import tag  # noqa: E402
from _steps_report import agreement, markdown, update_results  # noqa: E402
from _steps_run import STEPS, Step, output, suite_steps, with_suffix  # noqa: E402

SUITES = ("preprocessing", "graph", "markers")
TOOLS = ("scanpy", "scsnake")
WARMUP_SIZE = (500, 500)  # cells, genes of the untimed warm-up that fills numba's caches
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
PACKAGES = ("scanpy", "scsnake", "anndata", "numpy", "scipy", "scikit-learn", "numba", "umap-learn",
            "pynndescent", "igraph", "leidenalg", "openTSNE")  # fmt: skip


def _env() -> dict[str, str]:
    return {**os.environ, "MPLBACKEND": "Agg", "PYTHONWARNINGS": "ignore"}


def prepare(suite: str, n_cells: int, n_genes: int, seed: int, workdir: Path) -> Path:
    """The suite's inputs, prepared in a separate process so its memory is given back."""
    cmd = [sys.executable, str(HERE / "_prepare.py"), "--suite", suite, "--cells", str(n_cells),
           "--genes", str(n_genes), "--seed", str(seed), "--workdir", str(workdir)]  # fmt: skip
    out = subprocess.run(cmd, check=True, env=_env(), stdout=subprocess.PIPE, text=True).stdout
    lines = out.strip().splitlines()
    for line in lines[:-1]:
        print(line, flush=True)
    return Path(lines[-1])


def context(inputs: Path, args: argparse.Namespace, workdir: Path) -> Path:
    """The prepared inputs plus this run's settings, as the workers read them."""
    ctx = json.loads(inputs.read_text())
    ctx.update(n_jobs=args.n_jobs or os.cpu_count() or 1, regress_out_cells=args.regress_out_cells,
               tsne_cells=args.tsne_cells, scrublet_cells=args.scrublet_cells)  # fmt: skip
    path = workdir / inputs.name.replace("_inputs.json", "_context.json")
    path.write_text(json.dumps(ctx, indent=2))
    return path


def run_worker(tool: str, steps: list[Step], ctx: Path, repeat: int, prefix: str, workdir: Path,
               timeout: float) -> dict[str, dict[str, Any]]:  # fmt: skip
    """Steps with one tool in one fresh process (one step, except in ``--one-process`` runs);
    a timeout kills that process's group. Returns each step's timings or failure."""
    names = [s.name for s in steps]
    cmd = [sys.executable, str(HERE / "_steps_run.py"), "--tool", tool, "--context", str(ctx),
           "--steps", ",".join(names), "--out-dir", str(workdir), "--prefix", prefix, "--repeat", str(repeat)]  # fmt: skip
    outs = {name: output(workdir, prefix, name, tool, repeat) for name in names}
    for out in outs.values():
        for suffix in (".json", ".npz"):
            with_suffix(out, suffix).unlink(missing_ok=True)
    log = with_suffix(outs[names[0]] if len(names) == 1 else workdir / f"{prefix}{tool}_r{repeat}", ".log")
    timed_out = False
    with log.open("w") as handle:
        proc = subprocess.Popen(
            cmd, env=_env(), stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            timed_out = True
    results = {}
    for name, out in outs.items():
        path = with_suffix(out, ".json")
        if path.exists():
            results[name] = json.loads(path.read_text())
            if "error" not in results[name]:
                results[name]["npz"] = str(with_suffix(out, ".npz"))
        elif timed_out:
            results[name] = {"tool": tool, "step": name, "timeout": timeout}
        else:
            tail = log.read_text().strip().splitlines()[-1:] or [f"exit code {proc.returncode}"]
            results[name] = {"tool": tool, "step": name, "error": tail[0][:300]}
    return results


def unavailable(step: Step, tool: str) -> str | None:
    """Why a tool cannot run this step here (None: it can)."""
    if tool == "scanpy" and step.scanpy_needs and find_spec(step.scanpy_needs) is None:
        return f"{step.scanpy_needs} not installed"
    return None


def warm_up(suite: str, steps: list[Step], args: argparse.Namespace, workdir: Path) -> None:
    """Run every step once on tiny data per tool, untimed: numba compiles into its on-disk cache."""
    small = prepare(suite, *WARMUP_SIZE, args.seed, workdir)
    ctx = context(small, args, workdir)
    for tool in args.tools:
        names = ",".join(s.name for s in steps if unavailable(s, tool) is None)
        cmd = [sys.executable, str(HERE / "_steps_run.py"), "--tool", tool, "--context", str(ctx),
               "--steps", names, "--warmup"]  # fmt: skip
        start = time.perf_counter()
        log = workdir / f"steps_{suite}_warmup_{tool}.log"
        with log.open("w") as handle:
            proc = subprocess.Popen(
                cmd, env=_env(), stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
            )
            try:
                proc.wait(timeout=max(args.timeout, 600))
            except subprocess.TimeoutExpired:  # only caches are lost: the timed runs still happen
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        print(f"[{suite}] warm-up {tool}: {time.perf_counter() - start:.0f} s (log: {log})", flush=True)


def machine() -> dict[str, Any]:
    import psutil

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for pkg in PACKAGES:
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            versions[pkg] = "not installed"
    return {"cpu": cpu, "arch": platform.machine(), "cores": os.cpu_count(), "ram_gb": psutil.virtual_memory().total / 1e9,
            "os": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
            "load_at_start": os.getloadavg()[0], "versions": versions,
            "threads": {k: os.environ[k] for k in THREAD_VARS if k in os.environ}}  # fmt: skip


def run_suite(suite: str, args: argparse.Namespace, workdir: Path, command: str) -> dict[str, Any]:
    steps = [s for s in suite_steps(suite) if not args.steps or s.name in args.steps]
    meta = machine()
    inputs = prepare(suite, args.cells, args.genes, args.seed, workdir)
    if args.warmup:
        warm_up(suite, steps, args, workdir)
    ctx_path = context(inputs, args, workdir)
    ctx = json.loads(ctx_path.read_text())
    size = tag(args.cells, args.genes)
    prefix = f"steps_{suite}_{size}_"
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {s.name: {t: [] for t in args.tools} for s in steps}
    # interleaved: scanpy, scsnake, scanpy, scsnake… (per step, or per suite with --one-process)
    batches = [steps] if args.one_process else [[s] for s in steps]
    for batch in batches:
        for repeat in range(args.repeats):
            for tool in args.tools:
                runnable = [s for s in batch if unavailable(s, tool) is None]
                for step in batch:
                    if step not in runnable:
                        runs[step.name][tool].append({"tool": tool, "step": step.name,
                                                      "unavailable": unavailable(step, tool)})  # fmt: skip
                if not runnable:
                    continue
                results = run_worker(
                    tool, runnable, ctx_path, repeat, prefix, workdir, args.timeout * len(runnable)
                )
                for step in runnable:
                    result = results[step.name]
                    runs[step.name][tool].append(result)
                    shown = (f"{result['seconds']:.2f} s, Δ{result['delta_gb']:.2f} GB" if "seconds" in result
                             else result.get("error") or f"timeout after {result['timeout']:.0f} s")  # fmt: skip
                    print(f"[{suite} {size}] {step.name} {tool} r{repeat}: {shown}", flush=True)
    rows = [summarise(STEPS[name], per_tool, ctx) for name, per_tool in runs.items()]
    report = {"suite": suite, "cells": args.cells, "genes": args.genes, "repeats": args.repeats,
              "one_process": args.one_process, "warmup": args.warmup,
              "timeout": args.timeout, "command": command, "machine": meta, "context": ctx, "rows": rows,
              "runs": runs}  # fmt: skip
    text = markdown(report)
    (workdir / f"steps_{suite}_{size}.md").write_text(text)
    (workdir / f"steps_{suite}_{size}.json").write_text(json.dumps(report, indent=2, default=float))
    print(text, flush=True)
    if args.append_results:
        update_results(args.results, f"steps:{suite}:{size}", text)
    return report


def summarise(step: Step, per_tool: dict[str, list[dict[str, Any]]], ctx: dict[str, Any]) -> dict[str, Any]:
    """Best time of the repeats per tool, largest memory, ratios scsnake/scanpy, agreement."""
    row: dict[str, Any] = {"step": step.name, "note": step.note}
    if step.cap and ctx.get(step.cap) and ctx[step.cap] < ctx["n_obs"]:
        row["cells"] = ctx[step.cap]
    first: dict[str, dict[str, Any]] = {}
    for tool, results in per_tool.items():
        ok = [r for r in results if "seconds" in r]
        if ok:
            row[f"{tool}_s"] = min(r["seconds"] for r in ok)
            row[f"{tool}_delta_gb"] = max(r["delta_gb"] for r in ok)
            row[f"{tool}_peak_gb"] = max(r["peak_gb"] for r in ok)
            first[tool] = ok[0]
        else:
            bad = results[0] if results else {}
            if "timeout" in bad:
                row[f"{tool}_status"] = f"timeout after {bad['timeout']:.0f} s"
            elif "unavailable" in bad:
                row[f"{tool}_status"] = f"n/a ({bad['unavailable']})"
            else:
                row[f"{tool}_status"] = f"error: {bad.get('error', 'no result')}"
    if "scanpy_s" in row and "scsnake_s" in row:
        row["time_ratio"] = row["scsnake_s"] / row["scanpy_s"] if row["scanpy_s"] > 0 else float("nan")
        row["memory_ratio"] = (row["scsnake_delta_gb"] / row["scanpy_delta_gb"]
                               if row["scanpy_delta_gb"] >= 0.01 and row["scsnake_delta_gb"] >= 0 else None)  # fmt: skip
    row["agreement"] = agreement(step.agreement, {t: np.load(r["npz"]) for t, r in first.items()})
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=[*SUITES, "all"], default="all")
    parser.add_argument("--cells", type=int, default=100_000)
    parser.add_argument("--genes", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--timeout", type=float, default=1800, help="seconds per step and tool (whole process)"
    )
    parser.add_argument("--workdir", type=Path, default=HERE / "out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tools", nargs="+", choices=TOOLS, default=list(TOOLS))
    parser.add_argument("--steps", nargs="+", choices=sorted(STEPS), help="only these steps")
    parser.add_argument("--n-jobs", type=int, default=None, help="n_jobs of tsne (default: all cores)")
    parser.add_argument(
        "--regress-out-cells",
        type=int,
        default=10_000,
        help="cap for regress_out_categorical (first N cells; 0: all)",
    )
    parser.add_argument(
        "--tsne-cells", type=int, default=None, help="cap for tsne (first N cells; default: all)"
    )
    parser.add_argument(
        "--scrublet-cells", type=int, default=None, help="cap for scrublet (default: all cells)"
    )
    parser.add_argument(
        "--one-process",
        action="store_true",
        help="smoke run: all steps of a suite in one process per tool (memory not isolated)",
    )
    parser.add_argument(
        "--no-warmup",
        dest="warmup",
        action="store_false",
        help="skip the untimed warm-up on tiny data (numba caches)",
    )
    parser.add_argument("--append-results", action="store_true", help="put the tables in --results")
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    command = shlex.join(["python", "benchmarks/steps.py", *sys.argv[1:]])
    for suite in SUITES if args.suite == "all" else (args.suite,):
        start = time.perf_counter()
        run_suite(suite, args, args.workdir, command)
        print(f"[{suite}] done in {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
