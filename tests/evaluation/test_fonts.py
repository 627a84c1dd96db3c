"""Fonts for labels in any script: a font with the glyphs is found and used; without one, code points and a
single warning naming the package to install, never empty boxes."""

import logging
import warnings

import pytest
import torch

from veco_lightning.evaluation import fonts
from veco_lightning.evaluation.fonts import label_fonts, spell_missing
from veco_lightning.evaluation.plots import plot_similarity_heatmap

CJK_WORDS = (["小狗", "看见", "新学校"], ["the", "dog", "sees", "school"])


def _missing_glyphs(caught) -> list[str]:
    return [str(w.message) for w in caught if "missing from font" in str(w.message)]


@pytest.fixture
def no_fallback_fonts(monkeypatch):
    """A machine whose only fonts are matplotlib's own (no CJK, no Devanagari), whatever this one has."""
    monkeypatch.setattr(fonts, "_installed_fonts", lambda: {})
    monkeypatch.setattr(fonts, "_warned", set())


@pytest.fixture
def test_cjk_font(tmp_path, monkeypatch):
    """A font with (box) glyphs for the CJK words, installed after matplotlib cached its font list, and the only one."""
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.ttGlyphPen import TTGlyphPen
    from matplotlib import font_manager

    def box():
        pen = TTGlyphPen(None)
        pen.moveTo((100, 0))
        for point in ((100, 700), (500, 700), (500, 0)):
            pen.lineTo(point)
        pen.closePath()
        return pen.glyph()

    chars = sorted(set("".join(CJK_WORDS[0])))
    names = [".notdef"] + [f"uni{ord(c):04X}" for c in chars]
    builder = FontBuilder(1000, isTTF=True)
    builder.setupGlyphOrder(names)
    builder.setupCharacterMap({ord(c): f"uni{ord(c):04X}" for c in chars})
    builder.setupGlyf({name: box() for name in names})
    builder.setupHorizontalMetrics({name: (600, 100) for name in names})
    builder.setupHorizontalHeader(ascent=800, descent=-200)
    builder.setupNameTable({"familyName": "Veco Test CJK", "styleName": "Regular"})
    builder.setupOS2()
    builder.setupPost()
    path = str(tmp_path / "VecoTestCJK-Regular.ttf")
    builder.save(path)
    manager = font_manager.fontManager
    # Fonts of this machine with the glyphs (a CJK font, perhaps added by an earlier test) are hidden, and addfont's
    # entry goes away with the test.
    hidden = {ord(c) for c in chars}
    monkeypatch.setattr(manager, "ttflist", [e for e in manager.ttflist if not hidden & fonts._charmap(e.fname)])
    monkeypatch.setattr(font_manager, "findSystemFonts", lambda *args, **kwargs: [path])
    fonts._installed_fonts.cache_clear()
    yield "Veco Test CJK"
    fonts._installed_fonts.cache_clear()
    manager._findfont_cached.cache_clear()


def test_labels_no_font_can_draw_are_written_as_code_points(tmp_path, caplog, no_fallback_fonts):
    families, missing = label_fonts(["собака", "σκύλος", "小狗"])
    assert missing == {"小", "狗"}  # DejaVu Sans draws Cyrillic and Greek
    assert spell_missing("东京2020年", {"东", "京", "年"}) == "<U+4E1C U+4EAC>2020<U+5E74>"
    with caplog.at_level(logging.WARNING, logger=fonts.__name__), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):
            plot_similarity_heatmap(torch.rand(3, 4), *CJK_WORDS, str(tmp_path / "heatmap.png"), "zh-en",
                                    languages=("zh", "en"))
    assert not _missing_glyphs(caught)
    hints = [r.getMessage() for r in caplog.records if "fonts-noto-cjk" in r.getMessage()]
    assert len(hints) == 1 and "U+5C0F" in hints[0]  # one warning, naming the package
    assert (tmp_path / "heatmap.png").stat().st_size > 5000


def test_a_font_with_the_glyphs_is_found_and_used(tmp_path, test_cjk_font, monkeypatch):
    monkeypatch.setattr(fonts, "_warned", set())
    families, missing = label_fonts(CJK_WORDS[0] + CJK_WORDS[1], ["zh"])
    assert not missing and families[-1] == test_cjk_font
    assert fonts.readable_labels(CJK_WORDS[0], ["zh"])[1:] == (CJK_WORDS[0], "")  # drawn as they are, no note
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plot_similarity_heatmap(torch.rand(3, 4), *CJK_WORDS, str(tmp_path / "heatmap.png"), "zh-en")
    assert not _missing_glyphs(caught) and not fonts._warned


def test_heatmap_with_cjk_words_on_this_machine(tmp_path):
    """With a CJK font installed (e.g. Debian fonts-noto-cjk) the words are drawn in it; without, as code points
    and one warning: never as empty boxes."""
    families, missing = label_fonts(CJK_WORDS[0], ["zh"])
    sims = torch.rand(3, 4)
    sims[1] = float("nan")  # a word without a token of its own: drawn grey, not boxed
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plot_similarity_heatmap(sims, *CJK_WORDS, str(tmp_path / "heatmap.png"), "zh-en",
                                links={(0, 1), (2, 2)}, method="itermax", languages=("zh", "en"))
    assert not _missing_glyphs(caught)
    assert (tmp_path / "heatmap.png").stat().st_size > 5000
    if missing:  # warned here, or already by an earlier picture of this process
        assert "fonts-noto-cjk" in fonts._warned
    else:
        assert len(families) > 1  # a fallback font holds the glyphs
