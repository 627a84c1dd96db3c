"""The allocator setting veco-fit applies at start (veco_lightning.memory)."""

import sys

import pytest

from veco_lightning.memory import fix_heap_growth


@pytest.mark.skipif(sys.platform != "linux", reason="glibc only")
def test_fixes_the_threshold_unless_the_user_chose(monkeypatch):
    monkeypatch.delenv("VECO_GLIBC_DEFAULTS", raising=False)
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    assert fix_heap_growth() is True
    monkeypatch.setenv("VECO_GLIBC_DEFAULTS", "1")
    assert fix_heap_growth() is False
    monkeypatch.delenv("VECO_GLIBC_DEFAULTS")
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")  # the user's own setting wins
    assert fix_heap_growth() is False
