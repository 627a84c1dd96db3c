"""Callbacks for the reliability tests' child processes (imported by class path; tests/helpers is on PYTHONPATH):
they announce a point of the run in a file and wait there, so that the test can kill the process at that point."""

from __future__ import annotations

import os
import time

import torch
from lightning import Callback


def _announce_and_wait(marker: str) -> None:
    with open(marker, "w") as handle:
        handle.write(str(os.getpid()))
    while True:  # the test sends SIGKILL
        time.sleep(1)


class PauseAtStep(Callback):
    """Stops in the middle of training step ``step`` (after its forward pass) and waits to be killed."""

    def __init__(self, step: int = 1, marker: str = "paused") -> None:
        self.step, self.marker = step, marker

    def on_before_backward(self, trainer, pl_module, loss) -> None:
        if trainer.global_step + 1 == self.step:
            _announce_and_wait(self.marker)


class PauseInSave(Callback):
    """From checkpoint ``save`` on, ``torch.save`` writes half of the checkpoint, flushes it, and waits to be killed:
    a kill in the middle of writing a checkpoint."""

    def __init__(self, save: int = 2, marker: str = "paused") -> None:
        self.save, self.marker, self.count = save, marker, 0

    def setup(self, trainer, pl_module, stage) -> None:
        original = torch.save

        def half_then_wait(obj, f, *args, **kwargs):
            self.count += 1
            if self.count < self.save or not hasattr(f, "write"):
                return original(obj, f, *args, **kwargs)
            import io

            buffer = io.BytesIO()
            original(obj, buffer, *args, **kwargs)
            data = buffer.getvalue()
            f.write(data[: len(data) // 2])
            f.flush()
            _announce_and_wait(self.marker)

        torch.save = half_then_wait
