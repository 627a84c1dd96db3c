"""The XTREME scorer: XTREME's own averages on its mock submission, MLQA / TyDiQA in the same layout, group and
overall scores, the files it writes, and errors a user can act on."""

import json
import logging
import os
import shutil
from pathlib import Path

import pytest

from veco_lightning.tasks.scorer import XTREME_TASK_LANGUAGES, score_folders, score_main, write_table

SHARED = Path(os.environ.get("VECO_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
MOCK = SHARED / "xtreme_mock"
MLQA_DEV = SHARED / "mlqa" / "MLQA_V1" / "dev"
TYDIQA_DEV = SHARED / "tydiqa" / "tydiqa-goldp-v1.1-dev"

# XTREME's evaluate_test.py (google-research/xtreme 838c13b), as listed in the mock's README.
MOCK_AVERAGES = {
    "pawsx": {"avg_accuracy": 51.42857142857143},
    "xnli": {"avg_accuracy": 30.666666666666668},
    "panx": {"avg_f1": 57.50793650793652, "avg_precision": 54.729166666666664, "avg_recall": 62.750000000000014},
    "udpos": {"avg_f1": 70.21746048354693, "avg_precision": 71.02232625883823, "avg_recall": 69.54982073976082},
    "bucc2018": {"avg_f1": 55.0, "avg_precision": 55.0, "avg_recall": 55.0},
    "tatoeba": {"avg_accuracy": 53.611111111111114},
    "xquad": {"avg_exact_match": 77.27272727272727, "avg_f1": 79.9586776859504},
}

needs_mock = pytest.mark.skipif(not (MOCK / "labels").is_dir(), reason="../shared/data/xtreme_mock not available")


def write(root: Path, side: str, task: str, lang: str, content) -> Path:
    """One file of the submission layout: text as given, anything else as JSON."""
    suffix = "json" if task in ("xquad", "mlqa", "tydiqa") else "tsv"
    path = root / side / task / f"test-{lang}.{suffix}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content, ensure_ascii=False), encoding="utf-8")
    return path


def squad(questions: dict[str, list[str]]) -> dict:
    """SQuAD v1.1 JSON with one paragraph per question (the TyDiQA-GoldP shape)."""
    paragraphs = [{"context": " ".join(answers), "qas": [{"id": qid, "question": "?", "answers": [
        {"text": text, "answer_start": 0} for text in answers]}]} for qid, answers in questions.items()]
    return {"version": "1.1", "data": [{"title": "t", "paragraphs": paragraphs}]}


def first_answers(path: Path) -> dict[str, str]:
    """Each question's first gold answer: a prediction that must score as gold."""
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    return {qa["id"]: qa["answers"][0]["text"] for article in data for paragraph in article["paragraphs"]
            for qa in paragraph["qas"]}


def averages(scores: dict, task: str) -> dict:
    return {k: v for k, v in scores["tasks"][task]["averages"].items() if k != "avg_metric"}


# Conformance ------------------------------------------------------------------------------------------------------


@needs_mock
def test_mock_submission_reproduces_xtremes_averages_exactly():
    scores = score_folders(str(MOCK / "predictions"), str(MOCK / "labels"))
    assert set(scores["tasks"]) == set(MOCK_AVERAGES)
    for task, expected in MOCK_AVERAGES.items():
        assert averages(scores, task) == expected, task
        assert scores["tasks"][task]["languages"]["scored"] == list(XTREME_TASK_LANGUAGES[task])
    assert scores["tasks"]["xquad"]["averages"]["avg_metric"] == (77.27272727272727 + 79.9586776859504) / 2
    assert scores["tasks"]["udpos"]["averages"]["avg_metric"] == 70.21746048354693
    # Token accuracy is reported next to XTREME's udpos figure, never inside its averages.
    assert "token_accuracy" not in scores["tasks"]["udpos"]["metrics"]
    assert 0 < scores["tasks"]["udpos"]["extra"]["avg_token_accuracy"] < 100
    # mlqa and tydiqa are absent: the qa group and the overall score are not defined.
    assert set(scores["groups"]) == {"classification", "structured_prediction", "retrieval"}
    assert scores["groups"]["classification"] == (51.42857142857143 + 30.666666666666668) / 2
    assert scores["overall"] is None


def test_averages_add_left_to_right_on_every_python():
    """XTREME's figures were made with ``sum()`` before Python 3.12, which rounds each addition; from 3.12 ``sum()``
    compensates the rounding (PAN-X's F1 on the mock submission would end ...506, not XTREME's ...652)."""
    from veco_lightning.tasks.metrics import mean_in_order

    values = [1e16, 1.0, -1e16]
    assert mean_in_order(values) == 0.0  # 1e16 + 1.0 rounds to 1e16
    assert mean_in_order(iter([57.1, 50.0, 33.3])) == (57.1 + 50.0 + 33.3) / 3


@needs_mock
def test_score_command_writes_json_and_markdown(tmp_path, capsys):
    output = tmp_path / "out" / "scores.json"
    score_main(["--predictions", str(MOCK / "predictions"), "--labels", str(MOCK / "labels"),
                "--output", str(output)])
    scores = json.loads(output.read_text(encoding="utf-8"))
    assert scores["tasks"]["panx"]["averages"]["avg_f1"] == 57.50793650793652
    table = (tmp_path / "out" / "scores.md").read_text(encoding="utf-8")
    assert table in capsys.readouterr().out
    assert "| panx | f1 | 57.5 |" in table and "| **classification** | 41.0 |" in table
    assert "token_accuracy *" in table


@needs_mock
def test_score_command_starts_without_the_training_stack(tmp_path):
    """`veco-xtreme score` is arithmetic: through the console script's entry it imports neither torch nor Lightning,
    datasets or transformers (with them it took 11 s to start on 2 cores, without 0.4 s)."""
    import subprocess
    import sys

    code = ("import sys\n"
            "from veco_lightning.allocator import xtreme\n"
            f"xtreme(['score', '--predictions', {str(MOCK / 'predictions')!r}, '--labels', {str(MOCK / 'labels')!r}, "
            f"'--output', {str(tmp_path / 'scores.json')!r}])\n"
            "heavy = ('torch', 'lightning', 'datasets', 'transformers')\n"
            "loaded = sorted(m for m in sys.modules if m.split('.')[0] in heavy)\n"
            "assert not loaded, loaded\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert scores["tasks"]["panx"]["averages"]["avg_f1"] == 57.50793650793652


# MLQA and TyDiQA --------------------------------------------------------------------------------------------------


def test_mlqa_uses_each_languages_normalisation(tmp_path, caplog):
    gold = {
        "en": {"en1": ["The Eiffel Tower"], "en2": ["«Paris»"], "en3": ["1889"]},
        "de": {"de1": ["die Hauptstadt Berlin"], "de2": ["des Kaisers"]},
        "ar": {"ar1": ["الكتاب"], "ar2": ["مدينة القدس"]},
        "zh": {"zh1": ["电化电池"], "zh2": ["《红楼梦》"]},
    }
    answers = {
        "en": {"en1": "eiffel tower.", "en2": "Paris"},  # articles and Unicode punctuation dropped; en3 unanswered
        "de": {"de1": "Hauptstadt Berlin", "de2": "dem Kaiser"},  # German articles dropped; kaiser != kaisers
        "ar": {"ar1": "كتاب", "ar2": "القدس"},  # ال dropped; 1 of the 2 gold tokens
        "zh": {"zh1": "电池", "zh2": "红楼梦"},  # 2 of 4 characters; book-title marks are punctuation
    }
    for lang in gold:
        write(tmp_path, "labels", "mlqa", lang, squad(gold[lang]))
        write(tmp_path, "predictions", "mlqa", lang, answers[lang])
    with caplog.at_level(logging.WARNING):
        scores = score_folders(str(tmp_path / "predictions"), str(tmp_path / "labels"), allow_missing=True)
    task = scores["tasks"]["mlqa"]
    expected = {"en": (200 / 3, 200 / 3), "de": (50.0, 50.0), "ar": (50.0, 100 * (1 + 2 / 3) / 2),
                "zh": (50.0, 100 * (2 / 3 + 1) / 2)}
    for lang, (em, f1) in expected.items():
        assert task["metrics"]["exact_match"][lang] == pytest.approx(em), lang
        assert task["metrics"]["f1"][lang] == pytest.approx(f1), lang
    assert task["averages"]["avg_f1"] == pytest.approx(sum(f1 for _, f1 in expected.values()) / 4)
    assert task["languages"] == {"scored": ["en", "de", "ar", "zh"], "missing": ["es", "hi", "vi"], "ignored": []}
    assert task["extra"]["unanswered"] == {"en": 1, "de": 0, "ar": 0, "zh": 0}
    assert "1 of 3 questions have no answer" in caplog.text and "test-en.json" in caplog.text
    # An incomplete task never enters a group score.
    assert not task["complete"] and scores["groups"] == {} and scores["metadata"]["incomplete_tasks"] == ["mlqa"]


@pytest.mark.skipif(not MLQA_DEV.is_dir(), reason="MLQA dev sets not available")
def test_mlqa_dev_gold_answers_score_100(tmp_path):
    for lang in XTREME_TASK_LANGUAGES["mlqa"]:
        source = MLQA_DEV / f"dev-context-{lang}-question-{lang}.json"
        shutil.copyfile(source, write(tmp_path, "labels", "mlqa", lang, ""))
        write(tmp_path, "predictions", "mlqa", lang, first_answers(source))
    task = score_folders(str(tmp_path / "predictions"), str(tmp_path / "labels"))["tasks"]["mlqa"]
    assert task["metrics"]["exact_match"]["en"] == 100.0 and task["metrics"]["f1"]["en"] == 100.0
    assert set(task["metrics"]["exact_match"].values()) == {100.0}
    # MLQA's arithmetic: one Spanish gold answer is the bare article "una", normalised to nothing, and an empty
    # answer has F1 0 even against itself (1 of 500 questions).
    assert task["metrics"]["f1"]["es"] == pytest.approx(100 * 499 / 500)
    assert task["complete"]


def test_tydiqa_gold_answers_score_100(tmp_path):
    gold = {"finnish-1": ["vuonna 1917"], "swahili-1": ["Nairobi", "mji wa Nairobi"]}
    for lang in XTREME_TASK_LANGUAGES["tydiqa"]:
        write(tmp_path, "labels", "tydiqa", lang, squad({f"{lang}-{qid}": texts for qid, texts in gold.items()}))
        write(tmp_path, "predictions", "tydiqa", lang, {f"{lang}-{qid}": texts[-1] for qid, texts in gold.items()})
    scores = score_folders(str(tmp_path / "predictions"), str(tmp_path / "labels"))
    assert averages(scores, "tydiqa") == {"avg_exact_match": 100.0, "avg_f1": 100.0}


@pytest.mark.skipif(not TYDIQA_DEV.is_dir(), reason="TyDiQA-GoldP dev not available")
def test_tydiqa_dev_files_are_read_and_their_empty_answers_flagged(tmp_path, caplog):
    """The shared TyDiQA-GoldP copies carry no answer text (every answer is ''): gold predictions match exactly, but
    SQuAD's F1 of two empty answers is 0, and the scorer says why."""
    for path in sorted(TYDIQA_DEV.glob("tydiqa.goldp.*.dev.json")):
        lang = path.name.split(".")[2]
        shutil.copyfile(path, write(tmp_path, "labels", "tydiqa", lang, ""))
        write(tmp_path, "predictions", "tydiqa", lang, first_answers(path))
    with caplog.at_level(logging.WARNING):
        task = score_folders(str(tmp_path / "predictions"), str(tmp_path / "labels"), allow_missing=True)["tasks"]
    assert set(task["tydiqa"]["metrics"]["exact_match"].values()) == {100.0}
    assert "only empty gold answers" in caplog.text


# Groups and overall -----------------------------------------------------------------------------------------------


def perfect_submission(root: Path) -> None:
    """Every language of every task, predictions equal to labels."""
    content = {"pawsx": "1\n0\n", "xnli": "entailment\nneutral\n", "panx": "B-PER\nI-PER\nO\n\nB-LOC\n",
               "udpos": "PRON\nVERB\n\nNOUN\n", "bucc2018": "de-1\ten-1\n", "tatoeba": "3\n1\n",
               "xquad": squad({"q": ["Denver Broncos"]}), "mlqa": squad({"q": ["Denver Broncos"]}),
               "tydiqa": squad({"q": ["Denver Broncos"]})}
    for task, languages in XTREME_TASK_LANGUAGES.items():
        for lang in languages:
            write(root, "labels", task, lang, content[task])
            write(root, "predictions", task, lang, {"q": "Denver Broncos"} if task in ("xquad", "mlqa", "tydiqa")
                  else content[task])


def test_all_nine_tasks_give_group_and_overall_scores(tmp_path):
    perfect_submission(tmp_path)
    scores = score_folders(str(tmp_path / "predictions"), str(tmp_path / "labels"))
    assert {task: s["averages"]["avg_metric"] for task, s in scores["tasks"].items()} == dict.fromkeys(
        XTREME_TASK_LANGUAGES, 100.0)
    assert scores["groups"] == dict.fromkeys(["classification", "structured_prediction", "qa", "retrieval"], 100.0)
    assert scores["overall"] == 100.0
    table = write_table(scores, str(tmp_path / "s.json"), str(tmp_path / "s.md"))
    assert "| **overall** | 100.0 |" in table
    assert json.loads((tmp_path / "s.json").read_text())["overall"] == 100.0


# Bad input --------------------------------------------------------------------------------------------------------


def test_missing_language_names_the_file_and_the_option(tmp_path):
    write(tmp_path, "labels", "pawsx", "de", "1\n")
    write(tmp_path, "predictions", "pawsx", "de", "1\n")
    with pytest.raises(FileNotFoundError, match=r"test-en\.tsv is missing.*--allow_missing"):
        score_folders(str(tmp_path / "predictions"), str(tmp_path / "labels"))
    scores = score_folders(str(tmp_path / "predictions"), str(tmp_path / "labels"), allow_missing=True)
    assert scores["tasks"]["pawsx"]["languages"]["missing"] == ["en", "es", "fr", "ja", "ko", "zh"]


def test_unequal_sentence_counts_name_both_files(tmp_path):
    write(tmp_path, "labels", "panx", "de", "B-PER\nO\n\nB-LOC\n")
    write(tmp_path, "predictions", "panx", "de", "B-PER\nO\n\nB-LOC\n\nO\n")
    with pytest.raises(ValueError, match=r"predictions/panx/test-de\.tsv has 3 sentences but .*labels/panx/test-de"
                                         r"\.tsv has 2"):
        score_folders(str(tmp_path / "predictions"), str(tmp_path / "labels"), allow_missing=True)
    # Two blank lines in a row make an empty sentence (XTREME reads one): an error naming the line.
    write(tmp_path, "predictions", "panx", "de", "B-PER\nO\n\n\nB-LOC\n")
    with pytest.raises(ValueError, match=r"panx de: .*predictions/panx/test-de\.tsv:4: empty sentence"):
        score_folders(str(tmp_path / "predictions"), str(tmp_path / "labels"), allow_missing=True)


def test_gold_data_files_serve_as_tagging_labels(tmp_path):
    """PAN-X's gold data file ('token<TAB>tag', with XTREME's 'lang:' prefixes) scores as its label file."""
    write(tmp_path, "labels", "panx", "de", "de:Paris\tB-LOC\nde:ist\tO\n\nde:Ja\tO\n\n")
    write(tmp_path, "predictions", "panx", "de", "B-LOC\nO\n\nB-PER\n")
    task = score_folders(str(tmp_path / "predictions"), str(tmp_path / "labels"), allow_missing=True)["tasks"]["panx"]
    assert task["metrics"] == {"f1": {"de": pytest.approx(200 / 3)}, "precision": {"de": 50.0}, "recall": {"de": 100.0}}


def test_blank_lines_of_line_files(tmp_path):
    write(tmp_path, "labels", "xnli", "en", "neutral\ncontradiction\n")
    write(tmp_path, "predictions", "xnli", "en", "neutral\nneutral\n\n\n")  # blank lines at the end: ignored
    scores = score_folders(str(tmp_path / "predictions"), str(tmp_path / "labels"), allow_missing=True)
    assert scores["tasks"]["xnli"]["metrics"]["accuracy"] == {"en": 50.0}
    write(tmp_path, "predictions", "xnli", "en", "neutral\n\ncontradiction\n")  # inside: XTREME's empty label
    with pytest.raises(ValueError, match=r"xnli en: .*predictions/xnli/test-en\.tsv:2: empty line"):
        score_folders(str(tmp_path / "predictions"), str(tmp_path / "labels"), allow_missing=True)


def test_unequal_line_and_token_counts(tmp_path):
    write(tmp_path, "labels", "xnli", "en", "neutral\ncontradiction\n")
    write(tmp_path, "predictions", "xnli", "en", "neutral\n")
    with pytest.raises(ValueError, match="has 1 lines but .* has 2; write one prediction per line"):
        score_folders(str(tmp_path / "predictions"), str(tmp_path / "labels"), allow_missing=True)
    shutil.rmtree(tmp_path / "predictions" / "xnli")
    shutil.rmtree(tmp_path / "labels" / "xnli")
    write(tmp_path, "labels", "udpos", "en", "PRON\nVERB\n\nNOUN\n")
    write(tmp_path, "predictions", "udpos", "en", "PRON\nVERB\n\nNOUN\nPUNCT\n")
    with pytest.raises(ValueError, match="udpos en: .*sentence 2: 2 predicted tags for 1 reference tokens"):
        score_folders(str(tmp_path / "predictions"), str(tmp_path / "labels"), allow_missing=True)


def test_malformed_qa_files(tmp_path):
    write(tmp_path, "labels", "xquad", "en", squad({"q": ["Denver"]}))
    write(tmp_path, "predictions", "xquad", "en", [["q", "Denver"]])
    with pytest.raises(ValueError, match="must be one JSON object mapping each question id"):
        score_folders(str(tmp_path / "predictions"), str(tmp_path / "labels"), allow_missing=True)
    write(tmp_path, "predictions", "xquad", "en", {"q": "Denver"})
    write(tmp_path, "labels", "xquad", "en", {"data": [{"paragraphs": [{"qas": [{"id": "q"}]}]}]})
    with pytest.raises(ValueError, match=r"xquad en: .*data\[0\]\.paragraphs\[0\] needs a 'context' string"):
        score_folders(str(tmp_path / "predictions"), str(tmp_path / "labels"), allow_missing=True)
    write(tmp_path, "labels", "xquad", "en", {"data": [{"paragraphs": [{"context": "Denver", "qas": [
        {"id": "q", "question": "?"}]}]}]})
    with pytest.raises(ValueError, match="question 'q': no valid answer"):
        score_folders(str(tmp_path / "predictions"), str(tmp_path / "labels"), allow_missing=True)
    labels = squad({"q": ["Denver"]})
    labels["data"][0]["paragraphs"] *= 2
    write(tmp_path, "labels", "xquad", "en", labels)
    with pytest.raises(ValueError, match="question 'q': duplicate id"):
        score_folders(str(tmp_path / "predictions"), str(tmp_path / "labels"), allow_missing=True)
    # The bare list of articles is read as XTREME reads it.
    write(tmp_path, "labels", "xquad", "en", squad({"q": ["Denver"]})["data"])
    scores = score_folders(str(tmp_path / "predictions"), str(tmp_path / "labels"), allow_missing=True)
    assert scores["tasks"]["xquad"]["metrics"]["exact_match"] == {"en": 100.0}


def test_unknown_and_one_sided_folders_are_reported(tmp_path, caplog):
    write(tmp_path, "labels", "tatoeba", "de", "1\n2\n")
    write(tmp_path, "predictions", "tatoeba", "de", "1\n0\n")
    write(tmp_path, "predictions", "paws-x", "de", "1\n")
    write(tmp_path, "labels", "xnli", "de", "neutral\n")
    with caplog.at_level(logging.WARNING):
        scores = score_folders(str(tmp_path / "predictions"), str(tmp_path / "labels"), allow_missing=True)
    assert scores["tasks"]["tatoeba"]["metrics"]["accuracy"] == {"de": 50.0}
    assert scores["metadata"]["unknown_folders"] == ["paws-x"]
    assert scores["metadata"]["only_in_labels"] == ["xnli"]
    assert "did you mean 'pawsx'" in caplog.text
    with pytest.raises(ValueError, match="no XTREME task folder in both"):
        score_folders(str(tmp_path / "predictions" / "paws-x"), str(tmp_path / "labels"))
