"""SynonymAlignedDataModule on the shipped demo corpus (6 aligned languages, MUSE-style en-xx dictionaries)."""

import math

import pytest
import torch

from veco_lightning.cli import run_cli
from veco_lightning.data.parallel import ParallelSource
from veco_lightning.data.synonym import SynonymAlignedDataModule
from veco_lightning.lexicon.dictionary import dictionary_for, phrase
from veco_lightning.losses.masked_lm import IGNORE_INDEX

DEMO = "pkg://veco_lightning/resources/demo"
DICTS = {"en-de": [f"{DEMO}/dict/en-de.tsv"], "en-zh": f"{DEMO}/dict/en-zh.tsv"}


def _files(lines=(0, 96)):
    return {f"{lang}-en": ParallelSource(src=f"{DEMO}/{lang}.txt", tgt=f"{DEMO}/en.txt", lines=list(lines))
            for lang in ("de", "zh", "ru")}  # ru-en: no dictionary configured


def _datamodule(tmp_path, **kwargs):
    args = {"files": _files(), "dictionaries": DICTS, "tokenizer": f"{DEMO}/tokenizer", "max_length": 64,
            "batch_size": 8, "val_pairs": 8, "cache_dir": str(tmp_path / "cache"), "bucket_batches": 2}
    dm = SynonymAlignedDataModule(**{**args, **kwargs})
    dm.prepare_data()
    dm.setup("fit")
    return dm


def _unit_text(tokenizer, ids, index, unit):
    return tokenizer.decode(ids[index == unit].tolist()).strip()


def test_synonym_spans_are_dictionary_translations(tmp_path):
    dm = _datamodule(tmp_path)
    tok = dm.tokenizer
    assert {p: len(d) for p, d in dm.train_sets.items()} == {"de-en": 88, "zh-en": 88, "ru-en": 88}
    stats = dm.mining_stats
    assert stats["de-en"]["sentence_pairs"] == 88  # every training pair mined exactly once
    assert stats["de-en"]["pairs_per_sentence_pair"] > 1.5 and stats["zh-en"]["pairs_per_sentence_pair"] > 1.5
    assert stats["ru-en"]["dictionary"] is None and stats["ru-en"]["synonym_pairs"] == 0
    dictionaries = {pair: dictionary_for(DICTS, *pair.split("-")) for pair in ("de-en", "zh-en")}
    checked = {"de-en": 0, "zh-en": 0}
    matched = {"de-en": 0, "zh-en": 0}
    for batch in [b for _, b in zip(range(12), dm.train_dataloader())]:
        pairs = batch["pairs"]
        for row in range(pairs["synonyms"].shape[0]):
            src_ids, src_index = pairs["src"]["input_ids"][row], pairs["src"]["word_index"][row]
            tgt_ids, tgt_index = pairs["tgt"]["input_ids"][row], pairs["tgt"]["word_index"][row]
            # padding-safe: no unit on <s>, </s> or padding
            for ids, index in ((src_ids, src_index), (tgt_ids, tgt_index)):
                assert (index[torch.isin(ids, torch.tensor(tok.all_special_ids))] == -1).all()
            src_text = tok.decode(src_ids, skip_special_tokens=True)
            pair = "zh-en" if any("\u4e00" <= ch <= "\u9fff" for ch in src_text) else "de-en"  # ru-en: no pairs
            for i, j in pairs["synonyms"][row].tolist():
                if i < 0:
                    assert j < 0
                    continue
                assert (src_index == i).any() and (tgt_index == j).any()
                src_unit = _unit_text(tok, src_ids, src_index, i)
                tgt_phrase = phrase(_unit_text(tok, tgt_ids, tgt_index, j), "en")
                sources = {"".join(s) for s in dictionaries[pair].sources_of(tgt_phrase)}
                checked[pair] += 1
                if pair == "de-en":
                    matched[pair] += "".join(phrase(src_unit, "de")) in sources
                else:
                    # The demo tokenizer has Chinese pieces spanning two words ("今天很"): a unit then holds the
                    # whole piece (a shared token belongs to the first word), so its text contains the entry.
                    matched[pair] += any(source in src_unit for source in sources)
    assert checked["de-en"] > 40 and checked["zh-en"] > 40
    assert matched["de-en"] / checked["de-en"] > 0.97, (matched, checked)
    assert matched["zh-en"] / checked["zh-en"] > 0.9, (matched, checked)


