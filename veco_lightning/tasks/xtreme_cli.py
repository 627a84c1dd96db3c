"""The Lightning side of ``veco-xtreme``: :class:`XtremeCLI` over the task modules and datamodules. Apart from
:mod:`veco_lightning.tasks.cli` so that ``veco-xtreme score`` (pure Python arithmetic) starts without importing
Lightning, torch and transformers (0.4 s against 11 s on 2 cores)."""

from __future__ import annotations

import sys

from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from veco_lightning.callbacks import ProgressLog
from veco_lightning.checkpointing import CheckpointingCLI
from veco_lightning.tasks.base import XtremeTask
from veco_lightning.tasks.datamodule import TaskDataModule


class XtremeCLI(CheckpointingCLI, LightningCLI):
    """LightningCLI over the task modules and datamodules: the tokenizer follows the encoder, the label set flows
    from the data to the model, checkpoints are atomic and load with ``weights_only``, and ``fit`` ends with a test
    of the selected checkpoint."""

    callback_sections = ("progress",)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.link_arguments("model.init_args.encoder", "data.init_args.tokenizer")
        parser.link_arguments("data.labels", "model.init_args.labels", apply_on="instantiate")
        parser.add_argument("--test_after_fit", type=bool, default=True,
                            help="test the selected checkpoint on every test language when fit ends")
        parser.add_lightning_class_args(ProgressLog, "progress")  # plain lines in log files

    def before_test(self) -> None:
        self.resolve_last_checkpoint()
        self.config_init["test"]["verbose"] = False  # the task prints one table of every test language

    def after_fit(self) -> None:
        if not self.config[self.subcommand].get("test_after_fit", True) or not self.datamodule.test_files:
            return
        callback = self.trainer.checkpoint_callback
        if self.model.metric_selects_checkpoint and callback is not None and callback.best_model_path:
            ckpt = callback.best_model_path  # chosen on the development set
        elif callback is not None and callback.last_model_path:
            ckpt = callback.last_model_path
        else:
            ckpt = None  # the weights in memory: the last step
        self.trainer.test(self.model, datamodule=self.datamodule, ckpt_path=ckpt, verbose=False)


def run_cli(args: list[str] | None = None) -> XtremeCLI:
    """Run the Lightning subcommands of ``veco-xtreme`` (default: the command line) and return the CLI."""
    from_command_line = args is None
    args = list(sys.argv[1:] if args is None else args)
    return XtremeCLI(
        XtremeTask, TaskDataModule, subclass_mode_model=True, subclass_mode_data=True,
        args=None if from_command_line else args, seed_everything_default=1,  # XTREME's baselines use seed 1
        save_config_kwargs={"overwrite": True}, auto_configure_optimizers=False,
        parser_kwargs={"description": "Fine-tune, test and score XTREME tasks. Besides the Lightning subcommands "
                                      "below: 'veco-xtreme score --help' (score a folder of predictions as XTREME's "
                                      "evaluate.py does) and 'veco-xtreme suite --help' (every task of a suite "
                                      "config, then one XTREME table)."},
    )
