"""Reliability: a killed run resumes exactly, a kill during a save leaves the previous checkpoint whole, runs are
deterministic, non-finite losses are caught, and no checkpoint or config can run code on load."""

import csv
import glob
import os
import pickle
import signal
import subprocess
import sys
import time

import pytest
import torch

from veco_lightning.cli import run_cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESUME = os.path.join(ROOT, "tests", "conf", "resume.yaml")


def _fit_args(root, *extra):
    cache = root / "cache"
    return ["fit", "--config", RESUME, f"--trainer.default_root_dir={root}",
            f"--trainer.logger.init_args.save_dir={root}", f"--data.monolingual.cache_dir={cache}",
            f"--data.parallel.cache_dir={cache}", f"--data.synonym.cache_dir={cache}", *extra]


def _child(root, *extra, wait=True):
    """``veco-fit`` in a child process (what a user runs); tests/helpers holds the pausing callbacks."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([ROOT, os.path.join(ROOT, "tests", "helpers"),
                                                        os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen([sys.executable, "-m", "veco_lightning", *_fit_args(root, *extra)], cwd=root, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if wait:
        out, _ = process.communicate(timeout=300)
        assert process.returncode == 0, out[-3000:]
    return process


def _kill_when(process, marker, timeout=300):
    deadline = time.time() + timeout
    while not os.path.exists(marker):
        assert process.poll() is None, process.stdout.read()[-3000:]
        assert time.time() < deadline, "the child never reached the point to kill"
        time.sleep(0.2)
    os.kill(process.pid, signal.SIGKILL)  # a real kill: no handler, no clean-up
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL


def _losses(root):
    """Every logged training loss by (name, step), from all CSV logs under ``root``."""
    values = {}
    for path in sorted(glob.glob(str(root / "lightning_logs" / "*" / "metrics.csv"))):
        with open(path) as handle:
            for row in csv.DictReader(handle):
                for key, value in row.items():
                    if key.startswith("train/") and key.endswith("loss") and value:
                        values[key, int(row["step"])] = float(value)
    return values


def _weights(checkpoint):
    return torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]


# A run bounded by epochs: its schedule's length is counted from the train loader, which Lightning builds before the
# checkpoint is restored (issue 20550); the resumed run started its epoch over (weights 0.011 apart after 60 steps).
BY_EPOCHS = ("--trainer.max_steps=-1", "--trainer.max_epochs=1", "--trainer.val_check_interval=null",
             "--trainer.check_val_every_n_epoch=1")


@pytest.mark.parametrize("bound", ["steps", "epochs"])
def test_killed_run_resumes_exactly(tmp_path, bound):
    """The straight run loads in the main process; the killed and resumed ones with loader workers (their own
    processes, random states and resumed positions): masks and orders depend on neither."""
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    straight.mkdir(), killed.mkdir()
    length = BY_EPOCHS if bound == "epochs" else ()
    workers = ("--data.monolingual.num_workers=2", "--data.synonym.num_workers=1", *length)
    _child(straight, *length)
    process = _child(killed, *workers, "--trainer.callbacks+=run_control.PauseAtStep", "--trainer.callbacks.step=7",
                     f"--trainer.callbacks.marker={killed / 'paused'}", wait=False)
    _kill_when(process, killed / "paused")  # in the middle of step 7 (mid-epoch); the last checkpoint is step 4
    assert glob.glob(str(killed / "**" / "last.ckpt"), recursive=True)
    _child(killed, *workers, "--ckpt_path=last")
    (done,) = glob.glob(str(straight / "**" / "last.ckpt"), recursive=True)
    resumed = max(glob.glob(str(killed / "**" / "last.ckpt"), recursive=True), key=os.path.getmtime)
    assert torch.load(resumed, weights_only=True)["global_step"] == torch.load(done, weights_only=True)["global_step"]
    a, b = _weights(done), _weights(resumed)
    assert max(float((a[k] - b[k]).abs().max()) for k in a) <= 1e-6
    expected, got = _losses(straight), _losses(killed)
    after_resume = {key for key in expected if key[1] >= 4}  # steps 5-12 were logged by the resumed run
    assert len(after_resume) >= 8 * 2 and all(got[key] == expected[key] for key in after_resume)


def test_kill_during_save_keeps_previous_checkpoint(tmp_path):
    process = _child(tmp_path, "--trainer.callbacks+=run_control.PauseInSave", "--trainer.callbacks.save=4",
                     f"--trainer.callbacks.marker={tmp_path / 'paused'}", wait=False)
    _kill_when(process, tmp_path / "paused")  # half of the step-8 last.ckpt written (save 3 is step-8.ckpt)
    last = max(glob.glob(str(tmp_path / "**" / "last.ckpt"), recursive=True), key=os.path.getmtime)
    assert torch.load(last, weights_only=True)["global_step"] == 4  # the step-4 checkpoint, whole
    assert glob.glob(str(tmp_path / "**" / "*.partial-*"), recursive=True)  # the interrupted write, never renamed
    _child(tmp_path, "--ckpt_path=last")
    last = max(glob.glob(str(tmp_path / "**" / "last.ckpt"), recursive=True), key=os.path.getmtime)
    assert torch.load(last, weights_only=True)["global_step"] == 12


def test_last_checkpoint_under_a_root_whose_name_holds_glob_characters(tmp_path):
    from veco_lightning.checkpointing import last_checkpoint

    root = tmp_path / "runs" / "lr[1e-3]"
    (root / "checkpoints").mkdir(parents=True)
    (root / "checkpoints" / "last.ckpt").write_bytes(b"")
    assert last_checkpoint(str(root)) == str(root / "checkpoints" / "last.ckpt")


def test_ckpt_path_last_without_checkpoint_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        run_cli(_fit_args(tmp_path, "--ckpt_path=last"))


@pytest.mark.parametrize("configs", [["configs/quickstart.yaml"],
                                     ["configs/experiments/ntrex.yaml", "configs/experiments/ntrex-d.yaml"]])
def test_shipped_configs_resume_with_last(configs, capsys):
    """Every shipped training config keeps a last.ckpt under its root folder: what --ckpt_path last finds."""
    import yaml

    with pytest.raises(SystemExit):
        run_cli(["fit", *[a for c in configs for a in ("--config", os.path.join(ROOT, c))], "--print_config"])
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["trainer"]["default_root_dir"]
    checkpoints = [c for c in config["trainer"]["callbacks"] if c["class_path"].endswith("ModelCheckpoint")]
    assert checkpoints and all(c["init_args"]["save_last"] for c in checkpoints)


def test_same_seed_same_losses(tmp_path):
    runs = []
    for name in ("one", "two"):
        root = tmp_path / name
        root.mkdir()
        run_cli(_fit_args(root, "--trainer.max_steps=6", "--trainer.callbacks=[]",
                          "--trainer.enable_checkpointing=false"))
        runs.append(_losses(root))
    assert runs[0] and runs[0] == runs[1]


def test_nonfinite_loss_is_skipped_then_stops(tmp_path, caplog):
    args = _fit_args(tmp_path, "--model.optimizer.init_args.lr=1.0e+12", "--trainer.gradient_clip_val=0",
                     "--model.max_nonfinite_steps=2", "--trainer.max_steps=40", "--trainer.callbacks=[]",
                     "--trainer.enable_checkpointing=false", "--trainer.limit_val_batches=0")
    with pytest.raises(RuntimeError, match="Non-finite training loss"):
        run_cli(args)
    assert "skipped: non-finite loss" in caplog.text


def test_export_refuses_nonfinite_weights(tmp_path):
    from veco_lightning.models.encoder import EncoderSpec, build_encoder
    from veco_lightning.models.export import export_pretrained

    model = build_encoder(EncoderSpec(preset="tiny"), vocab_size=50)
    with torch.no_grad():
        model.roberta.encoder.layer[0].attention.self.query.weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinite"):
        export_pretrained(model, str(tmp_path / "out"))
    assert not (tmp_path / "out" / "config.json").exists()


class _Payload:
    def __reduce__(self):
        return (os.system, (f"touch {_Payload.marker}",))


def test_checkpoints_never_run_code(tmp_path):
    from veco_lightning.checkpointing import AtomicCheckpointIO
    from veco_lightning.models.export import export_checkpoint
    from veco_lightning.tasks.backbone import read_checkpoint

    _Payload.marker = tmp_path / "code-ran"
    payload = {"state_dict": {}, "hyper_parameters": {"x": _Payload()}}
    crafted, pickled = tmp_path / "crafted.ckpt", tmp_path / "pickled.ckpt"
    torch.save(payload, crafted)  # what an attacker ships: a checkpoint whose unpickling runs a command
    with open(pickled, "wb") as handle:  # the same as a bare pickle, which torch.load does not take for a checkpoint
        pickle.dump(payload, handle)
    for path, message in ((crafted, r"refused to load.*GLOBAL (posix|os)\.system"),
                          (pickled, r"not a checkpoint")):
        for load in (lambda path=path: export_checkpoint(str(path), str(tmp_path / "out")),
                     lambda path=path: AtomicCheckpointIO().load_checkpoint(str(path)),
                     lambda path=path: read_checkpoint(str(path))):
            with pytest.raises(ValueError, match=message) as err:
                load()  # refused, never executed
            assert "weights_only` set to `False`" not in str(err.value)  # never torch's advice to load it unsafely
    assert not _Payload.marker.exists()


def test_a_file_that_is_no_checkpoint_says_so(tmp_path):
    from veco_lightning.checkpointing import AtomicCheckpointIO
    from veco_lightning.models.export import export_checkpoint
    from veco_lightning.tasks.backbone import read_checkpoint

    whole = tmp_path / "whole.ckpt"
    torch.save({"state_dict": {"w": torch.randn(300, 300)}}, whole)
    cut, text = tmp_path / "cut.ckpt", tmp_path / "notes.ckpt"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])  # a copy cut short
    text.write_text("not a checkpoint\n")
    for path in (cut, text):
        for load in (lambda path=path: export_checkpoint(str(path), str(tmp_path / "out")),
                     lambda path=path: AtomicCheckpointIO().load_checkpoint(str(path)),
                     lambda path=path: read_checkpoint(str(path))):
            with pytest.raises(ValueError, match=rf"{path.name}: not a checkpoint \(torch.save writes checkpoints as "
                                                 r"zip archives.*Give a .ckpt that veco-fit wrote"):
                load()


def test_trust_remote_code_only_by_name(tmp_path, caplog):
    from veco_lightning.models.encoder import EncoderSpec, build_encoder

    path = tmp_path / "enc"
    build_encoder(EncoderSpec(preset="tiny"), vocab_size=50).save_pretrained(path)
    with pytest.raises(ValueError, match="trust_remote_code"):
        build_encoder(EncoderSpec(path=str(path), overrides={"trust_remote_code": True}))
    build_encoder(EncoderSpec(path=str(path), trust_remote_code=True))
    assert "may run the model code" in caplog.text
