"""tl.sim: shapes, files, seeds, branching, the network model and bad arguments."""

from __future__ import annotations

import numpy as np
import pytest

from scsnake.errors import ParamError
from scsnake.tl import sim
from scsnake.tl._sim_network import read_default_params, read_network


def test_toggleswitch_defaults(tmp_path) -> None:
    adata = sim("toggleswitch", writedir=tmp_path)
    assert adata.shape == (200, 2)  # 2 realizations × 100 steps
    assert adata.X.dtype == np.float32
    assert list(adata.var_names) == ["0", "1"]
    assert list(adata.obs_names[:3]) == ["0", "1", "2"]
    assert adata.obs_names[100] == "0"  # the second realization starts again at 0
    assert adata.uns["tmax_write"] == 100.0
    assert adata.uns["iroot"] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "id.txt",
        "model_000000.txt",
        "params.txt",
        "sim_000000.txt",
    ]
    # values are those written (4 decimals)
    np.testing.assert_array_equal(adata.X, np.round(adata.X.astype(np.float64), 4).astype(np.float32))
    # the two realizations end in different attractors (branching=True)
    assert np.abs(adata.X[99] - adata.X[199]).min() > 0.25


def test_seed_reproducible_and_runs_counted(tmp_path) -> None:
    a = sim("toggleswitch", tmax=60, seed=3, writedir=tmp_path)
    b = sim("toggleswitch", tmax=60, seed=3, writedir=tmp_path)
    c = sim("toggleswitch", tmax=60, seed=4, writedir=tmp_path)
    np.testing.assert_array_equal(a.X, b.X)
    assert not np.array_equal(a.X, c.X)
    assert (tmp_path / "id.txt").read_text() == "000002"
    assert (tmp_path / "sim_000002.txt").is_file()
    assert "seed = 4" in (tmp_path / "sim_000002.txt").read_text()


def test_step_and_no_branching(tmp_path) -> None:
    adata = sim("toggleswitch", tmax=10, step=3, branching=False, nrRealizations=3, writedir=tmp_path)
    assert adata.shape == (12, 2)  # rows 0, 3, 6, 9 of 3 realizations
    assert list(adata.obs_names[:5]) == ["0", "1", "2", "3", "0"]
    assert adata.uns["tmax_write"] == pytest.approx(10 / 3)


def test_krumsiek11_small(tmp_path) -> None:
    adata = sim("krumsiek11", tmax=50, nrRealizations=1, step=2, writedir=tmp_path)
    assert adata.shape == (10, 11)  # krumsiek11 always saves every 5th state
    assert list(adata.var_names[:3]) == ["Gata2", "Gata1", "Fog1"]
    np.testing.assert_allclose(adata.X[0, [0, 6, 7]], 0.8, atol=0.01)  # Gata2, Cebpa, Pu.1 start high
    assert adata.uns["tmax_write"] == 10.0


def test_params_file_false_needs_values(tmp_path) -> None:
    with pytest.raises(ParamError, match="tmax, nrRealizations, noiseObs, noiseDyn, step"):
        sim("toggleswitch", params_file=False, writedir=tmp_path)
    adata = sim(
        "toggleswitch",
        params_file=False,
        tmax=5,
        nrRealizations=1,
        noiseObs=0.0,
        noiseDyn=0.0,
        step=1,
        writedir=tmp_path,
    )
    assert adata.shape == (5, 2)
    # without noise the trajectory is the deterministic Hill dynamics from a fixed start
    assert "writedir = " in (tmp_path / "params.txt").read_text()


def test_network_toggleswitch_by_hand() -> None:
    net = read_network("toggleswitch")
    assert net.names == ("0", "1")
    assert net.inv_time_step == 0.1
    assert net.parents == ((0, 1), (1, 0))
    assert net.true_states == (((True, False),), ((True, False),))  # "0 and not 1"
    x0 = np.array([0.5, 0.2])
    traj = net.simulate(x0, np.zeros((2, 2)))
    act = 0.25 / (0.25 + 0.01)  # threshold 0.1 / |1.0|
    inh = 0.01 / (0.04 + 0.01)
    np.testing.assert_allclose(traj[1, 0], 0.5 + 0.1 * (act * inh - 0.5), rtol=1e-14)


def test_default_params_file() -> None:
    params = read_default_params("krumsiek11")
    assert list(params) == [
        "model",
        "tmax",
        "branching",
        "nrRealizations",
        "noiseObs",
        "noiseDyn",
        "step",
        "seed",
    ]
    assert params["tmax"] == 800
    assert params["branching"] is True


def test_too_few_branches(tmp_path) -> None:
    with pytest.raises(ParamError, match="branching realizations"):
        sim("toggleswitch", tmax=1, nrRealizations=3, writedir=tmp_path)
    assert not (tmp_path / "params.txt").exists()  # a failed run writes nothing


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"model": "paul15"}, "model"),
        ({"model": "toggleswitch", "tmax": 0}, "tmax"),
        ({"model": "toggleswitch", "nrRealizations": -1}, "nrRealizations"),
        ({"model": "toggleswitch", "noiseObs": -0.1}, "noiseObs"),
        ({"model": "toggleswitch", "noiseDyn": "much"}, "noiseDyn"),
        ({"model": "toggleswitch", "step": 0}, "step"),
        ({"model": "toggleswitch", "seed": -1}, "seed"),
        ({"model": "toggleswitch", "tmax_": 5}, "tmax_"),
    ],
)
def test_bad_arguments(kwargs, key, tmp_path) -> None:
    with pytest.raises((ParamError, TypeError), match=key):
        sim(**kwargs, writedir=tmp_path)
