"""Optional packages of the wrappers: imported on first use, with the extra that installs them named."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from scsnake.errors import ScsnakeError

if TYPE_CHECKING:
    from types import ModuleType

__all__ = ["MissingExtraError", "import_extra"]


class MissingExtraError(ScsnakeError, ImportError):
    """A wrapper's optional package is not installed; the message names the extra to install."""


def import_extra(module: str, extra: str, *, what: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError` saying ``pip install 'scsnake[<extra>]'``.

    ``what`` is the function that needs the package (the start of the message).
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        msg = (
            f"{what} needs the optional package {module!r}: pip install 'scsnake[{extra}]' "
            f"(importing it failed: {err})"
        )
        raise MissingExtraError(msg, name=module) from err
