"""The garbage-collector tools of data preparation leave the process as they found it."""

import gc
import multiprocessing

import pytest

from veco_lightning.data.cache import PausedCycleCollection
from veco_lightning.heap import cycles_paused, frozen_heap, long_lived


@pytest.fixture(autouse=True)
def _collector_restored():
    enabled, frozen = gc.isenabled(), gc.get_freeze_count()
    yield
    assert gc.isenabled() == enabled and gc.get_freeze_count() == frozen
    gc.enable()


def test_cycles_paused_restores_the_collector_also_on_error():
    with cycles_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), cycles_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()
    gc.disable()
    with cycles_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()  # off before, off after
    gc.enable()


def test_frozen_heap_freezes_for_the_block_only():
    keep = [[] for _ in range(100)]
    with frozen_heap():
        assert gc.get_freeze_count() >= len(keep)
    assert gc.get_freeze_count() == 0
    with pytest.raises(RuntimeError), frozen_heap():
        raise RuntimeError("boom")
    assert gc.get_freeze_count() == 0


def test_frozen_heap_leaves_a_freeze_of_the_caller_alone():
    gc.freeze()
    try:
        before = gc.get_freeze_count()
        # A frozen object that dies meanwhile (another test's thread finishing, say) leaves the count, so it may
        # fall by a few; an unfreeze would take it to 0 and a second freeze would raise it.
        with frozen_heap():
            assert 0.99 * before <= gc.get_freeze_count() <= before
        assert 0.99 * before <= gc.get_freeze_count() <= before  # not unfrozen by the block
    finally:
        gc.unfreeze()


def _call_in_child(function, queue):
    result = function({"x": [1]})
    queue.put((result, gc.get_freeze_count() > 0, gc.isenabled()))


def _identity(batch):
    assert not gc.isenabled()  # paused during the batch
    return batch


def test_paused_cycle_collection_pauses_per_batch_and_freezes_in_a_worker():
    wrapped = PausedCycleCollection(_identity)
    assert wrapped({"x": [1]}) == {"x": [1]}
    assert gc.isenabled() and gc.get_freeze_count() == 0  # the creating process: nothing frozen
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_call_in_child, args=(wrapped, queue))
    child.start()
    result, frozen, enabled = queue.get(timeout=60)
    child.join(timeout=60)
    assert result == {"x": [1]} and frozen and enabled


def test_long_lived_freezes_what_it_made_only_inside_a_frozen_heap():
    with long_lived():
        assert not gc.isenabled()
        outside = [[] for _ in range(1000)]
    assert gc.isenabled() and gc.get_freeze_count() == 0  # no frozen heap: a pause, nothing frozen
    with frozen_heap():
        before = gc.get_freeze_count()
        with long_lived():
            made = [[] for _ in range(1000)]
        assert gc.get_freeze_count() >= before + len(made)  # frozen at the end of the block
    assert gc.get_freeze_count() == 0  # and thawed with the heap
    del outside, made
