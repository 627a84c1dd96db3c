"""XTREME fine-tuning end to end on CPU: one smoke run per task family (tiny encoder, a few steps, small files the
test writes in each standard format), and the pieces that make predictions exact: windows, spans, encoders."""

import json
import os
import shutil
import warnings
from dataclasses import replace

import pytest
import torch
import yaml
from conftest import sentences
from transformers import AutoTokenizer

from veco_lightning.models.encoder import EncoderSpec, build_encoder
from veco_lightning.tasks.cli import run_cli
from veco_lightning.tasks.formats import QAExample, TaggedSentence
from veco_lightning.tasks.metrics import qa_scores
from veco_lightning.tasks.qa import QASet, max_context, window_starts
from veco_lightning.tasks.tagging import TaggingSet

LANGS = ("en", "ru", "zh")


@pytest.fixture(scope="module")
def encoder_dir(tokenizer_dir, tmp_path_factory):
    """A random tiny encoder exported with its tokenizer (what veco-export writes)."""
    path = tmp_path_factory.mktemp("encoder")
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    build_encoder(EncoderSpec(preset="tiny", max_length=128), vocab_size=len(tokenizer)).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def _fit(tmp_path, config: str, encoder, *extra):
    (tmp_path / "task.yaml").write_text(config, encoding="utf-8")
    return run_cli(["fit", "--config", str(tmp_path / "task.yaml"), f"--model.init_args.encoder={encoder}",
                    f"--model.init_args.output_dir={tmp_path / 'out'}", f"--trainer.default_root_dir={tmp_path}",
                    "--trainer.max_steps=3", "--trainer.accelerator=cpu", "--trainer.logger=false",
                    "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false", *extra])


XNLI_LABELS = ("entailment", "neutral", "contradiction")


def _xnli_rows(lang: str) -> list[str]:
    """XNLI-layout rows (premise, hypothesis, label) from the fixture sentences."""
    return [f"{a}\t{b}\t{XNLI_LABELS[i % 3]}" for i, (a, b) in enumerate(zip(sentences(lang), sentences(lang)[1:]))]


def _xnli_config(tmp_path, test_files: str, extra: str = "") -> str:
    """A task config of XNLI trained on ``tmp_path/en.tsv`` and tested on ``test_files`` (a YAML mapping)."""
    return f"""
model:
  class_path: veco_lightning.tasks.SequenceClassificationTask
  init_args: {{task: xnli}}
data:
  class_path: veco_lightning.tasks.ClassificationDataModule
  init_args:
    task: xnli
    train_files: {tmp_path / 'en.tsv'}
    dev_split: 0.3
    test_files: {test_files}
    batch_size: 4{extra}
"""


def test_classification_xnli_layout(encoder_dir, tmp_path, caplog):
    labels = XNLI_LABELS
    for lang in LANGS:
        (tmp_path / f"{lang}.tsv").write_text("\n".join(_xnli_rows(lang)[:30]) + "\n", encoding="utf-8")
    cli = _fit(tmp_path, _xnli_config(tmp_path, f"{{ru: {tmp_path / 'ru.tsv'}, zh: {tmp_path / 'zh.tsv'}}}"),
               encoder_dir)
    out = tmp_path / "out"
    predicted = (out / "predictions" / "xnli" / "test-ru.tsv").read_text().splitlines()
    assert len(predicted) == 30 and set(predicted) <= set(labels)
    scores = json.loads((out / "scores" / "xnli.json").read_text())
    assert set(scores["languages"]) == {"ru", "zh"} and 0 <= scores["avg_accuracy"] <= 100
    assert "test/ru/accuracy" in cli.trainer.callback_metrics  # fit ends with the test of the kept checkpoint
    held_out, trained = len(cli.datamodule.dev_sets[0]), len(cli.datamodule.train_set)
    assert held_out + trained == 30 and 6 <= held_out <= 12  # dev_split: 30% of the premises, seeded
    assert (out / "labels" / "xnli" / "test-zh.tsv").read_text().splitlines()[:3] == list(labels)
    # Again into the same folder, testing ru alone: zh's file is the first run's, and the run says so.
    with caplog.at_level("WARNING", logger="veco_lightning.tasks.base"):
        _fit(tmp_path, (tmp_path / "task.yaml").read_text().replace(f", zh: {tmp_path / 'zh.tsv'}", ""), encoder_dir)
    assert "also holds test-zh.tsv, written by an earlier run" in caplog.text


def test_test_sets_cut_by_limit_test_batches_are_reported_not_written(encoder_dir, tmp_path, capsys):
    # As validation does with limit_val_batches: a test set the trainer cut short is neither written (an XTREME
    # prediction file needs every example) nor scored, and the run says so instead of failing in decoding.
    for lang in ("en", "ru"):
        (tmp_path / f"{lang}.tsv").write_text("\n".join(_xnli_rows(lang)[:30]) + "\n", encoding="utf-8")
    (tmp_path / "small.tsv").write_text("\n".join(_xnli_rows("ru")[:3]) + "\n", encoding="utf-8")  # one batch
    _fit(tmp_path, _xnli_config(tmp_path, f"{{ru: {tmp_path / 'ru.tsv'}, de: {tmp_path / 'small.tsv'}}}",
                                "\n    eval_batch_size: 4"), encoder_dir, "--trainer.limit_test_batches=1")
    out = tmp_path / "out"
    assert not (out / "predictions" / "xnli" / "test-ru.tsv").exists()
    assert len((out / "predictions" / "xnli" / "test-de.tsv").read_text().splitlines()) == 3
    assert set(json.loads((out / "scores" / "xnli.json").read_text())["languages"]) == {"de"}
    assert "cut short by trainer.limit_test_batches, neither written nor scored" in capsys.readouterr().out


def test_null_progress_section_says_what_to_do(encoder_dir, tmp_path):
    config = """
model: {class_path: veco_lightning.tasks.SequenceClassificationTask, init_args: {task: xnli}}
data: {class_path: veco_lightning.tasks.ClassificationDataModule, init_args: {task: xnli, train_files: x.tsv}}
progress: null
"""
    with pytest.raises(SystemExit, match="'progress: null' in a config.*Remove the line"):
        _fit(tmp_path, config, encoder_dir)


def test_tagging_conllu_windows_every_word(encoder_dir, tmp_path):
    def conllu(lang, count, repeat=1):
        blocks = []
        for k, sentence in enumerate(sentences(lang)[:count]):
            words = sentence.rstrip(".。").split() * repeat if lang != "zh" else list(sentence.rstrip("。")) * repeat
            blocks.append(f"# sent_id = {k}\n" + "".join(
                f"{i + 1}\t{w}\t_\t{'NOUN' if i % 2 else 'VERB'}\t_\t_\t0\t_\t_\t_\n" for i, w in enumerate(words)))
        return "\n".join(blocks) + "\n"

    (tmp_path / "train.conllu").write_text(conllu("en", 24), encoding="utf-8")
    (tmp_path / "long.conllu").write_text(conllu("ru", 6, repeat=12), encoding="utf-8")  # longer than max_length
    cli = _fit(tmp_path, f"""
model:
  class_path: veco_lightning.tasks.TokenClassificationTask
  init_args: {{task: udpos}}
data:
  class_path: veco_lightning.tasks.TaggingDataModule
  init_args:
    train_files: {tmp_path / 'train.conllu'}
    dev_file: {tmp_path / 'train.conllu'}
    test_files: {{ru: {tmp_path / 'long.conllu'}}}
    max_length: 24
    batch_size: 4
""", encoder_dir)
    assert cli.model.labels == ["NOUN", "VERB"]
    test_set = cli.datamodule.test_sets[0]
    assert len(test_set.windows) > len(test_set.sentences)  # long sentences were cut into windows
    predicted = (tmp_path / "out" / "predictions" / "udpos" / "test-ru.tsv").read_text().split("\n\n")
    assert [len(block.split()) for block in predicted] == [len(s.words) for s in test_set.sentences]
    scores = json.loads((tmp_path / "out" / "scores" / "udpos.json").read_text())["languages"]["ru"]
    assert {"f1", "precision", "recall", "token_accuracy"} <= set(scores)


def test_tagging_windows_rejoin(tokenizer_dir):
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    words = "the small dog sees the green house and a big river near the new school".split() * 4
    sentence = TaggedSentence(words, ["A" if i % 3 else "B" for i in range(len(words))], 1)
    dataset = TaggingSet([sentence, TaggedSentence([], [], 9)], "en", "mem", tokenizer, ["A", "B"], max_length=16)
    assert len(dataset.windows) > 3 and all(len(w["input_ids"]) <= 16 for w in dataset.windows)
    gold = {}
    for i, window in enumerate(dataset.windows):  # predict the gold label of every word of every window
        n = sum(window["word_starts"])
        gold[i] = [{"A": 0, "B": 1}[label] for label in sentence.labels[window["first_word"]:window["first_word"] + n]]
    assert dataset.decode(gold) == [sentence.labels, []]


