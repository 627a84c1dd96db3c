"""The ``veco-fit`` command: LightningCLI over VecoPretrainModule and VecoDataModule.

``veco-fit --config x.yaml`` is ``veco-fit fit --config x.yaml``; ``validate``, ``test`` and ``predict`` work as
in any LightningCLI. Several ``--config`` files compose left to right (model preset, trainer, data, overrides).

Reliability built in: gradient clipping at 1.0 unless the config says otherwise; every random state saved in
checkpoints (``RandomStates``), checkpoints written atomically and read with ``weights_only``
(``checkpointing.py``); ``--ckpt_path last`` resumes from the newest ``last.ckpt`` under the run's root folder, or
stops with an error when there is none (never a silent fresh start).
"""

from __future__ import annotations

import logging
import os
import sys

from jsonargparse import Namespace
from lightning.pytorch.callbacks import LearningRateMonitor
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback

from veco_lightning.callbacks import EmbeddingWriter, EncoderThroughput, ProgressLog, RandomStates, RunSummary
from veco_lightning.checkpointing import CheckpointingCLI, package_errors
from veco_lightning.datamodule import VecoDataModule
from veco_lightning.logs import configure_logging
from veco_lightning.models.export import ExportPretrained
from veco_lightning.module import VecoPretrainModule

log = logging.getLogger(__name__)

SUBCOMMANDS = ("fit", "validate", "test", "predict")
CALLBACK_SECTIONS = ("export", "random_states", "progress", "summary")  # sections of the callbacks every run has


class VecoCLI(CheckpointingCLI, LightningCLI):
    """LightningCLI with the data -> model links, always-present export and random-state callbacks, atomic
    checkpoints and a ``--ckpt_path last`` that finds the run's last checkpoint."""

    callback_sections = CALLBACK_SECTIONS
    off_when_null = {"export": {"dirpath": None, "enabled": False}}  # ``export: null``: no export

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        # Known only once the tokenizer is loaded, so linked at instantiation time.
        parser.link_arguments("data.vocab_size", "model.vocab_size", apply_on="instantiate")
        parser.link_arguments("data.pad_token_id", "model.pad_token_id", apply_on="instantiate")
        parser.link_arguments("data.tokenizer", "model.tokenizer")
        for section, callback in zip(CALLBACK_SECTIONS, (ExportPretrained, RandomStates, ProgressLog, RunSummary)):
            parser.add_lightning_class_args(callback, section)

    def instantiate_trainer(self, **kwargs):
        trainer = super().instantiate_trainer(**kwargs)
        # Logged by default: encoder tokens/s, and the learning rate when there is a logger to write it to.
        if not any(isinstance(c, EncoderThroughput) for c in trainer.callbacks):
            trainer.callbacks.append(EncoderThroughput())
        if trainer.loggers and not any(isinstance(c, LearningRateMonitor) for c in trainer.callbacks):
            trainer.callbacks.append(LearningRateMonitor(logging_interval="step"))
        if self.subcommand == "predict" and not any(isinstance(c, EmbeddingWriter) for c in trainer.callbacks):
            trainer.callbacks.append(EmbeddingWriter())
        return trainer

    def before_fit(self) -> None:
        self.model.check_trainable("fit")  # before the data is prepared, which may take long
        self.resolve_last_checkpoint()

    def before_validate(self) -> None:
        self.model.check_trainable("validate")
        self.resolve_last_checkpoint()
        self.config_init["validate"]["verbose"] = False  # the evaluation report prints its own tables
        self.warn_without_weights()

    def before_test(self) -> None:
        self.resolve_last_checkpoint()
        self.config_init["test"]["verbose"] = False
        self.warn_without_weights()

    def warn_without_weights(self) -> None:
        """Evaluating with neither ``--ckpt_path`` nor ``model.encoder.path`` scores a randomly initialised encoder:
        a legitimate baseline, but more often a forgotten argument, so it is said where the scores are read."""
        config = self.config_init[self.subcommand]
        if config.get("ckpt_path") is None and self.model.encoder_spec.path is None:
            log.warning("No weights to evaluate: neither --ckpt_path nor model.encoder.path is set, so the scores are "
                        "those of a randomly initialised %r encoder (a baseline). Give --model.encoder.path (an "
                        "export or a .ckpt) to evaluate a trained one", self.model.encoder_spec.preset)

    def _parse_ckpt_path(self) -> None:
        """LightningCLI replaces the model's arguments with a ``--ckpt_path`` checkpoint's hyper-parameters. For
        ``validate`` / ``test`` / ``predict``, ``model.evaluation`` comes from the command line and configs instead:
        evaluation options are what the user asks for now, never what the run happened to use (a note says so)."""
        subcommand = self.config.get("subcommand")
        if subcommand in (None, "fit"):
            return super()._parse_ckpt_path()
        evaluation = self.config[subcommand].get("model", {}).get("evaluation")
        super()._parse_ckpt_path()
        if self.config[subcommand].get("ckpt_path"):
            self.config[subcommand]["model"]["evaluation"] = evaluation
            print("Note: the model's arguments come from the checkpoint's hyper-parameters, except model.evaluation "
                  "(from the command line and configs). To evaluate a checkpoint on other data, prefer "
                  "--model.encoder.path CKPT --data.tokenizer CKPT with an evaluation config (see the README)")


