"""A real training batch of the synonym-aligned datamodule (TLM rows, translation pairs and their synonym pairs), for
the tests of the module's step."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def synonym_batch(corpus_dir: Path, tokenizer_dir: Path, folder: Path, **options: Any) -> tuple[dict, int]:
    """The first training batch of Russian-English pairs from the test corpus, mined with a four-entry dictionary
    (``options``: the datamodule's, e.g. ``max_length``, ``batch_size``, ``bucket_batches``), and the vocabulary
    size."""
    from veco_lightning.data.readers import ParallelSource
    from veco_lightning.data.synonym import SynonymAlignedDataModule

    (folder / "en-ru.tsv").write_text("dog\tсобака\ncar\tмашина\nriver\tреку\nhouse\tдом\n", encoding="utf-8")
    dm = SynonymAlignedDataModule(
        files={"ru-en": ParallelSource(src=str(corpus_dir / "ru.txt"), tgt=str(corpus_dir / "en.txt"))},
        dictionaries={"en-ru": [str(folder / "en-ru.tsv")]}, tokenizer=str(tokenizer_dir), val_pairs=0,
        cache_dir=str(folder / "cache"), **options)
    dm.prepare_data()
    dm.setup("fit")
    return next(iter(dm.train_dataloader())), dm.vocab_size
