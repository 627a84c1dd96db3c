"""Tests for veco_lightning.lexicon.induction: Dice + competitive-linking dictionary induction on synthetic corpora."""

from __future__ import annotations

import logging
import random

import pytest

from veco_lightning.lexicon.dictionary import BilingualDictionary
from veco_lightning.lexicon.induction import induce_dictionary, induce_entries
from veco_lightning.lexicon.synonyms import mine_pair

# English -> German, four slots of 12 words each: with 90 sentences every word is in about 7.5 of them (8%), under
# the default max_frequency of 10%.
EN_DE_SLOTS = [
    {"doctor": "arzt", "teacher": "lehrer", "farmer": "bauer", "baker": "bäcker", "singer": "sänger",
     "lawyer": "anwalt", "painter": "maler", "soldier": "soldat", "writer": "schriftsteller", "judge": "richter",
     "nurse": "krankenschwester", "king": "könig"},
    {"sees": "sieht", "buys": "kauft", "sells": "verkauft", "paints": "malt", "finds": "findet", "loses": "verliert",
     "carries": "trägt", "cleans": "putzt", "repairs": "repariert", "hides": "versteckt", "steals": "stiehlt",
     "wants": "will"},
    {"dog": "hund", "horse": "pferd", "chair": "stuhl", "table": "tisch", "window": "fenster", "bicycle": "fahrrad",
     "letter": "brief", "clock": "uhr", "bread": "brot", "apple": "apfel", "hat": "hut", "key": "schlüssel"},
    {"berlin": "berlin", "vienna": "wien", "munich": "münchen", "cologne": "köln", "rome": "rom", "paris": "paris",
     "london": "london", "prague": "prag", "warsaw": "warschau", "moscow": "moskau", "venice": "venedig",
     "lisbon": "lissabon"},
]
EN_DE = {en: de for slot in EN_DE_SLOTS for en, de in slot.items()}

# English -> Japanese (no spaces). Words share characters on purpose (先生/学生, 東京/京都/北京, 画家/作家):
# the induced entries must be the whole words, not their shared characters.
EN_JA_SLOTS = [
    {"doctor": "医者", "teacher": "先生", "student": "学生", "painter": "画家", "writer": "作家", "singer": "歌手",
     "lawyer": "弁護士", "reporter": "記者", "soldier": "兵士", "farmer": "農民", "clerk": "店員", "cook": "料理人"},
    {"cat": "猫", "dog": "犬", "bicycle": "自転車", "umbrella": "傘", "movie": "映画", "photo": "写真",
     "letter": "手紙", "map": "地図", "clock": "時計", "hat": "帽子", "newspaper": "新聞", "flower": "花"},
    {"tokyo": "東京", "kyoto": "京都", "beijing": "北京", "osaka": "大阪", "paris": "パリ", "london": "ロンドン",
     "yokohama": "横浜", "sapporo": "札幌", "kobe": "神戸", "nara": "奈良", "fukuoka": "福岡", "rome": "ローマ"},
]
EN_JA = {en: ja for slot in EN_JA_SLOTS for en, ja in slot.items()}
JA_TEMPLATES = [  # the particles around each slot vary, so no particle+word n-gram ties with the word itself
    ("The {0} saw the {1} in {2}.", "{0}は{2}で{1}を見た。"),
    ("The {1} was sent to the {0} from {2}.", "{2}から{1}が{0}に送られた。"),
    ("The {0} of {2} likes the {1}.", "{2}の{0}は{1}が好きだ。"),
    ("The {0} took the {1} to {2}.", "{1}を{2}へ持って行ったのは{0}だ。"),
]


