"""Agreement numbers and markdown tables of ``steps.py``, and the sections of ``RESULTS.md``."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np

INTRO = """# Benchmarks: scsnake against scanpy

Every number below was produced by a run of `benchmarks/steps.py` (per step, one fresh
process per tool and step, same prepared input for both) on the machine named in its
section; see the README's "Benchmarks" section for how to run them. A rerun of the same suite
and size replaces its section. Ratios are scsnake / scanpy: below 1, scsnake is faster or
needs less memory. Nothing here is edited by hand.
"""


def _max_rel(a: np.ndarray, b: np.ndarray) -> float:
    scale = np.maximum(np.abs(a), np.finfo(np.float64).tiny)
    return float(np.max(np.abs(a - b) / scale)) if a.size else 0.0


def _same_shape(a: np.ndarray, b: np.ndarray) -> str | None:
    return None if a.shape == b.shape else f"shapes differ ({a.shape} vs {b.shape})"


def agreement(kind: str, res: dict[str, Any]) -> dict[str, Any]:
    """Compare the two tools' results of one step: {"text": …, "value": …}."""
    if kind == "embedding":  # a quality of each embedding: comparable even if one tool is missing
        parts = [f"{t} {float(r['preservation']):.2f}" for t, r in res.items()]
        if not parts:
            return {"text": "n/a", "value": None}
        n = max(int(r["sample"]) for r in res.values())
        return {"text": "15-NN of the PCA kept: " + ", ".join(parts) + f" ({n:,} cells)",
                "value": {t: float(r["preservation"]) for t, r in res.items()}}  # fmt: skip
    if set(res) != {"scanpy", "scsnake"}:
        return {"text": "n/a", "value": None}
    a, b = res["scanpy"], res["scsnake"]
    if kind == "jaccard":
        sa, sb = set(a["genes"].tolist()), set(b["genes"].tolist())
        value = len(sa & sb) / max(1, len(sa | sb))
        return {"text": f"HVG Jaccard {value:.3f}", "value": value}
    if kind == "markers":
        groups_b = b["groups"].tolist()
        overlaps = [len(set(a["markers"][i]) & set(b["markers"][groups_b.index(g)])) / a["markers"].shape[1]
                    for i, g in enumerate(a["groups"].tolist()) if g in groups_b]  # fmt: skip
        value = float(np.mean(overlaps)) if overlaps else math.nan
        return {"text": f"top-25 overlap {value:.3f} ({len(overlaps)} groups)", "value": value}
    if kind == "labels":
        from sklearn.metrics import adjusted_rand_score

        value = float(adjusted_rand_score(a["labels"], b["labels"]))
        n_a, n_b = len(set(a["labels"].tolist())), len(set(b["labels"].tolist()))
        return {"text": f"ARI {value:.3f} ({n_a} vs {n_b} clusters)", "value": value}
    if kind == "knn":
        ka, kb = a["knn"], b["knn"]
        hits = (ka[:, :, None] == kb[:, None, :]) & (ka[:, :, None] >= 0)
        value = float(hits.any(axis=2).sum() / max(1, (ka >= 0).sum()))
        return {"text": f"kNN overlap {value:.3f}", "value": value}
    if kind == "spearman":
        from scipy.stats import spearmanr

        value = float(spearmanr(a["values"], b["values"]).statistic)
        return {"text": f"Spearman {value:.4f}", "value": value}
    if kind == "scrublet":
        from scipy.stats import spearmanr

        value = float(spearmanr(a["values"], b["values"]).statistic)
        rates = f"{a['predicted'].mean():.1%} vs {b['predicted'].mean():.1%} called"
        return {"text": f"score Spearman {value:.4f}; {rates}", "value": value}
    va, vb = a["values"], b["values"]
    if (problem := _same_shape(va, vb)) is not None:
        return {"text": problem, "value": None}
    if kind == "head":
        value = float(np.max(np.abs(va - vb))) if va.size else 0.0
        return {"text": f"max abs diff {value:.1e} (first {va.shape[0]:,} cells)", "value": value}
    label = {"row_sums": "row sums", "variance_ratio": "variance ratio", "max_rel": "eigenvalues",
             "max_abs": "connectivities"}[kind]  # fmt: skip
    value = _max_rel(va, vb) if kind != "max_abs" else float(np.max(np.abs(va - vb)))
    diff = "max abs diff" if kind == "max_abs" else "max rel. diff"
    return {"text": f"{label}: {diff} {value:.1e}", "value": value}


