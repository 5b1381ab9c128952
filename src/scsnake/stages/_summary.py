"""The run summary: per sample, the cells each QC filter removed, the cells and genes kept,
the clusters found and every warning the stages recorded.

It is read from the artifacts, never recomputed: ``uns['qc']`` (what the ``qc`` stage
counted), the groups of the marker genes (the clusters) and the ``warnings`` of each
record in ``uns['scsnake']['provenance']`` (:mod:`scsnake._stage_warnings`). Which artifacts
a sample has does not matter: each one adds what it holds, so a sample that was merged
after QC has its QC numbers, and the merged object its clusters. A warning carried by
several artifacts (the same provenance record) is listed once, under the first sample that
has it.

:func:`write_summary` writes ``results/summary.csv`` (one row per sample) and
``results/summary.html``, the table the report opens with; :func:`warnings_text` is what
the end of a Snakemake run prints.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputDataError
from ._qc import GENE_FILTERS
from ._tables import format_value

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import pandas as pd

__all__ = [
    "RunSummary",
    "SampleWarning",
    "artifact_flags",
    "parse_artifacts",
    "read_summary",
    "warnings_text",
    "write_summary",
]


@dataclass(frozen=True)
class SampleWarning:
    """A warning a stage recorded for a sample."""

    sample: str
    stage: str
    message: str


@dataclass
class _Sample:
    name: str
    qc: dict[str, Any] = field(default_factory=dict)
    n_cells: int | None = None
    n_genes: int | None = None
    clusters: tuple[str, int] | None = None  # (obs column, number of groups)


@dataclass
class RunSummary:
    """What :func:`read_summary` found: one entry per sample, and the warnings."""

    samples: list[_Sample]
    warnings: list[SampleWarning]

    def table(self) -> pd.DataFrame:
        """One row per sample: ``n_cells_in``, ``n_cells_removed_<filter>`` for each QC cell
        filter, ``n_cells_kept``, ``n_genes_in``, ``n_genes_removed_<filter>``, ``n_genes_kept``,
        ``n_clusters``, ``n_warnings`` and ``warnings`` (the messages, joined by ``" | "``)."""
        import pandas as pd

        cell_filters, gene_filters = self._filters()
        rows = []
        for s in self.samples:
            removed = s.qc.get("removed", {})
            notes = [w for w in self.warnings if w.sample == s.name]
            row: dict[str, Any] = {"sample": s.name, "n_cells_in": s.qc.get("n_cells_before")}
            row |= {f"n_cells_removed_{k}": removed.get(k) for k in cell_filters}
            row |= {
                "n_cells_kept": s.qc.get("n_cells_after", s.n_cells),
                "n_genes_in": s.qc.get("n_genes_before"),
            }
            row |= {f"n_genes_removed_{k}": removed.get(k) for k in gene_filters}
            row |= {
                "n_genes_kept": s.qc.get("n_genes_after", s.n_genes),
                "n_clusters": s.clusters[1] if s.clusters else None,
                "n_warnings": len(notes),
                "warnings": " | ".join(f"{w.stage}: {w.message}" for w in notes),
            }
            rows.append(row)
        frame = pd.DataFrame(rows)
        counts = [c for c in frame.columns if c.startswith("n_")]
        frame[counts] = frame[counts].astype("Int64")
        return frame

    def _filters(self) -> tuple[list[str], list[str]]:
        keys = list(dict.fromkeys(k for s in self.samples for k in s.qc.get("removed", {})))
        return [k for k in keys if k not in GENE_FILTERS], [k for k in keys if k in GENE_FILTERS]

    def html(self, *, csv: str = "") -> str:
        """The summary as an HTML fragment with inline styles only, so that it looks the same
        inside the report's description and on its own: a table with one column per sample
        (filters that are off everywhere left out), then the warnings."""
        frame = self.table().set_index("sample")
        cell_filters, gene_filters = self._filters()
        rows: list[tuple[str, str, str | None]] = [("cells in", "n_cells_in", None)]  # label, column, filter
        rows += [(f"removed by qc.{k}", f"n_cells_removed_{k}", k) for k in cell_filters]
        rows += [("cells kept", "n_cells_kept", None), ("genes in", "n_genes_in", None)]
        rows += [(f"genes removed by qc.{k}", f"n_genes_removed_{k}", k) for k in gene_filters]
        groupby = next((s.clusters[0] for s in self.samples if s.clusters), "leiden")
        rows += [("genes kept", "n_genes_kept", None), (f"clusters ({groupby})", "n_clusters", None)]
        rows += [("warnings", "n_warnings", None)]
        thresholds = {s.name: _thresholds(s.qc) for s in self.samples}
        body = []
        for label, column, key in rows:
            if key is not None and all(thresholds[s.name].get(key) is None for s in self.samples):
                continue  # a filter that is off for every sample
            cells = []
            for s in self.samples:
                value = frame.loc[s.name, column]
                text = html.escape(format_value(value))
                if key is not None and s.qc:  # with its threshold (a merged object has no QC of its own)
                    limit = thresholds[s.name].get(key)
                    text = (
                        _GREY.format("off") if limit is None else f"{text} {_GREY.format(html.escape(limit))}"
                    )
                if column == "n_warnings" and value:
                    text = f'<span style="color:#b45309;font-weight:700">{text}</span>'
                cells.append(f'<td style="{_TD};text-align:right">{text}</td>')
            indent = "padding-left:1.3rem;" if key is not None else ""
            strong = "font-weight:600;" if column in ("n_cells_kept", "n_genes_kept", "n_clusters") else ""
            body.append(
                f'<tr><th scope="row" style="{_TD};{indent}{strong}">{html.escape(label)}</th>{"".join(cells)}</tr>'
            )
        head = "".join(f'<th style="{_TH};text-align:right">{html.escape(s.name)}</th>' for s in self.samples)
        table = (
            f'<div style="overflow-x:auto"><table style="border-collapse:collapse;width:auto;margin:.3rem 0;'
            f'font-size:.85rem;font-variant-numeric:tabular-nums"><thead><tr><th style="{_TH}"></th>{head}</tr>'
            f"</thead><tbody>{''.join(body)}</tbody></table></div>"
        )
        where = f" · one row per sample: {_mono(csv)}" if csv else ""
        return (
            '<section id="scsnake-run-summary" style="margin:0 0 1.4rem">'
            '<h2 style="margin:0 0 .2rem;font-size:1.15rem">Run summary</h2>'
            f'<p style="margin:0;color:#6b7280;font-size:.8rem">QC filters, cells and genes kept, '
            f"clusters and warnings of each sample{where}</p>"
            f"{table}{self._warnings_html()}</section>\n"
        )

    def _warnings_html(self) -> str:
        if not self.warnings:
            return '<p style="margin:.3rem 0;color:#15803d;font-size:.85rem">No warnings.</p>'
        items = "".join(
            f'<li style="margin:.25rem 0"><strong>{html.escape(w.sample)}</strong> · '
            f"{_mono(w.stage)}: {html.escape(w.message)}</li>"
            for w in self.warnings
        )
        n = len(self.warnings)
        return (
            '<div role="alert" style="margin:.5rem 0;padding:.45rem .8rem;border-left:4px solid #d97706;'
            'background:#fffbeb;color:#78350f;font-size:.85rem">'
            f"<strong>⚠ {n} warning{'s' if n > 1 else ''}</strong>"
            f'<ul style="margin:.2rem 0 0;padding-left:1.1rem">{items}</ul></div>'
        )


_TD = (
    "padding:.2rem .55rem;border-bottom:1px solid #e5e7eb;text-align:left;font-weight:400;white-space:nowrap"
)
_TH = "padding:.2rem .55rem;border-bottom:2px solid #cbd5e1;text-align:left;white-space:nowrap"
_GREY = '<span style="color:#6b7280">({})</span>'


def _mono(text: str) -> str:
    """Code-like text (no ``<code>``: the report's prose style puts backticks around it)."""
    return f'<span style="font-family:ui-monospace,monospace;font-size:.95em">{html.escape(text)}</span>'


def _thresholds(qc: dict[str, Any]) -> dict[str, str | None]:
    """Each filter of ``uns['qc']['removed']`` as text (``≥ 200``), None where it is off."""
    params = json.loads(qc["params"]) if qc.get("params") else {}
    found: dict[str, str | None] = {}
    for key in qc.get("removed", {}):
        value = params.get(key)
        if isinstance(value, dict):  # doublets: a section with its own switch
            found[key] = "Scrublet" if value.get("enabled") else None
        elif value is None or value is False:
            found[key] = None
        else:
            found[key] = f"{'≤' if key.startswith('max_') else '≥'} {value:g}"
    return found


def read_summary(artifacts: Mapping[str, Sequence[Path | str]]) -> RunSummary:
    """Read the summary from each sample's artifacts (``{sample: [paths]}``; missing paths are skipped).

    Samples come in the given order, which decides where a shared warning is listed.
    """
    samples, found, seen = [], [], set()
    for name, paths in artifacts.items():
        sample = _Sample(name)
        for path in map(Path, paths):
            if not path.exists():
                continue
            parts = _read_parts(path)
            sample.qc = sample.qc or parts["qc"]
            sample.n_cells, sample.n_genes = parts["n_obs"], parts["n_vars"]
            sample.clusters = parts["clusters"] or sample.clusters
            for record in parts["provenance"].values():
                for message in record.get("warnings", ()):
                    # the same record (a sample's, carried into the merged object too), not the same
                    # text: two samples' stages may warn alike within the same second
                    inputs = tuple(map(str, record.get("input_sha256", ())))
                    key = (record.get("stage"), record.get("created"), inputs, str(message))
                    if key not in seen:
                        seen.add(key)
                        found.append(SampleWarning(name, str(record.get("stage")), str(message)))
        samples.append(sample)
    return RunSummary(samples, found)


def parse_artifacts(items: Sequence[str]) -> dict[str, list[Path]]:
    """``["s1=results/s1/qc.h5ad", …]`` (the CLI's ``--artifact``) → ``{sample: [paths]}``, in order."""
    from ..errors import ParamError

    found: dict[str, list[Path]] = {}
    for item in items:
        sample, sep, path = item.partition("=")
        if not sep or not sample or not path:
            msg = f"--artifact {item!r} must be <sample>=<path>"
            raise ParamError(msg)
        found.setdefault(sample, []).append(Path(path))
    return found


def artifact_flags(artifacts: Mapping[str, Sequence[Path | str]]) -> str:
    """The ``--artifact`` options of ``scsnake summary`` for ``artifacts``, shell-quoted."""
    import shlex

    return " ".join(
        f"--artifact {shlex.quote(f'{sample}={path}')}"
        for sample, paths in artifacts.items()
        for path in paths
    )


def _read_parts(path: Path) -> dict[str, Any]:
    """What the summary uses of an artifact, without reading its matrices or embeddings."""
    from anndata.io import read_elem

    try:
        with _open(path) as store:
            uns = store.get("uns", {})
            qc = {k: read_elem(uns["qc"][k]) for k in uns["qc"] if k != "before"} if "qc" in uns else {}
            provenance = read_elem(uns["scsnake"]["provenance"]) if "scsnake/provenance" in uns else {}
            clusters = None
            if "rank_genes_groups/params/groupby" in uns:
                groupby = str(read_elem(uns["rank_genes_groups/params/groupby"]))
                if groupby in store["obs"]:
                    import pandas as pd

                    clusters = (groupby, int(pd.Series(read_elem(store["obs"][groupby])).nunique()))
            n_obs, n_vars = _n_rows(store["obs"]), _n_rows(store["var"])
    except (OSError, KeyError, ValueError) as err:
        msg = f"summary: cannot read {path} ({err}); re-run the stage that writes it"
        raise InputDataError(msg) from None
    qc = {k: (v.item() if hasattr(v, "item") else v) for k, v in qc.items()}
    # in the order the filters run (that of the params; a stored dict comes back sorted by name)
    order = list(json.loads(qc["params"])) if qc.get("params") else []
    removed = dict(qc.get("removed", {}))
    keys = sorted(removed, key=lambda k: order.index(k) if k in order else len(order))
    qc["removed"] = {k: int(removed[k]) for k in keys}
    records = {
        k: {n: (v.tolist() if hasattr(v, "tolist") else v) for n, v in dict(r).items()}
        for k, r in provenance.items()
    }
    return {"qc": qc, "provenance": records, "clusters": clusters, "n_obs": n_obs, "n_vars": n_vars}


def _open(path: Path) -> Any:
    """An h5ad file or zarr store, read-only (a context manager)."""
    if path.is_dir():
        import contextlib

        import zarr

        return contextlib.nullcontext(zarr.open_group(str(path), mode="r"))
    import h5py

    return h5py.File(path, "r")


def _n_rows(frame: Any) -> int:
    """Rows of a stored data frame (obs, var): the length of its index."""
    index = frame[frame.attrs["_index"]]
    if hasattr(index, "shape"):
        return int(index.shape[0])
    from anndata.io import read_elem

    return len(read_elem(index))  # an encoded array (anndata 0.13 stores pandas 3 strings so)


def write_summary(artifacts: Mapping[str, Sequence[Path | str]], *, csv: Path, html_path: Path) -> RunSummary:
    """Write the run summary of ``artifacts`` (see :func:`read_summary`) as CSV and HTML, atomically.

    Returns the summary. ``html_path`` holds an HTML fragment (no ``<html>`` or styles
    sheet; see :meth:`RunSummary.html`), which the report's description includes.
    """
    from ..runner import write_atomic

    summary = read_summary(artifacts)
    table = summary.table()
    text = summary.html(csv=str(csv))
    write_atomic(csv, lambda tmp: table.to_csv(tmp, index=False))
    write_atomic(html_path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return summary


def warnings_text(artifacts: Mapping[str, Sequence[Path | str]], *, where: str = "") -> str:
    """The warnings of ``artifacts`` for a terminal: a headline and one line per warning ("" if none).

    ``where`` names the file that has them too (the summary).
    """
    found = read_summary(artifacts).warnings
    if not found:
        return ""
    n = len(found)
    rule = "=" * 78
    head = (
        f"scsnake: {n} warning{'s' if n > 1 else ''}{f' (also in {where} and the report)' if where else ''}:"
    )
    lines = [f"  {w.sample} ({w.stage}): {w.message}" for w in found]
    return "\n".join([rule, head, *lines, rule]) + "\n"