def run_cli(args: list[str] | None = None) -> VecoCLI:
    """Run ``veco-fit`` with ``args`` (default: the command line) and return the CLI (model, data, trainer)."""
    from_command_line = args is None
    args = list(sys.argv[1:] if args is None else args)
    if not args or args[0] not in (*SUBCOMMANDS, "-h", "--help"):
        args = ["fit", *args]
        if from_command_line:  # edit sys.argv itself: DDP's launcher re-runs it in every child process
            sys.argv.insert(1, "fit")
    return VecoCLI(
        VecoPretrainModule,
        VecoDataModule,
        args=None if from_command_line else args,  # LightningCLI warns when given both args and sys.argv
        seed_everything_default=0,
        trainer_defaults={"gradient_clip_val": 1.0},
        # The resolved config is saved next to the checkpoints of a training run; evaluation runs write reports.
        save_config_callback=SaveConfigCallback if args[0] == "fit" else None,
        save_config_kwargs={"overwrite": True},
        auto_configure_optimizers=False,
    )


NO_CONFIG = ("veco-fit needs a config: `veco-fit --config configs/quickstart.yaml` pre-trains a tiny encoder on the "
             "demo corpus (from the repository's root); `veco-fit --print_config` writes every option with its "
             "default, a config to start from; `veco-fit --help` lists them")


def exit_if_bare(args: list[str] | None, message: str) -> None:
    """A command given no config and no data option (``veco-fit``, ``veco-fit --trainer.max_steps 10``) exits with
    ``message`` (what to run), not with the parser's first missing key (``data.tokenizer: Expected a str``)."""
    given = [a for a in (sys.argv[1:] if args is None else args) if a not in SUBCOMMANDS]
    if not any(a in ("-c", "-h") or a.startswith(("--config", "--data", "--help", "--print_config")) for a in given):
        sys.exit(message)


def main(args: list[str] | None = None) -> None:
    """Entry point of ``veco-fit`` and ``python -m veco_lightning``."""
    exit_if_bare(args, NO_CONFIG)
    configure_logging()
    run_cli(args)


class PrepareCLI(VecoCLI):
    """``veco-prepare``: the ``veco-fit`` command line (same ``--config`` files, same options), of which only the
    data section is built; nothing else is instantiated."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        super().add_arguments_to_parser(parser)
        parser.add_argument("--num_proc", type=int | None, default=None,
                            help="processes that tokenize each source (default: each source's num_proc)")

    def instantiate_classes(self) -> None:
        data_parser = LightningArgumentParser()
        data_parser.add_lightning_class_args(VecoDataModule, "data", subclass_mode=False)
        with package_errors():
            self.datamodule = data_parser.instantiate_classes(Namespace(data=self.config["data"])).data


def prepare(datamodule: VecoDataModule, num_proc: int | None = None) -> list[dict]:
    """Tokenize, mine and pack every training source of ``datamodule`` into its ``cache_dir`` (resuming a killed
    preparation shard by shard) and list them in ``<cache_dir>/prepared.json``; returns one row per source."""
    import time

    from veco_lightning.data.cache import is_complete, read_summary

    rows = []
    for source in datamodule.sources.values():
        source.prepared = False  # preparing is what this command does, whatever the training run will read
        if num_proc is not None:
            source.num_proc = num_proc
    datamodule.connect()
    for source in datamodule.sources.values():
        source.check_sources()
    for kind, source in datamodule.sources.items():
        if getattr(source, "streaming", False):
            print(f"{kind}: streaming, read and tokenized while training (nothing to prepare)")
            continue
        for name in source.source_names():
            path = source.cache_location(name)
            cached = is_complete(path)
            begin = time.perf_counter()
            source.prepare_one(name)
            summary = read_summary(path)
            rows.append({"source": kind, "name": name, "input_rows": summary["input_rows"], "rows": summary["rows"],
                         "shards": len(summary["shards"]), "seconds": time.perf_counter() - begin,
                         "cached": cached, "path": path})
    return rows


def prepare_main(args: list[str] | None = None) -> None:
    """Entry point of ``veco-prepare``: prepare the data of a ``veco-fit`` config once, ahead of the launch."""
    exit_if_bare(args, "veco-prepare needs the veco-fit config(s) of the run to prepare: `veco-prepare --config "
                       "my.yaml` (`veco-prepare --help` lists the options)")
    configure_logging()
    cli = PrepareCLI(VecoPretrainModule, VecoDataModule, args=args, run=False, seed_everything_default=0)
    rows = prepare(cli.datamodule, cli.config.get("num_proc"))
    print(f"{'source':<12} {'name':<10} {'input rows':>11} {'rows':>10} {'shards':>6} {'seconds':>8} {'rows/s':>9}")
    for row in rows:
        speed = "cached" if row["cached"] else f"{row['input_rows'] / max(row['seconds'], 1e-9):,.0f}"
        print(f"{row['source']:<12} {row['name']:<10} {row['input_rows']:>11,} {row['rows']:>10,} {row['shards']:>6} "
              f"{row['seconds']:>8.1f} {speed:>9}")
    cache_dirs = sorted({source.cache_dir for source in cli.datamodule.sources.values()})
    print(f"Prepared: {', '.join(os.path.join(d, 'prepared.json') for d in cache_dirs)}. Train with the same "
          "--config files and --data.prepared true (never tokenizes).")