@pytest.mark.parametrize("mining", ["text", "tokens"])
def test_side_without_a_word_in_a_batch(tmp_path, mining):
    # A map batch one side of which holds no word at all (punctuation only, here the whole corpus): units and token
    # maps of that side are empty, nothing fails (an index out of bounds until 2026-12-05).
    (tmp_path / "de.txt").write_text("!!! ...\n¿?\n", encoding="utf-8")
    (tmp_path / "en.txt").write_text("Hello world.\nThe house.\n", encoding="utf-8")
    dm = _datamodule(tmp_path, files={"de-en": ParallelSource(src=str(tmp_path / "de.txt"),
                                                                 tgt=str(tmp_path / "en.txt"))},
                     val_pairs=0, mining=mining)
    rows = dm.train_sets["de-en"]
    assert len(rows) == 2 and dm.mining_stats["de-en"]["synonym_pairs"] == 0
    assert dm.mining_stats["de-en"]["src_words"] == 0 and dm.mining_stats["de-en"]["tgt_words"] == 4


def test_tlm_view_carries_the_same_units(tmp_path):
    dm = _datamodule(tmp_path, tlm_fraction=0.5)
    batch = next(iter(dm.train_dataloader()))
    tlm, pairs = batch["tlm"], batch["pairs"]
    offset = tlm["num_src_units"]
    original = torch.where(tlm["labels"] != IGNORE_INDEX, tlm["labels"], tlm["input_ids"])
    for row in range(tlm["input_ids"].shape[0]):
        for i, j in tlm["synonyms"][row].tolist():
            if i < 0:
                continue
            src_unit = original[row][tlm["word_index"][row] == i]
            tgt_unit = original[row][tlm["word_index"][row] == j]
            assert torch.equal(src_unit, pairs["src"]["input_ids"][row][pairs["src"]["word_index"][row] == i])
            assert torch.equal(tgt_unit, pairs["tgt"]["input_ids"][row][pairs["tgt"]["word_index"][row] == j - offset])


def test_truncation_and_caps_keep_pairs_whole(tmp_path):
    dm = _datamodule(tmp_path, max_length=16, max_synonyms=1)
    for batch in [b for _, b in zip(range(10), dm.train_dataloader())]:
        synonyms = batch["pairs"]["synonyms"]
        assert synonyms.shape[1] == 1  # at most one pair per sentence pair
        for side, col in (("src", 0), ("tgt", 1)):
            index = batch["pairs"][side]["word_index"]
            for row, unit in enumerate(synonyms[:, 0, col].tolist()):
                if unit >= 0:
                    assert (index[row] == unit).any()
    assert dm.mining_stats["de-en"]["kept_after_truncation"] < dm.mining_stats["de-en"]["synonym_pairs"]


def test_cache_reused_and_stats_reloaded(tmp_path, monkeypatch):
    first = _datamodule(tmp_path)
    monkeypatch.setattr(SynonymAlignedDataModule, "_mining_fn", lambda *a: pytest.fail("mined again"))
    second = _datamodule(tmp_path)
    assert second.mining_stats == first.mining_stats


@pytest.mark.parametrize("tok_input", ["pairs", "tlm"])
def test_fit_full_objective(tmp_path, tok_input):
    files = {pair: {"src": s.src, "tgt": s.tgt, "lines": s.lines} for pair, s in _files((0, 64)).items()}
    cli = run_cli([
        "fit", "--trainer.max_steps", "3", "--trainer.accelerator", "cpu", "--trainer.logger", "false",
        "--trainer.enable_checkpointing", "false", "--trainer.enable_progress_bar", "false",
        "--trainer.num_sanity_val_steps", "0", "--trainer.limit_val_batches", "0",
        "--model.encoder.preset", "tiny", "--model.tok_contrast.input", tok_input,
        "--data.tokenizer", f"{DEMO}/tokenizer", "--data.synonym.files", str(files).replace("'", '"'),
        "--data.synonym.dictionaries", str(DICTS).replace("'", '"'), "--data.synonym.max_length", "48",
        "--data.synonym.batch_size", "8", "--data.synonym.val_pairs", "8",
        "--data.synonym.cache_dir", str(tmp_path / "cache"), f"--export.dirpath={tmp_path / 'export'}",
        "--trainer.default_root_dir", str(tmp_path),  # where the resolved config.yaml is saved
    ])
    logged = cli.trainer.callback_metrics
    assert {"train/tlm_loss", "train/seq_loss", "train/tok_loss"} <= set(logged)
    assert math.isfinite(float(logged["train/tok_loss"])) and float(logged["train/tok_loss"]) > 0
    # held-out pairs are scored with the synonym data's dictionaries
    assert "de-en-heldout" in cli.datamodule.evaluation.set_names
    assert "en-de" in cli.datamodule.evaluation.dictionaries


