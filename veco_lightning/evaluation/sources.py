"""Where evaluation sets come from: the Tatoeba layout, pair files (with optional gold word alignments) and BUCC-style
mining tasks. Pair files are read by the same reader as training pairs (:func:`veco_lightning.data.readers.read_pairs`).
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass

from veco_lightning.data.readers import ParallelSource, expand_globs
from veco_lightning.lexicon.badinput import COMPRESSIONS, existing, plain_name
from veco_lightning.lexicon.languages import split_pair, to_iso1
from veco_lightning.paths import resolve_path


@dataclass
class TatoebaSource:
    """The Tatoeba retrieval sets of LASER / XTREME: ``tatoeba.xxx-eng.xxx`` and ``tatoeba.xxx-eng.eng``.

    Args:
        root: the folder holding the files.
        languages: ISO 639-3 codes to evaluate (default: every language found).
    """

    root: str
    languages: list[str] | None = None


@dataclass
class PairSource(ParallelSource):
    """Aligned sentence pairs to score: any pair source of the training data (TSV, jsonl, line-aligned files, hub),
    plus the languages and optional gold word alignments.

    Args:
        src_lang: language of the queries (``de``; ISO 639-1 or 639-3). Default: the first code of the set's name
            (``de-en``).
        tgt_lang: language of the retrieved side. Default: the second code of the set's name.
        alignments: gold word alignments in Pharaoh format (``i-j`` sure, ``i?j`` or ``ipj`` possible), one line per
            pair, indices over the whitespace-separated words of each sentence (which are then the words evaluated).
        alignments_one_based: the gold's indices count from 1 (the ``.talp`` files of lilt/alignment-scripts,
            awesome-align's examples); a link past a sentence's words is an error either way.
    """

    src_lang: str | None = None
    tgt_lang: str | None = None
    alignments: str | None = None
    alignments_one_based: bool = False

    def languages(self, name: str, extra_languages: list[str] | tuple[str, ...] = ()) -> tuple[str, str]:
        """``(src_lang, tgt_lang)``, from the fields or else from the set's name ``src-tgt``."""
        named_src = named_tgt = None
        if "-" in name and (self.src_lang is None or self.tgt_lang is None):
            named_src, named_tgt = split_pair(name, extra_languages)
        src, tgt = self.src_lang or named_src, self.tgt_lang or named_tgt
        if not src or not tgt:
            raise ValueError(f"Evaluation set {name!r}: give src_lang and tgt_lang, or name the set 'src-tgt' "
                             "(e.g. de-en)")
        return src, tgt


@dataclass
class BuccSource:
    """Bitext mining tasks in the BUCC 2018 layout (``xx-en.{split}.{xx,en,gold}``, lines ``id<TAB>sentence``), or
    built from any parallel set with ``veco-make-bucc``. The threshold is chosen on ``dev_split`` and F1 / precision /
    recall are reported on ``test_split``.

    Args:
        root: folder holding the files.
        pairs: language pairs, e.g. ``[de-en, fr-en]``.
        dev_split: split used to choose the margin threshold (BUCC's ``sample``, or ``dev``).
        test_split: split reported (BUCC's ``training`` has public gold; or ``test``).
    """

    root: str
    pairs: list[str]
    dev_split: str = "dev"
    test_split: str = "test"


def tatoeba_sources(source: TatoebaSource) -> dict[str, PairSource]:
    """One pair source per language of a Tatoeba folder, named ``xxx-eng``."""
    pattern = os.path.join(source.root, "tatoeba.*-eng.eng")
    # Plain or compressed (tatoeba.deu-eng.eng.gz): the readers open both.
    paths = [p for end in ("", *COMPRESSIONS) for p in glob.glob(resolve_path(pattern + end))] or expand_globs(
        pattern, " (Tatoeba layout)")
    found = sorted({os.path.basename(plain_name(p)).split(".")[1].split("-")[0] for p in paths})
    languages = source.languages or found
    missing = sorted(set(languages) - set(found))
    if missing:
        named = {m: [f for f in found if to_iso1(f) == to_iso1(m)] for m in missing}
        hint = "; ".join(f"{m} is {' or '.join(codes)} there" for m, codes in named.items() if codes)
        hint = f": the files name languages by ISO 639-3 codes ({hint})" if hint else ""
        raise FileNotFoundError(f"No Tatoeba files for {missing} in {source.root}{hint} (found: {found})")
    prefix = os.path.join(source.root, "tatoeba.{0}-eng.{1}")

    def path(lang: str, side: str) -> str:
        """The file as named, or its compressed copy (a missing side is left to the reader's error)."""
        plain = prefix.format(lang, side)
        resolved = resolve_path(plain)
        match = existing(resolved)
        return plain if match is None else plain + match[len(resolved):]  # the ending found, on the name as given

    return {
        f"{lang}-eng": PairSource(src_lang=lang, tgt_lang="eng", src=path(lang, lang), tgt=path(lang, "eng"))
        for lang in languages
    }