def balanced(slots: list[dict[str, str]], n: int, rng: random.Random) -> list[tuple[str, ...]]:
    """``n`` random rows of one word per slot, each word of a slot used ``n / 12`` times (rounded either way)."""
    columns = []
    for slot in slots:
        words = sorted(slot) * (n // len(slot) + 1)
        column = words[:n]
        rng.shuffle(column)
        columns.append(column)
    return list(zip(*columns))


def en_de_corpus(n: int = 90, seed: int = 0) -> list[tuple[str, str]]:
    """(English, German) pairs ``The S V the O in C[ also] in YEAR.``: every English word has one known German
    translation and is in 7-8 of the 90 sentences; ``the``/``der``/``den`` are in every sentence, ``also``/``auch``
    (stop words) in one in eight, and a year (a number, the same on both sides) in each."""
    rng = random.Random(seed)
    pairs = []
    for i, (s, v, o, c) in enumerate(balanced(EN_DE_SLOTS, n, rng)):
        year = rng.choice(["1999", "2004", "2011", "2019"])
        also, auch = (" also", " auch") if i % 8 == 0 else ("", "")
        german = (f"Der {EN_DE[s].title()} {EN_DE[v]}{auch} den {EN_DE[o].title()} in {EN_DE[c].title()} "
                  f"im Jahr {year}.")
        pairs.append((f"The {s}{also} {v} the {o} in {c.title()} in {year}.", german))
    return pairs


def en_ja_corpus(n: int = 100, seed: int = 1) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    pairs = []
    for i, words in enumerate(balanced(EN_JA_SLOTS, n, rng)):
        en, ja = JA_TEMPLATES[i % len(JA_TEMPLATES)]
        pairs.append((en.format(*(w.title() if k == 2 else w for k, w in enumerate(words))),
                      ja.format(*(EN_JA[w] for w in words))))
    return pairs


def entry_strings(dictionary: BilingualDictionary) -> set[tuple[str, str]]:
    return {("".join(s) if dictionary.src_lang == "ja" else " ".join(s),
             "".join(t) if dictionary.tgt_lang == "ja" else " ".join(t)) for s, t in dictionary}


def precision_recall(induced: set[tuple[str, str]], known: set[tuple[str, str]]) -> tuple[float, float]:
    hits = len(induced & known)
    return hits / max(1, len(induced)), hits / len(known)


def test_spaced_pair_recovers_known_mapping():
    pairs = en_de_corpus()
    dictionary = induce_dictionary(pairs, "en", "de")
    induced = entry_strings(dictionary)
    precision, recall = precision_recall(induced, set(EN_DE.items()))
    assert precision >= 0.95, sorted(induced - set(EN_DE.items()))
    assert recall >= 0.9, sorted(set(EN_DE.items()) - induced)
    assert (dictionary.src_lang, dictionary.tgt_lang) == ("en", "de")
    # Normalised like every dictionary: case-folded, umlauts kept, looked up through the usual API.
    assert dictionary.translations("Baker") == {("bäcker",)}
    assert dictionary.sources_of("Köln") == {("cologne",)}
    # mutual=True is one-to-one.
    sources = [s for s, _ in dictionary]
    targets = [t for _, t in dictionary]
    assert len(set(sources)) == len(sources) and len(set(targets)) == len(targets)


def test_stop_words_frequent_words_and_numbers_are_not_induced():
    pairs = en_de_corpus()
    induced = entry_strings(induce_dictionary(pairs, "en", "de"))
    words = {s for s, _ in induced} | {t for _, t in induced}
    # the/der (every sentence), also/auch (stop words, 1 in 8 sentences, perfectly aligned), in/im/jahr (frequent)
    # and the years (numbers, identical on both sides) are all perfect co-occurrence pairs, and all filtered.
    assert not words & {"the", "der", "den", "also", "auch", "in", "im", "jahr", "1999", "2004", "2011", "2019"}
    assert ("also", "auch") not in induced
    # Without the filters, the same statistics do induce them: the filters, not the scores, keep them out.
    unfiltered = entry_strings(induce_dictionary(pairs, "en", "de", stop_words=set(), max_frequency=1.0))
    assert ("also", "auch") in unfiltered
    assert ("in", "in") in unfiltered  # every sentence on both sides: Dice 1, identical strings win the tie
    assert "the" in {s for s, _ in unfiltered}
    assert not {w for pair in unfiltered for w in pair} & {"1999", "2004", "2011", "2019"}  # numbers never
    # A per-language stop list applies to its side only.
    only_en = entry_strings(induce_dictionary(pairs, "en", "de", stop_words={"en": {"also"}}, max_frequency=1.0))
    assert "also" not in {s for s, _ in only_en}
    assert "the" in {s for s, _ in only_en}  # only "also" is an English stop word now


def test_thresholds_trade_recall_for_precision():
    pairs = en_de_corpus()
    loose = induce_entries(pairs, "en", "de", min_count=2, min_dice=0.1, mutual=False)
    strict = induce_entries(pairs, "en", "de")
    known = set(EN_DE.items())
    loose_set, strict_set = {(e.src, e.tgt) for e in loose}, {(e.src, e.tgt) for e in strict}
    assert strict_set <= loose_set
    assert len(loose_set) > 2 * len(strict_set)  # many chance co-occurrences without competitive linking
    assert precision_recall(loose_set, known)[0] < 0.5 < precision_recall(strict_set, known)[0]
    # Scores are the Dice coefficient of the reported counts, best first, and respect the thresholds.
    assert all(e.dice == pytest.approx(2 * e.count / (e.src_count + e.tgt_count)) for e in strict)
    assert all(e.count >= 3 and e.dice >= 0.3 for e in strict)
    assert [e.dice for e in strict] == sorted((e.dice for e in strict), reverse=True)
    assert induce_entries(pairs, "en", "de", min_count=50) == []


def test_no_space_side_yields_whole_words_that_mining_finds():
    pairs = en_ja_corpus()
    dictionary = induce_dictionary(((ja, en) for en, ja in pairs), "ja", "en")
    induced = entry_strings(dictionary)
    known = {(ja, en) for en, ja in EN_JA.items()}
    precision, recall = precision_recall(induced, known)
    assert precision >= 0.9, sorted(induced - known)
    assert recall >= 0.9, sorted(known - induced)
    # Multi-character words are induced whole, not as their (shared) characters or with particles attached.
    for ja, en in [("東京", "tokyo"), ("京都", "kyoto"), ("先生", "teacher"), ("学生", "student"),
                   ("ロンドン", "london"), ("自転車", "bicycle")]:
        assert (ja, en) in induced
    sources = {s for s, _ in induced}
    assert not sources & {"東", "京", "生", "家", "は", "を", "で", "見た"}
    assert dictionary.translations("東京") == {("tokyo",)}  # stored as one unspaced phrase, like shipped entries
    # 東 occurs only inside 東京, so its scores tie with 東京's: the near-tie rule, not the frequency filter (off
    # here), keeps the longer n-gram; 東京で (a less frequent extension) scores lower and loses to 東京.
    unfiltered = {(e.src, e.tgt) for e in induce_entries(((ja, en) for en, ja in pairs), "ja", "en",
                                                         max_frequency=1.0)}
    assert ("東京", "tokyo") in unfiltered
    assert not {s for s, t in unfiltered if t == "tokyo"} - {"東京"}

    # A held-out sentence is mined with the induced entries.
    src, tgt = "学生は京都で自転車を見た。", "The student saw the bicycle in Kyoto."
    assert (tgt, src) not in pairs
    found = {(src[slice(*p.src_span)], tgt[slice(*p.tgt_span)]) for p in mine_pair(src, tgt, dictionary, "ja", "en")}
    assert {("学生", "student"), ("京都", "Kyoto"), ("自転車", "bicycle")} <= found
    # The other direction (no-space target side) mines the same pairs.
    inverse = induce_dictionary(pairs, "en", "ja")
    found = {(tgt[slice(*p.src_span)], src[slice(*p.tgt_span)]) for p in mine_pair(tgt, src, inverse, "en", "ja")}
    assert {("student", "学生"), ("Kyoto", "京都"), ("bicycle", "自転車")} <= found


def test_longest_ngram_wins_near_ties():
    pairs = [(ja, en) for en, ja in en_ja_corpus(n=120)]  # every city in 10 sentences
    # One London is spelled ロンドーン: ロンドン now co-occurs 9 times with "london", its sub-grams ロン, ロンド, ンド
    # 10 times (Dice 0.95 vs 1.0). Within 10% they are near-ties, and the whole word wins; without the rule the
    # fragment ロンド (best Dice) would.
    first = next(i for i, (ja, _) in enumerate(pairs) if "ロンドン" in ja)
    pairs[first] = (pairs[first][0].replace("ロンドン", "ロンドーン"), pairs[first][1])
    entries = {(e.src, e.tgt): e for e in induce_entries(pairs, "ja", "en")}
    assert entries[("ロンドン", "london")].count == 9
    assert not [s for s, t in entries if t == "london" and s != "ロンドン"]
    # Without competitive linking every candidate above the thresholds stays, but sub-grams tied with a longer
    # n-gram of the same partner still go: no 東 or 東京's fragments next to 東京.
    loose = {(e.src, e.tgt) for e in induce_entries(pairs, "ja", "en", mutual=False)}
    assert ("東京", "tokyo") in loose and ("東", "tokyo") not in loose
    assert ("ロンドン", "london") in loose
    assert not [s for s, t in loose if t == "london" and s != "ロンドン" and s in "ロンドン"]


def test_max_ngram_chars_caps_no_space_entries():
    pairs = [(ja, en) for en, ja in en_ja_corpus()]
    entries = induce_entries(pairs, "ja", "en", max_ngram_chars=2)
    assert entries and max(len(e.src) for e in entries) == 2
    assert ("東京", "tokyo") in {(e.src, e.tgt) for e in entries}
    assert all("ロンドン" not in e.src for e in entries)


def test_sources_logging_and_validation(caplog):
    pairs = en_de_corpus(n=40)
    with caplog.at_level(logging.INFO, logger="veco_lightning.lexicon.induction"):
        dictionary = induce_dictionary(iter(pairs), "en", "de")  # any iterable, read once
    assert dictionary.sources == ["induced:40 pairs"]
    assert any(f"Induced {dictionary.entries} en-de dictionary entries from 40 sentence pairs" in r.getMessage()
               for r in caplog.records)
    empty = induce_dictionary([], "en", "de")
    assert empty.entries == 0 and empty.sources == ["induced:0 pairs"]
    with pytest.raises(ValueError, match="min_count"):
        induce_dictionary(pairs, "en", "de", min_count=0)
    with pytest.raises(ValueError, match="max_frequency"):
        induce_dictionary(pairs, "en", "de", max_frequency=0.0)
