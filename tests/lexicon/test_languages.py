"""Language codes: the known list, declared extras and pair names."""

import pytest

from veco_lightning.lexicon.languages import KNOWN_LANGUAGES, check_language, is_known_language, split_pair, to_iso1


def test_known_codes_cover_the_package_and_benchmark_languages():
    xtreme = ("af ar bg bn de el en es et eu fa fi fr he hi hu id it ja jv ka kk ko ml mr ms my nl pt ru sw ta te th "
              "tl tr ur vi yo zh").split()
    tatoeba = ("ang arq ast awa cbk dsb dtp gsw hsb ido ile ina kzj lfn lvs max mhr nds nov orv pam pms swg tzl war "
               "wuu yue zsm").split()
    ntrex = ["arb", "zho-CN", "srp-Cyrl", "eng-GB", "fil", "prs", "nso", "mey", "shi", "fuc"]
    cc100 = ["ns", "bn_rom", "my_zaw", "zh-Hans", "sc"]
    for code in [*xtreme, *tatoeba, *ntrex, *cc100]:
        assert is_known_language(code), code
    assert len({c for c in KNOWN_LANGUAGES if len(c) == 2}) >= 184


def test_unknown_codes_and_their_declaration():
    for code in ("xx", "xx-yy", "english", "", "e"):
        assert not is_known_language(code), code
    with pytest.raises(ValueError, match=r"Unknown language code 'xx' in here.*extra_languages: \[xx\]"):
        check_language("xx", "in here")
    check_language("xx", "in here", extra=["xx"])
    check_language("xx-Latn", "in here", extra=["xx"])  # a region or script of a declared code


def test_split_pair():
    assert split_pair("de-en") == ("de", "en")
    assert split_pair("zh-CN-en") == ("zh-CN", "en") and split_pair("en-zh-CN") == ("en", "zh-CN")
    assert split_pair("pt-BR-en") == ("pt-BR", "en")  # br is Breton, but a region is upper-case
    assert split_pair("xx-yy") == ("xx", "yy")  # unknown codes split at the first hyphen (and fail the check)
    assert tuple(map(to_iso1, split_pair("zho-CN-eng"))) == ("zh", "en")
    with pytest.raises(ValueError, match="must be named 'src-tgt'"):
        split_pair("english")