def _number(value: float) -> str:
    """Two decimals, or two significant digits below 0.01 (a tiny time or ratio is not 0)."""
    return f"{value:.2f}" if abs(value) >= 0.01 or value == 0 else f"{value:.2g}"


def _seconds(row: dict[str, Any], tool: str) -> str:
    return _number(row[f"{tool}_s"]) if f"{tool}_s" in row else row.get(f"{tool}_status", "n/a")


def _gb(row: dict[str, Any], tool: str, key: str) -> str:
    return f"{row[f'{tool}_{key}']:.2f}" if f"{tool}_{key}" in row else "–"


def _ratio(value: float | None) -> str:
    return "–" if value is None or not math.isfinite(value) else _number(value)


def markdown(report: dict[str, Any]) -> str:
    m, ctx = report["machine"], report["context"]
    v = m["versions"]
    others = ", ".join(
        f"{k} {v[k]}" for k in v if k not in {"scanpy", "scsnake", "anndata", "numpy", "scipy"}
    )
    sizes = (
        f"{ctx['n_obs']:,} cells × {ctx['n_vars']:,} genes after QC"
        if ctx["n_vars"]
        else f"{ctx['n_obs']:,} cells"
    )
    lines = [
        f"## {report['suite']}: {report['cells']:,} cells × {report['genes']:,} genes",
        "",
        f"- machine: {m['cpu']} ({m['arch']}), {m['cores']} cores, {m['ram_gb']:.0f} GB RAM, {m['os']}; "
        f"load average {m['load_at_start']:.2f} at start"
        + "".join(f"; {k}={v}" for k, v in m.get("threads", {}).items()),
        f"- Python {m['python']}; scanpy {v['scanpy']}, scsnake {v['scsnake']}, anndata {v['anndata']}, "
        f"numpy {v['numpy']}, scipy {v['scipy']} ({others})",
        f"- command: `{report['command']}`",
        f"- input: synthetic (seed {ctx['seed']}), {sizes}; {ctx['n_top_genes']:,} HVGs, {ctx['n_pcs']} PCs; "
        f"best of {report['repeats']} repeat(s); timeout {report['timeout']:.0f} s per step and tool (whole process); "
        f"n_jobs={ctx['n_jobs']} where a step takes it",
        "- seconds exclude import and read; ΔGB: peak RSS during the step minus RSS after the read; "
        'ratio: scsnake / scanpy (below 1: scsnake faster or leaner; "–": scanpy\'s ΔGB under 0.01)',
        "- "
        + (
            "numba's caches filled first by an untimed run of every step on 500 cells"
            if report.get("warmup")
            else "no warm-up: numba compilations missing from the on-disk cache are timed"
        ),
        *(
            ["- **smoke run** (`--one-process`): all steps of a tool in one process, so ΔGB is not isolated"]
            if report.get("one_process")
            else []
        ),
        "",
        "| step | scanpy s | scsnake s | ratio | scanpy ΔGB | scsnake ΔGB | ratio | peak GB scanpy / scsnake | agreement |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    notes = []
    for r in report["rows"]:
        name = r["step"] + (f" ({r['cells']:,} cells)" if "cells" in r else "")
        lines.append(
            f"| {name} | {_seconds(r, 'scanpy')} | {_seconds(r, 'scsnake')} | {_ratio(r.get('time_ratio'))} | "
            f"{_gb(r, 'scanpy', 'delta_gb')} | {_gb(r, 'scsnake', 'delta_gb')} | {_ratio(r.get('memory_ratio'))} | "
            f"{_gb(r, 'scanpy', 'peak_gb')} / {_gb(r, 'scsnake', 'peak_gb')} | {r['agreement']['text']} |"
        )
        if r["note"]:
            notes.append(f"- {r['step']}: {r['note']}")
    return "\n".join([*lines, *(["", "Notes:", "", *notes] if notes else [])]) + "\n"


def update_results(path: Path, key: str, text: str) -> None:
    """Put ``text`` in ``path`` as the section ``key``, replacing an earlier one."""
    content = path.read_text() if path.exists() else INTRO
    begin, end = f"<!-- {key} -->", f"<!-- /{key} -->"
    section = f"{begin}\n{text.rstrip()}\n{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), flags=re.DOTALL)
    if pattern.search(content):
        content = pattern.sub(lambda _: section, content)
    else:
        content = content.rstrip() + "\n\n" + section + "\n"
    path.write_text(content)
