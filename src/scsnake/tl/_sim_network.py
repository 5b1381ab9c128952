"""Boolean gene-regulatory networks turned into Hill-kinetics dynamics, for :func:`scsnake.tl.sim`.

A model file (``sim_models/<name>.txt``, scanpy's format) lists one boolean update rule per
gene (``Fog1 = Gata1``), then the coupling strengths of each regulator. Following Wittmann
et al. (BMC Syst. Biol. 3, 98, 2009), each rule becomes a sum over the parent states for which
it is true of products of activating (``x²/(x²+θ²)``) or inhibiting (``θ²/(x²+θ²)``) Hill
functions, ``θ = 0.1/|coupling|``. The arithmetic is done in scanpy's order, so trajectories
equal scanpy's bit for bit.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["MODEL_DIR", "GeneNetwork", "read_default_params", "read_network"]

#: The model files: scanpy's (scanpy/sim_models, BSD-3-Clause), copied unchanged.
MODEL_DIR = Path(__file__).parent / "sim_models"
_OPERATORS = frozenset({"(", ")", "and", "or", "not"})
_COUPLING_HEADER = "# coupling list:"


def _tokens(rule: str) -> list[str]:
    return rule.replace("(", " ( ").replace(")", " ) ").split()


def _convert(text: str) -> int | float | bool | str | None:
    """A parameter value as scanpy reads it: int, float, bool, None or text."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"True": True, "False": False, "None": None}.get(text, text)


def read_default_params(model: str) -> dict[str, int | float | bool | str | None]:
    """The defaults of ``model`` (``sim_models/<model>_params.txt``), in file order."""
    params: dict[str, int | float | bool | str | None] = {}
    for line in (MODEL_DIR / f"{model}_params.txt").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=")
            params[key.strip()] = _convert(value.strip())
    return params


@dataclass(frozen=True)
class GeneNetwork:
    """A parsed model: genes, rules, couplings, and the arrays of its Hill dynamics."""

    file: Path
    names: tuple[str, ...]
    rules: dict[str, str]
    coupling: np.ndarray
    model_type: str
    inv_time_step: float
    parents: tuple[tuple[int, ...], ...]
    true_states: tuple[tuple[tuple[bool, ...], ...], ...]

    @property
    def n_genes(self) -> int:
        return len(self.names)

    def simulate(self, x0: np.ndarray, noise: np.ndarray) -> np.ndarray:
        """Trajectory of ``len(noise)`` steps from ``x0``; ``noise[t]`` is added after step ``t``."""
        parent, thr_pow, active, pad, child_terms, child_pad, has_parents = self._hill_arrays()
        n_steps = noise.shape[0]
        traj = np.zeros((n_steps, self.n_genes))
        traj[0] = x0 + noise[0]
        for t in range(1, n_steps):
            xt = traj[t - 1]
            x_pow = np.power(xt, 2)[parent]
            denom = x_pow + thr_pow
            factors = np.where(pad, 1.0, np.where(active, x_pow, thr_pow) / denom)
            terms = factors[:, 0].copy()
            for j in range(1, factors.shape[1]):
                terms *= factors[:, j]
            summed = np.where(child_pad, 0.0, terms[child_terms])
            synth = summed[:, 0].copy()
            for j in range(1, summed.shape[1]):
                synth += summed[:, j]
            diff = np.where(has_parents, self.inv_time_step * (synth - xt), 0.0)
            traj[t] = xt + diff
            traj[t] += noise[t]
        return traj

    def _hill_arrays(self) -> tuple[np.ndarray, ...]:
        """Padded arrays: one row per (gene, true parent state) term, one per gene for the sums."""
        rows = [(i, state) for i, states in enumerate(self.true_states) for state in states]
        width = max([len(p) for p in self.parents] + [1])
        n_terms = max(len(rows), 1)
        parent = np.zeros((n_terms, width), dtype=np.intp)
        thr_pow = np.ones((n_terms, width))
        active = np.zeros((n_terms, width), dtype=bool)
        pad = np.ones((n_terms, width), dtype=bool)
        for r, (i, state) in enumerate(rows):
            for j, (p, on) in enumerate(zip(self.parents[i], state, strict=True)):
                threshold = 0.1 / np.abs(self.coupling[i, p])
                parent[r, j], thr_pow[r, j] = p, np.power(threshold, 2)
                active[r, j], pad[r, j] = on, False
        n_sum = max([len(s) for s in self.true_states] + [1])
        child_terms = np.zeros((self.n_genes, n_sum), dtype=np.intp)
        child_pad = np.ones((self.n_genes, n_sum), dtype=bool)
        for r, (i, _) in enumerate(rows):
            c = int((~child_pad[i]).sum())
            child_terms[i, c], child_pad[i, c] = r, False
        has_parents = np.array([len(p) > 0 for p in self.parents])
        return parent, thr_pow, active, pad, child_terms, child_pad, has_parents

    def model_text(self) -> str:
        """The model as scanpy writes it next to a simulation (``model_<id>.txt``)."""
        lines = [
            '# For each "variable = ", there must be a right hand side: ',
            "# either an empty string or a python-style logical expression ",
            '# involving variable names, "or", "and", "(", ")". ',
            "# The order of equations matters! ",
            "# ",
            f"# modelType = {self.model_type}",
            f"# invTimeStep = {self.inv_time_step}",
            "# ",
            "# boolean update rules: ",
            *(f"{gene} = {rule}" for gene, rule in self.rules.items()),
            "# coupling list: ",
        ]
        for i, j in itertools.product(range(self.n_genes), repeat=2):
            value = self.coupling[i, j]
            if np.abs(value) > 1e-10:
                lines.append(f"{self.names[i]:10} {self.names[j]:10} {value:10.3} ")
        return "\n".join(lines) + "\n"


