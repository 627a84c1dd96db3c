"""Bad input (README "Bad input"): each class of bad line fed to each reader is an error naming ``file:line`` and the
fix, or with ``on_bad_line: skip`` a skip counted per file; empty files, empty sides, unequal line-aligned files,
empty dictionaries and unknown language codes are errors; a BOM and CRLF line ends leave no trace in the tokens; every
path and code is checked before anything is read."""

import json
import logging
import re

import pytest
from conftest import sentences

from veco_lightning.data.monolingual import MonolingualDataModule
from veco_lightning.data.parallel import ParallelDataModule
from veco_lightning.data.readers import ParallelSource, iter_lines, read_pairs, read_pairs_with_index
from veco_lightning.data.synonym import SynonymAlignedDataModule
from veco_lightning.datamodule import VecoDataModule
from veco_lightning.evaluation.datamodule import EvaluationDataModule
from veco_lightning.evaluation.sources import BuccSource, PairSource
from veco_lightning.lexicon.badinput import BadInputError, text_problem
from veco_lightning.lexicon.dictionary import read_dictionary

MAX = 100  # max_line_chars in these tests
EN, RU = sentences("en")[:6], sentences("ru")[:6]
DEMO = "pkg://veco_lightning/resources/demo"

# Each class of bad line: its bytes in a text line, and what the error says. Line 3 of every file below.
BAD = {
    "invalid UTF-8": (b"caf\xe9 au lait", "not valid UTF-8"),
    "NUL": (b"a NUL\x00byte", "U+0000 (NUL)"),
    "C1 control": ("a C1 \u0085 control".encode(), "U+0085"),
    "escape sequence": (b"an \x1b[31m escape", "U+001B (ESC)"),
    "stray CR": (b"a stray\rCR", "U+000D (CR)"),
    "too long": (b"x" * (MAX + 1), f"longer than max_line_chars={MAX}"),
}
# A JSON string or a Parquet cell is a document: its CR is a line break; a Parquet cell cannot hold invalid UTF-8.
JSON_BAD = [kind for kind in BAD if kind != "stray CR"]
PARQUET_BAD = [kind for kind in JSON_BAD if kind != "invalid UTF-8"]


def _write(path, lines: list[bytes], end: bytes = b"\n"):
    path.write_bytes(b"".join(line + end for line in lines))
    return str(path)


def _enc(texts):
    return [t.encode() for t in texts]


def _json(record: dict, raw_text: bytes | None = None) -> bytes:
    """A JSON line; ``raw_text`` replaces the placeholder with bytes JSON cannot escape (invalid UTF-8)."""
    line = json.dumps(record, ensure_ascii=False).encode()
    return line.replace(b"@RAW@", raw_text) if raw_text is not None else line


def _json_text(bad: bytes) -> tuple[dict, bytes | None]:
    try:
        return {"text": bad.decode()}, None
    except UnicodeDecodeError:
        return {"text": "@RAW@"}, bad


def _raises_at(where: str, problem: str):
    return pytest.raises(BadInputError, match=re.escape(where) + r": .*" + re.escape(problem) + r".*Fix: .*skip")


def _skipped_once(caplog, where: str) -> None:
    path = where.rsplit(":", 1)[0]
    assert f"{path}: skipped 1 bad" in caplog.text and where in caplog.text


# --- the rules ----------------------------------------------------------------------------------------------------


def test_rules_on_one_text():
    assert text_problem("a\tb c\ufeffd é 中文") is None  # TAB is text; U+FEFF inside a line is a character
    assert text_problem("x" * MAX, MAX) is None and "longer" in text_problem("x" * (MAX + 1), MAX)[0]
    for control in ("\x00", "\x01", "\x0b", "\x0c", "\x0d", "\x1f", "\x7f", "\x80", "\x9f"):
        assert text_problem(f"a{control}b") is not None, repr(control)
    assert text_problem("a\nb") is not None  # a line cannot hold LF
    assert text_problem("line one\nline two\r\n\tthree", document=True) is None  # a document's own line breaks
    assert text_problem("a\x00b", document=True) is not None


