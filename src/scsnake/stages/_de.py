"""The ``de`` stage: differential expression between conditions, on the pseudobulks of each group.

``de`` reads ``pseudobulk`` and tests every group with PyDESeq2
(:func:`scsnake.tl.pseudobulk_de`); its artifact is the pseudobulks with the results in
``uns['de']``, its table ``results/<merge.name>/de.csv`` (one row per group and gene) and the
table's view the top genes of each group and the groups left out. ``de_plots`` draws, from
that artifact, a volcano and an MA plot (one panel per group) and the PCA of the pseudobulks.
The design is checked against the sample sheet before any job (:func:`de_problems`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Annotated, Any

import pandas as pd
from pydantic import Field, PositiveInt, model_validator

from .._params import Seed, StageParams

if TYPE_CHECKING:
    from pathlib import Path

    from anndata import AnnData

    from ._plots import PlotsParams

__all__ = [
    "DE_FIGURES",
    "DeParams",
    "DeRun",
    "de",
    "de_figure_names",
    "de_plots",
    "de_problems",
    "de_table",
    "de_view",
]

logger = logging.getLogger(__name__)

#: Figures of ``de_plots`` (files ``<name>.<format>`` in the figures directory).
DE_FIGURES = ("de_volcano", "de_ma", "pseudobulk_pca")

Level = Annotated[str, Field(min_length=1)]


class DeParams(StageParams):
    """The ``de`` section: pseudobulk differential expression between two levels of a factor."""

    enabled: bool = False
    """Test each group's pseudobulks (needs ``merge`` and ``pseudobulk``)."""
    design: Annotated[str, Field(pattern=r"^\s*~")] = "~condition"
    """Formula over sample-sheet columns, e.g. ``~condition`` or ``~donor + condition``."""
    contrast: tuple[Level, Level, Level] | None = None
    """``[factor, tested level, reference level]``, e.g. ``[condition, treated, control]``."""
    min_samples: Annotated[int, Field(ge=2)] = 2
    """A group is tested when each of the two levels has at least this many samples' pseudobulks."""
    alpha: Annotated[float, Field(gt=0, lt=1)] = 0.05
    """Significance level of ``padj`` (independent filtering, the figures' called genes)."""
    n_table_genes: PositiveInt = 25
    """Genes per group in the report's table (``de.csv`` has every gene)."""
    random_state: Seed | None = None
    """Seed of PyDESeq2; None takes the config's ``seed``."""

    @model_validator(mode="after")
    def _contrast(self) -> DeParams:
        if self.enabled and self.contrast is None:
            msg = "de.enabled needs de.contrast: [factor, tested level, reference level], e.g. [condition, B, A]"
            raise ValueError(msg)
        return self


class DeRun(DeParams):
    """What the stage runs with: its section, plus the groups' column (``pseudobulk.groupby``)."""

    groupby: Annotated[str, Field(min_length=1)] = "leiden"
    """``obs`` column of the pseudobulks' groups."""


def de(adata: AnnData, params: DeRun, *, random_state: int) -> AnnData:
    """Test every group of a ``pseudobulk`` artifact with :func:`scsnake.tl.pseudobulk_de`.

    Returns
    -------
    The pseudobulks with ``uns['de']``: ``results`` (columns ``group``, ``gene``, ``baseMean``,
    ``log2FoldChange``, ``lfcSE``, ``stat``, ``pvalue``, ``padj``), ``skipped`` (group → why it
    was left out) and ``params`` (design, contrast, groupby, alpha). Skipped groups are logged.
    """
    from .. import tl

    if params.contrast is None:  # the config refuses it; a job given its params by hand
        from ..errors import ParamError

        msg = "de needs contrast: [factor, tested level, reference level]"
        raise ParamError(msg)
    results = tl.pseudobulk_de(
        adata, params.design, list(params.contrast), groupby=params.groupby, min_samples=params.min_samples,
        n_cpus=1, seed=random_state, alpha=params.alpha, quiet=True,
    )  # fmt: skip
    skipped = {str(group): str(reason) for group, reason in results.attrs.get("skipped", {}).items()}
    for group, reason in skipped.items():
        logger.warning("de: group %s skipped: %s", group, reason)
    results = pd.DataFrame(results)
    results.attrs = {}
    results["group"] = results["group"].astype(str)
    adata.uns["de"] = {
        "results": results,
        "skipped": skipped,
        "params": {
            "design": params.design,
            "contrast": list(params.contrast),
            "groupby": params.groupby,
            "alpha": params.alpha,
            "min_samples": params.min_samples,
        },
    }
    called = int((results["padj"] < params.alpha).sum())
    logger.info(
        "de: %d group(s) tested, %d skipped; %d gene × group calls at padj < %s",
        results["group"].nunique(), len(skipped), called, params.alpha,
    )  # fmt: skip
    return adata


