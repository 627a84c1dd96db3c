"""Monolingual loader throughput: the streaming path against the cached path (and LitData when it is installed).

Three ways to feed MMLM blocks (``--seq-len`` tokens, ``<s>`` first, documents joined with ``</s>``, batches of
``--batch-size``, masked by the package's ``MLMCollator``) from the same corpus, each measured with 0 and 2 loader
workers (``--workers``):

* **streaming**: ``MonolingualDataModule(streaming=True)``: ``StreamingBlocks`` reads the raw text files through
  ``datasets`` streaming, tokenizes and packs them on the fly, and ``stream_loader`` batches them. Nothing is
  prepared ahead of training.
* **cached**: ``MonolingualDataModule(files=...)``, the usual path: ``prepare_data`` tokenizes and packs the corpus
  once into a cache of Arrow shards (``--prep-workers`` processes), then ``setup`` / ``train_dataloader`` read the
  blocks back through the ``LanguageSampler`` loader.
* **litdata**: LitData's ``optimize`` writes the token ids into its chunk format (``TokensLoader``, ``--prep-workers``
  workers), then a weighted ``CombinedStreamingDataset`` of one ``StreamingDataset`` per language is read through a
  ``StreamingDataLoader`` (blocks of ``seq-len - 1`` tokens with ``<s>`` prepended, the same collator). Only when
  ``litdata`` is importable; otherwise its row says "litdata not installed". It is no dependency of the package:
  install it with ``pip install --no-deps litdata obstore tifffile`` (a plain ``pip install litdata`` pulls
  torchvision, which can replace a CPU build of torch by a CUDA one).

All three draw languages with the same smoothed probabilities (q_i ∝ p_i^0.3, p_i the bytes of each language).

Figures, per path and worker count (medians over ``--runs`` rounds of ``harness.interleave``, the order rotated
round by round, each measurement on an idle CPU if one comes within ``--idle-wait`` s, its contention recorded):

* **blocks/s**: blocks delivered per second of wall clock, from the first batch on (at least ``--batches`` batches
  and ``--min-seconds`` s; a loader that reaches its end is started again, as a new epoch would be).
* **blocks per CPU-second**: the same blocks over the CPU time spent meanwhile by this process
  (``time.process_time``: all its threads) and by its loader workers (user + system time of the live child
  processes, read with ``psutil``; without ``psutil`` only the 0-worker figure is given). With workers, batches they
  prefetched but the window did not consume count as CPU without blocks (at most ``2 x workers`` batches), and
  workers that end within the window (LitData's, at each end of its weighted mix) count with all their CPU time.
* **first batch**: seconds from building the datamodule (or LitData's dataset and loader) to the first batch:
  tokenizer loading, opening the streams or the cache, starting the workers. Preparation is reported apart:
  **prep** is the wall time of ``prepare_data`` (cached) and ``optimize`` (LitData) on a fresh cache, measured once
  per invocation (``--reuse-prepared`` skips it when a prepared copy exists).
* **resume exact**: with 0 workers, a loader's state is saved after 4 batches (through ``torch.save`` /
  ``torch.load(weights_only=True)`` as the package's checkpoints do; LitData's is deep-copied), a fresh datamodule and
  loader load it, and their next 4 batches are compared with those of the loader that went on (input ids and MLM
  labels).

Corpus: NTREX-128 German x30, French x20 and Hindi x7 (``--repeats``; about 20 MB in 3 files) from ``--data-dir``,
written to ``benchmarks/.cache/streaming/corpus/`` (git-ignored, as are the prepared caches next to it). Tokenizer:
the 32k SentencePiece-Unigram of ``mlm_throughput.py`` (trained on NTREX once and cached under
``benchmarks/.cache``), or ``--tokenizer`` (e.g. ``runs/ntrex/tokenizer``). Tokenizing is single-threaded: the
harness sets ``TOKENIZERS_PARALLELISM=false``. The main process runs torch with ``--threads`` (default 1), as the
loader workers do (PyTorch gives each one thread), so that 0 and 2 workers compare: on 2 busy cores the masking
collator at 2 threads spent 3 to 4 times the CPU per block of the cached path (OpenMP threads waiting on each other).
LitData's ``optimize`` keeps its working folders under ``benchmarks/.cache/streaming/litdata_scratch``.

Usage (from the repository root; 3 to 5 minutes on 2 cores)::

    python benchmarks/streaming_throughput.py
    python benchmarks/streaming_throughput.py --runs 5 --workers 0 2 --batches 60 --reuse-prepared

On a machine that other processes keep busy the defaults wait little for an idle CPU (``--idle-wait 5``,
``--retries 0``) so that the run stays short; contended measurements are flagged, not repeated. The CPU-second
figures move less with contention than the wall-clock ones.

Results are printed and written to ``benchmarks/results/streaming_throughput.json`` (``--output``).
"""

