"""XTREME's metrics: seqeval 0.0.12's chunks (the POS quirks), their agreement with seqeval 1.2.2 on real IOB2
PAN-X data, token accuracy, the SQuAD and MLQA answer normalisations, BUCC pairs."""

import os
import random
from pathlib import Path

import pytest

from veco_lightning.tasks.formats import read_tagging_labels
from veco_lightning.tasks.metrics import (
    accuracy,
    bucc_scores,
    get_entities,
    mlqa_normalize,
    mlqa_set_languages,
    qa_scores,
    span_scores,
    squad_normalize,
    token_accuracy,
)

SHARED = Path(os.environ.get("VECO_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
PANX = SHARED / "panx"
NER_TAGS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]


def test_accuracy_and_its_length_check():
    assert accuracy(["1", "0", "1", "1"], ["1", "1", "1", "0"]) == 50.0
    with pytest.raises(ValueError, match="3 predictions for 2 references"):
        accuracy(["1", "0", "1"], ["1", "0"])


# Chunks -----------------------------------------------------------------------------------------------------------


def test_iob2_chunks_and_sentence_boundaries():
    # An 'O' closes every sentence, so a chunk never runs into the next sentence and positions count on.
    assert get_entities([["B-PER", "I-PER", "O"], ["B-LOC"]]) == [("PER", 0, 1), ("LOC", 4, 4)]
    assert get_entities([["B-PER"], ["I-PER"]]) == [("PER", 0, 0), ("PER", 2, 2)]
    # Ill-formed IOB2: an I- after O, or after another type, opens a chunk.
    assert get_entities([["O", "I-ORG", "I-LOC"]]) == [("ORG", 1, 1), ("LOC", 2, 2)]


def test_pos_tags_are_typed_as_seqeval_0_0_12_did():
    # The prefix is the first letter and the type the whole tag: S-tags (SCONJ, SYM) are one-token chunks,
    # equal tags of other letters run together, and SCONJ / CCONJ stay two types.
    assert get_entities([["SCONJ", "SCONJ", "SYM"]]) == [("SCONJ", 0, 0), ("SCONJ", 1, 1), ("SYM", 2, 2)]
    assert get_entities([["NOUN", "NOUN", "VERB"]]) == [("NOUN", 0, 1), ("VERB", 2, 2)]
    assert get_entities([["O", "INTJ", "INTJ", "CCONJ"]]) == [("INTJ", 1, 2), ("CCONJ", 3, 3)]
    scores = span_scores([["CCONJ", "NOUN"]], [["SCONJ", "NOUN"]])
    assert scores == {"f1": 50.0, "precision": 50.0, "recall": 50.0}


def test_seqeval_1_2_2_merges_sconj_and_cconj():
    """Why the package keeps its own chunker: seqeval 1.2.2 types ``tag[1:]``, so SCONJ and CCONJ are both 'CONJ'."""
    seqeval = pytest.importorskip("seqeval.metrics")
    with pytest.warns(UserWarning):
        assert seqeval.f1_score([["SCONJ"]], [["CCONJ"]]) == 1.0
    assert span_scores([["CCONJ"]], [["SCONJ"]])["f1"] == 0.0


def test_span_scores_count_chunks():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "B-LOC"]]
    # gold chunks PER(0,1) LOC(3,3) ORG(5,5); predicted PER(0,1) ORG(3,3) ORG(5,5) LOC(6,6): 2 correct of 4 and 3.
    precision, recall = 2 / 4, 2 / 3
    f1 = 2 * precision * recall / (precision + recall)
    assert span_scores(pred, gold) == {"f1": f1 * 100, "precision": precision * 100, "recall": recall * 100}
    assert span_scores([["O"]], [["O"]]) == {"f1": 0.0, "precision": 0.0, "recall": 0.0}


@pytest.mark.parametrize("language", ["de", "el", "zh"])
def test_iob2_ner_equals_seqeval_1_2_2_on_panx(language):
    """For IOB2 NER the two seqeval versions agree, bit for bit: real PAN-X gold (zh has ~480 ill-formed I- tags,
    el one) against a copy with 10 % of the tags replaced at random."""
    seqeval = pytest.importorskip("seqeval.metrics")
    from seqeval.metrics.sequence_labeling import get_entities as seqeval_entities

    path = PANX / f"test-{language}.tsv"
    if not path.exists():
        pytest.skip(f"{path} not available")
    gold = read_tagging_labels(path)[:5000]  # a data file: each 'word<TAB>tag' line read as its tag
    rng = random.Random(0)
    pred = [[rng.choice(NER_TAGS) if rng.random() < 0.1 else tag for tag in sentence] for sentence in gold]
    assert set(get_entities(gold)) == set(seqeval_entities(gold))
    expected = {"f1": seqeval.f1_score(gold, pred) * 100, "precision": seqeval.precision_score(gold, pred) * 100,
                "recall": seqeval.recall_score(gold, pred) * 100}
    assert span_scores(pred, gold) == expected


