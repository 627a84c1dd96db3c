"""XTREME fine-tuning: zero-shot cross-lingual transfer for sentence(-pair) classification, token classification and
extractive QA, from any encoder the package produced (an export directory, a pre-training checkpoint) or a local
XLM-R checkpoint, scored with XTREME's arithmetic (``veco-xtreme``)."""

from veco_lightning._lazy import lazy_exports

_EXPORTS = {
    "ClassificationDataModule": "classification",
    "QADataModule": "qa",
    "QuestionAnsweringTask": "qa",
    "SequenceClassificationTask": "classification",
    "TaggingDataModule": "tagging",
    "TokenClassificationTask": "tagging",
    "TaskDataModule": "datamodule",
    "XtremeTask": "base",
    "load_task_encoder": "backbone",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
