"""VecoPretrainModule: which input feeds which objective, weights, heads, checkpoints of earlier layouts."""

import pytest
import torch

from veco_lightning.data.parallel import ParallelDataModule
from veco_lightning.data.readers import ParallelSource
from veco_lightning.data.synonym import SynonymAlignedDataModule
from veco_lightning.models.encoder import EncoderSpec
from veco_lightning.models.heads import TokenContrastOptions
from veco_lightning.module import VecoPretrainModule


def _batch(tokenizer_dir, tmp_path, corpus_dir=None, synonym=False, max_length=32, **kwargs):
    if synonym:
        (tmp_path / "en-ru.tsv").write_text("dog\tсобака\ncar\tмашина\nriver\tреку\nhouse\tдом\n", encoding="utf-8")
        dm = SynonymAlignedDataModule(
            files={"ru-en": ParallelSource(src=str(corpus_dir / "ru.txt"), tgt=str(corpus_dir / "en.txt"))},
            dictionaries={"en-ru": [str(tmp_path / "en-ru.tsv")]}, tokenizer=str(tokenizer_dir), max_length=max_length,
            batch_size=4, val_pairs=0, cache_dir=str(tmp_path / "cache"), **kwargs)
    else:
        (tmp_path / "pairs.tsv").write_text("".join(f"a{i} b{i} c\tx{i} y{i} z\n" for i in range(40)), encoding="utf-8")
        dm = ParallelDataModule(files={"ru-en": ParallelSource(path=str(tmp_path / "pairs.tsv"))},
                                tokenizer=str(tokenizer_dir), max_length=32, batch_size=4, val_pairs=0,
                                cache_dir=str(tmp_path / "cache"), **kwargs)
    dm.prepare_data()
    dm.setup("fit")
    return dm, next(iter(dm.train_dataloader()))


def _run(module, batch):
    """The objectives a training step computes (``log_losses`` captured) and the encoder forwards it ran."""
    calls, seen = [], {}
    module.encoder.register_forward_hook(lambda *args: calls.append(args[1].get("input_ids", args[1]) if isinstance(
        args[1], dict) else 1))
    module.log_losses = lambda losses, total, batch, stage: seen.update(losses)
    total = module.training_step(batch, 0)
    return seen, len(calls), total


def test_weight_zero_objective_skips_its_forward(tokenizer_dir, tmp_path):
    dm, batch = _batch(tokenizer_dir, tmp_path)
    module = VecoPretrainModule(vocab_size=dm.vocab_size, loss_weights={"tlm": 0.0})
    losses, forwards, _ = _run(module, batch)
    assert set(losses) == {"seq"} and forwards == 1  # one batched forward for both sides, none for TLM
    module = VecoPretrainModule(vocab_size=dm.vocab_size, loss_weights={"tlm": 0.0, "seq": 0.0})
    with pytest.raises(RuntimeError, match="weight 0"):
        _run(module, batch)


def test_held_out_batch_of_unweighted_objectives_is_skipped_in_validation(tokenizer_dir, tmp_path):
    # Validation runs the step on held-out loss batches; one whose objectives all weigh 0 (monolingual blocks when
    # mmlm: 0) reports nothing instead of stopping the run.
    dm, batch = _batch(tokenizer_dir, tmp_path)
    module = VecoPretrainModule(vocab_size=dm.vocab_size, loss_weights={"tlm": 0.0, "seq": 0.0})
    module.log_losses = lambda *args: pytest.fail("nothing to log")
    assert module.validation_step(batch, 0) is None


def test_a_source_whose_objectives_all_weigh_zero_is_an_error_before_step_one(tokenizer_dir, tmp_path):
    from types import SimpleNamespace

    dm, _ = _batch(tokenizer_dir, tmp_path)
    data = SimpleNamespace(sources={"parallel": dm}, proportions=None)
    module = VecoPretrainModule(vocab_size=dm.vocab_size, loss_weights={"tlm": 0.0, "seq": 0.0})
    with pytest.raises(ValueError, match=r"data.parallel feeds seq, tlm, whose model.loss_weights are all 0.*"
                                         r"data.parallel: null"):
        module._check_sources_feed_objectives(data)
    data.proportions = {"parallel": 0}  # never drawn: nothing to say
    module._check_sources_feed_objectives(data)
    VecoPretrainModule(vocab_size=dm.vocab_size, loss_weights={"tlm": 0.0})._check_sources_feed_objectives(
        SimpleNamespace(sources={"parallel": dm}, proportions=None))


