"""The declaration of a workflow stage: everything the workflow knows about it, in one place.

The runner, the rules' inputs and job arguments (``common.smk``) and the lean-artifact policy
are generic code over these declarations: adding a stage means writing its function, its
declaration, its rule and its config section, and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["MatrixParts", "Stage", "StageKind"]

#: What a job reads of a lean input's matrix: nothing, ``X`` only, or ``X`` and the layers.
MatrixParts = Literal["X", "all"] | None
#: ``source``: reads a sample's input (``load``); ``gather``: the ``after`` artifact of every
#: sample (``merge``); ``artifact``: an AnnData in, an AnnData artifact out; ``figures``: writes
#: figures into a directory; ``table``: its function returns a table, written as its output CSV.
StageKind = Literal["source", "gather", "artifact", "figures", "table"]


@dataclass(frozen=True)
class Stage:
    """A workflow stage: its config section's model, its function and its place in the DAG.

    The stage's name is its rule's, its config section's and its artifact's
    (``results/<sample>/<name>.<format>``).
    """

    name: str
    params: Any
    """The pydantic model (or annotated union of models) of what the job runs with."""
    func: Callable[..., Any]
    after: tuple[str, ...] = ()
    """Upstream stages whose artifacts this stage reads; the first is the main input."""
    route: Callable[[Any], list[str]] | None = None
    """``route(config) -> upstream stages`` where the config decides them (else ``after``)."""
    kind: StageKind = "artifact"
    needs: tuple[str, ...] = ()
    """Slots the main input must have, as ``"<attr>/<key>"`` (e.g. ``"obsp/connectivities"``)."""
    writes: tuple[str, ...] = ()
    """Slots it writes that later stages need (named in their "missing" errors)."""
    seeded: bool = False
    """Takes ``random_state`` (default: the config's top-level ``seed``)."""
    optional: bool = False
    """Off unless its section says ``enabled: true``; its results join ``final``."""
    table: Callable[[AnnData, Any], Any] | None = None
    """``table(adata, params) -> DataFrame`` written next to the artifact as ``<table_name>.csv``."""
    table_name: str | None = None
    view: Callable[[AnnData, Any], Any] | None = None
    """``view(adata, params) -> DataFrame``: what the table's HTML view shows, where that is not
    the whole table (``de``: each group's top genes and the groups left out)."""
    aggregates: bool = False
    """Its output's rows are groups of the input's cells (``pseudobulk``), so fewer rows than
    input cells is no loss of cells (no :class:`~scsnake.errors.CellLossWarning`)."""
    keeps_matrix: bool = False
    """Never changes ``X`` or ``layers``: writes a lean artifact that points to the matrix."""
    reads: MatrixParts | Callable[[AnnData, Any], MatrixParts] = "all"
    """What it reads of a lean input's matrix (a function of the input and its params where
    that depends on them); None: only obs/obsm/obsp/uns, so a lean input stays lean."""
    reads_counts: bool = False
    """May read the raw counts layer (the rule then lists the artifact that holds it)."""
    input_as_counts: bool = False
    """Keeps its input's ``X`` as its counts layer, stored as a pointer to that artifact."""
    copies_matrix: bool = False
    """Writes a lean input's matrix in full, copied file to file rather than read."""
    section: str | None = None
    """The config section it runs with, where that is not its name (``qc_plots``: ``plots``)."""
    derive: Callable[[Any, dict[str, Any], str | None], dict[str, Any]] | None = None
    """``derive(config, values, sample) -> values``: what the sample sheet and other sections
    decide for this stage (a sample's QC overrides, the batch key under merge and integration),
    filled into its parameters, and so into its provenance and its rerun trigger."""
    library: Any = None
    """The params model of the library function the stage calls: the section's shared fields
    must be at least as strict (``tests/workflow/test_config_vs_library.py`` checks it)."""

    def upstream(self, config: Any) -> list[str]:
        """The stages whose artifacts this stage reads under ``config`` (the first is the main one)."""
        return list(self.route(config)) if self.route is not None else list(self.after)

    def matrix_parts(self, adata: AnnData, params: Any) -> MatrixParts:
        """What this job reads of its lean input's matrix: None, ``"X"`` or ``"all"``."""
        return self.reads(adata, params) if callable(self.reads) else self.reads

    @property
    def reads_matrix(self) -> bool:
        """Whether it may read the matrix at all (from a lean input: from the artifact holding it)."""
        return self.reads is not None
