"""End-to-end runs of veco-fit on the tiny fixture corpus, export round trip, and every shipped config."""

import glob
import os
import shutil
import subprocess
import sys

import pytest
import torch
from transformers import AutoModelForMaskedLM, AutoTokenizer

from veco_lightning.cli import run_cli as main
from veco_lightning.hardware import cpu_bf16_kernels
from veco_lightning.module import VecoPretrainModule

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(ROOT, "tests", "conf", "tiny.yaml")


def _args(corpus_dir, tokenizer_dir, tmp_path):
    files = "{" + ", ".join(f"{lang}: {corpus_dir / f'{lang}.txt'}" for lang in ("en", "ru", "zh")) + "}"
    return [
        "--config", TINY,
        f"--data.tokenizer={tokenizer_dir}",
        f"--data.monolingual.files={files}",
        f"--data.monolingual.cache_dir={tmp_path / 'cache'}",
        f"--trainer.default_root_dir={tmp_path / 'run'}",
    ]


def test_fit_logs_losses_and_exports_equivalent_model(corpus_dir, tokenizer_dir, tmp_path):
    export_dir = tmp_path / "hf"
    cli = main([*_args(corpus_dir, tokenizer_dir, tmp_path), f"--export.dirpath={export_dir}"])
    metrics = cli.trainer.callback_metrics
    assert {"train/mmlm_loss", "train/loss", "val/mmlm_loss", "train/grad_norm"} <= set(metrics)
    assert torch.isfinite(metrics["train/loss"])
    assert cli.model.hparams.vocab_size == len(cli.datamodule.tokenizer)  # linked from data
    exported = AutoModelForMaskedLM.from_pretrained(export_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(export_dir)
    assert tokenizer.mask_token_id == len(tokenizer) - 1
    batch = tokenizer(["the small dog sees a big river.", "小狗喜欢新学校。"], padding=True, truncation=True,
                      max_length=16, return_tensors="pt")
    module = cli.model.eval()
    with torch.no_grad():
        ours = module.model(**batch).logits
        theirs = exported(**batch).logits
        hidden = module(batch["input_ids"], batch["attention_mask"])
    torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(hidden, exported.roberta(**batch).last_hidden_state)


def test_bare_config_means_fit_and_checkpoint_export(corpus_dir, tokenizer_dir, tmp_path):
    cli = main(_args(corpus_dir, tokenizer_dir, tmp_path) + ["--export.enabled=false"])
    assert cli.subcommand == "fit"
    ckpt = (cli.trainer.checkpoint_callback.best_model_path
            or glob.glob(str(tmp_path / "run/**/*.ckpt"), recursive=True)[0])
    from veco_lightning.models.export import main as export_main

    out = str(tmp_path / "from-ckpt")
    export_main(["--checkpoint", ckpt, "--output_dir", out])
    reloaded = AutoModelForMaskedLM.from_pretrained(out)
    state = VecoPretrainModule.load_from_checkpoint(ckpt, weights_only=False).model.state_dict()
    for name, value in reloaded.state_dict().items():
        torch.testing.assert_close(value, state[name])
    assert os.path.exists(os.path.join(out, "tokenizer.json"))


def test_null_callback_sections(corpus_dir, tokenizer_dir, tmp_path):
    """``export: null`` in a config turns the export off; the sections that cannot be off say so (jsonargparse alone
    would fail deep in its instantiation with a TypeError)."""
    from veco_lightning.models.export import ExportPretrained

    def exported(run: str) -> list[str]:
        return glob.glob(str(tmp_path / run / "**" / "config.json"), recursive=True)

    off = tmp_path / "export-null.yaml"
    off.write_text("export: null\n")
    args = _args(corpus_dir, tokenizer_dir, tmp_path) + ["--trainer.max_steps=2"]
    main([*args, "--trainer.default_root_dir", str(tmp_path / "on")])
    assert exported("on")  # the default: an export under the run's folder
    cli = main([*args, "--config", str(off), "--trainer.default_root_dir", str(tmp_path / "off")])
    (export,) = [c for c in cli.trainer.callbacks if isinstance(c, ExportPretrained)]
    assert not export.enabled and not exported("off")
    progress = tmp_path / "progress-null.yaml"
    progress.write_text("progress: null\n")
    with pytest.raises(SystemExit, match="'progress: null' in a config.*Remove the line"):
        main(_args(corpus_dir, tokenizer_dir, tmp_path) + ["--config", str(progress)])
    trainer = tmp_path / "trainer-null.yaml"
    trainer.write_text("trainer: null\n")  # would run on a Trainer of Lightning's defaults, every setting dropped
    with pytest.raises(SystemExit, match="'trainer: null' in a config.*Remove the line"):
        main(_args(corpus_dir, tokenizer_dir, tmp_path) + ["--config", str(trainer)])


def test_a_refused_optional_section_raises_the_package_error_alone(corpus_dir, tokenizer_dir, tmp_path):
    """A class in an optional section that refuses its arguments (``data.evaluation`` with every set null) raises the
    package's own error, not jsonargparse's "Does not validate against any of the Union subtypes" around it."""
    with pytest.raises(ValueError, match=r"data.evaluation\) has no evaluation set.*data.evaluation: null") as info:
        main([*_args(corpus_dir, tokenizer_dir, tmp_path), "--data.evaluation.pairs", "null"])
    assert "Union subtypes" not in str(info.value) and info.value.__suppress_context__


def test_bare_command_says_what_to_run(monkeypatch):
    from veco_lightning.cli import NO_CONFIG
    from veco_lightning.cli import main as command

    for argv in (["veco-fit"], ["veco-fit", "--trainer.max_steps", "10"], ["veco-fit", "fit", "--seed_everything=1"]):
        monkeypatch.setattr(sys, "argv", argv)  # no config and no data: not the parser's "data.tokenizer: Expected"
        with pytest.raises(SystemExit) as exit_info:
            command()
        assert exit_info.value.code == NO_CONFIG and "--config configs/quickstart.yaml" in NO_CONFIG
    from veco_lightning.cli import prepare_main
    from veco_lightning.tasks.cli import main as xtreme

    monkeypatch.setattr(sys, "argv", ["veco-fit"])

    with pytest.raises(SystemExit, match="veco-prepare --config my.yaml"):
        prepare_main()
    with pytest.raises(SystemExit, match="score .* or suite"):
        xtreme()


def test_validate_test_predict_subcommands(corpus_dir, tokenizer_dir, tmp_path, caplog):
    with caplog.at_level("WARNING", logger="veco_lightning.cli"):
        cli = main(["validate", *_args(corpus_dir, tokenizer_dir, tmp_path)])
    assert "val/mmlm_loss" in cli.trainer.callback_metrics
    assert "No weights to evaluate" in caplog.text  # no checkpoint, no encoder.path: a random encoder, said so
    cli = main(["test", *_args(corpus_dir, tokenizer_dir, tmp_path)])
    assert "test/mmlm_loss" in cli.trainer.callback_metrics
    cli = main(["predict", *_args(corpus_dir, tokenizer_dir, tmp_path)])
    predictions = cli.trainer.predict_loop.predictions
    assert predictions and predictions[0]["embedding"].ndim == 2 and predictions[0]["embedding"].shape[1] == 64
    written = glob.glob(str(tmp_path / "run/**/embeddings/*.pt"), recursive=True)
    assert written, "predict writes the embeddings next to the run's logs"
    saved = torch.load(written[0], weights_only=True)
    assert saved["embedding"].shape[1] == 64 and torch.isfinite(saved["embedding"]).all()


def test_resume_continues_from_checkpoint(corpus_dir, tokenizer_dir, tmp_path, caplog, capsys):
    args = _args(corpus_dir, tokenizer_dir, tmp_path) + ["--export.enabled=false"]
    first = main(args)
    ckpt = first.trainer.checkpoint_callback.best_model_path
    state = torch.load(ckpt, weights_only=False)["loops"]["fit_loop"]["state_dict"]["combined_loader"]
    assert state[0]["step"] == 4  # the schedule's position and each loader's mid-epoch position are saved
    assert state[0]["loaders"]["monolingual"]["_sampler_iter_state"]["samples_yielded"] == 16
    with caplog.at_level("WARNING", logger="veco_lightning.module"):
        resumed = main(args + ["--trainer.max_steps=6", f"--ckpt_path={ckpt}"])
    assert resumed.trainer.global_step == 6
    assert "Run summary: 2 steps in" in capsys.readouterr().out  # the steps this run trained, not the global step
    # A longer run than the checkpoint's: its schedule (4 steps, ended at lr 0) is stretched to 6, so steps 5-6 train.
    assert "is 4 steps long, this run 6" in caplog.text
    assert "another data config" not in caplog.text
    assert torch.load(ckpt, weights_only=True)["VecoDataModule"]["run_config"]["monolingual"]["batch_size"] == 4
    with caplog.at_level("WARNING", logger="veco_lightning.datamodule"):
        main(args + ["--trainer.max_steps=6", "--data.monolingual.batch_size=2", f"--ckpt_path={ckpt}"])
    assert "another data config than the run that wrote the checkpoint (monolingual: " in caplog.text
    assert "'batch_size': 4" in caplog.text and "'batch_size': 2" in caplog.text
    scheduler = resumed.trainer.lr_scheduler_configs[0].scheduler
    assert scheduler.total_steps == 6 and torch.load(ckpt, weights_only=False)["lr_schedulers"][0]["_last_lr"][0] == 0
    before, after = _state(ckpt), resumed.model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("model."))
    shutil.copy(ckpt, tmp_path / "run" / "last.ckpt")  # --ckpt_path last keeps this run's model arguments
    with pytest.raises(ValueError, match=r"The checkpoint holds another model: .*preset='small'.*Resume with the "
                                         r"model config"):  # not a page of size mismatches from load_state_dict
        main(args + ["--trainer.max_steps=8", "--model.encoder.preset=small", "--ckpt_path=last"])


