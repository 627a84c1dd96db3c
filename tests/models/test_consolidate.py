"""veco-export from the checkpoint directories of sharded runs: FSDP with a sharded state dict (two gloo processes
on CPU shard the tiny module and save through Lightning's own ``FSDPStrategy.save_checkpoint``) and DeepSpeed ZeRO-2/3
(written by ``deepspeed.initialize`` on CPU where DeepSpeed is installed; otherwise its layout, the error that asks
for DeepSpeed and the refusal of a file that would run code)."""

import os
import pickle
import sys
import tempfile
import types

import gloo
import lightning
import pytest
import torch
from safetensors.torch import load_file

from veco_lightning.models import consolidate
from veco_lightning.models.consolidate import checkpoint_format, consolidate_checkpoint
from veco_lightning.models.export import full_state_dict
from veco_lightning.models.export import main as export_main

MAX_LENGTH = 16


def _module(vocab_size, pad_token_id, tokenizer):
    from veco_lightning.models.encoder import EncoderSpec
    from veco_lightning.module import VecoPretrainModule

    torch.manual_seed(0)
    return VecoPretrainModule(encoder=EncoderSpec(preset="tiny", max_length=MAX_LENGTH), vocab_size=vocab_size,
                              pad_token_id=pad_token_id, tokenizer=tokenizer)


def _client_state(module):
    """What Lightning saves next to the weights (the part ``meta.pt`` and DeepSpeed's client state hold)."""
    return {"hyper_parameters": dict(module.hparams), "global_step": 1, "epoch": 0,
            "pytorch-lightning_version": lightning.__version__}


def _step(model, vocab_size):
    """One AdamW step on the final hidden states, so that the saved weights differ from the initial ones."""
    ids = torch.randint(3, vocab_size - 1, (2, 8), generator=torch.Generator().manual_seed(1))
    return model(ids, torch.ones_like(ids)).pow(2).mean()


def _fsdp_worker(rank, world_size, vocab_size, pad_token_id, tokenizer, out):
    from lightning.fabric.plugins.environments import LightningEnvironment
    from lightning.pytorch.strategies import FSDPStrategy
    from torch.distributed.fsdp import FullStateDictConfig, StateDictType
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
    from torch.distributed.fsdp.wrap import ModuleWrapPolicy
    from transformers.models.xlm_roberta.modeling_xlm_roberta import XLMRobertaLayer

    module = _module(vocab_size, pad_token_id, tokenizer)
    model = FSDP(module, auto_wrap_policy=ModuleWrapPolicy({XLMRobertaLayer}), device_id=torch.device("cpu"),
                 use_orig_params=True)  # the shard units of configs/trainer/fsdp*.yaml
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    _step(model, vocab_size).backward()
    optimizer.step()
    environment = LightningEnvironment()
    environment.set_global_rank(rank)
    environment.set_world_size(world_size)
    strategy = FSDPStrategy(cluster_environment=environment, state_dict_type="sharded")
    strategy.model = model
    checkpoint = {"state_dict": strategy.lightning_module_state_dict(),
                  "optimizer_states": [strategy.optimizer_state(optimizer)], **_client_state(module)}
    strategy.save_checkpoint(checkpoint, os.path.join(out, "last.ckpt"))  # what the Trainer calls
    # The full state dict, as state_dict_type: full writes it (gathered on every rank: offloading to the CPU
    # that FSDP already runs on crashes torch 2.13's FSDP).
    with FSDP.state_dict_type(model, StateDictType.FULL_STATE_DICT, FullStateDictConfig(rank0_only=False)):
        full = model.state_dict()
    at_fit_end = full_state_dict(strategy)  # what ExportPretrained exports under fsdp-sharded.yaml
    if rank == 0:
        torch.save({"state_dict": full, **_client_state(module)}, os.path.join(out, "full.ckpt"))
        torch.save(at_fit_end, os.path.join(out, "at_fit_end.pt"))


@pytest.fixture(scope="module")
def fsdp_run(tokenizer_dir, tmp_path_factory):
    """``(sharded directory, full-state checkpoint)`` of the same FSDP run."""
    from veco_lightning.data.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(str(tokenizer_dir))
    out = tmp_path_factory.mktemp("fsdp")
    gloo.spawn(_fsdp_worker, (len(tokenizer), tokenizer.pad_token_id, str(tokenizer_dir), str(out)))
    return out / "last.ckpt", out / "full.ckpt"


def _hf_weights(directory):
    return load_file(os.path.join(directory, "model.safetensors"))


