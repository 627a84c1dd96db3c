"""What a user reads in a log file: ``veco-fit`` with its output piped (as under ``tee``, ``nohup`` or SLURM)."""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_piped_fit_prints_progress_lines_summary_and_no_noise(corpus_dir, tokenizer_dir, tmp_path):
    files = "{" + ", ".join(f"{lang}: {corpus_dir / f'{lang}.txt'}" for lang in ("en", "ru", "zh")) + "}"
    command = [
        sys.executable, "-m", "veco_lightning", "--config", os.path.join(ROOT, "tests", "conf", "tiny.yaml"),
        f"--data.tokenizer={tokenizer_dir}", f"--data.monolingual.files={files}",
        f"--data.monolingual.cache_dir={tmp_path / 'cache'}", f"--trainer.default_root_dir={tmp_path / 'run'}",
        "--trainer.enable_progress_bar=true", "--progress.every_n_steps=2", f"--export.dirpath={tmp_path / 'hf'}",
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out, err = result.stdout, result.stderr
    # a plain line every 2 steps, with per-objective losses, learning rate, gradient norm and throughput
    lines = [line for line in out.splitlines() if line.startswith("step ")]
    assert [line.split()[1] for line in lines] == ["2/4", "4/4"], out
    assert re.search(r"loss [\d.]+  mmlm [\d.]+  lr [\d.e+-]+  grad [\d.]+  [\d,]+ tok/s", lines[-1]), lines[-1]
    # the end-of-run summary: steps, tokens, time, last losses, checkpoint and export paths
    summary = out[out.index("Run summary:"):]
    assert "4 steps" in summary and "encoder tokens: 256 per device" in summary
    assert "━" not in out and "it/s" not in out  # no progress bar frame in a log file
    assert re.search(r"last train losses: loss [\d.]+, mmlm [\d.]+", summary), summary
    assert re.search(r"last val losses: mmlm [\d.]+", summary), summary
    assert ".ckpt" in summary and str(tmp_path / "hf") in summary
    # the package's INFO lines are shown; third-party progress bars, tips and known-harmless warnings are not
    assert "INFO veco_lightning" in err
    for noise in ("Map:", "Saving the dataset", "Tip:", "LeafSpec", "set_vital", "weights_only=False"):
        assert noise not in out + err, noise
