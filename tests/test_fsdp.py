"""The pre-training module under FSDP, where each rank holds a shard of every parameter and gradient (between passes
a parameter is a 1-D view of the rank's shard): the gradient norm must be summed over the ranks, and the weight-decay
groups must tell matrices from biases by their defined shapes. Two gloo processes on CPU shard the tiny module with
FSDP as Lightning's ``FSDPStrategy`` does (``use_orig_params``, one shard unit per layer; the Trainer itself runs FSDP
on GPUs only) and call the module's own hooks; the clipped gradients, the logged norm and the optimizer's groups must
equal those of one process on the same batch; GradCache re-encodes its chunks through the shard units."""

import types

import gloo
import pytest
import torch

VOCAB, LENGTH, CLIP = 120, 16, 1e-3


def _module(activation_checkpointing=False):
    from veco_lightning.models.encoder import EncoderSpec
    from veco_lightning.module import VecoPretrainModule

    torch.manual_seed(0)
    no_dropout = {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
    return VecoPretrainModule(encoder=EncoderSpec(preset="tiny", max_length=LENGTH, overrides=no_dropout),
                              vocab_size=VOCAB, pad_token_id=1, activation_checkpointing=activation_checkpointing)


def _batch():
    ids = torch.randint(4, VOCAB, (4, LENGTH), generator=torch.Generator().manual_seed(3))
    labels = torch.full_like(ids, -100)
    labels[:, ::3] = ids[:, ::3]
    return {"mmlm": {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}}


def _attach(module, model, plugin):
    """A stand-in for the Trainer: what the module's loss, clipping and logging hooks read; returns what is logged."""
    logged = {}
    module._trainer = types.SimpleNamespace(
        precision_plugin=plugin, model=model, global_step=0, log_every_n_steps=1, estimated_stepping_batches=10,
        strategy=types.SimpleNamespace(reduce_boolean_decision=lambda decision, all=True: decision))
    module.log = lambda name, value, **kwargs: logged.__setitem__(name, float(value))
    return logged


def _decayed(module, optimizer):
    """The names of the parameters in the optimizer's decayed group (FSDP's wrapper names left out)."""
    names = {id(p): name.replace("_fsdp_wrapped_module.", "") for name, p in module.named_parameters()}
    return sorted(names[id(p)] for group in optimizer.param_groups if group["weight_decay"] > 0
                  for p in group["params"])


def _reference(out):
    """One process: the gradient norm the module logs, the gradients clipped to ``CLIP`` by torch, and the decayed
    parameters."""
    module = _module()
    logged = _attach(module, module, plugin=None)
    decayed = _decayed(module, module.configure_optimizers()["optimizer"])
    module.training_step(_batch(), 0).backward()
    module.on_before_optimizer_step(None)
    torch.nn.utils.clip_grad_norm_(module.parameters(), CLIP)
    torch.save({"norm": logged["train/grad_norm"], "decayed": decayed,
                "grads": {name: p.grad for name, p in module.named_parameters() if p.grad is not None}}, out)


def _fsdp_worker(rank, world_size, sharding, out, activation_checkpointing=False):
    from lightning.pytorch.plugins.precision import FSDPPrecision
    from lightning.pytorch.strategies.strategy import _ForwardRedirection
    from torch.distributed.fsdp import FullyShardedDataParallel, ShardingStrategy
    from torch.distributed.fsdp.wrap import ModuleWrapPolicy
    from transformers.models.xlm_roberta.modeling_xlm_roberta import XLMRobertaLayer

    module = _module(activation_checkpointing)
    model = FullyShardedDataParallel(module, auto_wrap_policy=ModuleWrapPolicy({XLMRobertaLayer}),
                                     sharding_strategy=ShardingStrategy[sharding], device_id=torch.device("cpu"),
                                     use_orig_params=True)
    logged = _attach(module, model, FSDPPrecision("32-true"))
    module.setup("fit")  # Lightning calls it before wrapping; after, it must keep the shapes noted in __init__
    optimizer = module.configure_optimizers()["optimizer"]  # after wrapping, as Lightning's FSDPStrategy calls it
    # The same batch on both ranks: the averaged gradient is the one-process gradient.
    _ForwardRedirection()(model, module, "training_step", _batch(), 0).backward()  # as the strategy calls it
    module.on_before_optimizer_step(optimizer)
    module.configure_gradient_clipping(optimizer, CLIP, "norm")
    with FullyShardedDataParallel.summon_full_params(model, with_grads=True):
        grads = {name.replace("_fsdp_wrapped_module.", ""): p.grad.clone()  # the names of the unwrapped module
                 for name, p in module.named_parameters() if p.grad is not None}
    if rank == 0:
        torch.save({"norm": logged["train/grad_norm"], "grads": grads, "decayed": _decayed(module, optimizer)}, out)


@pytest.mark.parametrize("sharding", ["FULL_SHARD", "SHARD_GRAD_OP", "NO_SHARD", "FULL_SHARD+checkpointing"])
def test_fsdp_clips_logs_the_norm_and_decays_the_matrices_of_the_whole_model(tmp_path, sharding):
    """(``+checkpointing``: each shard unit's layer recomputed in the backward pass, the same gradients.)"""
    _reference(tmp_path / "one.pt")
    sharding, _, checkpointing = sharding.partition("+")
    gloo.spawn(_fsdp_worker, (sharding, str(tmp_path / "fsdp.pt"), bool(checkpointing)))
    one, fsdp = (torch.load(tmp_path / name, weights_only=True) for name in ("one.pt", "fsdp.pt"))
    assert fsdp["decayed"] == one["decayed"] and len(one["decayed"]) > 10  # matrices and embeddings, not 1-D shards
    assert fsdp["norm"] == pytest.approx(one["norm"], rel=1e-5)
    assert one["norm"] > 100 * CLIP  # the clipping scaled every gradient down
    assert set(one["grads"]) <= set(fsdp["grads"])
    for name, grad in one["grads"].items():
        torch.testing.assert_close(fsdp["grads"][name], grad, rtol=1e-5, atol=1e-9, msg=name)
    clipped = torch.linalg.vector_norm(torch.stack([fsdp["grads"][name].norm() for name in one["grads"]]))
    assert float(clipped) == pytest.approx(CLIP, rel=1e-4)


def _padded_batch():
    """The batch with its last positions padded: the module encodes it padding-free (``model.unpad``), so the packed
    rows travel through FSDP's units to the attention."""
    batch = _batch()
    inputs = batch["mmlm"]
    inputs["attention_mask"][:, 12:] = 0
    inputs["input_ids"][:, 12:] = 1
    inputs["labels"][:, 12:] = -100
    return batch


def _bf16_worker(rank, world_size, out):
    from lightning.pytorch.plugins.precision import FSDPPrecision
    from lightning.pytorch.strategies.strategy import _ForwardRedirection
    from torch.distributed.fsdp import FullyShardedDataParallel
    from torch.distributed.fsdp.wrap import ModuleWrapPolicy
    from transformers.models.xlm_roberta.modeling_xlm_roberta import XLMRobertaLayer

    module = _module()
    plugin = FSDPPrecision("bf16-mixed")  # parameters, reductions and buffers in bf16, as Lightning sets FSDP up
    model = FullyShardedDataParallel(module, auto_wrap_policy=ModuleWrapPolicy({XLMRobertaLayer}),
                                     device_id=torch.device("cpu"), use_orig_params=True,
                                     mixed_precision=plugin.mixed_precision_config)
    logged = _attach(module, model, plugin)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = _ForwardRedirection()(model, module, "training_step", _padded_batch(), 0)
    loss.backward()
    module.on_before_optimizer_step(None)
    torch.save({"loss": float(loss), "norm": logged["train/grad_norm"]}, f"{out}.{rank}")


def test_fsdp_in_bf16_encodes_padded_batches_padding_free(tmp_path):
    """bf16-mixed under FSDP with a padded batch: the packed rows reach the attention through the shard units, and
    loss and gradient norm agree on both ranks and with one process in bf16 autocast."""
    module = _module()
    logged = _attach(module, module, plugin=None)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = module.training_step(_padded_batch(), 0)
    loss.backward()
    module.on_before_optimizer_step(None)
    gloo.spawn(_bf16_worker, (str(tmp_path / "bf16"),))
    ranks = [torch.load(f"{tmp_path / 'bf16'}.{rank}", weights_only=True) for rank in (0, 1)]
    assert ranks[0] == ranks[1]
    assert ranks[0]["loss"] == pytest.approx(float(loss), rel=2e-2)
    assert ranks[0]["norm"] == pytest.approx(logged["train/grad_norm"], rel=5e-2)


def _grad_cache_worker(rank, world_size, batch_path, vocab, out):
    """The pairs step under FSDP without and with GradCache (``grad_cache_chunk``): the chunks are re-encoded, through
    the shard units, in the backward pass."""
    from lightning.pytorch.strategies.strategy import _ForwardRedirection
    from torch.distributed.fsdp import FullyShardedDataParallel
    from torch.distributed.fsdp.wrap import ModuleWrapPolicy
    from transformers.models.xlm_roberta.modeling_xlm_roberta import XLMRobertaLayer

    from veco_lightning.module import VecoPretrainModule

    batch = torch.load(batch_path, weights_only=True)
    found = {}
    for chunk in (None, 3):
        torch.manual_seed(0)
        module = VecoPretrainModule(vocab_size=vocab, loss_weights={"mmlm": 0.0, "tlm": 0.0, "seq": 1.0, "tok": 1.0},
                                    grad_cache_chunk=chunk).eval()
        model = FullyShardedDataParallel(module, auto_wrap_policy=ModuleWrapPolicy({XLMRobertaLayer}),
                                         device_id=torch.device("cpu"), use_orig_params=True)
        _attach(module, model, plugin=None)
        loss = _ForwardRedirection()(model, module, "training_step", batch, 0)
        loss.backward()
        with FullyShardedDataParallel.summon_full_params(model, with_grads=True):
            grads = {name.replace("_fsdp_wrapped_module.", ""): p.grad.clone()
                     for name, p in module.named_parameters() if p.grad is not None}
        found[chunk] = {"loss": loss.detach(), "grads": grads}
    if rank == 0:
        torch.save(found, out)


def test_grad_cache_under_fsdp_equals_the_unchunked_step(corpus_dir, tokenizer_dir, tmp_path):
    """GradCache composes with FSDP: on two ranks, the chunked pairs step gives the loss and gradients of the
    unchunked one."""
    from test_grad_cache import _pairs_batch

    batch, vocab = _pairs_batch(corpus_dir, tokenizer_dir, tmp_path)
    torch.save(batch, tmp_path / "batch.pt")
    gloo.spawn(_grad_cache_worker, (str(tmp_path / "batch.pt"), vocab, str(tmp_path / "found.pt")))
    found = torch.load(tmp_path / "found.pt", weights_only=True)
    whole, chunked = found[None], found[3]
    torch.testing.assert_close(chunked["loss"], whole["loss"], rtol=0, atol=1e-6)
    assert whole["grads"].keys() == chunked["grads"].keys() and len(whole["grads"]) > 10
    for name, grad in whole["grads"].items():
        torch.testing.assert_close(chunked["grads"][name], grad, rtol=1e-4, atol=1e-6, msg=name)
