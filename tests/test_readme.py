"""Every command of the README runs as written: a fast test parses each one (LightningCLI commands with
``--print_config``, the others with ``--help``); a slow test (``-m slow``) runs them, in README order, in a sandbox
that sees the repository's configs and ``../shared/data``, with training cut to a few steps."""

import os
import re
import shlex
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
# Commands that name the user's own files (a corpus, a data config, a cluster): they cannot run here. Every other
# command must run; a new placeholder has to be listed here on purpose.
PLACEHOLDERS = ("my-data.yaml", "my.yaml", "corpus/", "torchrun ")
SETUP = ("pip install",)  # the set-up lines: what follows `&&` is run


def commands(language: str = "bash") -> list[str]:
    """The README's shell commands, continuation lines joined, comments dropped, in order."""
    text = open(README, encoding="utf-8").read()
    found = []
    for block in re.findall(rf"```{language}\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("  #")[0].strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith(SETUP):
                line = line.split("&&", 1)[1].strip() if "&&" in line else ""
                if line.startswith("ruff"):  # the test command: ruff, then pytest (this suite itself)
                    continue
            if line:
                found.append(line)
    return found


def runnable() -> list[str]:
    return [c for c in commands() if not any(p in c for p in PLACEHOLDERS)]


def test_readme_has_commands_and_placeholders_are_few():
    every = commands()
    assert len(runnable()) >= 12 and len(every) - len(runnable()) <= 4


@pytest.mark.parametrize("command", runnable())
def test_readme_command_parses(command, tmp_path):
    args = shlex.split(command)
    if args[0] in ("veco-fit", "veco-xtreme") and args[1:2] not in (["score"], ["suite"]):
        args = [*args, "--print_config"]
    elif args[0].startswith(("veco-", "python")):
        args = [args[0], *([args[1]] if args[0] == "veco-xtreme" else []), "--help"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    result = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{command}\n{result.stdout[-1500:]}\n{result.stderr[-3000:]}"


# Appended when the slow test runs a command: a few steps instead of a full run, checkpoints every 5 steps.
SHORTEN = """
trainer:
  max_steps: 10
  val_check_interval: 5
  limit_val_batches: 2
  callbacks:
    - class_path: lightning.pytorch.callbacks.ModelCheckpoint
      init_args: {dirpath: runs/quickstart/checkpoints, save_last: true, every_n_train_steps: 5}
"""


def _shortened(args: list[str], sandbox) -> list[str]:
    if args[0] == "veco-fit" and "--print_config" not in args and ("fit" in args[1:2] or args[1].startswith("--")):
        # after the command's configs, before its own overrides (a command may move the checkpoints elsewhere)
        at = max(i for i, arg in enumerate(args) if arg == "--config") + 2
        return [*args[:at], "--config", str(sandbox / "shorten.yaml"), *args[at:]]
    if args[0] == "veco-xtreme" and args[1] == "fit":
        return [*args, "--trainer.max_steps=2", "--data.init_args.test_limit=20", "--data.init_args.dev_limit=20"]
    if args[0] == "veco-xtreme" and args[1] == "suite":
        return [*args, "--args=[--trainer.max_steps=1, --data.init_args.test_limit=5, --data.init_args.train_limit=40, "
                "--data.init_args.dev_limit=10, --trainer.limit_val_batches=1]"]
    return args


@pytest.mark.slow
def test_readme_commands_run(tmp_path):
    """Each runnable README command, in order, from a sandbox (``runs/`` there; configs and data linked)."""
    sandbox = tmp_path / "repo"
    sandbox.mkdir()
    os.symlink(os.path.join(ROOT, "configs"), sandbox / "configs")
    os.symlink(os.path.join(os.path.dirname(ROOT), "shared"), tmp_path / "shared")
    (sandbox / "shorten.yaml").write_text(SHORTEN, encoding="utf-8")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    for command in runnable():
        args = _shortened(shlex.split(command), sandbox)
        if args[0] == "python":
            args[0] = sys.executable
        result = subprocess.run(args, cwd=sandbox, env=env, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    for snippet in re.findall(r"```python\n(.*?)```", open(README, encoding="utf-8").read(), re.S):
        if any(p in snippet for p in ("corpus/", "my-tokenizer", "import mteb")):  # own files; MTEB needs the hub
            continue
        subprocess.run([sys.executable, "-c", snippet], cwd=sandbox, env=env, check=True, timeout=300)