def de_table(adata: AnnData, params: DeRun) -> pd.DataFrame:
    """``de.csv``: every group's results, one row per group and gene."""
    return adata.uns["de"]["results"]


def de_view(adata: AnnData, params: DeRun) -> pd.DataFrame:
    """The report's table: each group's ``n_table_genes`` genes of smallest ``padj``, then one row
    per group left out, its reason in ``note``."""
    results = adata.uns["de"]["results"]
    ranked = results.assign(_order=results["padj"].fillna(2.0)).sort_values(
        ["_order", "pvalue"], kind="stable"
    )
    top = ranked.groupby("group", sort=False, observed=True).head(params.n_table_genes).drop(columns="_order")
    order = list(dict.fromkeys(results["group"]))
    top = top.assign(_group=pd.Categorical(top["group"], categories=order)).sort_values(
        "_group", kind="stable"
    )
    top = top.drop(columns="_group").assign(note="")
    skipped = pd.DataFrame(
        {
            "group": list(adata.uns["de"]["skipped"]),
            "note": [f"skipped: {r}" for r in adata.uns["de"]["skipped"].values()],
        }
    )
    return pd.concat([top, skipped], ignore_index=True) if len(skipped) else top.reset_index(drop=True)


def de_figure_names(config: Any) -> list[str]:
    """The figures the ``de_plots`` rule declares (the run asks for them when ``de`` is on)."""
    return list(DE_FIGURES)


def de_plots(adata: AnnData, params: PlotsParams, *, outdir: Path) -> dict[str, Path]:
    """Draw the figures of a ``de`` artifact into ``outdir``; returns ``{figure name: path}``.

    ``de_volcano`` and ``de_ma``: one panel per tested group; ``pseudobulk_pca``: the PCA of
    the pseudobulks (log of counts per million), coloured by the contrast's factor and by group.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    from .. import pl

    outdir.mkdir(parents=True, exist_ok=True)
    paths = {name: outdir / f"{name}.{params.format}" for name in DE_FIGURES}
    figures = {
        "de_volcano": pl.volcano(adata, "de", return_fig=True),
        "de_ma": pl.ma(adata, "de", return_fig=True),
        "pseudobulk_pca": _pseudobulk_pca(adata),
    }
    for name, fig in figures.items():
        fig.savefig(paths[name], dpi=params.dpi, bbox_inches="tight")
        plt.close(fig)
    return paths


def _pseudobulk_pca(adata: AnnData) -> Any:
    """The pseudobulks' PCA (log1p of counts per million), coloured by the factor and the group."""
    import anndata as ad

    from .. import pl, pp

    stored = adata.uns["de"]["params"]
    factor, groupby = stored["contrast"][0], stored["groupby"]
    work = ad.AnnData(X=adata.X.copy(), obs=adata.obs.copy(), var=pd.DataFrame(index=adata.var_names))
    for key in (f"{groupby}_colors", f"{factor}_colors"):
        if key in adata.uns:
            work.uns[key] = adata.uns[key]
    n_comps = min(10, work.n_obs - 1, work.n_vars - 1)
    if n_comps < 2:  # too few pseudobulks for two components
        from matplotlib import pyplot as plt

        fig, ax = plt.subplots(figsize=(4, 3))
        ax.text(0.5, 0.5, f"{work.n_obs} pseudobulk(s): too few for a PCA", ha="center", va="center")
        ax.set_axis_off()
        return fig
    pp.normalize_total(work, target_sum=1e6)
    pp.log1p(work)
    pp.pca(work, n_comps=n_comps, svd_solver="covariance_eigh")
    colors = [c for c in dict.fromkeys([factor, groupby]) if c in work.obs]
    return pl.pca(work, color=colors, size=60, title=[f"pseudobulks by {c}" for c in colors], return_fig=True)


