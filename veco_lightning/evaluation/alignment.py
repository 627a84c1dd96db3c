"""Word alignment from contextual embeddings (SimAlign) and its evaluation by alignment error rate (AER).

SimAlign aligns words of a sentence pair directly from the similarity matrix of their contextual vectors, with
no parallel training data: ArgMax keeps the pairs that are each other's best match; IterMax repeats that on the
words left unaligned, so that a word can also get a second partner (many-to-one links, which ArgMax cannot
produce). AER scores predicted links against gold *sure* (S) and *possible* (P) links, the standard metric on
the Europarl-based test sets.

Gold files use the Pharaoh format, one sentence pair per line: ``i-j`` is a sure link (also possible), ``i?j``
or ``ipj`` a possible-only link (``ipj`` is the ``.talp`` layout of the RWTH German-English and WPT English-French /
Romanian-English gold sets as lilt/alignment-scripts prepares them, and of awesome-align's and SimAlign's gold
files); ``i-jp`` / ``i-j-p`` (possible) and ``i-js`` / ``i-j-s`` (sure) markers are accepted. Indices count from 0,
or from 1 with ``one_based`` (the ``.talp`` files and awesome-align's examples count from 1).

References:
    - Jalili Sabet, Dufter, Yvon & Schütze, "SimAlign: High Quality Word Alignments without Parallel Training Data
      using Static and Contextualized Embeddings", Findings of EMNLP 2020 (ArgMax, IterMax, ``alpha = 0.9``).
    - Och & Ney, "A Systematic Comparison of Various Statistical Alignment Models", Computational Linguistics
      29(1), 2003 (sure / possible links and AER).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from veco_lightning.lexicon.badinput import open_text

Alignment = set[tuple[int, int]]

_TOKEN = re.compile(r"^(\d+)([-?p])(\d+)(?:-?([spSP]))?$")
_SENTENCE_ID = re.compile(r"^\s*\d+\t")  # SimAlign's gold layout: ``id<TAB>links``


def parse_pharaoh(line: str, one_based: bool = False) -> tuple[Alignment, Alignment]:
    """Parse one Pharaoh line into ``(sure, possible)`` with ``sure ⊆ possible``.

    Args:
        line: whitespace-separated tokens such as ``"0-0 1?2 2-1 3p4"``.
        one_based: subtract 1 from every index (some gold sets, e.g. Och & Ney's German-English, count from 1).

    Raises:
        ValueError: on a token that is not ``i-j``, ``i?j``, ``ipj``, ``i-j[-]p`` or ``i-j[-]s``.
    """
    if _SENTENCE_ID.match(line):
        raise ValueError(f"the line opens with a sentence id ({line.split(chr(9))[0].strip()!r} and a TAB, SimAlign's "
                         "layout): give the links alone, one line per sentence pair in the order of the pairs (e.g. "
                         "cut -f2), and the sentences without their ids too")
    sure: Alignment = set()
    possible: Alignment = set()
    for token in line.split():
        match = _TOKEN.match(token)
        if match is None or (match.group(2) in "?p" and match.group(4) is not None):
            raise ValueError(f"bad alignment token {token!r}: expected 'i-j' (sure), 'i?j', 'ipj' or 'i-jp' "
                             "(possible)")
        i, j = int(match.group(1)) - one_based, int(match.group(3)) - one_based
        if i < 0 or j < 0:
            raise ValueError(f"alignment token {token!r} has index 0, so the file counts from 0, but it is read as "
                             "counting from 1: set alignments_one_based: false (one_based=False)")
        possible.add((i, j))
        if match.group(2) == "-" and (match.group(4) or "s").lower() == "s":
            sure.add((i, j))
    return sure, possible


def read_pharaoh(path: str, one_based: bool = False) -> list[tuple[Alignment, Alignment]]:
    """Read a Pharaoh gold file: one ``(sure, possible)`` pair per line (an empty line is an empty alignment)."""
    out = []
    with open_text(path) as f:
        for lineno, line in enumerate(f, 1):
            try:
                out.append(parse_pharaoh(line, one_based=one_based))
            except ValueError as err:
                raise ValueError(f"{path}:{lineno}: {err}") from None
    return out


def links_past_words(alignment: tuple[Alignment, Alignment], src_words: int, tgt_words: int) -> list[tuple[int, int]]:
    """The links of a ``(sure, possible)`` gold alignment that point past a sentence pair's words (sorted)."""
    return sorted((i, j) for i, j in alignment[1] if i >= src_words or j >= tgt_words)


def simalign_similarity(src: Tensor, tgt: Tensor) -> Tensor:
    """SimAlign's similarity ``(cos + 1) / 2`` of word vectors ``(n, D)`` x ``(m, D)`` -> ``(n, m)`` in ``[0, 1]``.

    IterMax's ``alpha`` discount multiplies similarities, which only penalises non-negative values.
    """
    return (F.normalize(src.float(), dim=1) @ F.normalize(tgt.float(), dim=1).T + 1.0) / 2.0


def _mutual_argmax(sim: Tensor) -> Tensor:
    """``(n, m)`` bool mask of cells that are the arg-max of their row and of their column (first index on ties)."""
    n, m = sim.shape
    fwd = torch.zeros(n, m, dtype=torch.bool, device=sim.device)
    fwd[torch.arange(n, device=sim.device), sim.argmax(dim=1)] = True  # best target of each source word
    bwd = torch.zeros(n, m, dtype=torch.bool, device=sim.device)
    bwd[sim.argmax(dim=0), torch.arange(m, device=sim.device)] = True  # best source of each target word
    return fwd & bwd


def _to_set(mask: Tensor) -> Alignment:
    return {(i, j) for i, j in mask.nonzero().tolist()}


def argmax_alignment(sim: Tensor) -> Alignment:
    """SimAlign's ArgMax: ``(i, j)`` is aligned iff ``j = argmax_j' sim[i, j']`` and ``i = argmax_i' sim[i', j]``.

    Args:
        sim: ``(n, m)`` similarity of source word ``i`` and target word ``j``.
    """
    if sim.dim() != 2:
        raise ValueError(f"sim must be (n, m), got shape {tuple(sim.shape)}")
    if sim.numel() == 0:
        return set()
    return _to_set(_mutual_argmax(sim.detach().float()))


def itermax_alignment(sim: Tensor, max_iter: int = 2, alpha: float = 0.9) -> Alignment:
    """SimAlign's IterMax (Jalili Sabet et al. 2020, §2.3 and the released ``iter_max``).

    What is implemented:

    1. ``A`` = ArgMax (mutual arg-max) of ``sim``. If ``min(n, m) <= 2``, return ``A`` (as the released code).
    2. Repeat at most ``max_iter - 1`` times (so ``max_iter`` counts all arg-max passes; the paper's 2 means one
       extra pass). Stop early if every source or every target word is aligned:
       * re-weight every cell: ``0`` if both its words are already aligned, ``alpha * sim`` if exactly one is,
         ``sim`` if neither is (the released code computes ``min(1, alpha * [i free] + alpha * [j free])``, which
         is the same for ``alpha >= 0.5``);
       * add the mutual arg-max cells of the re-weighted matrix, except cells whose two words are both aligned;
       * stop if nothing was added.

    Args:
        sim: ``(n, m)`` non-negative similarities (see :func:`simalign_similarity`).
        max_iter: number of arg-max passes including the first.
        alpha: discount on a pair one of whose words is already aligned.

    Returns:
        Set of ``(i, j)`` links, a superset of :func:`argmax_alignment`.
    """
    if sim.dim() != 2:
        raise ValueError(f"sim must be (n, m), got shape {tuple(sim.shape)}")
    if sim.numel() == 0:
        return set()
    sim = sim.detach().float()
    if (sim < 0).any():
        raise ValueError("itermax_alignment needs non-negative similarities (the alpha discount would reward "
                         "negative ones); pass (cos + 1) / 2, e.g. from simalign_similarity")
    aligned = _mutual_argmax(sim)  # (n, m) bool
    if min(sim.shape) <= 2:
        return _to_set(aligned)
    for _ in range(max_iter - 1):
        row_done = aligned.any(dim=1)  # (n,) source word already aligned
        col_done = aligned.any(dim=0)  # (m,) target word already aligned
        if row_done.all() or col_done.all():
            break
        n_done = row_done[:, None].int() + col_done[None, :].int()  # (n, m): 0, 1 or 2 aligned words
        weight = torch.where(n_done == 0, 1.0, torch.where(n_done == 1, alpha, 0.0))
        new = _mutual_argmax(sim * weight) & (n_done < 2)
        if not new.any():
            break
        aligned |= new
    return _to_set(aligned)


def alignment_counts(predicted: Sequence[Alignment], sure: Sequence[Alignment], possible: Sequence[Alignment]
                     ) -> tuple[int, int, int, int]:
    """Corpus counts ``(|A∩S|, |A∩P|, |A|, |S|)`` for AER, with ``P`` extended to ``P ∪ S``.

    Returned separately so that a metric can accumulate them over batches or devices.
    """
    if not len(predicted) == len(sure) == len(possible):
        raise ValueError(f"need one alignment per sentence pair: got {len(predicted)} predicted, {len(sure)} sure "
                         f"and {len(possible)} possible")
    a_and_s = a_and_p = a = s = 0
    for pred, gold_s, gold_p in zip(predicted, sure, possible):
        pred, gold_s = set(pred), set(gold_s)
        a_and_s += len(pred & gold_s)
        a_and_p += len(pred & (set(gold_p) | gold_s))
        a += len(pred)
        s += len(gold_s)
    return a_and_s, a_and_p, a, s


def aer_from_counts(a_and_s: int, a_and_p: int, a: int, s: int) -> float:
    """``1 - (|A∩S| + |A∩P|) / (|A| + |S|)``; NaN when there is neither a prediction nor a sure link."""
    return 1.0 - (a_and_s + a_and_p) / (a + s) if a + s else float("nan")


def alignment_error_rate(predicted: Sequence[Alignment], sure: Sequence[Alignment],
                         possible: Sequence[Alignment]) -> float:
    """Corpus-level AER (Och & Ney 2003): ``1 - (|A∩S| + |A∩P|) / (|A| + |S|)``, summing counts over sentences.

    Args:
        predicted: predicted links ``A`` per sentence pair.
        sure: gold sure links ``S`` per sentence pair.
        possible: gold possible links ``P`` per sentence pair (``S`` is added if missing).
    """
    return aer_from_counts(*alignment_counts(predicted, sure, possible))
