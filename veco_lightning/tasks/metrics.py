"""XTREME's per-language metrics, with exactly the arithmetic of XTREME's ``evaluate.py``.

One function per kind of task; each takes the predictions and the references (gold) of one language, already read,
in that order, and returns percentages under XTREME's metric names. :mod:`.scorer` reads the files, averages over
languages and builds the table.

| tasks | function | metrics |
|---|---|---|
| pawsx, xnli, tatoeba | :func:`accuracy` | ``accuracy`` (tatoeba: one retrieved index per line) |
| panx, udpos | :func:`span_scores` | ``f1``, ``precision``, ``recall`` over chunks (seqeval 0.0.x, see below) |
| udpos (extra) | :func:`token_accuracy` | ``token_accuracy``: per-token accuracy, not part of XTREME's average |
| xquad, tydiqa | :func:`qa_scores` | ``exact_match``, ``f1`` with the SQuAD v1.1 answer normalisation |
| mlqa | :func:`qa_scores` | ``exact_match``, ``f1`` with MLQA's per-language normalisation |
| bucc2018 | :func:`bucc_scores` | ``f1``, ``precision``, ``recall`` over ``src_id<TAB>trg_id`` pairs |

Span scores are what the seqeval release that XTREME used (0.0.12, 2019; later 0.0.x and 1.x differ) computes:
all sentences of a language are joined into one sequence with an ``'O'`` after each sentence, a chunk is read from
each tag's first character (``B I E S O``) and its type (the text after the last ``-``, the whole tag when there
is none), and precision / recall / F1 are micro-averaged over the set of ``(type, start, end)`` chunks. XTREME
scores udpos with the same function, so POS tags become chunk types with the prefix taken from their first
letter: ``SCONJ`` and ``SYM`` open a new one-token chunk at every token (prefix ``S``), ``INTJ`` behaves as an
``I``, and consecutive equal tags such as ``NOUN NOUN`` form a single chunk. That udpos figure is XTREME's.

References:
    - Hu et al., "XTREME: A Massively Multilingual Multi-task Benchmark for Evaluating Cross-lingual
      Generalization", ICML 2020 (google-research/xtreme ``evaluate.py``).
    - Rajpurkar et al., "SQuAD: 100,000+ Questions for Machine Comprehension of Text", EMNLP 2016 (the v1.1
      evaluation script).
    - Lewis et al., "MLQA: Evaluating Cross-lingual Extractive Question Answering", ACL 2020
      (facebookresearch/MLQA ``mlqa_evaluation_v1.py``).
    - Nakayama, seqeval 0.0.12 (chakki-works/seqeval), ``seqeval.metrics.sequence_labeling``.
"""

from __future__ import annotations

import logging
import os
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from functools import partial

log = logging.getLogger(__name__)

MLQA_LANGUAGES = ("en", "es", "hi", "vi", "de", "ar", "zh")
# MLQA's file names (``dev-context-de-question-en.json``) and Hugging Face's configurations (``mlqa.de.en``) name the
# context language first.
_MLQA_SET_NAME = re.compile(r"context-([a-z]{2,3})-question-([a-z]{2,3})|"
                            r"\bmlqa\.(ar|de|en|es|hi|vi|zh)\.(ar|de|en|es|hi|vi|zh)\b")  # not mlqa.de.gz


def question_context_languages(name: str) -> tuple[str, str] | None:
    """The ``(context, question)`` languages a QA set's name or file name gives as MLQA's files
    (``context-de-question-en``) or Hugging Face's MLQA configurations (``mlqa.de.en``) do; None when it gives none."""
    found = _MLQA_SET_NAME.search(name)
    if found is None:
        return None
    return (found.group(1), found.group(2)) if found.group(1) else (found.group(3), found.group(4))


