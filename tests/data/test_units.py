"""Word units (veco_lightning.data.units): character spans to tokens, and one set of units for training and
evaluation."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from veco_lightning.data.readers import ParallelSource
from veco_lightning.data.synonym import SynonymAlignedDataModule
from veco_lightning.data.units import char_spans_to_token_spans, pair_token_spans, token_units, units_of
from veco_lightning.evaluation.datamodule import EvaluationDataModule
from veco_lightning.evaluation.datasets import collate_bitext
from veco_lightning.evaluation.sources import PairSource
from veco_lightning.lexicon.dictionary import read_dictionary
from veco_lightning.lexicon.synonyms import mine_pair
from veco_lightning.lexicon.words import normalize

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "veco_lightning" / "resources" / "demo"


def test_units_and_token_map():
    words = [("sofia", 0, 5), ("post", 6, 10), ("office", 11, 17), ("now", 18, 21)]
    spans, units = units_of(words, [(1, 3)])
    assert spans == [(0, 5), (6, 17), (18, 21)] and units == [1]
    # tokens: "▁Sofia" (offsets include nothing odd), "▁post", "▁off", "ice", "▁no" (cut: "now" is truncated)
    offsets = [(0, 5), (6, 10), (11, 14), (14, 17), (18, 20)]
    assert token_units(spans, offsets) == [0, 1, 1, 1, -1]



def test_char_spans_to_token_spans_synthetic():
    # <s> ▁Hello ▁world (offsets incl. the leading space) ! </s>
    offsets = [(0, 0), (0, 5), (5, 11), (11, 12), (0, 0)]
    assert char_spans_to_token_spans([(0, 5), (6, 11), (11, 12), (20, 25)], offsets) == [
        (1, 2), (2, 3), (3, 4), None]
    assert char_spans_to_token_spans([(6, 11)], torch.tensor(offsets)) == [(2, 3)]
    # A word split over several tokens, and a token shared by two words.
    assert char_spans_to_token_spans([(0, 3), (3, 5)], [(0, 0), (0, 2), (2, 4), (4, 5)]) == [(1, 3), (2, 4)]
    # Non-monotone offsets (unusual tokenizers) fall back to a scan.
    assert char_spans_to_token_spans([(0, 2)], [(3, 4), (0, 1), (1, 2)]) == [(1, 3)]


@pytest.fixture(scope="module")
def demo_tokenizer():
    transformers = pytest.importorskip("transformers")
    return transformers.AutoTokenizer.from_pretrained(str(DEMO / "tokenizer"))


def demo_pairs(lang: str) -> list[tuple[str, str]]:
    en = (DEMO / "en.txt").read_text(encoding="utf-8").splitlines()
    other = (DEMO / f"{lang}.txt").read_text(encoding="utf-8").splitlines()
    return list(zip(en, other))


@pytest.mark.parametrize("lang", ["de", "zh"])
def test_token_spans_decode_to_the_words(demo_tokenizer, lang):
    d = read_dictionary(DEMO / "dict" / f"en-{lang}.tsv", "en", lang)
    checked = 0
    for src, tgt in demo_pairs(lang)[:60]:
        pairs = mine_pair(src, tgt, d, "en", lang)
        src_enc = demo_tokenizer(src, return_offsets_mapping=True)
        tgt_enc = demo_tokenizer(tgt, return_offsets_mapping=True)
        sides = ((src, src_enc, [p.src_span for p in pairs]), (tgt, tgt_enc, [p.tgt_span for p in pairs]))
        for text, enc, spans in sides:
            for (start, end), token_span in zip(spans, char_spans_to_token_spans(spans, enc["offset_mapping"])):
                assert token_span is not None
                decoded = demo_tokenizer.decode(enc["input_ids"][slice(*token_span)])
                # The tokens cover the word (a token may extend past it, e.g. zh "不喜欢吃" for "喜欢") ...
                assert normalize(text[start:end]).replace(" ", "") in normalize(decoded).replace(" ", "")
                # ... and every one of them overlaps it.
                for k in range(*token_span):
                    a, b = enc["offset_mapping"][k]
                    assert a < end and b > start
                checked += 1
        assert len(pair_token_spans(pairs, src_enc["offset_mapping"], tgt_enc["offset_mapping"])) == len(pairs)
    assert checked > 100


def test_training_and_evaluation_give_the_same_units(tmp_path):
    """The same sentence pair gets the same token -> unit map and synonym pairs in the synonym-aligned training data
    and in an evaluation set (what is trained is what is measured), truncated sentences included."""
    pkg = "pkg://veco_lightning/resources/demo"
    dictionaries = {"en-de": [f"{pkg}/dict/en-de.tsv"], "en-zh": [f"{pkg}/dict/en-zh.tsv"]}
    max_length = 28  # per side (28 - 4) // 2 = 12 tokens: many sentences are cut mid-way
    files = {f"{lang}-en": ParallelSource(src=f"{pkg}/{lang}.txt", tgt=f"{pkg}/en.txt", lines=[0, 60])
             for lang in ("de", "zh")}
    train = SynonymAlignedDataModule(files=files, dictionaries=dictionaries, tokenizer=f"{pkg}/tokenizer",
                                     max_length=max_length, batch_size=4, val_pairs=0, cache_dir=str(tmp_path))
    train.prepare_data()
    train.setup("fit")
    evaluation = EvaluationDataModule(
        pairs={pair: PairSource(src=s.src, tgt=s.tgt, lines=s.lines) for pair, s in files.items()},
        dictionaries=dictionaries, tokenizer=f"{pkg}/tokenizer", max_length=(max_length - 4) // 2 + 2)
    evaluation.setup("test")
    compared = truncated = with_pairs = 0
    for dataset in evaluation.sets:
        stored = train.train_sets[dataset.name]
        for i, item in enumerate(dataset.items):
            row = stored[i]
            for side in ("src", "tgt"):
                assert item[side]["input_ids"][1:-1] == row[side]
                assert item[side]["word_index"][1:-1] == row[f"{side}_words"]
                truncated += max(row[f"{side}_words"]) + 1 < item[side]["num_words"]
            assert item["synonyms"] == row["synonyms"]
            with_pairs += bool(row["synonyms"])
            compared += 1
        batch = collate_bitext(dataset.items[:4], evaluation.pad_id, 0)["bitext"]
        assert batch["src"]["word_index"][0, 0] == -1  # <s> belongs to no unit, as in the training collator
    assert compared == 120 and truncated > 20 and with_pairs > 60
