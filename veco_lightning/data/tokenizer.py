"""XLM-R-compatible SentencePiece tokenizers: loading, training and word-start tables.

The encoder is pre-trained from scratch, so it can use either a published XLM-R tokenizer
(a Hub name) or one trained here on the pre-training corpus. Both must look the same to the
rest of the package: special ids ``<s>=0 <pad>=1 </s>=2 <unk>=3``, ``<mask>`` last, and
XLM-R's single/pair templates, so that checkpoints and collators never special-case the
tokenizer's origin. Task inputs (XTREME fine-tuning) follow the tokenizer's own layout instead, so that an
encoder with another tokenizer (multilingual BERT's WordPiece: ``[CLS] A [SEP] B [SEP]`` with token types) is
fine-tuned as it was trained (:func:`special_template`).
"""

from __future__ import annotations

import json
import logging
import os
import random
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import transformers
from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from veco_lightning.data.readers import BadLinePolicy, expand_globs, iter_lines
from veco_lightning.data.sampling import smoothed_probabilities
from veco_lightning.lexicon.badinput import plain_name
from veco_lightning.paths import looks_local, model_dir, resolve_path

logger = logging.getLogger(__name__)

SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>")
MASK_TOKEN = "<mask>"
_TOKENIZER_FILES = (
    "tokenizer.json", "tokenizer_config.json", "sentencepiece.bpe.model", "spiece.model",
    "tokenizer.model", "vocab.txt", "vocab.json",
)
_FIX_HINT = (
    "train one with `veco-train-tokenizer --files '{en: [corpus/en.txt]}' --output_dir DIR "
    "--vocab_size 32000`, or point to a directory holding tokenizer.json / sentencepiece.bpe.model"
)
# Scripts written without spaces between words (CJK ideographs, kana, Hangul, Thai, Lao,
# Myanmar, Khmer). A SentencePiece piece starting with one of them gets no '▁', yet it must not
# be glued to the previous piece as a "continuation", or whole-word masking would mask whole
# sentences at once.
_NO_SPACE_RANGES = (
    (0x0E00, 0x0EFF), (0x1000, 0x109F), (0x1100, 0x11FF), (0x1780, 0x17FF),
    (0x3040, 0x30FF), (0x3130, 0x318F), (0x31F0, 0x31FF), (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF), (0xA960, 0xA97F), (0xAC00, 0xD7FF), (0xF900, 0xFAFF),
    (0xFF66, 0xFF9F), (0x20000, 0x3134F),
)
# Words the Rust tokenizer's model (Unigram, BPE) keeps with their pieces. Its cache never evicts: once full it stops
# adding, and at its default of 10,000 words it is full within a language pair's first thousands of sentences, after
# which every later language is encoded word by word anew. At 100,000 words (about 8 MiB more per process), carried
# from source to source, the real parallel text of the shared data (NTREX, XNLI, Tatoeba; 10 pairs, 259,920 sentences,
# pair after pair) encoded 1.10-1.16x faster than with the default, each pair's second half (its first half seen)
# 1.34-1.38x, and the MLQA paragraphs of 7 languages 1.04-1.11x (benchmarks/tokenizer_cache.py; benchmarks/README.md,
# "The tokenizer's cache of encoded words").
TOKENIZER_CACHE = 100_000
# A source (a language or a language pair) of at least this many texts starts with an empty cache
# (source_tokenizer_cache): a cache full of earlier sources' words would serve little of a large source in another
# language, and a large source refills it with its own frequent words at no measurable cost. Smaller sources keep
# what earlier ones cached (the English side of language pairs recurs). With a cache that earlier sources fill
# (30,000 words, which the shared data fills), emptying it at each pair's start encoded the pairs 1.08x faster than
# the default, carrying it over 0.99x; with room to spare (100,000 words), carrying it over gave 1.16x, emptying it at
# every pair 1.04x.
FRESH_CACHE_TEXTS = 100_000
# tokenizers' Unigram trainer gives corpus characters missing from the EM model scores
# min_score + k * 1e-4 in hash-set order; see _canonical_pieces.
_PENALTY_STEP = 1e-4