def test_loss_weights_are_checked():
    assert VecoPretrainModule(vocab_size=64, loss_weights={"tok": 0.5}).loss_weights == {
        "mmlm": 1.0, "tlm": 1.0, "seq": 1.0, "tok": 0.5}
    with pytest.raises(ValueError, match=r"unknown objective\(s\) \['mlm'\]; the objectives are mmlm, tlm, seq, tok"):
        VecoPretrainModule(vocab_size=64, loss_weights={"mlm": 1.0})  # a typo would have left mmlm at 1.0
    for weight in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="model.loss_weights.seq"):
            VecoPretrainModule(vocab_size=64, loss_weights={"seq": weight})


def test_each_input_feeds_its_objectives_once(corpus_dir, tokenizer_dir, tmp_path):
    dm, batch = _batch(tokenizer_dir, tmp_path, corpus_dir, synonym=True)
    module = VecoPretrainModule(vocab_size=dm.vocab_size).eval()  # no dropout: the two runs below compare
    losses, forwards, total = _run(module, batch)
    assert set(losses) == {"tlm", "seq", "tok"} and forwards == 2  # TLM; both clean sides (seq and tok share it)
    assert float(total) == pytest.approx(float(sum(losses.values())))
    on_tlm = VecoPretrainModule(vocab_size=dm.vocab_size, tok_contrast=TokenContrastOptions(input="tlm"))
    on_tlm.load_state_dict(module.state_dict())
    on_tlm.eval()
    losses_tlm, forwards, _ = _run(on_tlm, batch)
    assert set(losses_tlm) == {"tlm", "seq", "tok"} and forwards == 2
    assert float(losses_tlm["seq"]) == pytest.approx(float(losses["seq"]))  # same weights, same clean views


def test_unknown_input_is_an_error(tokenizer_dir):
    module = VecoPretrainModule(vocab_size=50)
    with pytest.raises(KeyError, match="bitext"):
        module.training_step({"bitext": {}}, 0)


def test_checkpoint_of_the_earlier_layout_loads(tokenizer_dir):
    from veco_lightning.models.heads import SequenceContrastOptions

    options = {"vocab_size": 60, "seq_contrast": SequenceContrastOptions(projection_dim=8, learnable_temperature=True)}
    module = VecoPretrainModule(**options)
    old = {k.replace("seq_head.projection.", "seq_projection.").replace("seq_head.loss.", "seq_loss."): v
           for k, v in module.state_dict().items()}
    checkpoint = {"state_dict": dict(old)}
    fresh = VecoPretrainModule(**options)
    fresh.on_load_checkpoint(checkpoint)
    fresh.load_state_dict(checkpoint["state_dict"])
    for name, value in module.state_dict().items():
        torch.testing.assert_close(fresh.state_dict()[name], value)


