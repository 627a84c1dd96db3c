"""Synonym mining on token ids (``data.synonym.mining: tokens``) against mining on text, on three tokenizer kinds."""

import pickle
import random
import unicodedata

import numpy as np
import pytest
import transformers
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from veco_lightning.data import token_mining
from veco_lightning.data.parallel import ParallelSource
from veco_lightning.data.synonym import SynonymAlignedDataModule
from veco_lightning.data.token_mining import MARKER, SPACE, WORD, WORDLESS, TokenMiner, token_kinds
from veco_lightning.data.tokenizer import encode_ids, encode_with_offsets, load_tokenizer
from veco_lightning.data.units import MatchedBatch, batch_units, mine_units_batch
from veco_lightning.lexicon import trie
from veco_lightning.lexicon.dictionary import dictionary_for
from veco_lightning.lexicon.stopwords import default_stop_words
from veco_lightning.lexicon.synonyms import SynonymMiner
from veco_lightning.paths import resolve_path

DEMO = "pkg://veco_lightning/resources/demo"
SRC = ["Das Haus ist grün.", "Ich gehe heute zum Postamt, sagt sie.", "Grün ist das Haus", "HAUS und Haus!",
       "Das rote Haus steht neben dem grünen Haus und dem Postamt"]
TGT = ["The house is green.", "I go to the post office today, she says.", "Green is the house",
       "house and house!", "The red house stands next to the green house and the post office"]
ENTRIES = ["house\tHaus", "green\tgrün", "green\tgrünen", "post office\tPostamt", "today\theute", "the\tdas",
           "is\tist", "red\trot", "red\trote", "next to\tneben", "says\tsagt"]


def _corpus_lines() -> list[str]:
    lines = []
    for lang in ("de", "en"):
        with open(resolve_path(f"{DEMO}/{lang}.txt"), encoding="utf-8") as handle:
            lines += handle.read().splitlines()
    return lines + SRC + TGT


def _fast(tokenizer: Tokenizer) -> transformers.PreTrainedTokenizerFast:
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]")


