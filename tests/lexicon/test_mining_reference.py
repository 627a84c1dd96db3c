"""The fast mining path against slow, obvious reference implementations: segmentation, dictionary n-grams and
one-to-one resolution, word units and token maps must come out identical (issue 13: mining was sped up without
changing a single mined pair).

The references are deliberately naive: every word found with ``finditer`` and normalised on its own (no cache, no
ASCII shortcut), every n-gram of every length looked up (no prefix walk), every candidate resolved by the general
rule (no fast path), units and token maps built by plain loops.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from veco_lightning.data.units import PairUnits, mine_units, mine_units_batch, token_units, units_of
from veco_lightning.lexicon import words
from veco_lightning.lexicon.dictionary import BilingualDictionary, read_dictionary
from veco_lightning.lexicon.languages import base_language
from veco_lightning.lexicon.stopwords import default_stop_words, stop_sets
from veco_lightning.lexicon.synonyms import MiningStats, SynonymMiner, SynonymPair, mine_pair

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "veco_lightning" / "resources" / "demo"
SHARED = Path(os.environ.get("VECO_SHARED_DATA", ROOT.parent / "shared" / "data"))
NTREX_CODES = {"de": "deu", "ru": "rus", "zh": "zho-CN", "fr": "fra"}


# ------------------------------------------------------------------------------------------------ references


def reference_segment(text: str, lang: str, lexicon=None, max_word_chars: int = 8, prefixes=None) -> list[tuple]:
    """Words of a text: each match of the word pattern, normalised alone; clitic rules for words with an apostrophe.
    Text holding a no-space run takes the one path there is (``segment_spans``' dictionary longest match)."""
    if words.NO_SPACE_CHAR.search(text):
        return words.segment_spans(text, lang, lexicon, max_word_chars, prefixes)
    rules = words._CLITIC_RULES.get(base_language(lang))
    out: list[tuple] = []
    for match in words._FAST.finditer(text):
        start, end = match.span()
        if rules is not None and any(q in match.group() for q in words._APOSTROPHES):
            words._emit(text, None, start, end, rules, out)
        else:
            out.append((words.normalize(match.group()), start, end))
    return out


def reference_ngrams(texts: list[str], keys, sep: str, max_n: int, stop) -> list[tuple[int, int, str]]:
    found = []
    for i in range(len(texts)):
        for j in range(i + 1, min(len(texts), i + max_n) + 1):
            key = sep.join(texts[i:j])
            if key in keys and not (stop and (key in stop or all(w in stop for w in texts[i:j]))):
                found.append((i, j, key))
    return found


def reference_mine(src: str, tgt: str, dictionary: BilingualDictionary, src_lang: str, tgt_lang: str,
                   stop_words=None, max_pairs: int | None = None) -> tuple[list[SynonymPair], list, list]:
    """Every dictionary n-gram pair of the two sentences, ranked (longer, then unambiguous, then nearer), taken
    greedily one-to-one."""
    index = dictionary.index() if dictionary.src_lang == src_lang else dictionary.inverse().index()
    stop_src, stop_tgt = stop_sets(stop_words, src_lang, tgt_lang)
    src_words = reference_segment(src, src_lang, None if index.src_sep else index.src_keys, 8, index.src_prefixes)
    tgt_words = reference_segment(tgt, tgt_lang, None if index.tgt_sep else index.tgt_keys, 8, index.tgt_prefixes)
    if max_pairs == 0:
        return [], src_words, tgt_words
    src_found = reference_ngrams([w[0] for w in src_words], index.src_map, index.src_sep, index.src_max_words,
                                 stop_src)
    tgt_found = reference_ngrams([w[0] for w in tgt_words], index.tgt_keys, index.tgt_sep, index.tgt_max_words,
                                 stop_tgt)
    candidates = [(i0, i1, j0, j1, s, t) for i0, i1, s in src_found for j0, j1, t in tgt_found
                  if t in index.src_map[s]]
    src_partners = {c[:2]: sum(d[:2] == c[:2] for d in candidates) for c in candidates}
    tgt_partners = {c[2:4]: sum(d[2:4] == c[2:4] for d in candidates) for c in candidates}

    def rank(c):
        i0, i1, j0, j1 = c[:4]
        ambiguous = (src_partners[i0, i1] > 1) + (tgt_partners[j0, j1] > 1)
        # The distance in the implementation's floating-point arithmetic: positions exactly as near (7/10 - 5/10 and
        # 9/10 - 7/10) differ in the last bit, and that bit, not the source position, orders them.
        scale_src, scale_tgt = 0.5 / len(src_words), 0.5 / len(tgt_words)
        return (i0 - i1 + j0 - j1, ambiguous, abs((i0 + i1) * scale_src - (j0 + j1) * scale_tgt), i0, j0)

    used_src, used_tgt, pairs = set(), set(), []
    for i0, i1, j0, j1, s, t in sorted(candidates, key=rank):
        if used_src & set(range(i0, i1)) or used_tgt & set(range(j0, j1)):
            continue
        used_src.update(range(i0, i1))
        used_tgt.update(range(j0, j1))
        pairs.append(SynonymPair((src_words[i0][1], src_words[i1 - 1][2]), (tgt_words[j0][1], tgt_words[j1 - 1][2]),
                                 s, t, (i0, i1), (j0, j1)))
        if max_pairs is not None and len(pairs) >= max_pairs:
            break
    return sorted(pairs), src_words, tgt_words


def reference_units(words_: list[tuple], phrases: list[tuple[int, int]]) -> tuple[list, list[int]]:
    spans, unit_of_phrase, w = [], [0] * len(phrases), 0
    firsts = {first: k for k, (first, _) in enumerate(phrases)}
    while w < len(words_):
        if w in firsts:
            k = firsts[w]
            unit_of_phrase[k] = len(spans)
            spans.append((words_[w][1], words_[phrases[k][1] - 1][2]))
            w = phrases[k][1]
        else:
            spans.append(words_[w][1:])
            w += 1
    return spans, unit_of_phrase


def reference_token_units(spans: list, offsets: list) -> list[int]:
    """A token's unit: the first unit ending after the token starts (never one before the previous token's unit),
    if it overlaps the token and ends by the last token's end."""
    last_end = max([end for _, end in offsets], default=0)
    index, u = [], 0
    for start, end in offsets:
        if end <= start:
            index.append(-1)
            continue
        while u < len(spans) and spans[u][1] <= start:
            u += 1
        ok = u < len(spans) and spans[u][0] < end and spans[u][1] <= last_end
        index.append(u if ok else -1)
    return index


def reference_mine_units(src, tgt, dictionary, src_lang, tgt_lang, stop_words, src_offsets, tgt_offsets):
    pairs, src_words, tgt_words = reference_mine(src, tgt, dictionary, src_lang, tgt_lang, stop_words)
    src_spans, src_units = reference_units(src_words, [p.src_words for p in pairs])
    tgt_spans, tgt_units = reference_units(tgt_words, [p.tgt_words for p in pairs])
    src_index, tgt_index = reference_token_units(src_spans, src_offsets), reference_token_units(tgt_spans, tgt_offsets)
    synonyms = [u for i, j in zip(src_units, tgt_units) if i in src_index and j in tgt_index for u in (i, j)]
    counts = (*MiningStats.count(pairs, len(src_words), len(tgt_words)), len(synonyms) // 2)
    return PairUnits(src_index, tgt_index, synonyms, src_spans, tgt_spans, counts)


# ------------------------------------------------------------------------------------------------ fixtures


def offsets_of(text: str) -> list[tuple[int, int]]:
    """Token offsets of a toy tokenizer: each word cut into pieces of at most 3 characters (the first piece taking
    the space before it, as SentencePiece offsets do), punctuation alone; truncated to 12 tokens."""
    out = []
    for start, end in ((m.start(), m.end()) for m in words.regex.finditer(r"\s*\w+|\S", text)):
        while start < end:
            out.append((start, min(end, start + 3)))
            start += 3
    return out[:12]


def lines(path: Path, n: int | None = None) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()[:n]


DEMO_LANGS = ["de", "es", "fr", "ru", "zh"]


@pytest.fixture(scope="module")
def demo_dictionaries() -> dict[str, BilingualDictionary]:
    return {lang: read_dictionary(DEMO / "dict" / f"en-{lang}.tsv", "en", lang) for lang in DEMO_LANGS}


# ------------------------------------------------------------------------------------------------ tests


@pytest.mark.parametrize("lang", DEMO_LANGS)
def test_demo_corpus_equals_reference(lang, demo_dictionaries):
    dictionary, en, xx = demo_dictionaries[lang], lines(DEMO / "en.txt"), lines(DEMO / f"{lang}.txt")
    stops = {"en": default_stop_words("en"), lang: default_stop_words(lang)}
    for stop_words, max_pairs in ((stops, None), (None, None), (stops, 2)):
        for src, tgt in zip(en, xx):
            assert mine_pair(src, tgt, dictionary, "en", lang, stop_words, max_pairs) == \
                reference_mine(src, tgt, dictionary, "en", lang, stop_words, max_pairs)[0], (src, tgt)
    miner = SynonymMiner(dictionary, lang, "en", stops)  # the other direction, as the datamodules mine xx-en
    for src, tgt in zip(xx, en):
        assert miner(src, tgt) == reference_mine(src, tgt, dictionary, lang, "en", stops)
        units = mine_units(miner, src, tgt, offsets_of(src), offsets_of(tgt))
        assert units == reference_mine_units(src, tgt, dictionary, lang, "en", stops, offsets_of(src),
                                             offsets_of(tgt)), (src, tgt)


@pytest.mark.skipif(not (SHARED / "ntrex128").exists() or not (SHARED / "dictionaries").exists(),
                    reason="shared NTREX / dictionaries not available")
@pytest.mark.parametrize("lang", ["de", "zh"])
def test_ntrex_equals_reference(lang):
    en = lines(SHARED / "ntrex128" / "newstest2019-src.eng.txt", 250)
    xx = lines(SHARED / "ntrex128" / f"newstest2019-ref.{NTREX_CODES[lang]}.txt", 250)
    dictionary = read_dictionary(SHARED / "dictionaries" / f"en-{lang}.tsv", "en", lang)
    stops = {"en": default_stop_words("en"), lang: default_stop_words(lang)}
    miner = SynonymMiner(dictionary, lang, "en", stops)
    for src, tgt in zip(xx, en):
        units = mine_units(miner, src, tgt, offsets_of(src), offsets_of(tgt))
        assert units == reference_mine_units(src, tgt, dictionary, lang, "en", stops, offsets_of(src),
                                             offsets_of(tgt)), (src, tgt)
        assert miner(src, tgt) == reference_mine(src, tgt, dictionary, lang, "en", stops)
    assert_batch_equals_reference(miner, dictionary, list(zip(xx, en)), batch_size=100)


PIECES = ["l'", "L’", "d'", "qu'", "jusqu’", "'s", "’s", "ʼre", "'", "’", "ʼ", "-", "‐", " ", "  ", "\t", ".", ",",
          ":", "3", "1,000", "3.5", "12:30", "homme", "John", "ŉ", "ﷺ", "ﬁ", "ß", "İ", "é", "e\u0301", "\u0301", "_",
          "x_y", "Ⅻ", "٣", "²", "ａｂｃ", "Straße", "ǅ", "Ω", "ά", "हिन्दी", "\u200d", "\u00a0", "—", "ʼn",
          "O'Neil", "don't"]


@pytest.mark.parametrize("lang", ["en", "fr", "it", "de"])
def test_segmentation_equals_reference_on_odd_text(lang):
    rng = random.Random(lang)
    for _ in range(3000):
        text = "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 10)))
        assert words.segment_spans(text, lang) == reference_segment(text, lang), text


@pytest.mark.parametrize("lang", ["en", "fr", "it", "de", "zh"])
def test_batch_segmentation_equals_reference_on_odd_text(lang):
    # Batches mixing every path (ASCII, stdlib-re text, regex text, no-space runs, empty texts, newlines and NULs
    # inside a text) give each text's words, as the reference finds them, in text order.
    rng = random.Random(lang)
    pieces = [*PIECES, "中国", "人民", "ｶﾞ", "ก่า", "\n", "", "\0", "a\0b"]
    lexicon = {"中国", "国人", "人民", "ガ"}
    for _ in range(400):
        texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 8))) for _ in range(rng.randint(0, 9))]
        for args in ((), (lexicon, 8, None)):
            batch = words.segment_batch(texts, lang, *args)
            expected = [reference_segment(text, lang, *args) for text in texts]
            assert batch.counts.tolist() == [len(found) for found in expected], texts
            assert list(zip(batch.words, batch.starts.tolist(), batch.ends.tolist())) == [
                word for found in expected for word in found], texts


