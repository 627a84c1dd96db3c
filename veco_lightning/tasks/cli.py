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
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from veco_lightning.tasks.xtreme_cli import XtremeCLI


def run_cli(args: list[str] | None = None) -> XtremeCLI:
    """Run the Lightning subcommands of ``veco-xtreme`` (default: the command line) and return the CLI
    (:func:`veco_lightning.tasks.xtreme_cli.run_cli`, imported only here: ``score`` never loads Lightning)."""
    from veco_lightning.tasks.xtreme_cli import run_cli as run_lightning

    return run_lightning(args)


def main(args: list[str] | None = None) -> None:
    """Entry point of ``veco-xtreme`` (a console script exits with what it returns, so it returns nothing); a suite
    whose tasks failed exits with 1 after scoring the others."""
    from veco_lightning.tasks.suite import SuiteTaskFailed

    try:
        run(args)
    except SuiteTaskFailed as err:
        sys.exit(str(err))


USAGE = ("fit / validate / test / predict (LightningCLI's, e.g. `veco-xtreme fit --config "
         "configs/xtreme/udpos.yaml --model.encoder runs/quickstart/hf_model`), score (XTREME's scores of a "
         "predictions folder) or suite (several tasks on one encoder); `veco-xtreme <subcommand> --help` lists "
         "its options")


def run(args: list[str] | None = None) -> object:
    """``veco-xtreme`` for scripts: returns the scores (``score``, ``suite``) or the CLI."""
    from veco_lightning.logs import configure_logging

    argv = list(sys.argv[1:] if args is None else args)
    if not argv:  # Lightning's parser alone would name its four subcommands only (its --help names all six)
        sys.exit(f"veco-xtreme needs a subcommand: {USAGE}")
    if argv[0] == "score":  # pure Python: neither Lightning nor datasets / transformers is imported
        from veco_lightning.tasks.scorer import score_main

        return score_main(argv[1:])
    configure_logging()
    if argv[0] == "suite":
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
    parser.add_argument("--export_models", type=bool, default=False,
                        help="write each task's fine-tuned model and tokenizer to <output_dir>/models/<task config>")
    parser.add_argument("--seeds", type=list[int], default=[],
                        help="run the suite once per seed (<output_dir>/seed-<seed>) and report each score's mean and "
                        "standard deviation over them; empty: one run")
    parser.add_argument("--resume", type=bool, default=False,
                        help="continue an interrupted suite in the same output_dir: keep the parts an earlier run "
                        "finished with the same encoder weights, config and arguments, resume the one it was in from "
                        "its last.ckpt")
    parser.add_argument("--encoder", type=str, required=True,
                        help="export directory, .ckpt or Hugging Face checkpoint (a directory or Hub id)")
    parser.add_argument("--output_dir", type=str, required=True, help="predictions, labels, scores and the table")
    return parser


def suite_main(args: list[str] | None = None) -> dict:
    """``veco-xtreme suite``: fine-tune and test every task of a suite config, then write the XTREME table."""
    from veco_lightning.tasks.suite import Suite, run_suite

    config = suite_parser().parse_args(args)
    from veco_lightning.cli import run_cli as run_veco_fit

    suite = Suite(list(config.tasks), list(config.args), dict(config.task_args), config.retrieval,
                  list(config.retrieval_args), config.export_models, list(config.seeds), config.resume)
    return run_suite(suite, config.encoder, config.output_dir, _with_own_args(run_cli),
                     _with_own_args(run_veco_fit))


def _with_own_args(run: Callable[[list[str]], Any]) -> Callable[[list[str]], Any]:
    """``run`` for one part of a suite, without LightningCLI's warning that it got arguments besides the command
    line's (each part runs in this process with its own arguments: the suite's command line is not meant for it)."""
    def call(args: list[str]) -> Any:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended")
            return run(args)
    return call
