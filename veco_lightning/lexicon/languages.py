"""Language codes: Tatoeba and NTREX name languages with ISO 639-3 codes, dictionaries and configs with ISO 639-1."""

from __future__ import annotations

# ISO 639-3 (as in Tatoeba / LASER / NTREX file names) -> ISO 639-1, for the XTREME Tatoeba languages, the NTREX-128
# languages and a few more. Codes not listed are used as given.
ISO3_TO_ISO1: dict[str, str] = {
    "afr": "af", "amh": "am", "ara": "ar", "arb": "ar", "ben": "bn", "bul": "bg", "cat": "ca", "ces": "cs",
    "cmn": "zh", "zho": "zh", "zho-CN": "zh", "dan": "da", "deu": "de", "ell": "el", "eng": "en", "est": "et",
    "eus": "eu", "fin": "fi", "fra": "fr", "heb": "he", "hin": "hi", "hun": "hu", "ind": "id", "ita": "it",
    "jav": "jv", "jpn": "ja", "kat": "ka", "kaz": "kk", "kor": "ko", "mal": "ml", "mar": "mr", "nld": "nl",
    "pes": "fa", "fas": "fa", "pol": "pl", "por": "pt", "ron": "ro", "rus": "ru", "spa": "es", "swa": "sw",
    "swh": "sw", "swe": "sv", "tam": "ta", "tel": "te", "tgl": "tl", "tha": "th", "tur": "tr", "ukr": "uk",
    "urd": "ur", "vie": "vi", "yue": "zh",
}


def to_iso1(code: str) -> str:
    """The two-letter code of ``code`` when known (``deu`` -> ``de``), else ``code`` itself."""
    return ISO3_TO_ISO1.get(code, code)
