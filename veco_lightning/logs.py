"""What the console shows: the package's INFO lines, and none of the third-party noise a first run prints (progress
bars of ``datasets``, tips, known-harmless deprecation warnings). Called by the console scripts."""

from __future__ import annotations

import logging
import warnings
from typing import Any

# Warnings every run printed that say nothing to the user (deprecations inside Lightning, torchdata, transformers).
_HARMLESS = (
    r".*isinstance\(treespec, LeafSpec\)",
    r".*'set_vital' is deprecated",
    r".*does not have many workers which may be a bottleneck",
    r".*The number of training batches .* is smaller than the logging interval",
    r".*Checkpoint directory .* exists and is not empty",
    r".*You are using `torch.load` with `weights_only=False`",
    # VecoPretrainModule's own hook (module.py: host_facts), which Lightning calls as it says
    r".*You have overridden `on_before_batch_transfer` in `LightningModule` but have passed in a `LightningDataModule`",
)


class _DropCacheNote(logging.Filter):
    """transformers' note that activation checkpointing turns the key/value cache off: an encoder keeps none."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "incompatible with gradient checkpointing" not in record.getMessage()


class _DropTips(logging.Filter):
    """Lightning's advertisements ("💡 Tip: ... litlogger / litmodels")."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Tip:" not in record.getMessage()


def configure_logging(level: int = logging.INFO, libraries: bool = True) -> None:
    """Show the package's log lines (mining statistics, blocks per language, skipped lines, resumes) and silence the
    rest of the first-run noise. Safe to call more than once. ``libraries=False`` leaves ``datasets`` and
    ``transformers`` alone, unimported (1.4 s of a start on 2 cores): for commands that never use them
    (``veco-xtreme score``), and before a command's own call."""
    package = logging.getLogger("veco_lightning")
    # A handler of our own only when the application configured none (a user's logging.basicConfig, or pytest's
    # capture, keeps receiving the records: they still propagate).
    if not logging.getLogger().handlers and not any(getattr(h, "_veco", False) for h in package.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        handler._veco = True  # type: ignore[attr-defined]
        package.addHandler(handler)
    package.setLevel(level)
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropTips) for f in logger.filters):
            logger.addFilter(_DropTips())
    for pattern in _HARMLESS:
        warnings.filterwarnings("ignore", message=pattern)
    if not libraries:
        return
    try:
        import datasets

        datasets.disable_progress_bars()  # one bar per map/save call: dozens on a first run
        datasets.utils.logging.set_verbosity_warning()
    except ImportError:  # pragma: no cover - datasets is a dependency
        pass
    for name in ("transformers.utils.generic", "transformers.modeling_layers"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropCacheNote) for f in logger.filters):
            logger.addFilter(_DropCacheNote())
    try:
        import transformers

        transformers.utils.logging.disable_progress_bar()  # "Loading weights" / "Writing model shards" bars
    except ImportError:  # pragma: no cover
        pass


def run_log_dir(trainer: Any) -> str:
    """The run's log folder (``Trainer.log_dir``) computed locally. ``Trainer.log_dir`` broadcasts rank 0's value,
    a collective call that hangs when only rank 0 asks (writing a report or an export); on rank 0 this is the same
    folder."""
    logger = trainer.loggers[0] if trainer.loggers else None
    if logger is None:
        return trainer.default_root_dir
    directory = getattr(logger, "log_dir", None) or logger.save_dir
    return directory or trainer.default_root_dir


def progress_bar_shown(module: Any) -> bool:
    """Whether the module's trainer shows a progress bar. Lightning turns every metric logged with ``prog_bar=True``
    into a Python number after every batch (``.item()``): on a GPU the host then waits for the whole step before it
    can queue the next one. So a per-step loss goes to the bar only where a bar shows it; callbacks and loggers get it
    either way."""
    bar = getattr(getattr(module, "_trainer", None), "progress_bar_callback", None)
    return bar is not None and bar.is_enabled
