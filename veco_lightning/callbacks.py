"""Training callbacks."""

from __future__ import annotations

import json
import os
import random
import sys
import time
from typing import Any

import numpy as np
import torch
from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import BasePredictionWriter

from veco_lightning.flops import batch_flops, head_weights
from veco_lightning.logs import run_log_dir


def encoder_tokens(batch: dict[str, Any]) -> int:
    """Non-pad tokens that go through the encoder for a batch: every view of every objective counts."""
    total = 0
    for inputs in batch.values():
        if "attention_mask" in inputs:
            total += int(inputs["attention_mask"].sum())
        else:  # pairs: one forward over both sides
            total += sum(int(inputs[side]["attention_mask"].sum()) for side in ("src", "tgt"))
    return total


def _flops(per_second: float) -> str:
    """E.g. ``28.8 GFLOP/s``, ``412 TFLOP/s``."""
    return f"{per_second / 1e12:.3g} TFLOP/s" if per_second >= 1e12 else f"{per_second / 1e9:.3g} GFLOP/s"


def wait_for_device(device: torch.device | None) -> None:
    """Wait for the work queued on ``device`` if it is a GPU: its kernels run after the Python that launched them has
    returned, so a clock read at the end of a step would miss them (Lightning's ``ThroughputMonitor`` synchronises
    likewise)."""
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)


def _root_device(trainer: Any) -> torch.device | None:
    return getattr(getattr(trainer, "strategy", None), "root_device", None)


def _head_weights(pl_module: Any) -> tuple[int, int]:
    """The sequence and token heads' projection weights (:func:`~veco_lightning.flops.head_weights`)."""
    return head_weights(getattr(pl_module, "seq_head", None)), head_weights(getattr(pl_module, "tok_head", None))


