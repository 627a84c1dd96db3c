"""The shipped demo corpus: six line-aligned languages and English-centred MUSE-style dictionaries."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

LANGS = ("en", "de", "fr", "es", "ru", "zh")
PARTNERS = LANGS[1:]
GENERATOR = Path(__file__).resolve().parents[1] / "tools" / "make_demo_corpus.py"


def demo_dir():
    return resources.files("veco_lightning") / "resources" / "demo"


def read_lines(lang: str) -> list[str]:
    return (demo_dir() / f"{lang}.txt").read_text(encoding="utf-8").splitlines()


def read_dictionary(lang: str) -> list[list[str]]:
    text = (demo_dir() / "dict" / f"en-{lang}.tsv").read_text(encoding="utf-8")
    return [line.split("\t") for line in text.splitlines()]


def test_all_languages_present_and_aligned():
    counts = {lang: len(read_lines(lang)) for lang in LANGS}
    assert len(set(counts.values())) == 1, f"line counts differ: {counts}"
    assert counts["en"] >= 400


@pytest.mark.parametrize("lang", LANGS)
def test_sentence_files_are_clean(lang):
    raw = (demo_dir() / f"{lang}.txt").read_text(encoding="utf-8")
    assert raw.endswith("\n") and "\r" not in raw
    lines = raw.splitlines()
    assert all(line.strip() for line in lines), "empty line"
    assert not any("\t" in line for line in lines), "tab inside a sentence"


def test_english_lines_are_unique():
    en = read_lines("en")
    assert len(set(en)) == len(en)


def test_scripts():
    han = re.compile(r"[\u4e00-\u9fff]")
    cyrillic = re.compile(r"[\u0400-\u04ff]")
    assert all(han.search(line) for line in read_lines("zh"))
    assert not any(" " in line for line in read_lines("zh")), "Chinese is written without spaces"
    assert all(cyrillic.search(line) for line in read_lines("ru"))


@pytest.mark.parametrize("lang", PARTNERS)
def test_dictionary_format(lang):
    entries = read_dictionary(lang)
    assert len(entries) >= 100
    for i, fields in enumerate(entries, 1):
        assert len(fields) == 2, f"dict/en-{lang}.tsv line {i}: {fields!r}"
        assert all(f.strip() == f and f for f in fields), f"dict/en-{lang}.tsv line {i}: {fields!r}"


@pytest.mark.parametrize("lang", PARTNERS)
def test_dictionary_entries_cooccur_in_aligned_lines(lang):
    en_lines = [x.lower() for x in read_lines("en")]
    xx_lines = [x.lower() for x in read_lines(lang)]
    entries = read_dictionary(lang)
    hits = 0
    for en, tr in entries:
        word = re.compile(r"(?<!\w)" + re.escape(en.lower()) + r"(?!\w)")
        tr = tr.lower()
        hits += any(tr in x and word.search(e) for e, x in zip(en_lines, xx_lines))
    assert hits / len(entries) >= 0.5, f"en-{lang}: only {hits}/{len(entries)} entries co-occur"


@pytest.mark.skipif(not GENERATOR.exists(), reason="generator script not available (installed package)")
def test_generator_reproduces_shipped_files(tmp_path):
    subprocess.run([sys.executable, str(GENERATOR), "--out", str(tmp_path)], check=True, capture_output=True)
    names = [f"{lang}.txt" for lang in LANGS] + [f"dict/en-{lang}.tsv" for lang in PARTNERS] + ["README.md"]
    different = [n for n in names if (tmp_path / n).read_bytes() != demo_dir().joinpath(*n.split("/")).read_bytes()]
    assert not different, f"re-run `python tools/make_demo_corpus.py`; stale: {different}"
