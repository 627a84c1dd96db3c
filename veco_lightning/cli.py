"""The ``veco-fit`` command: LightningCLI over VecoPretrainModule and VecoDataModule.

``veco-fit --config x.yaml`` is ``veco-fit fit --config x.yaml``; ``validate``, ``test`` and ``predict`` work as
in any LightningCLI. Several ``--config`` files compose left to right (model preset, trainer, data, overrides).
"""

from __future__ import annotations

import sys

from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback

from veco_lightning.datamodule import VecoDataModule
from veco_lightning.models.export import ExportPretrained
from veco_lightning.module import VecoPretrainModule

SUBCOMMANDS = ("fit", "validate", "test", "predict")


class VecoCLI(LightningCLI):
    """LightningCLI with the data -> model links and an always-present export callback (``export:``)."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        # Known only once the tokenizer is loaded, so linked at instantiation time.
        parser.link_arguments("data.vocab_size", "model.vocab_size", apply_on="instantiate")
        parser.link_arguments("data.pad_token_id", "model.pad_token_id", apply_on="instantiate")
        parser.link_arguments("data.tokenizer", "model.tokenizer")
        parser.add_lightning_class_args(ExportPretrained, "export")


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
        # The resolved config is saved next to the checkpoints of a training run; evaluation runs write reports.
        save_config_callback=SaveConfigCallback if args[0] == "fit" else None,
        save_config_kwargs={"overwrite": True},
        auto_configure_optimizers=False,
    )


def main(args: list[str] | None = None) -> None:
    """Entry point of ``veco-fit`` and ``python -m veco_lightning``."""
    run_cli(args)
