"""Fonts for labels in any script: an installed font with the glyphs of the words a picture shows.

DejaVu Sans, matplotlib's default, covers Latin, Cyrillic, Greek, Arabic and Hebrew; CJK, Devanagari or Thai need a
font such as Noto Sans CJK (Debian ``fonts-noto-cjk``) or Noto Sans Devanagari (``fonts-noto-core``).
:func:`label_fonts` finds, for the characters the default lacks, installed fonts that have them (the CJK font of the
set's region first), including fonts installed after matplotlib cached its font list. Characters that no installed
font has are written as code points (``<U+4F60 U+597D>``) rather than as identical empty boxes
(:func:`spell_missing`), with one warning naming the package to install.
"""

from __future__ import annotations

import functools
import logging
import os
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

log = logging.getLogger(__name__)

# Fonts tried, in this order, for characters the default font lacks: CJK (Noto Sans CJK in its regional variants,
# Source Han Sans, WenQuanYi, Droid Sans Fallback, AR PL), then Noto's per-script fonts and broad-coverage fonts.
# Every other installed font is tried after these.
_FALLBACK_FAMILIES = (
    "Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans CJK KR", "Noto Sans CJK TC", "Noto Sans CJK HK",
    "Source Han Sans SC", "Source Han Sans JP", "Source Han Sans KR", "Source Han Sans TC", "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei", "Droid Sans Fallback", "AR PL UMing CN", "AR PL UKai CN", "AR PL SungtiL GB",
    "Noto Sans", "Noto Sans Devanagari", "Noto Sans Arabic", "Noto Sans Hebrew", "Noto Sans Thai",
    "Noto Sans Bengali", "Noto Sans Tamil", "Lohit Devanagari", "FreeSans", "Unifont",
)
_CJK_REGION = {"ja": "JP", "ko": "KR", "zh": "SC"}  # Han characters drawn in the forms of the set's language
_NOT_A_FALLBACK = ("Last Resort",)  # matplotlib's own: one placeholder glyph per Unicode block, not the character
_CJK_NAMES = ("CJK", "HIRAGANA", "KATAKANA", "HANGUL", "BOPOMOFO", "IDEOGRAPHIC", "FULLWIDTH", "HALFWIDTH")
_warned: set[str] = set()


@functools.cache
def _charmap(path: str) -> frozenset[int]:
    """Code points a font file has glyphs for (empty for a file FreeType cannot read)."""
    from matplotlib import ft2font

    try:
        return frozenset(ft2font.FT2Font(path).get_charmap())
    except (OSError, RuntimeError, ValueError):
        return frozenset()


def _weight(entry: Any) -> int:
    from matplotlib import font_manager

    weight = entry.weight
    return weight if isinstance(weight, int) else font_manager.weight_dict.get(weight, 400)


@functools.cache
def _installed_fonts() -> dict[str, str]:
    """Family name -> file of its most regular face, for the fonts matplotlib knows and those installed since it
    cached its font list (matplotlib rebuilds that cache only for a new matplotlib version)."""
    from matplotlib import font_manager

    manager = font_manager.fontManager
    known = {os.path.realpath(entry.fname) for entry in manager.ttflist}
    for path in font_manager.findSystemFonts():
        if os.path.realpath(path) not in known and path.lower().endswith((".ttf", ".otf", ".ttc")):
            try:
                manager.addfont(path)
            except (OSError, RuntimeError, ValueError):
                continue
    families: dict[str, str] = {}
    for entry in sorted(manager.ttflist, key=lambda e: (e.style != "normal", abs(_weight(e) - 400))):
        if not entry.name.startswith(_NOT_A_FALLBACK):
            families.setdefault(entry.name, entry.fname)
    return families


def _needs_glyph(char: str) -> bool:
    return not char.isspace() and unicodedata.category(char) not in ("Cc", "Cf")


def label_fonts(texts: Iterable[str], languages: Sequence[str | None] = ()) -> tuple[list[str], set[str]]:
    """Fonts to draw ``texts`` with, and the characters no installed font has.

    Args:
        texts: the labels and titles of a picture.
        languages: ISO codes of their languages: Japanese, Korean or Chinese put that region's CJK font first.

    Returns:
        ``(families, missing)``: a ``font.family`` list (matplotlib's default first, then each installed font that
        has characters the fonts before it lack: matplotlib takes every glyph from the first font that has it), and
        the characters that none has.
    """
    import matplotlib
    from matplotlib import font_manager

    needed = {char for text in texts for char in text if _needs_glyph(char)}
    default = _charmap(font_manager.findfont(font_manager.FontProperties()))
    missing = {char for char in needed if ord(char) not in default}
    families = list(matplotlib.rcParams["font.family"])
    if not missing:
        return families, missing
    installed = _installed_fonts()
    regions = [" " + _CJK_REGION[lang] for lang in languages if lang in _CJK_REGION]
    known = sorted(_FALLBACK_FAMILIES, key=lambda name: not name.endswith(tuple(regions)) if regions else False)
    order = [name for name in known if name in installed] + sorted(set(installed) - set(_FALLBACK_FAMILIES))
    for name in order:
        covered = {char for char in missing if ord(char) in _charmap(installed[name])}
        if covered and name not in families:
            families.append(name)
            missing -= covered
        if not missing:
            break
    return families, missing


def spell_missing(text: str, missing: set[str]) -> str:
    """``text`` with each run of characters in ``missing`` written as code points, e.g. ``東京2020`` ->
    ``<U+6771 U+4EAC>2020``: readable and unambiguous where the glyphs would be identical boxes."""
    out, run = [], []
    for char in text + "\n":
        if char in missing:
            run.append(f"U+{ord(char):04X}")
            continue
        if run:
            out.append("<" + " ".join(run) + ">")
            run = []
        out.append(char)
    return "".join(out)[:-1]


def _warn_missing(missing: set[str]) -> None:
    """One warning per kind of missing font, naming the package that brings it."""
    cjk = {char for char in missing if unicodedata.name(char, "").startswith(_CJK_NAMES)}
    for chars, package, font in ((cjk, "fonts-noto-cjk", "Noto Sans CJK"),
                                 (missing - cjk, "fonts-noto-core", "the Noto Sans font of the script")):
        if chars and package not in _warned:
            _warned.add(package)
            sample = ", ".join(f"{char} U+{ord(char):04X}" for char in sorted(chars)[:5])
            log.warning("No installed font has glyphs for %d character(s) of the report's plot labels (%s): they "
                        "are written as code points. Install %s (Debian/Ubuntu: apt-get install %s, or put its "
                        ".otf/.ttf files in ~/.local/share/fonts): the next run finds it.",
                        len(chars), sample, font, package)


def readable_labels(texts: Sequence[str], languages: Sequence[str | None] = ()) -> tuple[list[str], list[str], str]:
    """``(font families, texts, note)`` for a picture: its fonts; its texts with glyph-less characters spelled out
    and dollar signs escaped (matplotlib reads ``$...$`` as math); a note saying so where needed, else ``""``."""
    families, missing = label_fonts(texts, languages)
    note = ""
    if missing:
        _warn_missing(missing)
        note = "<U+…>: code points of characters no installed font has (see the log for the font to install)"
    return families, [spell_missing(text, missing).replace("$", r"\$") for text in texts], note