class EncoderThroughput(Callback):
    """Logs encoder tokens per second (``train/encoder_tokens_per_s``, per device) and prints the run's figures:
    tokens/s, model FLOP/s (:mod:`veco_lightning.flops`) and, given the device's peak, the model FLOPs utilisation
    (``train/mfu``); the share of wall time spent between steps (waiting for the loader, hooks, logging) and the
    padding share of every input kind (``mmlm``, ``tlm``, ``pairs``).

    The first ``warmup_steps`` steps (allocator warm-up, first batches) are left out of the summary, and so is time
    spent outside training batches (validation, checkpointing).

    Args:
        warmup_steps: steps excluded from the summary.
        peak_flops: the device's peak FLOP/s in the run's precision (e.g. measured by ``benchmarks/mfu.py``, or a
            data-sheet figure); with it the MFU is logged and printed.
        output: a JSON file to write the figures to when ``fit`` ends (rank 0), for scripts.
    """

    def __init__(self, warmup_steps: int = 10, peak_flops: float | None = None, output: str | None = None) -> None:
        self.warmup_steps = warmup_steps
        self.peak_flops = peak_flops
        self.output = output
        self.tokens = 0  # timed, after warm-up
        self.seconds = 0.0
        self.flops = 0.0
        self.wait_seconds = 0.0  # between the end of a timed step and the start of the next one
        self.total_tokens = 0  # every step of this fit, per device
        self.slots: dict[str, list[int]] = {}  # input kind -> [non-pad positions, positions]
        self._start = 0.0
        self._last_end: float | None = None
        self._heads: tuple[int, int] | None = None  # the heads' weights, counted before a strategy shards them

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        self._heads = _head_weights(pl_module)

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int) -> None:
        wait_for_device(_root_device(trainer))
        self._start = time.perf_counter()
        if self._last_end is not None and trainer.global_step > self.warmup_steps:
            self.wait_seconds += self._start - self._last_end

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        wait_for_device(_root_device(trainer))
        end = time.perf_counter()
        elapsed = end - self._start
        tokens = encoder_tokens(batch)
        pl_module.log("train/encoder_tokens_per_s", tokens / max(elapsed, 1e-9), on_step=True, on_epoch=False)
        self.total_tokens += tokens
        for kind, inputs in batch.items():
            masks = [inputs["attention_mask"]] if "attention_mask" in inputs else [inputs[s]["attention_mask"]
                                                                                   for s in ("src", "tgt")]
            counts = self.slots.setdefault(kind, [0, 0])
            counts[0] += sum(int(m.sum()) for m in masks)
            # Positions as the encoder runs them: the two sides of pairs go through it as one batch padded to the
            # longer side (``module.join_sides``).
            counts[1] += sum(m.shape[0] for m in masks) * max(m.shape[1] for m in masks)
        if trainer.global_step > self.warmup_steps:
            self.tokens += tokens
            self.seconds += elapsed
            config = getattr(getattr(pl_module, "encoder", None), "config", None)
            if config is not None:
                heads = self._heads if self._heads is not None else _head_weights(pl_module)
                flops = batch_flops(config, batch, *heads, trainer.world_size)
                self.flops += flops
                if self.peak_flops:
                    pl_module.log("train/mfu", flops / max(elapsed, 1e-9) / self.peak_flops, on_step=True,
                                  on_epoch=False)
        self._last_end = time.perf_counter()

    def figures(self) -> dict[str, Any]:
        """The timed figures: tokens/s, model FLOP/s, MFU (or None), wait share, padding share per input kind."""
        seconds = self.seconds or float("nan")
        flops_per_s = self.flops / seconds if self.flops else None
        return {"tokens_per_s": self.tokens / seconds, "model_flops_per_s": flops_per_s,
                "mfu": flops_per_s / self.peak_flops if flops_per_s and self.peak_flops else None,
                "wait_share": self.wait_seconds / (self.wait_seconds + seconds),
                "padding_share": {kind: 1 - real / total for kind, (real, total) in self.slots.items() if total}}

    def describe(self) -> list[str]:
        """Lines for the console (empty before the first timed step)."""
        if not self.seconds:
            return []
        f = self.figures()
        lines = [f"{f['tokens_per_s']:,.0f} tokens/s per device (training steps after {self.warmup_steps} warm-up "
                 "steps)"]
        if f["model_flops_per_s"]:
            line = f"model {_flops(f['model_flops_per_s'])} per device"
            if f["mfu"] is not None:
                line += f", MFU {100 * f['mfu']:.1f}% of {_flops(self.peak_flops)}"
            lines.append(line)
        padding = ", ".join(f"{kind} {100 * share:.1f}%" for kind, share in sorted(f["padding_share"].items()))
        lines.append(f"time between steps (loader wait, hooks) {100 * f['wait_share']:.1f}%; padding {padding}")
        return lines

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.output and self.seconds and trainer.is_global_zero:
            with open(self.output, "w") as handle:
                json.dump({**self.figures(), "tokens": self.tokens, "seconds": self.seconds,
                           "warmup_steps": self.warmup_steps, "peak_flops": self.peak_flops}, handle, indent=1)
        summary = any(isinstance(c, RunSummary) for c in trainer.callbacks)  # which prints the figures itself
        if self.seconds and trainer.is_global_zero and not summary:
            first, *rest = self.describe()
            print("\n".join([f"Encoder throughput: {first}, {self.tokens} tokens in {self.seconds:.1f} s",
                             *(f"  {line}" for line in rest)]))