def _parents(gene: str, rule: str, names: Sequence[str], file: Path) -> tuple[str, ...]:
    found: list[str] = []
    for token in _tokens(rule):
        if token in _OPERATORS:
            continue
        if token not in names:
            msg = f"{file}: the rule of {gene!r} names {token!r}, which is not a gene of the model ({', '.join(names)})"
            raise ValueError(msg)
        if token not in found:
            found.append(token)
    return tuple(found)


def _holds(rule: str, values: dict[str, bool]) -> bool:
    """Evaluate a rule of gene names, ``and``, ``or``, ``not`` and parentheses."""
    expression = " ".join(str(values[t]) if t in values else t for t in _tokens(rule))
    return bool(eval(expression, {"__builtins__": {}}, {}))  # only True/False/and/or/not/()


def read_network(model: str) -> GeneNetwork:
    """Parse ``sim_models/<model>.txt``."""
    file = MODEL_DIR / f"{model}.txt"
    lines = file.read_text().splitlines()
    model_type, inv_time_step = "", 1.0
    rules: dict[str, str] = {}
    split = len(lines)
    for k, line in enumerate(lines):
        if line.startswith(_COUPLING_HEADER):
            split = k
            break
        if line.startswith("#"):
            if "modelType =" in line:
                model_type = line.split("|")[0].split("=")[1].strip()
            if "invTimeStep =" in line:
                inv_time_step = float(line.split("|")[0].split("=")[1].strip())
        elif line.strip():
            gene, rule = (s.strip() for s in line.split("="))
            rules[gene] = rule
    names = tuple(rules)
    index = {name: i for i, name in enumerate(names)}
    coupling = np.zeros((len(names), len(names)))
    for line in lines[split + 1 :]:
        if line.strip() and not line.startswith("#"):
            target, source, value = line.split()
            coupling[index[target], index[source]] = float(value)
    parents = []
    true_states = []
    for gene, rule in rules.items():
        pas = _parents(gene, rule, names, file)
        linked = {names[j] for j in np.flatnonzero(np.abs(coupling[index[gene]]) > 1e-10)}
        if linked != set(pas):
            msg = f"{file}: the couplings of {gene!r} ({sorted(linked)}) differ from the genes of its rule ({sorted(pas)})"
            raise ValueError(msg)
        parents.append(tuple(index[p] for p in pas))
        states = itertools.product((False, True), repeat=len(pas))
        true_states.append(tuple(s for s in states if pas and _holds(rule, dict(zip(pas, s, strict=True)))))
    if model_type != "hill":
        msg = f"{file}: modelType {model_type!r} is not supported (only 'hill')"
        raise ValueError(msg)
    return GeneNetwork(
        file=file,
        names=names,
        rules=rules,
        coupling=coupling,
        model_type=model_type,
        inv_time_step=inv_time_step,
        parents=tuple(parents),
        true_states=tuple(true_states),
    )