from __future__ import annotations

import argparse
import copy
import io
import os
import resource
import shutil
import time
from collections.abc import Callable
from typing import Any

import harness

WORK = os.path.join(harness.CACHE, "streaming")
CORPUS = os.path.join(WORK, "corpus")
VECO_CACHE = os.path.join(WORK, "veco_cache")
LITDATA = os.path.join(WORK, "litdata")
LITDATA_SCRATCH = os.path.join(WORK, "litdata_scratch")  # optimize's working folders (else /tmp/chunks, /tmp/data)
REPEATS = ("deu=30", "fra=20", "hin=7")
RESUME_BATCHES = 4
SYSTEMS = ("streaming", "cached", "litdata")


# --------------------------------------------------------------------------------------------------- corpus


def write_corpus(data_dir: str, repeats: dict[str, int]) -> dict[str, str] | None:
    """NTREX-128 reference files replicated ``repeats[lang]`` times, written once (rewritten when the size differs);
    None when a source file is missing."""
    sources = {lang: os.path.join(data_dir, "ntrex128", f"newstest2019-ref.{lang}.txt") for lang in repeats}
    if not all(os.path.exists(source) for source in sources.values()):
        return None
    os.makedirs(CORPUS, exist_ok=True)
    files = {}
    for language, repeat in repeats.items():
        source = sources[language]
        target = os.path.join(CORPUS, f"{language}.txt")
        with open(source, encoding="utf-8") as handle:
            text = handle.read()  # universal newlines: the NTREX files' CRLF become LF
        # Rewritten only when it changed: the cached path's cache is keyed on the file's modification time.
        if not os.path.exists(target) or os.path.getsize(target) != len(text.encode("utf-8")) * repeat:
            with open(target + ".tmp", "w", encoding="utf-8", newline="\n") as handle:
                handle.write(text * repeat)
            os.replace(target + ".tmp", target)
        files[language] = target
    return files


def litdata_available() -> str | None:
    """LitData's version, or None when it cannot be imported."""
    try:
        import litdata
    except ImportError:
        return None
    return getattr(litdata, "__version__", "unknown")


# --------------------------------------------------------------------------------------------------- CPU time


def children_cpu() -> dict[int, float] | None:
    """User + system seconds of every live child process (loader workers) by pid; None without ``psutil``."""
    try:
        import psutil
    except ImportError:
        return None
    times = {}
    for child in psutil.Process().children(recursive=True):
        try:
            cpu = child.cpu_times()
        except psutil.Error:  # ended meanwhile
            continue
        times[child.pid] = cpu.user + cpu.system
    return times


def ended_children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class CpuClock:
    """CPU seconds of this process and of its child processes (live ones by pid, plus the ended ones) since start."""

    def __init__(self) -> None:
        self.main = time.process_time()
        self.live = children_cpu()
        self.ended = ended_children_cpu()

    def stop(self) -> dict[str, float | None]:
        main = time.process_time() - self.main
        live_now = children_cpu()
        ended = ended_children_cpu() - self.ended
        live = None
        if live_now is not None and self.live is not None:
            live = sum(cpu - self.live.get(pid, 0.0) for pid, cpu in live_now.items())
        return {"main_cpu_s": main, "workers_cpu_s": live, "ended_children_cpu_s": ended}


# --------------------------------------------------------------------------------------------------- the loaders


def veco_datamodule(args, files: dict[str, str], tok_dir: str, streaming: bool, workers: int):
    from veco_lightning import MonolingualDataModule

    options: dict[str, Any] = {"streaming": True, "val_blocks": 0} if streaming else {"val_fraction": 0.0}
    return MonolingualDataModule(
        files=files, tokenizer=tok_dir, max_length=args.seq_len, batch_size=args.batch_size, alpha=0.3,
        num_workers=workers, num_proc=args.prep_workers if args.prep_workers > 1 else None, cache_dir=VECO_CACHE,
        seed=args.seed, **options)