class RandomStates(Callback):
    """Saves every random state in checkpoints and restores it when a run resumes, so that it continues exactly.

    Masks come from generators seeded by the batch (``data/masking.py``) and loaders and samplers have generators of
    their own, so the global states are consumed by the model alone (dropout). What is saved at a checkpoint, after
    step ``n``, is therefore what step ``n + 1`` starts from; a resumed run puts it back right before its first
    training step (after the sanity check and the loaders' start, which must not shift it). Each rank keeps its own
    states: torch (CPU and every CUDA device), NumPy and Python's ``random``.
    """

    def __init__(self) -> None:
        self._restore: dict[str, Any] | None = None
        self._trainer: Trainer | None = None

    @staticmethod
    def _capture() -> dict[str, Any]:
        """This rank's states, as tensors and plain values only (checkpoints load with ``weights_only``)."""
        kind, keys, position, has_gauss, gauss = np.random.get_state()
        state = {"torch": torch.get_rng_state(),
                 "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, gauss),
                 "python": random.getstate()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def state_dict(self) -> dict[str, Any]:
        trainer = self._trainer
        if trainer is None or trainer.world_size == 1:
            return {"ranks": [self._capture()]}
        gathered: list[Any] = [None] * trainer.world_size
        torch.distributed.all_gather_object(gathered, self._capture())
        return {"ranks": gathered}

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        self._trainer = trainer

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._restore = state_dict

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int) -> None:
        if self._restore is None:
            return
        ranks = self._restore["ranks"]
        if len(ranks) != trainer.world_size:
            raise RuntimeError(f"The checkpoint holds the random states of {len(ranks)} rank(s) and this run has "
                               f"{trainer.world_size}: resume with the same number of devices for an exact resume")
        state = ranks[trainer.global_rank]
        torch.set_rng_state(state["torch"])
        kind, keys, position, has_gauss, gauss = state["numpy"]
        np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, gauss))
        random.setstate(state["python"])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])
        self._restore = None


def _short(name: str) -> str:
    """``train/mmlm_loss`` -> ``mmlm``, ``train/loss`` -> ``loss``, ``train/grad_norm`` -> ``grad_norm``."""
    name = name.split("/", 1)[-1]
    return name[: -len("_loss")] if name.endswith("_loss") else name


class ProgressLog(Callback):
    """A progress line that reads well in a terminal and in a log file: when the output is not a terminal (``tee``,
    ``nohup``, SLURM), where a progress bar draws nothing useful, one plain line every ``every_n_steps`` steps:

        step 250/1500 (17%)  loss 12.46  mmlm 6.17 seq 0.32 tlm 5.87 tok 0.10  lr 1.9e-03  grad 0.84  4,102 tok/s

    In a terminal Lightning's bar stays and this callback stays quiet (``always: true`` prints the lines there too).
    Out of a terminal the bar is switched off: it would draw one frame at the very end.

    Args:
        every_n_steps: steps between two lines.
        always: print the lines in a terminal too.
    """

    def __init__(self, every_n_steps: int = 50, always: bool = False) -> None:
        self.every_n_steps = every_n_steps
        self.always = always
        self._start = 0.0

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if not sys.stdout.isatty() and trainer.progress_bar_callback is not None:
            trainer.progress_bar_callback.disable()

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._start = time.perf_counter()
        self._first = trainer.global_step

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        step = trainer.global_step
        if not trainer.is_global_zero or step % self.every_n_steps or not (self.always or not sys.stdout.isatty()):
            return
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("train/")}
        total = trainer.max_steps if trainer.max_steps and trainer.max_steps > 0 else None
        parts = [f"step {step}" + (f"/{total} ({100 * step / total:.0f}%)" if total else "")]
        if "train/loss" in metrics:
            parts.append(f"loss {metrics['train/loss']:.4g}")
        objectives = [f"{_short(k)} {v:.3g}" for k, v in sorted(metrics.items())
                      if k.endswith("_loss") and k != "train/loss"]
        if objectives:
            parts.append(" ".join(objectives))
        if trainer.optimizers:  # read from the optimizer: LearningRateMonitor writes to loggers only
            parts.append(f"lr {trainer.optimizers[0].param_groups[0]['lr']:.2e}")
        if "train/grad_norm" in metrics:
            parts.append(f"grad {metrics['train/grad_norm']:.3g}")
        if "train/encoder_tokens_per_s" in metrics:
            parts.append(f"{metrics['train/encoder_tokens_per_s']:,.0f} tok/s")
        elapsed = time.perf_counter() - self._start
        done = step - self._first
        if total and done > 0:
            eta = elapsed / done * (total - step)
            parts.append(f"eta {int(eta // 60)}:{int(eta % 60):02d}")
        print("  ".join(parts), flush=True)


