"""Differential expression between conditions on pseudobulks, per group, with PyDESeq2."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import pandas as pd
from pydantic import Field, PositiveInt

from scsnake._matrix import check_counts, close_matches, get_obs_column
from scsnake._params import Seed, StageParams, validated
from scsnake.errors import InputDataError, MissingKeyError, ParamError
from scsnake.external._optional import import_extra

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["CheckDeDesignParams", "PseudobulkDeParams", "check_de_design", "pseudobulk_de"]

logger = logging.getLogger(__name__)

#: The columns of :func:`pseudobulk_de`'s table, in order.
DE_COLUMNS = ["group", "gene", "baseMean", "log2FoldChange", "lfcSE", "stat", "pvalue", "padj"]
_STATS = DE_COLUMNS[2:]


class PseudobulkDeParams(StageParams):
    """Parameters of :func:`pseudobulk_de`."""

    design: str
    """Formula over the sample columns, e.g. ``"~condition"`` or ``"~donor + condition"``."""
    contrast: Annotated[Sequence[str], Field(min_length=3, max_length=3)]
    """``[factor, tested level, reference level]``."""
    groupby: str
    """``obs`` column of the groups; each group is tested on its own."""
    min_samples: Annotated[int, Field(ge=2)] = 2
    """A group is skipped when a contrast level has fewer samples than this."""
    n_cpus: PositiveInt = 1
    """Processes PyDESeq2 uses (results do not depend on it)."""
    seed: Seed = 0
    """Seed of numpy's global generator during the fit (PyDESeq2 draws no random numbers itself)."""
    alpha: Annotated[float, Field(gt=0, lt=1)] = 0.05
    """Significance level of PyDESeq2's independent filtering of the adjusted p-values."""
    quiet: bool = True
    """Silence PyDESeq2's progress messages."""


class CheckDeDesignParams(StageParams):
    """Parameters of :func:`check_de_design`."""

    samples: pd.DataFrame
    """One row per sample; the columns the design may name."""
    design: str
    """Formula over the sample columns."""
    contrast: Sequence[str]
    """``[factor, tested level, reference level]``."""


def design_columns(design: str) -> list[str]:
    """The column names a formula such as ``"~donor + C(condition)"`` refers to."""
    rhs = re.sub(r"(['\"]).*?\1", "", design.split("~", 1)[-1])  # quoted levels are no columns
    names = re.findall(r"\b([A-Za-z_][A-Za-z0-9_.]*)\b(?!\s*\()", rhs)
    return list(dict.fromkeys(n for n in names if n not in {"Treatment", "Sum", "Poly", "Diff"}))


@validated(CheckDeDesignParams)
def check_de_design(samples: pd.DataFrame, design: str, contrast: Sequence[str]) -> list[str]:
    """The problems of a design and contrast for a sample table, one line each (empty: none).

    Found: a design that is not a one-sided formula or names a column the table lacks; a
    contrast that is not ``[factor, tested, reference]`` or whose factor is not in the design;
    a contrast level no sample has, or only one sample has (no replicates).

    Parameters
    ----------
    samples
        One row per sample (the sample sheet); its columns are what the design may name.
    design
        Formula, e.g. ``"~condition"`` or ``"~donor + condition"``.
    contrast
        ``[factor, tested level, reference level]``.

    Returns
    -------
    One message per problem, naming the column or level and the fix.

    Examples
    --------
    >>> import pandas as pd
    >>> sheet = pd.DataFrame({"condition": ["A", "A", "B", "B"]})
    >>> check_de_design(sheet, "~condition", ["condition", "B", "A"])
    []
    >>> check_de_design(sheet, "~donor + condition", ["condition", "C", "A"])[0]
    "design '~donor + condition' names column 'donor', which the sample sheet lacks (available: condition); add the column to the sample sheet or drop it from the design"
    """
    return _design_problems(samples, design, contrast, min_replicates=2)


