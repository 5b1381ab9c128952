"""Tables as HTML for the report: the Snakemake report offers a CSV only as a download, but
shows an HTML file on the page, so every table the workflow writes also gets an HTML view.

The view is a small self-contained page (no scripts, no external styles): a title, the row
count, and the table with a sticky header, numbers right-aligned and rounded to 4
significant digits. The CSV next to it keeps the full precision.
"""

from __future__ import annotations

import html
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd

__all__ = ["MAX_VIEW_ROWS", "format_value", "table_page", "write_table_view"]

#: Rows shown in an HTML view; a longer table shows its first rows and says so.
MAX_VIEW_ROWS = 5000

_STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2937;
       background: #fff; margin: 1rem 1.25rem; }
h1 { font-size: 1.15rem; margin: 0 0 .2rem; }
p.note { color: #6b7280; margin: 0 0 .8rem; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: .22rem .65rem; border-bottom: 1px solid #e5e7eb; text-align: left; white-space: nowrap; }
th { position: sticky; top: 0; background: #f3f4f6; border-bottom: 2px solid #cbd5e1; font-weight: 600; }
.num { text-align: right; }
tbody tr:nth-child(even) { background: #f9fafb; }
tbody tr:hover { background: #eef2ff; }
"""


def format_value(value: Any) -> str:
    """A cell as text: integers with thousands separators, other numbers to 4 significant
    digits, missing values empty, flags as yes/no."""
    import pandas as pd

    if pd.api.types.is_scalar(value) and pd.isna(value):
        return ""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, Integral):
        return f"{int(value):,}"
    if isinstance(value, Real):
        return f"{float(value):.4g}"
    return str(value)


def table_page(frame: pd.DataFrame, title: str, *, note: str = "") -> str:
    """``frame`` as a self-contained HTML page (at most :data:`MAX_VIEW_ROWS` rows).

    Parameters
    ----------
    frame
        The table; its index is not shown (the workflow's tables keep everything in columns).
    title
        Heading and page title.
    note
        A line under the heading (the row count is added to it).
    """
    from pandas.api.types import is_numeric_dtype

    n_rows = len(frame)
    shown = frame.iloc[:MAX_VIEW_ROWS]
    count = (
        f"{n_rows:,} rows" if n_rows <= MAX_VIEW_ROWS else f"the first {MAX_VIEW_ROWS:,} of {n_rows:,} rows"
    )
    note = " · ".join(part for part in (count, note) if part)
    numeric = [is_numeric_dtype(frame[c]) and frame[c].dtype != bool for c in frame.columns]
    head = "".join(
        f"<th{' class=num' if num else ''}>{html.escape(str(c))}</th>"
        for c, num in zip(frame.columns, numeric, strict=True)
    )
    rows = "\n".join(
        "<tr>"
        + "".join(
            f"<td{' class=num' if num else ''}>{html.escape(format_value(v))}</td>"
            for v, num in zip(row, numeric, strict=True)
        )
        + "</tr>"
        for row in shown.itertuples(index=False, name=None)
    )
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>\n<body>"
        f'<h1>{html.escape(title)}</h1><p class="note">{html.escape(note)}</p>\n'
        f"<table><thead><tr>{head}</tr></thead>\n<tbody>\n{rows}\n</tbody></table>\n</body></html>\n"
    )


def write_table_view(frame: pd.DataFrame, path: Path, *, csv: Path | None = None) -> None:
    """Write the HTML view of a table (:func:`table_page`) atomically.

    The title is the table's name and its sample, from the workflow's layout
    (``results/<sample>/<table>.html``); ``csv`` names the full table in the note.
    """
    from ..runner import write_atomic

    title = f"{path.stem} · {path.parent.name}"
    note = f"full table: {csv}" if csv is not None else ""
    text = table_page(frame, title, note=note)
    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
