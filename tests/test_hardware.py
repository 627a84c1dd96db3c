"""The warning for bf16 on a CPU without bf16 kernels."""

import logging

import pytest
from lightning import Trainer

from veco_lightning import hardware


@pytest.mark.parametrize(("precision", "kernels", "warned"),
                         [("bf16-mixed", False, True), ("bf16-true", False, True), ("bf16-mixed", True, False),
                          ("32-true", False, False)])
def test_bf16_on_a_cpu_without_bf16_kernels_is_warned(monkeypatch, caplog, precision, kernels, warned):
    monkeypatch.setattr(hardware, "cpu_bf16_kernels", lambda: kernels)
    trainer = Trainer(accelerator="cpu", devices=1, precision=precision, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False)
    with caplog.at_level(logging.WARNING, logger="veco_lightning.hardware"):
        hardware.check_cpu_precision(trainer)
    assert ("on a CPU without bf16 kernels" in caplog.text) == warned
    if warned:
        assert f"trainer.precision is {precision}" in caplog.text and "32-true" in caplog.text


def test_kernel_check_answers_on_this_build():
    assert isinstance(hardware.cpu_bf16_kernels(), bool)
