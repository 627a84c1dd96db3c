"""model.compile: the encoder compiled with torch.compile (each layer, or the whole trunk) gives the eager loss and
gradients, and keeps the weights' names (checkpoints and exports are unchanged)."""

import pytest
import torch

from veco_lightning import VecoPretrainModule
from veco_lightning.models.encoder import EncoderSpec

VOCAB = 300


def _module(compile, scope="layers"):
    torch.manual_seed(0)
    module = VecoPretrainModule(encoder=EncoderSpec(preset="tiny", max_length=64), vocab_size=VOCAB,
                                loss_weights={"tlm": 0.0, "seq": 0.0, "tok": 0.0}, compile=compile,
                                compile_scope=scope).eval()
    module.configure_model()
    module.log_losses = lambda *args: None
    return module


@pytest.mark.parametrize("scope", ["layers", "trunk"])
def test_compiled_encoder_matches_eager(scope):
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(5, VOCAB, (4, 24), generator=generator)
    labels = torch.where(torch.rand(4, 24, generator=generator) < 0.15, ids, -100)
    batch = {"mmlm": {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}}
    results = []
    for compile in (False, True):
        module = _module(compile, scope)
        loss = module.training_step(batch, 0)
        loss.backward()
        results.append((module, loss.detach(), {n: p.grad for n, p in module.named_parameters() if p.grad is not None}))
    (eager, eager_loss, eager_grads), (compiled, compiled_loss, compiled_grads) = results
    compiled_modules = compiled.compiled_modules()
    expected = list(compiled.encoder.encoder.layer) if scope == "layers" else [compiled.encoder]
    assert compiled_modules == expected
    assert all(getattr(module, "_compiled_call_impl", None) is not None for module in compiled_modules)
    assert list(compiled.state_dict()) == list(eager.state_dict())
    torch.testing.assert_close(compiled_loss, eager_loss, rtol=1e-5, atol=1e-6)
    for name, grad in eager_grads.items():
        torch.testing.assert_close(compiled_grads[name], grad, rtol=1e-4, atol=1e-6)


def test_layers_share_one_compiled_graph():
    """Regional compilation compiles one layer's graph for all layers (its compile time does not grow with depth)."""
    import torch._dynamo

    torch._dynamo.reset()
    counters = torch._dynamo.utils.counters
    counters.clear()
    module = _module(True, "layers")
    ids = torch.randint(5, VOCAB, (2, 16), generator=torch.Generator().manual_seed(2))
    module.encode({"input_ids": ids, "attention_mask": torch.ones_like(ids)})
    assert len(module.encoder.encoder.layer) > 1
    assert counters["stats"]["unique_graphs"] == 1


def test_unknown_compile_scope_is_an_error():
    with pytest.raises(ValueError, match="compile_scope"):
        VecoPretrainModule(encoder=EncoderSpec(preset="tiny", max_length=64), vocab_size=VOCAB, compile_scope="all")
