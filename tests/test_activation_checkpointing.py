"""``model.activation_checkpointing``: each transformer layer is recomputed in the backward pass, and the step's losses
and gradients are those of the step without it (dropout on: the masks are replayed), for every objective, packed or
padded, with GradCache, with ``torch.compile`` and through the command line."""

import os

import pytest
import torch
from batches import synonym_batch

from veco_lightning.models.encoder import EncoderSpec
from veco_lightning.module import VecoPretrainModule

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def full_batch(corpus_dir, tokenizer_dir, tmp_path_factory):
    """MMLM blocks, TLM rows and translation pairs with synonym pairs (padded rows)."""
    batch, vocab_size = synonym_batch(corpus_dir, tokenizer_dir, tmp_path_factory.mktemp("batch"), max_length=64,
                                      batch_size=6, bucket_batches=0)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, vocab_size, (3, 24), generator=g)
    labels = torch.where(torch.rand(3, 24, generator=g) < 0.3, ids, torch.full_like(ids, -100))
    batch["mmlm"] = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}
    assert not batch["tlm"]["attention_mask"].all() and int((batch["pairs"]["synonyms"][..., 0] >= 0).sum()) > 0
    return batch, vocab_size


def _step(batch, vocab_size, train=True, **options):
    """Losses, gradients and the number of times the layers' attention ran, of one training step (dropout on in
    ``train`` mode), and the module."""
    torch.manual_seed(0)
    module = VecoPretrainModule(encoder=EncoderSpec(preset="tiny"), vocab_size=vocab_size, **options).train(train)
    module.configure_model()
    runs = []
    for layer in module.encoder.encoder.layer:
        layer.attention.register_forward_pre_hook(lambda *args: runs.append(1))
    seen = {}
    module.log_losses = lambda losses, total, batch, stage: seen.update({k: v.detach() for k, v in losses.items()})
    torch.manual_seed(1)
    module.training_step(batch, 0).backward()
    return seen, {n: p.grad for n, p in module.named_parameters() if p.grad is not None}, len(runs), module


@pytest.mark.parametrize("options", [{}, {"unpad": False}, {"grad_cache_chunk": 4}],
                         ids=["packed", "padded", "grad_cache"])
def test_checkpointed_step_equals_the_plain_step(full_batch, options):
    batch, vocab = full_batch
    losses, grads, runs, _ = _step(batch, vocab, **options)
    checkpointed_losses, checkpointed_grads, checkpointed_runs, _ = _step(batch, vocab, activation_checkpointing=True,
                                                                          **options)
    assert set(losses) == {"mmlm", "tlm", "seq", "tok"}
    if "grad_cache_chunk" in options:  # the pairs' chunks, already re-encoded, recompute their layers once more
        assert checkpointed_runs > runs
    else:
        assert checkpointed_runs == 2 * runs  # every layer ran again in the backward pass
    for name, loss in losses.items():
        torch.testing.assert_close(checkpointed_losses[name], loss, rtol=0, atol=0)
    assert grads.keys() == checkpointed_grads.keys() and len(grads) > 20
    for name, grad in grads.items():
        torch.testing.assert_close(checkpointed_grads[name], grad, rtol=1e-6, atol=1e-8)


def test_checkpointed_layers_compile(full_batch):
    """Compiled layers (each a graph of its own) checkpoint too, with dropout on: with inductor drawing its random
    numbers as eager torch does (``fallback_random``), the compiled, checkpointed step is the eager step."""
    import torch._inductor.config

    batch, vocab = full_batch
    losses, grads, _, _ = _step(batch, vocab, unpad=False)  # compiled layers take padded batches
    with torch._inductor.config.patch(fallback_random=True):
        compiled_losses, compiled_grads, _, _ = _step(batch, vocab, compile=True, activation_checkpointing=True)
    for name, loss in losses.items():
        torch.testing.assert_close(compiled_losses[name], loss, rtol=1e-5, atol=1e-6)
    for name, grad in grads.items():
        torch.testing.assert_close(compiled_grads[name], grad, rtol=1e-4, atol=1e-6)


def test_the_option_from_the_command_line_survives_the_checkpoint(tmp_path):
    from veco_lightning.cli import run_cli

    cli = run_cli([
        "--config", os.path.join(ROOT, "configs", "quickstart.yaml"), "--model.activation_checkpointing=true",
        "--trainer.max_steps=3", "--trainer.val_check_interval=3", f"--trainer.default_root_dir={tmp_path}",
        f"--trainer.callbacks.dirpath={tmp_path / 'ck'}", f"--export.dirpath={tmp_path / 'hf'}",
        f"--data.monolingual.cache_dir={tmp_path / 'cache'}", f"--data.synonym.cache_dir={tmp_path / 'cache'}",
    ])
    layer = cli.model.encoder.encoder.layer[0]
    assert layer.gradient_checkpointing and cli.trainer.global_step == 3
    checkpoint = torch.load(tmp_path / "ck" / "last.ckpt", weights_only=True, map_location="cpu")
    assert checkpoint["hyper_parameters"]["activation_checkpointing"] is True
    restored = VecoPretrainModule.load_from_checkpoint(tmp_path / "ck" / "last.ckpt", weights_only=True)
    assert restored.encoder.encoder.layer[0].gradient_checkpointing
    from transformers import AutoModelForMaskedLM

    assert not AutoModelForMaskedLM.from_pretrained(tmp_path / "hf").roberta.encoder.layer[0].gradient_checkpointing
