"""``tl.pca`` is ``pp.pca``, as in scanpy (the PBMC 3k tutorial calls ``sc.tl.pca``).

Its results against scanpy's are tested with ``pp.pca`` in tests/parity/test_hvg_pca_parity.py.
"""

from __future__ import annotations

import pytest

import scsnake as ss


def test_tl_pca_is_pp_pca() -> None:
    assert ss.tl.pca is ss.pp.pca
    assert "pca" in ss.tl.__all__


@pytest.mark.parity
def test_scanpy_aliases_it_too() -> None:
    sc = pytest.importorskip("scanpy")
    assert sc.tl.pca is sc.pp.pca