def test_ascii_pattern_agrees_with_unicode_pattern():
    # The stdlib-re pattern used on ASCII text must find exactly what the regex-module pattern finds there.
    rng = random.Random(0)
    alphabet = [chr(c) for c in range(128)]
    for _ in range(5000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        assert words._ASCII_SPLIT.split(text)[1::2] == words._FAST.findall(text), text


def test_apostrophe_made_by_normalisation_elides_nothing():
    # "ŉ" normalises to "'n": the apostrophe is not in the text, so there is no elision to cut (this used to raise
    # on text that also holds a no-space run).
    assert words.segment_spans("北京 ŉa", "fr")[-1] == ("'na", 3, 5)
    assert words.segment_spans("ŉa", "fr") == [("'na", 0, 2)]


def test_units_and_token_maps_equal_reference(demo_dictionaries):
    miner = SynonymMiner(demo_dictionaries["de"], "en", "de")
    for src, tgt in zip(lines(DEMO / "en.txt"), lines(DEMO / "de.txt")):
        pairs, src_words, _ = miner(src, tgt)
        phrases = [p.src_words for p in pairs]
        spans, units = units_of(src_words, phrases)
        assert (spans, units) == reference_units(src_words, phrases)
        offsets = offsets_of(src)
        assert token_units(spans, offsets) == reference_token_units(spans, offsets)
        stepping_back = offsets[:3] + [(0, 0)] + offsets[3:1:-1] + offsets[3:]  # an empty token, offsets going back
        assert token_units(spans, stepping_back) == reference_token_units(spans, stepping_back)


# ------------------------------------------------------------------------------------------------ batch mining


def assert_batch_equals_reference(miner: SynonymMiner, dictionary: BilingualDictionary, pairs: list[tuple[str, str]],
                                  offsets=offsets_of, batch_size: int = 7) -> None:
    """``mine_units_batch`` (what the datamodule stores) against the reference, pair by pair, in batches."""
    langs = (miner.src_lang, miner.tgt_lang)
    stops = dict(zip(langs, miner.stops))
    for begin in range(0, len(pairs), batch_size):
        chunk = pairs[begin:begin + batch_size]
        src, tgt = [p[0] for p in chunk], [p[1] for p in chunk]
        batch = mine_units_batch(miner, src, tgt, [offsets(t) for t in src], [offsets(t) for t in tgt])
        rows = batch.rows()
        assert len(rows) == len(batch.src_tokens) == len(batch.tgt_tokens) == len(batch.kept) == len(chunk)
        for k, (s, t) in enumerate(chunk):
            expected = reference_mine_units(s, t, dictionary, *langs, stops, offsets(s), offsets(t))
            if miner.max_pairs is not None:  # the reference units take every pair; cap them as the miner does
                expected = mine_units(miner, s, t, offsets(s), offsets(t))
            got = rows[k]
            assert got == (expected.src_index, expected.tgt_index, expected.synonyms, expected.counts), (s, t)


@pytest.mark.parametrize("lang", DEMO_LANGS)
def test_batch_mining_equals_reference(lang, demo_dictionaries):
    dictionary, en, xx = demo_dictionaries[lang], lines(DEMO / "en.txt"), lines(DEMO / f"{lang}.txt")
    stops = {"en": default_stop_words("en"), lang: default_stop_words(lang)}
    # Empty sentences, a sentence repeated against another (words with two partners), both directions.
    pairs = [*zip(xx, en), ("", en[0]), (xx[0], ""), ("", ""), (xx[1] + " " + xx[1], en[1])]
    assert_batch_equals_reference(SynonymMiner(dictionary, lang, "en", stops), dictionary, pairs)
    assert_batch_equals_reference(SynonymMiner(dictionary, "en", lang), dictionary, [(b, a) for a, b in pairs],
                                  batch_size=64)
    # A cap on the pairs, and token offsets with empty tokens and steps back (compared with the per-pair path).
    def odd_offsets(text: str) -> list[tuple[int, int]]:
        offsets = offsets_of(text)
        return offsets[:3] + [(0, 0)] + offsets[3:1:-1] + offsets[3:]
    assert_batch_equals_reference(SynonymMiner(dictionary, lang, "en", stops, max_pairs=2), dictionary, pairs,
                                  offsets=odd_offsets)


def test_batch_mining_equals_reference_on_odd_text():
    dictionary = BilingualDictionary("fr", "en")
    for src, tgt in [("homme", "man"), ("l'homme", "the man"), ("3.5", "3.5"), ("straße", "street"), ("ß", "ss"),
                     ("hé", "hey"), ("john", "john"), ("o'neil", "o'neil"), ("abc", "abc"), ("hom me", "man"),
                     ("北京", "beijing"), ("homme homme", "men")]:
        dictionary.add(src, tgt)
    rng = random.Random(13)
    pairs = [("".join(rng.choice(PIECES) for _ in range(rng.randint(0, 12))),
              "".join(rng.choice(PIECES + ["man", "the", "street", "men", "hey", "beijing"])
                      for _ in range(rng.randint(0, 12)))) for _ in range(600)]
    for stops in (None, {"fr": frozenset({"l", "homme"}), "en": frozenset({"the"})}):
        assert_batch_equals_reference(SynonymMiner(dictionary, "fr", "en", stops), dictionary, pairs, batch_size=50)
    # Batches of one or two pairs, so that a whole side of a batch often holds no word (punctuation, emoji, nothing).
    wordless = ["", "...", "!!", "😀", " ", "—", "«»"]
    small = [("".join(rng.choice(PIECES + wordless) for _ in range(rng.randint(0, 4))),
              "".join(rng.choice(wordless + ["man", "the", "street"]) for _ in range(rng.randint(0, 3))))
             for _ in range(200)]
    for batch_size in (1, 2):
        assert_batch_equals_reference(SynonymMiner(dictionary, "fr", "en"), dictionary, small, batch_size=batch_size)
        assert_batch_equals_reference(SynonymMiner(dictionary, "en", "fr"), dictionary, [(b, a) for a, b in small],
                                      batch_size=batch_size)


def test_stdlib_split_agrees_with_regex_on_the_text_it_takes():
    # Text of the Basic Multilingual Plane holding no no-space character is split by stdlib re (faster), with the
    # regex module's classes spelled out: it must find exactly the words the regex-module pattern finds.
    other, split = words._plane_patterns()
    taken = [chr(c) for c in range(0x10000) if other.match(chr(c)) is None]
    assert len(taken) > 30_000 and not any(words.NO_SPACE_CHAR.match(c) for c in taken)
    assert other.search("北京") and other.search("タイ") and other.search("ไทย") and other.search("ok 😀")
    assert not other.search("Straße — «да», 3.5 l’homme हिन्दी 한국어 தமிழ் ١٢٣ ½ ²")
    rng = random.Random(1)
    common = [p for p in PIECES if other.search(p) is None]
    marks = [chr(c) for c in (0x300, 0x301, 0x93F, 0x94D, 0x200C, 0x200D, 0x5B4)]  # combining marks, joiners
    for _ in range(5000):
        text = "".join(rng.choice(taken) if rng.random() < 0.4 else rng.choice(marks) if rng.random() < 0.2
                       else rng.choice(common) for _ in range(rng.randint(0, 20)))
        assert split.split(text) == words._SPLIT.split(text), text


@pytest.mark.parametrize("known", [True, False])
def test_words_normalised_to_forms_with_spaces(known, monkeypatch):
    # A word character NFKC writes as several words (ﷺ: four Arabic words) or as a space and a mark (ͺ) makes a word
    # holding a space: the segmentation says so (words.Words.spaced), matching then takes the n-grams as strings and
    # finds what the reference finds, keys through, starting with and around that word included. With the
    # segmentation's knowledge gone (the cache's record overflowed: None), a scan of the words decides the same.
    if not known:
        monkeypatch.setattr(words._NormCache, "spaced", None)
    phrase = words.normalize("ﷺ")
    assert " " in phrase
    assert words.segment_batch(["hello world", "da der Mann"], "de").words.spaced is False
    batch = words.segment_batch(["قال ﷺ تسليما", "hello", "Ωͺ x"], "ar")
    assert batch.words.spaced is (True if known else None)
    assert words.segment_batch(["hello", "قال ﷺ"], "en").words.spaced is (True if known else None)  # two groups
    dictionary = BilingualDictionary("ar", "en")
    for src, tgt in [(phrase, "peace be upon him"), (phrase + " تسليما", "peace"), ("قال " + phrase, "said"),
                     ("قال", "said"), ("تسليما", "greeting"), ("ω", "omega")]:
        dictionary.add(src, tgt)
    texts = ["قال ﷺ تسليما", "ﷺ", "قال قال ﷺ", "Ωͺ ﷺ تسليما x", ""]
    pairs = [(a, b) for a in texts for b in ["said peace be upon him", "peace greeting omega", "said", ""]]
    assert_batch_equals_reference(SynonymMiner(dictionary, "ar", "en"), dictionary, pairs, batch_size=6)


@pytest.mark.parametrize("max_word_chars", [1, 2, 8])
def test_batch_matching_of_no_space_keys_across_words(max_word_chars):
    # Keys of a no-space language spanning several segmented words (short max_word_chars cuts them up), with stop
    # words, Latin words and punctuation between the runs, either side: the batch walk over characters equals the
    # per-pair n-gram search.
    rng = random.Random(max_word_chars)
    han, latin = "北京大学生中国人民", ["ok", "tv", "x"]
    dictionary = BilingualDictionary("zh", "en")
    for _ in range(60):
        key = "".join(rng.choice(han) for _ in range(rng.randint(1, 5)))
        dictionary.add(rng.choice([key, key + "tv", "ok" + key]), rng.choice(["peking", "university", "student",
                                                                                "china", "people", "the people"]))
    pieces = [*han, *latin, " ", "，", "。", "3"]
    pairs = [("".join(rng.choice(pieces) for _ in range(rng.randint(0, 30))),
              " ".join(rng.choice(["peking", "university", "the", "people", "china", "student", "x"])
                       for _ in range(rng.randint(0, 12)))) for _ in range(300)]
    for stops in (None, {"zh": frozenset({"人", "民", "中国"}), "en": frozenset({"the"})}):
        for src_lang, tgt_lang, data in (("zh", "en", pairs), ("en", "zh", [(b, a) for a, b in pairs])):
            miner = SynonymMiner(dictionary, src_lang, tgt_lang, stops, max_word_chars=max_word_chars)
            multi = 0
            for begin in range(0, len(data), 50):
                chunk = data[begin:begin + 50]
                src = miner.segment_batch([s for s, _ in chunk], "src")
                tgt = miner.segment_batch([t for _, t in chunk], "tgt")
                found = miner.match_batch(src.words, src.counts, tgt.words, tgt.counts)
                got = sorted(zip(*(column.tolist() for column in found)))
                expected = sorted((begin + k, *m[:4]) for k, (s, t) in enumerate(chunk) for m in miner.matches(s, t)[0])
                assert [(begin + g[0], *g[1:]) for g in got] == expected
                multi += sum(1 for e in expected if (e[2] - e[1] > 1 if src_lang == "zh" else e[4] - e[3] > 1))
            if max_word_chars < 8:
                assert multi > 0  # the case under test occurs


def test_no_space_lookup_gives_each_fact_of_a_word():
    # A no-space side looks each word up once (_CharTrie.lookup): its key id, whether some longer key continues it
    # and whether it is a stop word, as the three separate lookups give them.
    dictionary = BilingualDictionary("zh", "en")
    for key, value in [("北京", "peking"), ("北京大学", "peking university"), ("大学", "university"), ("人", "person"),
                       ("中国人", "chinese")]:
        dictionary.add(key, value)
    miner = SynonymMiner(dictionary, "zh", "en", {"zh": frozenset({"人", "的"}), "en": frozenset()})
    tables, index = miner.batch_tables(), miner.index
    words = ["北京", "北", "北京大", "大学", "人", "的", "中国", "中国人", "x", ""]
    key, extendable, stop = tables.src_chars.lookup(words)
    assert key.tolist() == [tables.src_ids.get(word, -1) for word in words]
    assert extendable.tolist() == [word in index.src_extendable for word in words]
    assert stop.tolist() == [word in miner.stops[0] for word in words]