def de_problems(config: Any, *, sheet_failed: bool = False) -> list[str]:
    """What ``pseudobulk`` and ``de`` cannot run with under ``config``, one line per problem.

    Both need merged samples, ``de`` the pseudobulks; ``pseudobulk.groupby`` may be
    ``annotate``'s column only with ``annotate`` on; the design and the contrast must fit the
    sample sheet (:func:`scsnake.tl.check_de_design`: columns it has, levels its samples have,
    at least two samples per level). With a sample sheet that failed to read, the sheet is not
    checked (its rows are missing).
    """
    problems = []
    pseudobulk, de = config.pseudobulk, config.de
    if pseudobulk.enabled and not config.merge.enabled:
        problems.append(
            "pseudobulk.enabled needs merge.enabled: true (pseudobulks are summed per sample of the merged "
            "samples); merge the samples or switch pseudobulk off"
        )
    if de.enabled and not (pseudobulk.enabled and config.merge.enabled):
        missing = [f"{s}.enabled: true" for s in ("merge", "pseudobulk") if not getattr(config, s).enabled]
        problems.append(
            f"de.enabled needs {' and '.join(missing)} (de compares the samples' pseudobulks); "
            "set them or switch de off"
        )
    annotate = config.annotate
    if pseudobulk.enabled and pseudobulk.groupby == annotate.key_added and not annotate.enabled:
        problems.append(
            f"pseudobulk.groupby {pseudobulk.groupby!r} is written by annotate, which is off; set "
            "annotate.enabled: true (with annotate.markers) or group by leiden"
        )
    if de.enabled and not _pydeseq2_installed():
        problems.append(
            "de.enabled needs PyDESeq2, which is not installed: pip install 'scsnake[de]' (make run installs it)"
        )
    if de.enabled and de.contrast is not None and not sheet_failed:
        problems += _design_problems(config)
    return problems


def _pydeseq2_installed() -> bool:
    """Whether the jobs can import PyDESeq2 (they run with this Python, or its conda environment)."""
    from importlib.util import find_spec

    return find_spec("pydeseq2") is not None


def _design_problems(config: Any) -> list[str]:
    """The design and contrast against the sample sheet (:func:`scsnake.tl.check_de_design`),
    each problem under the key it is about; then levels with fewer samples than ``de.min_samples``."""
    from .. import tl

    de = config.de
    sheet = pd.DataFrame.from_dict(
        {name: spec.metadata for name, spec in config.samples.items()}, orient="index"
    )
    found = tl.check_de_design(sheet, de.design, list(de.contrast))
    problems = [f"de.{'design' if p.startswith('design') else 'contrast'}: {p}" for p in found]
    factor, *levels = de.contrast
    if not found and de.min_samples > 2:
        counts = sheet[factor].dropna().astype(str).value_counts()
        problems += [
            f"de.min_samples: {de.min_samples}, but level {level!r} of {factor!r} has {int(counts[level])} "
            "samples, so every group would be skipped; lower de.min_samples or add samples"
            for level in levels
            if counts[level] < de.min_samples
        ]
    return problems
