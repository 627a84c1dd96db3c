"""Compressed corpora (``.gz``, ``.bz2``, ``.xz``: how CC-100 and OPUS ship) are read decompressed by every reader,
with the same text, line numbers and bad-line reports as the plain file; a compressed file whose name does not say
so, and a file that is not the compression its name says, are errors naming the file and the fix."""

import bz2
import gzip
import json
import lzma
import re

import pytest
from conftest import sentences

from veco_lightning.data.monolingual import MonolingualDataModule
from veco_lightning.data.parallel import ParallelDataModule
from veco_lightning.data.readers import ParallelSource, iter_lines, read_pairs
from veco_lightning.data.tokenizer import train_tokenizer
from veco_lightning.lexicon.badinput import BadInputError, plain_name, read_lines
from veco_lightning.lexicon.dictionary import read_dictionary

EN, RU = sentences("en")[:6], sentences("ru")[:6]
COMPRESS = {".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress}


def _write(path, data: bytes, end: str = "") -> str:
    """``data`` written to ``path`` + ``end``, compressed as ``end`` says."""
    target = f"{path}{end}"
    with open(target, "wb") as handle:
        handle.write(COMPRESS[end](data) if end else data)
    return target


def _lines(texts: list[str]) -> bytes:
    return "".join(f"{t}\n" for t in texts).encode()


def test_plain_name():
    assert plain_name("a/b.jsonl.gz") == "a/b.jsonl" and plain_name("b.TXT.XZ") == "b.TXT"
    assert plain_name("b.txt") == "b.txt" and plain_name("b.zst") == "b.zst"


@pytest.mark.parametrize("end", list(COMPRESS))
def test_monolingual_text_and_jsonl(tmp_path, end):
    txt = _write(tmp_path / "en.txt", _lines(EN), end)
    jsonl = _write(tmp_path / "en.jsonl", b"".join(json.dumps({"text": t}).encode() + b"\n" for t in EN), end)
    for path in (txt, jsonl):
        assert [r["text"] for r in iter_lines([path])] == EN
        assert [r["text"] for r in iter_lines([path], lines=[1, -1])] == EN[1:-1]


@pytest.mark.parametrize("end", list(COMPRESS))
def test_pairs_and_dictionaries(tmp_path, end):
    tsv = _write(tmp_path / "p.tsv", _lines([f"{s}\t{t}" for s, t in zip(RU, EN)]), end)
    jsonl = _write(tmp_path / "p.jsonl", b"".join(json.dumps({"src": s, "tgt": t}, ensure_ascii=False).encode()
                                                  + b"\n" for s, t in zip(RU, EN)), end)
    src, tgt = _write(tmp_path / "ru.txt", _lines(RU), end), _write(tmp_path / "en.txt", _lines(EN))  # mixed
    for source in (ParallelSource(path=tsv), ParallelSource(path=jsonl), ParallelSource(src=src, tgt=tgt)):
        assert read_pairs(source, "ru-en") == (RU, EN)
    dictionary = _write(tmp_path / "en-de.tsv", b"dog\tHund\ncat\tKatze\n", end)
    assert read_dictionary(dictionary, "en", "de").mapping == read_dictionary(
        _write(tmp_path / "plain-en-de.tsv", b"dog\tHund\ncat\tKatze\n"), "en", "de").mapping


def test_a_bad_line_inside_a_compressed_file_is_named_by_its_line(tmp_path):
    path = _write(tmp_path / "en.txt", b"one\ntwo\nbad \x00 byte\nfour\n", ".gz")
    with pytest.raises(BadInputError, match=re.escape(f"{path}:3: ") + ".*U\\+0000"):
        list(iter_lines([path]))
    assert [r["text"] for r in iter_lines([path], on_bad_line="skip")] == ["one", "two", "four"]


def test_datamodules_tokenize_a_compressed_corpus_as_the_plain_one(tokenizer_dir, tmp_path):
    texts = sentences("en")
    blocks = []
    for end in ("", ".xz"):
        path = _write(tmp_path / f"en{end or '-plain'}.txt", _lines(texts), end)
        dm = MonolingualDataModule(files={"en": path}, tokenizer=str(tokenizer_dir), max_length=16, val_fraction=0,
                                   cache_dir=str(tmp_path / "cache"))
        dm.prepare_data()
        dm.setup("fit")
        blocks.append([block.tolist() for block in dm.train_sets["en"]["input_ids"]])
    assert blocks[0] == blocks[1] and len(blocks[0]) > 1
    pairs = []
    for end in ("", ".gz"):
        source = ParallelSource(path=_write(tmp_path / f"p{end or '-plain'}.tsv",
                                            _lines([f"{s}\t{t}" for s, t in zip(RU, EN)]), end))
        dm = ParallelDataModule(files={"ru-en": source}, tokenizer=str(tokenizer_dir), max_length=32, val_pairs=0,
                                cache_dir=str(tmp_path / "cache"))
        dm.prepare_data()
        dm.setup("fit")
        pairs.append([list(dm.train_sets["ru-en"][side]) for side in ("src", "tgt")])
    assert pairs[0] == pairs[1] and len(pairs[0][0]) == 6


def test_a_tokenizer_trains_on_compressed_files(corpus_dir, tmp_path):
    files = {lang: [_write(tmp_path / f"{lang}.txt", (corpus_dir / f"{lang}.txt").read_bytes(), ".gz")]
             for lang in ("en", "ru")}
    tokenizer = train_tokenizer(files, str(tmp_path / "tok"), vocab_size=120)
    assert tokenizer.tokenize(EN[0]) and len(tokenizer) <= 120


@pytest.mark.parametrize("end", list(COMPRESS))
def test_a_compressed_file_without_its_ending_is_named(tmp_path, end):
    path = tmp_path / "en.txt"
    path.write_bytes(COMPRESS[end](_lines(EN * 50)))
    kind = {".gz": "gzip", ".bz2": "bzip2", ".xz": "xz"}[end]
    with pytest.raises(BadInputError, match=re.escape(f"{path}: the file is {kind}-compressed") + ".*"
                       + re.escape(f"rename it to {path}{end}")):
        list(iter_lines([str(path)], on_bad_line="skip"))  # not skipped line by line: the whole file is unreadable


@pytest.mark.parametrize("name", ["en.txt", "en.txt.zst"])
def test_a_zstandard_file_is_named(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"\x28\xb5\x2f\xfd" + bytes(range(200, 256)) + b"\n")
    with pytest.raises(BadInputError, match=re.escape(f"{path}: the file is zstandard-compressed, which these readers "
                                                      "do not decompress") + ".*streaming: true"):
        list(iter_lines([str(path)]))


@pytest.mark.parametrize("end", list(COMPRESS))
def test_a_file_that_is_not_its_compression_is_named(tmp_path, end):
    text = _write(tmp_path / "en.txt", _lines(EN), end="")
    wrong = tmp_path / f"en.txt{end}"
    wrong.write_bytes(open(text, "rb").read())
    with pytest.raises(BadInputError, match=re.escape(f"{wrong}: cannot be read decompressed") + ".*Fix: "):
        list(iter_lines([str(wrong)]))
    with pytest.raises(BadInputError, match=re.escape(f"{wrong}: cannot be read decompressed")):
        read_pairs(ParallelSource(path=str(wrong)), "ru-en")
    cut = tmp_path / f"cut.txt{end}"
    cut.write_bytes(COMPRESS[end](_lines(EN * 40))[:-20])
    for lines in (None, [0, -1]):  # counting the lines first, or not
        with pytest.raises(BadInputError, match=re.escape(f"{cut}: cannot be read decompressed")):
            list(iter_lines([str(cut)], lines=lines))
    with pytest.raises(FileNotFoundError):  # the file system's own errors pass as they are
        list(read_lines(str(tmp_path / f"missing.txt{end}")))
    dictionary = tmp_path / f"en-de.tsv{end}"
    dictionary.write_bytes(b"dog\tHund\n")
    with pytest.raises(BadInputError, match=re.escape(f"{dictionary}: cannot be read decompressed")):
        read_dictionary(str(dictionary), "en", "de")


def test_gold_alignments_read_compressed(tmp_path):
    from veco_lightning.evaluation.alignment import read_pharaoh

    gold = b"0-0 1-2 2-1p\n\n0?1\r\n"
    assert read_pharaoh(_write(tmp_path / "gold", gold, ".gz")) == read_pharaoh(_write(tmp_path / "plain", gold))
    assert len(read_pharaoh(_write(tmp_path / "gold", gold, ".gz"))) == 3


@pytest.mark.parametrize("end", [".gz", ".xz"])
def test_bucc_and_tatoeba_files_are_found_compressed(tmp_path, end):
    """Files named by convention (a BUCC split's sides and gold, a Tatoeba language's two sides) are found under a
    compression ending too, and read as the plain files."""
    from veco_lightning.evaluation.bitext_mining import bucc_files, bucc_splits, make_bucc_task, read_bucc
    from veco_lightning.evaluation.sources import TatoebaSource, tatoeba_sources

    src, trg = [f"quelle {i} satz" for i in range(60)], [f"source {i} sentence" for i in range(60)]
    make_bucc_task(src, trg, str(tmp_path / "plain"), pair="de-en", n_gold=10, n_distractors=20, seed=0)
    (tmp_path / "packed").mkdir()
    for path in (tmp_path / "plain").iterdir():
        _write(tmp_path / "packed" / path.name, path.read_bytes(), end if ".test." in path.name else "")
    assert bucc_splits(str(tmp_path / "packed"), "de-en") == ["dev", "test"]
    assert all(p.endswith(end) for p in bucc_files(str(tmp_path / "packed"), "de-en", "test"))
    assert read_bucc(str(tmp_path / "packed" / "de-en.test")) == read_bucc(str(tmp_path / "plain" / "de-en.test"))

    (tmp_path / "tatoeba").mkdir()
    for code, texts, ending in (("rus", RU, end), ("deu", EN, "")):
        for side, lines in ((code, texts), ("eng", EN)):
            _write(tmp_path / "tatoeba" / f"tatoeba.{code}-eng.{side}", _lines(lines), ending)
    sources = tatoeba_sources(TatoebaSource(root=str(tmp_path / "tatoeba")))
    assert sorted(sources) == ["deu-eng", "rus-eng"]
    assert sources["rus-eng"].src.endswith(f"tatoeba.rus-eng.rus{end}") and sources["deu-eng"].src.endswith(".deu")
    assert read_pairs(sources["rus-eng"], "rus-eng") == (RU, EN)
    # two-letter codes are named with the folder's own
    with pytest.raises(FileNotFoundError, match=r"No Tatoeba files for \['de', 'xx'\] .*ISO 639-3 codes \(de is deu "
                                                r"there\) \(found: \['deu', 'rus'\]\)"):
        tatoeba_sources(TatoebaSource(root=str(tmp_path / "tatoeba"), languages=["de", "rus", "xx"]))