def veco_loader(args, files, tok_dir, streaming: bool, workers: int):
    """The datamodule's training loader, built as Lightning would: prepare_data (a check or a cache hit), setup."""
    dm = veco_datamodule(args, files, tok_dir, streaming, workers)
    dm.prepare_data()
    dm.setup("fit")
    return dm.train_dataloader()


def _tokenize_range(item):
    """LitData's ``optimize`` function: token ids of a range of lines, each document followed by ``</s>``."""
    import itertools

    import torch

    path, start, stop = item
    tok = _tokenize_range.tokenizer
    with open(path, encoding="utf-8") as handle:
        lines = [line.rstrip("\n") for line in itertools.islice(handle, start, stop)]
    lines = [line for line in lines if line.strip()]
    for begin in range(0, len(lines), 1000):
        for ids in tok(lines[begin : begin + 1000], add_special_tokens=False)["input_ids"]:
            yield torch.tensor([*ids, tok.eos_token_id], dtype=torch.int32)


def _line_ranges(path: str, parts: int) -> list[tuple[str, int, int]]:
    with open(path, encoding="utf-8") as handle:
        count = sum(1 for _ in handle)
    step = -(-count // parts)
    return [(path, start, min(count, start + step)) for start in range(0, count, step)]


def litdata_optimize(files: dict[str, str], tok_dir: str, workers: int) -> None:
    """Tokenize every language into LitData's chunks under ``benchmarks/.cache/streaming/litdata/<lang>``."""
    os.environ.setdefault("DATA_OPTIMIZER_CACHE_FOLDER", os.path.join(LITDATA_SCRATCH, "chunks"))
    os.environ.setdefault("DATA_OPTIMIZER_DATA_CACHE_FOLDER", os.path.join(LITDATA_SCRATCH, "data"))
    from litdata import optimize
    from litdata.streaming.item_loader import TokensLoader

    from veco_lightning.data.tokenizer import load_tokenizer

    _tokenize_range.tokenizer = load_tokenizer(tok_dir)
    shutil.rmtree(LITDATA, ignore_errors=True)
    shutil.rmtree(LITDATA_SCRATCH, ignore_errors=True)
    for language, path in files.items():
        optimize(fn=_tokenize_range, inputs=_line_ranges(path, 8), output_dir=os.path.join(LITDATA, language),
                 chunk_bytes="16MB", item_loader=TokensLoader(), num_workers=max(1, workers), verbose=False,
                 start_method="fork")


def litdata_prepared(files: dict[str, str]) -> bool:
    return all(os.path.exists(os.path.join(LITDATA, lang, "index.json")) for lang in files)


def litdata_loader(args, files: dict[str, str], tok_dir: str, workers: int):
    """A ``StreamingDataLoader`` over a weighted ``CombinedStreamingDataset`` of the languages' chunks, collated by
    the package's MLM collator (``<s>`` + ``seq-len - 1`` tokens per block, as the package's blocks)."""
    import torch
    from litdata import CombinedStreamingDataset, StreamingDataLoader, StreamingDataset
    from litdata.streaming.item_loader import TokensLoader

    from veco_lightning.data.collators import MLMCollator
    from veco_lightning.data.sampling import smoothed_probabilities
    from veco_lightning.data.tokenizer import load_tokenizer

    tok = load_tokenizer(tok_dir)
    collate = MLMCollator(tok)
    bos = torch.tensor([tok.bos_token_id])
    weights = smoothed_probabilities([os.path.getsize(p) for p in files.values()], 0.3).tolist()
    parts = [StreamingDataset(os.path.join(LITDATA, lang), item_loader=TokensLoader(block_size=args.seq_len - 1))
             for lang in files]
    combined = CombinedStreamingDataset(parts, seed=args.seed, weights=weights, iterate_over_all=False)

    def collate_fn(rows):
        return collate([{"input_ids": torch.cat([bos, row.long()])} for row in rows])

    return StreamingDataLoader(combined, batch_size=args.batch_size, num_workers=workers, collate_fn=collate_fn)


def make_loader(args, files, tok_dir, system: str, workers: int):
    if system == "litdata":
        return litdata_loader(args, files, tok_dir, workers)
    return veco_loader(args, files, tok_dir, system == "streaming", workers)


# --------------------------------------------------------------------------------------------------- measurements


def read_blocks(build: Callable[[], Any], workers: int, args) -> dict:
    """Time to the first batch from ``build()``, then blocks/s and blocks per CPU-second over at least
    ``args.batches`` batches and ``args.min_seconds`` s."""
    start = time.perf_counter()
    loader = build()
    batches = iter(loader)
    next(batches)
    first = time.perf_counter() - start
    monitor, clock = harness.CpuMonitor(), CpuClock()
    window0 = time.perf_counter()
    blocks = count = restarts = 0
    while count < args.batches or time.perf_counter() - window0 < args.min_seconds:
        try:
            batch = next(batches)
        except StopIteration:  # a loader with an end (LitData's weighted mix, the cached epoch): a new epoch
            restarts += 1
            batches = iter(loader)
            continue
        blocks += batch["mmlm"]["input_ids"].shape[0]
        count += 1
    window = time.perf_counter() - window0
    cpu, contention = clock.stop(), monitor.stop()
    # The live workers are this benchmark's own CPU, not other processes'.
    if contention["other_processes_cores"] is not None and cpu["workers_cpu_s"]:
        contention["other_processes_cores"] = max(0.0, contention["other_processes_cores"]
                                                  - cpu["workers_cpu_s"] / window)
    del batches, loader
    own = cpu["main_cpu_s"] + (cpu["workers_cpu_s"] or 0.0) + cpu["ended_children_cpu_s"]
    measurable = workers == 0 or cpu["workers_cpu_s"] is not None
    return {"first_batch_s": first, "batches": count, "blocks": blocks, "seconds": window, "epoch_restarts": restarts,
            "blocks_per_s": blocks / window, "tokens_per_s": blocks * args.seq_len / window, **cpu,
            "cpu_s": own if measurable else None, "blocks_per_cpu_s": blocks / own if measurable and own else None,
            **contention}


def measurement(args, files, tok_dir, system: str, workers: int) -> Callable[[], dict]:
    def run() -> dict:
        return read_blocks(lambda: make_loader(args, files, tok_dir, system, workers), workers, args)

    return run


def describe(run: int, name: str, r: dict) -> str:
    per_cpu = f"{r['blocks_per_cpu_s']:.0f}" if r["blocks_per_cpu_s"] else "n/a"
    return (f"run {run} {name:>12}: {r['blocks_per_s']:7.0f} blocks/s ({r['blocks']} blocks in {r['seconds']:.1f} s), "
            f"{per_cpu} blocks per CPU-s, first batch {r['first_batch_s']:.2f} s")


def timed_prep(name: str, prepare: Callable[[], None], args) -> dict:
    """One preparation (``prepare_data`` / ``optimize``) on a fresh cache: wall and CPU time (this process and its
    workers, which end and are waited for)."""

    def run() -> dict:
        clock = CpuClock()
        prepare()
        cpu = clock.stop()
        return {"cpu_s": cpu["main_cpu_s"] + (cpu["workers_cpu_s"] or 0.0) + cpu["ended_children_cpu_s"]}

    figures = harness.measure(run, idle_wait=args.idle_wait, retries=0,
                              describe=lambda r: f"prep {name}: {r['run_wall_s']:.1f} s ({r['cpu_s']:.1f} CPU-s)")
    figures["seconds"] = figures["run_wall_s"]
    return figures


def batches_equal(a: list[dict], b: list[dict]) -> bool:
    import torch

    return len(a) == len(b) and all(
        torch.equal(x["mmlm"][key], y["mmlm"][key]) for x, y in zip(a, b) for key in ("input_ids", "labels"))


def resume_check(args, files, tok_dir, system: str) -> dict:
    """Save the loader's state after ``RESUME_BATCHES`` batches; does a fresh loader that loads it give the next
    ``RESUME_BATCHES`` batches of the one that went on? (0 workers.)"""
    import torch

    loader = make_loader(args, files, tok_dir, system, 0)
    batches = iter(loader)
    before = [next(batches) for _ in range(RESUME_BATCHES)]
    state = loader.state_dict()
    if system == "litdata":
        state = copy.deepcopy(state)
    else:  # as a checkpoint stores it
        buffer = io.BytesIO()
        torch.save(state, buffer)
        buffer.seek(0)
        state = torch.load(buffer, weights_only=True)
    expected = [next(batches) for _ in range(RESUME_BATCHES)]
    del batches, loader
    resumed_loader = make_loader(args, files, tok_dir, system, 0)
    resumed_loader.load_state_dict(state)
    resumed = iter(resumed_loader)
    got = [next(resumed) for _ in range(RESUME_BATCHES)]
    # The comparison can fail: the batches before the saved position differ from those after it.
    return {"exact": batches_equal(expected, got), "batches_before_save": RESUME_BATCHES,
            "batches_compared": RESUME_BATCHES, "workers": 0, "before_differs": not batches_equal(before, expected)}


# --------------------------------------------------------------------------------------------------- main


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--runs", type=int, default=3, help="rounds; each measures every path and worker count once")
    p.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="loader worker counts measured")
    p.add_argument("--batches", type=int, default=40, help="batches read per measurement after the first, at least")
    p.add_argument("--min-seconds", type=float, default=2.0, help="seconds read per measurement, at least")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seq-len", type=int, default=512, help="block length in tokens, <s> included")
    p.add_argument("--repeats", nargs="+", default=list(REPEATS),
                   help="NTREX-128 languages of the corpus and how often each file is repeated, as lang=count")
    p.add_argument("--prep-workers", type=int, default=2,
                   help="processes of the cached path's prepare_data (num_proc) and of LitData's optimize")
    p.add_argument("--reuse-prepared", action="store_true",
                   help="reuse the prepared cache and LitData chunks when present (preparation is then not timed)")
    p.add_argument("--tokenizer", default=None,
                   help="tokenizer directory (default: the 32k NTREX tokenizer of mlm_throughput.py, trained once)")
    p.add_argument("--vocab-size", type=int, default=32000, help="entries of the tokenizer trained when none is given")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads of the main process (the loader workers run with 1, as PyTorch sets them)")
    p.add_argument("--seed", type=int, default=0)
    harness.add_contention_options(p, retries=0)
    p.set_defaults(idle_wait=5.0)
    harness.add_data_dir(p, "ntrex128/")
    harness.add_output(p, "streaming_throughput")
    return p.parse_args(argv)