@pytest.mark.parametrize("unpad", [True, False])
def test_host_facts_leave_the_step_unchanged(corpus_dir, tokenizer_dir, tmp_path, unpad):
    """What ``on_before_batch_transfer`` notes on the host for a GPU step (``num_masked``; ``full``, which drops the
    all-ones mask of MLM blocks) gives the same losses and gradients as reading the same from the tensors, on full
    MLM blocks and padded TLM rows, packed or not. On the CPU the hook leaves batches alone."""
    import copy

    from veco_lightning.module import host_facts

    dm, batch = _batch(tokenizer_dir, tmp_path, corpus_dir, synonym=True, max_length=128,
                       bucket_batches=0)
    assert not batch["tlm"]["attention_mask"].all()  # padded rows
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, dm.vocab_size, (3, 16), generator=g)
    labels = torch.where(torch.rand(3, 16, generator=g) < 0.3, ids, torch.full_like(ids, -100))
    batch["mmlm"] = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}
    noted = host_facts(copy.deepcopy(batch))
    assert noted["mmlm"]["full"] is True and noted["tlm"]["full"] is False
    assert noted["mmlm"]["num_masked"] == int((labels != -100).sum()) > 0
    assert noted["tlm"]["num_masked"] == int((batch["tlm"]["labels"] != -100).sum())
    assert "full" not in noted["pairs"]["src"] and host_facts({"input_ids": ids}) == {"input_ids": ids}
    torch.manual_seed(0)
    module = VecoPretrainModule(vocab_size=dm.vocab_size).eval()
    module.unpad = unpad
    assert module.on_before_batch_transfer(batch, 0) is batch and "full" not in batch["mmlm"]  # on the CPU
    results = []
    for inputs in (batch, noted):
        module.zero_grad(set_to_none=True)
        seen = {}
        module.log_losses = lambda losses, total, batch, stage, seen=seen: seen.update(
            {k: v.detach() for k, v in losses.items()})
        module.training_step(inputs, 0).backward()
        results.append((seen, {n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None}))
    (losses, grads), (noted_losses, noted_grads) = results
    assert set(losses) == {"mmlm", "tlm", "seq", "tok"}
    for name in losses:
        torch.testing.assert_close(noted_losses[name], losses[name], rtol=1e-6, atol=1e-7)
    assert grads.keys() == noted_grads.keys()
    for name in grads:
        torch.testing.assert_close(noted_grads[name], grads[name], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("bar", [False, True])
def test_loss_goes_to_the_progress_bar_only_where_one_shows(tokenizer_dir, tmp_path, bar):
    """Lightning turns progress-bar metrics into Python numbers after every batch (a wait for a GPU every step); with
    no bar shown ``train/loss`` is not one of them, and callbacks still get it."""
    from lightning import Trainer

    from veco_lightning.logs import progress_bar_shown

    dm, _ = _batch(tokenizer_dir, tmp_path)
    module = VecoPretrainModule(encoder=EncoderSpec(preset="tiny", max_length=64), vocab_size=dm.vocab_size,
                                pad_token_id=dm.pad_token_id)
    trainer = Trainer(max_steps=2, accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=bar,
                      enable_model_summary=False, limit_val_batches=0)
    trainer.fit(module, datamodule=dm)
    assert torch.isfinite(trainer.callback_metrics["train/loss"])
    assert ("train/loss" in trainer.progress_bar_metrics) is bar
    assert progress_bar_shown(module) is bar and progress_bar_shown(torch.nn.Linear(1, 1)) is False


def test_a_wordpiece_tokenizer_trains_every_objective(corpus_dir, bert_dir, tmp_path):
    # A tokenizer with [CLS]/[SEP] and no <s>/</s> (multilingual BERT's, which load_tokenizer accepts): its
    # sequences are delimited by [CLS] and [SEP] (they were built with None ids and failed in the collator).
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(bert_dir)
    dm, batch = _batch(bert_dir, tmp_path, corpus_dir, synonym=True)
    for view in (batch["pairs"]["src"], batch["pairs"]["tgt"], batch["tlm"]):
        assert (view["input_ids"][:, 0] == tokenizer.cls_token_id).all()
    assert (batch["tlm"]["input_ids"] == tokenizer.sep_token_id).sum(1).min() >= 3  # [CLS] x [SEP][SEP] y [SEP]
    module = VecoPretrainModule(vocab_size=dm.vocab_size, pad_token_id=dm.pad_token_id)
    losses, _, total = _run(module, batch)
    assert set(losses) == {"tlm", "seq", "tok"} and torch.isfinite(total)


def test_an_encoder_of_another_architecture_is_evaluated_not_trained(bert_dir, corpus_dir, tmp_path):
    # Multilingual BERT (LaBSE, mDeBERTa): scored by the evaluation with its own trunk and [CLS]/[SEP]; training it
    # (or validating, which runs the objectives) needs XLM-R's masked-LM head, and is refused before step 1. It failed
    # with "'BertForMaskedLM' object has no attribute 'lm_head'".
    from lightning import Trainer
    from transformers import AutoModel

    from veco_lightning.datamodule import VecoDataModule
    from veco_lightning.evaluation.datamodule import EvaluationDataModule
    from veco_lightning.models.encoder import EncoderForEvaluation

    module = VecoPretrainModule(encoder=EncoderSpec(path=str(bert_dir)), vocab_size=300)
    assert isinstance(module.model, EncoderForEvaluation)
    saved = AutoModel.from_pretrained(bert_dir)
    assert torch.equal(module.encoder.encoder.layer[1].output.dense.weight, saved.encoder.layer[1].output.dense.weight)
    pairs = {"ru-en": {"src": str(corpus_dir / "ru.txt"), "tgt": str(corpus_dir / "en.txt")}}
    data = VecoDataModule(tokenizer=str(bert_dir), monolingual=None,
                          evaluation=EvaluationDataModule(pairs=pairs, max_length=32, val_max_pairs=0))
    trainer = Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
                      default_root_dir=tmp_path)
    module.scorer.options.report_dir = str(tmp_path / "eval")
    trainer.test(module, datamodule=data, verbose=False)
    assert 0 <= trainer.callback_metrics["test/retrieval/ru-en/src2tgt"] <= 1
    with pytest.raises(ValueError, match="of model type 'bert': veco-fit fit needs XLM-R's masked-LM head"):
        Trainer(accelerator="cpu", logger=False, max_steps=1, default_root_dir=tmp_path).fit(module, datamodule=data)
