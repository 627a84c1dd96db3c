"""Language codes. Tatoeba, LASER and NTREX name languages with ISO 639-3 codes (``deu``, ``zho-CN``), dictionaries
and configs usually with ISO 639-1 (``de``); every comparison of codes in the package goes through :func:`to_iso1`.

Every code a data config names is checked against :data:`KNOWN_LANGUAGES` (:func:`check_language`), so that a typo
(``xx-yy``) stops the run before any data is read; a language the list lacks is declared with ``extra_languages``.
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


# Every ISO 639-1 code, with the deprecated ones corpora still use (sh Serbo-Croatian, iw / in / ji), and CC-100's
# "ns" (Northern Sotho, nso in ISO 639-3).
ISO_639_1 = frozenset("""
aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de dv dz ee el en eo
es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id ie ig ii ik io is it iu ja jv ka kg
ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mo mr ms mt my na nb nd ne ng nl
nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss st su sv sw
ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu
sh iw in ji ns
""".split())

# ISO 639-3 (and 639-2) codes: the XTREME Tatoeba languages, the NTREX-128 languages, those ISO3_TO_ISO1 maps, and
# the 639-2/T codes of the CC-100 and XTREME languages.
ISO_639_3 = frozenset("""
afr amh ang ara arb arq arz asm ast awa aze bak bel bem ben ber bod bos bre bul cat cbk ceb ces cha chi ckb cmn cor
csb cym dan deu div dsb dtp dzo ell eng epo est eus ewe fao fas fij fil fin fra fre fry fuc ful gla gle glg grn gre
gsw guj hat hau heb hin hmn hrv hsb hun hye ibo ido ile ina ind isl ita jav jpn kab kan kat kaz khm kin kir kmr kor
kur kzj lao lat lav lfn lim lin lit ltz lug lvs mal mar max mey mhr mkd mlg mlt mon mri msa mya nde nds nep nld nno
nob nor nov nso nya oci ori orm orv pam pan pes pms pol por prs pus que roh ron rus san shi sin slk slv smo sna snd
som spa sqi srd srp ssw sun swa swe swg swh tah tam tat tel tgk tgl tha tir ton tsn tuk tur tzl uig ukr urd uzb ven
vie war wol wuu xho yid yor yue zho zsm zul
""".split()) | frozenset(ISO3_TO_ISO1)

KNOWN_LANGUAGES = ISO_639_1 | ISO_639_3
"""Language codes accepted without a declaration; a code with a region or script (``zh-CN``, ``sr-Latn``,
``bn_rom``) is known when its language part is."""


def is_known_language(code: str, extra: tuple[str, ...] | list[str] = ()) -> bool:
    """Whether ``code`` (or its language part) is an ISO 639-1 / 639-3 code the package knows, or one of ``extra``."""
    declared = {c.lower() for c in extra} | {base_language(c) for c in extra}
    return code.lower() in declared or base_language(code) in (KNOWN_LANGUAGES | declared)


def check_language(code: str, context: str, extra: tuple[str, ...] | list[str] = ()) -> None:
    """Raise ``ValueError`` when ``code`` is not a known language code (``context`` says where it was given)."""
    if not isinstance(code, str) or not is_known_language(code, extra):
        raise ValueError(
            f"Unknown language code {code!r} {context}: not one of the ISO 639-1 / 639-3 codes the package knows "
            f"(veco_lightning/lexicon/languages.py). Fix the code (e.g. de, deu, zh-CN), or declare it with "
            f"extra_languages: [{code}] on the datamodule"
        )


def split_pair(name: str, extra: tuple[str, ...] | list[str] = ()) -> tuple[str, str]:
    """The two codes of a language-pair name: ``de-en`` -> ``(de, en)``, ``zh-CN-en`` -> ``(zh-CN, en)``.

    A name with several hyphens is cut where both parts are known codes, preferring a cut before a lower-case part
    (regions and scripts are written ``BR``, ``Latn``: ``pt-BR-en`` is ``(pt-BR, en)``); ``ValueError`` when there
    is no hyphen.
    """
    parts = name.split("-")
    if len(parts) < 2 or not all(parts):
        raise ValueError(f"Language pair {name!r} must be named 'src-tgt' (e.g. de-en, zh-CN-en)")
    cuts = [("-".join(parts[:k]), "-".join(parts[k:])) for k in sorted(range(1, len(parts)),
                                                                       key=lambda k: not parts[k].islower())]
    for src, tgt in cuts:
        if is_known_language(src, extra) and is_known_language(tgt, extra):
            return src, tgt
    src, _, tgt = name.partition("-")
    return src, tgt