class RunSummary(Callback):
    """A short summary when ``fit`` ends: steps, encoder tokens, time, the last loss of every objective, skipped
    non-finite steps, and where the checkpoints and the export are."""

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._start = time.perf_counter()
        self._first = trainer.global_step

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._first = trainer.global_step  # after a resume's checkpoint is restored (on_fit_start comes before it)

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        seconds = time.perf_counter() - self._start
        steps = trainer.global_step - self._first
        lines = [f"Run summary: {steps} steps in {seconds / 60:.1f} min (global step {trainer.global_step})"]
        throughput = next((c for c in trainer.callbacks if isinstance(c, EncoderThroughput)), None)
        if throughput is not None:
            figures = throughput.describe()
            line = f"  encoder tokens: {throughput.total_tokens:,} per device"
            lines.append(line + (f", {figures[0]}" if figures else ""))
            lines.extend(f"  {line}" for line in figures[1:])
        for split in ("train", "val"):
            losses = {_short(k): float(v) for k, v in trainer.callback_metrics.items()
                      if k.startswith(f"{split}/") and k.endswith("loss")}
            if losses:
                lines.append(f"  last {split} losses: " + ", ".join(f"{k} {v:.4g}" for k, v in sorted(losses.items())))
        skipped = getattr(pl_module, "skipped_steps", 0)
        if skipped:
            lines.append(f"  skipped steps (non-finite loss): {skipped}")
        checkpoint = trainer.checkpoint_callback
        if checkpoint is not None and (saved := checkpoint.last_model_path or checkpoint.best_model_path):
            lines.append(f"  checkpoint: {saved}")
        export = next((c for c in trainer.callbacks if getattr(c, "exported_to", None)), None)
        if export is not None:
            lines.append(f"  export: {export.exported_to}")
        print("\n".join(lines), flush=True)


class EmbeddingWriter(BasePredictionWriter):
    """Writes what ``veco-fit predict`` computes: the sentence embeddings of each evaluation pair set as
    ``<dirpath>/<set>.pt`` (``{"src": (N, D), "tgt": (N, D)}`` in pair order) and those of the held-out text blocks as
    ``<dirpath>/text.pt`` (``{"embedding": (N, D)}``).

    Args:
        dirpath: output folder (default: ``<log_dir>/embeddings``).
    """

    def __init__(self, dirpath: str | None = None) -> None:
        super().__init__(write_interval="epoch")
        self.dirpath = dirpath

    def write_on_epoch_end(self, trainer: Trainer, pl_module: LightningModule, predictions: Any,
                           batch_indices: Any) -> None:
        from veco_lightning.evaluation.datamodule import evaluation_data

        if not trainer.is_global_zero:
            return
        out = self.dirpath or os.path.join(run_log_dir(trainer), "embeddings")
        os.makedirs(out, exist_ok=True)
        batches = [b for loader in predictions for b in (loader if isinstance(loader, list) else [loader])]
        names = evaluation_data(trainer.datamodule).set_names if evaluation_data(trainer.datamodule) else []
        sets: dict[int, list[dict[str, Any]]] = {}
        text = []
        for batch in batches:
            if "set_id" in batch:
                sets.setdefault(int(batch["set_id"][0]), []).append(batch)
            else:
                text.append(batch["embedding"])
        written = []
        for set_id, parts in sets.items():
            index = torch.cat([p["index"] for p in parts])
            order = index.argsort()
            record = {side: torch.cat([p[side] for p in parts])[order].float().cpu() for side in ("src", "tgt")}
            name = names[set_id] if set_id < len(names) else f"set{set_id}"
            torch.save(record, os.path.join(out, f"{name}.pt"))
            written.append(f"{name} ({len(index)} pairs)")
        if text:
            torch.save({"embedding": torch.cat(text).float().cpu()}, os.path.join(out, "text.pt"))
            written.append(f"text ({sum(len(t) for t in text)} blocks)")
        print(f"Sentence embeddings of {', '.join(written) or 'nothing'} written to {os.path.abspath(out)}")
