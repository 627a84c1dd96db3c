"""veco_lightning: cross-lingual encoder pre-training with multi-granularity alignment (VECO 2.0 recipe)."""

from veco_lightning.data.composite import VecoDataModule
from veco_lightning.data.monolingual import MonolingualDataModule
from veco_lightning.models.encoder import EncoderSpec
from veco_lightning.models.export import ExportPretrained, export_pretrained
from veco_lightning.module import VecoPretrainModule

__version__ = "0.1.0"

__all__ = [
    "EncoderSpec",
    "ExportPretrained",
    "MonolingualDataModule",
    "VecoDataModule",
    "VecoPretrainModule",
    "export_pretrained",
]