def test_qa_windows_and_offsets(tokenizer_dir, encoder_dir, tmp_path):
    assert window_starts(10, 4, 2) == [0, 2, 4, 6]
    assert window_starts(3, 4, 2) == [0]
    assert max_context(3, [(0, 4), (2, 4)], 1) and not max_context(3, [(0, 4), (2, 4)], 0)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    context = " ".join(sentences("zh")[:6]) + " " + " ".join(sentences("en")[:10])
    answer = sentences("zh")[4][:5]
    example = QAExample("q1", "t", context, "谁?", [(answer, context.index(answer))])
    dataset = QASet([example], "zh", "mem", tokenizer, max_length=32, doc_stride=8, train=True)
    assert len(dataset.features) > 2
    hits = [f for f in dataset.features if f["start_positions"] > 0]
    assert hits  # the answer is located through the offsets, in every window holding all of it
    for f in hits:
        first, offsets = f["first"], f["offsets"]
        start, end = offsets[f["start_positions"] - first][0], offsets[f["end_positions"] - first][1]
        assert answer in context[start:end] and len(context[start:end]) <= len(answer) + 2
    # decoding: the gold span's logits win; the answer text is cut from the context through the offsets
    outputs = {i: ([f.get("start_positions", 0)], [1.0], [f.get("end_positions", 0)], [1.0])
               for i, f in enumerate(dataset.features)}
    assert answer in dataset.decode(outputs)["q1"]


def _squad(lang: str, questions: int, prefix: str = "q", question_lang: str | None = None) -> str:
    """SQuAD v1.1 JSON of ``questions`` questions on contexts in ``lang`` (questions in ``question_lang``)."""
    paragraphs = []
    for k, sentence in enumerate(sentences(lang)[:questions]):
        context = " ".join(sentences(lang)[k : k + 8])
        answer = {"text": sentence[:4], "answer_start": 0}
        question = sentences(question_lang or lang)[k][:6]
        paragraphs.append({"context": context, "qas": [{"id": f"{prefix}{k}", "question": question,
                                                        "answers": [answer]}]})
    return json.dumps({"version": "1.1", "data": [{"title": "t", "paragraphs": paragraphs}]}, ensure_ascii=False)


def _qa_config(tmp_path, task: str, test_files: str) -> str:
    return f"""
trainer: {{limit_val_batches: 0, num_sanity_val_steps: 0}}
model:
  class_path: veco_lightning.tasks.QuestionAnsweringTask
  init_args: {{task: {task}, warmup_steps: 1}}
data:
  class_path: veco_lightning.tasks.QADataModule
  init_args:
    train_files: {tmp_path / 'train.json'}
    test_files: {test_files}
    max_length: 48
    doc_stride: 16
    batch_size: 4
"""


def test_qa_squad_file_end_to_end(encoder_dir, tmp_path):
    (tmp_path / "train.json").write_text(_squad("en", 12), encoding="utf-8")
    (tmp_path / "test-zh.json").write_text(_squad("zh", 5, prefix="zq"), encoding="utf-8")
    (tmp_path / "zh-en.json").write_text(_squad("zh", 5, prefix="x", question_lang="en"), encoding="utf-8")
    _fit(tmp_path, _qa_config(tmp_path, "xquad", f"{{zh: {tmp_path / 'test-zh.json'}, "
                                                 f"context-zh-question-en: {tmp_path / 'zh-en.json'}}}"), encoder_dir)
    predicted = json.loads((tmp_path / "out" / "predictions" / "xquad" / "test-zh.json").read_text())
    assert set(predicted) == {f"zq{k}" for k in range(5)}  # one answer per question id
    assert os.path.exists(tmp_path / "out" / "labels" / "xquad" / "test-zh.json")
    result = json.loads((tmp_path / "out" / "scores" / "xquad.json").read_text())
    # a set with questions in another language (G-XLT) stays out of the XTREME average
    assert result["avg_f1"] == result["languages"]["zh"]["f1"]
    assert result["gxlt_avg_f1"] == pytest.approx(sum(s["f1"] for s in result["languages"].values()) / 2)


def test_mlqa_sets_with_questions_in_another_language(encoder_dir, tmp_path):
    """MLQA's G-XLT sets (contexts in one language, questions in another) are scored with the context language's
    normalisation and kept out of XTREME's MLQA average; a set whose languages cannot be told stops the run before
    fine-tuning."""
    from veco_lightning.tasks.formats import read_qa_predictions

    (tmp_path / "train.json").write_text(_squad("en", 12), encoding="utf-8")
    (tmp_path / "dev-context-en-question-en.json").write_text(_squad("en", 5, prefix="e"), encoding="utf-8")
    (tmp_path / "dev-context-zh-question-en.json").write_text(_squad("zh", 5, prefix="z", question_lang="en"),
                                                              encoding="utf-8")
    (tmp_path / "zh-en.json").write_text(_squad("zh", 5, prefix="z", question_lang="en"), encoding="utf-8")
    for name, file in (("zh", "dev-context-zh-question-en.json"), ("zh-en", "zh-en.json")):
        with pytest.raises(ValueError, match="MLQA test set 'zh(-en)?': (its file .* holds contexts in 'zh' and "
                                             "questions in 'en'|cannot tell its languages)"):
            _fit(tmp_path, _qa_config(tmp_path, "mlqa", f"{{{name}: {tmp_path / file}}}"), encoder_dir)
        assert not (tmp_path / "checkpoints").exists()  # refused before fine-tuning
    with pytest.raises(ValueError, match="MLQA test set 'zh-en': cannot tell its languages"):  # development sets too
        _fit(tmp_path, _qa_config(tmp_path, "mlqa", f"{{en: {tmp_path / 'dev-context-en-question-en.json'}}}"),
             encoder_dir, "--data.init_args.model_selection=target_dev",
             f"--data.init_args.dev_files={{zh-en: {tmp_path / 'zh-en.json'}}}")
    assert not (tmp_path / "checkpoints").exists()
    _fit(tmp_path, _qa_config(tmp_path, "mlqa", f"{{en: {tmp_path / 'dev-context-en-question-en.json'}, "
                                                f"context-zh-question-en: {tmp_path / 'zh-en.json'}, "
                                                f"cross: {tmp_path / 'dev-context-zh-question-en.json'}}}"),
         encoder_dir)
    result = json.loads((tmp_path / "out" / "scores" / "mlqa.json").read_text())
    scores = result["languages"]
    assert list(scores) == ["en", "context-zh-question-en", "cross"]
    predicted = read_qa_predictions(str(tmp_path / "out" / "predictions" / "mlqa" / "test-cross.json"))
    gold = {f"z{k}": [sentence[:4]] for k, sentence in enumerate(sentences("zh")[:5])}
    assert scores["cross"] == qa_scores(predicted, gold, task="mlqa", language="zh")  # zh: per character
    assert result["avg_f1"] == scores["en"]["f1"]  # XTREME's MLQA score: the sets of one language
    assert result["gxlt_avg_f1"] == pytest.approx(sum(s["f1"] for s in scores.values()) / 3)


def test_pretraining_checkpoint_as_encoder(corpus_dir, tokenizer_dir, tmp_path):
    from transformers import XLMRobertaForTokenClassification

    from veco_lightning.cli import run_cli as veco_fit
    from veco_lightning.tasks.backbone import load_task_encoder, tokenizer_of

    files = "{" + ", ".join(f"{lang}: {corpus_dir / f'{lang}.txt'}" for lang in LANGS) + "}"
    fit = veco_fit(["--config", "tests/conf/tiny.yaml", f"--data.tokenizer={tokenizer_dir}",
                    f"--data.monolingual.files={files}", f"--data.monolingual.cache_dir={tmp_path / 'cache'}",
                    f"--trainer.default_root_dir={tmp_path}", "--export.enabled=false"])
    checkpoint = fit.trainer.checkpoint_callback.best_model_path
    model = load_task_encoder(checkpoint, XLMRobertaForTokenClassification, num_labels=3)
    trunk = fit.model.model.roberta.state_dict()
    for name, value in model.roberta.state_dict().items():
        torch.testing.assert_close(value, trunk[name])
    assert tokenizer_of(checkpoint) == str(tokenizer_dir)


