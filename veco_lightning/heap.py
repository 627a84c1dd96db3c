"""Python's cyclic garbage collector around the data-preparation hot paths.

Reading a dictionary, building its index and tokenising and mining a corpus allocate millions of containers that are
freed by reference counting alone (none of this code builds reference cycles). The cyclic collector does not know
that: every 700 allocations it walks the young objects, and now and then a full collection walks every tracked
object of the process (the imported libraries' 10^5 functions, a loaded dictionary's 10^5 sets). Two tools keep
it out of the way without turning it off for the user's program:

* :func:`cycles_paused`: no collection inside the block (building a long-lived structure, one map batch);
* :func:`frozen_heap`: the objects alive when the block starts are left out of full collections during it.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def cycles_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the block (it stays as it was if it was off)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """Leave the objects alive now out of the cyclic collector's full collections for the block (``gc.freeze``,
    then ``gc.unfreeze``; nothing changes if the collector is off or something is frozen already).

    Between the map batches of a data preparation, ``datasets``' writing still triggers full collections. Each
    walks every tracked object of the process, though none of those alive before the preparation can become
    garbage during it; frozen, a full collection walks only what was made since."""
    if not gc.isenabled() or gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