def mlqa_set_languages(name: str, path: str | None = None) -> tuple[str, str]:
    """The ``(context, question)`` languages of an MLQA test set; MLQA scores answers with the context's
    normalisation (its evaluation script's ``answer_language``).

    A set of one language is named by it (``de``); a set whose questions are in another language than its contexts
    (MLQA's generalised cross-lingual transfer, G-XLT) as MLQA names its files, ``context-de-question-en``, or by any
    name when its file is named so (``dev-context-de-question-en.json``, or Hugging Face's configuration
    ``hf://facebook/mlqa?name=mlqa.de.en&split=test``).

    Args:
        name: the set's name (its key in ``data.test_files``).
        path: its file; a file named as MLQA names its files must agree with ``name``.

    Raises:
        ValueError: the languages cannot be told, disagree with the file's name, or are not MLQA's.
    """
    named = question_context_languages(name) or ((name, name) if re.fullmatch("[a-z]{2,3}", name) else None)
    in_file = question_context_languages(os.path.basename(path)) if path else None
    if named and in_file and named != in_file:
        raise ValueError(f"MLQA test set {name!r}: its file {path} holds contexts in {in_file[0]!r} and questions in "
                         f"{in_file[1]!r} (its name says so), but the set's name says {named[0]!r} and {named[1]!r}: "
                         f"name it context-{in_file[0]}-question-{in_file[1]} (answers are scored with the "
                         "normalisation of the context language)")
    languages = named or in_file
    if languages is None:
        raise ValueError(f"MLQA test set {name!r}: cannot tell its languages: name it after the language of its "
                         "contexts and questions (one of " + ", ".join(MLQA_LANGUAGES) + "), or, when the questions "
                         "are in another language, as MLQA names its files: context-de-question-en")
    unknown = [code for code in languages if code not in MLQA_LANGUAGES]
    if unknown:
        raise ValueError(f"MLQA test set {name!r}: MLQA defines no normalisation for {unknown[0]!r}; its languages "
                         f"are {MLQA_LANGUAGES}")
    return languages


def mean_in_order(values: Iterable[float]) -> float:
    """The mean of ``values``, their sum taken left to right (each addition rounded), as ``sum()`` computed it on the
    Python XTREME's ``evaluate.py`` was run with: its published averages (those of its mock submission) are those.
    From Python 3.12, ``sum()`` of floats compensates the rounding of each addition, which moves the last bit of some
    averages (PAN-X's F1 on the mock submission: ...506 against XTREME's ...652)."""
    total, count = 0.0, 0
    for value in values:
        total += value
        count += 1
    return total / count


def _percent(value: float) -> float:
    # XTREME scales the fraction (a / b * 100) for accuracy, span and BUCC scores, and the sum first for QA
    # (100 * sum / n, the SQuAD script's order); the two may differ in the last bit, so each keeps its own.
    return value * 100


