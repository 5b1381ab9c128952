"""``tl.sim``: simulated gene expression time series from a gene-regulatory-network model."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import NonNegativeFloat, PositiveInt

from scsnake._params import Seed, StageParams, validated
from scsnake._rng import as_seed
from scsnake._settings import settings
from scsnake.errors import InputDataError, ParamError

from ._sim_network import GeneNetwork, read_default_params, read_network

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["SimParams", "sim"]

logger = logging.getLogger(__name__)

#: Extra attempts (beyond ``nrRealizations``) to find realizations that reach new branches.
MAX_RESTARTS = 1000
#: Final states closer than this in all but one gene count as the same branch (attractor).
BRANCH_THRESHOLD = 0.25
#: Values needed when ``params_file=False`` (``step`` only for models that keep it).
_REQUIRED = ("tmax", "nrRealizations", "noiseObs", "noiseDyn")


class SimParams(StageParams):
    """Parameters of :func:`sim`."""

    model: Literal["krumsiek11", "toggleswitch"]
    """Built-in network: ``krumsiek11`` (myeloid progenitors, 11 genes) or ``toggleswitch`` (2 genes)."""
    params_file: bool = True
    """Start from the model's default parameters (``sim_models/<model>_params.txt``)."""
    tmax: PositiveInt | None = None
    """Time steps per realization."""
    branching: bool | None = None
    """Keep only realizations that end in a new attractor (branch)."""
    nrRealizations: PositiveInt | None = None
    """Number of realizations (time series) to keep."""
    noiseObs: NonNegativeFloat | None = None
    """Standard deviation of the observation noise added to the saved states."""
    noiseDyn: NonNegativeFloat | None = None
    """Standard deviation of the dynamic noise added at each step."""
    step: PositiveInt | None = None
    """Save every ``step``-th state (``krumsiek11`` always uses 5, as scanpy)."""
    seed: Seed | None = None
    """Seed of numpy's legacy ``RandomState`` (scanpy's draws); None after the defaults means 0."""
    writedir: Path | str | None = None
    """Directory of the written files; default ``settings.writedir / f"{model}_sim"``."""


@validated(SimParams)
def sim(
    model: Literal["krumsiek11", "toggleswitch"],
    *,
    params_file: bool = True,
    tmax: int | None = None,
    branching: bool | None = None,
    nrRealizations: int | None = None,
    noiseObs: float | None = None,
    noiseDyn: float | None = None,
    step: int | None = None,
    seed: int | None = None,
    writedir: Path | str | None = None,
) -> AnnData:
    """Simulate gene expression time series from a boolean gene-regulatory network.

    The network's boolean rules become Hill-kinetics difference equations (Wittmann et al.
    2009) with Gaussian dynamic noise; realizations start near a progenitor state and, with
    ``branching``, are kept only if they end in a new attractor (Wolf et al. 2018). The same
    seed gives the same data as scanpy's ``sc.tl.sim`` (``krumsiek11`` is how scanpy's
    ``datasets.krumsiek11`` was made).

    Parameters
    ----------
    model
        Built-in network: ``"krumsiek11"`` or ``"toggleswitch"``.
    params_file
        Start from the model's default parameters; given values (not None) replace them.
    tmax
        Time steps per realization.
    branching
        Keep only realizations that end in a new branch.
    nrRealizations
        Number of realizations to keep.
    noiseObs
        Observation noise (standard deviation), added to the saved states.
    noiseDyn
        Dynamic noise (standard deviation), added at each step.
    step
        Save every ``step``-th state (``krumsiek11``: always 5).
    seed
        Seed of the random draws.
    writedir
        Directory that receives ``params.txt``, ``id.txt``, ``model_<id>.txt`` and
        ``sim_<id>.txt`` (``<id>`` counts the runs in the directory), as scanpy writes them.

    Returns
    -------
    AnnData of the saved states of all realizations (``n_realizations · ⌈tmax/step⌉`` ×
    genes): float32 ``X`` (values rounded to 4 decimals, as written); ``obs_names``, the
    time step within its realization (so they repeat); ``var_names``, the genes;
    ``uns['tmax_write']`` (``tmax / step``) and ``uns['iroot'] = 0``.

    Examples
    --------
    >>> import tempfile, scsnake as ss
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     adata = ss.tl.sim("toggleswitch", tmax=80, writedir=folder)
    >>> adata.shape
    (160, 2)
    """
    given = {
        "model": model,
        "params_file": params_file,
        "tmax": tmax,
        "branching": branching,
        "nrRealizations": nrRealizations,
        "noiseObs": noiseObs,
        "noiseDyn": noiseDyn,
        "step": step,
        "seed": seed,
        "writedir": writedir,
    }
    if params_file:
        run = read_default_params(model)
        run.update({k: v for k, v in given.items() if v is not None})
    else:
        run = dict(given)
        missing = [k for k in (*_REQUIRED, *(() if model == "krumsiek11" else ("step",))) if run[k] is None]
        if missing:
            msg = f"sim: {', '.join(missing)} must be given when params_file=False"
            raise ParamError(msg)
    folder = settings.writedir / f"{model}_sim" if run.get("writedir") is None else Path(run["writedir"])
    network = read_network(model)
    save_step = 5 if model == "krumsiek11" else int(run["step"])
    blocks = _realizations(network, run, save_step)
    lines = _write_run(folder, network, run, blocks)
    adata = _as_anndata(lines, network.names)
    adata.uns["tmax_write"] = run["tmax"] / save_step
    adata.uns["iroot"] = 0
    return adata