def _suite_files(tmp_path) -> None:
    """An XNLI task config on the fixture sentences (a missing German test file), a task config without data, a
    Tatoeba folder and a retrieval config reading it."""
    labels = ("entailment", "neutral", "contradiction")
    for lang in LANGS:
        rows = [f"{a}\t{b}\t{labels[i % 3]}" for i, (a, b) in enumerate(zip(sentences(lang), sentences(lang)[1:]))]
        (tmp_path / f"{lang}.tsv").write_text("\n".join(rows[:24]) + "\n", encoding="utf-8")
    (tmp_path / "xnli.yaml").write_text(f"""
model: {{class_path: veco_lightning.tasks.SequenceClassificationTask, init_args: {{task: xnli}}}}
data:
  class_path: veco_lightning.tasks.ClassificationDataModule
  init_args: {{task: xnli, train_files: {tmp_path / 'en.tsv'}, dev_split: 0.25, batch_size: 4,
              test_files: {{en: {tmp_path / 'en.tsv'}, ru: {tmp_path / 'ru.tsv'}, de: {tmp_path / 'missing.tsv'}}}}}
""", encoding="utf-8")
    (tmp_path / "absent.yaml").write_text("""
model: {class_path: veco_lightning.tasks.TokenClassificationTask, init_args: {task: udpos}}
data: {class_path: veco_lightning.tasks.TaggingDataModule, init_args: {train_files: /nowhere/train.conllu}}
""", encoding="utf-8")
    # XTREME's Tatoeba task: no fine-tuning, veco-fit test on the same encoder through an evaluation config
    (tmp_path / "tatoeba").mkdir()
    for code, lang in (("rus", "ru"), ("cmn", "zh")):
        (tmp_path / "tatoeba" / f"tatoeba.{code}-eng.{code}").write_text("\n".join(sentences(lang)) + "\n",
                                                                        encoding="utf-8")
        (tmp_path / "tatoeba" / f"tatoeba.{code}-eng.eng").write_text("\n".join(sentences("en")) + "\n",
                                                                      encoding="utf-8")
    (tmp_path / "retrieval.yaml").write_text(f"""
trainer: {{accelerator: cpu, devices: 1, logger: false, enable_checkpointing: false, enable_progress_bar: false}}
model: {{encoder: {{preset: null}}}}
data:
  monolingual: null
  evaluation: {{tatoeba: {{root: {tmp_path / 'tatoeba'}, languages: [rus, cmn]}}, max_length: 32, val_max_pairs: 0}}
""", encoding="utf-8")


def test_suite_runs_tasks_and_fills_the_table(encoder_dir, tmp_path, capsys):
    from veco_lightning.tasks.cli import run as main

    _suite_files(tmp_path)
    (tmp_path / "suite.yaml").write_text(f"tasks: [{tmp_path / 'xnli.yaml'}, {tmp_path / 'absent.yaml'}]\n"
                                         "args: [--trainer.max_steps=2, --trainer.logger=false, "
                                         "--trainer.enable_progress_bar=false]\n"
                                         f"retrieval: {tmp_path / 'retrieval.yaml'}\n", encoding="utf-8")
    for side in ("predictions", "labels"):  # an earlier run's task, which this suite does not run: not scored
        (tmp_path / "out" / side / "pawsx").mkdir(parents=True)
        (tmp_path / "out" / side / "pawsx" / "test-en.tsv").write_text("1\n0\n", encoding="utf-8")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scores = main(["suite", "--config", str(tmp_path / "suite.yaml"), f"--encoder={encoder_dir}",
                       f"--output_dir={tmp_path / 'out'}"])
    # each part runs with its own arguments, whatever the process's command line (here pytest's)
    assert not [w for w in caught if "args parameter" in str(w.message)]
    assert set(scores["tasks"]) == {"xnli", "tatoeba"}  # udpos has no data: skipped; pawsx is not this run's
    assert scores["metadata"]["left_out"] == ["pawsx"]
    assert "Not scored: pawsx" in capsys.readouterr().out
    xnli = scores["tasks"]["xnli"]
    assert set(xnli["metrics"]["accuracy"]) == {"en", "ru"} and not xnli["complete"]
    assert (tmp_path / "out" / "xtreme.md").read_text().count("xnli") >= 1
    retrieval = json.loads((tmp_path / "out" / "retrieval" / "results.json").read_text())["results"]["retrieval"]
    for code, lang in (("rus", "ru"), ("cmn", "zh")):  # the table's figure is the evaluation's xx -> en accuracy
        assert scores["tasks"]["tatoeba"]["metrics"]["accuracy"][lang] == pytest.approx(
            100 * retrieval[f"{code}-eng"]["src2tgt"])

    (tmp_path / "suite.yaml").write_text(f"tasks: [{tmp_path / 'absent.yaml'}]\n"
                                         f"retrieval: {tmp_path / 'nowhere.yaml'}\n", encoding="utf-8")
    with pytest.raises(FileNotFoundError, match="nowhere.yaml"):
        main(["suite", "--config", str(tmp_path / "suite.yaml"), f"--encoder={encoder_dir}",
              f"--output_dir={tmp_path / 'out2'}"])


def test_suite_over_seeds_reports_mean_and_spread(encoder_dir, tmp_path, capsys):
    """seeds: one suite run per seed, each into its folder with its own table; the summary's mean and sample
    standard deviation are those of the seeds' scores; retrieval runs once and counts for every seed."""
    from veco_lightning.tasks.cli import run as main

    _suite_files(tmp_path)
    (tmp_path / "suite.yaml").write_text(f"tasks: [{tmp_path / 'xnli.yaml'}]\nseeds: [3, 4]\n"
                                         "args: [--trainer.max_steps=2, --trainer.logger=false, "
                                         "--trainer.enable_progress_bar=false]\n"
                                         f"retrieval: {tmp_path / 'retrieval.yaml'}\n", encoding="utf-8")
    summary = main(["suite", "--config", str(tmp_path / "suite.yaml"), f"--encoder={encoder_dir}",
                    f"--output_dir={tmp_path / 'out'}"])
    out = tmp_path / "out"
    runs = {seed: json.loads((out / f"seed-{seed}" / "xtreme.json").read_text()) for seed in (3, 4)}
    assert summary["seeds"] == [3, 4] and set(summary["tasks"]) == {"xnli", "tatoeba"}
    for task, spread in summary["tasks"].items():
        values = [runs[seed]["tasks"][task]["averages"]["avg_metric"] for seed in (3, 4)]
        assert spread["mean"] == pytest.approx(sum(values) / 2)
        assert spread["std"] == pytest.approx(abs(values[0] - values[1]) / 2 ** 0.5)
    assert summary["tasks"]["tatoeba"]["std"] == 0.0  # retrieval fine-tunes nothing: the same in every seed
    per_language = summary["tasks"]["xnli"]["languages"]["accuracy"]
    assert set(per_language) == {"en", "ru"}  # the languages scored (de has no test file)
    for lang, spread in per_language.items():
        values = [runs[seed]["tasks"]["xnli"]["metrics"]["accuracy"][lang] for seed in (3, 4)]
        assert spread["mean"] == pytest.approx(sum(values) / 2) and spread["values"] == {3: values[0], 4: values[1]}
    assert not (out / "seed-4" / "retrieval").exists()  # run once, taken from the first seed's
    config = yaml.safe_load((out / "seed-4" / "runs" / "xnli" / "config.yaml").read_text())
    assert config["seed_everything"] == 4 and config["data"]["init_args"]["seed"] == 4
    from veco_lightning.checkpointing import read_checkpoint

    heads = [{k: v for k, v in read_checkpoint(str(next((out / f"seed-{seed}" / "runs" / "xnli" / "checkpoints")
                                                        .glob("*.ckpt"))))["state_dict"].items() if "classifier" in k}
             for seed in (3, 4)]
    assert heads[0] and any(not torch.equal(heads[0][k], heads[1][k]) for k in heads[0])  # the seeds differ
    table = (out / "xtreme.md").read_text()
    assert "| xnli |" in table and "seed 3 | seed 4" in table and "mean" in table
    assert "| xnli | accuracy |" in table and "## Per language" in table
    saved = json.loads((out / "xtreme.json").read_text())
    assert set(saved["runs"]) == {"3", "4"} and saved["tasks"]["xnli"]["mean"] == summary["tasks"]["xnli"]["mean"]
    with pytest.raises(ValueError, match="--seed_everything=7 in args / task_args"):  # it would fix every seed's
        main(["suite", "--config", str(tmp_path / "suite.yaml"), f"--encoder={encoder_dir}",
              f"--output_dir={tmp_path / 'out3'}", "--args", "[--seed_everything=7]"])


