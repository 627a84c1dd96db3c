"""Optimizer parameter groups and the default learning-rate schedule."""

import pickle

import pytest
import torch

from veco_lightning.module import VecoPretrainModule
from veco_lightning.optim import WarmupLinearSchedule, note_parameter_shapes, weight_decay_groups


def test_no_weight_decay_on_norms_and_biases():
    module = VecoPretrainModule(vocab_size=100)
    decay, no_decay = weight_decay_groups(module, 0.01)
    names = {id(p): n for n, p in module.named_parameters()}
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim == 2 for p in decay["params"])
    assert any("LayerNorm" in names[id(p)] for p in no_decay["params"])
    assert any(names[id(p)].endswith("bias") for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(module.parameters()))


def test_decay_groups_use_the_shapes_noted_before_sharding():
    """Under FSDP a parameter is a 1-D view of this rank's shard between passes (here: a matrix flattened in place, the
    same parameter object): the shapes noted before decide, as the module's optimizer does; a pickled parameter
    keeps its note, and a note is not overwritten."""
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LayerNorm(3))
    weight = model[0].weight
    flat = torch.nn.Linear(4, 3).weight
    flat.data = flat.data.reshape(-1)
    assert weight_decay_groups(torch.nn.ParameterList([flat]), 0.01)[0]["params"] == []  # its own ndim: exempt
    note_parameter_shapes(model)
    weight.data = weight.data.reshape(-1)[:5]  # a 1-D shard of the matrix
    note_parameter_shapes(model)  # again after sharding (a second setup): the first note stays
    decay, no_decay = weight_decay_groups(model, 0.01)
    assert decay["params"] == [weight] and len(no_decay["params"]) == 3
    copy = pickle.loads(pickle.dumps(model))  # as a spawned process receives the module
    assert weight_decay_groups(copy, 0.01)[0]["params"] == [copy[0].weight]
    partitioned = torch.nn.Parameter(torch.zeros(0))  # as DeepSpeed ZeRO-3 leaves a parameter it partitioned
    partitioned.ds_shape = torch.Size([3, 4])
    holder = torch.nn.ParameterList([partitioned])
    note_parameter_shapes(holder)
    assert weight_decay_groups(holder, 0.01)[0]["params"] == [partitioned]



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


def test_default_adamw_is_fused_with_the_same_update():
    """The default optimizer runs AdamW's fused kernel (on the CPU torch otherwise steps tensor by tensor); the update
    is AdamW's. A factory of the user's own is called as given."""
    import copy
    import functools

    constant = functools.partial(torch.optim.lr_scheduler.LambdaLR, lr_lambda=lambda step: 1.0)
    module = VecoPretrainModule(vocab_size=100, lr_scheduler=constant, weight_decay=0.01)
    reference = copy.deepcopy(module)
    fused = module.configure_optimizers()["optimizer"]
    assert isinstance(fused, torch.optim.AdamW) and fused.defaults["fused"] is True
    plain = torch.optim.AdamW(weight_decay_groups(reference, 0.01), foreach=False)
    generator = torch.Generator().manual_seed(0)
    for _ in range(3):
        for p, q in zip(module.parameters(), reference.parameters()):
            p.grad = torch.randn(p.shape, generator=generator)
            q.grad = p.grad.clone()
        fused.step()
        plain.step()
    for p, q in zip(module.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-7)

    mine = VecoPretrainModule(vocab_size=100, lr_scheduler=constant,
                              optimizer=functools.partial(torch.optim.AdamW, lr=1e-4))
    assert not mine.configure_optimizers()["optimizer"].defaults["fused"]
