"""Checkpoints that survive a kill and load without running code: atomic writes, ``weights_only`` loading, the
tokenizer a checkpoint records, and the ``last`` checkpoint of a run found wherever its logger put it."""

from __future__ import annotations

import contextlib
import glob
import os
import re
import traceback
import zipfile
from collections.abc import Iterator
from typing import Any

import torch
from fsspec.implementations.local import LocalFileSystem
from jsonargparse import Namespace
from lightning.fabric.utilities.cloud_io import get_filesystem
from lightning.pytorch.plugins.io import TorchCheckpointIO

from veco_lightning.paths import looks_local, resolve_path


def load_checkpoint(path: str, map_location: Any = "cpu") -> dict[str, Any]:
    """A checkpoint read with ``torch.load(weights_only=True)``: tensors, containers, plain values, and the package's
    option dataclasses (``EncoderSpec``, ``EvaluationOptions``, the contrast options), which their modules allow when
    they are imported (a module built in Python keeps them in its hyper-parameters). A file that needs anything else
    (a pickled object that would run code) is refused; so is a file that is no checkpoint at all, with an error that
    says which of the two it is."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:
        raise ValueError(checkpoint_error(path, err)) from err


def checkpoint_error(path: str, err: BaseException) -> str:
    """Why ``torch.load(path, weights_only=True)`` failed, for a user: the file holds a class or function that loading
    would run (refused), or it is no checkpoint at all (``torch.save`` writes zip archives; a copy or write cut short
    leaves none). Never the advice of torch's own message to retry with ``weights_only=False``, which would run
    whatever code the file carries."""
    reason = load_failure(str(err)) or type(err).__name__
    if "global" in reason.lower():  # weights_only met a class or function: what would have run code
        return (f"{path}: refused to load, it holds more than tensors and plain values ({reason}). Checkpoints are "
                "only ever read with weights_only=True; a file written by veco-fit loads, a file from elsewhere may "
                "carry code")
    if os.path.isfile(path) and not zipfile.is_zipfile(path):
        return (f"{path}: not a checkpoint (torch.save writes checkpoints as zip archives, and this file is not one: "
                "a copy or write cut short, or another kind of file). Give a .ckpt that veco-fit wrote "
                "(<run>/checkpoints/last.ckpt)")
    return (f"{path}: cannot be read as a checkpoint ({reason}). Give a .ckpt that veco-fit wrote "
            "(<run>/checkpoints/last.ckpt); checkpoints are only ever read with weights_only=True")


_BOILERPLATE = ("Weights only load failed", "Check the documentation", "Please file an issue", "(1)", "(2)")


def load_failure(text: str) -> str:
    """The sentence of a ``torch.load`` error that says what failed, without the advice around it."""
    found = re.search(r"WeightsUnpickler error:\s*([^\n]+)", text)
    if found:
        line = found.group(1)
    else:
        lines = [line.strip() for line in text.splitlines()]
        line = next((line for line in lines if line and not line.startswith(_BOILERPLATE)), "")
    return re.split(r"\.(?:\s|$)", line)[0]


def is_checkpoint(path: str) -> bool:
    """Whether ``path`` is a checkpoint file (``veco-fit`` writes ``.ckpt``), not an export directory."""
    return os.path.isfile(path) and path.endswith(".ckpt")


def read_checkpoint(path: str) -> dict[str, Any]:
    """A ``veco-fit`` checkpoint (:func:`load_checkpoint`), with an error that says what to do instead."""
    try:
        return load_checkpoint(path)
    except ValueError as err:
        raise ValueError(f"{err}. Export it with veco-export and use the export directory instead") from err


def task_checkpoint_message(checkpoint: str, hparams: dict[str, Any], use: str) -> str | None:
    """What to do instead, when ``checkpoint`` is a ``veco-xtreme`` fine-tuning checkpoint where a ``veco-fit`` one is
    read (``use``: what was to be done with it): its task model is written by ``veco-xtreme test --export_dir``, and
    that directory serves as an encoder everywhere. ``None`` for any other checkpoint."""
    if not (str(hparams.get("_class_path", "")).startswith("veco_lightning.tasks.")
            or isinstance(hparams.get("encoder"), str)):
        return None
    return (f"{checkpoint} is a veco-xtreme checkpoint ({hparams.get('task')} fine-tuning), not a veco-fit one, so it "
            f"cannot be {use}: write its task model with `veco-xtreme test --config <the task config> --model.encoder "
            f"{hparams.get('encoder')} --ckpt_path {checkpoint} --export_dir DIR` (or fine-tune with --export_dir) and "
            "give DIR instead")


def check_pretraining_checkpoint(checkpoint: str, hparams: dict[str, Any], use: str) -> None:
    """Raise :func:`task_checkpoint_message`'s advice for a ``veco-xtreme`` checkpoint."""
    message = task_checkpoint_message(checkpoint, hparams, use)
    if message:
        raise ValueError(message)