def test_an_interrupted_suite_resumes(encoder_dir, tmp_path, capsys):
    """--resume true: a part an earlier run finished with the same encoder weights, config and arguments is kept (not
    run again, its predictions scored); one it started continues from its last.ckpt; changed arguments run again."""
    from veco_lightning.cli import run_cli as veco_fit
    from veco_lightning.tasks.cli import run_cli as veco_xtreme
    from veco_lightning.tasks.suite import RECORD, Suite, run_suite

    _suite_files(tmp_path)
    calls = []

    def run(args):
        calls.append(("task", args))
        return veco_xtreme(args)

    def evaluate(args):
        calls.append(("retrieval", args))
        return veco_fit(args)

    (tmp_path / "xnli-last.yaml").write_text((tmp_path / "xnli.yaml").read_text() + """
trainer:
  callbacks: [{class_path: lightning.pytorch.callbacks.ModelCheckpoint, init_args: {save_last: true}}]
""", encoding="utf-8")  # as the shipped task configs keep a last.ckpt
    args = ["--trainer.max_steps=2", "--trainer.logger=false", "--trainer.enable_progress_bar=false"]
    suite = Suite([str(tmp_path / "xnli-last.yaml")], args, retrieval=str(tmp_path / "retrieval.yaml"), resume=True)
    out = str(tmp_path / "out")
    first = run_suite(suite, str(encoder_dir), out, run, evaluate)
    assert [kind for kind, _ in calls] == ["retrieval", "task"]
    record = json.loads((tmp_path / "out" / "runs" / "xnli-last" / RECORD).read_text())
    assert record["done"] and record["encoder_files"] and record["config_sha256"]
    calls.clear()
    again = run_suite(suite, str(encoder_dir), out, run, evaluate)
    assert calls == [] and again["tasks"] == first["tasks"]  # both kept, scored as before
    assert "xnli-last: finished by an earlier run of this suite" in capsys.readouterr().out
    # killed during xnli: its record says started, its last.ckpt is there: it resumes from it
    record["done"] = False
    (tmp_path / "out" / "runs" / "xnli-last" / RECORD).write_text(json.dumps(record))
    shutil.rmtree(tmp_path / "out" / "predictions" / "tatoeba")  # finished, but its predictions are gone: run again
    shutil.rmtree(tmp_path / "out" / "predictions" / "bucc2018", ignore_errors=True)
    resumed = run_suite(suite, str(encoder_dir), out, run, evaluate)
    assert [kind for kind, _ in calls] == ["retrieval", "task"] and calls[1][1][-1] == "--ckpt_path=last"
    assert resumed["tasks"]["xnli"] == first["tasks"]["xnli"]  # the same steps: the same predictions
    calls.clear()
    # other arguments, or no resume: run again, and the log says why
    run_suite(replace(suite, args=[*args[:1], "--trainer.max_steps=3", *args[1:]]), str(encoder_dir), out, run,
              evaluate)
    assert [kind for kind, _ in calls] == ["task"] and "--ckpt_path=last" not in calls[0][1]
    calls.clear()
    run_suite(replace(suite, resume=False), str(encoder_dir), out, run, evaluate)
    assert [kind for kind, _ in calls] == ["retrieval", "task"]
    assert "--resume true keeps what an earlier run finished" in capsys.readouterr().out


def test_suite_goes_on_past_a_failing_task(encoder_dir, tmp_path, capsys):
    """A task that fails (an option the encoder cannot take; arguments jsonargparse refuses) is named, the others run
    and are scored, and the command exits with an error naming the failures after writing their table."""
    from veco_lightning.tasks.cli import main
    from veco_lightning.tasks.cli import run as run_suite_cli
    from veco_lightning.tasks.suite import SuiteTaskFailed

    _suite_files(tmp_path)
    text = (tmp_path / "xnli.yaml").read_text()
    (tmp_path / "long.yaml").write_text(text.replace("batch_size: 4", "batch_size: 4, max_length: 4096"))
    (tmp_path / "typo.yaml").write_text(text)
    suite = (f"tasks: [{tmp_path / 'long.yaml'}, {tmp_path / 'typo.yaml'}, {tmp_path / 'xnli.yaml'}]\n"
             f"task_args: {{{tmp_path / 'typo.yaml'}: [--trainer.max_stepz=2]}}\n"
             "args: [--trainer.max_steps=2, --trainer.logger=false, --trainer.enable_progress_bar=false]\n")
    (tmp_path / "suite.yaml").write_text(suite, encoding="utf-8")
    with pytest.raises(SuiteTaskFailed) as caught:
        run_suite_cli(["suite", "--config", str(tmp_path / "suite.yaml"), f"--encoder={encoder_dir}",
                       f"--output_dir={tmp_path / 'out'}"])
    assert set(caught.value.failed) == {"long", "typo"}
    assert "data.max_length is 4096" in caught.value.failed["long"]
    assert caught.value.failed["typo"].startswith("invalid arguments (exit code 2")
    assert set(caught.value.scores["tasks"]) == {"xnli"}  # the task that ran is scored
    assert "| xnli |" in (tmp_path / "out" / "xtreme.md").read_text()
    with pytest.raises(SystemExit, match="2 task.s. of the suite failed .*long: ValueError"):
        main(["suite", "--config", str(tmp_path / "suite.yaml"), f"--encoder={encoder_dir}",
              f"--output_dir={tmp_path / 'out2'}"])


def test_suite_with_nothing_to_score_says_so(encoder_dir, tmp_path, capsys):
    from veco_lightning.tasks.cli import run as main

    labels = ("entailment", "neutral", "contradiction")
    rows = [f"{a}\t{b}\t{labels[i % 3]}" for i, (a, b) in enumerate(zip(sentences("en"), sentences("en")[1:]))]
    (tmp_path / "train.tsv").write_text("\n".join(rows[:24]) + "\n", encoding="utf-8")
    unlabelled = [row.rsplit("\t", 1)[0] for row in rows[:8]]  # a test copy without its labels
    (tmp_path / "test-ru.tsv").write_text("\n".join(unlabelled) + "\n", encoding="utf-8")
    (tmp_path / "task.yaml").write_text(f"""
model: {{class_path: veco_lightning.tasks.SequenceClassificationTask, init_args: {{task: xnli}}}}
data:
  class_path: veco_lightning.tasks.ClassificationDataModule
  init_args: {{task: xnli, train_files: {tmp_path / 'train.tsv'}, dev_split: 0.25, batch_size: 4,
              test_files: {{ru: {tmp_path / 'test-ru.tsv'}}}}}
""", encoding="utf-8")
    args = ["--args", "[--trainer.max_steps=2, --trainer.logger=false, --trainer.enable_progress_bar=false]",
            f"--encoder={encoder_dir}", f"--output_dir={tmp_path / 'out'}"]
    assert main(["suite", "--tasks", f"[{tmp_path / 'task.yaml'}]", *args]) == {}
    assert "nothing is scored" in (tmp_path / "out" / "xtreme.md").read_text()
    assert "xnli: predicted but not scored (test files without gold labels): ru" in capsys.readouterr().out
    assert (tmp_path / "out" / "predictions" / "xnli" / "test-ru.tsv").read_text().count("\n") == 8
    with pytest.raises(FileNotFoundError, match="relative to the directory veco-xtreme runs in"):
        main(["suite", "--tasks", "[no/such/task.yaml]", *args])


def test_hub_source_code_path(tmp_path, encoder_dir):
    """``hf://`` sources go through datasets.load_dataset (here its local json builder: no network)."""
    from veco_lightning.tasks import ClassificationDataModule, TaggingDataModule

    rows = [{"premise": a, "hypothesis": b, "label": i % 3} for i, (a, b) in enumerate(zip(sentences("en"),
                                                                                            sentences("en")[1:]))]
    (tmp_path / "pairs.jsonl").write_text("\n".join(json.dumps(r) for r in rows[:12]) + "\n", encoding="utf-8")
    dm = ClassificationDataModule(task="xnli", tokenizer=str(encoder_dir),
                                  train_files=f"hf://json?data_files={tmp_path / 'pairs.jsonl'}&split=train")
    dm.setup("fit")
    assert len(dm.train_set) == 12 and dm.train_set.examples[1].label == "neutral"  # XNLI's 0/1/2 names
    tags = [{"tokens": s.split(), "pos_tags": ["X"] * len(s.split())} for s in sentences("ru")[:5]]
    (tmp_path / "tags.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in tags) + "\n",
                                         encoding="utf-8")
    dm = TaggingDataModule(tokenizer=str(encoder_dir), train_files=f"hf://json?data_files={tmp_path / 'tags.jsonl'}"
                           "&split=train")
    assert dm.labels == ["X"]
    with pytest.raises(ValueError, match="split"):
        _ = TaggingDataModule(tokenizer=str(encoder_dir), train_files="hf://json?data_files=x.jsonl").labels