def _state(checkpoint):
    return torch.load(checkpoint, map_location="cpu", weights_only=False)["state_dict"]


@pytest.mark.parametrize(("precision", "extra"),
                         [("32-true", []), ("bf16-mixed", ["--model.optimizer.init_args.fused=true"])])
def test_full_objective_config(tmp_path, precision, extra, caplog):
    """tests/conf/full.yaml: every objective trains and the held-out pairs are scored, in fp32 and in bf16-mixed
    (autocast on CPU; the losses keep their soft-max maths in fp32), there with a fused AdamW and the default gradient
    clipping (which Lightning refuses for fused optimizers under mixed precision unless the module clips itself). On a
    CPU without bf16 kernels the bf16 run says it is slow there."""
    caplog.set_level("WARNING", logger="veco_lightning.hardware")
    cli = main(["--config", os.path.join(ROOT, "tests", "conf", "full.yaml"),
                f"--data.monolingual.cache_dir={tmp_path}", f"--data.synonym.cache_dir={tmp_path}",
                f"--trainer.default_root_dir={tmp_path}", f"--trainer.precision={precision}", *extra])
    assert cli.trainer.gradient_clip_val == 1.0
    metrics = cli.trainer.callback_metrics
    assert {f"train/{name}_loss" for name in ("mmlm", "tlm", "seq", "tok")} <= set(metrics)
    assert {"val/mmlm_loss", "val/retrieval/de-en-heldout/src2tgt", "val/synonym/zh-en-heldout/src2tgt"} <= set(metrics)
    assert cli.trainer.global_step == 3 and all(torch.isfinite(v) for v in metrics.values())
    slow = precision == "bf16-mixed" and not cpu_bf16_kernels()
    assert ("on a CPU without bf16 kernels" in caplog.text) == slow


