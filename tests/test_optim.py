"""Optimizer parameter groups and the default learning-rate schedule."""

import pytest
import torch

from veco_lightning.module import VecoPretrainModule
from veco_lightning.optim import WarmupLinearSchedule, weight_decay_groups


def test_no_weight_decay_on_norms_and_biases():
    module = VecoPretrainModule(vocab_size=100)
    decay, no_decay = weight_decay_groups(module, 0.01)
    names = {id(p): n for n, p in module.named_parameters()}
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim == 2 for p in decay["params"])
    assert any("LayerNorm" in names[id(p)] for p in no_decay["params"])
    assert any(names[id(p)].endswith("bias") for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(module.parameters()))


def test_warmup_linear_schedule():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = WarmupLinearSchedule(opt, warmup_steps=0.1)
    sched.set_total_steps(100)
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] < 0.1 and max(lrs) == pytest.approx(1.0, abs=0.01) and lrs.index(max(lrs)) == 10
    assert lrs[-1] < 0.02


def test_schedule_with_final_ratio_and_absolute_warmup():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=2.0)
    sched = WarmupLinearSchedule(opt, warmup_steps=5, total_steps=20, final_ratio=0.5)
    lrs = []
    for _ in range(30):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[:5] == pytest.approx([2.0 * (k + 1) / 6 for k in range(5)])
    assert lrs[5] == pytest.approx(2.0) and lrs[-1] == pytest.approx(1.0)  # decays to half the peak, then holds