def _design_problems(
    samples: pd.DataFrame, design: str, contrast: Sequence[str], *, min_replicates: int
) -> list[str]:
    problems: list[str] = []
    if not design.strip().startswith("~"):
        problems.append(
            f"design {design!r} is not a formula; write it as '~condition' or '~donor + condition'"
        )
        return problems
    columns = design_columns(design)
    if not columns:
        problems.append(f"design {design!r} names no column; write it as '~condition'")
    for column in columns:
        if column not in samples.columns:
            problems.append(
                f"design {design!r} names column {column!r}, which the sample sheet lacks"
                f"{close_matches(column, samples.columns)}; add the column to the sample sheet or drop it from the design"
            )
    if len(contrast) != 3:
        problems.append(
            f"contrast {list(contrast)!r} must be [factor, tested level, reference level], e.g. [condition, B, A]"
        )
        return problems
    factor, tested, reference = (str(c) for c in contrast)
    if tested == reference:
        problems.append(
            f"contrast {list(contrast)!r} compares level {tested!r} with itself; name two levels of {factor!r}"
        )
    if factor not in columns:
        problems.append(
            f"contrast factor {factor!r} is not in the design {design!r}; add it (e.g. '~{factor}')"
        )
    if factor not in samples.columns:
        if factor in columns:
            return problems  # reported above
        problems.append(
            f"contrast factor {factor!r} is not a column of the sample sheet{close_matches(factor, samples.columns)}"
        )
        return problems
    levels = samples[factor].dropna().astype(str)
    counts = levels.value_counts()
    for level in dict.fromkeys((tested, reference)):
        n = int(counts.get(level, 0))
        if n == 0:
            problems.append(
                f"contrast level {level!r} of {factor!r}: no sample has it (levels: {', '.join(map(str, counts.index))}); "
                "fix the contrast or the sample sheet"
            )
        elif n < min_replicates:
            problems.append(
                f"contrast level {level!r} of {factor!r}: only {n} sample has it; DE needs at least 2 replicates "
                "per level (add samples or compare other levels)"
            )
    return problems


@validated(PseudobulkDeParams)
def pseudobulk_de(
    adata: AnnData,
    design: str,
    contrast: Sequence[str],
    *,
    groupby: str,
    min_samples: int = 2,
    n_cpus: int = 1,
    seed: int = 0,
    alpha: float = 0.05,
    quiet: bool = True,
) -> pd.DataFrame:
    """Test each group's pseudobulks between two levels of a factor with PyDESeq2 (DESeq2).

    Each group (a cluster or cell type) gets its own fit: size factors, dispersions and Wald
    tests over that group's samples only. Needs ``pip install 'scsnake[de]'``.

    Parameters
    ----------
    adata
        Pseudobulks from :func:`scsnake.tl.pseudobulk`: summed raw counts in ``X``, one row per
        sample × group, the design's columns in ``obs``.
    design
        Formula over ``obs`` columns, e.g. ``"~condition"`` or ``"~donor + condition"``.
    contrast
        ``[factor, tested level, reference level]``: log2 fold changes are tested / reference.
    groupby
        ``obs`` column of the groups.
    min_samples
        A group is skipped when the tested or the reference level has fewer samples.
    n_cpus
        Processes PyDESeq2 uses.
    seed
        Seed of numpy's global generator during the fits (restored afterwards).
    alpha
        Significance level of the independent filtering of ``padj``.
    quiet
        Silence PyDESeq2's progress messages.

    Returns
    -------
    One row per group and gene, columns ``group`` (categorical), ``gene``, ``baseMean``,
    ``log2FoldChange``, ``lfcSE``, ``stat``, ``pvalue``, ``padj`` (PyDESeq2's results).
    ``df.attrs["skipped"]`` maps each skipped group to the reason (too few samples of a
    level, a design that is not of full rank there); skipped groups are logged.
    """
    factor, tested, reference = (str(c) for c in contrast)
    groups = get_obs_column(adata, groupby, what="groupby")
    _check_design(adata.obs, design, contrast)
    check_counts(adata.X, where="X", step="pseudobulk_de")
    if not adata.var_names.is_unique:
        msg = "pseudobulk_de: gene names (var_names) repeat; call adata.var_names_make_unique() first"
        raise InputDataError(msg)
    import_extra("pydeseq2", "de", what="pseudobulk_de")
    from pydeseq2.dds import DeseqDataSet
    from pydeseq2.default_inference import DefaultInference
    from pydeseq2.ds import DeseqStats

    order = groups.cat.categories if isinstance(groups.dtype, pd.CategoricalDtype) else pd.unique(groups)
    frames, skipped = [], {}
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        for group in order:
            rows = np.flatnonzero((groups == group).to_numpy())
            if rows.size == 0:
                continue
            metadata = _metadata(adata.obs.iloc[rows], design, factor)
            reason = _skip_reason(metadata, design, factor, (tested, reference), min_samples)
            if reason is not None:
                skipped[group] = reason
                logger.info("pseudobulk_de: group %s skipped: %s", group, reason)
                continue
            counts = _dense_counts(adata.X[rows], metadata.index, adata.var_names)
            inference = DefaultInference(n_cpus=n_cpus)
            dds = DeseqDataSet(
                counts=counts, metadata=metadata, design=design, inference=inference, quiet=quiet
            )
            dds.deseq2()
            stats = DeseqStats(
                dds, contrast=[factor, tested, reference], alpha=alpha, inference=inference, quiet=quiet
            )
            stats.summary()
            table = stats.results_df.loc[:, _STATS].astype(np.float64)
            table.insert(0, "gene", table.index.astype(str))
            table.insert(0, "group", str(group))
            frames.append(table.reset_index(drop=True))
    finally:
        np.random.set_state(state)

    result = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=DE_COLUMNS)
    result = result.astype({c: np.float64 for c in _STATS})
    tested_groups = [str(g) for g in order if str(g) in set(result["group"])]
    result["group"] = pd.Categorical(result["group"].astype(str), categories=tested_groups)
    result.attrs["skipped"] = {str(g): r for g, r in skipped.items()}
    return result


