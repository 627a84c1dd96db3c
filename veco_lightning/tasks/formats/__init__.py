"""The standard files of the XTREME tasks, read and written in plain Python (no torch):

- ``classification``: XNLI / PAWS-X examples (XTREME's TSV layouts, the original TSVs with a header, JSON lines);
- ``tagging``: UD POS / PAN-X sentences (CoNLL-U, XTREME's ``word<TAB>label``, PAN-X's ``lang:`` prefixes,
  CoNLL-2003 columns, JSON lines);
- ``qa``: XQuAD / MLQA / TyDiQA questions (SQuAD v1.1 JSON or JSON lines, with checked answer offsets);

and for each family the files of XTREME's submission layout (predictions and gold labels, so predictions can be
scored) and the train/dev split of an English file for zero-shot runs without a training set.

Readers take one file and report bad input as ``file:line`` (or the question id) with the fix; with
``on_bad_line="skip"`` they drop it and log counts by reason.
"""

from veco_lightning.tasks.formats.classification import (
    DEFAULT_LABEL_ALIASES,
    XNLI_HF_INT_LABELS,
    ClassificationExample,
    classification_examples,
    read_classification,
    read_classification_labels,
    split_classification,
    write_classification,
    write_classification_labels,
    write_classification_predictions,
)
from veco_lightning.tasks.formats.qa import (
    QAExample,
    flat_question,
    read_qa_predictions,
    read_squad,
    split_squad,
    squad_examples,
    tydiqa_language,
    write_qa_predictions,
    write_squad,
)
from veco_lightning.tasks.formats.tagging import (
    PANX_HF_INT_TAGS,
    TAG_FIELDS,
    UDPOS_HF_INT_TAGS,
    WORD_FIELDS,
    TaggedSentence,
    read_tagging,
    read_tagging_labels,
    row_sentences,
    write_tagging_labels,
    write_tagging_predictions,
    xtreme_words,
)

__all__ = [
    "DEFAULT_LABEL_ALIASES",
    "XNLI_HF_INT_LABELS",
    "ClassificationExample",
    "classification_examples",
    "QAExample",
    "flat_question",
    "squad_examples",
    "tydiqa_language",
    "PANX_HF_INT_TAGS",
    "TAG_FIELDS",
    "UDPOS_HF_INT_TAGS",
    "WORD_FIELDS",
    "TaggedSentence",
    "row_sentences",
    "read_classification",
    "read_classification_labels",
    "read_qa_predictions",
    "read_squad",
    "read_tagging",
    "read_tagging_labels",
    "split_classification",
    "split_squad",
    "write_classification",
    "write_classification_labels",
    "write_classification_predictions",
    "write_qa_predictions",
    "write_squad",
    "write_tagging_labels",
    "write_tagging_predictions",
    "xtreme_words",
]