def _byte_level_bpe() -> transformers.PreTrainedTokenizerFast:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(_corpus_lines(), trainers.BpeTrainer(
        vocab_size=600, special_tokens=["[PAD]", "[UNK]"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return _fast(tokenizer)


def _wordpiece() -> transformers.PreTrainedTokenizerFast:
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=False)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    tokenizer.train_from_iterator(_corpus_lines(), trainers.WordPieceTrainer(vocab_size=600,
                                                                             special_tokens=["[PAD]", "[UNK]"]))
    return _fast(tokenizer)


TOKENIZERS = {"sentencepiece": lambda: load_tokenizer(f"{DEMO}/tokenizer"), "byte-level BPE": _byte_level_bpe,
              "wordpiece": _wordpiece}


@pytest.fixture(scope="module")
def miner(tmp_path_factory) -> SynonymMiner:
    path = tmp_path_factory.mktemp("dict") / "en-de.tsv"
    path.write_text("\n".join(ENTRIES) + "\n", encoding="utf-8")
    dictionary = dictionary_for({"en-de": str(path)}, "de", "en")
    return SynonymMiner(dictionary, "de", "en", {lang: default_stop_words(lang) for lang in ("de", "en")})


def _text_mining(miner, tokenizer, max_length):
    src = encode_with_offsets(tokenizer, SRC, max_length)
    tgt = encode_with_offsets(tokenizer, TGT, max_length)
    units = mine_units_batch(miner, SRC, TGT, [o for _, o in src], [o for _, o in tgt])
    return [ids for ids, _ in src], [ids for ids, _ in tgt], units


@pytest.mark.parametrize("kind", list(TOKENIZERS))
@pytest.mark.parametrize("max_length", [64, 6])
def test_token_mining_gives_what_text_mining_gives(miner, kind, max_length):
    """On sentences whose words the tokenizer keeps apart from their punctuation, both ways find the same synonym
    pairs and store the same columns: ids, the unit of every token (punctuation none), the synonym pairs, the
    counts; at length 6 truncation cuts units and drops their pairs the same way."""
    tokenizer = TOKENIZERS[kind]()
    src_ids, tgt_ids, expected = _text_mining(miner, tokenizer, max_length)
    cut = TokenMiner(miner, tokenizer).mine_texts(SRC, TGT, max_length)
    assert cut.rows() == (src_ids, tgt_ids)
    for name, want, got in zip(expected._fields, expected, cut.units):
        assert np.array_equal(want, got), (kind, name, want, got)
    rows = cut.units.rows()
    if max_length == 64:
        pairs = [len(synonyms) // 2 for _, _, synonyms, _ in rows]
        assert pairs == [2, 3, 2, 2, 6]  # stop words (das/the, ist/is) left out; HAUS found; phrases whole
        src_index, tgt_index, synonyms, _ = rows[1]
        tokens = [tgt_ids[1][t] for t, u in enumerate(tgt_index) if u in synonyms[1::2]]
        assert "post office" in tokenizer.decode(tokens)


def _token_offsets(side):
    """A mined side's kept tokens as "offsets" in token positions (tokens outside every unit empty): what the
    general map, :func:`batch_units`, takes."""
    start = side.token_local
    return start, np.where(side.token_outside, start, start + 1), side.kept


@pytest.mark.parametrize("kind", list(TOKENIZERS))
def test_token_units_equal_the_general_token_map(kind):
    """Token mining's own token -> unit map (each token's word known) gives what the general map of
    :func:`batch_units` gives from token-position "offsets", on the demo corpus, cut short and not."""
    tokenizer = TOKENIZERS[kind]()
    with open(resolve_path(f"{DEMO}/de.txt"), encoding="utf-8") as src, \
            open(resolve_path(f"{DEMO}/en.txt"), encoding="utf-8") as tgt:
        src_texts, tgt_texts = src.read().splitlines()[:200], tgt.read().splitlines()[:200]
    dictionary = dictionary_for({"en-de": f"{DEMO}/dict/en-de.tsv"}, "de", "en")
    mining = TokenMiner(SynonymMiner(dictionary, "de", "en"), tokenizer)
    src_ids, tgt_ids = (tokenizer(texts, add_special_tokens=False)["input_ids"] for texts in (src_texts, tgt_texts))
    for max_length in (64, 9):
        src, tgt = mining._words(src_ids, 0, max_length), mining._words(tgt_ids, 1, max_length)
        found = mining.miner.join_occurrences(*src.occurrences, *tgt.occurrences, src.words.counts,
                                              tgt.words.counts)
        general = batch_units(MatchedBatch(src.words, tgt.words, found), _token_offsets(src), _token_offsets(tgt))
        own = mining.mine(src_ids, tgt_ids, max_length).units
        assert len(found.sentence) > 100
        for name, want, got in zip(general._fields, general, own):
            assert np.array_equal(want, got), (kind, max_length, name)


def test_token_kinds():
    tokenizer = load_tokenizer(f"{DEMO}/tokenizer")
    kinds = token_kinds(tokenizer)
    vocab = tokenizer.get_vocab()
    assert kinds[vocab["▁"]] == MARKER and kinds[vocab[","]] == WORDLESS
    assert kinds[tokenizer.unk_token_id] == WORDLESS and kinds[vocab["▁Haus"]] == WORD
    assert token_kinds(_byte_level_bpe())[_byte_level_bpe().get_vocab()["Ġ"]] == SPACE


def test_kinds_count_combining_marks_as_letters():
    """A Devanagari vowel sign is part of its word (``पार्ट`` + ``ी``), not punctuation."""
    vocab = {"[UNK]": 0, "▁पार्ट": 1, "ी": 2, ",": 3, "▁": 4, "Ġ": 5}
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel(vocab, "[UNK]")),
                                                     unk_token="[UNK]")
    assert token_kinds(tokenizer).tolist() == [WORDLESS, WORD, WORD, WORDLESS, MARKER, SPACE]


def test_elided_articles_and_clitics_as_text_mining_reads_them(tmp_path):
    """``l’OTAN`` is looked up as ``otan`` (French elision, typographic apostrophe) and ``house's`` as ``house``
    (English clitic), as text mining segments them; the unit keeps the whole token word."""
    path = tmp_path / "en-fr.tsv"
    path.write_text("nato\totan\nhouse\tmaison\n", encoding="utf-8")
    miner = SynonymMiner(dictionary_for({"en-fr": str(path)}, "fr", "en"), "fr", "en")
    src, tgt = "Il parle de l’OTAN et de la maison .", "He speaks of NATO and of the house's roof ."
    words = dict.fromkeys(["[UNK]", *src.split(), *tgt.split()])  # whole words: ``l’OTAN`` is one token
    model = models.WordLevel({word: k for k, word in enumerate(words)}, "[UNK]")
    backend = Tokenizer(model)
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]")
    cut = TokenMiner(miner, tokenizer).mine_texts([src], [tgt], 64)
    src_index, tgt_index, synonyms, _ = cut.units.rows()[0]
    (src_ids,), (tgt_ids,) = cut.rows()
    found = {(tokenizer.decode([src_ids[k] for k, u in enumerate(src_index) if u == i]),
              tokenizer.decode([tgt_ids[k] for k, u in enumerate(tgt_index) if u == j]))
             for i, j in zip(synonyms[0::2], synonyms[1::2])}
    assert found == {("l’OTAN", "NATO"), ("maison", "house's")}


def test_cache_is_exact_across_batches_and_when_it_overflows(miner, monkeypatch):
    """Mining a batch with the cache warm from earlier batches, or starting afresh when full, gives what a fresh
    miner gives."""
    tokenizer = load_tokenizer(f"{DEMO}/tokenizer")
    fresh = TokenMiner(miner, tokenizer).mine_texts(SRC, TGT, 64)
    warm = TokenMiner(miner, tokenizer)
    warm.mine_texts(TGT[::-1], SRC[::-1], 64)
    monkeypatch.setattr(token_mining, "_CACHE_SIZE", 7)
    small = TokenMiner(miner, tokenizer)
    for cut in (warm.mine_texts(SRC, TGT, 64), small.mine_texts(SRC, TGT, 64), small.mine_texts(SRC, TGT, 64)):
        assert all(np.array_equal(a, b) for a, b in zip(fresh.units, cut.units))
    assert 0 < small.sides[0][0].cache.size <= 7


