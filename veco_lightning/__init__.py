"""veco_lightning: cross-lingual encoder pre-training with multi-granularity alignment (VECO 2.0 recipe).

The public names below are resolved lazily (see ``_lazy.py``): importing a loss, the lexicon or the masking code
never loads Lightning.
"""

from veco_lightning._lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    "EncoderSpec": "veco_lightning.models.encoder",
    "EvaluationDataModule": "veco_lightning.evaluation.datamodule",
    "EvaluationOptions": "veco_lightning.evaluation.scorer",
    "ExportPretrained": "veco_lightning.models.export",
    "MonolingualDataModule": "veco_lightning.data.monolingual",
    "ParallelDataModule": "veco_lightning.data.parallel",
    "ParallelSource": "veco_lightning.data.readers",
    "SequenceAlignmentHead": "veco_lightning.models.heads",
    "SequenceContrastOptions": "veco_lightning.models.heads",
    "SequenceContrastiveLoss": "veco_lightning.losses.sequence_contrastive",
    "SynonymAlignedDataModule": "veco_lightning.data.synonym",
    "TokenAlignmentHead": "veco_lightning.models.heads",
    "TokenContrastOptions": "veco_lightning.models.heads",
    "TokenContrastiveLoss": "veco_lightning.losses.token_contrastive",
    "VecoDataModule": "veco_lightning.datamodule",
    "VecoPretrainModule": "veco_lightning.module",
    "export_pretrained": "veco_lightning.models.export",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
