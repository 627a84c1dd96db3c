"""Training callbacks."""

from __future__ import annotations

import time
from typing import Any

from lightning import Callback, LightningModule, Trainer


def encoder_tokens(batch: dict[str, Any]) -> int:
    """Non-pad tokens that go through the encoder for a batch: every view of every objective counts."""
    total = 0
    for inputs in batch.values():
        if "attention_mask" in inputs:
            total += int(inputs["attention_mask"].sum())
        else:  # pairs: one forward over both sides
            total += sum(int(inputs[side]["attention_mask"].sum()) for side in ("src", "tgt"))
    return total


class EncoderThroughput(Callback):
    """Logs encoder tokens per second (``train/encoder_tokens_per_s``, per device) and prints the run's figure.

    The first ``warmup_steps`` steps (allocator warm-up, first batches) are left out of the summary, and so is time
    spent outside training batches (validation, checkpointing).

    Args:
        warmup_steps: steps excluded from the summary.
    """

    def __init__(self, warmup_steps: int = 10) -> None:
        self.warmup_steps = warmup_steps
        self.tokens = 0
        self.seconds = 0.0
        self._start = 0.0

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int) -> None:
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        elapsed = time.perf_counter() - self._start
        tokens = encoder_tokens(batch)
        pl_module.log("train/encoder_tokens_per_s", tokens / max(elapsed, 1e-9), on_step=True, on_epoch=False)
        if trainer.global_step > self.warmup_steps:
            self.tokens += tokens
            self.seconds += elapsed

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.seconds and trainer.is_global_zero:
            print(f"Encoder throughput: {self.tokens / self.seconds:.0f} tokens/s per device "
                  f"({self.tokens} tokens in {self.seconds:.1f} s of training steps after {self.warmup_steps} warm-up)")
