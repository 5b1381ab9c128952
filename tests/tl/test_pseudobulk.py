"""tl.pseudobulk: summed counts per sample × group, the kept profiles and their obs."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

import scsnake as ss
from scsnake.errors import InputDataError, MissingKeyError, ParamError


def _cells(fmt: str = "csr") -> ad.AnnData:
    """12 cells × 3 genes: samples s1 (A, 7 cells), s2 (B, 5 cells); groups x and y."""
    x = np.arange(36, dtype=np.float32).reshape(12, 3) % 5
    obs = pd.DataFrame(
        {
            "sample": ["s1"] * 7 + ["s2"] * 5,
            "cluster": ["x", "x", "x", "y", "y", "y", "y", "x", "x", "y", "y", "y"],
            "condition": pd.Categorical(["A"] * 7 + ["B"] * 5, categories=["A", "B", "C"]),
            "donor": ["d1"] * 7 + ["d2"] * 5,
            "n_counts": x.sum(axis=1),  # per cell: not carried over
        },
        index=[f"c{i}" for i in range(12)],
    )
    matrix = {"csr": sparse.csr_matrix, "csc": sparse.csc_matrix, "dense": np.asarray}[fmt](x)
    return ad.AnnData(
        matrix, obs=obs, var=pd.DataFrame({"symbol": ["a", "b", "c"]}, index=["g1", "g2", "g3"])
    )


@pytest.mark.parametrize("fmt", ["csr", "csc", "dense"])
def test_sums_and_obs(fmt: str) -> None:
    adata = _cells(fmt)
    pdata = ss.tl.pseudobulk(adata, "sample", "cluster", min_cells=1)
    assert pdata.obs_names.tolist() == ["s1_x", "s1_y", "s2_x", "s2_y"]
    assert pdata.obs.columns.tolist() == ["sample", "cluster", "n_cells", "condition", "donor"]
    assert pdata.obs["n_cells"].tolist() == [3, 4, 2, 3]
    assert pdata.obs["condition"].tolist() == ["A", "A", "B", "B"]
    assert pdata.obs["condition"].cat.categories.tolist() == ["A", "B"]
    assert isinstance(pdata.obs["cluster"].dtype, pd.CategoricalDtype)
    assert sparse.issparse(pdata.X) and pdata.X.format == "csr" and pdata.X.dtype == np.float64
    x = np.asarray(adata.X.toarray() if sparse.issparse(adata.X) else adata.X)
    expected = [x[:3].sum(0), x[3:7].sum(0), x[7:9].sum(0), x[9:].sum(0)]
    np.testing.assert_array_equal(pdata.X.toarray(), np.array(expected))
    pd.testing.assert_frame_equal(pdata.var, adata.var)


def test_min_cells_layer_and_obs_keys() -> None:
    adata = _cells()
    adata.layers["counts"] = adata.X * 2
    pdata = ss.tl.pseudobulk(adata, "sample", "cluster", layer="counts", min_cells=3, obs_keys=["donor"])
    assert pdata.obs_names.tolist() == ["s1_x", "s1_y", "s2_y"]  # s2_x has 2 cells
    assert pdata.obs.columns.tolist() == ["sample", "cluster", "n_cells", "donor"]
    np.testing.assert_array_equal(pdata.X.toarray()[0], 2 * adata.X.toarray()[:3].sum(0))
    with pytest.raises(ParamError, match="'n_counts' varies within a sample"):
        ss.tl.pseudobulk(adata, "sample", "cluster", obs_keys=["n_counts"], min_cells=1)
    with pytest.raises(InputDataError, match=r"min_cells=20.*largest: 4"):
        ss.tl.pseudobulk(adata, "sample", "cluster", min_cells=20)


def test_refusals() -> None:
    adata = _cells()
    with pytest.raises(MissingKeyError, match="sample_key 'donr'"):
        ss.tl.pseudobulk(adata, "donr", "cluster")
    with pytest.raises(MissingKeyError, match="groupby 'leiden'"):
        ss.tl.pseudobulk(adata, "sample", "leiden")
    with pytest.raises(ParamError, match="min_cells"):
        ss.tl.pseudobulk(adata, "sample", "cluster", min_cells=0)
    adata.X = adata.X * 0.5
    with pytest.raises(InputDataError, match=r"raw counts.*layer='counts'"):
        ss.tl.pseudobulk(adata, "sample", "cluster")