def load_tokenizer(name_or_path: str) -> transformers.PreTrainedTokenizerBase:
    """Load a tokenizer from a local directory or the Hugging Face Hub.

    A missing local tokenizer is the most common set-up mistake, and transformers reports it as
    an opaque Hub lookup failure; this raises an error that says how to fix it instead. The
    special tokens MLM pre-training relies on are checked here, once, rather than failing deep
    inside a collator.

    Args:
        name_or_path: A directory (or a ``tokenizer.json`` inside one) or a Hub model id.

    Returns:
        The loaded tokenizer.

    Raises:
        FileNotFoundError: If a local path does not exist or holds no tokenizer files, or the
            name is neither a local directory nor loadable from the Hub.
        ValueError: If the mask, pad, bos/cls or eos/sep token is missing.
    """
    path = model_dir(resolve_path(name_or_path))
    if os.path.isfile(path):
        path = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        if not any(os.path.exists(os.path.join(path, f)) for f in _TOKENIZER_FILES):
            raise FileNotFoundError(f"Tokenizer directory {path!r} holds no tokenizer files: {_FIX_HINT}.")
        tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    elif looks_local(name_or_path):
        raise FileNotFoundError(f"Tokenizer path {name_or_path!r} does not exist: {_FIX_HINT}.")
    else:
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(name_or_path)
        except OSError as exc:
            raise FileNotFoundError(
                f"Tokenizer {name_or_path!r} is neither a local directory nor loadable from the "
                f"Hugging Face Hub ({exc}). Either {_FIX_HINT}."
            ) from exc
    missing = []
    for label, tokens in (("mask", ("mask_token",)), ("pad", ("pad_token",)),
                          ("bos/cls", ("bos_token", "cls_token")), ("eos/sep", ("eos_token", "sep_token"))):
        if not any(_has_token(tokenizer, attr) for attr in tokens):
            missing.append(label)
    if missing:
        raise ValueError(f"Tokenizer {name_or_path!r} lacks required special token(s): {', '.join(missing)}.")
    fresh_tokenizer_cache(tokenizer)
    return tokenizer


def boundary_ids(tokenizer: transformers.PreTrainedTokenizerBase) -> tuple[int, int]:
    """The ids that open and close a sequence: XLM-R's ``<s>`` and ``</s>``, BERT's ``[CLS]`` and ``[SEP]`` (a
    WordPiece tokenizer such as multilingual BERT's sets no ``bos``/``eos``; ``load_tokenizer`` accepts either)."""
    def first_set(*names: str) -> int | None:
        return next((i for i in (getattr(tokenizer, name, None) for name in names) if i is not None), None)

    first, last = first_set("cls_token_id", "bos_token_id"), first_set("sep_token_id", "eos_token_id")
    if first is None or last is None:
        raise ValueError(f"{type(tokenizer).__name__} sets neither a cls/bos nor a sep/eos token")
    return first, last


@dataclass(frozen=True)
class SpecialTemplate:
    """Where a tokenizer puts its special tokens around one text or a pair, and the segment (token type) of each
    part: XLM-R ``<s> A </s></s> B </s>`` (all type 0), BERT ``[CLS] A [SEP] B [SEP]`` (B and its ``[SEP]`` type 1).

    Read from the tokenizer's own post-processor (:func:`special_template`), so that a task input built from
    pre-tokenized pieces (tagging windows, QA windows) is what the tokenizer itself would give the text.
    """

    prefix: tuple[int, ...]  # before A
    middle: tuple[int, ...]  # between A and B (a pair)
    suffix: tuple[int, ...]  # after the last text
    types: tuple[int, int, int, int]  # token type of prefix + A, middle, B, suffix
    token_types: bool  # whether the model takes token_type_ids (the tokenizer returns them)

    @property
    def specials(self) -> int:
        return len(self.prefix) + len(self.middle) + len(self.suffix)

    def fill(self, a: list[int], b: list[int] | None = None) -> tuple[list[int], list[int]]:
        """``(input_ids, token_type_ids)`` of ``a`` (and ``b``) with the special tokens."""
        if b is None:
            ids = [*self.prefix, *a, *self.suffix]
            return ids, [self.types[0]] * len(ids)
        ids = [*self.prefix, *a, *self.middle, *b, *self.suffix]
        types = ([self.types[0]] * (len(self.prefix) + len(a)) + [self.types[1]] * len(self.middle)
                 + [self.types[2]] * len(b) + [self.types[3]] * len(self.suffix))
        return ids, types