# --- monolingual: txt, jsonl, parquet -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", BAD)
def test_monolingual_txt(tmp_path, caplog, kind):
    bad, problem = BAD[kind]
    path = _write(tmp_path / "en.txt", [*_enc(EN[:2]), bad, *_enc(EN[2:])])
    with _raises_at(f"{path}:3", problem):
        list(iter_lines([path], max_line_chars=MAX))
    with caplog.at_level(logging.WARNING):
        assert [r["text"] for r in iter_lines([path], on_bad_line="skip", max_line_chars=MAX)] == EN
    _skipped_once(caplog, f"{path}:3")


@pytest.mark.parametrize("kind", [*JSON_BAD, "not JSON", "no text field"])
def test_monolingual_jsonl(tmp_path, caplog, kind):
    if kind == "not JSON":
        line, problem = b'{"text": "unterminated', "not JSON"
    elif kind == "no text field":
        line, problem = _json({"body": "a text"}), 'no string field "text"'
    else:
        line, problem = _json(*_json_text(BAD[kind][0])), BAD[kind][1]
    path = _write(tmp_path / "en.jsonl", [*(_json({"text": t}) for t in EN[:2]), line,
                                          *(_json({"text": t}) for t in EN[2:])])
    with _raises_at(f"{path}:3", problem):
        list(iter_lines([path], max_line_chars=MAX))
    with caplog.at_level(logging.WARNING):
        assert [r["text"] for r in iter_lines([path], on_bad_line="skip", max_line_chars=MAX)] == EN
    _skipped_once(caplog, f"{path}:3")


@pytest.mark.parametrize("kind", PARQUET_BAD)
def test_monolingual_parquet(tmp_path, caplog, kind):
    import pyarrow as pa
    import pyarrow.parquet as pq

    bad, problem = BAD[kind]
    path = str(tmp_path / "en.parquet")
    pq.write_table(pa.table({"text": [*EN[:2], bad.decode(), *EN[2:]]}), path)
    with _raises_at(f"{path}:row 3", problem):
        list(iter_lines([path], max_line_chars=MAX))
    with caplog.at_level(logging.WARNING):
        assert [r["text"] for r in iter_lines([path], on_bad_line="skip", max_line_chars=MAX)] == EN
    _skipped_once(caplog, f"{path}:row 3")


