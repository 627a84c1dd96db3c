"""veco_lightning: cross-lingual encoder pre-training with multi-granularity alignment (VECO 2.0 recipe)."""

from veco_lightning.data.composite import VecoDataModule
from veco_lightning.data.evaluation import EvaluationDataModule
from veco_lightning.data.monolingual import MonolingualDataModule
from veco_lightning.data.parallel import ParallelDataModule, ParallelSource
from veco_lightning.data.synonym import SynonymAlignedDataModule
from veco_lightning.evaluation.scorer import EvaluationOptions
from veco_lightning.losses.sequence_contrastive import SequenceContrastiveLoss
from veco_lightning.losses.token_contrastive import TokenContrastiveLoss
from veco_lightning.models.encoder import EncoderSpec
from veco_lightning.models.export import ExportPretrained, export_pretrained
from veco_lightning.module import SequenceContrastOptions, TokenContrastOptions, VecoPretrainModule

__version__ = "0.1.0"

__all__ = [
    "EncoderSpec",
    "EvaluationDataModule",
    "EvaluationOptions",
    "ExportPretrained",
    "MonolingualDataModule",
    "ParallelDataModule",
    "ParallelSource",
    "SequenceContrastOptions",
    "SequenceContrastiveLoss",
    "SynonymAlignedDataModule",
    "TokenContrastOptions",
    "TokenContrastiveLoss",
    "VecoDataModule",
    "VecoPretrainModule",
    "export_pretrained",
]