def special_template(tokenizer: transformers.PreTrainedTokenizerBase, pair: bool) -> SpecialTemplate:
    """The :class:`SpecialTemplate` of ``tokenizer`` for one text or a pair, from its post-processor; a tokenizer
    without one (a slow tokenizer) gets XLM-R's ``<s> A </s></s> B </s>`` with its :func:`boundary_ids`."""
    token_types = "token_type_ids" in getattr(tokenizer, "model_input_names", ())
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None and backend.post_processor is not None:
        a = backend.encode("a", add_special_tokens=False)
        b = backend.encode("b", add_special_tokens=False) if pair else None
        if len(a) and (b is None or len(b)):
            encoding = backend.post_process(a, b)
            ids, special, types = encoding.ids, encoding.special_tokens_mask, encoding.type_ids
            texts = [k for k, flag in enumerate(special) if not flag]  # A's positions, then B's
            start_a, end_a = texts[0], texts[len(a) - 1] + 1
            if b is None:
                return SpecialTemplate(tuple(ids[:start_a]), (), tuple(ids[end_a:]), (types[0], 0, 0, 0),
                                       token_types)
            start_b, end_b = texts[len(a)], texts[-1] + 1
            if texts == [*range(start_a, end_a), *range(start_b, end_b)]:
                return SpecialTemplate(tuple(ids[:start_a]), tuple(ids[end_a:start_b]), tuple(ids[end_b:]),
                                       (types[0], types[end_a] if start_b > end_a else types[start_b],
                                        types[start_b], types[-1]), token_types)
    first, last = boundary_ids(tokenizer)
    return SpecialTemplate((first,), (last, last) if pair else (), (last,), (0, 0, 0, 0), False)


def fresh_tokenizer_cache(tokenizer: transformers.PreTrainedTokenizerBase, capacity: int = TOKENIZER_CACHE) -> None:
    """Empty the fast tokenizer's cache of encoded words and let it hold ``capacity`` words (:data:`TOKENIZER_CACHE`;
    ``load_tokenizer`` does this). The cache only remembers the pieces of words seen before, so the ids and offsets
    are the same with any content and size. Nothing happens for a slow tokenizer or a model without a cache
    (WordPiece, WordLevel)."""
    model = getattr(getattr(tokenizer, "backend_tokenizer", None), "model", None)
    if model is None or not hasattr(model, "_resize_cache"):
        return
    model._clear_cache()
    model._resize_cache(capacity)


def source_tokenizer_cache(tokenizer: transformers.PreTrainedTokenizerBase, texts: int) -> None:
    """At the start of a source of ``texts`` texts (lines, documents, or both sides of its pairs): an empty cache of
    encoded words for a large one (:data:`FRESH_CACHE_TEXTS`), since the cache never evicts; a small one keeps what
    the sources before it cached."""
    if texts >= FRESH_CACHE_TEXTS:
        fresh_tokenizer_cache(tokenizer)


def _has_token(tokenizer: transformers.PreTrainedTokenizerBase, attr: str) -> bool:
    """Whether special token ``attr`` is set and really in the vocabulary (not mapped to unk)."""
    token = getattr(tokenizer, attr, None)
    if token is None:
        return False
    token_id = tokenizer.convert_tokens_to_ids(str(token))
    return token_id is not None and (token_id != tokenizer.unk_token_id or str(token) == str(tokenizer.unk_token))


def _expand(files: dict[str, list[str]] | list[str] | str) -> dict[str, list[str]]:
    """Expand glob patterns per language (a flat list or pattern counts as one group)."""
    groups = files if isinstance(files, dict) else {"all": files}
    return {str(lang): list(dict.fromkeys(expand_globs(patterns, f" (language {lang!r})")))
            for lang, patterns in groups.items()}


def _iter_texts(path: str, on_bad_line: BadLinePolicy = "error", log_skipped: bool = True) -> Iterator[str]:
    """The non-empty texts of a ``.txt`` (one per line) or ``.jsonl`` (field "text") file, stripped."""
    if not plain_name(path).endswith((".txt", ".jsonl")):
        raise ValueError(f"Unsupported corpus file {path!r}: expected .txt or .jsonl (optionally .gz, .bz2 or .xz).")
    return (record["text"].strip() for record in iter_lines([path], on_bad_line=on_bad_line, log_skipped=log_skipped))


