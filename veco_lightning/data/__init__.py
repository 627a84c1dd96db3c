"""Data: readers, tokenizer, masking, collators and the datamodules."""

from veco_lightning.data.collators import MLMCollator
from veco_lightning.data.composite import VecoDataModule
from veco_lightning.data.monolingual import MonolingualDataModule
from veco_lightning.data.readers import HubSource
from veco_lightning.data.sampling import LanguageSampler, smoothed_probabilities

__all__ = [
    "HubSource",
    "LanguageSampler",
    "MLMCollator",
    "MonolingualDataModule",
    "VecoDataModule",
    "smoothed_probabilities",
]