def test_token_accuracy_and_alignment_errors():
    gold = [["PRON", "VERB", "PUNCT"], ["NOUN"]]
    assert token_accuracy([["PRON", "NOUN", "PUNCT"], ["NOUN"]], gold) == 3 / 4 * 100
    with pytest.raises(ValueError, match="sentence 2: 2 predicted tags for 1 reference tokens"):
        token_accuracy([["PRON", "VERB", "PUNCT"], ["NOUN", "X"]], gold)
    with pytest.raises(ValueError, match="1 predicted sentences for 2 reference sentences"):
        span_scores([["PRON", "VERB", "PUNCT"]], gold)


# Question answering -----------------------------------------------------------------------------------------------


def test_squad_normalisation():
    assert squad_normalize("The  Denver Broncos!") == "denver broncos"
    assert squad_normalize("«Paris»") == "«paris»"  # ASCII punctuation only
    assert squad_normalize("电化电池") == "电化电池"  # one token: no per-character split
    refs = {"q1": ["Denver Broncos", "The Broncos"], "q2": ["Carolina Panthers"], "q3": ["Santa Clara"]}
    preds = {"q1": "the broncos.", "q2": "Panthers", "unknown": "x"}  # q3 unanswered
    # q1: exact (second answer); q2: F1 2 * 1 * 0.5 / 1.5; q3: 0.
    assert qa_scores(preds, refs) == pytest.approx({"exact_match": 100 / 3, "f1": 100 * (1 + 2 / 3) / 3})


@pytest.mark.parametrize("language, text, normalised", [
    ("en", "The «Eiffel» Tower.", "eiffel tower"),  # Unicode punctuation goes too
    ("es", "La Casa de los Reyes", "casa de reyes"),
    ("de", "Die Hauptstadt des Landes", "hauptstadt landes"),
    ("vi", "Thủ đô của Pháp", "thủ đô pháp"),
    ("ar", "الكتاب في المكتبة", "كتاب في مكتبة"),  # every ال goes, inside words too
    ("hi", "भारत की राजधानी।", "भारत की राजधानी"),  # no articles; the danda is punctuation
    ("zh", "《红楼梦》作者abc def", "红 楼 梦 作 者 abc def"),  # ideographs one by one, other runs by white space
    ("en", "$100 + 5€", "100 5€"),  # ASCII symbols are in MLQA's set, Unicode symbols (Sc) are not
])
def test_mlqa_normalisation(language, text, normalised):
    assert mlqa_normalize(text, language) == normalised


def test_mlqa_scores_per_character_for_chinese():
    refs, preds = {"q1": ["电化电池"]}, {"q1": "电池"}
    # 2 of 4 characters: precision 1, recall 0.5; under SQuAD's normalisation the words differ entirely.
    assert qa_scores(preds, refs, task="mlqa", language="zh") == pytest.approx({"exact_match": 0.0, "f1": 200 / 3})
    assert qa_scores(preds, refs, task="xquad", language="zh") == {"exact_match": 0.0, "f1": 0.0}
    with pytest.raises(ValueError, match="MLQA defines no normalisation for 'fr'"):
        qa_scores(preds, refs, task="mlqa", language="fr")


def test_mlqa_set_languages_from_the_name_or_the_file():
    assert mlqa_set_languages("de") == ("de", "de")
    assert mlqa_set_languages("context-ar-question-es") == ("ar", "es")
    assert mlqa_set_languages("x", "MLQA_V1/test/test-context-hi-question-de.json") == ("hi", "de")
    assert mlqa_set_languages("de", "dev-context-de-question-de.json") == ("de", "de")
    assert mlqa_set_languages("x", "hf://facebook/mlqa?name=mlqa.vi.zh&split=test") == ("vi", "zh")
    assert mlqa_set_languages("de", "hf://facebook/mlqa?name=mlqa.de.de&split=validation") == ("de", "de")
    assert mlqa_set_languages("de", "data/mlqa.de.gz") == ("de", "de")  # an ending, not a question language
    with pytest.raises(ValueError, match="name it context-de-question-en"):
        mlqa_set_languages("en", "MLQA_V1/dev/dev-context-de-question-en.json")
    with pytest.raises(ValueError, match="cannot tell its languages"):
        mlqa_set_languages("de-en", "de-en.json")
    with pytest.raises(ValueError, match="no normalisation for 'fr'"):
        mlqa_set_languages("context-fr-question-en")
    # a set named for its pair is scored with its context language's normalisation
    refs, preds = {"q1": ["电化电池"]}, {"q1": "电池"}
    assert qa_scores(preds, refs, task="mlqa", language="context-zh-question-en")["f1"] == pytest.approx(200 / 3)


# BUCC -------------------------------------------------------------------------------------------------------------


def test_bucc_scores_over_pair_sets():
    gold = ["de-1\ten-1", "de-2\ten-2", "de-3\ten-3"]
    pred = ["de-1\ten-1", "de-2\ten-9", "de-1\ten-1"]  # the repeated pair counts once: 1 correct of 2
    precision, recall = 1 / 2, 1 / 3
    f1 = 2 * precision * recall / (precision + recall)
    assert bucc_scores(pred, gold) == {"f1": f1 * 100, "precision": 50.0, "recall": recall * 100}
    assert bucc_scores(["de-2\ten-9"], gold) == {"f1": 0.0, "precision": 0.0, "recall": 0.0}