def _quotas(counts: dict[str, int], max_lines: int | None, alpha: float) -> dict[str, int]:
    """Lines to draw per language: ``max_lines * q_i`` with ``q_i ∝ p_i**alpha``, capped at ``n_i``."""
    if max_lines is None:
        return dict(counts)
    probs = smoothed_probabilities(list(counts.values()), alpha).tolist()
    exact = {lang: max_lines * q for lang, q in zip(counts, probs)}
    quota = {lang: int(x) for lang, x in exact.items()}
    # Largest-remainder rounding so the quotas sum to max_lines before capping.
    for lang in sorted(exact, key=lambda k: (quota[k] - exact[k], k))[: max_lines - sum(quota.values())]:
        quota[lang] += 1
    return {lang: min(quota[lang], counts[lang]) for lang in counts}


def _sample(groups: dict[str, list[str]], counts: dict[str, int], quotas: dict[str, int], seed: int,
            on_bad_line: BadLinePolicy = "error") -> Iterator[str]:
    """Stream ``quotas[lang]`` lines of each language, drawn uniformly without replacement.

    Two passes over the files (count, then draw) keep memory to the chosen line indices. Each
    language has its own RNG seeded with the string ``f"{seed}:{lang}"`` (string seeds are
    hashed deterministically, not through PYTHONHASHSEED), so a language's draw does not depend
    on which other languages are present.
    """
    for lang, quota in quotas.items():
        keep = None
        if quota < counts[lang]:
            keep = set(random.Random(f"{seed}:{lang}").sample(range(counts[lang]), quota))
        index = 0
        for path in groups[lang]:
            for text in _iter_texts(path, on_bad_line, log_skipped=False):  # the counting pass logged them
                if keep is None or index in keep:
                    yield text
                index += 1


