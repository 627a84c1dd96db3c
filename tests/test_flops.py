"""The model FLOPs counted from shapes (veco_lightning.flops) against torch's own count of the matrix products."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from veco_lightning import VecoPretrainModule
from veco_lightning.flops import batch_flops, encoder_flops
from veco_lightning.models.encoder import EncoderSpec

VOCAB = 300


def _module():
    torch.manual_seed(0)
    return VecoPretrainModule(encoder=EncoderSpec(preset="tiny", max_length=64), vocab_size=VOCAB,
                              loss_weights={"tlm": 0.0, "seq": 0.0, "tok": 0.0})


def _counted(module, batch) -> int:
    with FlopCounterMode(display=False) as counter:
        module.training_step(batch, 0).backward()
    return counter.get_total_flops()


def _mlm_batch(rows=4, length=32):
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(5, VOCAB, (rows, length), generator=generator)
    labels = torch.full_like(ids, -100)
    masked = torch.rand(rows, length, generator=generator) < 0.15
    labels[masked] = ids[masked]
    return {"mmlm": {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}}


@pytest.mark.parametrize("length", [16, 48])
def test_mlm_step_matches_torch_flop_counter(length):
    module = _module()
    batch = _mlm_batch(length=length)
    counted = _counted(module, batch)
    assert batch_flops(module.encoder.config, batch) == pytest.approx(counted, rel=0.02)


def test_padding_is_not_counted():
    module = _module()
    mask = torch.ones(2, 40, dtype=torch.long)
    mask[1, 10:] = 0
    config = module.encoder.config
    assert encoder_flops(config, mask) == pytest.approx(encoder_flops(config, torch.ones(1, 40)) +
                                                        encoder_flops(config, torch.ones(1, 10)))