def test_long_words_are_decoded_each_time(miner, monkeypatch):
    """Words longer than the cache's row are not stored, and still looked up right."""
    tokenizer = load_tokenizer(f"{DEMO}/tokenizer")
    expected = TokenMiner(miner, tokenizer).mine_texts(SRC, TGT, 64).units
    monkeypatch.setattr(token_mining, "_CACHE_TOKENS", 1)
    short = TokenMiner(miner, tokenizer)
    for _ in range(2):
        assert all(np.array_equal(a, b) for a, b in zip(expected, short.mine_texts(SRC, TGT, 64).units))
    lookup = short.sides[0][0].cache
    assert (lookup.lengths[:lookup.size] == 1).all() and lookup.rows.shape[1] == 1


def test_cache_survives_a_hash_collision(miner, monkeypatch):
    """Every word hashed alike: the in-batch check groups them exactly and each word is still looked up right."""
    tokenizer = load_tokenizer(f"{DEMO}/tokenizer")
    expected = TokenMiner(miner, tokenizer).mine_texts(SRC, TGT, 64).units
    colliding = TokenMiner(miner, tokenizer)
    monkeypatch.setattr(trie, "_hashes", lambda values, column, bounds: np.zeros(len(bounds), np.int64))
    got = colliding.mine_texts(SRC, TGT, 64).units
    assert all(np.array_equal(a, b) for a, b in zip(expected, got))
    # One word per side and batch: the second batch's words hit the first's slots, hold other tokens, and are decoded.
    fresh = TokenMiner(miner, tokenizer)
    for src, tgt in (("Haus", "house"), ("grün", "green"), ("Haus", "house")):
        want = fresh.mine_texts([src], [tgt], 64).units
        assert all(np.array_equal(a, b) for a, b in zip(want, colliding.mine_texts([src], [tgt], 64).units))
        assert len(want.synonyms) == 2


def test_pickles(miner):
    tokenizer = load_tokenizer(f"{DEMO}/tokenizer")
    zh = dictionary_for({"en-zh": f"{DEMO}/dict/en-zh.tsv"}, "zh", "en")
    for mining, src, tgt in ((TokenMiner(miner, tokenizer), SRC, TGT),
                             (TokenMiner(SynonymMiner(zh, "zh", "en"), tokenizer), *_demo_pairs("zh", 40))):
        mining.mine_texts(src, tgt, 64)
        again = pickle.loads(pickle.dumps(mining))
        assert all(np.array_equal(a, b) for a, b in zip(mining.mine_texts(src, tgt, 64).units,
                                                        again.mine_texts(src, tgt, 64).units))


def _demo_pairs(lang: str, n: int | None = None) -> tuple[list[str], list[str]]:
    with open(resolve_path(f"{DEMO}/{lang}.txt"), encoding="utf-8") as src, \
            open(resolve_path(f"{DEMO}/en.txt"), encoding="utf-8") as tgt:
        return src.read().splitlines()[:n], tgt.read().splitlines()[:n]


# Chinese with what a tokenizer's normalisation changes (full-width letters, digits and punctuation), spaces, Latin
# words, a character no vocabulary holds, and a sentence cut by the length limit.
ZH_EDGES = ["索菲亚喜欢胡萝卜，ＡＢＣ１２３。", "  索菲亚   今天 生病了 ", "我们 喜欢 Python3！", "索菲亚是记者🦜。",
            "", "索菲亚" * 30 + "记者"]


def test_no_space_side_token_characters_are_the_tokenizers_offsets():
    """A side written without spaces is cut in the text its pieces spell; where that text is the sentence itself
    (unchanged by normalisation, single spaces), each token's characters are the tokenizer's offsets, one
    character on (the ``▁`` the tokenizer puts first), and the words those of the sentence."""
    tokenizer = load_tokenizer(f"{DEMO}/tokenizer")
    zh = dictionary_for({"en-zh": f"{DEMO}/dict/en-zh.tsv"}, "zh", "en")
    mining = TokenMiner(SynonymMiner(zh, "zh", "en"), tokenizer)
    texts = _demo_pairs("zh")[0] + ZH_EDGES
    encoded = encode_with_offsets(tokenizer, texts, 10_000)
    side = mining._text_words([ids for ids, _ in encoded], 0, 10_000)
    words = mining.miner.segment_batch(texts, "src")
    bounds = np.cumsum([len(ids) for ids, _ in encoded])
    word_bounds = np.cumsum(words.counts)
    checked = 0
    for k, (text, (ids, offsets)) in enumerate(zip(texts, encoded)):
        if text != " ".join(text.split()) or unicodedata.normalize("NFKC", text) != text or not ids:
            continue
        checked += 1
        tokens = slice(bounds[k] - len(ids), bounds[k])
        assert list(zip(side.token_start[tokens] - 1, side.token_end[tokens] - 1)) == [tuple(o) for o in offsets], text
        own, theirs = slice(word_bounds[k] - words.counts[k], word_bounds[k]), slice(
            np.cumsum(side.words.counts)[k] - side.words.counts[k], np.cumsum(side.words.counts)[k])
        assert side.words.words[theirs] == words.words[own], text
        assert np.array_equal(side.words.starts[theirs] - 1, words.starts[own]), text
    assert checked > 400  # the rest hold full-width punctuation, which NFKC changes