def _check_design(obs: pd.DataFrame, design: str, contrast: Sequence[str]) -> None:
    """Refuse a design or contrast ``obs`` cannot serve, with the first problem found."""
    for column in design_columns(design):
        if column not in obs.columns:
            msg = (
                f"pseudobulk_de: design {design!r} names column {column!r}, which adata.obs lacks"
                f"{close_matches(column, obs.columns)}; add it to the cells' obs before tl.pseudobulk "
                "(or name it in obs_keys)"
            )
            raise MissingKeyError(msg)
    # replicates are counted per group: a group without them is skipped, not refused
    problems = _design_problems(obs, design, contrast, min_replicates=1)
    if problems:
        msg = f"pseudobulk_de: {problems[0]}"
        raise ParamError(msg)


def _metadata(obs: pd.DataFrame, design: str, factor: str) -> pd.DataFrame:
    """The design's columns for one group: factors as text, numbers kept numeric."""
    metadata = pd.DataFrame(index=obs.index.astype(str))
    for column in design_columns(design):
        values = obs[column]
        if (
            column == factor
            or not pd.api.types.is_numeric_dtype(values)
            or isinstance(values.dtype, pd.CategoricalDtype)
        ):
            metadata[column] = values.astype(str).to_numpy().astype(object)
        else:
            metadata[column] = values.to_numpy()
    return metadata


def _skip_reason(
    metadata: pd.DataFrame, design: str, factor: str, levels: tuple[str, str], min_samples: int
) -> str | None:
    n_per_level = metadata[factor].value_counts()
    for level in levels:
        n = int(n_per_level.get(level, 0))
        if n < min_samples:
            return f"{factor} {level!r} has {n} sample(s) here (min_samples={min_samples})"
    from formulaic import model_matrix

    matrix = np.asarray(model_matrix(design, metadata), dtype=np.float64)
    rank = np.linalg.matrix_rank(matrix)
    if rank < matrix.shape[1]:
        return f"the design {design!r} is not of full rank over this group's {len(metadata)} samples"
    if matrix.shape[0] <= matrix.shape[1]:
        return (
            f"the design {design!r} has as many coefficients as samples ({len(metadata)}): no replicates left"
        )
    return None


def _dense_counts(x: Any, index: pd.Index, genes: pd.Index) -> pd.DataFrame:
    values = x.toarray() if hasattr(x, "toarray") else np.asarray(x)
    return pd.DataFrame(np.rint(values).astype(np.int64), index=index, columns=genes.astype(str))