def test_hub_rows_with_class_indices_are_named_or_refused(tmp_path, encoder_dir):
    # A Hub (or json) dataset whose tags are class indices without ClassLabel names trained and scored the indices
    # as tags ("0", "5": spans of nothing, a meaningless F1, rc 0). Now int_labels names them, or it is an error.
    from veco_lightning.tasks import QADataModule, TaggingDataModule
    from veco_lightning.tasks.datamodule import load_hub
    from veco_lightning.tasks.formats import PANX_HF_INT_TAGS

    rows = [{"tokens": s.split(), "ner_tags": [5] + [0] * (len(s.split()) - 1)} for s in sentences("en")[:6]]
    (tmp_path / "tags.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    source = f"hf://json?data_files={tmp_path / 'tags.jsonl'}&split=train"
    with pytest.raises(ValueError, match="integer tag 5 and no names.*data.int_labels"):
        _ = TaggingDataModule(tokenizer=str(encoder_dir), train_files=source).labels
    named = TaggingDataModule(tokenizer=str(encoder_dir), train_files=source, int_labels=list(PANX_HF_INT_TAGS))
    assert named.labels == ["B-LOC", "O"]
    local = TaggingDataModule(tokenizer=str(encoder_dir), train_files=str(tmp_path / "tags.jsonl"),
                              int_labels=list(PANX_HF_INT_TAGS))
    assert local.labels == ["B-LOC", "O"]
    # A split saved with save_to_disk is a source too, its ClassLabel names kept; a DatasetDict names its splits.
    import datasets

    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                  "ner_tags": datasets.Sequence(datasets.ClassLabel(names=list(PANX_HF_INT_TAGS)))})
    saved = datasets.Dataset.from_list(rows, features=features)
    datasets.DatasetDict({"train": saved, "test": saved}).save_to_disk(str(tmp_path / "saved"))
    from_disk = TaggingDataModule(tokenizer=str(encoder_dir), train_files=str(tmp_path / "saved" / "train"),
                                  test_files={"en": str(tmp_path / "saved" / "test")})
    assert from_disk.labels == ["B-LOC", "O"]
    from_disk.setup("test")
    (test_set,) = from_disk.test_sets
    assert len(test_set.sentences) == 6 and test_set.sentences[0].labels[0] == "B-LOC"
    with pytest.raises(ValueError, match=r"holds a dataset of several splits \(test, train\): give one of them"):
        _ = TaggingDataModule(tokenizer=str(encoder_dir), train_files=str(tmp_path / "saved")).labels
    (tmp_path / "plain").mkdir()
    with pytest.raises(IsADirectoryError, match="is a folder.*give its files"):
        _ = TaggingDataModule(tokenizer=str(encoder_dir), train_files=str(tmp_path / "plain")).labels
    # QA rows get the checks files get: an answer that is not where it says is an error naming the question.
    question = {"id": "q1", "title": "", "context": "Paris is big.", "question": "Which?",
                "answers": {"text": ["big"], "answer_start": [3]}}
    (tmp_path / "qa.jsonl").write_text(json.dumps(question) + "\n", encoding="utf-8")
    dm = QADataModule(tokenizer=str(encoder_dir), train_files=f"hf://json?data_files={tmp_path / 'qa.jsonl'}"
                      "&split=train")
    with pytest.raises(ValueError, match="question 'q1': answer 'big' does not match the context"):
        dm.setup("fit")
    # Classification rows too: -1 (datasets' "no label") named the last class; an index out of range, the same.
    from veco_lightning.tasks import ClassificationDataModule

    pairs = [{"premise": a, "hypothesis": b, "label": -1} for a, b in zip(sentences("en")[:4], sentences("en")[4:8])]
    (tmp_path / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in pairs), encoding="utf-8")
    dm = ClassificationDataModule(task="xnli", tokenizer=str(encoder_dir))
    unlabelled = dm.from_rows(load_hub(f"hf://json?data_files={tmp_path / 'pairs.jsonl'}&split=train"), "rows")
    assert [e.label for e in unlabelled] == [None] * 4
    (tmp_path / "pairs.jsonl").write_text(json.dumps(dict(pairs[0], label=7)) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="rows:1: integer label 7 has no name"):
        dm.from_rows(load_hub(f"hf://json?data_files={tmp_path / 'pairs.jsonl'}&split=train"), "rows")
    # Testing on a translation of the training set (XQuAD de after XQuAD en) left no question: an IndexError in the
    # tokenizer; now the error says why and how to keep them.
    (tmp_path / "qa.jsonl").write_text(json.dumps(dict(question, answers={"text": ["big"], "answer_start": [9]}))
                                       + "\n", encoding="utf-8")
    dm = QADataModule(tokenizer=str(encoder_dir), train_files=str(tmp_path / "qa.jsonl"),
                      test_files={"de": str(tmp_path / "qa.jsonl")})
    with pytest.raises(ValueError, match="every one of its 1 questions has the id of a training question.*"
                                         "data.exclude_train_questions: false"):
        dm.setup("test")


def test_a_test_file_of_several_languages_gives_each_language_its_rows(encoder_dir, tmp_path):
    # The original XNLI 1.0 xnli.test.tsv holds all 15 languages with a language column: veco-xtreme stopped with
    # "pick one with language=", an argument no data option reaches. Each test language now reads its own rows.
    from veco_lightning.tasks import ClassificationDataModule

    header = "language\tgold_label\tsentence1\tsentence2\n"
    rows = [f"{lang}\t{label}\t{a}\t{b}" for lang in ("de", "en") for a, b, label in
            zip(sentences("en")[:5], sentences("en")[5:10], XNLI_LABELS * 2)]
    (tmp_path / "xnli.test.tsv").write_text(header + "\n".join(rows) + "\n", encoding="utf-8")
    both = str(tmp_path / "xnli.test.tsv")
    dm = ClassificationDataModule(task="xnli", tokenizer=str(encoder_dir), test_files={"de": both, "en": both})
    dm.setup("test")
    assert [len(t.examples) for t in dm.test_sets] == [5, 5]
    assert [e.line for e in dm.test_sets[0].examples] == [2, 3, 4, 5, 6]
    assert [e.line for e in dm.test_sets[1].examples] == [7, 8, 9, 10, 11]


def test_bad_task_data_names_file_and_line(encoder_dir, tmp_path):
    from veco_lightning.tasks import TaggingDataModule

    (tmp_path / "train.tsv").write_text("dog\tNOUN\nruns\tVERB\n\ncat\tNOUN\n", encoding="utf-8")
    (tmp_path / "test.tsv").write_text("dog\tNOUN\nbarks\tADV\n", encoding="utf-8")  # ADV: not a training tag
    dm = TaggingDataModule(tokenizer=str(encoder_dir), train_files=str(tmp_path / "train.tsv"),
                           test_files={"xx": str(tmp_path / "test.tsv")})
    with pytest.raises(ValueError, match=r"test\.tsv:2"):
        dm.setup("test")
    # A test file is read whole even with skip: its predictions are written sentence by sentence, in its order, so a
    # skipped sentence would shift every prediction after it. The error says so, before any fine-tuning.
    skipping = TaggingDataModule(tokenizer=str(encoder_dir), train_files=str(tmp_path / "train.tsv"),
                                 test_files={"xx": str(tmp_path / "test.tsv")}, on_bad_line="skip")
    with pytest.raises(ValueError, match=r"test\.tsv:2: tag 'ADV'.*a test file is read whole, even with "
                                         r"data.on_bad_line: skip"):
        skipping.setup("fit")
    (tmp_path / "train.tsv").write_text("dog\tNOUN\nruns\tVERB\n\ncat\n\nbird\tNOUN\n", encoding="utf-8")
    (tmp_path / "test.tsv").write_text("dog\tNOUN\nbarks\tVERB\n", encoding="utf-8")
    skipping = TaggingDataModule(tokenizer=str(encoder_dir), train_files=str(tmp_path / "train.tsv"),
                                 test_files={"xx": str(tmp_path / "test.tsv")}, on_bad_line="skip")
    skipping.setup("fit")  # a training file skips its bad sentence ("cat" has no tag), counted in a warning
    assert len(skipping.train_set.sentences) == 2
    (tmp_path / "empty.tsv").write_text("", encoding="utf-8")
    empty = TaggingDataModule(tokenizer=str(encoder_dir), train_files=str(tmp_path / "train.tsv"),
                              test_files={"xx": str(tmp_path / "empty.tsv")}, on_bad_line="skip")
    with pytest.raises(ValueError, match=r"empty.tsv: no examples"):  # not a language silently left out
        empty.setup("fit")


