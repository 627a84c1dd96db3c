"""Tests for veco_lightning.lexicon.synonyms: synonym pairs, one-to-one resolution, stop words, corpora."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from veco_lightning.lexicon.dictionary import BilingualDictionary, read_dictionary
from veco_lightning.lexicon.stopwords import default_stop_words
from veco_lightning.lexicon.synonyms import MiningStats, SynonymPair, mine_corpus, mine_pair
from veco_lightning.lexicon.words import normalize

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "veco_lightning" / "resources" / "demo"
SHARED = Path(os.environ.get("VECO_SHARED_DATA", ROOT.parent / "shared" / "data"))
LANGS = ["de", "fr", "es", "ru", "zh"]


def make_dictionary(src: str, tgt: str, entries: list[tuple[str, str]]) -> BilingualDictionary:
    d = BilingualDictionary(src, tgt)
    for a, b in entries:
        d.add(a, b)
    return d


def words_of(src: str, tgt: str, pairs: list[SynonymPair]) -> list[tuple[str, str]]:
    return [(src[slice(*p.src_span)], tgt[slice(*p.tgt_span)]) for p in pairs]


def assert_one_to_one(pairs: list[SynonymPair]) -> None:
    for side in ("src_words", "tgt_words"):
        used = [i for p in pairs for i in range(*getattr(p, side))]
        assert len(used) == len(set(used)), pairs


EN_DE = make_dictionary("en", "de", [
    ("post office", "Postamt"), ("office", "Büro"), ("post", "Post"), ("dog", "Hund"), ("the", "der"),
    ("the", "die"), ("big", "groß"), ("big", "dick"), ("fat", "dick"), ("cat", "Katze"), ("is", "ist"),
])


def test_multi_word_entry_beats_its_parts():
    src, tgt = "The dog is at the post office.", "Der Hund ist im Postamt."
    pairs = mine_pair(src, tgt, EN_DE, "en", "de")
    assert words_of(src, tgt, pairs) == [("The", "Der"), ("dog", "Hund"), ("is", "ist"), ("post office", "Postamt")]
    multi = pairs[-1]
    assert (multi.src_phrase, multi.tgt_phrase, multi.src_words, multi.tgt_words) == ("post office", "postamt",
                                                                                     (5, 7), (4, 5))


def test_uniqueness_beats_position():
    # big -> {groß, dick}, fat -> {dick}. By position alone "big"<->"dick" (both in the middle) would win and leave
    # "fat" and "groß" unmatched; the unique-match rule pairs big<->groß and fat<->dick.
    src, tgt = "fat big cat", "groß dick Katze"
    pairs = mine_pair(src, tgt, EN_DE, "en", "de")
    assert sorted(words_of(src, tgt, pairs)) == [("big", "groß"), ("cat", "Katze"), ("fat", "dick")]
    assert_one_to_one(pairs)


def test_position_breaks_remaining_ties():
    src, tgt = "the dog sees the other dog", "der Hund sieht den anderen Hund"
    pairs = mine_pair(src, tgt, EN_DE, "en", "de", stop_words={"the", "der"})
    assert [(p.src_span, p.tgt_span) for p in pairs] == [((4, 7), (4, 8)), ((23, 26), (27, 31))]


def test_stop_words_dropped_and_cap():
    src, tgt = "The dog is at the post office.", "Der Hund ist im Postamt."
    stops = {"en": default_stop_words("en"), "de": default_stop_words("de")}
    assert "the" in stops["en"] and "der" in stops["de"] and "ist" in stops["de"]
    pairs = mine_pair(src, tgt, EN_DE, "en", "de", stop_words=stops)
    assert words_of(src, tgt, pairs) == [("dog", "Hund"), ("post office", "Postamt")]
    # One set for both sides works too.
    assert mine_pair(src, tgt, EN_DE, "en", "de", stop_words=stops["en"] | stops["de"]) == pairs
    # The cap keeps the best-ranked pairs: the longest phrase first.
    assert words_of(src, tgt, mine_pair(src, tgt, EN_DE, "en", "de", max_pairs=1)) == [("post office", "Postamt")]
    assert mine_pair(src, tgt, EN_DE, "en", "de", max_pairs=0) == []


def test_default_stop_words_languages():
    for lang in ["en", "de", "fr", "es", "ru", "zh", "ar", "el", "hi", "tr", "vi"]:
        words = default_stop_words(lang)
        assert 30 <= len(words) <= 90, lang
        assert all(normalize(w) == w for w in words)
    assert default_stop_words("deu") == default_stop_words("de")
    assert default_stop_words("zh-CN") == default_stop_words("zh")
    assert default_stop_words("xx") == set()


def test_dictionary_direction():
    src, tgt = "Der Hund", "the dog"
    pairs = mine_pair(src, tgt, EN_DE, "de", "en")  # an en-de dictionary mines de-en pairs (inverted)
    assert words_of(src, tgt, pairs) == [("Der", "the"), ("Hund", "dog")]
    with pytest.raises(ValueError, match=r"synonyms\.py.*en-de dictionary cannot mine en-fr"):
        mine_pair("dog", "chien", EN_DE, "en", "fr")


def test_chinese_target_segmented_with_dictionary_phrases():
    d = make_dictionary("en", "zh", [("like", "喜欢"), ("Peking University", "北京 大学"), ("university", "大学"),
                                     ("I", "我"), ("ice cream", "冰淇淋"), ("ice", "冰")])
    src, tgt = "I like Peking University and ice cream.", "我喜欢北京大学和冰淇淋。"
    pairs = mine_pair(src, tgt, d, "en", "zh")
    assert words_of(src, tgt, pairs) == [("I", "我"), ("like", "喜欢"), ("Peking University", "北京大学"),
                                         ("ice cream", "冰淇淋")]
    # The other direction: the zh side is the source.
    back = mine_pair(tgt, src, d, "zh", "en")
    assert sorted(words_of(tgt, src, back)) == sorted((b, a) for a, b in words_of(src, tgt, pairs))


def test_no_space_phrase_spanning_several_segments():
    # With max_word_chars=2 the segmenter cannot take "冰淇淋" whole and cuts "冰" + "淇淋"; the n-gram over the
    # segmented words, joined without spaces, still finds the entry.
    d = make_dictionary("en", "zh", [("ice cream", "冰淇淋"), ("ice", "冰"), ("qilin", "淇淋")])
    pairs = mine_pair("ice cream", "冰淇淋", d, "en", "zh", max_word_chars=2)
    assert [(p.src_phrase, p.tgt_phrase, p.tgt_span, p.tgt_words) for p in pairs] == [
        ("ice cream", "冰淇淋", (0, 3), (0, 2))]


def demo_pairs(lang: str) -> list[tuple[str, str]]:
    en = (DEMO / "en.txt").read_text(encoding="utf-8").splitlines()
    other = (DEMO / f"{lang}.txt").read_text(encoding="utf-8").splitlines()
    return list(zip(en, other))


def test_mine_corpus_demo_all_pairs():
    for lang in LANGS:
        d = read_dictionary(DEMO / "dict" / f"en-{lang}.tsv", "en", lang)
        results, stats = mine_corpus(demo_pairs(lang), d, "en", lang)
        print(f"demo en-{lang}: {stats.summary()}")
        assert stats.sentence_pairs == len(results) == 480
        assert stats.synonym_pairs == sum(len(r) for r in results)
        assert stats.mean_per_pair > 2.5, (lang, stats.summary())
        assert 0.3 < stats.src_coverage <= 1 and 0.3 < stats.tgt_coverage <= 1
        for found in results:
            assert_one_to_one(found)


def test_mining_stats_arithmetic():
    stats = MiningStats()
    stats.add([SynonymPair((0, 3), (0, 4), "a b", "c", (0, 2), (0, 1))], 4, 2)
    stats.add([], 6, 8)
    counted = (stats.sentence_pairs, stats.pairs_with_synonyms, stats.synonym_pairs, stats.multi_word_pairs)
    assert counted == (2, 1, 1, 1)
    assert stats.mean_per_pair == 0.5 and stats.src_coverage == 0.2 and stats.tgt_coverage == 0.1
    assert "0.50 per sentence pair" in stats.summary()


NTREX_CODES = {"de": "deu", "zh": "zho-CN"}


@pytest.mark.skipif(not (SHARED / "ntrex128").exists() or not (SHARED / "dictionaries").exists(),
                    reason="NTREX-128 or the shared dictionaries are not available")
@pytest.mark.parametrize("lang", ["de", "zh"])
def test_ntrex_real_data(lang):
    en = (SHARED / "ntrex128" / "newstest2019-src.eng.txt").read_text(encoding="utf-8").splitlines()[:200]
    ref = (SHARED / "ntrex128" / f"newstest2019-ref.{NTREX_CODES[lang]}.txt").read_text(encoding="utf-8")
    d = read_dictionary(SHARED / "dictionaries" / f"en-{lang}.tsv", "en", lang)
    stops = {"en": default_stop_words("en"), lang: default_stop_words(lang)}
    results, stats = mine_corpus(zip(en, ref.splitlines()[:200]), d, "en", lang, stop_words=stops)
    print(f"NTREX en-{lang} (200 lines): {stats.summary()}")
    assert stats.mean_per_pair > 2 and stats.pairs_with_synonyms > 170
    for found in results:
        assert_one_to_one(found)


@pytest.mark.parametrize("max_pairs", [None, 1, 3])
def test_batch_resolution_equals_the_per_sentence_ranking(max_pairs):
    """``_resolve_batch`` (all sentences at once, one round per chosen pair) chooses what ``_resolve`` chooses,
    sentence by sentence: random overlapping phrases, ties in length and position, repeated spans."""
    import random

    import numpy as np

    from veco_lightning.lexicon.synonyms import _resolve, _resolve_batch

    rng = random.Random(max_pairs or 0)
    rows, expected = [], set()
    n_src = np.array([rng.randint(1, 12) for _ in range(300)])
    n_tgt = np.array([rng.randint(1, 12) for _ in range(300)])
    for s in range(300):
        candidates = set()
        for _ in range(rng.randint(0, 12)):
            i0, j0 = rng.randrange(n_src[s]), rng.randrange(n_tgt[s])
            candidates.add((i0, rng.randint(i0 + 1, min(n_src[s], i0 + 3)), j0,
                            rng.randint(j0 + 1, min(n_tgt[s], j0 + 3)), None, None))
        rows += [(s, *c[:4]) for c in candidates]
        expected |= {(s, *c[:4]) for c in _resolve(sorted(candidates), int(n_src[s]), int(n_tgt[s]), max_pairs)}
    columns = [np.array(column, np.int64) for column in zip(*rows)]
    got = _resolve_batch(*columns, n_src, n_tgt, max_pairs)
    assert set(zip(*(c.tolist() for c in got))) == expected
    assert len(got[0]) == len(expected)


@pytest.mark.parametrize("stops", [False, True])
def test_side_occurrences_equal_segmentation_then_matching(stops):
    """SynonymMiner.side_occurrences (plain texts' words looked up by their characters through a cache kept across
    batches) gives what segment_batch then occurrences give, batch after batch with the cache warm, and so
    match_texts_batch what segment_batch then match_batch give: clitics on both sides, multi-word keys, digit groups,
    a no-space run, a character outside the plane, and a word NFKC spells with spaces (the side then matched as
    strings). A pickled miner (its caches dropped) gives the same."""
    import pickle
    import random

    import numpy as np

    from veco_lightning.data.units import match_texts_batch
    from veco_lightning.lexicon.dictionary import dictionary_for
    from veco_lightning.lexicon.synonyms import SynonymMiner

    d = dictionary_for({"en-fr": str(DEMO / "dict" / "en-fr.tsv")}, "fr", "en")
    for fr, en in (("bureau de poste", "post office"), ("homme", "man"), ("l'homme", "the man"), ("3,5", "3.5"),
                   ("صلى الله عليه وسلم", "peace be upon him"), ("très connu", "well-known"), ("aujourd'hui", "today")):
        d.add(fr, en)
    stop_words = {"fr": default_stop_words("fr"), "en": default_stop_words("en")} if stops else None
    miner = SynonymMiner(d, "fr", "en", stop_words)
    pairs = demo_pairs("fr")
    rng = random.Random(0)
    extra = [" l'homme ", " L’homme ", " aujourd'hui ", " 3,5 ", " bureau de poste ", " ﷺ ", " 中文 ", " 😀 ",
             " très connu ", " John's ", " post office ", " well-known ", " man's ", "qu'il "]
    batches = []
    for start in range(0, len(pairs), 25):
        chunk = pairs[start:start + 25]
        src = [s + rng.choice(extra) * rng.randint(0, 2) for s, _ in chunk]
        tgt = [t + rng.choice(extra) * rng.randint(0, 2) for _, t in chunk]
        batches.append((src, tgt))
    batches.append((["ﷺ " + s for s, _ in pairs[:5]], [t for _, t in pairs[:5]]))  # a spaced form: as strings
    batches.append(([], []))

    def check(m):
        kinds = []
        for src, tgt in batches:
            for side, texts in (("src", src), ("tgt", tgt)):
                words, found = m.side_occurrences(texts, side)
                if texts:
                    kinds.append((type(words).__name__, any("ﷺ" in text for text in texts)))
                expected = m.segment_batch(texts, side)
                assert np.array_equal(words.starts, expected.starts) and np.array_equal(words.ends, expected.ends)
                assert np.array_equal(words.counts, expected.counts)
                reference = m.occurrences(expected.words, expected.counts, side)
                assert all(np.array_equal(a, b) for a, b in zip(found, reference))
            a, b = m.segment_batch(src, "src"), m.segment_batch(tgt, "tgt")
            expected = m.match_batch(a.words, a.counts, b.words, b.counts)
            assert all(np.array_equal(x, y) for x, y in zip(match_texts_batch(m, src, tgt).found, expected))
        # By word ids unless a word's form holds a space (ﷺ), then as strings.
        assert {kind for kind, spaced in kinds if not spaced} == {"WordSpans"}
        assert {kind for kind, spaced in kinds if spaced} == {"SegmentedBatch"}

    check(miner)
    check(miner)  # every word cached now
    check(pickle.loads(pickle.dumps(miner)))
