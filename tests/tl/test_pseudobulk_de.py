"""tl.pseudobulk_de on data with a known answer, and the design checks.

The known answer: real counts (``mouse10k``, 150 well-expressed genes) split at random into
6 replicate samples, 3 per condition, and 2 groups; 30 genes multiplied by 3 in condition B
in group g1 only. PyDESeq2 (one process) must find them, in the right direction, and little
else.
"""

from __future__ import annotations

import re
import sys

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import scsnake as ss
from scsnake.errors import MissingKeyError, ParamError

pytest.importorskip("pydeseq2")

CONTRAST = ["condition", "B", "A"]
N_PLANTED = 30


@pytest.fixture(scope="module")
def planted(mouse10k: ad.AnnData) -> tuple[ad.AnnData, set[str]]:
    """Cells of 6 samples (s0-s2: A, s3-s5: B) and 2 groups; 30 genes × 3 in B, group g1."""
    rng = np.random.default_rng(0)
    means = np.asarray(mouse10k.X.mean(axis=0)).ravel()
    genes = np.sort(np.argsort(-means)[:150])
    adata = mouse10k[:, genes].copy()
    sample = rng.integers(0, 6, adata.n_obs)
    adata.obs["sample"] = pd.Categorical([f"s{i}" for i in sample])
    adata.obs["condition"] = pd.Categorical(np.where(sample < 3, "A", "B"))
    adata.obs["donor"] = pd.Categorical([f"d{i % 3}" for i in sample])  # constant within a sample
    adata.obs["group"] = pd.Categorical(np.where(rng.random(adata.n_obs) < 0.5, "g1", "g2"))
    hit = rng.choice(adata.n_vars, N_PLANTED, replace=False)
    cells = ((adata.obs["condition"] == "B") & (adata.obs["group"] == "g1")).to_numpy()
    x = adata.X.tocsc()
    for j in hit:
        rows = slice(x.indptr[j], x.indptr[j + 1])
        x.data[rows] *= np.where(cells[x.indices[rows]], 3, 1).astype(x.dtype)
    adata.X = x.tocsr()
    return adata, set(adata.var_names[hit])


@pytest.fixture(scope="module")
def results(planted: tuple[ad.AnnData, set[str]]) -> pd.DataFrame:
    pdata = ss.tl.pseudobulk(planted[0], "sample", "group")
    return ss.tl.pseudobulk_de(pdata, "~condition", CONTRAST, groupby="group")


def test_planted_genes_are_recovered(results: pd.DataFrame, planted: tuple[ad.AnnData, set[str]]) -> None:
    truth = planted[1]
    assert list(results.columns) == [
        "group",
        "gene",
        "baseMean",
        "log2FoldChange",
        "lfcSE",
        "stat",
        "pvalue",
        "padj",
    ]
    assert results.groupby("group", observed=True).size().to_dict() == {"g1": 150, "g2": 150}
    assert results.attrs["skipped"] == {}
    calls = results[results["padj"] < 0.05]
    g1 = calls[calls["group"] == "g1"]
    found = set(g1["gene"]) & truth
    precision, recall = len(found) / max(len(g1), 1), len(found) / len(truth)
    assert precision >= 0.9 and recall >= 0.9, (precision, recall, len(g1))
    on_planted = calls[calls["gene"].isin(truth)]
    assert ((on_planted["group"] == "g1") & (on_planted["log2FoldChange"] > 0)).all()  # none the wrong way
    lfc = g1.set_index("gene").loc[sorted(found), "log2FoldChange"]
    assert abs(lfc.median() - np.log2(3)) < 0.25
    assert len(calls[calls["group"] == "g2"]) <= 3  # no effect planted there


def _without_b_replicates_in_g2(adata: ad.AnnData) -> ad.AnnData:
    """g2 keeps a single B sample (s3)."""
    drop = (adata.obs["group"] == "g2") & adata.obs["sample"].isin(["s4", "s5"])
    return adata[~drop.to_numpy()].copy()


def test_skipped_group_and_determinism(results: pd.DataFrame, planted: tuple[ad.AnnData, set[str]]) -> None:
    pdata = ss.tl.pseudobulk(_without_b_replicates_in_g2(planted[0]), "sample", "group")
    first = ss.tl.pseudobulk_de(pdata, "~condition", CONTRAST, groupby="group")
    assert first.attrs["skipped"] == {"g2": "condition 'B' has 1 sample(s) here (min_samples=2)"}
    # a second run gives the same table, bit for bit; g1 is fitted on its own, so its table
    # does not depend on g2's samples either
    g1 = results[results["group"] == "g1"].reset_index(drop=True)
    g1["group"] = g1["group"].cat.remove_unused_categories()
    pd.testing.assert_frame_equal(first, g1, check_exact=True)


