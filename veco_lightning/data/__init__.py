"""Data: readers, tokenizer, masking, collators and the datamodules."""

from veco_lightning.data.collators import MLMCollator
from veco_lightning.data.composite import VecoDataModule
from veco_lightning.data.evaluation import EvaluationDataModule
from veco_lightning.data.monolingual import MonolingualDataModule
from veco_lightning.data.parallel import ParallelDataModule, ParallelSource
from veco_lightning.data.readers import HubSource
from veco_lightning.data.sampling import LanguageSampler, smoothed_probabilities
from veco_lightning.data.schedule import ScheduledLoader
from veco_lightning.data.synonym import SynonymAlignedDataModule

__all__ = [
    "EvaluationDataModule",
    "HubSource",
    "LanguageSampler",
    "MLMCollator",
    "MonolingualDataModule",
    "ParallelDataModule",
    "ParallelSource",
    "ScheduledLoader",
    "SynonymAlignedDataModule",
    "VecoDataModule",
    "smoothed_probabilities",
]