def _canonical_pieces(vocab: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """Make the trained piece order (hence the ids) independent of Rust hash-map order.

    The Unigram trainer's EM scores are reproducible up to float noise, but characters it had
    pruned get re-added with scores ``min + k * 1e-4`` in arbitrary order, and ties are ordered
    arbitrarily too. Re-deal those penalty scores by code point and sort by (score, piece).
    """
    pieces = [(p, s) for p, s in vocab if p not in SPECIAL_TOKENS]
    if not pieces:
        return []
    low = min(s for _, s in pieces)
    steps = {p: (s - low) / _PENALTY_STEP for p, s in pieces if len(p) == 1}
    on_grid = {p: round(x) for p, x in steps.items() if abs(x - round(x)) < 1e-4}
    run = 0  # the penalty scores form the run of steps 0, 1, ..., run - 1
    while run in on_grid.values():
        run += 1
    penalised = sorted(p for p, k in on_grid.items() if k < run)
    scores = dict(pieces)
    for p, s in zip(penalised, sorted(scores[p] for p in penalised)):
        scores[p] = s
    return sorted(scores.items(), key=lambda item: (-round(item[1], 9), item[0]))


def train_tokenizer(
    files: dict[str, list[str]] | list[str] | str,
    output_dir: str,
    vocab_size: int = 32000,
    alpha: float = 0.3,
    max_lines: int | None = 1_000_000,
    seed: int = 0,
    on_bad_line: BadLinePolicy = "error",
) -> transformers.PreTrainedTokenizerBase:
    """Train an XLM-R-style SentencePiece-Unigram tokenizer and save it to ``output_dir``.

    Normalisation is NFKC and pre-tokenisation splits on whitespace then marks word starts with
    '▁' (Metaspace), as XLM-R does. When ``max_lines`` is set, lines are drawn per language with
    XLM-R's exponential smoothing: language i with share ``p_i`` of all lines gets
    ``q_i ∝ p_i**alpha`` of the budget (alpha < 1 up-weights low-resource languages so their
    scripts get enough pieces). Lines are drawn uniformly without replacement with a per-language
    RNG seeded from ``seed``, so the selection is deterministic; a language with fewer lines than
    its quota contributes all of them (nothing is duplicated), so the total can fall below
    ``max_lines``. The Unigram trainer may return fewer pieces than asked on small corpora; that
    is accepted with a warning.

    The result is saved as a tokenizers-backed fast tokenizer (``tokenizer.json``) rather than
    as ``XLMRobertaTokenizer``: transformers 5 rebuilds that class from the bare vocabulary on
    load and would drop the NFKC normaliser, so reloaded encodings would differ.

    Args:
        files: Glob patterns of ``.txt`` (one text per line) / ``.jsonl`` (field "text") files,
            as a dict language -> patterns, or a flat list / single pattern (one language).
        output_dir: Directory to write ``tokenizer.json`` and ``tokenizer_config.json`` to.
        vocab_size: Requested size including the 4 special tokens and ``<mask>``.
        alpha: Smoothing exponent; 1 keeps corpus proportions, 0 balances languages equally.
        max_lines: Total line budget for training, or None to use every line.
        seed: Seed of the line sampling.
        on_bad_line: ``error`` (default) stops at a bad line (not UTF-8, a control character, too long; in jsonl
            not JSON) naming the file, the line and the fix; ``skip`` leaves such lines out, counted and logged per
            file.

    Returns:
        The tokenizer loaded back from ``output_dir``: ``<s>=0 <pad>=1 </s>=2 <unk>=3``,
        ``<mask>`` the last id, single ``<s> A </s>`` and pair ``<s> A </s></s> B </s>``.

    Raises:
        FileNotFoundError: If a pattern matches no file.
        ValueError: On bad arguments, an unsupported file type or an empty corpus.
    """
    if vocab_size <= len(SPECIAL_TOKENS) + 1:
        raise ValueError(f"vocab_size must exceed {len(SPECIAL_TOKENS) + 1}, got {vocab_size}.")
    if alpha < 0 or (max_lines is not None and max_lines <= 0):
        raise ValueError(f"Need alpha >= 0 and max_lines > 0 or None, got {alpha=} {max_lines=}.")
    groups = _expand(files)
    counts = {lang: sum(1 for path in paths for _ in _iter_texts(path, on_bad_line)) for lang, paths in groups.items()}
    for lang in [lang for lang, n in counts.items() if n == 0]:
        logger.warning("Language %r has no non-empty lines; skipping it.", lang)
        del counts[lang]
    if not counts:
        raise ValueError(f"No non-empty lines in {files!r}.")
    quotas = _quotas(counts, max_lines, alpha)
    for lang, n in counts.items():
        logger.info("Tokenizer corpus %s: using %d of %d lines.", lang, quotas[lang], n)

    backend = Tokenizer(models.Unigram())
    backend.normalizer = normalizers.NFKC()
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")]
    )
    backend.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size - 1, special_tokens=list(SPECIAL_TOKENS), unk_token="<unk>", show_progress=False
    )
    try:
        backend.train_from_iterator(_sample(groups, counts, quotas, seed, on_bad_line), trainer=trainer,
                                    length=sum(quotas.values()))
    except Exception as err:  # the Rust trainer raises a plain Exception
        if "not large enough to contain all chars" not in str(err):
            raise
        characters = set()  # what the trainer saw: the sampled lines, as its normaliser makes them
        for text in _sample(groups, counts, quotas, seed, on_bad_line):
            characters.update(unicodedata.normalize("NFKC", text).replace(" ", ""))
        raise ValueError(f"vocab_size={vocab_size} is too small for this corpus: a Unigram vocabulary keeps every "
                         f"character it sees, and the sampled lines hold {len(characters)} distinct ones (plus the "
                         f"word marker and {len(SPECIAL_TOKENS) + 1} special tokens). Raise vocab_size well above "
                         f"{len(characters) + len(SPECIAL_TOKENS) + 2}") from err

    # Rebuild the model with the specials first and <mask> appended last, as in XLM-R's vocab.
    trained = [(piece, score) for piece, score in json.loads(backend.to_str())["model"]["vocab"]]
    pieces = [(tok, 0.0) for tok in SPECIAL_TOKENS] + _canonical_pieces(trained) + [(MASK_TOKEN, 0.0)]
    backend.model = models.Unigram(pieces, unk_id=SPECIAL_TOKENS.index("<unk>"), byte_fallback=False)
    mask = AddedToken(MASK_TOKEN, lstrip=True, special=True, normalized=False)
    backend.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS] + [mask])
    backend.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    if len(pieces) != vocab_size:
        logger.warning("Trained vocabulary has %d entries instead of the requested %d: the Unigram trainer "
                       "stops early on small corpora and keeps every character it saw.",
                       len(pieces), vocab_size)

    wrapped = transformers.PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="</s>", unk_token="<unk>", sep_token="</s>",
        cls_token="<s>", pad_token="<pad>", mask_token=mask,
    )
    save_tokenizer(wrapped, output_dir)
    return load_tokenizer(output_dir)