def test_multiprocess_mining_matches(tmp_path, monkeypatch):
    """With 1 or 2 processes, and with the tokenizer on a thread beside the matching or not (no free core), the
    same columns and statistics."""
    one = _datamodule(tmp_path / "one")
    two = _datamodule(tmp_path / "two", num_proc=2)
    monkeypatch.setattr("veco_lightning.data.synonym.available_cores", lambda: 1)  # no core for the thread
    inline = _datamodule(tmp_path / "inline")
    strip = lambda stats: {k: v for k, v in stats.items() if k != "seconds"}  # noqa: E731
    for pair in one.train_sets:
        for other in (two, inline):
            assert one.train_sets[pair].to_dict() == other.train_sets[pair].to_dict()
            assert strip(one.mining_stats[pair]) == strip(other.mining_stats[pair])


def test_induced_dictionary_for_a_pair_without_one(tmp_path):
    dm = _datamodule(tmp_path, files=_files((0, 400)), induce=True, induction={"min_count": 3})
    stats = dm.mining_stats["ru-en"]
    assert stats["dictionary"]["sources"][0].startswith("induced")
    assert stats["dictionary"]["entries"] > 20 and stats["pairs_per_sentence_pair"] > 0.5
    # the configured dictionaries are used as given, never replaced by induction
    assert stats["dictionary"] != dm.mining_stats["de-en"]["dictionary"]
    assert not dm.mining_stats["de-en"]["dictionary"]["sources"][0].startswith("induced")


def test_usable_alone_with_a_plain_trainer(tmp_path):
    from lightning import Trainer

    from veco_lightning import EncoderSpec, VecoPretrainModule

    dm = SynonymAlignedDataModule(files=_files((0, 48)), dictionaries=DICTS, tokenizer=f"{DEMO}/tokenizer",
                                  max_length=48, batch_size=8, val_pairs=0, cache_dir=str(tmp_path / "cache"))
    model = VecoPretrainModule(encoder=EncoderSpec(preset="tiny", max_length=64), vocab_size=dm.vocab_size,
                               pad_token_id=dm.pad_token_id, loss_weights={"tlm": 0.0, "seq": 0.0})
    trainer = Trainer(max_steps=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0)
    trainer.fit(model, datamodule=dm)
    assert set(trainer.callback_metrics) == {"train/tok_loss", "train/loss", "train/grad_norm"}  # tlm, seq skipped


