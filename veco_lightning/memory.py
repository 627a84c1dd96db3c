"""The C allocator of training processes (glibc on Linux).

PyTorch on CPU allocates tensors with ``malloc``. glibc serves a request of at least its *mmap threshold* (128 KiB
at start) with a fresh ``mmap`` that ``free`` returns to the system, but every such ``free`` raises the threshold
to the freed size, up to 32 MiB. After the first steps, activations and gradients of a few MiB therefore come from
the heap, and when the batch shape changes every step (parallel batches are bucketed by length, the TLM share
varies) the heap's free holes rarely fit the next request: the process's anonymous memory keeps growing although
nothing is held (fragmentation, not a leak). Fixing the threshold (which disables its adjustment) keeps large
buffers on ``mmap``, returned after every step, at the cost of a page fault per fresh page.

``veco-fit`` and ``veco-xtreme`` call :func:`fix_heap_growth` at start. ``VECO_GLIBC_DEFAULTS=1`` keeps glibc's
defaults; a ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` set in the environment is respected.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 1 << 20  # bytes: buffers of 1 MiB or more get their own mapping


def fix_heap_growth(threshold: int = MMAP_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold at ``threshold`` bytes (and the trim threshold at twice it) in this process and
    the processes it forks. Returns whether it did (only on Linux with glibc, unless the user chose otherwise)."""
    if sys.platform != "linux" or os.environ.get("VECO_GLIBC_DEFAULTS") == "1":
        return False
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other C libraries have no mallopt
        return False
    done = mallopt(_M_MMAP_THRESHOLD, threshold) == 1 and mallopt(_M_TRIM_THRESHOLD, 2 * threshold) == 1
    if done:
        log.debug("glibc mmap threshold fixed at %d bytes", threshold)
    return done