def test_fine_tuning_uses_dropout(encoder_dir):
    """from_pretrained gives eval mode and Lightning keeps a module's mode: the task model must train with dropout."""
    from veco_lightning.models.encoder import EncoderSpec, build_encoder
    from veco_lightning.tasks import SequenceClassificationTask

    assert SequenceClassificationTask(encoder=str(encoder_dir), task="xnli").model.training
    assert build_encoder(EncoderSpec(preset=None, path=str(encoder_dir))).training  # continued pre-training too


@pytest.mark.parametrize("which", ["xlmr", "bert"])
def test_fine_tuning_with_activation_checkpointing(which, encoder_dir, bert_dir):
    """``model.activation_checkpointing``: the encoder's layers are recomputed in the backward pass, with the same
    gradients (dropout on)."""
    from veco_lightning.tasks import SequenceClassificationTask

    path = str(encoder_dir if which == "xlmr" else bert_dir)
    ids = torch.randint(5, 100, (4, 16), generator=torch.Generator().manual_seed(0))
    grads = []
    for checkpointing in (False, True):
        torch.manual_seed(0)
        task = SequenceClassificationTask(encoder=path, task="xnli", activation_checkpointing=checkpointing)
        runs = []
        for module in task.model.modules():
            if module.__class__.__name__.endswith("Attention") and hasattr(module, "self"):
                module.register_forward_pre_hook(lambda *args, runs=runs: runs.append(1))
        torch.manual_seed(1)
        labels = torch.tensor([0, 1, 2, 0])
        task.model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels).loss.backward()
        grads.append(({n: p.grad for n, p in task.model.named_parameters() if p.grad is not None}, len(runs)))
    (plain, runs), (checkpointed, checkpointed_runs) = grads
    assert runs == 2 and checkpointed_runs == 4  # both layers ran again in the backward pass
    for name, grad in plain.items():
        torch.testing.assert_close(checkpointed[name], grad, rtol=1e-6, atol=1e-8)


def test_task_data_errors_name_the_data_options_and_come_before_training(encoder_dir, tmp_path):
    """Through veco-xtreme the readers' fixes name options of the data section (not the readers' own arguments),
    QA's bad questions skip with data.on_bad_line, and every test file is read at setup("fit"), before training."""
    from veco_lightning.tasks import ClassificationDataModule, QADataModule

    rows = [f"{a}\t{b}\t{label}" for a, b, label in zip(sentences("en"), sentences("en")[1:],
                                                         ["entailment", "neutral", "contradiction"] * 10)][:12]
    (tmp_path / "train.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (tmp_path / "four.tsv").write_text("\n".join(rows[:5] + [rows[5] + "\textra"] + rows[6:]) + "\n", encoding="utf-8")
    (tmp_path / "typo.tsv").write_text("\n".join(rows[:3] + ["a\tb\tneutrall"]) + "\n", encoding="utf-8")
    (tmp_path / "labels.tsv").write_text("\n".join(rows[:4]) + "\n", encoding="utf-8")

    def classification(**kwargs):
        return ClassificationDataModule(task="xnli", tokenizer=str(encoder_dir), **kwargs)

    with pytest.raises(ValueError, match=r"four.tsv:6: 4 TAB-separated.*csv-quoted\), or set data.on_bad_line: skip"):
        classification(train_files=str(tmp_path / "four.tsv")).setup("fit")
    with pytest.raises(ValueError, match=r"typo.tsv:4: label 'neutrall'.*as data.label_names, or set data.on_bad_line"):
        classification(train_files=str(tmp_path / "typo.tsv")).setup("fit")
    with pytest.raises(ValueError, match=r"labels.tsv has 4 labelled rows but .*train.tsv has 12"):
        classification(train_files=str(tmp_path / "train.tsv"), test_files={"de": str(tmp_path / "train.tsv")},
                       test_labels={"de": str(tmp_path / "labels.tsv")}).setup("fit")
    with pytest.raises(FileNotFoundError, match="missing.tsv"):
        classification(train_files=str(tmp_path / "train.tsv"),
                       test_files={"de": str(tmp_path / "missing.tsv")}).setup("fit")

    context = "The dog runs home. The cat sleeps."
    article = {"title": "t", "paragraphs": [
        {"context": context, "qas": [{"id": "q1", "question": "Who runs?", "answers": [{"text": "dog",
                                                                                      "answer_start": 4}]}]},
        {"context": "", "qas": [{"id": "q2", "question": "Who sleeps?", "answers": []}]}]}
    (tmp_path / "qa.json").write_text(json.dumps({"version": "1.1", "data": [article]}), encoding="utf-8")
    (tmp_path / "none.json").write_text(json.dumps({"version": "1.1", "data": []}), encoding="utf-8")

    def qa(**kwargs):
        return QADataModule(tokenizer=str(encoder_dir), max_length=64, doc_stride=16,
                            max_query_length=16, train_files=str(tmp_path / "qa.json"), **kwargs)

    with pytest.raises(ValueError, match=r"question 'q2': empty context.*set data.on_bad_line: skip"):
        qa().setup("fit")
    skipping = qa(on_bad_line="skip", test_files={"de": str(tmp_path / "qa.json")}, exclude_train_questions=False)
    skipping.setup("fit")  # answers are written by question id: a QA test file may skip too
    skipping.setup("test")
    assert [e.id for e in skipping.test_sets[0].examples] == ["q1"]
    with pytest.raises(ValueError, match=r"none.json: no examples"):
        qa(on_bad_line="skip", test_files={"de": str(tmp_path / "none.json")}).setup("fit")


def test_an_encoder_of_another_architecture_is_fine_tuned_as_itself(bert_dir, tmp_path):
    # Multilingual BERT, XTREME's baseline: its own task head class with its own weights (XLMRobertaFor... took a
    # BERT checkpoint's weights for another model's and fine-tuned a random encoder), and its tokenizer's inputs
    # ([CLS] a [SEP] b [SEP] with token types; the XLM-R layout built by hand needed <s> and </s>).
    from transformers import AutoModel, BertForSequenceClassification

    from veco_lightning.tasks import SequenceClassificationTask

    task = SequenceClassificationTask(encoder=str(bert_dir), task="xnli")
    assert isinstance(task.model, BertForSequenceClassification)
    saved = AutoModel.from_pretrained(bert_dir)
    assert torch.equal(task.model.bert.encoder.layer[1].output.dense.weight, saved.encoder.layer[1].output.dense.weight)
    for lang in ("en", "ru"):
        (tmp_path / f"{lang}.tsv").write_text("\n".join(_xnli_rows(lang)[:20]) + "\n", encoding="utf-8")
    cli = _fit(tmp_path, _xnli_config(tmp_path, f"{{ru: {tmp_path / 'ru.tsv'}}}"), bert_dir)
    tokenizer = AutoTokenizer.from_pretrained(bert_dir)
    test_set = cli.datamodule.test_sets[0]
    expected = tokenizer(test_set.examples[0].text_a, test_set.examples[0].text_b)
    assert test_set[0]["input_ids"] == expected["input_ids"]
    assert test_set[0]["token_type_ids"] == expected["token_type_ids"] and set(expected["token_type_ids"]) == {0, 1}
    assert len((tmp_path / "out" / "predictions" / "xnli" / "test-ru.tsv").read_text().splitlines()) == 20


@pytest.mark.parametrize("layout", ["xlmr", "bert"])
def test_task_windows_follow_the_tokenizers_layout(layout, tokenizer_dir, bert_dir):
    # A QA window and a tagging window built from pieces are what the tokenizer gives the same texts.
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir if layout == "xlmr" else bert_dir)
    context, question = " ".join(sentences("en")[:3]), sentences("en")[5][:12]
    example = QAExample("q", "t", context, question, [(context[4:9], 4)])
    feature = QASet([example], "en", "mem", tokenizer, max_length=128, train=True).features[0]
    expected = tokenizer(question, context)
    assert feature["input_ids"] == expected["input_ids"]
    assert feature.get("token_type_ids", [0] * len(feature["input_ids"])) == expected.get(
        "token_type_ids", [0] * len(feature["input_ids"]))
    first = feature["first"]  # the context's tokens start there, and the answer span points into them
    assert feature["input_ids"][first : first + len(feature["offsets"])] == tokenizer(
        context, add_special_tokens=False)["input_ids"]
    assert first <= feature["start_positions"] <= feature["end_positions"]
    words = sentences("ru")[0].split()
    window = TaggingSet([TaggedSentence(words, ["X"] * len(words), 1)], "ru", "mem", tokenizer, ["X"],
                        max_length=64).windows[0]
    single = tokenizer(" ".join(words))["input_ids"]
    assert window["input_ids"][0] == single[0] and window["input_ids"][-1] == single[-1]
    assert sum(window["word_starts"]) == len(words) and window["word_starts"][0] == 0


