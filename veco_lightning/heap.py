"""Python's cyclic garbage collector around the data-preparation hot paths.

Reading a dictionary, building its index and tokenising and mining a corpus allocate millions of containers that are
freed by reference counting alone (none of this code builds reference cycles). The cyclic collector does not know
that: every 700 allocations it walks the young objects, and now and then a full collection walks every tracked
object of the process (the imported libraries' 10^5 functions, a loaded dictionary's 10^5 sets). These tools keep
it out of the way without turning it off for the user's program:

* :func:`cycles_paused`: no collection inside the block (one map batch);
* :func:`long_lived`: the same for building a long-lived structure (a dictionary, its index), which inside a frozen
  heap is frozen too;
* :func:`frozen_heap`: the objects alive when the block starts are left out of full collections during it;
* :func:`freeze_once_in_worker`: the same for the life of a worker process (a ``num_proc`` map worker).
"""

from __future__ import annotations

import contextlib
import gc
import os
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


_FREEZING: list[int] = []  # the processes in a frozen_heap block or a worker frozen by freeze_once_in_worker


@contextlib.contextmanager
def long_lived() -> Iterator[None]:
    """:func:`cycles_paused` for a block that builds structures meant to live on (a dictionary, its index). Inside
    :func:`frozen_heap` or a worker of :func:`freeze_once_in_worker`, what the block made is frozen at its end as
    well: otherwise the first young-generation collections after it walk every object it made (10^5 sets; 5-55 ms
    each, about 0.5 s over NTREX's 10 dictionaries), though none of them can be garbage yet. What the block made is
    freed by reference counting as usual; only a reference cycle among it would wait for the thaw."""
    with cycles_paused():
        yield
        if os.getpid() in _FREEZING:  # not gc.get_freeze_count(): it walks every frozen object (1.5 s on NTREX)
            gc.freeze()


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """Leave the objects alive now out of the cyclic collector's full collections for the block (``gc.freeze``,
    then ``gc.unfreeze``; nothing changes if the collector is off or something is frozen already).

    Between the map batches of a data preparation, ``datasets``' writing still triggers full collections. Each
    walks every tracked object of the process, though none of those alive before the preparation can become
    garbage during it; frozen, a full collection walks only what was made since."""
    if not gc.isenabled() or os.getpid() in _FREEZING or gc.get_freeze_count():  # (the count walks the frozen)
        yield
        return
    gc.freeze()
    _FREEZING.append(os.getpid())
    try:
        yield
    finally:
        _FREEZING.remove(os.getpid())
        gc.unfreeze()


_FROZEN_IN: int | None = None  # the worker process that went through freeze_once_in_worker


def freeze_once_in_worker(owner: int) -> None:
    """In a process other than ``owner`` (a worker forked or spawned by it), freeze the objects alive now, once for
    the worker's life; in ``owner`` itself, do nothing (:func:`frozen_heap` covers it for a block).

    A worker's first call comes after it has received its function and data (a loaded dictionary among them): those
    stay alive until the worker ends and can never become garbage, so its full collections need not walk them."""
    global _FROZEN_IN
    pid = os.getpid()
    if pid != owner and _FROZEN_IN != pid:
        # Checked once per worker, never by gc.get_freeze_count(): a forked worker inherits its parent's frozen
        # objects, and counting them walks them all (50-60 ms a call at 6x10^5 objects). The worker lives for the
        # map only, so freezing on top of an inherited freeze is harmless.
        _FROZEN_IN = pid
        if gc.isenabled():
            gc.freeze()
            _FREEZING.append(pid)