def _realizations(network: GeneNetwork, run: dict[str, Any], save_step: int) -> list[np.ndarray]:
    """The saved states of each kept realization, with observation noise, in scanpy's draw order."""
    rng = np.random.RandomState(as_seed(run["seed"]))
    n_genes, tmax = network.n_genes, int(run["tmax"])
    noise_dyn, noise_obs = run["noiseDyn"], run["noiseObs"]
    n_wanted = int(run["nrRealizations"])
    if run["model"] == "krumsiek11":
        start_genes = [network.names.index(g) for g in ("Gata2", "Pu.1", "Cebpa")]

        def start() -> np.ndarray:
            rng.random_sample(n_genes)  # scanpy draws a uniform start, then replaces it
            x0 = np.zeros(n_genes)
            x0[start_genes] = 0.8
            x0 += 0.001 * rng.standard_normal(n_genes)
            return x0
    else:
        _draw_unused_topology(rng, n_genes)
        rng.random_sample(n_genes)  # scanpy's first start, replaced before it is used

        def start() -> np.ndarray:
            return np.array([0.8] * n_genes) + 0.01 * rng.standard_normal(n_genes)

    kept: list[np.ndarray] = []  # trajectories that reached a new branch (saved rows updated in place)
    blocks: list[np.ndarray] = []
    restart = 0
    for restart in range(n_wanted + MAX_RESTARTS):
        x0 = start()
        traj = network.simulate(x0, noise_dyn * rng.standard_normal((tmax, n_genes)))
        if not run["branching"] or _is_new_branch(traj, kept, restart):
            saved = traj[::save_step]  # a view: the noise reaches the kept trajectory too, as in scanpy
            saved += noise_obs * rng.standard_normal(saved.shape)
            blocks.append(saved.copy())
        if len(blocks) >= n_wanted:
            break
    if len(blocks) < n_wanted:
        msg = (
            f"sim: model {run['model']!r} gave only {len(blocks)} of {n_wanted} branching realizations "
            f"in {restart + 1} attempts; increase tmax so that realizations reach an attractor, "
            "or try another seed"
        )
        raise ParamError(msg)
    return blocks


