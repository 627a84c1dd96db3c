"""What every datamodule of the package shares: a tokenizer loaded on first use, settable by a composite."""

from __future__ import annotations

from lightning import LightningDataModule
from transformers import PreTrainedTokenizerBase

from veco_lightning.data.tokenizer import load_tokenizer


class TokenizedDataModule(LightningDataModule):
    """A datamodule with a lazily loaded tokenizer.

    The tokenizer is loaded on first use (not in ``__init__``) so that building a config is cheap; its size and pad
    id are what the CLI links into the model. A composite datamodule hands its tokenizer to its members through
    ``connect``, unless a member names its own.
    """

    def __init__(self, tokenizer: str | None = None) -> None:
        super().__init__()
        self.tokenizer_name = tokenizer
        self._tokenizer: PreTrainedTokenizerBase | None = None

    def connect(self, tokenizer: str | None = None) -> None:
        """Bind settings known only to an enclosing composite datamodule."""
        if self.tokenizer_name is None:
            self.tokenizer_name = tokenizer

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        if self._tokenizer is None:
            if self.tokenizer_name is None:
                raise ValueError("No tokenizer: set data.tokenizer (a tokenizer directory or hub name)")
            self._tokenizer = load_tokenizer(self.tokenizer_name)
        return self._tokenizer

    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer)

    @property
    def pad_token_id(self) -> int:
        return self.tokenizer.pad_token_id