@pytest.mark.parametrize("max_length", [64, 8])
def test_no_space_pairs_mined_on_tokens_as_on_text(max_length):
    """zh-en on token ids (the Chinese side cut in its pieces' text, the English side read off its tokens) stores
    the ids text mining stores, the same Chinese units wherever the pieces spell the sentence itself, and nearly the
    same synonym pairs (the English words are the tokenizer's); the edge cases run through."""
    tokenizer = load_tokenizer(f"{DEMO}/tokenizer")
    zh = dictionary_for({"en-zh": f"{DEMO}/dict/en-zh.tsv"}, "zh", "en")
    miner = SynonymMiner(zh, "zh", "en", {lang: default_stop_words(lang) for lang in ("zh", "en")})
    src, tgt = _demo_pairs("zh")
    src, tgt = src + ZH_EDGES, tgt + ["Sofia likes carrots, ABC123."] * len(ZH_EDGES)
    so, to = encode_with_offsets(tokenizer, src, max_length), encode_with_offsets(tokenizer, tgt, max_length)
    text = mine_units_batch(miner, src, tgt, [o for _, o in so], [o for _, o in to])
    cut = TokenMiner(miner, tokenizer).mine_texts(src, tgt, max_length)
    assert cut.rows() == ([ids for ids, _ in so], [ids for ids, _ in to])
    same_units = same_pairs = pairs = found = 0
    for sentence, want, got in zip(src, text.rows(), cut.units.rows()):
        if sentence == " ".join(sentence.split()) and unicodedata.normalize("NFKC", sentence) == sentence:
            same_units += want[0] == got[0]
        else:
            same_units += 1
        synonyms = [{(tuple(np.flatnonzero(np.array(row[0]) == i)), tuple(np.flatnonzero(np.array(row[1]) == j)))
                     for i, j in zip(row[2][0::2], row[2][1::2])} for row in (want, got)]
        same_pairs, pairs, found = (same_pairs + len(synonyms[0] & synonyms[1]), pairs + len(synonyms[0]),
                                    found + len(synonyms[1]))
    assert same_units == len(src)
    assert pairs > 150 and same_pairs >= 0.95 * pairs and same_pairs >= 0.95 * found, (same_pairs, pairs, found)


def test_refuses_no_space_sides_without_sentencepiece_pieces():
    """Byte-level BPE and WordPiece pieces do not spell a Chinese sentence's characters one for one: such a pair is
    refused (the datamodule mines it on text)."""
    zh = dictionary_for({"en-zh": f"{DEMO}/dict/en-zh.tsv"}, "zh", "en")
    for kind in ("byte-level BPE", "wordpiece"):
        tokenizer = TOKENIZERS[kind]()
        assert token_mining.piece_texts(tokenizer) is None
        with pytest.raises(ValueError, match="without spaces"):
            TokenMiner(SynonymMiner(zh, "zh", "en"), tokenizer)
    pieces = token_mining.piece_texts(load_tokenizer(f"{DEMO}/tokenizer"))
    assert pieces is not None and " " in pieces and all(piece for piece in pieces)


def test_empty_batch(miner):
    cut = TokenMiner(miner, load_tokenizer(f"{DEMO}/tokenizer")).mine([], [], 64)
    assert cut.units.counts.shape[0] == 0 and cut.rows() == ([], [])
    assert TokenMiner(miner, load_tokenizer(f"{DEMO}/tokenizer")).mine_texts([], [], 64).rows() == ([], [])


@pytest.mark.parametrize("kind", list(TOKENIZERS))
def test_target_side_tokenized_on_a_thread_gives_the_same(miner, kind):
    """``mine_texts`` (the target side tokenized on a thread while the source side is mined) stores what ``mine``
    stores given both sides' ids, on a cold and on a warm word cache."""
    tokenizer = TOKENIZERS[kind]()
    src, tgt = SRC * 3, TGT[::-1] * 3
    expected = TokenMiner(miner, tokenizer).mine(encode_ids(tokenizer, src), encode_ids(tokenizer, tgt), 8)
    threaded = TokenMiner(miner, tokenizer)
    for _ in range(2):
        cut = threaded.mine_texts(src, tgt, 8)
        assert cut.rows() == expected.rows()
        assert all(np.array_equal(a, b) for a, b in zip(cut.units, expected.units))


ODD_PIECES = ["\u00a0", "\t", "  ", "\u200b", "\u200d", "🦜", "👩\u200d👩\u200d👧", "e\u0301", "ﬁ", "Ⅳ", "①", "‐", "—",
              "'", "’", "«", "»", "(", "…", "１２３", "ＡＢＣ", "中文", "عربي", "\u0301", "ß", "İ", "ǅ", "x" * 40,
              "a-b-c", "$5", "3.14", "<mask>", "[UNK]"]


def _odd_pairs(rng: random.Random, n: int) -> tuple[list[str], list[str]]:
    """Sentence pairs holding translations from ``ENTRIES`` (each side's in its own order, sometimes upper-cased)
    among odd pieces (marks alone, joiners, emoji sequences, full-width and compatibility characters, other
    scripts, special tokens' texts), joined by spaces, by nothing or by double spaces."""
    sides: tuple[list[str], list[str]] = ([], [])
    for _ in range(n):
        entries = [entry.split("\t") for entry in rng.choices(ENTRIES, k=rng.randint(0, 5))]
        for side, words in zip(sides, ([de for _, de in entries], [en for en, _ in entries])):
            parts = [word.upper() if rng.random() < 0.1 else word for word in words]
            parts += rng.choices(ODD_PIECES, k=rng.randint(0, 6))
            rng.shuffle(parts)
            side.append(rng.choice([" ", " ", "", "  "]).join(parts) + rng.choice(["", "", ".", "!"]))
    return sides


