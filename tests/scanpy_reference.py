"""Which scanpy the parity tests compare with (importable: tests/ is on pytest's pythonpath).

The locked environment has scanpy 1.11 and the newest-releases one scanpy 1.12; a parity
test whose reference changed between them says so with :data:`SCANPY_1_12`, and the README
lists each change scsnake does not follow ("Differences from scanpy").
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from packaging.version import Version

__all__ = ["SCANPY_1_12", "scanpy_at_least"]


def scanpy_at_least(release: str) -> bool:
    """True if the installed scanpy is ``release`` or newer (False without scanpy: its tests skip)."""
    try:
        installed = Version(version("scanpy"))
    except PackageNotFoundError:
        return False
    return installed >= Version(release)


#: scanpy ≥ 1.12 is the reference (the newest-releases environment).
SCANPY_1_12 = scanpy_at_least("1.12")