def save_tokenizer(tokenizer: transformers.PreTrainedTokenizerBase, output_dir: str,
                   model_max_length: int | None = None) -> None:
    """``save_pretrained`` that every supported transformers version (4.50 on) loads the same way.

    transformers 5 names its generic ``tokenizer.json`` class ``TokenizersBackend``, a name transformers 4 does not
    know; it is written as ``PreTrainedTokenizerFast``, the name both versions load from ``tokenizer.json`` as is
    (model-specific names such as ``XLMRobertaTokenizer`` are kept). The loading options transformers 5 records
    (``is_local``, ``local_files_only``) are dropped: they describe one load, not the tokenizer.

    Args:
        tokenizer: any transformers tokenizer.
        output_dir: the directory to write to (created when missing).
        model_max_length: the longest input the model takes, so that ``truncation=True`` cuts there; without it
            the tokenizer's own value is kept (for a tokenizer trained here: none, ~1e30).
    """
    os.makedirs(output_dir, exist_ok=True)
    tokenizer.save_pretrained(output_dir)
    config_path = os.path.join(output_dir, "tokenizer_config.json")
    with open(config_path, encoding="utf-8") as handle:
        config = json.load(handle)
    generic = config.get("tokenizer_class") in (None, "TokenizersBackend")
    if generic and os.path.exists(os.path.join(output_dir, "tokenizer.json")):
        config["tokenizer_class"] = "PreTrainedTokenizerFast"
    for key in ("is_local", "local_files_only"):
        config.pop(key, None)
    if model_max_length is not None:
        config["model_max_length"] = model_max_length
    with open(config_path, "w", encoding="utf-8") as handle:
        json.dump(config, handle, indent=2, ensure_ascii=False)


