"""Exception and warning classes: every problem a user can fix has its own class."""

from __future__ import annotations

__all__ = [
    "AdjustedParamWarning",
    "CellLossWarning",
    "ConfigError",
    "DataWarning",
    "EmptyGeneSetWarning",
    "InputDataError",
    "MissingKeyError",
    "ParamError",
    "ScsnakeError",
    "ScsnakeWarning",
]


class ScsnakeError(Exception):
    """A problem the user can fix; the CLI shows it without a traceback."""


class ConfigError(ScsnakeError, ValueError):
    """The workflow configuration is invalid; the message lists every problem."""


class ParamError(ScsnakeError, ValueError):
    """A bad argument to a library function."""


class InputDataError(ScsnakeError, ValueError):
    """Unreadable file, bad shape, wrong kind of values."""


class MissingKeyError(InputDataError, KeyError):
    """A prerequisite slot (layer, obs column, obsm key…) is absent."""

    __str__ = Exception.__str__  # KeyError would quote the message


class ScsnakeWarning(UserWarning):
    """Base class of scsnake's warnings."""


class DataWarning(ScsnakeWarning):
    """Suspicious but allowed data (e.g. cells with zero counts)."""


class AdjustedParamWarning(ScsnakeWarning):
    """A parameter was impossible for the data and was adjusted automatically."""


class CellLossWarning(DataWarning):
    """A stage removed more than half of its input's cells (thresholds that may not fit the data)."""


class EmptyGeneSetWarning(DataWarning):
    """A gene set (``qc.qc_vars``) matches none of the genes: its percentage is 0 in every cell."""
