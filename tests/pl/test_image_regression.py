"""Pixel regression of the main plots against reference PNGs in tests/pl/baseline/.

Each plot is drawn from fixed, seeded data under matplotlib's default style at 60 dpi and
compared with its baseline by :func:`matplotlib.testing.compare.compare_images` (RMS of the
RGB difference, 0–255 scale, after an equal-size check).

Regenerate the baselines after an intended change of a plot, then look at them:

    SCSNAKE_REGENERATE_BASELINE=1 .venv/bin/python -m pytest -p no:cacheprovider tests/pl/test_image_regression.py

(the tests then write the PNGs and skip). Commit the new PNGs with the change.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.testing.compare import compare_images

import plot_figures as pl
from factories import make_counts

BASELINE = Path(__file__).parent / "baseline"
REGENERATE = os.environ.get("SCSNAKE_REGENERATE_BASELINE") == "1"
TOLERANCE = 2.0  # RMS, 0–255 scale: anti-aliasing noise passes, a moved label or colour does not
DPI = 60


def _data():
    adata = make_counts(80, 30, n_groups=4, seed=7)
    adata.X = adata.X.log1p()
    rng = np.random.default_rng(7)
    codes = adata.obs["group"].cat.codes.to_numpy()
    adata.obsm["X_umap"] = rng.normal(size=(80, 2)) + codes[:, None] * np.array([2.5, 1.0])
    return adata


GENES = {"first": ["Gene5", "Gene6"], "second": ["RPS2", "Gene7", "Gene8"]}
PLOTS = {
    "umap": lambda a, p: pl.umap(a, color="group", save=p, dpi=DPI),
    "violin": lambda a, p: pl.violin(a, ["Gene5", "Gene7"], "group", save=p, dpi=DPI),
    "dotplot": lambda a, p: pl.dotplot(a, GENES, "group", save=p, dpi=DPI),
    "heatmap": lambda a, p: pl.heatmap(a, GENES, "group", save=p, dpi=DPI),
    "matrixplot": lambda a, p: pl.matrixplot(a, GENES, "group", standard_scale="var", save=p, dpi=DPI),
}


@pytest.mark.parametrize("name", PLOTS)
def test_matches_baseline(name, tmp_path):
    expected = BASELINE / f"{name}.png"
    actual = tmp_path / f"{name}.png"
    with matplotlib.style.context("default"), matplotlib.rc_context({"font.family": "DejaVu Sans"}):
        PLOTS[name](_data(), actual)
    plt.close("all")
    if REGENERATE:
        BASELINE.mkdir(exist_ok=True)
        actual.replace(expected)
        pytest.skip(f"baseline regenerated: {expected}")
    if not expected.exists():
        pytest.fail(f"no baseline {expected}; run with SCSNAKE_REGENERATE_BASELINE=1 to create it")
    new, old = mpimg.imread(actual), mpimg.imread(expected)
    assert new.shape == old.shape, (
        f"{name}: image size {new.shape[:2]} differs from the baseline's {old.shape[:2]}"
    )
    failure = compare_images(str(expected), str(actual), tol=TOLERANCE)
    assert failure is None, failure


def test_baselines_are_small():
    for path in BASELINE.glob("*.png"):
        assert path.stat().st_size <= 30_000, f"{path.name} is {path.stat().st_size} bytes (limit 30 KB)"
