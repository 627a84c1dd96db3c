"""Extractive QA files (XQuAD, MLQA, TyDiQA-GoldP): SQuAD v1.1 JSON (or JSON lines of its questions) with checked
answer offsets, XTREME's ``{id: answer}`` prediction files, and the train/dev split of English paragraphs by article
or paragraph."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from veco_lightning.data.readers import BadLinePolicy
from veco_lightning.tasks.formats._common import (
    BadLines,
    grouped_split,
    is_json_lines,
    json_records,
    log,
    read_text,
    single_file,
    text_lines,
    write_text,
)


@dataclass
class QAExample:
    """One question on one paragraph.

    Args:
        id: the question's id (shared by the translations of a question in XQuAD and MLQA).
        title: the article's title ("" where the file has none, as TyDiQA-GoldP).
        context: the paragraph.
        question: the question.
        answers: ``(text, answer_start)`` pairs, ``context[answer_start:answer_start + len(text)] == text``; empty
            when read with ``labelled=False``.
    """

    id: str
    title: str
    context: str
    question: str
    answers: list[tuple[str, int]] = field(default_factory=list)


def _nearest(context: str, text: str, start: int) -> int | None:
    """The start of the occurrence of ``text`` in ``context`` nearest to ``start`` (the earlier one on a tie)."""
    best, position = None, context.find(text)
    while position != -1:
        if best is None or abs(position - start) < abs(best - start):
            best = position
        position = context.find(text, position + 1)
    return best


def _answers(path: str, qid: str, context: str, raw: Any, on_bad_answer: str,
             counts: dict[str, int]) -> list[tuple[str, int]]:
    """The checked answers of one question (repaired or dropped as ``on_bad_answer`` says)."""
    where = f"{path}: question {qid!r}"
    if not isinstance(raw, list):
        raise ValueError(f"{where}: 'answers' must be a list of {{text, answer_start}} objects, got {raw!r}")
    answers = []
    for answer in raw:
        text = answer.get("text") if isinstance(answer, dict) else None
        start = answer.get("answer_start") if isinstance(answer, dict) else None
        if not isinstance(text, str) or not isinstance(start, int) or isinstance(start, bool):
            raise ValueError(f"{where}: answer {answer!r} is not {{'text': str, 'answer_start': int}}; fix the file")
        if on_bad_answer == "keep":
            answers.append((text, start))
            continue
        if text.strip() and context[start:start + len(text)] == text and start >= 0:
            answers.append((text, start))
            continue
        if not text.strip():
            problem = (f"empty answer text {text!r} (a file whose answers are all blank is unlabelled, as a test copy "
                       "with its answers removed: read it with labelled=False)")
        else:
            found = context[max(start, 0):max(start, 0) + len(text)]
            problem = f"answer {text!r} does not match the context at answer_start={start} (there: {found!r})"
        if on_bad_answer == "skip":
            counts["skipped"] += 1
            continue
        repaired = _nearest(context, text, start) if text.strip() and on_bad_answer == "repair" else None
        if repaired is None:
            if on_bad_answer == "error":
                fix = ("fix the answer, or set on_bad_answer='repair' (move it to the nearest occurrence of its text) "
                       "or 'skip' (drop it) with a warning")
            else:
                fix = "its text is nowhere in the context to repair it: fix the answer, or set on_bad_answer='skip'"
            raise ValueError(f"{where}: {problem}; {fix}")
        counts["repaired"] += 1
        answers.append((text, repaired))
    return answers


def read_squad(
    path: str | os.PathLike,
    labelled: bool = True,
    on_bad_answer: Literal["error", "repair", "skip", "keep"] = "error",
    on_bad_example: BadLinePolicy = "error",
) -> list[QAExample]:
    """The questions of one SQuAD v1.1 file (XQuAD, MLQA, TyDiQA-GoldP in XTREME), in file order: SQuAD JSON (an
    object with a ``data`` list of articles, or the bare list, as XTREME's scorer reads it), or JSON lines of one
    question each, as ``datasets`` writes SQuAD-style sets (``{id, title, context, question, answers: {text: [...],
    answer_start: [...]}}``; ``answers`` may also be a list of ``{text, answer_start}``).

    Each answer must sit where it says: ``context[answer_start:answer_start + len(text)] == text`` (offsets in
    characters, as Python indexes the decoded string). XTREME's QA tasks are SQuAD v1.1: an unanswerable question
    (SQuAD 2.0's ``is_impossible``) is a bad example.

    Args:
        path: the file (``~`` and ``pkg://`` resolved).
        labelled: read the answers. False reads unlabelled (test) files: ``answers`` stays empty and unchecked.
        on_bad_answer: an answer that is empty or not at its ``answer_start``: ``"error"`` raises naming the
            question id; ``"repair"`` moves it to the occurrence of its text nearest to ``answer_start`` (an error
            when the text is nowhere in the context); ``"skip"`` drops it. Repairs and drops are counted in a warning.
            ``"keep"`` keeps every answer as written, unchecked (empty texts and wrong offsets too): the gold texts
            as SQuAD's evaluation compares them, for scoring predictions against a label file.
        on_bad_example: a question with an empty context or question, a duplicate id, no (valid) answer while
            ``labelled``, or ``is_impossible``: ``"error"`` raises naming its id; ``"skip"`` drops it with a count.
    """
    path = single_file(path)
    text = read_text(path)
    lines = text_lines(text)
    if not path.endswith(".jsonl"):
        try:
            document = json.loads(text)
        except json.JSONDecodeError as err:
            if not is_json_lines(path, lines):
                raise ValueError(f"{path}:{err.lineno}:{err.colno}: not valid JSON ({err.msg}); fix the file") from None
        else:
            if not (isinstance(document, dict) and "context" in document):  # else: JSON lines of one question
                return squad_examples(path, _article_questions(path, document), labelled, on_bad_answer,
                                      on_bad_example)
    bad = BadLines(path, on_bad_example, option="on_bad_example", unit="question")  # lines that are no JSON object
    rows = json_records(path, lines, bad, "the fields id, context, question and answers")
    examples = squad_examples(path, (flat_question(path, line, row) for line, row in rows), labelled, on_bad_answer,
                              on_bad_example)
    bad.report()
    return examples


def _article_questions(path: str, document: Any) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """``(title, context, question object)`` of every question of a SQuAD JSON document, in file order."""
    articles = document.get("data") if isinstance(document, dict) else document
    if not isinstance(articles, list):
        raise ValueError(f"{path}: not SQuAD JSON: expected an object with a 'data' list of articles (or the bare "
                         "list) ({title, paragraphs: [{context, qas: [{id, question, answers}]}]}), or JSON lines "
                         "of {id, context, question, answers}")
    for a, article in enumerate(articles):
        title = (article.get("title") or "") if isinstance(article, dict) else ""
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            raise ValueError(f"{path}: data[{a}] has no 'paragraphs' list; fix the file")
        for p, paragraph in enumerate(paragraphs):
            context = paragraph.get("context") if isinstance(paragraph, dict) else None
            qas = paragraph.get("qas") if isinstance(paragraph, dict) else None
            if not isinstance(context, str) or not isinstance(qas, list):
                raise ValueError(f"{path}: data[{a}].paragraphs[{p}] needs a 'context' string and a 'qas' list")
            for q, qa in enumerate(qas):
                if not isinstance(qa, dict) or not _valid_id(qa.get("id")):
                    raise ValueError(f"{path}: data[{a}].paragraphs[{p}].qas[{q}] has no 'id'; give every question "
                                     "a unique id")
                yield title, context, qa


def flat_question(name: str, line: int | None, row: Mapping[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """``(title, context, question object)`` of one flat row (a JSON line, a Hub dataset row): ``answers`` as
    ``datasets`` stores them (``{text: [...], answer_start: [...]}``) become SQuAD's list of objects."""
    where = f"{name}:{line}" if line is not None else name
    if not _valid_id(row.get("id")):
        raise ValueError(f"{where}: no 'id'; give every question a unique id")
    if not isinstance(row.get("context"), str):
        raise ValueError(f"{where}: question {row['id']!r} needs a 'context' string")
    answers = row.get("answers", [])
    if isinstance(answers, Mapping):
        texts, starts = answers.get("text"), answers.get("answer_start")
        if not isinstance(texts, list) or not isinstance(starts, list) or len(texts) != len(starts):
            raise ValueError(f"{where}: question {row['id']!r}: 'answers' must hold lists 'text' and 'answer_start' "
                             f"of one length, got {answers!r}")
        answers = [{"text": t, "answer_start": s} for t, s in zip(texts, starts)]
    qa = {key: row[key] for key in ("id", "question", "is_impossible") if key in row}
    return row.get("title") or "", row["context"], {**qa, "answers": answers}


def _valid_id(qid: Any) -> bool:
    return isinstance(qid, str | int) and not isinstance(qid, bool) and bool(str(qid))


def squad_examples(
    name: str,
    questions: Iterable[tuple[str, str, Mapping[str, Any]]],
    labelled: bool = True,
    on_bad_answer: Literal["error", "repair", "skip", "keep"] = "error",
    on_bad_example: BadLinePolicy = "error",
) -> list[QAExample]:
    """Checked examples of ``(title, context, question object)`` triples (SQuAD's ``{id, question, answers}``) from
    the source ``name`` (a file, a Hub dataset): the checks and options of :func:`read_squad`."""
    if on_bad_answer not in ("error", "repair", "skip", "keep"):
        raise ValueError(f"on_bad_answer must be 'error', 'repair', 'skip' or 'keep', got {on_bad_answer!r}")
    bad = BadLines(name, on_bad_example, option="on_bad_example", unit="question")
    counts = {"repaired": 0, "skipped": 0}
    examples: list[QAExample] = []
    seen: set[str] = set()
    for title, context, qa in questions:
        qid = str(qa["id"])
        where = f"{name}: question {qid!r}"
        question = qa.get("question")
        if qid in seen:
            bad(where, "duplicate id", "give every question a unique id (predictions map ids to answers)",
                "with a duplicate id")
            continue
        seen.add(qid)
        if qa.get("is_impossible"):
            bad(where, "unanswerable (is_impossible, SQuAD 2.0); XTREME's QA tasks are SQuAD v1.1",
                "remove unanswerable questions", "unanswerable")
            continue
        if not context.strip() or not isinstance(question, str) or not question.strip():
            bad(where, f"empty {'context' if not context.strip() else 'question'}",
                "fill it in or remove the question", "with an empty context or question")
            continue
        answers = []
        if labelled:
            answers = _answers(name, qid, context, qa.get("answers", []), on_bad_answer, counts)
            if not answers:
                bad(where, "no valid answer", "give it an answer, or read an unlabelled file with "
                    "labelled=False", "without a valid answer")
                continue
        examples.append(QAExample(qid, title, context, question, answers))
    if counts["repaired"] or counts["skipped"]:
        log.warning("%s: repaired %d answer(s) (moved to the nearest occurrence of their text) and dropped %d "
                    "(on_bad_answer=%s)", name, counts["repaired"], counts["skipped"], on_bad_answer)
    bad.report()
    return examples


# The language names that open TyDiQA's question ids (``finnish--2676...-29``), with their codes.
TYDIQA_LANGUAGES = {"arabic": "ar", "bengali": "bn", "english": "en", "finnish": "fi", "indonesian": "id",
                    "japanese": "ja", "korean": "ko", "russian": "ru", "swahili": "sw", "telugu": "te", "thai": "th"}


def tydiqa_language(examples: Sequence[QAExample], language: str | None, path: str) -> list[QAExample]:
    """The questions of ``language`` (a code: ``fi``) of a TyDiQA file that holds several languages (the GoldP
    ``tydiqa-goldp-v1.1-dev.json``, Hugging Face's ``secondary_task`` splits), told by the language name opening each
    id, as XTREME splits that file. A file of one language (XTREME's per-language copies), a file whose ids are not
    all TyDiQA's, or ``language=None`` (training files) is returned whole.

    Raises:
        ValueError: the file holds several TyDiQA languages, none of them ``language``.
    """
    names = [example.id.split("-", 1)[0] for example in examples]
    found = sorted(set(names))
    if language is None or len(found) < 2 or any(name not in TYDIQA_LANGUAGES for name in found):
        return list(examples)
    codes = {TYDIQA_LANGUAGES[name]: name for name in found}
    if language not in codes:
        raise ValueError(f"{path}: TyDiQA questions of {len(found)} languages ({', '.join(sorted(codes))}, told by "
                         f"their ids), none of {language!r}, the language it is given for: list the file under one "
                         "of those")
    kept = [example for example, name in zip(examples, names) if name == codes[language]]
    log.info("%s: its %d %s questions of %d (TyDiQA's ids name their language)", path, len(kept), codes[language],
             len(examples))
    return kept


def write_squad(path: str | os.PathLike, examples: Iterable[QAExample], version: str = "1.1") -> None:
    """Write examples as SQuAD v1.1 JSON (the layout of XTREME's QA label files): consecutive examples of one title
    form an article (without a ``title`` key when it is empty), of one context a paragraph; e.g. the two sides of
    :func:`split_squad`."""
    data: list[dict[str, Any]] = []
    for e in examples:
        if not data or data[-1].get("title", "") != e.title:
            data.append({"title": e.title, "paragraphs": []} if e.title else {"paragraphs": []})
        paragraphs = data[-1]["paragraphs"]
        if not paragraphs or paragraphs[-1]["context"] != e.context:
            paragraphs.append({"context": e.context, "qas": []})
        paragraphs[-1]["qas"].append({"answers": [{"answer_start": s, "text": t} for t, s in e.answers],
                                      "id": e.id, "question": e.question})
    write_text(path, json.dumps({"data": data, "version": version}, indent=2, sort_keys=True) + "\n")


def write_qa_predictions(path: str | os.PathLike, predictions: Mapping[str, str]) -> None:
    """XTREME's submission file of a QA task (``xquad/test-de.json``): a JSON object question id -> answer text."""
    for qid, answer in predictions.items():
        if not isinstance(qid, str) or not isinstance(answer, str):
            raise ValueError(f"prediction {qid!r}: {answer!r}: ids and answers must be strings")
    write_text(path, json.dumps(dict(predictions), indent=4) + "\n")


def read_qa_predictions(path: str | os.PathLike) -> dict[str, str]:
    """The ``{id: answer}`` object of an XTREME QA prediction file."""
    path = single_file(path)
    try:
        predictions = json.loads(read_text(path))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}:{err.lineno}:{err.colno}: not valid JSON ({err.msg}); fix the file") from None
    if not isinstance(predictions, dict) or not all(isinstance(v, str) for v in predictions.values()):
        raise ValueError(f"{path}: QA predictions must be one JSON object mapping each question id to its answer "
                         "text, e.g. {\"56be4db0acb8001400a502ec\": \"Denver Broncos\"}")
    return predictions


def split_squad(examples: Sequence[QAExample], dev_fraction: float = 0.2, seed: int = 0,
                by: Literal["article", "paragraph"] = "article") -> tuple[list[QAExample], list[QAExample]]:
    """Split English QA examples into ``(train, dev)`` for zero-shot experiments where no SQuAD training set is at
    hand: fine-tune on train, select on dev, and say exactly how the data was split.

    Whole articles (same title; ``by="paragraph"``: whole paragraphs) go to one side, so no context appears on both;
    an untitled paragraph is its own article. Groups are shuffled with ``seed`` and taken into dev until it holds at
    least ``round(dev_fraction * len(examples))`` questions; both sides keep the file order. Deterministic: the same
    examples, fraction, seed and ``by`` give the same split.

    XQuAD and MLQA are parallel: their other languages hold translations of these paragraphs under the same question
    ids. Test a language on the questions whose ids are not in train (``{e.id for e in train}``), or on a set that
    is not parallel to the split one (TyDiQA).
    """
    if by not in ("article", "paragraph"):
        raise ValueError(f"by must be 'article' or 'paragraph', got {by!r}")

    def keys(e: QAExample) -> list[tuple[str, str]]:
        return [("context", e.context)] + ([("title", e.title)] if by == "article" and e.title else [])

    return grouped_split(examples, keys, dev_fraction, seed)
