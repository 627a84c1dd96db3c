from types import SimpleNamespace

import torch

from veco_lightning.callbacks import EncoderThroughput


def test_padding_counts_the_pairs_as_the_encoder_runs_them():
    """The two sides of ``pairs`` go through the encoder joined, padded to the longer side: 2 x 2 sequences of 5
    positions, 3 + 2 + 5 + 4 of them real."""
    callback = EncoderThroughput(warmup_steps=10)
    trainer = SimpleNamespace(global_step=0)
    module = SimpleNamespace(log=lambda *args, **kwargs: None)
    pairs = {"src": {"attention_mask": torch.tensor([[1, 1, 1], [1, 1, 0]])},
             "tgt": {"attention_mask": torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]])}}
    tlm = {"attention_mask": torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]])}
    callback.on_train_batch_start(trainer, module, {"pairs": pairs, "tlm": tlm}, 0)
    callback.on_train_batch_end(trainer, module, None, {"pairs": pairs, "tlm": tlm}, 0)
    assert callback.slots == {"pairs": [14, 20], "tlm": [10, 12]}
    assert callback.figures()["padding_share"] == {"pairs": 1 - 14 / 20, "tlm": 1 - 10 / 12}


def test_step_time_waits_for_the_gpu(monkeypatch):
    """On a GPU the clock is read after the device's queued work is done, at both ends of a step."""
    import veco_lightning.callbacks as callbacks

    events = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: events.append(("sync", str(device))))
    monkeypatch.setattr(callbacks, "time", SimpleNamespace(perf_counter=lambda: events.append("clock") or 1.0))
    callback = EncoderThroughput(warmup_steps=10)
    trainer = SimpleNamespace(global_step=0, strategy=SimpleNamespace(root_device=torch.device("cuda", 0)))
    module = SimpleNamespace(log=lambda *args, **kwargs: None)
    batch = {"mmlm": {"attention_mask": torch.ones(2, 4, dtype=torch.long)}}
    callback.on_train_batch_start(trainer, module, batch, 0)
    callback.on_train_batch_end(trainer, module, None, batch, 0)
    assert events[:2] == [("sync", "cuda:0"), "clock"]  # the start
    assert events[2:4] == [("sync", "cuda:0"), "clock"]  # the end
    events.clear()
    trainer.strategy.root_device = torch.device("cpu")
    callback.on_train_batch_start(trainer, module, batch, 1)
    assert events == ["clock"]  # nothing to wait for on the CPU


def test_head_flops_counted_from_the_weights_before_sharding():
    """Under FSDP a head's weight is a 1-D view of this rank's shard after setup: the callback counts the heads'
    weights at setup, before the strategy wraps the model."""
    from veco_lightning.flops import batch_flops
    from veco_lightning.models.encoder import preset_config

    config = preset_config("tiny", 100)
    seq_head, tok_head = torch.nn.Linear(64, 32), torch.nn.Linear(64, 16)
    module = SimpleNamespace(log=lambda *args, **kwargs: None, encoder=SimpleNamespace(config=config),
                             seq_head=seq_head, tok_head=tok_head)
    pairs = {"src": {"attention_mask": torch.ones(2, 5, dtype=torch.long)},
             "tgt": {"attention_mask": torch.ones(2, 6, dtype=torch.long)},
             "synonyms": torch.tensor([[[0, 1], [-1, -1]], [[2, 3], [1, 1]]])}
    expected = batch_flops(config, {"pairs": pairs}, seq_head, tok_head)
    callback = EncoderThroughput(warmup_steps=0)
    trainer = SimpleNamespace(global_step=1, world_size=1)
    callback.setup(trainer, module, "fit")
    for head in (seq_head, tok_head):
        head.weight.data = head.weight.data.reshape(-1)[:7]  # this rank's shard
    callback.on_train_batch_start(trainer, module, {"pairs": pairs}, 0)
    callback.on_train_batch_end(trainer, module, None, {"pairs": pairs}, 0)
    assert callback.flops == expected