def test_fsdp_sharded_directory_is_what_lightning_writes(fsdp_run):
    from torch.distributed.checkpoint.metadata import TensorStorageMetadata

    sharded, _ = fsdp_run
    assert sorted(os.listdir(sharded)) == [".metadata", "__0_0.distcp", "__1_0.distcp", "meta.pt"]
    assert checkpoint_format(str(sharded)) == "fsdp" and checkpoint_format(str(fsdp_run[1])) is None
    entries = consolidate._dcp_reader(str(sharded)).read_metadata().state_dict_metadata
    embeddings = entries["model.model.roberta.embeddings.word_embeddings.weight"]
    assert isinstance(embeddings, TensorStorageMetadata) and len(embeddings.chunks) == 2  # one shard per rank
    assert any(key.startswith("optimizer_0.") for key in entries)


def test_consolidated_fsdp_checkpoint_equals_the_full_state(fsdp_run, tmp_path, tokenizer_dir):
    sharded, full = fsdp_run
    merged = torch.load(consolidate_checkpoint(str(sharded), str(tmp_path / "merged.ckpt")), weights_only=True)
    expected = torch.load(full, weights_only=True)
    assert merged["state_dict"].keys() == expected["state_dict"].keys()  # the module's own keys, no FSDP prefix
    assert all(key.startswith(("model.", "mlm_loss.")) for key in merged["state_dict"])
    for key, value in expected["state_dict"].items():
        assert torch.equal(merged["state_dict"][key], value), key
    assert merged["hyper_parameters"]["tokenizer"] == str(tokenizer_dir) and merged["global_step"] == 1
    assert "optimizer_states" not in merged


def test_fit_end_export_gathers_the_full_state_under_sharded_fsdp(fsdp_run):
    expected = torch.load(fsdp_run[1], weights_only=True)["state_dict"]
    gathered = torch.load(fsdp_run[0].parent / "at_fit_end.pt", weights_only=True)
    assert gathered.keys() == expected.keys() and all(torch.equal(gathered[k], v) for k, v in expected.items())


def test_veco_export_from_fsdp_shards_equals_export_from_full_checkpoint(fsdp_run, tmp_path, monkeypatch):
    sharded, full = fsdp_run
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    export_main(["--checkpoint", str(sharded), "--output_dir", str(tmp_path / "from-shards")])
    export_main(["--checkpoint", str(full), "--output_dir", str(tmp_path / "from-full")])
    ours, theirs = _hf_weights(tmp_path / "from-shards"), _hf_weights(tmp_path / "from-full")
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[key], theirs[key]) for key in theirs)
    assert (tmp_path / "from-shards" / "tokenizer.json").is_file()  # the tokenizer meta.pt recorded
    assert not os.listdir(scratch)  # the merged file is gone


class _Payload:
    marker = None

    def __reduce__(self):
        return (os.system, (f"touch {_Payload.marker}",))


def test_fsdp_metadata_that_would_run_code_is_refused(fsdp_run, tmp_path):
    import shutil

    crafted = tmp_path / "crafted.ckpt"
    shutil.copytree(fsdp_run[0], crafted)
    _Payload.marker = tmp_path / "code-ran"
    with open(crafted / ".metadata", "wb") as handle:
        pickle.dump(_Payload(), handle)
    with pytest.raises(ValueError, match=r"refused to load \((posix|os)\.system"):
        consolidate_checkpoint(str(crafted), str(tmp_path / "out.ckpt"))
    assert not _Payload.marker.exists()


def test_a_directory_that_is_no_sharded_checkpoint(tmp_path):
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="is not a sharded checkpoint directory"):
        export_main(["--checkpoint", str(tmp_path / "hf"), "--output_dir", str(tmp_path / "out")])


def _deepspeed_layout(root, module, optimizer_state):
    """The files Lightning's DeepSpeedStrategy writes for ZeRO-2 on one rank (``engine.save_checkpoint(path,
    client_state, tag="checkpoint")``), with the objects DeepSpeed itself would put in them."""
    tag = root / "checkpoint"
    tag.mkdir(parents=True)
    (root / "latest").write_text("checkpoint")
    torch.save({"module": module.state_dict(), "param_shapes": [], "ds_version": "0.19.8",
                **_client_state(module)}, tag / "mp_rank_00_model_states.pt")
    torch.save({"optimizer_state_dict": optimizer_state, "ds_version": "0.19.8"},
               tag / "zero_pp_rank_0_mp_rank_00_optim_states.pt")
    return root


