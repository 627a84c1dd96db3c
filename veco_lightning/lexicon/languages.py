"""Language codes. Tatoeba, LASER and NTREX name languages with ISO 639-3 codes (``deu``, ``zho-CN``), dictionaries
and configs usually with ISO 639-1 (``de``); every comparison of codes in the package goes through :func:`to_iso1`.
"""

from __future__ import annotations

# ISO 639-3 (and the 639-2/B codes ger, fre, chi, gre) -> ISO 639-1, for the XTREME Tatoeba languages, the NTREX-128
# languages and a few more. Codes not listed are used as given.
ISO3_TO_ISO1: dict[str, str] = {
    "afr": "af", "amh": "am", "ara": "ar", "arb": "ar", "ben": "bn", "bul": "bg", "cat": "ca", "ces": "cs",
    "chi": "zh", "cmn": "zh", "zho": "zh", "dan": "da", "deu": "de", "ger": "de", "ell": "el", "gre": "el",
    "eng": "en", "est": "et", "eus": "eu", "fin": "fi", "fra": "fr", "fre": "fr", "heb": "he", "hin": "hi",
    "hun": "hu", "ind": "id", "ita": "it", "jav": "jv", "jpn": "ja", "kat": "ka", "kaz": "kk", "kor": "ko",
    "mal": "ml", "mar": "mr", "nld": "nl", "pes": "fa", "fas": "fa", "pol": "pl", "por": "pt", "ron": "ro",
    "rus": "ru", "spa": "es", "swa": "sw", "swh": "sw", "swe": "sv", "tam": "ta", "tel": "te", "tgl": "tl",
    "tha": "th", "tur": "tr", "ukr": "uk", "urd": "ur", "vie": "vi", "yue": "zh",
}


def base_language(code: str) -> str:
    """The language part of a code, lower-cased, region and script dropped: ``zh-CN`` / ``zh_Hans`` -> ``zh``."""
    return code.replace("_", "-").split("-")[0].lower()


def to_iso1(code: str) -> str:
    """The two-letter code of ``code`` when known (``deu`` -> ``de``, ``zho-CN`` -> ``zh``, ``zh-CN`` -> ``zh``),
    else ``code`` itself."""
    if code in ISO3_TO_ISO1:
        return ISO3_TO_ISO1[code]
    base = base_language(code)
    return ISO3_TO_ISO1.get(base, base) if len(base) in (2, 3) and base != code else code
