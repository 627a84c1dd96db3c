"""The ``veco-xtreme`` command: fine-tune, test and score XTREME tasks.

    veco-xtreme fit --config configs/xtreme/udpos.yaml --model.encoder runs/ntrex-d/hf_model
    veco-xtreme test --config configs/xtreme/udpos.yaml --model.encoder DIR --ckpt_path CKPT
    veco-xtreme score --predictions DIR --labels DIR --output xtreme.json
    veco-xtreme suite --config configs/xtreme/suite.yaml --encoder DIR --output_dir runs/xtreme

A command of its own rather than ``veco-fit``: ``veco-fit`` is the pre-training CLI, bound to one module and one
datamodule, while a task config names its task module and datamodule classes (``model: {class_path: ...}``), and
``score`` / ``suite`` are not Lightning subcommands. ``fit`` tests the selected checkpoint (the best on the English
development set; QA: the last model, as XTREME) on every test language when it ends (``--test_after_fit false`` to
skip), writing predictions in XTREME's submission layout.
"""

from __future__ import annotations

import sys

from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from veco_lightning.callbacks import ProgressLog
from veco_lightning.checkpointing import CheckpointingCLI
from veco_lightning.tasks.base import XtremeTask
from veco_lightning.tasks.datamodule import TaskDataModule

SUBCOMMANDS = ("fit", "validate", "test", "predict")


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


def main(args: list[str] | None = None) -> None:
    """Entry point of ``veco-xtreme`` (a console script exits with what it returns, so it returns nothing)."""
    run(args)


SUBCOMMANDS = ("fit / validate / test / predict (LightningCLI's, e.g. `veco-xtreme fit --config "
               "configs/xtreme/udpos.yaml --model.encoder runs/quickstart/hf_model`), score (XTREME's scores of a "
               "predictions folder) or suite (several tasks on one encoder); `veco-xtreme <subcommand> --help` lists "
               "its options")


def run(args: list[str] | None = None) -> object:
    """``veco-xtreme`` for scripts: returns the scores (``score``, ``suite``) or the CLI."""
    from veco_lightning.logs import configure_logging

    argv = list(sys.argv[1:] if args is None else args)
    if not argv:  # Lightning's parser alone would name its four subcommands only (its --help names all six)
        sys.exit(f"veco-xtreme needs a subcommand: {SUBCOMMANDS}")
    configure_logging()
    if argv and argv[0] == "score":
        from veco_lightning.tasks.scorer import score_main

        return score_main(argv[1:])
    if argv and argv[0] == "suite":
        return suite_main(argv[1:])
    return run_cli(args)


def suite_parser():
    """The arguments of ``veco-xtreme suite``."""
    from jsonargparse import ActionConfigFile, ArgumentParser

    parser = ArgumentParser(prog="veco-xtreme suite", description=suite_main.__doc__)
    parser.add_argument("--config", action=ActionConfigFile)
    parser.add_argument("--tasks", type=list[str], required=True, help="task config files")
    parser.add_argument("--args", type=list[str], default=[], help="extra veco-xtreme fit arguments for every task")
    parser.add_argument("--task_args", type=dict[str, list[str]], default={}, help="per task config: extra arguments")
    parser.add_argument("--retrieval", type=str | None, default=None,
                        help="evaluation config (veco-fit test) whose Tatoeba and BUCC sets are scored as XTREME's "
                        "retrieval tasks; null: none")
    parser.add_argument("--retrieval_args", type=list[str], default=[],
                        help="extra veco-fit test arguments of the retrieval run (e.g. --model.evaluation.layer=7)")
    parser.add_argument("--encoder", type=str, required=True, help="export directory, .ckpt or XLM-R checkpoint")
    parser.add_argument("--output_dir", type=str, required=True, help="predictions, labels, scores and the table")
    return parser


def suite_main(args: list[str] | None = None) -> dict:
    """``veco-xtreme suite``: fine-tune and test every task of a suite config, then write the XTREME table."""
    from veco_lightning.tasks.suite import Suite, run_suite

    config = suite_parser().parse_args(args)
    from veco_lightning.cli import run_cli as run_veco_fit

    suite = Suite(list(config.tasks), list(config.args), dict(config.task_args), config.retrieval,
                  list(config.retrieval_args))
    return run_suite(suite, config.encoder, config.output_dir, run_cli, run_veco_fit)
