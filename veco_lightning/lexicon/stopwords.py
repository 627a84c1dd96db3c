"""Stop words: the most frequent function words of a language, which synonym mining and dictionary induction leave
out (they are frequent, ambiguous and carry little lexical meaning, so a pair of them teaches no alignment)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from collections.abc import Set as AbstractSet

from veco_lightning.lexicon.languages import base_language, to_iso1
from veco_lightning.lexicon.words import normalize

log = logging.getLogger(__name__)

StopWords = AbstractSet[str] | Mapping[str, AbstractSet[str]] | None
"""Stop words as options take: ``None`` (none), one set for both sides, or ``{language: set}``."""


def stop_sets(stop_words: StopWords, src_lang: str, tgt_lang: str) -> tuple[AbstractSet[str], AbstractSet[str]]:
    """The ``(source, target)`` stop-word sets of a language pair from a :data:`StopWords` option."""
    if not stop_words:
        return frozenset(), frozenset()
    if isinstance(stop_words, Mapping):
        return stop_words.get(src_lang) or frozenset(), stop_words.get(tgt_lang) or frozenset()
    return stop_words, stop_words


# Built-in stop words: the most frequent function words (articles, pronouns, prepositions, conjunctions, auxiliaries)
# of each language, written for this project. Normalised on use, like everything that is matched.
_STOP_WORDS = {
    "en": "the a an and or but of to in on at by for with from as is are was were be been being it its this that "
          "these those he she they we you i his her their our my your him them us me not no do does did have has had "
          "will would can could should there which who what so if than then also about into up out",
    "de": "der die das den dem des ein eine einen einem einer eines und oder aber in im an am auf aus bei mit nach "
          "von vom zu zum zur für über um durch als wie auch nicht noch nur so sich es er sie wir ihr ich du ist sind "
          "war waren hat haben hatte wird werden wurde wurden dass ob wenn was man sein seine ihre ihren diese dieser "
          "dieses doch schon",
    "fr": "le la les l un une des du de d et ou mais à au aux en dans par pour sur avec sans ce cet cette ces c se s "
          "qui que qu il elle ils elles on je j tu nous vous ne n pas plus est sont a ont été être son sa ses leur "
          "leurs y lui comme si m t",
    "es": "el la los las lo un una unos unas y e o u pero de del a al en por para con sin sobre que qué se su sus es "
          "son fue era ha han había ser está están este esta estos estas ese esa eso como más no ni le les me te nos "
          "él ella ellos yo tú también muy cuando donde porque si",
    "ru": "и в во не что он на я с со как а то все всё она так его но да ты к у же вы за бы по только ее её мне было "
          "от меня еще ещё нет о об из ему когда даже ли если уже или ни быть был была были до там они мы их для это "
          "этот эта эти при также который которые которая которого чтобы без под будет есть",
    "zh": "的 了 是 在 和 与 及 或 也 都 就 而 但 被 把 给 对 从 向 到 于 以 之 其 所 为 着 过 吗 呢 吧 啊 这 那 个 "
          "一 不 有 我 你 他 她 它 们 我们 他们 这个 那个 这些 那些 上 中 将 会 能 要 还 又 很 等 并 由 该 此",
    "ar": "في من على إلى الى عن أن ان إن ما لا هذا هذه ذلك تلك التي الذي الذين كان كانت قد و مع بين كل بعد قبل عند "
          "حتى أو ثم لم لن هو هي هم نحن أنا له لها لهم به بها فيه فيها منه عليه كما أيضا حيث لكن غير ليس هناك أي "
          "وقد وفي ومن",
    "el": "ο η το οι τα του της των τον την τους τις ένα ένας μια μία και να σε στο στη στην στον στα στους στις με "
          "για από που θα δεν μη μην είναι ήταν αυτό αυτή αυτός αυτά ως ότι όπως αλλά ή έχει είχε πιο κατά μετά "
          "προς εγώ εμείς αυτοί ενώ όταν αν τι πως",
    "hi": "का की के में है हैं और से को ने पर यह वह था थी थे एक लिए भी कि तो जो इस उस हो गया गई गए कर किया रहा "
          "रही रहे नहीं या तक ही होता होती होने साथ बाद अपने अपनी वे ये इन उन कुछ द्वारा अब जब तब मैं हम आप",
    "tr": "ve bir bu da de için ile o şu ki ne mi mı mu mü çok daha gibi kadar ama fakat ancak veya ya en her olarak "
          "olan oldu olduğu ise sonra önce diye ben sen biz siz onlar onun bunu bunun şey var yok değil tarafından "
          "göre kendi hem bunlar nasıl neden içinde",
    "vi": "của và là các những có được cho với trong này đã không một để khi thì mà từ về ra cũng đến như nhưng tại "
          "theo sẽ đó rằng bị lại nên vì nếu hay hoặc trên ở do bởi sau trước đang còn vào rất nhiều chỉ cái nhau "
          "thế gì ai đây kia",
}
def default_stop_words(lang: str) -> set[str]:
    """The built-in stop words of ``lang`` (ISO 639-1 or 639-3, region ignored: ``zh-CN``), normalised; an empty
    set (logged once) for a language without a list."""
    base = to_iso1(base_language(lang))
    words = _STOP_WORDS.get(base)
    if words is None:
        if base not in _MISSING_STOP_WORDS:
            _MISSING_STOP_WORDS.add(base)
            log.info("No built-in stop words for %r (have: %s); stop-word filtering is off for it",
                     lang, ", ".join(sorted(_STOP_WORDS)))
        return set()
    return {normalize(w) for w in words.split()}


_MISSING_STOP_WORDS: set[str] = set()