def _is_new_branch(traj: np.ndarray, kept: list[np.ndarray], restart: int) -> bool:
    """Whether ``traj`` ends away from every kept end state in at least two genes (then kept)."""
    new = True
    if restart > 0:
        for other in kept:
            gaps = np.abs(traj[-1, :] - other[-1, :])
            if np.partition(gaps, -2)[-2] < BRANCH_THRESHOLD:
                new = False
    if new:
        kept.append(traj)
    logger.debug("realization %d: %s", restart, "new branch" if new else "no new branch")
    return new


def _draw_unused_topology(rng: np.random.RandomState, n_genes: int) -> None:
    """Make the draws of scanpy's random-topology step, whose result its hill models never use."""
    from scipy import linalg

    coupl = np.full((n_genes, n_genes), 0.7)
    for _ in range(10):
        for i in range(n_genes):
            for j in range(n_genes):
                if i != j:
                    coupl[i, j] = 0.7 if rng.random_sample() < 0.4 else 0.0
        top = max(linalg.eigvals(coupl), key=lambda z: (z.real, z.imag))
        if top.real < 1 or (top.real == 1 and top.imag < 0):  # numpy's complex order, as scanpy's max()
            break
    for _ in range(n_genes):
        if rng.binomial(1, 0.4) == 0:
            n_parents = rng.randint(1, 3)
            rng.choice(np.arange(n_genes), size=n_parents, replace=False)


def _write_run(
    folder: Path, network: GeneNetwork, run: dict[str, Any], blocks: list[np.ndarray]
) -> list[str]:
    """Write scanpy's files for this run into ``folder``; returns the data lines of ``sim_<id>.txt``."""
    folder.mkdir(parents=True, exist_ok=True)
    id_file = folder / "id.txt"
    run_id = 0
    if id_file.is_file():
        text = id_file.read_text().strip()
        if not text.isdigit():
            msg = f"sim: {id_file} holds {text!r}, not a run number; remove it or choose another writedir"
            raise InputDataError(msg)
        run_id = int(text) + 1
    tag = f"{run_id:0>6}"
    n_genes = network.n_genes
    header = [
        f"model = {network.file.name} ",
        f"tmax = {blocks[0].shape[0]}",
        f"branching = {run['branching']}",
        f"nrRealizations = {run['nrRealizations']}",
        f"noiseObs = {run['noiseObs']}",
        f"noiseDyn = {run['noiseDyn']}",
        f"seed = {run['seed']}",
        f"{'it':>2} " + "".join(f"{name:>7} " for name in network.names),
    ]
    row_format = " ".join(["%4.f"] + ["%7.4f"] * n_genes)
    lines = [
        row_format % tuple(row) for block in blocks for row in np.c_[np.arange(0, block.shape[0]), block]
    ]
    (folder / "params.txt").write_text("".join(f"{k} = {v}\n" for k, v in run.items()))
    id_file.write_text(tag)
    (folder / f"model_{tag}.txt").write_text(network.model_text())
    sim_text = "".join(f"# {h}\n" for h in header) + "".join(f"{line}\n" for line in lines)
    (folder / f"sim_{tag}.txt").write_text(sim_text)
    logger.info("wrote the simulation to %s", folder / f"sim_{tag}.txt")
    return lines


def _as_anndata(lines: list[str], names: tuple[str, ...]) -> AnnData:
    """The written table read back as scanpy reads it (float32 values parsed from the text)."""
    from anndata import AnnData

    tokens = [line.split() for line in lines]
    obs_names = np.array([t[0] for t in tokens])
    values = np.array([np.array(t[1:], dtype="float32") for t in tokens], dtype="float32")
    with warnings.catch_warnings():
        # the time steps repeat across realizations, as in scanpy
        warnings.filterwarnings("ignore", "Observation names are not unique", UserWarning)
        return AnnData(values, obs={"obs_names": obs_names}, var={"var_names": np.array(names)})