def accuracy(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Share of positions where the prediction equals the reference (pawsx, xnli, tatoeba), in percent.

    Raises:
        ValueError: the two sequences differ in length (XTREME stops on an assertion) or are empty.
    """
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references; they must match one to one")
    if not predictions:
        raise ValueError("no examples to score")
    correct = sum(int(p == g) for p, g in zip(predictions, references))
    return _percent(correct / len(predictions))


# Span metrics ---------------------------------------------------------------------------------------------------
# seqeval 1.2.2 types a tag by what follows its first character (``tag[1:]``), so SCONJ and CCONJ both become
# "CONJ" there and its udpos figure is not XTREME's (70.398 instead of 70.217 on XTREME's mock submission). For IOB2
# NER both versions give the same chunks (tests/tasks/test_metrics.py checks it on real PAN-X data), so this one
# copy of seqeval 0.0.12's rules serves panx and udpos alike, as one seqeval function did in XTREME, and the package
# needs no seqeval.


def _chunk_ends(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    """seqeval 0.0.12 ``end_of_chunk``: did a chunk end before the current token?"""
    if prev_tag in ("E", "S"):
        return True
    if prev_tag in ("B", "I") and tag in ("B", "S", "O"):
        return True
    return prev_tag not in ("O", ".") and prev_type != type_


def _chunk_starts(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    """seqeval 0.0.12 ``start_of_chunk``: does a chunk start at the current token?"""
    if tag in ("B", "S"):
        return True
    if prev_tag in ("E", "S", "O") and tag in ("E", "I"):
        return True
    return tag not in ("O", ".") and prev_type != type_


def get_entities(sentences: Sequence[Sequence[str]]) -> list[tuple[str, int, int]]:
    """Chunks ``(type, first, last)`` of tagged sentences, as seqeval 0.0.12 reads them.

    The sentences are joined into one sequence with an ``'O'`` after each, so positions count from the start of
    the file. A tag's prefix is its first character and its type the text after its last ``-`` (the whole tag
    when it has no ``-``): ``B-PER`` -> ``('B', 'PER')``, ``SCONJ`` -> ``('S', 'SCONJ')``.

    Example:
        >>> get_entities([["B-PER", "I-PER", "O"], ["B-LOC"]])
        [('PER', 0, 1), ('LOC', 4, 4)]
    """
    flat = [tag for sentence in sentences for tag in [*sentence, "O"]]
    prev_tag, prev_type, begin = "O", "", 0
    chunks = []
    for i, label in enumerate([*flat, "O"]):
        tag, type_ = label[0], label.split("-")[-1]
        if _chunk_ends(prev_tag, tag, prev_type, type_):
            chunks.append((prev_type, begin, i - 1))
        if _chunk_starts(prev_tag, tag, prev_type, type_):
            begin = i
        prev_tag, prev_type = tag, type_
    return chunks


def _check_sentences(predictions: Sequence[Sequence[str]], references: Sequence[Sequence[str]]) -> None:
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predicted sentences for {len(references)} reference sentences")
    for n, (pred, gold) in enumerate(zip(predictions, references), 1):
        if len(pred) != len(gold):
            raise ValueError(f"sentence {n}: {len(pred)} predicted tags for {len(gold)} reference tokens; every token "
                             "needs exactly one tag (split long sentences, never drop their tail)")


def span_scores(predictions: Sequence[Sequence[str]], references: Sequence[Sequence[str]]) -> dict[str, float]:
    """Micro ``f1``, ``precision`` and ``recall`` over chunks (panx, udpos), in percent, as XTREME's seqeval.

    A chunk counts as correct when type, start and end all match. With no predicted (reference) chunk, precision
    (recall) is 0, and F1 is 0 when both are.

    Raises:
        ValueError: sentence counts or the token counts of a sentence differ. XTREME checks the sentence count;
            it compares misaligned tokens silently, which no correct submission contains.
    """
    _check_sentences(predictions, references)
    pred, gold = set(get_entities(predictions)), set(get_entities(references))
    correct = len(gold & pred)
    precision = correct / len(pred) if pred else 0
    recall = correct / len(gold) if gold else 0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0
    return {"f1": _percent(f1), "precision": _percent(precision), "recall": _percent(recall)}


def token_accuracy(predictions: Sequence[Sequence[str]], references: Sequence[Sequence[str]]) -> float:
    """Share of tokens whose predicted tag equals the reference tag, in percent: the usual POS figure, reported
    next to XTREME's span F1 but not part of XTREME's averages."""
    _check_sentences(predictions, references)
    total = sum(len(sentence) for sentence in references)
    if not total:
        raise ValueError("no tokens to score")
    correct = sum(p == g for pred, gold in zip(predictions, references) for p, g in zip(pred, gold))
    return _percent(correct / total)


# Question answering -----------------------------------------------------------------------------------------------


def squad_normalize(text: str) -> str:
    """SQuAD v1.1: lower case, drop ASCII punctuation, the English articles and extra white space (every language)."""
    text = "".join(ch for ch in text.lower() if ch not in string.punctuation)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def _is_punctuation(ch: str) -> bool:
    # MLQA's set: every Unicode "P*" character plus ASCII string.punctuation (which adds symbols such as $ + < = > ^ `
    # | ~); tested per character instead of building the 1.1-million-entry set.
    return ch in string.punctuation or unicodedata.category(ch).startswith("P")


_MLQA_ARTICLES = {
    "en": r"\b(a|an|the)\b",
    "es": r"\b(un|una|unos|unas|el|la|los|las)\b",
    "vi": r"\b(của|là|cái|chiếc|những)\b",
    "de": r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b",
}


def _mixed_segmentation(text: str) -> list[str]:
    """MLQA's Chinese tokens: every CJK ideograph (U+4E00-U+9FA5) or punctuation mark alone, other runs split on
    white space."""
    tokens: list[str] = []
    run = ""
    for ch in text:
        if "\u4e00" <= ch <= "\u9fa5" or _is_punctuation(ch):
            tokens.extend(run.split())
            tokens.append(ch)
            run = ""
        else:
            run += ch
    tokens.extend(run.split())
    return tokens


def mlqa_normalize(text: str, language: str) -> str:
    """MLQA's normalisation: lower case, drop Unicode punctuation, the language's articles, then tokenise.

    Articles: en, es, de and vi words as listed by MLQA; Arabic drops every ``ال`` (MLQA's pattern ``\\sال^|ال``
    can only ever match its second branch, inside words too); hi and zh have none. zh is tokenised per ideograph
    (:func:`_mixed_segmentation`), the other languages on white space.

    Raises:
        ValueError: a language MLQA does not define.
    """
    if language not in MLQA_LANGUAGES:
        raise ValueError(f"MLQA defines no normalisation for {language!r}; its languages are {MLQA_LANGUAGES}")
    text = "".join(ch for ch in text.lower() if not _is_punctuation(ch))
    if language in _MLQA_ARTICLES:
        text = re.sub(_MLQA_ARTICLES[language], " ", text)
    elif language == "ar":
        text = text.replace("ال", " ")
    tokens = _mixed_segmentation(text) if language == "zh" else text.split()
    return " ".join(token for token in tokens if token.strip())


def _token_f1(prediction: str, gold: str) -> float:
    pred_tokens, gold_tokens = prediction.split(), gold.split()
    same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if same == 0:
        return 0
    precision, recall = same / len(pred_tokens), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def qa_scores(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]], task: str = "xquad",
              language: str = "en") -> dict[str, float]:
    """``exact_match`` and token ``f1`` of extractive QA answers, in percent (xquad, mlqa, tydiqa).

    Each question scores the max over its reference answers after normalisation (:func:`mlqa_normalize` for
    ``task="mlqa"``, :func:`squad_normalize` otherwise); both are averaged over the reference questions, in their
    order (the order of the float sums of the SQuAD, MLQA and XTREME scripts).

    Args:
        predictions: question id -> answer text. A question without a prediction scores 0 on both (as in the
            SQuAD, MLQA and XTREME scripts); ids of no reference question are ignored.
        references: question id -> its gold answer texts (at least one).
        task: ``"mlqa"`` selects MLQA's normalisation.
        language: the answers' language, for MLQA (en es de ar hi vi zh), or an MLQA set name such as
            ``context-de-question-en`` (scored with its context language's normalisation, :func:`mlqa_set_languages`).
    """
    if task == "mlqa":
        language = mlqa_set_languages(language)[0]
    normalize = partial(mlqa_normalize, language=language) if task == "mlqa" else squad_normalize
    exact_match = f1 = 0
    for qid, answers in references.items():
        if qid not in predictions:
            log.debug("unanswered question %s scores 0", qid)
            continue
        if not answers:
            raise ValueError(f"question {qid} has no reference answer; every question needs at least one")
        prediction = normalize(predictions[qid])
        golds = [normalize(answer) for answer in answers]
        exact_match += max(prediction == gold for gold in golds)
        f1 += max(_token_f1(prediction, gold) for gold in golds)
    if not references:
        raise ValueError("no questions to score")
    return {"exact_match": 100.0 * exact_match / len(references), "f1": 100.0 * f1 / len(references)}


# Retrieval --------------------------------------------------------------------------------------------------------


def bucc_scores(predictions: Iterable[str], references: Iterable[str]) -> dict[str, float]:
    """``f1``, ``precision`` and ``recall`` of mined pairs against the gold pairs (bucc2018), in percent.

    Both sides are lines ``src_id<TAB>trg_id``, compared as sets (a pair listed twice counts once). With no
    correct pair all three are 0.
    """
    pred = {tuple(line.split("\t")) for line in predictions}
    gold = {tuple(line.split("\t")) for line in references}
    correct = len(gold & pred)
    if not correct:
        return {"f1": 0.0, "precision": 0.0, "recall": 0.0}
    precision, recall = correct / len(pred), correct / len(gold)
    f1 = 2 * precision * recall / (precision + recall)
    return {"f1": _percent(f1), "precision": _percent(precision), "recall": _percent(recall)}