def test_rank_deficient_and_unreplicated_groups_are_skipped(planted: tuple[ad.AnnData, set[str]]) -> None:
    pdata = ss.tl.pseudobulk(_without_b_replicates_in_g2(planted[0][:, :20]), "sample", "group")
    pdata = pdata[pdata.obs["group"] == "g2"].copy()
    df = ss.tl.pseudobulk_de(pdata, "~condition", CONTRAST, groupby="group", min_samples=2)
    assert df.empty and list(df.columns)[:2] == ["group", "gene"] and set(df.attrs["skipped"]) == {"g2"}
    pdata = ss.tl.pseudobulk(planted[0][:, :20], "sample", "group")
    pdata.obs["batch"] = np.where(pdata.obs["condition"] == "A", "x", "y")  # confounded with condition
    df = ss.tl.pseudobulk_de(pdata, "~batch + condition", CONTRAST, groupby="group")
    assert df.empty and all("not of full rank" in r for r in df.attrs["skipped"].values())
    df = ss.tl.pseudobulk_de(pdata, "~condition", CONTRAST, groupby="group", min_samples=4)
    assert df.attrs["skipped"]["g1"] == "condition 'B' has 3 sample(s) here (min_samples=4)"


def test_design_errors_name_the_column_and_level(planted: tuple[ad.AnnData, set[str]]) -> None:
    pdata = ss.tl.pseudobulk(planted[0][:, :5], "sample", "group")
    with pytest.raises(MissingKeyError, match=r"'treatment'.*obs_keys"):
        ss.tl.pseudobulk_de(pdata, "~treatment", ["treatment", "B", "A"], groupby="group")
    with pytest.raises(ParamError, match="contrast level 'C' of 'condition': no sample has it"):
        ss.tl.pseudobulk_de(pdata, "~condition", ["condition", "C", "A"], groupby="group")
    with pytest.raises(ParamError, match="contrast factor 'donor' is not in the design"):
        ss.tl.pseudobulk_de(pdata, "~condition", ["donor", "d1", "d0"], groupby="group")
    with pytest.raises(ParamError, match="contrast"):
        ss.tl.pseudobulk_de(pdata, "~condition", ["condition", "B"], groupby="group")
    with pytest.raises(MissingKeyError, match="groupby 'cluster'"):
        ss.tl.pseudobulk_de(pdata, "~condition", CONTRAST, groupby="cluster")


def test_check_de_design_lists_every_problem() -> None:
    sheet = pd.DataFrame({"sample": ["a", "b", "c", "d", "e"], "condition": ["A", "A", "B", "B", "C"]})
    assert ss.tl.check_de_design(sheet, "~condition", CONTRAST) == []
    assert ss.tl.check_de_design(sheet, "~ C(condition)", CONTRAST) == []
    problems = ss.tl.check_de_design(sheet, "~donor + condition", ["condition", "C", "D"])
    assert len(problems) == 3
    assert "names column 'donor', which the sample sheet lacks" in problems[0]
    assert "only 1 sample has it" in problems[1] and "'C'" in problems[1]
    assert "'D' of 'condition': no sample has it" in problems[2]
    assert "not in the design" in ss.tl.check_de_design(sheet, "~sample", CONTRAST)[0]
    assert "not a formula" in ss.tl.check_de_design(sheet, "condition", CONTRAST)[0]
    assert (
        "[factor, tested level, reference level]"
        in ss.tl.check_de_design(sheet, "~condition", ["condition"])[0]
    )


def test_missing_pydeseq2_names_the_extra(
    planted: tuple[ad.AnnData, set[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from scsnake.external import MissingExtraError

    pdata = ss.tl.pseudobulk(planted[0][:, :5], "sample", "group")
    monkeypatch.setitem(sys.modules, "pydeseq2", None)  # import fails as if not installed
    with pytest.raises(MissingExtraError, match=re.escape("pip install 'scsnake[de]'")):
        ss.tl.pseudobulk_de(pdata, "~condition", CONTRAST, groupby="group")
