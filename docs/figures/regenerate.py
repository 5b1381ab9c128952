"""Regenerate the README's example figures from the demo run (run `make run` first).

    .venv/bin/python docs/figures/regenerate.py [results/demo]

Draws the report's figures of the run at a lower resolution, exactly as the workflow's
``plots`` and ``qc_plots`` rules do, and keeps the ones the README shows.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from scsnake.runner import run_stage

KEPT = ("umap_clusters", "cluster_sizes", "markers_dotplot", "qc_overview")
PARAMS = '{"dpi": 72}'


def main(results: Path) -> None:
    here = Path(__file__).parent
    with tempfile.TemporaryDirectory() as tmp:
        figures = Path(tmp)
        run_stage("plots", inputs=[results / "final.h5ad"], output=figures, params_json=PARAMS)
        run_stage("qc_plots", inputs=[results / "qc.h5ad"], output=figures, params_json=PARAMS)
        for name in KEPT:
            shutil.copyfile(figures / f"{name}.png", here / f"{name}.png")
            print(f"{here / name}.png: {(here / f'{name}.png').stat().st_size // 1024} KB")  # noqa: T201


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("results/demo"))
