"""Warnings a workflow stage raised: caught while it runs, logged, kept in its provenance.

A job never fails on a warning, and a warning must not stay buried in a job's log: the
runner wraps each stage in :func:`recording_warnings`, so every scsnake warning
(:class:`~scsnake.errors.ScsnakeWarning`) the stage, its library functions or its reader
raised is listed in ``uns['scsnake']['provenance'][<stage>]['warnings']`` (and logged as
before). The
run summary (:mod:`scsnake.stages._summary`) and the end of a Snakemake run show them.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .errors import CellLossWarning, ScsnakeWarning

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["KEPT_FRACTION", "RecordedWarnings", "recording_warnings", "warn_cell_loss"]

#: A stage that keeps less than this fraction of its input's cells warns (CellLossWarning).
KEPT_FRACTION = 0.5


class RecordedWarnings(list[tuple[type[Warning], str]]):
    """The ``(category, message)`` of each scsnake warning raised, in order."""

    def messages(self) -> list[str]:
        """The messages, each once, in order: what the provenance record keeps."""
        return list(dict.fromkeys(message for _, message in self))

    def has(self, category: type[Warning]) -> bool:
        """Whether a warning of ``category`` (or a subclass) was raised."""
        return any(issubclass(found, category) for found, _ in self)


@contextmanager
def recording_warnings() -> Iterator[RecordedWarnings]:
    """Record every :class:`~scsnake.errors.ScsnakeWarning` raised inside.

    Each one is recorded every time it is raised: never turned into an error by a warnings
    filter, never suppressed as a repeat. Every warning is still shown as before (the CLI
    logs warnings, so they are in the job's log).
    """
    recorded = RecordedWarnings()
    with warnings.catch_warnings():
        warnings.simplefilter("always", ScsnakeWarning)
        shown = warnings.showwarning

        def show(message: Any, category: type[Warning], *args: Any, **kwargs: Any) -> None:
            if issubclass(category, ScsnakeWarning):
                recorded.append((category, str(message)))
            shown(message, category, *args, **kwargs)

        warnings.showwarning = show
        yield recorded


def warn_cell_loss(
    stage: str, n_cells_in: int, n_cells_kept: int, *, causes: str = "", hint: str = ""
) -> None:
    """Warn (:class:`~scsnake.errors.CellLossWarning`) if ``stage`` kept less than
    :data:`KEPT_FRACTION` of its input's cells.

    Parameters
    ----------
    stage
        The stage's name, which starts the message.
    n_cells_in, n_cells_kept
        Cells of its input and of its output.
    causes
        What removed them (``"qc.min_genes=200 removed 9,986"``).
    hint
        What to check; by default, whether the stage's thresholds fit the sample.
    """
    if n_cells_in == 0 or n_cells_kept >= KEPT_FRACTION * n_cells_in:
        return
    removed = n_cells_in - n_cells_kept
    hint = hint or f"check that the thresholds of {stage} fit this sample"
    msg = (
        f"{stage} kept {n_cells_kept:,} of {n_cells_in:,} cells ({n_cells_kept / n_cells_in:.1%}; "
        f"{removed:,} removed){': ' + causes if causes else ''}. {hint}"
    )
    warnings.warn(msg, CellLossWarning, stacklevel=2)