def _plain_backend(tokenizer: transformers.PreTrainedTokenizerBase):
    """The fast tokenizer's Rust backend, set to neither truncate nor pad (as the ``transformers`` wrapper sets it
    for a call without truncation or padding: the wrapper leaves the settings of its last call on the backend), or
    ``None`` for a slow tokenizer."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        if backend.truncation is not None:
            backend.no_truncation()
        if backend.padding is not None:
            backend.no_padding()
    return backend


def encode_ids(tokenizer: transformers.PreTrainedTokenizerBase, texts: list[str],
               max_length: int | None = None) -> list[list[int]]:
    """The token ids of each text, no special tokens, cut to ``max_length`` tokens if given (what
    ``tokenizer(texts, add_special_tokens=False, truncation=True, max_length=max_length)["input_ids"]`` gives).

    Calls the Rust backend's ``encode_batch_fast``, which does not track character offsets, and skips the wrapper's
    conversion of every encoding to Python dicts: 1.29x the ids of ``encode_with_offsets`` and 1.28x the
    ``transformers`` call on NTREX-128 (``benchmarks/tokenize_speed.py``). Slow tokenizers go through the wrapper.
    """
    backend = _plain_backend(tokenizer)
    if backend is None:
        cut = {"truncation": True, "max_length": max_length} if max_length is not None else {}
        return tokenizer(texts, add_special_tokens=False, **cut)["input_ids"]
    encoded = backend.encode_batch_fast(texts, add_special_tokens=False)
    if max_length is None:
        return [e.ids for e in encoded]
    return [e.ids[:max_length] for e in encoded]


def encode_with_offsets(tokenizer: transformers.PreTrainedTokenizerBase, texts: list[str],
                        max_length: int) -> list[tuple[list[int], list[tuple[int, int]]]]:
    """``(ids, character offsets)`` of each text, no special tokens, cut to ``max_length`` tokens.

    Calls the fast tokenizer's Rust backend directly: the ``transformers`` wrapper's conversion of every encoding to
    Python lists and dicts costs more than the tokenization itself at this scale (both give the same ids; cutting a
    single sequence without special tokens is what ``truncation=True`` does). Slow tokenizers go through the wrapper.
    """
    backend = _plain_backend(tokenizer)
    if backend is None:
        encoded = tokenizer(texts, add_special_tokens=False, truncation=True, max_length=max_length,
                            return_offsets_mapping=True)
        return list(zip(encoded["input_ids"], encoded["offset_mapping"]))
    return [(e.ids[:max_length], e.offsets[:max_length])
            for e in backend.encode_batch(texts, add_special_tokens=False)]


def _starts_no_space_script(piece: str) -> bool:
    code = ord(piece[0])
    return any(lo <= code <= hi for lo, hi in _NO_SPACE_RANGES)


def word_start_table(tokenizer: transformers.PreTrainedTokenizerBase) -> torch.Tensor:
    """Mark which vocabulary entries start a word, for whole-word masking.

    transformers' whole-word collator assumes BERT's ``##`` continuation marker, which is wrong
    for SentencePiece vocabularies where the marker is on word *starts*. The scheme is detected
    from whichever marker most pieces carry:

    * SentencePiece (``▁``): a piece starts a word iff it starts with ``▁``, or its first
      character belongs to a script written without spaces (CJK ideographs, Hiragana, Katakana,
      Hangul, Thai; also Lao, Myanmar, Khmer), so that each such piece is its own "word" rather
      than a whole unspaced sentence being masked at once, or it is pure punctuation.
    * Byte-level BPE (``Ġ``): iff it starts with ``Ġ``.
    * WordPiece (``##``): iff it does not start with ``##``.
    * No marker at all: every entry is its own word.

    Special and added tokens (``<s>``, ``</s>``, ``<pad>``, ``<mask>``, ``<unk>``, ...) are
    always word starts: they are atomic and must never extend a neighbouring word.

    Args:
        tokenizer: Any transformers tokenizer.

    Returns:
        A bool tensor of shape ``(len(tokenizer),)``.
    """
    size = len(tokenizer)
    table = [True] * size  # ids absent from the vocabulary are never produced; True is harmless
    special = set(tokenizer.all_special_ids) | set(getattr(tokenizer, "added_tokens_decoder", {}) or {})
    vocab = {piece: idx for piece, idx in tokenizer.get_vocab().items() if 0 <= idx < size and idx not in special}
    markers = {m: sum(piece.startswith(m) for piece in vocab) for m in ("▁", "Ġ", "##")}
    scheme = max(markers, key=markers.get)
    if markers[scheme] == 0:
        return torch.ones(size, dtype=torch.bool)
    for piece, idx in vocab.items():
        if scheme == "▁":
            table[idx] = (
                piece.startswith("▁") or _starts_no_space_script(piece)
                or all(unicodedata.category(c).startswith("P") for c in piece)
            )
        elif scheme == "Ġ":
            table[idx] = piece.startswith("Ġ")
        else:
            table[idx] = not piece.startswith("##")
    return torch.tensor(table, dtype=torch.bool)


def main(args: list[str] | None = None) -> None:
    """Console entry point ``veco-train-tokenizer``.

    Example: ``veco-train-tokenizer --files '{en: [corpus/en.txt], zh: [corpus/zh.txt]}'
    --output_dir tok --vocab_size 8000``.

    Args:
        args: Command-line arguments; ``sys.argv[1:]`` when None.
    """
    import jsonargparse

    parser = jsonargparse.ArgumentParser(
        prog="veco-train-tokenizer", description="Train an XLM-R-style SentencePiece-Unigram tokenizer."
    )
    parser.add_argument("--config", action="config")
    parser.add_function_arguments(train_tokenizer, as_positional=False)
    cfg = parser.parse_args(args).as_dict()
    cfg.pop("config", None)
    from veco_lightning.logs import configure_logging

    configure_logging()  # once: a second handler on the root logger would print every line twice
    tokenizer = train_tokenizer(**cfg)
    print(f"Tokenizer written to {os.path.abspath(cfg['output_dir'])} (vocab size {len(tokenizer)}).")


if __name__ == "__main__":
    main()
