"""The quickstart as a user runs it, to the end (slow: about two minutes on 2 CPU cores; ``-m slow`` selects it), and
the full objective in bf16 on a GPU (``-m gpu``, skipped without CUDA)."""

import json
import os

import pytest
import torch
from transformers import AutoModelForMaskedLM, AutoTokenizer

from veco_lightning.cli import run_cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_quickstart_trains_aligned_encoder(tmp_path):
    export = tmp_path / "hf_model"
    cli = run_cli(["--config", os.path.join(ROOT, "configs", "quickstart.yaml"),
                   f"--trainer.default_root_dir={tmp_path}", f"--export.dirpath={export}",
                   f"--data.monolingual.cache_dir={tmp_path / 'cache'}",
                   f"--data.synonym.cache_dir={tmp_path / 'cache'}",
                   "--trainer.enable_progress_bar=false"])
    metrics = cli.trainer.callback_metrics
    assert cli.trainer.global_step == 1500
    # The demo's held-out translations: the trained encoder retrieves them and their dictionary words.
    assert float(metrics["val/retrieval/average/src2tgt"]) > 0.7
    assert float(metrics["val/synonym/average/src2tgt"]) > 0.8
    assert float(metrics["train/tok_loss"]) < 0.5 and float(metrics["train/seq_loss"]) < 0.5
    model, tokenizer = AutoModelForMaskedLM.from_pretrained(export), AutoTokenizer.from_pretrained(export)
    inputs = tokenizer("My brother lives in <mask>.", return_tensors="pt")
    assert model(**inputs).logits.shape[-1] == len(tokenizer)
    assert json.loads((export / "config.json").read_text())["model_type"] == "xlm-roberta"


@pytest.mark.gpu
@pytest.mark.parametrize("trainer", [[], ["--config", os.path.join(ROOT, "configs", "trainer", "fsdp.yaml")]],
                         ids=["one-device", "fsdp-config"])
def test_full_objective_bf16_on_gpu(tmp_path, trainer):
    """All four objectives in bf16 on one GPU, plainly and under the shipped FSDP config (clipping at 1.0, the CLI's
    default, by FSDP's norm; the matrices decayed)."""
    cli = run_cli(["--config", os.path.join(ROOT, "tests", "conf", "full.yaml"), *trainer, "--trainer.accelerator=gpu",
                   "--trainer.devices=1", "--trainer.precision=bf16-mixed", f"--trainer.default_root_dir={tmp_path}",
                   f"--data.monolingual.cache_dir={tmp_path}", f"--data.synonym.cache_dir={tmp_path}"])
    metrics = cli.trainer.callback_metrics
    assert {f"train/{name}_loss" for name in ("mmlm", "tlm", "seq", "tok")} <= set(metrics)
    assert all(torch.isfinite(value) for value in metrics.values())
    decayed = [p for group in cli.trainer.optimizers[0].param_groups if group["weight_decay"] > 0
               for p in group["params"]]
    assert len(decayed) >= 10  # the matrices, also when FSDP has sharded them into 1-D views
