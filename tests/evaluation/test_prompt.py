"""``data.evaluation.prompt``: the text put before every evaluated sentence (the E5 models' ``"query: "``) is encoded
with the sentence as one string, as sentence-transformers encodes it, and its tokens belong to no word: the words,
synonym pairs and gold alignments scored are those of the sentence alone."""

import pytest
from transformers import AutoTokenizer

from veco_lightning.evaluation.datasets import BitextEvalSet, MiningEvalSet
from veco_lightning.lexicon.dictionary import BilingualDictionary
from veco_lightning.paths import resolve_path

DEMO_TOKENIZER = "pkg://veco_lightning/resources/demo/tokenizer"
SRC = ["Der kleine Hund schläft im Haus.", "Ein Haus", "Der Hund und die Katze schlafen."]
TGT = ["The small dog sleeps in the house.", "A house", "The dog and the cat sleep."]


@pytest.fixture(scope="module", params=["xlmr", "bert"])
def tokenizer(request, bert_dir):
    """The demo tokenizer (SentencePiece, XLM-R's layout) and a WordPiece one (multilingual BERT's)."""
    return AutoTokenizer.from_pretrained(resolve_path(DEMO_TOKENIZER) if request.param == "xlmr" else str(bert_dir))


def _dictionary():
    dictionary = BilingualDictionary("de", "en")
    for src, tgt in (("hund", "dog"), ("haus", "house"), ("katze", "cat")):
        dictionary.add(src, tgt)
    return dictionary


@pytest.mark.parametrize("prompt", ["query: ", "Retrieve the translation:", "Übersetze: "])
def test_the_prompt_is_encoded_with_the_sentence_and_scores_no_word(tokenizer, prompt):
    plain = BitextEvalSet("de-en", SRC, TGT, "de", "en", tokenizer, 64, _dictionary())
    prompted = BitextEvalSet("de-en", SRC, TGT, "de", "en", tokenizer, 64, _dictionary(), prompt=prompt)
    assert prompted.mined == plain.mined > 0
    assert prompted.words == plain.words  # the sentence's own words, with their character spans
    for before, after, (src, tgt) in zip(plain.items, prompted.items, zip(SRC, TGT)):
        assert after["synonyms"] == before["synonyms"]
        for side, text in (("src", src), ("tgt", tgt)):
            # the ids sentence-transformers gives prompt + sentence, special tokens included
            assert after[side]["input_ids"] == tokenizer(prompt + text)["input_ids"]
            assert after[side]["num_words"] == before[side]["num_words"]
            index = after[side]["word_index"]
            first = next(k for k, w in enumerate(index) if w >= 0)
            assert first > 1 and index[first] == 0  # <s>, the prompt's tokens, then the sentence's first word
            assert sorted(set(index) - {-1}) == sorted(set(before[side]["word_index"]) - {-1})


def test_a_prompt_counts_in_max_length_and_must_leave_room(tokenizer):
    prompted = BitextEvalSet("de-en", SRC, TGT, "de", "en", tokenizer, 12, prompt="query: ")
    assert all(len(item[side]["input_ids"]) <= 12 for item in prompted.items for side in ("src", "tgt"))
    with pytest.raises(ValueError, match=r"data\.evaluation\.prompt .* leaves no room for the sentence in "
                                         r"data\.evaluation\.max_length=6"):
        BitextEvalSet("de-en", SRC, TGT, "de", "en", tokenizer, 6, prompt="query: " * 3)


def test_bucc_sentences_get_the_prompt(tmp_path, tokenizer):
    from veco_lightning.evaluation.bitext_mining import make_bucc_task
    from veco_lightning.evaluation.sources import BuccSource

    src, trg = [f"quelle {i} satz" for i in range(60)], [f"source {i} sentence" for i in range(60)]
    make_bucc_task(src, trg, str(tmp_path), pair="de-en", n_gold=10, n_distractors=10, seed=0)
    source = BuccSource(str(tmp_path), ["de-en"], "dev", "test")
    plain = MiningEvalSet("bucc-de-en", source, "de-en", tokenizer, 64)
    prompted = MiningEvalSet("bucc-de-en", source, "de-en", tokenizer, 64, prompt="query: ")
    key = {(item["key"], item["index"]): item["input_ids"] for item in plain.items}
    for item in prompted.items:
        split = prompted.splits[item["key"][0]]
        text = (split.src_sents, split.trg_sents)[item["key"][1]][item["index"]]
        assert item["input_ids"] == tokenizer("query: " + text)["input_ids"] != key[(item["key"], item["index"])]
