"""Tests for veco_lightning.lexicon.words: word spans into the original text, no-space scripts, clitics."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest
import regex

from veco_lightning.lexicon.dictionary import read_dictionary
from veco_lightning.lexicon.words import (
    NO_SPACE_CHAR,
    Word,
    _tiles,
    is_no_space_lang,
    normalize,
    plain_words,
    segment,
    segment_batch,
    segment_spans,
)

NTREX = Path(os.environ.get("VECO_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data")) / "ntrex128"


def check_spans(text: str, words: list[Word]) -> None:
    """Spans are ordered, non-empty, non-overlapping and normalise back to the word text."""
    previous_end = 0
    for word in words:
        assert previous_end <= word.start < word.end <= len(text), (text, word)
        assert normalize(text[word.start : word.end]) == word.text, (text, word)
        previous_end = word.end


def texts_of(words: list[Word]) -> list[str]:
    return [w.text for w in words]


def test_basic_words_punctuation_numbers():
    text = "Hello, world! It's 3.5 km (1,000 m) -- a well-known x_y."
    words = segment(text, "de")
    assert texts_of(words) == ["hello", "world", "it's", "3.5", "km", "1,000", "m", "a", "well-known", "x", "y"]
    check_spans(text, words)
    assert words[0] == Word("hello", 0, 5)


@pytest.mark.parametrize("text, expected", [
    ("ＡＢＣ ﬁx", [Word("abc", 0, 3), Word("fix", 4, 6)]),  # NFKC changes lengths: spans stay in the original
    ("Straße … ﬁne", [Word("strasse", 0, 6), Word("fine", 9, 12)]),
    ("ｶﾀｶﾅ and ㈱", [Word("カタカナ", 0, 4), Word("and", 5, 8)]),
])
def test_nfkc_changing_input_keeps_original_spans(text, expected):
    words = segment(text, "xx", lexicon={"カタカナ"})
    assert words == expected
    check_spans(text, words)


def test_chinese_longest_match():
    lexicon = {"北京", "北京大学", "喜欢"}
    text = "我喜欢北京大学。"
    assert texts_of(segment(text, "zh", lexicon)) == ["我", "喜欢", "北京大学"]
    prefixes = {w[:k] for w in lexicon for k in range(1, len(w) + 1)}
    assert segment(text, "zh", lexicon, prefixes=prefixes) == segment(text, "zh", lexicon)
    assert texts_of(segment(text, "zh")) == list("我喜欢北京大学")  # no lexicon: characters
    assert texts_of(segment(text, "zh", lexicon, max_word_chars=2)) == ["我", "喜欢", "北京", "大", "学"]
    check_spans(text, segment(text, "zh", lexicon))


def test_mixed_scripts_and_full_width_punctuation():
    text = "有人提议将 AM 的头衔改为MWP（威尔士议会议员)，我喜欢iPhone手机。"
    words = segment(text, "zh", {"议会", "议员", "手机", "喜欢", "有人", "提议"})
    check_spans(text, words)
    assert "am" in texts_of(words) and "mwp" in texts_of(words) and "iphone" in texts_of(words)
    assert "手机" in texts_of(words) and "议会" in texts_of(words)


def test_other_scripts_keep_marks_inside_words():
    for text, lang, expected in [
        ("वेल्श के AM चिंतित हैं", "hi", ["वेल्श", "के", "am", "चिंतित", "हैं"]),
        ("Οι ΒΟΥΛΕΥΤΕΣ ανησυχούν", "el", ["οι", "βουλευτεσ", "ανησυχούν"]),
        ("يشعر بعض أعضاء الجمعية بالقلق", "ar", ["يشعر", "بعض", "أعضاء", "الجمعية", "بالقلق"]),
        ("Tôi thích Hà Nội", "vi", ["tôi", "thích", "hà", "nội"]),
    ]:
        words = segment(text, lang)
        assert texts_of(words) == expected
        check_spans(text, words)
    thai = segment("ภาษาไทย", "th", {"ภาษา", "ไทย"})
    assert texts_of(thai) == ["ภาษา", "ไทย"]


def test_clitics():
    text = "L’homme d'affaires aujourd'hui jusqu'à l'école"
    assert texts_of(segment(text, "fr")) == ["l", "homme", "d", "affaires", "aujourd'hui", "jusqu", "à", "l",
                                             "école"]
    check_spans(text, segment(text, "fr"))
    text = "John’s dog's bone, don't, o'clock, we're"
    assert texts_of(segment(text, "en")) == ["john", "dog", "bone", "don't", "o'clock", "we"]
    check_spans(text, segment(text, "en"))
    assert texts_of(segment("l'homme", "de")) == ["l'homme"]  # other languages: no clitic rules


def test_segment_spans_matches_segment():
    text = "Ｌ’homme mange 3 pommes"
    assert [tuple(w) for w in segment(text, "fr")] == segment_spans(text, "fr")


def test_no_space_languages():
    assert is_no_space_lang("zh") and is_no_space_lang("zh-CN") and is_no_space_lang("ja")
    assert not is_no_space_lang("en") and not is_no_space_lang("vi")


def test_random_text_invariants():
    """Fuzz: random mixes of scripts, compatibility forms, marks, clitics and punctuation."""
    pool = list("abcXYZ ßéèΣσςДд学京大ｶﾞﾀ가각ー々ภาษ'’-.,…ﬁﬂＡＢ１２ ¼²\u0301\u0308 \u00a0\t_") + ["l'", "’s", "3.5"]
    rng = random.Random(0)
    lexicon = {"学京", "大学", "ｶﾞ", "ガタ", "ภา"}
    for _ in range(400):
        text = "".join(rng.choice(pool) for _ in range(rng.randint(0, 30)))
        for lang in ("en", "fr", "zh", "de"):
            check_spans(text, segment(text, lang, lexicon))


@pytest.mark.skipif(not NTREX.exists(), reason="NTREX-128 not available")
@pytest.mark.parametrize("name", ["src.eng", "ref.zho-CN", "ref.hin", "ref.arb", "ref.jpn"])
def test_real_text_spans(name):
    lines = (NTREX / f"newstest2019-{name}.txt").read_text(encoding="utf-8").splitlines()[:500]
    total = 0
    for line in lines:
        words = segment(line, "xx")
        check_spans(line, words)
        total += len(words)
    assert total > len(lines) * 5


def test_possessive_split_patterns_match_their_greedy_forms():
    """The stdlib patterns use possessive quantifiers for speed; they must split exactly as the greedy forms do."""
    import random
    import re

    from veco_lightning.lexicon import words

    greedy_ascii = re.compile(r"((?=[0-9])[0-9]+(?:[.,:][0-9]+)+|[a-zA-Z0-9]+(?:['\-][a-zA-Z0-9]+)*)")
    other, plane = words._plane_patterns()
    greedy_plane = re.compile(plane.pattern.replace("++", "+").replace("*+", "*"))
    rng = random.Random(0)
    alphabet = list("aZ09_.,:'’ʼ-‐‑ \tñé١ßअ\u0301\u200c²½@")
    texts = ["1,000.5 well-known o'clock 3.5a a3.5 1..2 -x- x--y l'homme 1:2:3, ..", "Straße 12,5 % – l’été"]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 24))) for _ in range(5000)]
    for text in texts:
        assert words._ASCII_SPLIT.split(text) == greedy_ascii.split(text), text
        assert other.search(text) is None
        assert plane.split(text) == greedy_plane.split(text) == words._SPLIT.split(text), text


RUN_CHARS = "中国人民大学北京的一是ガカタナกขค𠀀𪚥"  # the last two outside the BMP


def test_tiles_equal_slices():
    # words._tiles cuts a text at sorted starts in one split; the same as a slice per word, astral characters too.
    rng = random.Random(0)
    for _ in range(200):
        text = "".join(rng.choice(RUN_CHARS) for _ in range(rng.randint(1, 30)))
        starts = sorted({0, *rng.sample(range(len(text)), rng.randint(0, len(text) - 1))})
        ends = [*starts[1:], len(text)]
        assert _tiles(text, np.array(starts, np.int64)) == [text[a:b] for a, b in zip(starts, ends)]
    assert _tiles("", np.zeros(0, np.int64)) == []


@pytest.mark.parametrize("max_word_chars", [1, 2, 3, 8])
def test_batched_runs_equal_run_by_run_longest_match(max_word_chars):
    # segment_batch cuts the runs of a batch all at once (words._cut_runs, through a character trie); a run taken
    # alone tries every length, longest first, without prefixes (the other implementation of the same greedy rule).
    rng = random.Random(max_word_chars)
    lexicon = frozenset("".join(rng.choice(RUN_CHARS) for _ in range(rng.randint(1, 10))) for _ in range(300))
    prefixes = frozenset(key[:end] for key in lexicon for end in range(1, len(key) + 1))
    pieces = [*RUN_CHARS, *sorted(lexicon)[:40], "ｶﾞ", "ก่า", "ガ\u3099", "Ａ", "A1", "1,5", "l'homme", " ", "\n", "",
              "。", "İ"]
    for _ in range(300):
        texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 12))) for _ in range(rng.randint(0, 8))]
        batch = segment_batch(texts, "fr", lexicon, max_word_chars, prefixes)
        expected = [segment_spans(text, "fr", lexicon, max_word_chars, None) for text in texts]
        assert batch.counts.tolist() == [len(found) for found in expected], texts
        assert list(zip(batch.words, batch.starts.tolist(), batch.ends.tolist())) == [
            word for found in expected for word in found], texts


@pytest.mark.skipif(not (NTREX / "newstest2019-ref.zho-CN.txt").exists(), reason="shared NTREX-128 data not found")
def test_batched_runs_on_chinese_news_equal_text_by_text():
    dictionary = read_dictionary(NTREX.parent / "dictionaries" / "en-zh.tsv", "zh", "en", reverse=True)
    index = dictionary.index()
    texts = (NTREX / "newstest2019-ref.zho-CN.txt").read_text(encoding="utf-8").splitlines()[:400]
    batch = segment_batch(texts, "zh", index.src_keys, 8, index.src_prefixes)
    expected = [segment_spans(text, "zh", index.src_keys, 8, index.src_prefixes) for text in texts]
    assert list(zip(batch.words, batch.starts.tolist(), batch.ends.tolist())) == [
        word for found in expected for word in found]
    assert sum(len(word) > 1 for word in batch.words) > 2000  # the dictionary cut many words of several characters


def test_no_space_scan_of_the_plane_equals_the_regex_scan():
    # Text holding a no-space run is scanned by stdlib re when it is all in the Basic Multilingual Plane (the runs told
    # apart by their first characters): the same runs and words as regex's _FULL match by match, with every clitic
    # rule; text outside the plane keeps the regex scan.
    from veco_lightning.lexicon import words

    def by_regex(text, rules):
        runs, out = [], []
        for match in words._FULL.finditer(text):
            if match.lastindex == words._NS_GROUP:
                runs.append(match.span())
            else:
                words._emit(text, None, *match.span(), rules, out)
        return runs, out

    rng = random.Random(0)
    alphabet = [*"中国人ガカータ々ไทย๒๓ກ\u0e31\u0301\u093f1,.:'-‐ ab\n😀𠀀ßé१",
                "l'", "o'clock", "3.5", "๑.๒", "Ｔシャツ"]
    texts = ["北京大学 3.5 l'homme ไทย๑๒.๓ well-known", "", "中"]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(3000)]
    for text in texts:
        for rules in (None, *words._CLITIC_RULES.values()):
            out = []
            assert (words._runs_and_words(text, rules, out), out) == by_regex(text, rules), repr(text)


PLAIN_CHARS = [*"abcXYZ019 '’ʼ-‐‑.,:_\t", "é", "ß", "İ", "ﬁ", "\u00a0", "¨", "ŉ", "\u0301", "ह", "़", "Ω", "٣", "中",
               "😀", "Ⅻ", "①", "²", "ǅ", "ﷺ", "’s", "l'", "3.5", "1,000", "1.2.3",
               "12:30", "٣.٤", "a1.5", "1.5a", "4-2.5"]


@pytest.mark.parametrize("lang", ["en", "fr", "it", "ca", "de"])
def test_plain_words_equal_segment_batch(lang):
    """plain_words finds, for every text it calls plain, the words segment_batch finds (spans, counts, and the
    normalised texts of the runs or of what the clitic rules made of them), digit groups included; the texts it
    leaves (a no-space script, a character outside the plane) are the ones that need the word pattern. Random text of
    every character class, and NTREX where it is available."""
    from veco_lightning.lexicon.trie import from_code_points

    rng = random.Random(lang)
    batches = [["".join(rng.choice(PLAIN_CHARS) for _ in range(rng.randint(0, 25))) for _ in range(rng.randint(0, 40))]
               for _ in range(60)]
    batches.append(["", "Go!", "l'homme qu'il aime", "John's 3.5 km", "x" * 40, "中文 text", "emoji 😀 here",
                    "1.5a a1.5 12a.5 1,000.50 l'an:2,5 1..5 .5 5. 3-4.5 x'1.2 1.2.", "9", "1.2", "a.1"])
    name = {"en": "newstest2019-src.eng.txt", "fr": "newstest2019-ref.fra.txt", "de": "newstest2019-ref.deu.txt"}
    if lang in name and (NTREX / name[lang]).exists():
        batches.append((NTREX / name[lang]).read_text(encoding="utf-8").splitlines())
    groups = 0
    for texts in batches:
        found = plain_words(texts, lang)
        kept = np.flatnonzero(found.plain)
        groups += sum(bool(regex.search(r"\d[.,:]\d", texts[k])) for k in kept.tolist())
        expected = segment_batch([texts[k] for k in kept.tolist()], lang)
        assert found.counts[~found.plain].sum() == 0
        assert np.array_equal(found.counts[kept], expected.counts)
        assert np.array_equal(found.starts, expected.starts) and np.array_equal(found.ends, expected.ends)
        joined = from_code_points(found.points)
        forms = [normalize(joined[a:b]) for a, b in zip(found.runs[found.source].tolist(),
                                                        found.run_ends[found.source].tolist())]
        for k, form in zip(found.made_at.tolist(), found.made):
            forms[k] = form
        assert forms == list(expected.words)
        for k in np.flatnonzero(~found.plain).tolist():  # left out only for what plain splitting cannot take
            text = texts[k]
            assert any(ord(c) > 0xFFFF for c in text) or NO_SPACE_CHAR.search(text), text
    assert groups > 100  # the digit-group stretches were exercised