@pytest.mark.parametrize("kind", list(TOKENIZERS))
def test_random_odd_text_mines_consistently(miner, kind):
    """On random odd text, at lengths that cut words, both ways store a unit index for every kept token and
    synonym pairs one-to-one between units that kept a token, and token mining stores the tokenizer's ids."""
    tokenizer = TOKENIZERS[kind]()
    mining = TokenMiner(miner, tokenizer)
    found = {"text": 0, "tokens": 0}
    for seed in range(3):
        src, tgt = _odd_pairs(random.Random(seed), 30)
        for max_length in (64, 5, 1):
            so, to = encode_with_offsets(tokenizer, src, max_length), encode_with_offsets(tokenizer, tgt, max_length)
            cut = mining.mine_texts(src, tgt, max_length)
            assert cut.rows() == ([ids for ids, _ in so], [ids for ids, _ in to])
            text = mine_units_batch(miner, src, tgt, [o for _, o in so], [o for _, o in to])
            for way, units in (("text", text), ("tokens", cut.units)):
                for (src_index, tgt_index, synonyms, _), (ids, _), (other, _) in zip(units.rows(), so, to):
                    assert len(src_index) == len(ids) and len(tgt_index) == len(other), way
                    i, j = synonyms[0::2], synonyms[1::2]
                    assert set(i) <= set(src_index) and set(j) <= set(tgt_index), (way, synonyms, src_index, tgt_index)
                    assert len(set(i)) == len(i) and len(set(j)) == len(j), way
                    found[way] += len(i)
    assert min(found.values()) > 100, found  # the checks above saw synonym pairs


ODD = ["Das 🦜 Haus <mask> ＡＢＣ ǅ x", "l’OTAN  ▁ Haus’s", "Straße STRASSE ﬁnal", "  ", "Ünïcödé ä-ö_ü 42.5%"]