def test_parquet_column_must_be_text(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = str(tmp_path / "n.parquet")
    pq.write_table(pa.table({"text": [1, 2]}), path)
    with pytest.raises(BadInputError, match="not text"):
        list(iter_lines([path]))


@pytest.mark.parametrize("content", [b"", b"\n  \n\t\n", "\u00a0\n".encode()], ids=["empty", "blank", "nbsp"])
def test_empty_file_is_an_error_naming_it(tmp_path, content):
    path = tmp_path / "de.txt"
    path.write_bytes(content)
    with pytest.raises(BadInputError, match=re.escape(f"{path}: no text")):
        list(iter_lines([str(path)], on_bad_line="skip"))
    # a file whose every line was skipped says so
    only_bad = _write(tmp_path / "bad.txt", [b"\x00"])
    with pytest.raises(BadInputError, match=r"no text .*1 bad line\(s\) were skipped"):
        list(iter_lines([only_bad], on_bad_line="skip"))


def test_monolingual_datamodule_names_an_empty_language(corpus_dir, tokenizer_dir, tmp_path):
    (tmp_path / "de.txt").write_text("\n\n", encoding="utf-8")
    dm = MonolingualDataModule(files={"en": str(corpus_dir / "en.txt"), "de": str(tmp_path / "de.txt")},
                               tokenizer=str(tokenizer_dir), max_length=16, cache_dir=str(tmp_path / "cache"),
                               on_bad_line="skip")
    with pytest.raises(BadInputError, match=re.escape(str(tmp_path / "de.txt")) + ": no text"):
        dm.prepare_data()


# --- pairs: TSV, jsonl, line-aligned ------------------------------------------------------------------------------


def _pair_files(tmp_path, layout: str, bad: bytes | None) -> tuple[ParallelSource, str]:
    """Six ru-en pairs whose third target is ``bad``; the source and the file holding line 3's target."""
    targets = [*_enc(EN[:2]), bad, *_enc(EN[3:])] if bad is not None else _enc(EN)
    if layout == "tsv":
        path = _write(tmp_path / "p.tsv", [s + b"\t" + t for s, t in zip(_enc(RU), targets)])
        return ParallelSource(path=path), path
    if layout == "jsonl":
        lines = []
        for s, t in zip(RU, targets):
            try:
                lines.append(_json({"src": s, "tgt": t.decode()}))
            except UnicodeDecodeError:
                lines.append(_json({"src": s, "tgt": "@RAW@"}, t))
        path = _write(tmp_path / "p.jsonl", lines)
        return ParallelSource(path=path), path
    src, tgt = _write(tmp_path / "ru.txt", _enc(RU)), _write(tmp_path / "en.txt", targets)
    return ParallelSource(src=src, tgt=tgt), tgt


@pytest.mark.parametrize("layout", ["tsv", "jsonl", "aligned"])
@pytest.mark.parametrize("kind", BAD)
def test_pairs(tmp_path, caplog, layout, kind):
    bad, problem = BAD[kind]
    if layout == "jsonl" and kind == "stray CR":
        bad, problem = b"\x1b", "U+001B"  # JSON texts are documents: their CR is a line break
    source, path = _pair_files(tmp_path, layout, bad)
    with _raises_at(f"{path}:3", problem):
        read_pairs(source, "ru-en", max_line_chars=MAX)
    with caplog.at_level(logging.WARNING):
        pairs = read_pairs_with_index(source, "ru-en", "skip", max_line_chars=MAX)
    assert pairs.src == RU[:2] + RU[3:] and pairs.tgt == EN[:2] + EN[3:]
    assert list(pairs.index) == [0, 1, 3, 4, 5] and pairs.size == 6
    _skipped_once(caplog, f"{path}:3")


@pytest.mark.parametrize("layout", ["tsv", "jsonl", "aligned"])
def test_pair_with_an_empty_side_is_named(tmp_path, caplog, layout):
    source, path = _pair_files(tmp_path, layout, b"  ")
    with _raises_at(f"{path}:3", "empty target side"):
        read_pairs(source, "ru-en")
    with caplog.at_level(logging.WARNING):
        assert len(read_pairs(source, "ru-en", "skip")[0]) == 5
    _skipped_once(caplog, f"{path}:3")


@pytest.mark.parametrize("line,problem", [(b"one\ttwo\tthree", "3 TAB-separated"), (b"", "an empty line"),
                                          (b"no tab here", "1 TAB-separated"),
                                          (b"a ||| b ||| c", "1 TAB-separated")])
def test_malformed_tsv_line(tmp_path, line, problem):
    path = _write(tmp_path / "p.tsv", [b"a\tb", line, b"c\td"])
    with _raises_at(f"{path}:2", problem):
        read_pairs(ParallelSource(path=path), "ru-en")
    assert read_pairs(ParallelSource(path=path), "ru-en", "skip") == (["a", "c"], ["b", "d"])


def test_fast_align_pair_lines(tmp_path):
    """fast_align's 'source ||| target' (awesome-align's .src-tgt files): a line without a TAB; a TAB line as TSV."""
    path = _write(tmp_path / "p.src-tgt", [b"der Hund ||| the dog", b"  ein Haus   |||  a house ", b"x ||| y\tz"])
    assert read_pairs(ParallelSource(path=path), "de-en") == (["der Hund", "ein Haus", "x ||| y"], ["the dog",
                                                                                                  "a house", "z"])
    _write(tmp_path / "p.src-tgt", [b"der Hund ||| the dog", b"a ||| b ||| c"])
    with pytest.raises(BadInputError, match=re.escape("p.src-tgt:2: 1 TAB-separated field(s). Fix: write "
                                                      "'source<TAB>target' (one TAB per line) or 'source ||| target'")):
        read_pairs(ParallelSource(path=path), "de-en")


def test_jsonl_pair_without_its_fields(tmp_path):
    path = _write(tmp_path / "p.jsonl", [_json({"src": "a", "tgt": "b"}), _json({"src": "a"}), _json({"src": 1,
                                                                                                       "tgt": "b"})])
    with _raises_at(f"{path}:2", "cannot read a pair"):
        read_pairs(ParallelSource(path=path), "ru-en")
    assert read_pairs(ParallelSource(path=path), "ru-en", "skip") == (["a"], ["b"])


def test_unequal_line_aligned_files_name_the_first_line_without_partner(tmp_path):
    src, tgt = _write(tmp_path / "ru.txt", _enc(RU)), _write(tmp_path / "en.txt", _enc(EN[:4]))
    for a, b in ((src, tgt), (tgt, src)):
        with pytest.raises(BadInputError, match=re.escape(f"{src}:5: no partner line in {tgt}, which has 4")):
            read_pairs(ParallelSource(src=a, tgt=b), "ru-en", "skip")  # never skippable


def test_empty_pair_file_and_nothing_left(tmp_path):
    empty = _write(tmp_path / "p.tsv", [])
    with pytest.raises(BadInputError, match=re.escape(f"{empty}: no text")):
        read_pairs(ParallelSource(path=empty), "ru-en")
    all_bad = _write(tmp_path / "q.tsv", [b"a\t", b"\tb"])
    with pytest.raises(BadInputError, match=r"Pairs 'ru-en': no pair .*2 bad pair\(s\) were skipped"):
        read_pairs(ParallelSource(path=all_bad), "ru-en", "skip")


def test_lines_range_counts_bad_pairs_and_ignores_those_outside(tmp_path):
    path = _write(tmp_path / "p.tsv", [b"a\t1", b"b\t", b"c\t3", b"d\t4", b"\x00\t5"])
    assert read_pairs(ParallelSource(path=path, lines=[0, 2]), "ru-en", "skip") == (["a"], ["1"])
    assert read_pairs(ParallelSource(path=path, lines=[2, 4]), "ru-en") == (["c", "d"], ["3", "4"])


def test_parallel_datamodule_on_bad_line(tokenizer_dir, tmp_path, caplog):
    source, path = _pair_files(tmp_path, "tsv", b"")
    args = dict(files={"ru-en": source}, tokenizer=str(tokenizer_dir), max_length=32, batch_size=2, val_pairs=0,
                cache_dir=str(tmp_path / "cache"))
    with _raises_at(f"{path}:3", "empty target side"):
        ParallelDataModule(**args).prepare_data()
    dm = ParallelDataModule(**args, on_bad_line="skip")
    with caplog.at_level(logging.WARNING):
        dm.prepare_data()
    dm.setup("fit")
    assert len(dm.train_sets["ru-en"]) == 5
    _skipped_once(caplog, f"{path}:3")


# --- dictionaries -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", BAD)
def test_dictionary(tmp_path, caplog, kind):
    bad, problem = BAD[kind]
    bad = b"word\t" + bad if kind != "too long" else bad
    path = _write(tmp_path / "en-de.tsv", [b"dog\tHund", b"cat\tKatze", bad, b"house\tHaus"])
    with pytest.raises(BadInputError, match=re.escape(f"{path}:3: malformed dictionary line")):
        read_dictionary(path, "en", "de", strict=True, max_line_chars=MAX)
    with caplog.at_level(logging.WARNING):
        d = read_dictionary(path, "en", "de", max_line_chars=MAX)
    assert (d.entries, d.skipped) == (3, 1) and f"{path}:3" in caplog.text


@pytest.mark.parametrize("content", [b"", b"# only a comment\n\n", b"?\t!\nthree words here\n"],
                         ids=["empty", "comments", "all malformed"])
def test_empty_dictionary_is_an_error(tmp_path, content):
    path = tmp_path / "en-de.tsv"
    path.write_bytes(content)
    with pytest.raises(BadInputError, match=re.escape(f"{path}: no dictionary entry") + ".*constant zero"):
        read_dictionary(path, "en", "de")


def test_dictionary_strictness_from_the_config(tmp_path):
    path = _write(tmp_path / "en-de.tsv", [b"dog\tHund", b"three words here"])
    args = dict(files={"de-en": ParallelSource(src=f"{DEMO}/de.txt", tgt=f"{DEMO}/en.txt", lines=[0, 16])},
                dictionaries={"en-de": [path]}, tokenizer=f"{DEMO}/tokenizer", max_length=32, batch_size=4,
                val_pairs=0, cache_dir=str(tmp_path / "cache"))
    with pytest.raises(BadInputError, match=re.escape(f"{path}:2") + ".*on_bad_dictionary_line: skip"):
        SynonymAlignedDataModule(**args, on_bad_dictionary_line="error").prepare_data()
    SynonymAlignedDataModule(**args).prepare_data()  # default: skipped with a count


# --- evaluation sets ----------------------------------------------------------------------------------------------


def test_evaluation_pairs_skip_with_their_gold(tokenizer_dir, tmp_path, caplog):
    src = _write(tmp_path / "ru.txt", [*_enc(RU[:2]), b"a NUL \x00", *_enc(RU[3:])])
    tgt = _write(tmp_path / "en.txt", _enc(EN))
    gold = _write(tmp_path / "gold.txt", [f"0-{i}".encode() for i in range(6)])  # 5 ru and 7 en words a line
    pairs = {"ru-en": PairSource(src=src, tgt=tgt, alignments=gold)}
    with _raises_at(f"{src}:3", "U+0000"):
        EvaluationDataModule(pairs=pairs, tokenizer=str(tokenizer_dir)).setup("test")
    dm = EvaluationDataModule(pairs=pairs, tokenizer=str(tokenizer_dir), on_bad_line="skip")
    with caplog.at_level(logging.WARNING):
        dm.setup("test")
    (eval_set,) = dm.sets
    assert eval_set.src_texts == RU[:2] + RU[3:]
    assert [sorted(item["gold"][0]) for item in sorted(eval_set.items, key=lambda x: x["index"])] == [
        [(0, i)] for i in (0, 1, 3, 4, 5)]  # the skipped pair took its gold line with it
    _skipped_once(caplog, f"{src}:3")


def test_gold_links_past_the_words_are_an_error(tokenizer_dir, tmp_path):
    """A 1-based gold read as 0-based (or a gold of other sentences) points past a sentence's words: an error naming
    the line and alignments_one_based, not a silently worse AER."""
    src = _write(tmp_path / "ru.txt", _enc(RU[:3]))
    tgt = _write(tmp_path / "en.txt", _enc(EN[:3]))
    n = [len(line.split()) for line in RU[:3]]
    m = [len(line.split()) for line in EN[:3]]
    gold = _write(tmp_path / "gold.talp", [f"1-1 {a}p{b}".encode() for a, b in zip(n, m)])
    with pytest.raises(BadInputError, match=re.escape(f"{gold}:1: link {n[0]}-{m[0]} (counted from 0) points past the "
                                                      f"{n[0]} source and {m[0]} target words") +
                       ".*set alignments_one_based: true"):
        EvaluationDataModule(pairs={"ru-en": PairSource(src=src, tgt=tgt, alignments=gold)},
                             tokenizer=str(tokenizer_dir)).setup("test")
    dm = EvaluationDataModule(pairs={"ru-en": PairSource(src=src, tgt=tgt, alignments=gold, alignments_one_based=True)},
                              tokenizer=str(tokenizer_dir))
    dm.setup("test")
    assert [item["gold"][1] for item in sorted(dm.sets[0].items, key=lambda x: x["index"])] == [
        {(0, 0), (a - 1, b - 1)} for a, b in zip(n, m)]


def test_bucc_and_gold_files_are_checked(tokenizer_dir, tmp_path):
    from veco_lightning.evaluation.bitext_mining import make_bucc_task

    make_bucc_task(sentences("ru"), sentences("en"), str(tmp_path / "bucc"), pair="ru-en", n_gold=4,
                   n_distractors=8, seed=0)
    dev = tmp_path / "bucc" / "ru-en.dev.ru"
    dev.write_bytes(dev.read_bytes().replace(b"\n", b"\x00\n", 1))
    with pytest.raises(BadInputError, match=re.escape(f"{dev}:1: control character U+0000")):
        EvaluationDataModule(bucc=BuccSource(root=str(tmp_path / "bucc"), pairs=["ru-en"]),
                             tokenizer=str(tokenizer_dir)).setup("test")
    src = _write(tmp_path / "ru.txt", _enc(RU))
    gold = _write(tmp_path / "gold.txt", [b"0-0", b"\xff"])
    with pytest.raises(BadInputError, match=re.escape(f"{gold}:2: not valid UTF-8")):
        EvaluationDataModule(pairs={"ru-en": PairSource(src=src, tgt=src, alignments=gold)},
                             tokenizer=str(tokenizer_dir)).setup("test")


# --- BOM and CRLF: valid, and invisible ---------------------------------------------------------------------------


def _bom_crlf(path, texts):
    path.write_bytes(b"\xef\xbb\xbf" + b"".join(t.encode() + b"\r\n" for t in texts))
    return str(path)


def test_bom_and_crlf_leave_no_trace_in_monolingual_tokens(tokenizer_dir, tmp_path):
    texts = sentences("en")
    clean = tmp_path / "clean" / "en.txt"
    clean.parent.mkdir()
    clean.write_text("\n".join(texts) + "\n", encoding="utf-8")
    windows = _bom_crlf(tmp_path / "en.txt", texts)
    blocks = []
    for path in (str(clean), windows):
        dm = MonolingualDataModule(files={"en": path}, tokenizer=str(tokenizer_dir), max_length=16, val_fraction=0,
                                   cache_dir=str(tmp_path / "cache"))
        dm.prepare_data()
        dm.setup("fit")
        blocks.append([block.tolist() for block in dm.train_sets["en"]["input_ids"]])
    assert blocks[0] == blocks[1] and dm.tokenizer.unk_token_id not in {i for b in blocks[1] for i in b}
    jsonl = tmp_path / "en.jsonl"
    jsonl.write_bytes(b"\xef\xbb\xbf" + b"".join(_json({"text": t}) + b"\r\n" for t in texts))
    assert [r["text"] for r in iter_lines([str(jsonl)])] == texts


def test_bom_and_crlf_leave_no_trace_in_pairs_and_dictionaries(tokenizer_dir, tmp_path):
    tsv = _bom_crlf(tmp_path / "p.tsv", [f"{s}\t{t}" for s, t in zip(RU, EN)])
    src, tgt = _bom_crlf(tmp_path / "ru.txt", RU), _bom_crlf(tmp_path / "en.txt", EN)
    for source in (ParallelSource(path=tsv), ParallelSource(src=src, tgt=tgt)):
        assert read_pairs(source, "ru-en") == (RU, EN)
    tokens = []
    for source in (ParallelSource(path=tsv), ParallelSource(path=_write(tmp_path / "clean.tsv", [
            f"{s}\t{t}".encode() for s, t in zip(RU, EN)]))):
        dm = ParallelDataModule(files={"ru-en": source}, tokenizer=str(tokenizer_dir), max_length=32, val_pairs=0,
                                cache_dir=str(tmp_path / "cache"))
        dm.prepare_data()
        dm.setup("fit")
        tokens.append([list(dm.train_sets["ru-en"][side]) for side in ("src", "tgt")])
    assert tokens[0] == tokens[1] and len(tokens[0][0]) == 6
    windows = _bom_crlf(tmp_path / "en-de.tsv", ["dog\tHund", "cat\tKatze"])
    clean = _write(tmp_path / "clean-en-de.tsv", [b"dog\tHund", b"cat\tKatze"])
    assert read_dictionary(windows, "en", "de").mapping == read_dictionary(clean, "en", "de").mapping


# --- language codes and paths, checked before anything is read ----------------------------------------------------


def test_unknown_language_codes_and_their_declaration(corpus_dir, tmp_path):
    text = str(corpus_dir / "en.txt")
    with pytest.raises(ValueError, match=r"Unknown language code 'xx' in data.monolingual.*extra_languages: \[xx\]"):
        MonolingualDataModule(files={"en": text, "xx": text}).check_sources()
    MonolingualDataModule(files={"xx": text}, extra_languages=["xx"]).check_sources()
    MonolingualDataModule(files={"zh-CN": text, "deu": text, "sr-Latn": text, "bn_rom": text}).check_sources()
    pair = ParallelSource(src=text, tgt=text)
    with pytest.raises(ValueError, match="Unknown language code 'xx' in language pair 'xx-yy'"):
        ParallelDataModule(files={"xx-yy": pair}).check_sources()
    ParallelDataModule(files={"zh-CN-en": pair, "deu-eng": pair}).check_sources()
    with pytest.raises(ValueError, match="'qq' in dictionaries key 'en-qq'"):
        SynonymAlignedDataModule(files={"de-en": pair}, dictionaries={"en-qq": text}).check_sources()
    with pytest.raises(ValueError, match="'xx' in evaluation set 'xx-en'"):
        EvaluationDataModule(pairs={"xx-en": PairSource(src=text, tgt=text)}).check_sources()
    with pytest.raises(ValueError, match="'zz' in evaluation set 'set'"):
        EvaluationDataModule(pairs={"set": PairSource(src=text, tgt=text, src_lang="zz", tgt_lang="en")}
                             ).check_sources()
    with pytest.raises(ValueError, match="'xx' in BUCC pair 'xx-en'"):
        EvaluationDataModule(bucc=BuccSource(root=str(tmp_path), pairs=["xx-en"])).check_sources()


def test_composite_checks_every_source_before_tokenizing(corpus_dir, tokenizer_dir, tmp_path):
    text = str(corpus_dir / "en.txt")
    cache = tmp_path / "cache"

    def composite(dictionary: str, **evaluation):
        return VecoDataModule(
            tokenizer=str(tokenizer_dir),
            monolingual=MonolingualDataModule(files={"en": text, "xx": text}, extra_languages=["xx"],
                                              max_length=16, cache_dir=str(cache)),
            synonym=SynonymAlignedDataModule(files={"xx-en": ParallelSource(src=text, tgt=text)},
                                             dictionaries={"en-xx": dictionary}, val_pairs=0, cache_dir=str(cache)),
            evaluation=EvaluationDataModule(**evaluation) if evaluation else None)

    missing = str(tmp_path / "dict" / "en-xx.tsv")
    with pytest.raises(FileNotFoundError, match=re.escape(missing) + r".*dictionary 'en-xx'"):
        composite(missing).prepare_data()
    with pytest.raises(FileNotFoundError, match=r"nope\.txt.*pairs 'de-en'"):
        composite(text, pairs={"de-en": PairSource(src=str(tmp_path / "nope.txt"), tgt=text)}).prepare_data()
    assert not cache.exists()  # nothing was read or tokenized
    # "xx", declared once on the monolingual source, counts for the synonym source and the evaluation sets too
    with pytest.raises(ValueError, match="Unknown language code 'yy'"):
        composite(text, pairs={"yy-en": PairSource(src=text, tgt=text)}).prepare_data()
    assert not cache.exists()


def test_monolingual_checks_every_language_before_the_first(corpus_dir, tokenizer_dir, tmp_path):
    dm = MonolingualDataModule(files={"en": str(corpus_dir / "en.txt"), "ru": str(tmp_path / "missing/*.txt")},
                               tokenizer=str(tokenizer_dir), cache_dir=str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError, match=r"missing/\*\.txt.*language 'ru'"):
        dm.prepare_data()
    assert not (tmp_path / "cache").exists()


def test_a_folder_given_as_a_file_is_named_with_the_glob_to_give(tmp_path):
    from veco_lightning.data.readers import expand_globs

    folder = tmp_path / "corpus"
    (folder / "sub").mkdir(parents=True)
    (folder / "en.txt").write_text("a line\n", encoding="utf-8")
    with pytest.raises(IsADirectoryError, match=re.escape(f"{str(folder)!r} (language 'en') is a folder") + ".*"
                       + re.escape(repr(str(folder / "*.txt")))):
        expand_globs(str(folder), " (language 'en')")
    assert expand_globs(str(folder / "*")) == [str(folder / "en.txt")]  # the glob's folders are left out
    with pytest.raises(FileNotFoundError, match="No file matches"):
        expand_globs(str(folder / "s*"))  # only a folder matches
    with pytest.raises(IsADirectoryError, match="is a folder"):
        MonolingualDataModule(files={"en": str(folder)}, tokenizer=DEMO + "/tokenizer",
                              cache_dir=str(tmp_path / "cache")).prepare_data()
    (folder / "state.json").write_text("{}", encoding="utf-8")  # what datasets' save_to_disk writes
    with pytest.raises(IsADirectoryError, match="is a dataset written by datasets' save_to_disk.*to_parquet"):
        expand_globs(str(folder))


def test_hub_sources_that_cannot_load_or_lack_columns_say_what_to_do(tmp_path, monkeypatch):
    # Offline (as these tests run) a hub id not in the local cache; a local dataset folder (what load_dataset reads
    # with no network) without the configured column, or whose translation column holds other languages.
    from veco_lightning.data.readers import HubSource, ParallelSource, load_text_dataset, read_pairs

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match=r"hub:veco-test/no-such-dataset \(language pair 'de-en'\) could "
                                                r"not be loaded.*Offline.*give local files instead"):
        read_pairs(ParallelSource(hub="veco-test/no-such-dataset"), "de-en")
    folder = tmp_path / "pairs"
    folder.mkdir()
    rows = [{"translation": {"de": "Guten Morgen", "fr": "Bonjour"}, "body": "x"}] * 3
    (folder / "train.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    with pytest.raises(BadInputError, match=r"translation column holds the languages \['de', 'fr'\], not 'de' and "
                                            r"'en'"):
        read_pairs(ParallelSource(hub=str(folder)), "de-en")
    with pytest.raises(BadInputError, match=r"has no column 'text'.*set text_field"):
        load_text_dataset(HubSource(path=str(folder)), cache_dir=str(tmp_path / "cache"))
    assert load_text_dataset(HubSource(path=str(folder), text_field="body"), cache_dir=str(tmp_path / "cache"))[
        "text"] == ["x"] * 3


def test_json_lines_with_a_translation_object(tmp_path):
    # OPUS / WMT sets saved with datasets' to_json hold {"translation": {"de": ..., "en": ...}} per line; such a file
    # failed at its first line ("cannot read a pair (KeyError('src'))") while the same set from the Hub was read.
    pairs = [("Der Hund schläft.", "The dog sleeps."), ("Ich lese.", "I read.")]
    path = tmp_path / "opus.jsonl"
    path.write_text("".join(json.dumps({"translation": {"en": e, "de": d}}, ensure_ascii=False) + "\n"
                            for d, e in pairs), encoding="utf-8")
    read = read_pairs(ParallelSource(path=str(path)), "de-en")
    assert list(zip(*read)) == pairs
    assert list(zip(*read_pairs(ParallelSource(path=str(path)), "en-de"))) == [(e, d) for d, e in pairs]
    with pytest.raises(BadInputError, match=r"opus.jsonl:1: cannot read a pair \(KeyError\('fr'\)\).*'translation'"):
        read_pairs(ParallelSource(path=str(path)), "fr-en")