def test_parallel_and_synonym_train_together(tmp_path):
    """Dictionaries for some pairs only: those pairs in data.synonym, the rest in data.parallel; one joined batch."""
    from lightning import Trainer

    from veco_lightning import EncoderSpec, VecoDataModule, VecoPretrainModule
    from veco_lightning.data.parallel import ParallelDataModule

    files = _files((0, 48))
    with_dictionary = {pair: files[pair] for pair in ("de-en", "zh-en")}
    common = {"max_length": 48, "batch_size": 4, "val_pairs": 0, "cache_dir": str(tmp_path / "cache")}
    data = VecoDataModule(tokenizer=f"{DEMO}/tokenizer",
                          parallel=ParallelDataModule(files={"ru-en": files["ru-en"]}, **common),
                          synonym=SynonymAlignedDataModule(files=with_dictionary, dictionaries=DICTS, **common))
    data.prepare_data()
    data.setup("fit")
    batch = next(iter(data.train_dataloader()))
    pairs, tlm = batch["pairs"], batch["tlm"]
    assert pairs["src"]["input_ids"].shape[0] == pairs["synonyms"].shape[0] == pairs["src_keys"].shape[0] == 8
    assert tlm["input_ids"].shape == tlm["word_index"].shape and tlm["input_ids"].shape[0] == 8
    assert (pairs["synonyms"][:4] == -1).all() and (pairs["synonyms"][4:, 0] >= 0).any()  # parallel rows first
    assert (pairs["src"]["word_index"][:4] == -1).all() and (tlm["labels"] != IGNORE_INDEX).any(dim=1).all()
    model = VecoPretrainModule(encoder=EncoderSpec(preset="tiny", max_length=64), vocab_size=data.vocab_size,
                               pad_token_id=data.pad_token_id)
    trainer = Trainer(max_steps=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0)
    trainer.fit(model, datamodule=data)
    assert {"train/tlm_loss", "train/seq_loss", "train/tok_loss"} <= set(trainer.callback_metrics)


def test_joined_tlm_units_keep_their_pairs():
    from veco_lightning.data.collators import join_inputs

    synonym = {"input_ids": torch.tensor([[0, 5, 6, 2, 2, 7, 8, 2]]),
               "attention_mask": torch.ones(1, 8, dtype=torch.long), "labels": torch.full((1, 8), IGNORE_INDEX),
               "word_index": torch.tensor([[-1, 0, 1, -1, -1, 2, 3, -1]]),
               "synonyms": torch.tensor([[[0, 3], [1, 2]]]), "num_src_units": 2}
    wider = {**synonym, "word_index": torch.tensor([[-1, 0, 1, -1, -1, 3, 4, -1]]),
             "synonyms": torch.tensor([[[0, 4], [-1, -1]]]), "num_src_units": 3}
    parallel = {"input_ids": torch.tensor([[0, 9, 2, 2, 9, 2]]), "attention_mask": torch.ones(1, 6, dtype=torch.long),
                "labels": torch.full((1, 6), IGNORE_INDEX)}
    joined = join_inputs([parallel, synonym, wider], pad_id=1)
    assert joined["num_src_units"] == 3 and joined["input_ids"].shape == (3, 8)
    assert joined["input_ids"][0, 6:].tolist() == [1, 1] and joined["attention_mask"][0, 6:].tolist() == [0, 0]
    assert joined["word_index"][0].tolist() == [-1] * 8
    assert joined["word_index"][1].tolist() == [-1, 0, 1, -1, -1, 3, 4, -1]  # target units moved past unit 2
    assert joined["synonyms"].tolist() == [[[-1, -1], [-1, -1]], [[0, 4], [1, 3]], [[0, 4], [-1, -1]]]


def test_dictionary_for_no_configured_pair_is_reported(caplog):
    """A dictionary whose key names no language pair of the data (a typo, a code for another pair) would never be
    read: the source check says so; keys in either order and 3-letter codes count as the pair's."""
    dictionaries = {**DICTS, "eng-rus": f"{DEMO}/dict/en-de.tsv", "en-it": f"{DEMO}/dict/en-de.tsv"}
    dm = SynonymAlignedDataModule(files=_files(), dictionaries=dictionaries, tokenizer=f"{DEMO}/tokenizer")
    with caplog.at_level("WARNING", logger="veco_lightning.data.synonym"):
        dm.check_sources()
    unused = [r.getMessage() for r in caplog.records if "matches no language pair" in r.getMessage()]
    assert len(unused) == 1 and "'en-it'" in unused[0] and "de-en, zh-en, ru-en" in unused[0]


def test_unknown_induction_option_is_an_error_at_once():
    with pytest.raises(ValueError, match=r"data.synonym.induction: unknown option\(s\) \['min_cnt'\]; the options are "
                                         r"min_count, min_dice"):
        SynonymAlignedDataModule(files=_files(), induce=True, induction={"min_cnt": 2}, tokenizer=f"{DEMO}/tokenizer")
    dm = SynonymAlignedDataModule(files=_files(), induce=True, induction={"min_count": 2},
                                  tokenizer=f"{DEMO}/tokenizer")
    assert dm.induction == {"min_count": 2}