def _spans(ids: list[list[int]], longest: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Every run of 1 to ``longest`` consecutive tokens of each sentence, flat, with the length of each."""
    runs = [sentence[a:a + k] for sentence in ids for a in range(len(sentence)) for k in range(1, longest + 1)
            if a + k <= len(sentence)]
    lengths = np.array([len(run) for run in runs], np.int64)
    return np.array([t for run in runs for t in run], np.int64), lengths


def test_new_words_spelled_from_the_pieces_as_the_tokenizer_decodes_them(miner):
    """With a SentencePiece-style tokenizer a new word's text is its pieces' texts joined: for every run of up to
    three tokens of the demo corpus and of odd text (an unknown character, a special token's text, full-width letters,
    ligatures, a bare marker), the same normalised text as the tokenizer's decoding, which words holding a piece
    that cannot be spelled (the unknown and special tokens) still go through."""
    tokenizer = load_tokenizer(f"{DEMO}/tokenizer")
    lookup = TokenMiner(miner, tokenizer).sides[0][0]
    assert lookup.table is not None
    src, _ = _demo_pairs("de", 300)
    ids = encode_ids(tokenizer, src + SRC + ODD)
    assert tokenizer.unk_token_id in sum(ids, []) and tokenizer.mask_token_id in sum(ids, [])
    tokens, lengths = _spans(ids)
    assert lookup._texts(tokens, lengths) == lookup._decoded(token_mining._split(tokens, lengths))


def test_spelled_and_decoded_words_mine_the_same(monkeypatch):
    tokenizer = load_tokenizer(f"{DEMO}/tokenizer")
    miner = SynonymMiner(dictionary_for({"en-de": f"{DEMO}/dict/en-de.tsv"}, "de", "en"), "de", "en")
    src, tgt = _demo_pairs("de", 200)
    src, tgt = src + SRC + ODD, tgt + TGT + ODD
    spelled = TokenMiner(miner, tokenizer).mine_texts(src, tgt, 64)
    monkeypatch.setattr(token_mining, "_decodes_piecewise", lambda backend: False)
    decoding = TokenMiner(miner, tokenizer)
    assert decoding.sides[0][0].table is None
    cut = decoding.mine_texts(src, tgt, 64)
    assert len(cut.units.synonyms) > 100
    assert all(np.array_equal(a, b) for a, b in zip(spelled.units, cut.units))


def test_which_decoders_spell_piece_by_piece():
    """SentencePiece's ``Metaspace`` and the ``Replace``/``ByteFallback``/``Fuse``/``Strip`` sequence of
    Llama-style tokenizers write each piece as its own text; byte-level BPE and WordPiece decoders do not, and their
    words are decoded by the tokenizer."""
    backend = Tokenizer(models.WordLevel({"a": 0}, unk_token="a"))
    for decoder, expected in ((decoders.Metaspace(), True),
                              (decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                                  decoders.Strip(" ", 1, 0)]), True),
                              (decoders.ByteLevel(), False), (decoders.WordPiece(), False),
                              (decoders.Sequence([decoders.Replace("▁", " "), decoders.WordPiece()]), False),
                              (decoders.Sequence([decoders.Replace("ab", "c"), decoders.Fuse()]), False),
                              (decoders.Sequence([decoders.Replace("▁", " "), decoders.Strip("x", 1, 0)]), False),
                              (decoders.Metaspace(replacement="_"), False),
                              (None, False)):
        if decoder is not None:
            backend.decoder = decoder
        assert token_mining._decodes_piecewise(backend) is expected, decoder
    for kind in ("byte-level BPE", "wordpiece"):
        assert TokenMiner(SynonymMiner(dictionary_for({"en-de": f"{DEMO}/dict/en-de.tsv"}, "de", "en"), "de", "en"),
                          TOKENIZERS[kind]()).sides[0][0].table is None


@pytest.mark.parametrize("num_proc", [None, 2])
def test_datamodule_option(tmp_path, num_proc):
    """``mining: tokens`` stores what ``text`` stores on the demo corpus (de-en, and zh-en, whose Chinese side is cut
    in the text of its SentencePiece pieces), in its own cache, and says how each pair was mined."""
    dictionaries = {"en-de": f"{DEMO}/dict/en-de.tsv", "en-zh": f"{DEMO}/dict/en-zh.tsv"}
    prepared = {}
    for mining in ("text", "tokens"):
        dm = SynonymAlignedDataModule(
            files={f"{lang}-en": ParallelSource(src=f"{DEMO}/{lang}.txt", tgt=f"{DEMO}/en.txt")
                   for lang in ("de", "zh")},
            dictionaries=dictionaries, tokenizer=f"{DEMO}/tokenizer", max_length=64, batch_size=8, val_pairs=8,
            cache_dir=str(tmp_path / "cache"), mining=mining, num_proc=num_proc)
        dm.prepare_data()
        dm.setup("fit")
        prepared[mining] = dm
        assert {pair: stats["mining"] for pair, stats in dm.mining_stats.items()} == {
            "de-en": mining, "zh-en": mining}
    assert prepared["text"].cache_location("de-en") != prepared["tokens"].cache_location("de-en")
    # The units differ only where the tokenizer's words are not text mining's (an English clitic, ``Max's``, that
    # text mining drops stays with its word; ``o'clock`` is one word), which also renumbers the units after them.
    for pair in ("de-en", "zh-en"):
        text, tokens = prepared["text"].train_sets[pair], prepared["tokens"].train_sets[pair]
        for column in ("src", "tgt"):
            assert list(text[column]) == list(tokens[column]), (pair, column)
        for column in ("src_words", "tgt_words", "synonyms"):
            same = sum(a == b for a, b in zip(text[column], tokens[column]))
            assert same >= 0.95 * len(text), (pair, column, same, len(text))
    text, tokens = prepared["text"].train_sets["de-en"], prepared["tokens"].train_sets["de-en"]
    assert [len(row) for row in text["synonyms"]] == [len(row) for row in tokens["synonyms"]]


def test_datamodule_mines_no_space_pairs_on_text_without_sentencepiece_pieces(tmp_path, monkeypatch):
    """With a tokenizer whose pieces do not spell the text (byte-level BPE, WordPiece), ``mining: tokens`` mines a
    pair with a side written without spaces on text, and says so."""
    monkeypatch.setattr(token_mining, "piece_texts", lambda tokenizer, vocabulary=None: None)
    dm = SynonymAlignedDataModule(
        files={f"{lang}-en": ParallelSource(src=f"{DEMO}/{lang}.txt", tgt=f"{DEMO}/en.txt") for lang in ("de", "zh")},
        dictionaries={"en-de": f"{DEMO}/dict/en-de.tsv", "en-zh": f"{DEMO}/dict/en-zh.tsv"},
        tokenizer=f"{DEMO}/tokenizer", max_length=64, batch_size=8, val_pairs=8, cache_dir=str(tmp_path / "cache"),
        mining="tokens")
    dm.prepare_data()
    dm.setup("fit")
    assert {pair: stats["mining"] for pair, stats in dm.mining_stats.items()} == {"de-en": "tokens", "zh-en": "text"}


def test_unknown_option():
    with pytest.raises(ValueError, match="mining"):
        SynonymAlignedDataModule(files={}, mining="words")


# Texts the demo tokenizer's pieces spell (plain, and NFKC's one-for-one changes: a non-breaking space, a full-width
# comma), and texts they do not: a run of spaces, a leading or a trailing space, a ligature NFKC expands, a combining
# sequence it composes, characters the demo vocabulary lacks, an empty text; and a text longer than the cut.
SPELLED = ["Das Haus ist grün.", "Grün ist das Haus", "The house is green.", "Das Haus ist\u00a0grün.",
           "Das Haus，grün ist das Haus"]
UNSPELLED = ["HAUS und Haus!", "zwei  Leerzeichen", " vorne", "hinten ", "\ufb01nden und e\u0301t\u00e9",
             "Emoji 🙂 und 𝔘nicode", "", "中国人民银行今天宣布"]
OFFSET_TEXTS = [*SPELLED, *UNSPELLED, *SRC, *TGT, "Länge " * 80]


def spells(spelled: str, text: str) -> bool:
    """The rule PieceOffsets.exact applies to a whole batch, one text at a time: the pieces joined are the text after
    a space, each character that differs being the text's under NFKC."""
    return spelled[:1] == " " and len(spelled) == len(text) + 1 and all(
        a == b or unicodedata.normalize("NFKC", b) == a for a, b in zip(spelled[1:], text))


def assert_read_as_tracked(offsets, tokenizer, texts, max_length):
    """Ids and offsets read off the pieces are the tokenizer's own, tracked, text by text; returns which were read."""
    ids, (starts, ends, kept), read = offsets.read(tokenizer, texts, max_length)
    tracked = encode_with_offsets(tokenizer, texts, max_length)
    assert ids.to_pylist() == [row for row, _ in tracked]
    assert kept.tolist() == [len(row) for _, row in tracked]
    assert list(zip(starts.tolist(), ends.tolist())) == [span for _, row in tracked for span in row]
    return read


@pytest.mark.parametrize("kind", list(TOKENIZERS))
def test_piece_offsets_are_the_tokenizers(kind):
    """Offsets read off the pieces, with the texts the pieces do not spell encoded again with offsets tracked, are
    the tokenizer's own offsets and ids, text by text, cut where the tokenizer cuts them; most plain texts are read
    off the pieces. Tokenizers without SentencePiece-style pieces have none to read."""
    tokenizer = TOKENIZERS[kind]()
    pieces = token_mining.piece_texts(tokenizer)
    if kind != "sentencepiece":
        assert pieces is None
        return
    offsets = token_mining.PieceOffsets(pieces)
    for max_length in (62, 8):
        assert_read_as_tracked(offsets, tokenizer, OFFSET_TEXTS + _corpus_lines()[:200], max_length)
    spelled = [spells("".join(pieces[i] for i in row), text)
               for row, text in zip(encode_ids(tokenizer, OFFSET_TEXTS), OFFSET_TEXTS)]
    tokens = token_mining._Tokens.of(encode_ids(tokenizer, OFFSET_TEXTS), 62)
    assert offsets.exact(tokens, OFFSET_TEXTS).tolist() == spelled  # the batch check: each text's
    assert offsets.read(tokenizer, [], 62)[2].tolist() == []
    assert spelled[:len(SPELLED)] == [True] * len(SPELLED)
    assert spelled[len(SPELLED):len(SPELLED) + len(UNSPELLED)] == [False] * len(UNSPELLED)
    assert offsets.read(tokenizer, _corpus_lines(), 62)[2].mean() > 0.8


def test_offset_reader_decides_on_its_first_batch(monkeypatch):
    """An OffsetReader reads offsets off the pieces only when most of its first batch is spelled exactly and the
    result for its first ``check_texts`` texts equals the tracked offsets; otherwise, or without pieces, it tracks
    them; either way its results are the tokenizer's."""
    tokenizer = TOKENIZERS["sentencepiece"]()
    pieces = token_mining.PieceOffsets(token_mining.piece_texts(tokenizer))
    texts = _corpus_lines()[:100]
    expected = encode_with_offsets(tokenizer, texts, 62)

    def same(result):
        ids, (starts, ends, kept) = result
        return (ids.to_pylist() == [row for row, _ in expected] and kept.tolist() == [len(row) for _, row in expected]
                and list(zip(starts.tolist(), ends.tolist())) == [span for _, row in expected for span in row])

    for check_texts in (256, 7):  # the whole first batch checked, or its first 7 texts
        reader = token_mining.OffsetReader(pieces, check_texts=check_texts)
        assert same(reader(tokenizer, texts, 62)) and reader.decided is True
        assert same(reader(tokenizer, texts, 62))  # the next batches: read off the pieces
        assert same(reader.finish(tokenizer, texts, reader.encode(tokenizer, texts, 62), 62))  # in two steps
    two_steps = token_mining.OffsetReader(pieces)
    assert same(two_steps.finish(tokenizer, texts, two_steps.encode(tokenizer, texts, 62), 62))
    assert two_steps.decided is True
    empty = token_mining.OffsetReader(pieces)
    assert len(empty(tokenizer, [], 62)[0]) == 0 and empty.decided is None  # an empty batch decides nothing
    picky = token_mining.OffsetReader(pieces, min_share=1.01)  # no batch is spelled that well
    assert same(picky(tokenizer, texts, 62)) and picky.decided is False
    assert same(picky(tokenizer, texts, 62))  # and the next batches are tracked
    read_ids = token_mining.PieceOffsets.read_ids

    def shifted(self, *args):  # offsets by another rule than the tokenizer's
        ids, (starts, ends, kept), exact = read_ids(self, *args)
        return ids, (starts + 1, ends + 1, kept), exact

    monkeypatch.setattr(token_mining.PieceOffsets, "read_ids", shifted)
    for check_texts in (256, 1):
        wary = token_mining.OffsetReader(pieces, check_texts=check_texts)
        assert same(wary(tokenizer, texts, 62)) and wary.decided is False
        assert same(wary(tokenizer, texts, 62))
    none = token_mining.OffsetReader(None)
    assert same(none(tokenizer, texts, 62)) and none.decided is False


def test_text_mining_stores_the_same_with_offsets_read_off_the_pieces(tmp_path, monkeypatch):
    """Text mining prepares the same columns whether its offsets are read off the pieces or tracked by the
    tokenizer (the demo corpus, de-en and zh-en)."""
    prepared = []
    for read_pieces in (True, False):
        if not read_pieces:
            monkeypatch.setattr(SynonymAlignedDataModule, "piece_offsets", lambda self: None)
        dm = SynonymAlignedDataModule(
            files={f"{lang}-en": ParallelSource(src=f"{DEMO}/{lang}.txt", tgt=f"{DEMO}/en.txt")
                   for lang in ("de", "zh")},
            dictionaries={"en-de": f"{DEMO}/dict/en-de.tsv", "en-zh": f"{DEMO}/dict/en-zh.tsv"},
            tokenizer=f"{DEMO}/tokenizer", max_length=64, batch_size=8, val_pairs=8,
            cache_dir=str(tmp_path / f"cache{read_pieces}"))
        dm.prepare_data()
        dm.setup("fit")
        prepared.append(dm)
    for pair in ("de-en", "zh-en"):
        for column in ("src", "tgt", "src_words", "tgt_words", "synonyms"):
            assert list(prepared[0].train_sets[pair][column]) == list(prepared[1].train_sets[pair][column]), (
                pair, column)


def _expanded_spans_one(text, spelled, start, end, mine):
    """The rule of token_mining._expanded_spans for one sentence, written plainly: ``spelled`` its spelled code
    points, ``start[mine]`` / ``end[mine]`` its spans; moves them in place and says whether it did."""
    forms = [unicodedata.normalize("NFKC", char) for char in text]
    if not (len(spelled) and spelled[0] == 32) or [chr(c) for c in spelled[1:].tolist()] != list("".join(forms)):
        return False
    bound = np.r_[0, np.cumsum([len(form) for form in forms])].astype(np.int64)
    s, e = start[mine], end[mine]
    if len(s) and (s.min() < 0 or e.max() > bound[-1] or (e <= s).any()):
        return False
    start[mine] = np.searchsorted(bound, s, "right") - 1
    end[mine] = np.searchsorted(bound, e - 1, "right")
    return True


def test_expanded_spans_of_a_batch_equal_one_by_one():
    """Spans moved back onto characters whose NFKC forms are longer, for many sentences at once, are those of the
    rule applied sentence by sentence: random texts of nukta letters, ligatures, ellipses and plain characters (some
    empty), spelled as their forms or not (a character changed, one too many, no leading space), with random spans
    (some empty, reversed or outside the text)."""
    rng = random.Random(0)
    chars = ["\u0958", "\u095b", "\u0915", "\u093c", "\ufb01", "\u2026", "\u338f", "a", "b", " ", "é", "\u00a0"]
    texts, spelled, first, starts, ends = [], [], [], [], []
    for _ in range(400):
        text = "".join(rng.choice(chars) for _ in range(rng.randint(0, 12)))
        form = " " + "".join(unicodedata.normalize("NFKC", char) for char in text)
        damage = rng.random()
        if damage < 0.1 and len(form) > 1:
            form = form[:-1] + "x"
        elif damage < 0.15:
            form = form + "y"
        elif damage < 0.2:
            form = form[1:]
        texts.append(text)
        spelled.append(form)
        first.append(len(starts))
        for _ in range(rng.randint(0, 5)):
            a = rng.randint(-1, len(form))
            b = a + rng.randint(-1, 3) if rng.random() < 0.1 else rng.randint(a + 1, len(form) + 1)
            starts.append(a)
            ends.append(b)
    lengths = np.diff(np.r_[first, len(starts)])
    tokens = token_mining._Tokens(np.zeros(len(starts), np.int64), np.array(first, np.int64),
                                  np.repeat(np.arange(len(texts)), lengths), np.zeros(len(starts), np.int64),
                                  lengths, np.ones(len(starts), bool))
    points = np.frombuffer("".join(spelled).encode("utf-32-le"), np.uint32)
    spelled_length = np.array([len(form) for form in spelled], np.int64)
    spelled_begin = np.cumsum(spelled_length) - spelled_length
    start, end = np.array(starts, np.int64), np.array(ends, np.int64)
    which = np.arange(len(texts))[::-1][np.arange(len(texts)) % 3 != 1]  # any order, some sentences left out
    batch_start, batch_end = start.copy(), end.copy()
    moved = token_mining._expanded_spans(texts, which, points, spelled_begin, spelled_length, tokens, batch_start,
                                         batch_end)
    expected = []
    for k in which.tolist():
        mine = slice(first[k], first[k] + int(lengths[k]))
        at = int(spelled_begin[k])
        expected.append(_expanded_spans_one(texts[k], points[at:at + int(spelled_length[k])], start, end, mine))
    assert moved.tolist() == expected
    assert 50 < sum(expected) < len(expected)
    assert batch_start.tolist() == start.tolist() and batch_end.tolist() == end.tolist()


def test_piece_offsets_of_texts_nfkc_expands():
    """A text some of whose characters NFKC makes longer (an ellipsis, a ligature, a full-width unit) has its offsets
    read off the pieces, moved back onto its characters: the tokenizer's own offsets; a text where a token ends inside
    such a character's form, or where NFKC composes two characters, is tracked."""
    tokenizer = TOKENIZERS["sentencepiece"]()
    offsets = token_mining.PieceOffsets(token_mining.piece_texts(tokenizer))
    texts = ["Das Haus … ist grün.", "Das Haus ist grün…", "\ufb01nden Haus", "Das Haus ist grün. 5 \u338f",
             "Das Haus ist e\u0301te\u0301.", *SPELLED, *UNSPELLED]
    tokens = token_mining._Tokens.of(encode_ids(tokenizer, texts), 62)
    exact = offsets.exact(tokens, texts)
    for max_length in (62, 4):
        read = assert_read_as_tracked(offsets, tokenizer, texts, max_length)
    assert (read >= exact).all() and read[:2].all() and not exact[:2].any()  # the ellipses: read, not spelled