def _stand_in(monkeypatch, qualified):
    """A class that pickles under DeepSpeed's name, without DeepSpeed."""
    module_name, _, name = qualified.rpartition(".")
    parts = module_name.split(".")
    for depth in range(1, len(parts) + 1):  # pickle imports the top-level package too
        monkeypatch.setitem(sys.modules, ".".join(parts[:depth]), types.ModuleType(".".join(parts[:depth])))
    cls = type(name, (), {"__module__": module_name})
    setattr(sys.modules[module_name], name, cls)
    return cls


def test_deepspeed_directory_without_deepspeed_asks_for_it(tokenizer_dir, tmp_path, monkeypatch):
    module = _module(200, 1, str(tokenizer_dir))
    scaler = _stand_in(monkeypatch, "deepspeed.runtime.fp16.loss_scaler.LossScaler")()
    scaler.cur_scale = 1.0
    root = _deepspeed_layout(tmp_path / "last.ckpt", module, {"loss_scaler": scaler, "zero_stage": 2,
                                                              "single_partition_of_fp32_groups": [torch.ones(3)]})
    assert checkpoint_format(str(root)) == "deepspeed"
    monkeypatch.setattr(consolidate, "_deepspeed_available", lambda: False)
    with pytest.raises(ImportError, match=r"pip install deepspeed.*python -m veco_lightning.models.consolidate"):
        export_main(["--checkpoint", str(root), "--output_dir", str(tmp_path / "out")])
    (root / "latest").unlink()
    assert checkpoint_format(str(root)) == "deepspeed"  # found by its shards alone
    with pytest.raises(ValueError, match="has no 'latest' file"):
        consolidate_checkpoint(str(root), str(tmp_path / "out.ckpt"))


def test_deepspeed_file_that_would_run_code_is_refused(tokenizer_dir, tmp_path, monkeypatch):
    _Payload.marker = tmp_path / "code-ran"
    root = _deepspeed_layout(tmp_path / "last.ckpt", _module(200, 1, str(tokenizer_dir)), {"x": _Payload()})
    monkeypatch.setattr(consolidate, "_deepspeed_available", lambda: True)  # refused before DeepSpeed reads it
    with pytest.raises(ValueError, match=r"optim_states.pt: refused to load.*it names (posix|os).system"):
        consolidate_checkpoint(str(root), str(tmp_path / "out.ckpt"))
    assert not _Payload.marker.exists()


def _deepspeed_worker(rank, world_size, stage, vocab_size, tokenizer, out):
    import deepspeed
    from lightning.pytorch.strategies import DeepSpeedStrategy

    module = _module(vocab_size, 1, tokenizer)
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-2)
    config = {"train_micro_batch_size_per_gpu": 2, "zero_optimization": {"stage": stage},
              "zero_allow_untested_optimizer": True}
    engine, *_ = deepspeed.initialize(model=module, optimizer=optimizer, config=config)
    engine.backward(_step(engine, vocab_size))
    engine.step()
    # As Lightning's DeepSpeedStrategy.save_checkpoint: the client state beside DeepSpeed's shards, tag "checkpoint".
    engine.save_checkpoint(os.path.join(out, "last.ckpt"), client_state=_client_state(module), tag="checkpoint")
    if stage == 3:  # the parameters are partitioned: gathered as ExportPretrained does at the end of fit
        strategy = DeepSpeedStrategy(stage=3)
        strategy.model = engine
        weights = full_state_dict(strategy)
    else:
        weights = engine.module.state_dict()
    if rank == 0:
        torch.save({key: value.clone() for key, value in weights.items()}, os.path.join(out, "expected.pt"))


@pytest.mark.parametrize("stage", [2, 3])
def test_veco_export_from_deepspeed_zero_checkpoint(stage, tokenizer_dir, tmp_path):
    pytest.importorskip("deepspeed", reason="DeepSpeed is not installed (pip install deepspeed)")
    from veco_lightning.data.tokenizer import load_tokenizer

    vocab_size = len(load_tokenizer(str(tokenizer_dir)))
    gloo.spawn(_deepspeed_worker, (stage, vocab_size, str(tokenizer_dir), str(tmp_path)), seconds=400, init=False)
    root = tmp_path / "last.ckpt"
    assert checkpoint_format(str(root)) == "deepspeed"
    assert len(list((root / "checkpoint").glob("*optim_states.pt"))) == 2  # one partition per rank
    export_main(["--checkpoint", str(root), "--output_dir", str(tmp_path / "hf")])
    expected = torch.load(tmp_path / "expected.pt", weights_only=True)
    exported = _hf_weights(tmp_path / "hf")
    assert exported  # every exported tensor is the run's (tied weights are written once)
    for key, value in exported.items():
        assert torch.equal(value, expected[f"model.{key}"].float()), key
