"""model.compile: the encoder trunk compiled with torch.compile gives the eager loss and gradients, and keeps the
weights' names (checkpoints and exports are unchanged)."""

import torch

from veco_lightning import VecoPretrainModule
from veco_lightning.models.encoder import EncoderSpec

VOCAB = 300


def _module(compile):
    torch.manual_seed(0)
    module = VecoPretrainModule(encoder=EncoderSpec(preset="tiny", max_length=64), vocab_size=VOCAB,
                                loss_weights={"tlm": 0.0, "seq": 0.0, "tok": 0.0}, compile=compile).eval()
    module.configure_model()
    module.log_losses = lambda *args: None
    return module


def test_compiled_encoder_matches_eager():
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(5, VOCAB, (4, 24), generator=generator)
    labels = torch.where(torch.rand(4, 24, generator=generator) < 0.15, ids, -100)
    batch = {"mmlm": {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}}
    results = []
    for compile in (False, True):
        module = _module(compile)
        loss = module.training_step(batch, 0)
        loss.backward()
        results.append((module, loss.detach(), {n: p.grad for n, p in module.named_parameters() if p.grad is not None}))
    (eager, eager_loss, eager_grads), (compiled, compiled_loss, compiled_grads) = results
    assert getattr(compiled.encoder, "_compiled_call_impl", None) is not None
    assert list(compiled.state_dict()) == list(eager.state_dict())
    torch.testing.assert_close(compiled_loss, eager_loss, rtol=1e-5, atol=1e-6)
    for name, grad in eager_grads.items():
        torch.testing.assert_close(compiled_grads[name], grad, rtol=1e-4, atol=1e-6)