def check_recorded_path(checkpoint: str, what: str, recorded: str, fix: str) -> None:
    """A path ``checkpoint`` recorded (its ``what``) that is not found from here: earlier versions recorded local
    paths as given, relative to the directory the run started in; say so instead of a bare "does not exist"."""
    resolved = resolve_path(recorded)  # pkg:// and ~ are no relative paths
    if looks_local(recorded) and not os.path.isabs(resolved) and not os.path.exists(resolved):
        raise FileNotFoundError(
            f"{checkpoint} records its {what} as {recorded!r}, a relative path that is not found from {os.getcwd()!r}: "
            f"run from the directory that run started in, or {fix}")


def tokenizer_of(encoder: str) -> str:
    """The tokenizer that goes with an encoder: the directory itself, or the one a checkpoint recorded."""
    encoder = resolve_path(encoder)
    if is_checkpoint(encoder):
        tokenizer = read_checkpoint(encoder).get("hyper_parameters", {}).get("tokenizer")
        if not tokenizer:
            raise ValueError(f"{encoder} records no tokenizer: name the tokenizer directory (data.tokenizer), or "
                             "export the checkpoint with veco-export --tokenizer DIR")
        check_recorded_path(encoder, "tokenizer", tokenizer, "name the tokenizer directory (data.tokenizer DIR; "
                            "veco-export --tokenizer DIR)")
        return tokenizer
    return encoder


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes each checkpoint to a temporary file beside its target, flushes it to disk and renames it into place:
    a run killed during a save leaves the previous checkpoint whole (a rename is atomic). Reads with
    ``weights_only`` (:func:`load_checkpoint`)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options, got {storage_options!r}")
        if not isinstance(get_filesystem(path), LocalFileSystem):
            return super().save_checkpoint(checkpoint, path)  # object stores: their writes are atomic already
        path = os.fspath(path)
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        partial = f"{path}.partial-{os.getpid()}"
        try:
            with open(partial, "wb") as handle:
                torch.save(checkpoint, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(partial, path)
        finally:
            if os.path.exists(partial):
                os.remove(partial)

    def load_checkpoint(self, path: str, map_location: Any = None, weights_only: bool | None = None) -> dict[str, Any]:
        return load_checkpoint(os.fspath(path), map_location=map_location or "cpu")


def last_checkpoint(root: str) -> str | None:
    """The newest ``last.ckpt`` (or ``last-v*.ckpt``) below ``root``: what ``--ckpt_path last`` resumes from, in
    whichever ``version_N/checkpoints`` folder the run that wrote it used."""
    found = glob.glob(os.path.join(glob.escape(root), "**", "last*.ckpt"), recursive=True)
    return max(found, key=os.path.getmtime) if found else None


@contextlib.contextmanager
def package_errors() -> Iterator[None]:
    """Around a jsonargparse instantiation: a class in an optional section (``data.evaluation``, ``data.monolingual``,
    the XTREME task data, ...) that refuses its arguments makes jsonargparse raise "Does not validate against any of
    the Union subtypes" with the package's own error as its cause, in a second traceback that lists it among the
    subtypes tried; the package's error is raised alone instead, its message last on the screen."""
    try:
        yield
    except (ValueError, TypeError) as err:
        own = package_cause(err)
        if own is None:
            raise
        raise own from None


def package_cause(err: BaseException) -> BaseException | None:
    """The error this package raised that ``err`` (jsonargparse's) wraps as its cause, if any: the first in the chain
    of causes whose innermost frame is in the package's own code."""
    package = os.path.dirname(os.path.abspath(__file__))
    cause = err.__cause__
    while cause is not None:
        frames = traceback.extract_tb(cause.__traceback__)
        if frames and os.path.abspath(frames[-1].filename).startswith(package + os.sep):
            return cause
        cause = cause.__cause__
    return None


class CheckpointingCLI:
    """What the package's LightningCLIs share (mixed in before ``LightningCLI``): atomic, ``weights_only``
    checkpoints (:class:`AtomicCheckpointIO`) unless a strategy brings its own (DeepSpeed), and a ``--ckpt_path last``
    that resumes from the newest ``last.ckpt`` under ``trainer.default_root_dir`` or stops with an error (never a
    silent fresh start); a clear error for a callback section set to ``null`` in a config.

    ``callback_sections`` names the sections that configure the callbacks a CLI always adds
    (``parser.add_lightning_class_args``); ``off_when_null`` maps those that ``null`` switches off to the options
    that do it."""

    callback_sections: tuple[str, ...] = ()
    off_when_null: dict[str, dict[str, Any]] = {}

    def before_instantiate_classes(self) -> None:
        """A callback section set to ``null`` in a config (``export: null``) would make jsonargparse fail with a
        ``TypeError`` deep in its instantiation: a section in :attr:`off_when_null` is switched off instead, any
        other gets an error that says what to do; so does ``trainer: null`` (a ``TypeError`` in ``veco-xtreme``, a
        Trainer of Lightning's defaults in ``veco-fit``)."""
        config = self.config[self.subcommand] if self.subcommand else self.config
        if "trainer" in config and config["trainer"] is None:  # Lightning fails on it, or builds a default Trainer
            raise SystemExit(f"{self.parser.prog}: error: 'trainer: null' in a config: it would drop every trainer "
                             "setting of the configs before it. Remove the line, or set the options you mean "
                             "('trainer.<option>: value').")
        for section in self.callback_sections:
            if config.get(section, "absent") is not None:
                continue
            if section in self.off_when_null:
                config[section] = Namespace(**self.off_when_null[section])
                continue
            raise SystemExit(f"{self.parser.prog}: error: '{section}: null' in a config: this section sets a callback "
                             f"that every run has and cannot be null. Remove the line to keep its defaults, or set "
                             f"its options ('{section}.<option>: value').")

    def instantiate_classes(self) -> None:
        """Build the config's classes; a refused optional section raises the package's error alone
        (:func:`package_errors`)."""
        with package_errors():
            super().instantiate_classes()

    def instantiate_trainer(self, **kwargs: Any):
        trainer = super().instantiate_trainer(**kwargs)
        if type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:
            trainer.strategy.checkpoint_io = AtomicCheckpointIO()
        return trainer

    def resolve_last_checkpoint(self) -> None:
        config = self.config_init[self.subcommand]
        if config.get("ckpt_path") != "last":
            return
        root = self.trainer.default_root_dir
        found = last_checkpoint(root)
        if found is None:
            raise FileNotFoundError(f"--ckpt_path last: no last.ckpt under {root!r}, so there is nothing to resume. "
                                    "Give the checkpoint's path, point trainer.default_root_dir at the run, or drop "
                                    "--ckpt_path to start a new run")
        print(f"Resuming from {found}" if self.subcommand == "fit" else f"Checkpoint ({self.subcommand}): {found}")
        config["ckpt_path"] = found

    before_fit = before_validate = before_test = before_predict = resolve_last_checkpoint
