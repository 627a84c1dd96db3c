"""Bitext mining (the BUCC 2018 shared task protocol, as run by LASER and XTREME).

A BUCC task hides a few hundred *gold* translation pairs among tens of thousands of unrelated sentences on each
side (comparable corpora). A system proposes candidate pairs with scores; the score threshold is tuned for F1
on the dev ("sample") split and F1 / precision / recall are reported on the test split at that threshold.

Candidates follow Artetxe & Schwenk (2019) and XTREME: ratio-margin scores with ``k = 4`` in both directions,
the forward nearest neighbour of every source UNION the backward nearest neighbour of every target, each with
its margin score. Unlike LASER's FAISS code, the arg-max runs over *all* sentences, not only the ``k`` cosine
neighbours (exact instead of approximate); ``one_to_one=True`` adds LASER's greedy filter that keeps a pair only
if neither side was used by a higher-scoring pair.

File layout (BUCC 2018): ``{pair}.{split}.{xx}`` and ``{pair}.{split}.en`` with lines ``id<TAB>sentence``, and
``{pair}.{split}.gold`` with lines ``src_id<TAB>trg_id`` (e.g. ``de-en.test.de``). ``{prefix}.src`` /
``{prefix}.trg`` / ``{prefix}.gold`` is accepted too. :func:`make_bucc_task` builds such a task from any
line-aligned parallel corpus (command ``veco-make-bucc``).

References:
    - Zweigenbaum, Sharoff & Rapp, "Overview of the Third BUCC Shared Task: Spotting Parallel Sentences in
      Comparable Corpora", BUCC 2018.
    - Artetxe & Schwenk, "Margin-based Parallel Corpus Mining with Multilingual Sentence Embeddings", ACL 2019.
    - Hu et al., "XTREME", ICML 2020 (threshold tuned on the BUCC sample split, F1 on test).
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

from torch import Tensor

from veco_lightning.evaluation.retrieval import DEFAULT_CHUNK_SIZE, bidirectional_nearest_neighbours
from veco_lightning.lexicon.badinput import existing, open_text, plain_name

_FIX = "the BUCC 2018 layout is one 'id<TAB>sentence' per line ('src_id<TAB>trg_id' in .gold files)"


@dataclass
class BuccSplit:
    """One split of a BUCC task. ``gold`` is empty when no ``.gold`` file exists (e.g. the official test)."""

    src_ids: list[str]
    src_sents: list[str]
    trg_ids: list[str]
    trg_sents: list[str]
    gold: set[tuple[str, str]] = field(default_factory=set)


def _resolve(prefix: str) -> tuple[str, str, str | None]:
    """``(src, trg, gold or None)`` paths for ``{prefix}.src/.trg`` or the official ``{xx-yy}.{split}.{xx,yy}``."""
    candidates = [(prefix + ".src", prefix + ".trg")]
    pair = os.path.basename(prefix).split(".")[0]
    if pair.count("-") == 1:
        xx, yy = pair.split("-")
        candidates.append((f"{prefix}.{xx}", f"{prefix}.{yy}"))
    for src, trg in candidates:
        src, trg = existing(src), existing(trg)  # plain or compressed (.gz, .bz2, .xz)
        if src is not None and trg is not None:
            return src, trg, existing(prefix + ".gold")
    tried = ", ".join(f"{s} + {t}" for s, t in candidates)
    raise FileNotFoundError(f"No BUCC files for prefix {prefix!r}: tried {tried}. Pass the path without extension, "
                            "e.g. 'bucc/de-en.test' for bucc/de-en.test.de, bucc/de-en.test.en, bucc/de-en.test.gold")


def bucc_splits(root: str, pair: str) -> list[str]:
    """The splits of ``pair`` in ``root`` that have both sides (``["dev", "test"]``; BUCC 2018: sample, training)."""
    if not os.path.isdir(root):
        return []
    found = set()
    for name in os.listdir(root):
        name = plain_name(name)
        if name.startswith(f"{pair}.") and name.count(".") >= 2:
            split = name[len(pair) + 1 : name.rindex(".")]
            try:
                _resolve(os.path.join(root, f"{pair}.{split}"))
            except FileNotFoundError:
                continue
            found.add(split)
    return sorted(found)


def bucc_files(root: str, pair: str, split: str) -> tuple[str, str, str | None]:
    """Paths of one split: ``bucc_files("bucc2018", "de-en", "test")`` -> ``(….de, ….en, ….gold or None)``."""
    try:
        return _resolve(os.path.join(root, f"{pair}.{split}"))
    except FileNotFoundError as error:
        found = bucc_splits(root, pair)
        if not found:
            raise
        raise FileNotFoundError(f"No BUCC split {split!r} for {pair} in {root}: it has {', '.join(found)}. Set "
                                "dev_split (the threshold's, with gold) and test_split (the reported one) to those "
                                "names; BUCC 2018 calls them sample and training, XTREME dev and test") from error


def _read_sentences(path: str) -> tuple[list[str], list[str]]:
    ids: list[str] = []
    sents: list[str] = []
    seen: set[str] = set()
    with open_text(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            parts = line.split("\t", 1)
            if len(parts) != 2 or not parts[0].strip():
                raise ValueError(f"{path}:{lineno}: expected 'id<TAB>sentence', got {line[:80]!r}; {_FIX}")
            if parts[0] in seen:
                raise ValueError(f"{path}:{lineno}: duplicate sentence id {parts[0]!r}; ids must be unique per file")
            seen.add(parts[0])
            ids.append(parts[0])
            sents.append(parts[1])
    return ids, sents


def read_bucc(prefix: str) -> BuccSplit:
    """Read ``{prefix}.src``/``.trg``/``.gold`` or the official ``xx-en.{split}.xx``/``.en``/``.gold`` files."""
    src_path, trg_path, gold_path = _resolve(prefix)
    src_ids, src_sents = _read_sentences(src_path)
    trg_ids, trg_sents = _read_sentences(trg_path)
    gold: set[tuple[str, str]] = set()
    if gold_path is not None:
        known_src, known_trg = set(src_ids), set(trg_ids)
        with open_text(gold_path) as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                parts = line.rstrip("\r\n").split("\t")
                if len(parts) != 2:
                    raise ValueError(f"{gold_path}:{lineno}: expected 'src_id<TAB>trg_id', got {line.strip()[:80]!r}; "
                                     f"{_FIX}")
                if parts[0] not in known_src or parts[1] not in known_trg:
                    raise ValueError(f"{gold_path}:{lineno}: gold pair {tuple(parts)} names an id missing from "
                                     f"{src_path} or {trg_path}; the gold file must belong to the same split")
                gold.add((parts[0], parts[1]))
    return BuccSplit(src_ids, src_sents, trg_ids, trg_sents, gold)


def mine_candidates(src_emb: Tensor, trg_emb: Tensor, k: int = 4, one_to_one: bool = False,
                    chunk_size: int = DEFAULT_CHUNK_SIZE) -> list[tuple[int, int, float]]:
    """Candidate pairs: forward NN of each source UNION backward NN of each target, by ratio margin.

    Args:
        src_emb: ``(N, D)`` source sentence embeddings.
        trg_emb: ``(M, D)`` target sentence embeddings.
        k: margin neighbourhood size, both ways (4 in LASER / XTREME).
        one_to_one: apply LASER's greedy filter (highest score first, each sentence used at most once).
        chunk_size: rows scored at once.

    Returns:
        ``(src_index, trg_index, margin)`` triples, deduplicated, sorted by decreasing margin.
    """
    fwd_idx, fwd_score, bwd_idx, bwd_score = bidirectional_nearest_neighbours(src_emb, trg_emb, margin=True, k=k,
                                                                              chunk_size=chunk_size)
    scored: dict[tuple[int, int], float] = {}
    pairs = [(i, j, s) for i, (j, s) in enumerate(zip(fwd_idx.tolist(), fwd_score.tolist()))]
    pairs += [(i, j, s) for j, (i, s) in enumerate(zip(bwd_idx.tolist(), bwd_score.tolist()))]
    for i, j, s in pairs:  # a pair found both ways may differ in the last float bit: keep the larger
        scored[(i, j)] = max(s, scored.get((i, j), -math.inf))
    ranked = sorted(((i, j, s) for (i, j), s in scored.items()), key=lambda c: (-c[2], c[0], c[1]))
    if not one_to_one:
        return ranked
    used_src: set[int] = set()
    used_trg: set[int] = set()
    kept = []
    for i, j, s in ranked:
        if i not in used_src and j not in used_trg:
            used_src.add(i)
            used_trg.add(j)
            kept.append((i, j, s))
    return kept


def candidates_to_ids(candidates: Sequence[tuple[int, int, float]], src_ids: Sequence[str],
                      trg_ids: Sequence[str]) -> list[tuple[str, str, float]]:
    """Map index candidates from :func:`mine_candidates` to BUCC ids, so they compare with ``BuccSplit.gold``."""
    return [(src_ids[i], trg_ids[j], s) for i, j, s in candidates]


def _prf(correct: int, predicted: int, n_gold: int) -> tuple[float, float, float]:
    precision = correct / predicted if predicted else 0.0
    recall = correct / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return f1, precision, recall


def best_threshold(candidates_scored: Sequence[tuple[Hashable, Hashable, float]], gold: set
                   ) -> tuple[float, float, float, float]:
    """Threshold maximising F1 of ``{pairs with score >= threshold}`` against ``gold`` (O(n log n)).

    Candidates are sorted by decreasing score and every cut between two distinct scores is tried (XTREME's
    ``bucc_optimize``). The returned threshold is the midpoint between the last kept and the first dropped score,
    which leaves the same margin on both sides for the test split; on F1 ties the highest threshold wins.

    Args:
        candidates_scored: ``(src, trg, score)``; ``(src, trg)`` must be comparable with the gold tuples.
        gold: set of gold ``(src, trg)`` pairs.

    Returns:
        ``(threshold, f1, precision, recall)``; ``threshold = inf`` (predict nothing) when no candidate is gold.
    """
    scores: dict[tuple, float] = {}
    for src, trg, score in candidates_scored:
        scores[(src, trg)] = max(float(score), scores.get((src, trg), -math.inf))
    items = sorted(scores.items(), key=lambda item: -item[1])
    best = (math.inf, 0.0, 0.0, 0.0)
    correct = 0
    for n, (pair, score) in enumerate(items):
        correct += pair in gold
        if n + 1 < len(items) and items[n + 1][1] == score:
            continue  # cannot cut between equal scores
        f1, precision, recall = _prf(correct, n + 1, len(gold))
        if f1 > best[1]:
            threshold = score
            if n + 1 < len(items):
                mid = (score + items[n + 1][1]) / 2
                threshold = mid if items[n + 1][1] < mid <= score else score
            best = (threshold, f1, precision, recall)
    return best


def prf_at_threshold(candidates_scored: Sequence[tuple[Hashable, Hashable, float]], gold: set, threshold: float
                     ) -> tuple[float, float, float]:
    """``(f1, precision, recall)`` of the pairs whose score is ``>= threshold``."""
    predicted = {(src, trg) for src, trg, score in candidates_scored if score >= threshold}
    return _prf(len(predicted & gold), len(predicted), len(gold))


def evaluate_mining(dev: tuple[Sequence[tuple], set], test: tuple[Sequence[tuple], set]) -> dict[str, float]:
    """Tune the threshold on ``dev = (candidates, gold)`` and report F1 / P / R on ``test`` (BUCC / XTREME).

    Returns:
        ``threshold``, ``dev_f1``, ``dev_precision``, ``dev_recall``, ``test_f1``, ``test_precision``,
        ``test_recall``.
    """
    threshold, dev_f1, dev_p, dev_r = best_threshold(*dev)
    test_f1, test_p, test_r = prf_at_threshold(test[0], test[1], threshold)
    return {"threshold": threshold, "dev_f1": dev_f1, "dev_precision": dev_p, "dev_recall": dev_r,
            "test_f1": test_f1, "test_precision": test_p, "test_recall": test_r}


def make_bucc_task(src_sents: Sequence[str], trg_sents: Sequence[str], output_dir: str, pair: str = "xx-en",
                   n_gold: int = 1000, n_distractors: int = 10000, dev_fraction: float = 0.5, seed: int = 0
                   ) -> dict[str, str]:
    """Build a BUCC-style mining task from a line-aligned parallel corpus.

    What it is: ``n_gold`` translation pairs hidden among ``n_distractors`` unrelated sentences on *each* side.
    A distractor's translation is never included, so it has no gold partner and any pair proposed for it is a
    false positive, as with the comparable corpora of BUCC 2018 (where ~2-3 % of the sentences have a partner).
    Source-distractor, target-distractor and gold lines are disjoint, each side is shuffled independently and
    ids are ``{xx}-{n:06d}`` / ``{en}-{n:06d}`` by position. Gold pairs and distractors are split into disjoint
    ``dev`` (threshold tuning) and ``test`` parts. Lines whose source or target is empty or repeats an earlier
    line are skipped, so that no distractor is secretly a copy of a gold sentence.

    Files: ``{output_dir}/{pair}.{dev,test}.{xx,en,gold}`` (the official layout; :func:`read_bucc` reads them).

    Args:
        src_sents: source sentences, ``src_sents[i]`` translating ``trg_sents[i]``.
        trg_sents: target sentences.
        output_dir: created if missing.
        pair: ``"{source language}-{target language}"``, e.g. ``"de-en"``.
        n_gold: gold pairs in total (dev + test).
        n_distractors: distractors per side in total (dev + test).
        dev_fraction: share of gold pairs and distractors that go to ``dev``.
        seed: seed of the sampling and shuffling.

    Returns:
        ``{"dev": prefix, "test": prefix}``, prefixes to pass to :func:`read_bucc`.
    """
    if len(src_sents) != len(trg_sents):
        raise ValueError(f"src and trg must be line-aligned, got {len(src_sents)} and {len(trg_sents)} lines")
    langs = pair.split("-")
    if len(langs) != 2 or not all(langs) or langs[0] == langs[1]:
        raise ValueError(f"pair must look like 'de-en' (two different language codes), got {pair!r}")
    if not 0.0 < dev_fraction < 1.0 or n_gold < 2 or n_distractors < 0:
        raise ValueError("need 0 < dev_fraction < 1, n_gold >= 2 and n_distractors >= 0")
    seen_src: set[str] = set()
    seen_trg: set[str] = set()
    usable = []
    for i, (s, t) in enumerate(zip(src_sents, trg_sents)):
        s, t = s.strip(), t.strip()
        if s and t and s not in seen_src and t not in seen_trg and "\n" not in s + t:
            usable.append(i)
        seen_src.add(s)
        seen_trg.add(t)
    needed = n_gold + 2 * n_distractors
    if needed > len(usable):
        raise ValueError(f"n_gold + 2 * n_distractors = {needed} lines needed but only {len(usable)} usable "
                         "(non-empty, non-duplicate) parallel lines; lower --n_gold / --n_distractors")
    rng = random.Random(seed)
    chosen = rng.sample(usable, needed)
    gold, src_only = chosen[:n_gold], chosen[n_gold : n_gold + n_distractors]
    trg_only = chosen[n_gold + n_distractors :]
    n_dev_gold = min(n_gold - 1, max(1, round(n_gold * dev_fraction)))
    n_dev_dist = round(n_distractors * dev_fraction)
    parts = {"dev": (gold[:n_dev_gold], src_only[:n_dev_dist], trg_only[:n_dev_dist]),
             "test": (gold[n_dev_gold:], src_only[n_dev_dist:], trg_only[n_dev_dist:])}
    os.makedirs(output_dir, exist_ok=True)
    prefixes = {}
    for split, (gold_lines, src_lines, trg_lines) in parts.items():
        src_side, trg_side = gold_lines + src_lines, gold_lines + trg_lines
        rng.shuffle(src_side)
        rng.shuffle(trg_side)
        src_id = {line: f"{langs[0]}-{n:06d}" for n, line in enumerate(src_side)}
        trg_id = {line: f"{langs[1]}-{n:06d}" for n, line in enumerate(trg_side)}
        prefix = os.path.join(output_dir, f"{pair}.{split}")
        sides = ((langs[0], src_side, src_id, src_sents), (langs[1], trg_side, trg_id, trg_sents))
        for lang, side, ids, sents in sides:
            with open(f"{prefix}.{lang}", "w", encoding="utf-8") as f:
                f.writelines(f"{ids[line]}\t{sents[line].strip()}\n" for line in side)
        with open(f"{prefix}.gold", "w", encoding="utf-8") as f:
            f.writelines(f"{src_id[line]}\t{trg_id[line]}\n" for line in sorted(gold_lines, key=src_id.__getitem__))
        prefixes[split] = prefix
    return prefixes


def make_bucc_task_from_files(src_file: str, trg_file: str, output_dir: str, pair: str = "xx-en",
                              n_gold: int = 1000, n_distractors: int = 10000, dev_fraction: float = 0.5,
                              seed: int = 0) -> dict[str, str]:
    """:func:`make_bucc_task` on two line-aligned UTF-8 text files (one sentence per line).

    Args:
        src_file: source-language sentences.
        trg_file: their translations, line by line.
        output_dir: where the ``{pair}.{dev,test}.*`` files go.
        pair: ``"{source language}-{target language}"``, e.g. ``"de-en"``.
        n_gold: gold pairs in total (dev + test).
        n_distractors: unrelated sentences per side in total (dev + test).
        dev_fraction: share of the data used for the dev (threshold tuning) split.
        seed: random seed.
    """
    from veco_lightning.data.readers import ParallelSource, read_pairs

    # The package's pair reader: lines end at LF only (not at U+2028), and a line without a partner is an error
    # naming the file and line. A pair with an empty side (or bad UTF-8, a control character) is skipped and counted
    # in a warning, as make_bucc_task skips empty sides anyway.
    src, trg = read_pairs(ParallelSource(src=src_file, tgt=trg_file), pair, on_bad_line="skip")
    return make_bucc_task(src, trg, output_dir, pair=pair, n_gold=n_gold, n_distractors=n_distractors,
                          dev_fraction=dev_fraction, seed=seed)


def main(args: list[str] | None = None) -> None:
    """Console entry point ``veco-make-bucc``.

    Example: ``veco-make-bucc --src_file de.txt --trg_file en.txt --output_dir bucc --pair de-en --n_gold 400
    --n_distractors 20000``.

    Args:
        args: Command-line arguments; ``sys.argv[1:]`` when None.
    """
    from jsonargparse import ArgumentParser

    parser = ArgumentParser(prog="veco-make-bucc",
                            description="Hide gold translation pairs among unrelated sentences (BUCC 2018 layout).")
    parser.add_function_arguments(make_bucc_task_from_files, as_positional=False)
    prefixes = make_bucc_task_from_files(**parser.parse_args(args).as_dict())
    for split, prefix in prefixes.items():
        print(f"{split}: {os.path.abspath(prefix)}.*")


if __name__ == "__main__":
    main()
