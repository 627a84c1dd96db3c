"""Tests for veco_lightning.lexicon.dictionary: MUSE parsing, normalisation, reverse/merge, lookup tables."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import pytest

from veco_lightning.lexicon import dictionary as dictionary_module
from veco_lightning.lexicon.badinput import BadInputError
from veco_lightning.lexicon.dictionary import BilingualDictionary, load_dictionaries, phrase, phrases, read_dictionary
from veco_lightning.lexicon.words import normalize

SHARED = Path(os.environ.get("VECO_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
DICTIONARIES = SHARED / "dictionaries"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_normalize():
    assert normalize("  ＡＢＣ   ﬁne\tStraße\n") == "abc fine strasse"
    assert normalize("l’Homme") == "l'homme"
    assert normalize("ΟΔΟΣ") == normalize("οδος") == "οδοσ"  # casefold folds the final sigma too


def test_phrase_is_segmented_like_sentences():
    assert phrase("Mr.", "en") == ("mr",)
    assert phrase("Aaron's rod", "en") == ("aaron", "rod")
    assert phrase("New  York", "en") == ("new", "york")
    assert phrase("l'école", "fr") == ("l", "école")
    assert phrase("北京 大学", "zh") == ("北京大学",)  # no-space languages: one string, spaces removed
    assert phrase("...", "en") == ()
    # The fast path for plain letters agrees with the segmenter.
    from veco_lightning.lexicon.words import segment

    for text in ["New York", "STRASSE Straße", "ǅemal", "Ωμέγα ΟΔΟΣ", "ИВАН Петров", "ﬁne ＡＢＣ", "naïve café"]:
        assert phrase(text, "de") == tuple(w.text for w in segment(text, "de")), text


def test_read_tab_whitespace_and_multiword(tmp_path):
    path = write(tmp_path, "en-de.tsv", (
        "# a comment\n"
        "\n"
        "dog\tHund\n"
        "dog Köter\n"  # whitespace-separated, no TAB
        "post office\tPostamt\n"  # multi-word: TAB
        "ice cream\tSpeise eis\n"
        "Dog\tHUND\n"  # a duplicate after normalisation
        "\ufeff\n"
    ))
    d = read_dictionary(path, "en", "de")
    assert d.translations("dog") == {("hund",), ("köter",)}
    assert d.translations(("post", "office")) == {("postamt",)}
    assert d.translations("Ice  Cream") == {("speise", "eis")}
    assert (d.read, d.skipped, d.duplicates, d.entries, len(d)) == (5, 0, 1, 4, 4)
    assert (d.max_src_words, d.max_tgt_words, d.max_phrase_words) == (2, 2, 2)
    assert d.src_phrases == {"dog", "post office", "ice cream"}
    assert d.tgt_phrases == {"hund", "köter", "postamt", "speise eis"}
    assert "dog" in d and "cat" not in d
    assert d.sources == [str(path)]


def test_malformed_lines_are_counted_and_logged(tmp_path, caplog):
    path = write(tmp_path, "bad.tsv", "dog\tHund\nthree words here\nonly\nx\ty\tz\n?\t!\ncat\tKatze\n")
    with caplog.at_level(logging.WARNING, logger="veco_lightning.lexicon.dictionary"):
        d = read_dictionary(path, "en", "de")
    assert (d.read, d.skipped, d.entries) == (6, 4, 2)
    message = caplog.text
    assert "skipped 4 malformed" in message
    for line in (2, 3, 4, 5):
        assert f"{path}:{line}" in message


def test_invalid_utf8_is_malformed(tmp_path):
    path = tmp_path / "bin.tsv"
    path.write_bytes(b"dog\tHund\n\xff\xfe\tx\n")
    d = read_dictionary(path, "en", "de")
    assert (d.entries, d.skipped) == (1, 1)


def test_strict_error_names_file_line_and_fix(tmp_path):
    path = write(tmp_path, "bad.tsv", "# header\ndog\tHund\nthree words here\n")
    with pytest.raises(ValueError, match=re.escape(f"{path}:3")) as info:
        read_dictionary(path, "en", "de", strict=True)
    assert "strict=False" in str(info.value) and "TAB" in str(info.value)


def test_reverse_reads_either_direction(tmp_path):
    path = write(tmp_path, "en-de.tsv", "dog\tHund\nhound\tHund\ncat\tKatze\n")
    d = read_dictionary(path, "de", "en", reverse=True)
    assert (d.src_lang, d.tgt_lang) == ("de", "en")
    assert d.translations("Hund") == {("dog",), ("hound",)}
    forward = read_dictionary(path, "en", "de")
    assert forward.inverse().mapping == d.mapping
    assert forward.sources_of("Hund") == {("dog",), ("hound",)}


@pytest.mark.parametrize("pair", ["en-de", "en-zh", "en-ru"])
def test_dictionary_for_either_key_order_equals_the_inverse(pair):
    """A key naming the pair the other way round reads the files reversed (no inverted copy): the same entries and
    counts as reading them forward and inverting, for one file and for several."""
    from veco_lightning.lexicon.dictionary import dictionary_for
    from veco_lightning.paths import resolve_path

    path = resolve_path(f"pkg://veco_lightning/resources/demo/dict/{pair}.tsv")
    first, second = pair.split("-")
    for files in (path, [path, path]):
        found = dictionary_for({pair: files}, second, first)
        expected = load_dictionaries(files, first, second).inverse()
        assert (found.src_lang, found.tgt_lang) == (second, first)
        assert found.mapping == expected.mapping and found.entries > 10
        assert (found.read, found.skipped, found.duplicates) == (expected.read, expected.skipped, expected.duplicates)
        assert dictionary_for({pair: files}, first, second).mapping == load_dictionaries(files, first, second).mapping


def test_merge_and_load_dictionaries(tmp_path):
    a = write(tmp_path, "a.tsv", "dog\tHund\ncat\tKatze\n")
    b = write(tmp_path, "b.tsv", "dog\tHund\ndog\tKöter\nbad line here\n")
    merged = load_dictionaries([a, b], "en", "de")
    assert merged.translations("dog") == {("hund",), ("köter",)}
    assert (merged.entries, merged.read, merged.skipped, merged.duplicates) == (3, 5, 1, 1)
    assert merged.sources == [str(a), str(b)]
    # A dictionary running the other way is inverted before merging.
    extra = BilingualDictionary("de", "en")
    extra.add("Maus", "mouse")
    merged.merge(extra)
    assert merged.translations("mouse") == {("maus",)}
    with pytest.raises(ValueError, match="same language pair"):
        merged.merge(BilingualDictionary("en", "fr"))
    with pytest.raises(ValueError, match="no file"):
        load_dictionaries([], "en", "de")


def test_index_is_cached_and_invalidated():
    d = BilingualDictionary("en", "zh")
    d.add("Peking University", "北京 大学")
    d.add("university", "大学")
    index = d.index()
    assert index is d.index()
    assert index.src_map["peking university"] == {"北京大学"}
    assert {"peking", "peking university", "university"} <= index.src_prefixes
    assert {"北", "北京", "北京大", "北京大学", "大", "大学"} <= index.tgt_prefixes
    assert index.tgt_max_words == 4  # a no-space phrase may span one segmented word per character
    d.add("like", "喜欢")
    assert d.index() is not index and "喜欢" in d.tgt_phrases


@pytest.mark.skipif(not (DICTIONARIES / "en-de.tsv").exists(), reason="shared dictionaries not available")
def test_real_wiktionary_dictionary():
    d = read_dictionary(DICTIONARIES / "en-de.tsv", "en", "de")
    assert d.entries > 60_000 and d.skipped < 10
    assert ("hund",) in d.translations("dog")
    assert d.max_phrase_words == 4
    print(d)


ODD_SIDES = [
    "dog", "Post  Office", "ＡＢＣ", "ﬁne", "Straße", "ΟΔΟΣ", "l’homme", "Aaron's rod", "Mr.", "3.5", "e\u0301té",
    "北京大学", "北京 大学", "Tシャツ", "ｶﾞ", "か\u3099", "ภาษาไทย", "हिन्दी", "ᄀ" + "ᅡ", "한국어",
    "T恤", "ǅ", "\u00a0x\u3000y", "-", "x_y", "İstanbul", "\u1680a b", "", "?!", "😀 dog", "o'clock well-known",
]


@pytest.mark.parametrize("lang", ["en", "fr", "zh", "ja", "th", "ko"])
def test_phrases_in_bulk_equal_one_by_one(lang):
    assert phrases(ODD_SIDES, lang) == [phrase(text, lang) for text in ODD_SIDES]
    assert phrases([], lang) == []


def test_clean_file_read_whole_equals_line_by_line(tmp_path, caplog, monkeypatch):
    # The same entries, once in a clean file (decoded and split whole) and once after a line of invalid UTF-8 and a
    # control character (read line by line): entries, order and counts agree, the bad lines apart.
    lines = ["dog\tHund", "# a comment", "", "post office\tPostamt", "three words here", "Ice  Cream\tSpeise Eis",
             "dog\tHund", "?\t!", "Straße\tstreet", "北京\tBeijing", "cat  Katze"]
    clean = write(tmp_path, "clean.tsv", "\r\n".join(lines) + "\r\n")
    dirty = tmp_path / "dirty.tsv"
    dirty.write_bytes(("\n".join(lines[:3]) + "\n").encode() + b"bad\xff\tline\nx\x1by\tz\n"
                      + ("\n".join(lines[3:]) + "\n").encode())
    with caplog.at_level(logging.WARNING, logger="veco_lightning.lexicon.dictionary"):
        a, b = read_dictionary(clean, "en", "de"), read_dictionary(dirty, "en", "de")
    assert list(a.mapping.items()) == list(b.mapping.items())
    assert (a.read, a.skipped, a.duplicates) == (9, 2, 1)
    assert (b.read, b.skipped, b.duplicates) == (11, 4, 1)
    assert f"{clean}:5" in caplog.text and f"{clean}:8" in caplog.text
    for line in (4, 5, 7, 10):
        assert f"{dirty}:{line}" in caplog.text
    with pytest.raises(BadInputError, match=re.escape(f"{dirty}:4")):
        read_dictionary(dirty, "en", "de", strict=True)
    with pytest.raises(BadInputError, match=re.escape(f"{clean}:5")):
        read_dictionary(clean, "en", "de", strict=True)
    # A file above the whole-file size is read line by line: the same dictionary.
    monkeypatch.setattr(dictionary_module, "_WHOLE_FILE_BYTES", 0)
    c = read_dictionary(clean, "en", "de")
    assert list(c.mapping.items()) == list(a.mapping.items()) and (c.read, c.skipped, c.duplicates) == (9, 2, 1)


def test_two_field_lines_read_without_a_loop_equal_line_by_line(tmp_path, caplog, monkeypatch):
    # A file whose every line is two clean fields around one TAB has its fields split with no loop over the lines
    # (dictionary._tab_fields); the entries, counts and problems are those of the rules applied line by line.
    lines = ["dog\tHund", "post office\tPostamt", "dog\tHund", "?\t!", "Straße\tstreet", "北京\tBeijing",
             "Ice Cream\tSpeise Eis", "l'homme\tman", "-\tx"]
    path = write(tmp_path, "two_fields.tsv", "\n".join(lines) + "\n")
    assert dictionary_module._tab_fields(lines) is not None
    with caplog.at_level(logging.WARNING, logger="veco_lightning.lexicon.dictionary"):
        fast = read_dictionary(path, "en", "de")
    monkeypatch.setattr(dictionary_module, "_tab_fields", lambda lines: None)
    slow = read_dictionary(path, "en", "de")
    assert list(fast.mapping.items()) == list(slow.mapping.items())
    assert (fast.read, fast.skipped, fast.duplicates) == (slow.read, slow.skipped, slow.duplicates) == (9, 2, 1)
    assert f"{path}:4" in caplog.text and f"{path}:9" in caplog.text
    with pytest.raises(BadInputError, match=re.escape(f"{path}:4")):
        read_dictionary(path, "en", "de", strict=True)
    # Lines the loop must read: no TAB, a second TAB, an empty field, whitespace around a field, a comment.
    for odd in ("dog Hund", "a\tb\tc", "a\t", "\tb", "a \tb", "a\t b", "a\u00a0\tb", "# x\ty"):
        assert dictionary_module._tab_fields(["x\ty", odd]) is None, odd
