"""Two-process tests on the CPU: :func:`spawn` runs a worker in ``world_size`` processes joined by a gloo process
group, and fails the test when they do not finish in time."""

from __future__ import annotations

import os
import socket
import sys
import time

import pytest
import torch.distributed as dist
import torch.multiprocessing as mp


def spawn(worker, args: tuple = (), world_size: int = 2, seconds: float = 240, init: bool = True) -> None:
    """Run ``worker(rank, world_size, *args)`` in ``world_size`` processes.

    ``init=False`` leaves the process group to the worker (DeepSpeed creates its own from the ``MASTER_*``, ``RANK``
    and ``WORLD_SIZE`` variables set here). A worker that raises fails the test with its traceback.
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    context = mp.spawn(_run, args=(world_size, port, init, worker, args), nprocs=world_size, join=False)
    deadline = time.monotonic() + seconds
    while not context.join(timeout=5):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.terminate()
            pytest.fail(f"the {world_size} gloo workers did not finish within {seconds} s")


def _run(rank, world_size, port, init, worker, args):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(world_size))
    if init:
        dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        worker(rank, world_size, *args)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    # A worker that finished leaves without the interpreter's teardown: there, torch 2.13's gloo threads are
    # occasionally destroyed while still joinable ("terminate called without an active exception", SIGABRT), which
    # failed a CI run after every rank had done its work.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