CONFIGS = sorted(glob.glob(os.path.join(ROOT, "configs", "**", "*.yaml"), recursive=True))


def _composed(config: str) -> list[str]:
    """The configs a shipped one composes after: run deltas after their experiment's base, model and trainer fragments
    after the quickstart; full configs parse alone."""
    name, folder = os.path.basename(config), os.path.basename(os.path.dirname(config))
    if folder == "experiments" and name.startswith("ntrex-"):
        return [os.path.join(ROOT, "configs", "experiments", "ntrex.yaml")]
    if folder in ("model", "trainer"):
        return [os.path.join(ROOT, "configs", "quickstart.yaml")]
    return []


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: os.path.relpath(p, ROOT))
def test_shipped_config_parses(config, capsys):
    from veco_lightning.tasks.cli import run_cli as xtreme
    from veco_lightning.tasks.cli import suite_parser

    if config.endswith(os.path.join("xtreme", "suite.yaml")):  # veco-xtreme suite: every task it lists exists
        parsed = suite_parser().parse_args(["--config", config, "--encoder", "enc", "--output_dir", "out"])
        assert all(os.path.exists(os.path.join(ROOT, task)) for task in [*parsed.tasks, parsed.retrieval])
        return
    base = [arg for path in _composed(config) for arg in ("--config", path)]
    with pytest.raises(SystemExit) as exit_info:
        if "/xtreme/" in config:  # task configs: veco-xtreme, with the encoder every run names
            xtreme(["fit", "--config", config, "--model.init_args.encoder=runs/encoder", "--print_config"])
        else:
            main(["test" if "/eval/" in config else "fit", *base, "--config", config, "--print_config"])
    assert exit_info.value.code in (0, None)
    assert "model:" in capsys.readouterr().out
    if "/eval/" in config:  # the README's `predict` embeds the evaluation pair sets with the same configs
        for subcommand in ("validate", "predict"):
            with pytest.raises(SystemExit) as exit_info:
                main([subcommand, *base, "--config", config, "--print_config"])
            assert exit_info.value.code in (0, None), subcommand


def test_ddp_two_cpu_processes(corpus_dir, tokenizer_dir, tmp_path):
    args = _args(corpus_dir, tokenizer_dir, tmp_path) + [
        "--config", os.path.join(ROOT, "configs", "trainer", "ddp-cpu.yaml"),
        f"--export.dirpath={tmp_path / 'hf'}",
    ]
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    result = subprocess.run([sys.executable, "-m", "veco_lightning", "fit", *args], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "max_steps=4" in result.stderr + result.stdout
    assert AutoModelForMaskedLM.from_pretrained(tmp_path / "hf") is not None
