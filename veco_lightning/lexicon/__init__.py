"""Lexical resources, plain Python (no torch): language codes, word normalisation and segmentation, bilingual
dictionaries, stop words, synonym-pair mining and dictionary induction."""

from veco_lightning._lazy import lazy_exports

_EXPORTS = {
    "BilingualDictionary": "dictionary",
    "MiningStats": "synonyms",
    "SynonymMiner": "synonyms",
    "SynonymPair": "synonyms",
    "Word": "words",
    "default_stop_words": "stopwords",
    "dictionary_for": "dictionary",
    "induce_dictionary": "induction",
    "is_no_space_lang": "words",
    "load_dictionaries": "dictionary",
    "mine_corpus": "synonyms",
    "mine_pair": "synonyms",
    "normalize": "words",
    "read_dictionary": "dictionary",
    "segment": "words",
    "to_iso1": "languages",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
