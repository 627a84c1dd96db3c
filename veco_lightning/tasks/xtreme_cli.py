"""The Lightning side of ``veco-xtreme``: :class:`XtremeCLI` over the task modules and datamodules. Apart from
:mod:`veco_lightning.tasks.cli` so that ``veco-xtreme score`` (pure Python arithmetic) starts without importing
Lightning, torch and transformers (0.4 s against 11 s on 2 cores)."""

from __future__ import annotations

import os
import sys
import tempfile

from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from veco_lightning.callbacks import ProgressLog, RandomStates
from veco_lightning.checkpointing import CheckpointingCLI, read_checkpoint
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
        parser.add_argument("--export_dir", type=str | None, default=None,
                            help="when fit ends, write the selected checkpoint's task model and tokenizer here "
                                 "(save_pretrained: AutoModelFor..., transformers' pipeline)")
        parser.add_lightning_class_args(ProgressLog, "progress")  # plain lines in log files

    def instantiate_trainer(self, **kwargs):
        trainer = super().instantiate_trainer(**kwargs)
        if not any(isinstance(c, RandomStates) for c in trainer.callbacks):  # dropout's states: an exact resume
            trainer.callbacks.append(RandomStates())
        return trainer

    def before_predict(self) -> None:
        # Lightning's predict loop would run the model over the test files and keep nothing: say what writes them.
        raise ValueError("veco-xtreme predict writes nothing: run veco-xtreme test with the same arguments, which "
                         "writes the predictions of every test file in XTREME's layout (<output_dir>/predictions/"
                         "<task>/test-<lang>) and scores the files that have labels (one without is written, not "
                         "scored)")

    def before_test(self) -> None:
        self.resolve_last_checkpoint()
        self.config_init["test"]["verbose"] = False  # the task prints one table of every test language
        if self.config["test"].get("export_dir") and self.config_init["test"].get("ckpt_path") in (None, "best"):
            # (Lightning's "best" is the fit's own, which a test run has not)
            raise ValueError("--export_dir with test writes the task model of a fine-tuned checkpoint: give it as "
                             "--ckpt_path (a path, or last)")

    def after_fit(self) -> None:
        callback = self.trainer.checkpoint_callback
        if self.model.metric_selects_checkpoint and callback is not None and callback.best_model_path:
            ckpt = callback.best_model_path  # chosen on the development set
        elif callback is not None and callback.last_model_path:
            ckpt = callback.last_model_path
        else:
            ckpt = None  # the weights in memory: the last step
        tested = bool(self.config[self.subcommand].get("test_after_fit", True) and self.datamodule.test_files)
        if tested:
            self.trainer.test(self.model, datamodule=self.datamodule, ckpt_path=ckpt, verbose=False)
        export_dir = self.config[self.subcommand].get("export_dir")
        if export_dir:
            self.export(export_dir, ckpt, loaded=tested or ckpt is None)

    def after_test(self) -> None:
        """``veco-xtreme test --ckpt_path CKPT --export_dir DIR``: the task model of a finished fine-tuning run."""
        export_dir = self.config["test"].get("export_dir")
        if export_dir:
            self.export(export_dir, self.config_init["test"]["ckpt_path"], loaded=True)

    def export(self, export_dir: str, ckpt: str | None, loaded: bool) -> None:
        """Write the task model of checkpoint ``ckpt`` and the tokenizer to ``export_dir`` on rank 0: the weights in
        memory when they are that checkpoint's (``loaded``: the test just loaded it, or there is none), else read
        from the file."""
        from veco_lightning.models.export import export_task_model, full_state_dict

        state_dict = full_state_dict(self.trainer.strategy) if loaded else None  # collective (FSDP)
        if self.trainer.is_global_zero:
            if not loaded:
                state_dict = checkpoint_weights(ckpt)
            export_task_model(self.model.model, export_dir, self.datamodule.tokenizer, state_dict)
            print(f"Exported the fine-tuned {self.model.task} model ({'checkpoint ' + ckpt if ckpt else 'last step'})"
                  f" and its tokenizer to {os.path.abspath(export_dir)}")
        self.trainer.strategy.barrier("export_task_model")


def checkpoint_weights(ckpt: str) -> dict:
    """The state dict of a checkpoint file, or of a sharded checkpoint directory (FSDP, DeepSpeed) merged first."""
    if not os.path.isdir(ckpt):
        return read_checkpoint(ckpt)["state_dict"]
    from veco_lightning.models.consolidate import consolidate_checkpoint

    with tempfile.TemporaryDirectory(prefix="veco-xtreme-export-") as scratch:
        return read_checkpoint(consolidate_checkpoint(ckpt, os.path.join(scratch, "merged.ckpt")))["state_dict"]


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
