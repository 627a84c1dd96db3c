"""Training data: readers, cache, tokenizer, masking, word units, collators, sampling, and one datamodule per kind
of data (monolingual, parallel, synonym-aligned). Names resolve lazily: ``veco_lightning.data.masking`` alone loads
neither Lightning nor ``datasets``."""

from veco_lightning._lazy import lazy_exports

_EXPORTS = {
    "HubSource": "readers",
    "LanguageSampler": "sampling",
    "MLMCollator": "collators",
    "Masker": "masking",
    "MonolingualDataModule": "monolingual",
    "ParallelCollator": "collators",
    "ParallelDataModule": "parallel",
    "ParallelSource": "readers",
    "ScheduledLoader": "schedule",
    "SynonymAlignedDataModule": "synonym",
    "SynonymCollator": "collators",
    "read_pairs": "readers",
    "smoothed_probabilities": "sampling",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