def fmt(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def main(argv=None) -> int:
    args = parse_args(argv)
    wall0 = time.perf_counter()
    log = harness.log
    repeats = {lang: int(count) for lang, count in (item.split("=", 1) for item in args.repeats)}
    files = write_corpus(args.data_dir, repeats)
    if files is None:
        return harness.skip(f"no NTREX-128 files for {sorted(repeats)} under "
                            f"{os.path.join(args.data_dir, 'ntrex128')!r}; set --data-dir or $VECO_BENCH_DATA")
    if args.tokenizer is not None and not os.path.exists(os.path.join(args.tokenizer, "tokenizer.json")):
        return harness.skip(f"no tokenizer at {args.tokenizer!r} (a directory holding tokenizer.json)")

    import mlm_throughput
    import torch

    harness.quiet_libraries("veco_lightning", "litdata")
    torch.set_num_threads(args.threads)
    machine = harness.describe_machine()
    if args.tokenizer:
        tok_dir, corpora = args.tokenizer, None
    else:
        tok_dir, _, corpora = mlm_throughput.get_tokenizer(args.data_dir, args.vocab_size)
    from veco_lightning.data.tokenizer import load_tokenizer

    vocab = len(load_tokenizer(tok_dir))
    litdata = litdata_available()
    systems = [s for s in SYSTEMS if s != "litdata" or litdata]
    size_mb = sum(os.path.getsize(p) for p in files.values()) / 1e6
    log(f"Corpus: {', '.join(f'{lang} x{n}' for lang, n in repeats.items())} = {size_mb:.1f} MB in "
        f"{os.path.relpath(CORPUS, harness.REPO)}; tokenizer {os.path.relpath(tok_dir, harness.REPO)} ({vocab} "
        f"entries); blocks of {args.seq_len}, batches of {args.batch_size}; workers {args.workers}; "
        f"litdata {litdata or 'not installed'}\n")

    # Preparation, once: the cached path's prepare_data and LitData's optimize, each on a fresh cache.
    prep: dict[str, Any] = {"streaming": {"seconds": 0.0, "note": "nothing to prepare"}}
    from veco_lightning.data.cache import is_complete

    cached_dm = veco_datamodule(args, files, tok_dir, streaming=False, workers=0)
    if args.reuse_prepared and all(is_complete(cached_dm.cache_location(lang)) for lang in files):
        prep["cached"] = {"seconds": None, "note": "reused"}
    else:
        shutil.rmtree(VECO_CACHE, ignore_errors=True)
        prep["cached"] = timed_prep("cached (prepare_data)", cached_dm.prepare_data, args)
    cached_dm.setup("fit")
    prep["cached"]["blocks"] = sum(len(ds) for ds in cached_dm.train_sets.values())
    del cached_dm
    if litdata:
        if args.reuse_prepared and litdata_prepared(files):
            prep["litdata"] = {"seconds": None, "note": "reused"}
        else:
            prep["litdata"] = timed_prep("litdata (optimize)", lambda: litdata_optimize(files, tok_dir,
                                                                                        args.prep_workers), args)
        prep["litdata"]["chunk_bytes"] = sum(os.path.getsize(os.path.join(root, name))
                                             for root, _, names in os.walk(LITDATA) for name in names
                                             if name.endswith(".bin"))

    log("\nResume check (0 workers): state after 4 batches, next 4 compared")
    resume = {}
    for system in systems:
        resume[system] = resume_check(args, files, tok_dir, system)
        log(f"  {system}: {'exact' if resume[system]['exact'] else 'DIFFERENT'}")

    log("")
    measurements = {f"{system}/w{w}": measurement(args, files, tok_dir, system, w)
                    for system in systems for w in args.workers}
    rounds = harness.interleave(measurements, args.runs, idle_wait=args.idle_wait, retries=args.retries,
                                describe=describe)
    med = harness.medians(rounds, "blocks_per_s")
    med_first = harness.medians(rounds, "first_batch_s")
    med_cpu = {name: (None if any(r[name]["blocks_per_cpu_s"] is None for r in rounds)
                      else harness.medians(rounds, "blocks_per_cpu_s")[name]) for name in measurements}
    contended = {name: sum(r[name]["contended"] for r in rounds) for name in measurements}

    rows, summary = [], {}
    for system in SYSTEMS:
        if system not in systems:
            rows.append([system, "–", "litdata not installed", "", "", "", "", "", ""])
            continue
        p = prep[system]
        prep_cell = "none" if system == "streaming" else "reused" if p["seconds"] is None else f"{p['seconds']:.1f} s"
        exact = "yes" if resume[system]["exact"] else "**no**"
        for w in args.workers:
            name = f"{system}/w{w}"
            rows.append([system, w, fmt(med[name]), fmt(med[name] * args.seq_len / 1000), fmt(med_cpu[name]),
                         f"{med_first[name]:.2f}", prep_cell, exact, f"{contended[name]}/{args.runs}"])
            summary[name] = {"blocks_per_s": med[name], "tokens_per_s": med[name] * args.seq_len,
                             "blocks_per_cpu_s": med_cpu[name], "first_batch_s": med_first[name],
                             "contended_runs": contended[name]}
    table = harness.markdown_table(
        ["path", "workers", "blocks/s", "k tokens/s", "blocks per CPU-s", "first batch (s)", "prep", "resume exact",
         "contended runs"], rows)
    log("\n" + table)
    contention = harness.summarize_contention(rounds)
    wall = time.perf_counter() - wall0
    log(f"\nBenchmark wall time {wall:.0f} s.")
    harness.write_result(args.output, "streaming_throughput", {
        "settings": {
            "corpus": {lang: {"repeat": repeats[lang], "bytes": os.path.getsize(path)} for lang, path in files.items()},
            "corpus_mb": size_mb, "tokenizer": os.path.relpath(tok_dir, harness.REPO), "tokenizer_entries": vocab,
            "tokenizer_corpora": corpora, "seq_len": args.seq_len, "batch_size": args.batch_size, "alpha": 0.3,
            "workers": args.workers, "runs": args.runs, "min_batches": args.batches, "min_seconds": args.min_seconds,
            "prep_workers": args.prep_workers, "seed": args.seed, "litdata": litdata,
            "tokenizers_parallelism": os.environ.get("TOKENIZERS_PARALLELISM"),
            "torch_threads": torch.get_num_threads(),
            "idle_wait": args.idle_wait, "retries": args.retries,
        },
        "prep": prep,
        "resume": resume,
        "summary": summary,
        "table": table,
        "runs": rounds,
        "wall_time_s": wall,
    }, environment={**machine, **contention}, argv=argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