def test_token_types_the_encoder_has_no_table_for_are_left_out(bert_dir, tmp_path):
    # An XLM-R-shaped encoder pre-trained with a WordPiece tokenizer: the tokenizer returns segment ids, the encoder
    # has one token type; giving it type 1 failed with "index out of range in self".
    tokenizer = AutoTokenizer.from_pretrained(bert_dir)
    encoder = tmp_path / "encoder"
    build_encoder(EncoderSpec(preset="tiny", max_length=128), vocab_size=len(tokenizer),
                  pad_token_id=tokenizer.pad_token_id).save_pretrained(encoder)
    tokenizer.save_pretrained(encoder)
    for lang in ("en", "ru"):
        (tmp_path / f"{lang}.tsv").write_text("\n".join(_xnli_rows(lang)[:12]) + "\n", encoding="utf-8")
    _fit(tmp_path, _xnli_config(tmp_path, f"{{ru: {tmp_path / 'ru.tsv'}}}"), encoder)
    assert len((tmp_path / "out" / "predictions" / "xnli" / "test-ru.tsv").read_text().splitlines()) == 12


def test_a_checkpoint_without_the_encoders_weights_is_an_error(bert_dir, tmp_path):
    from safetensors.torch import load_file, save_file

    from veco_lightning.tasks.backbone import load_task_encoder

    partial = tmp_path / "partial"
    partial.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        (partial / name).write_bytes((bert_dir / name).read_bytes())
    weights = load_file(bert_dir / "model.safetensors")
    save_file({k: v for k, v in weights.items() if ".layer.1." not in k}, partial / "model.safetensors")
    from transformers import XLMRobertaForTokenClassification

    with pytest.raises(ValueError, match="weight.* of the bert encoder are not in the checkpoint"):
        load_task_encoder(str(partial), XLMRobertaForTokenClassification, num_labels=2)


def test_suite_of_a_bert_encoder_runs_retrieval_and_tasks(bert_dir, tmp_path, capsys):
    # Multilingual BERT through the whole suite: the retrieval evaluation scores it (it stopped the suite at its
    # first step, the evaluation taking XLM-R compatible encoders only), the tasks fine-tune it.
    from veco_lightning.tasks.cli import run as main

    (tmp_path / "en.tsv").write_text("\n".join(_xnli_rows("en")[:16]) + "\n", encoding="utf-8")
    (tmp_path / "xnli.yaml").write_text(_xnli_config(tmp_path, f"{{en: {tmp_path / 'en.tsv'}}}"), encoding="utf-8")
    (tmp_path / "tatoeba").mkdir()
    for name, lang in (("tatoeba.rus-eng.rus", "ru"), ("tatoeba.rus-eng.eng", "en")):
        (tmp_path / "tatoeba" / name).write_text("\n".join(sentences(lang)) + "\n", encoding="utf-8")
    (tmp_path / "retrieval.yaml").write_text(
        f"data: {{monolingual: null, evaluation: {{tatoeba: {{root: {tmp_path / 'tatoeba'}, languages: [rus]}}, "
        "max_length: 64}}\n",
        encoding="utf-8")
    scores = main(["suite", "--tasks", f"[{tmp_path / 'xnli.yaml'}]", "--retrieval", str(tmp_path / "retrieval.yaml"),
                   "--args", "[--trainer.max_steps=2, --trainer.logger=false, --trainer.enable_progress_bar=false]",
                   f"--encoder={bert_dir}", f"--output_dir={tmp_path / 'out'}", "--export_models=true"])
    assert set(scores["tasks"]) == {"xnli", "tatoeba"}
    from transformers import AutoConfig

    assert AutoConfig.from_pretrained(tmp_path / "out" / "models" / "xnli").id2label == dict(enumerate(
        ["contradiction", "entailment", "neutral"]))  # each task's model, with its label names


def test_the_fine_tuned_model_is_exported_for_pipelines(encoder_dir, tmp_path):
    # --export_dir: the kept checkpoint's task model and the tokenizer, for AutoModelFor... and pipeline()
    from transformers import AutoModelForQuestionAnswering, AutoModelForTokenClassification, pipeline

    from veco_lightning.checkpointing import read_checkpoint

    def block(k: int, words: list[str]) -> str:
        return f"# sent_id = {k}\n" + "".join(
            f"{i + 1}\t{w}\t_\t{'NOUN' if i % 2 else 'VERB'}\t_\t_\t0\t_\t_\t_\n" for i, w in enumerate(words)) + "\n"

    conllu = "".join(block(k, sentence.rstrip(".").split()) for k, sentence in enumerate(sentences("en")[:16]))
    (tmp_path / "train.conllu").write_text(conllu, encoding="utf-8")
    cli = _fit(tmp_path, f"""
model: {{class_path: veco_lightning.tasks.TokenClassificationTask, init_args: {{task: udpos}}}}
data:
  class_path: veco_lightning.tasks.TaggingDataModule
  init_args: {{train_files: {tmp_path / 'train.conllu'}, dev_file: {tmp_path / 'train.conllu'}, batch_size: 4}}
""", encoder_dir, f"--export_dir={tmp_path / 'udpos-model'}")
    exported = AutoModelForTokenClassification.from_pretrained(tmp_path / "udpos-model")
    assert exported.config.id2label == {0: "NOUN", 1: "VERB"}
    kept = read_checkpoint(cli.trainer.checkpoint_callback.best_model_path)["state_dict"]
    for name, value in exported.state_dict().items():
        assert torch.equal(value, kept[f"model.{name}"]), name
    tagged = pipeline("token-classification", model=str(tmp_path / "udpos-model"))(sentences("en")[0])
    assert tagged and {t["entity"] for t in tagged} <= {"NOUN", "VERB"}
    # the same from the finished run's checkpoint: veco-xtreme test --ckpt_path --export_dir; veco-export says so
    best = cli.trainer.checkpoint_callback.best_model_path
    run_cli(["test", "--config", str(tmp_path / "task.yaml"), f"--model.init_args.encoder={encoder_dir}",
             f"--model.init_args.output_dir={tmp_path / 'out'}", "--trainer.logger=false", f"--ckpt_path={best}",
             f"--trainer.default_root_dir={tmp_path}",
             f"--export_dir={tmp_path / 'again'}", "--trainer.enable_progress_bar=false"])
    again = AutoModelForTokenClassification.from_pretrained(tmp_path / "again")
    assert all(torch.equal(value, again.state_dict()[name]) for name, value in exported.state_dict().items())
    with pytest.raises(ValueError, match="veco-xtreme predict writes nothing: run veco-xtreme test"):
        run_cli(["predict", "--config", str(tmp_path / "task.yaml"), f"--model.init_args.encoder={encoder_dir}",
                 f"--trainer.default_root_dir={tmp_path}", f"--ckpt_path={best}"])
    from veco_lightning.models.export import export_checkpoint

    with pytest.raises(ValueError, match="is a veco-xtreme checkpoint .udpos fine-tuning.*--export_dir DIR"):
        export_checkpoint(best, str(tmp_path / "nothing"))
    # As an encoder (to evaluate, or to fine-tune on a next task) it failed with "EncoderSpec() argument after **
    # must be a mapping, not str"; the export is what serves.
    from transformers import XLMRobertaForSequenceClassification

    from veco_lightning.tasks.backbone import load_task_encoder

    with pytest.raises(ValueError, match="is a veco-xtreme checkpoint.*cannot be fine-tuned from.*give DIR instead"):
        load_task_encoder(best, XLMRobertaForSequenceClassification, num_labels=3)
    with pytest.raises(ValueError, match="is a veco-xtreme checkpoint.*cannot be read as model.encoder.path"):
        build_encoder(EncoderSpec(preset=None, path=best), vocab_size=10, pad_token_id=1)

    context = " ".join(sentences("en")[:4])
    questions = [{"id": f"q{k}", "question": "who?", "answers": [{"text": context[:7], "answer_start": 0}]}
                 for k in range(8)]
    squad = {"version": "1.1", "data": [{"title": "t", "paragraphs": [{"context": context, "qas": questions}]}]}
    (tmp_path / "train.json").write_text(json.dumps(squad), encoding="utf-8")
    cli = _fit(tmp_path, f"""
trainer: {{limit_val_batches: 0, num_sanity_val_steps: 0}}
model: {{class_path: veco_lightning.tasks.QuestionAnsweringTask, init_args: {{task: xquad}}}}
data:
  class_path: veco_lightning.tasks.QADataModule
  init_args: {{train_files: {tmp_path / 'train.json'}, max_length: 64, doc_stride: 16, batch_size: 4}}
""", encoder_dir, f"--export_dir={tmp_path / 'qa-model'}")
    exported = AutoModelForQuestionAnswering.from_pretrained(tmp_path / "qa-model")  # QA keeps the last model
    assert torch.equal(exported.qa_outputs.weight, cli.model.model.qa_outputs.weight)


def test_killed_fine_tuning_resumes_exactly(encoder_dir, tmp_path):
    # Killed mid-epoch and resumed with --ckpt_path last, a fine-tuning run ends with the weights of a run never
    # killed. Before: the shuffling loader's position was not saved (the run started its epoch over; between epochs
    # its generator replayed the first epoch's order) nor dropout's random states: 2.4e-4 apart.
    import signal
    import subprocess
    import sys
    import time

    from veco_lightning.checkpointing import read_checkpoint

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    (tmp_path / "en.tsv").write_text("\n".join(_xnli_rows("en")[:40]) + "\n", encoding="utf-8")
    (tmp_path / "task.yaml").write_text(_xnli_config(tmp_path, "{}").replace("model:", """trainer:
  max_epochs: 2
  callbacks:
    - class_path: lightning.pytorch.callbacks.ModelCheckpoint
      init_args: {save_last: true, every_n_train_steps: 3}
model:""", 1), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.path.join(root, "tests", "helpers")])}

    def child(name, *extra):
        command = [sys.executable, "-m", "veco_lightning.tasks", "fit", "--config", str(tmp_path / "task.yaml"),
                   f"--model.init_args.encoder={encoder_dir}", f"--trainer.default_root_dir={tmp_path / name}",
                   f"--model.init_args.output_dir={tmp_path / name / 'out'}", "--trainer.accelerator=cpu",
                   "--trainer.logger=false", "--trainer.enable_progress_bar=false", *extra]
        return subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)

    assert child("straight").wait(timeout=300) == 0
    process = child("killed", "--trainer.callbacks+=run_control.PauseAtStep", "--trainer.callbacks.step=5",
                    f"--trainer.callbacks.marker={tmp_path / 'paused'}")
    deadline = time.time() + 300
    while not (tmp_path / "paused").exists():
        assert process.poll() is None and time.time() < deadline, process.stdout.read()[-3000:]
        time.sleep(0.2)
    os.kill(process.pid, signal.SIGKILL)  # in step 5 of 12 (mid-epoch); the last checkpoint is step 3
    process.wait(timeout=60)
    resumed = child("killed", "--ckpt_path=last")
    assert resumed.wait(timeout=300) == 0, resumed.stdout.read()[-3000:]
    a, b = (read_checkpoint(str(tmp_path / name / "checkpoints" / "last.ckpt")) for name in ("straight", "killed"))
    assert a["global_step"] == b["global_step"] == 12  # 2 epochs of 6 steps: killed in the first
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])


@pytest.mark.parametrize("architecture", ["bert", "distilbert", "xlm-roberta"])
def test_dropout_reaches_every_encoder_layer_of_any_architecture(architecture, tmp_path):
    # model.dropout was written under BERT's names only: DistilBERT (whose settings are dropout and
    # attention_dropout) failed with "unexpected keyword argument 'hidden_dropout_prob'".
    from transformers import AutoConfig, AutoModelForMaskedLM, XLMRobertaForSequenceClassification

    from veco_lightning.tasks.backbone import load_task_encoder

    sizes = {"distilbert": dict(dim=32, n_layers=2, n_heads=2, hidden_dim=64)}.get(
        architecture, dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64))
    config = AutoConfig.for_model(architecture, vocab_size=99, **sizes)
    AutoModelForMaskedLM.from_config(config).save_pretrained(tmp_path)
    model = load_task_encoder(str(tmp_path), XLMRobertaForSequenceClassification, dropout=0.0, num_labels=3)
    encoder = model.base_model
    assert all(m.p == 0.0 for m in encoder.modules() if isinstance(m, torch.nn.Dropout))
    assert sum(isinstance(m, torch.nn.Dropout) for m in encoder.modules()) >= 2
    head = ("classif", "seq_", "qa_")
    dropouts = {k: v for k, v in model.config.to_dict().items() if "dropout" in k and not k.startswith(head)}
    assert dropouts and all(v == 0.0 for v in dropouts.values() if v is not None), dropouts
    untouched = load_task_encoder(str(tmp_path), XLMRobertaForSequenceClassification, num_labels=3)
    assert any(m.p > 0 for m in untouched.base_model.modules() if isinstance(m, torch.nn.Dropout))
    with pytest.raises(ValueError, match="a probability in"):
        load_task_encoder(str(tmp_path), XLMRobertaForSequenceClassification, dropout=1.5, num_labels=3)


def test_a_fine_tuned_model_as_the_encoder_of_a_next_task(encoder_dir, tmp_path):
    # Fine-tuning an exported task model on a task with another label count failed ("You set ignore_mismatched_sizes
    # to False"); with as many labels but other names it kept the old head, its classes read as the new ones.
    from transformers import XLMRobertaForSequenceClassification

    from veco_lightning.tasks.backbone import load_task_encoder

    def labels(*names: str) -> dict:
        return {"num_labels": len(names), "id2label": dict(enumerate(names)),
                "label2id": {n: i for i, n in enumerate(names)}}

    torch.manual_seed(0)
    first = load_task_encoder(str(encoder_dir), XLMRobertaForSequenceClassification, **labels("a", "b", "c"))
    first.save_pretrained(tmp_path / "first")
    saved = first.state_dict()
    trunk = [k for k in saved if k.startswith("roberta.")]
    head = [k for k in saved if k.startswith("classifier.")]
    same = load_task_encoder(str(tmp_path / "first"), XLMRobertaForSequenceClassification, **labels("a", "b", "c"))
    assert all(torch.equal(same.state_dict()[k], saved[k]) for k in trunk + head)  # the same task continues
    other = load_task_encoder(str(tmp_path / "first"), XLMRobertaForSequenceClassification, **labels("x", "y", "z"))
    assert all(torch.equal(other.state_dict()[k], saved[k]) for k in trunk)
    assert not any(torch.equal(other.state_dict()[k], saved[k]) for k in head if k.endswith("weight"))
    fewer = load_task_encoder(str(tmp_path / "first"), XLMRobertaForSequenceClassification, **labels("0", "1"))
    assert all(torch.equal(fewer.state_dict()[k], saved[k]) for k in trunk)
    assert fewer.classifier.out_proj.weight.shape[0] == 2


def test_a_test_file_named_for_another_language_is_named(tmp_path, encoder_dir, caplog):
    # test-en.tsv listed under de was scored as German without a word (a copy-paste slip in a long test_files map)
    from veco_lightning.tasks import TaggingDataModule
    from veco_lightning.tasks.datamodule import file_language

    names = ("test-de.tsv", "xquad.zh.json", "dev.ar.jsonl.gz", "de_gsd-ud-test.conllu", "tydiqa.goldp.fi.dev.json",
             "dev-context-de-question-en.json", "test-all.tsv", "tydiqa-goldp-v1.1-dev.json")
    assert [file_language(name) for name in names] == ["de", "zh", "ar", "de", "fi", None, None, None]
    for name in ("train.tsv", "test-en.tsv", "test-de.tsv"):
        (tmp_path / name).write_text("a\tO\nb\tB-PER\n", encoding="utf-8")
    dm = TaggingDataModule(tokenizer=str(encoder_dir), train_files=str(tmp_path / "train.tsv"),
                           test_files={"de": str(tmp_path / "test-en.tsv"), "en": str(tmp_path / "test-en.tsv"),
                                       "deu": str(tmp_path / "test-de.tsv")})
    with caplog.at_level("WARNING"):
        dm.setup("fit")
        dm.setup("test")
    assert caplog.text.count("is listed under") == 1
    assert "test-en.tsv is listed under de, but its name says en: is it the en file?" in caplog.text


def test_tagging_words_as_xtreme_writes_them(tmp_path, encoder_dir):
    from veco_lightning.tasks import TaggingDataModule

    (tmp_path / "train.tsv").write_text("đại học\tNOUN\nmi\u200cxaham\tVERB\n", encoding="utf-8")
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"tokens": ["đại học", "x"], "pos_tags": ["NOUN", "VERB"]}) + "\n", encoding="utf-8")
    for words, expected in (("as_is", ["đại học", "mi\u200cxaham"]), ("xtreme", ["đạihọc", "mixaham"])):
        dm = TaggingDataModule(tokenizer=str(encoder_dir), train_files=str(tmp_path / "train.tsv"), words=words,
                               test_files={"vi": f"hf://json?data_files={rows}&split=train"})
        dm.setup("fit")
        dm.setup("test")
        assert dm.train_set.sentences[0].words == expected
        assert dm.test_sets[0].sentences[0].words[0] == expected[0]
    with pytest.raises(ValueError, match="data.words must be as_is or xtreme"):
        TaggingDataModule(tokenizer=str(encoder_dir), words="XTREME")
