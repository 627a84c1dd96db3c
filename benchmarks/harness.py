"""Plumbing shared by the benchmark scripts: environment, CPU-contention monitoring, timing, results.

The scripts are run as files from the repository root (``python benchmarks/<name>.py``). Python then puts
``benchmarks/`` first on ``sys.path``, so every script imports this module as ``import harness``. Importing it
prepares the process before any Hugging Face library is imported (they read these variables once, at import): the
Hub and ``datasets`` work offline (``HF_HUB_OFFLINE``, ``HF_DATASETS_OFFLINE``; an explicit setting wins), the
tokenizers library does not warn about forks, and the repository root is put on ``sys.path`` so that
``veco_lightning`` imports from a checkout without ``pip install -e .``.

What the scripts get from here:

* **Contention.** On a small machine one other busy process slows a benchmark several-fold, and on a VM a busy host
  does the same invisibly (hypervisor "steal" time). :class:`CpuMonitor` measures, from ``/proc/stat``, how many
  cores other processes used and how many the hypervisor stole during a timed window; :func:`contended` flags a
  window where that was not negligible (:data:`CONTENTION_WARN`, :data:`STEAL_WARN`); :func:`probe_others` and
  :func:`wait_for_idle` check for an idle CPU before a measurement.
* **Measurements.** :func:`measure` takes one measurement on an idle CPU and repeats it, up to ``--retries`` times,
  while it is contended; :func:`interleave` takes every measurement of a script once per round, in an order rotated
  round by round (so that drifting machine load hits all alike); :func:`medians` reduces the rounds and
  :func:`summarize_contention` warns about what stayed contended. :class:`StepTimer` times the steps of a training
  loop (a plain loop, a Lightning ``Trainer`` or a Hugging Face ``Trainer``), :class:`Stopwatch` a ``with`` block.
* **Reporting.** :func:`describe_machine` (CPU, cores, threads, library versions, whether the CPU is idle now),
  :func:`markdown_table`, and :func:`write_result` (JSON under ``benchmarks/results/`` with the date, the command
  line, the figures and the machine).
* **Command line and data.** :func:`add_data_dir` (``--data-dir``, default ``$VECO_BENCH_DATA`` or
  ``<repo>/../shared/data``), :func:`add_contention_options` (``--idle-wait``, ``--retries``), :func:`add_output`
  (``--output``), :func:`skip` (the message and exit status 0 of a script whose data is absent),
  :func:`quiet_libraries`, :func:`read_lines` and :data:`NTREX_CODES`.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import gc
import glob
import importlib.util
import json
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib import metadata
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
# Training benchmarks fork data-loader workers; the Rust tokenizer's threads would be disabled there with a warning.
# The data-preparation benchmarks choose again (add_tokenizer_threads).
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
if REPO not in sys.path:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, REPO)

CACHE = os.path.join(HERE, ".cache")  # tokenizers, packed data, scratch output (git-ignored)
RESULTS = os.path.join(HERE, "results")
SHARED_DATA = os.path.join(os.path.dirname(REPO), "shared", "data")  # where the configs under configs/ read data
DEFAULT_DATA = os.environ.get("VECO_BENCH_DATA", SHARED_DATA)

# NTREX-128 file code of each non-English language the benchmarks use, by ISO 639-1 code.
NTREX_CODES = {"ar": "arb", "de": "deu", "el": "ell", "es": "spa", "fr": "fra", "hi": "hin", "ja": "jpn", "ru": "rus",
               "sw": "swa", "tr": "tur", "vi": "vie", "zh": "zho-CN"}

CONTENTION_WARN = 0.15  # cores used by other processes during a measurement above which it is flagged
# Cores stolen by the hypervisor above which a measurement is flagged. On the 2-core VM this was written on, an idle
# host steals < 0.002 cores; measurements with 0.01-0.03 cores stolen ran the HF side of mlm_throughput.py 25-70%
# slower (busy host: OpenMP threads stall at every barrier), although no process inside the VM was busy.
STEAL_WARN = 0.005
# /proc/stat counts in jiffies (10 ms): a single stolen tick in a short window is not flagged.
STEAL_MIN_S = 0.015
IDLE_PROBE_S = 2.0  # length of the probe that decides whether the CPU is idle


def log(message: str) -> None:
    """Print a progress line at once (the scripts run for minutes)."""
    print(message, flush=True)


# --------------------------------------------------------------------------------------------------- command line


def add_data_dir(parser: argparse.ArgumentParser, holds: str) -> None:
    """Add ``--data-dir``: the shared data folder (``$VECO_BENCH_DATA`` or ``<repo>/../shared/data``).

    Args:
        parser: the script's parser.
        holds: what the script reads from it, for the help text (e.g. ``"ntrex128/ and dictionaries/"``).
    """
    parser.add_argument("--data-dir", default=DEFAULT_DATA,
                        help=f"shared data folder, holding {holds} ($VECO_BENCH_DATA sets the default)")


def add_tokenizer(parser: argparse.ArgumentParser) -> None:
    """Add ``--tokenizer``, a local tokenizer directory; :func:`find_tokenizer` gives the default."""
    parser.add_argument("--tokenizer", default=None,
                        help="local tokenizer directory (default: the 32k NTREX tokenizer cached under "
                             "benchmarks/.cache by mlm_throughput.py, else the package's demo tokenizer)")


def find_tokenizer(explicit: str | None) -> str:
    """``explicit``, else the last 32k NTREX tokenizer cached by ``mlm_throughput.py`` under :data:`CACHE`, else the
    demo tokenizer shipped with the package (no downloads)."""
    if explicit:
        return explicit
    cached = sorted(glob.glob(os.path.join(CACHE, "tokenizer-*", "tokenizer.json")))
    if cached:
        return os.path.dirname(cached[-1])
    return os.path.join(REPO, "veco_lightning", "resources", "demo", "tokenizer")


def add_tokenizer_threads(parser: argparse.ArgumentParser) -> None:
    """Add ``--tokenizer-threads {on,off}`` (default ``on``): whether the Rust tokenizer encodes a batch on all cores
    (its default, so what ``veco-prepare`` does) or on one (``TOKENIZERS_PARALLELISM=false``, this harness's default
    for the training benchmarks). :func:`apply_tokenizer_threads` sets it."""
    parser.add_argument("--tokenizer-threads", choices=("on", "off"), default="on",
                        help="on: the Rust tokenizer uses every core (its default, as veco-prepare runs); off: one "
                             "(TOKENIZERS_PARALLELISM=false)")


def apply_tokenizer_threads(args: argparse.Namespace) -> str:
    """Set ``TOKENIZERS_PARALLELISM`` from ``--tokenizer-threads`` (read by the tokenizer at every batch) and
    return its value. Call it before each measurement: ``datasets.map`` with ``num_proc`` sets the variable to
    ``false`` for its workers and then puts back a copy of ``os.environ``, which leaves ``false`` in the process's
    real environment, where the tokenizer reads it."""
    os.environ["TOKENIZERS_PARALLELISM"] = "true" if args.tokenizer_threads == "on" else "false"
    return os.environ["TOKENIZERS_PARALLELISM"]


def add_contention_options(parser: argparse.ArgumentParser, retries: int = 2) -> None:
    """Add ``--idle-wait`` and ``--retries``, the arguments of :func:`measure` and :func:`interleave`.

    Args:
        parser: the script's parser.
        retries: the default of ``--retries``.
    """
    parser.add_argument("--idle-wait", type=float, default=120.0,
                        help="before each measurement, wait up to this many seconds for other processes to go idle")
    parser.add_argument("--retries", type=int, default=retries,
                        help="re-measure up to this many times when other processes slowed the measurement")


def add_output(parser: argparse.ArgumentParser, benchmark: str) -> None:
    """Add ``--output``, the JSON results file, by default ``benchmarks/results/<benchmark>.json``."""
    parser.add_argument("--output", default=os.path.join(RESULTS, f"{benchmark}.json"), help="JSON results file")


def ntrex_with_dictionaries(data_dir: str) -> tuple[str, str, str] | None:
    """``(ntrex128 folder, dictionaries folder, English NTREX file)`` under ``data_dir``, or None when absent."""
    ntrex, dictionaries = os.path.join(data_dir, "ntrex128"), os.path.join(data_dir, "dictionaries")
    english = os.path.join(ntrex, "newstest2019-src.eng.txt")
    return (ntrex, dictionaries, english) if os.path.exists(english) and os.path.isdir(dictionaries) else None


def ntrex_languages(ntrex: str, dictionaries: str, wanted: Sequence[str] | None = None) -> list[str]:
    """The non-English NTREX languages (of ``wanted``, or all) that have both an NTREX reference file under ``ntrex``
    and an ``en-<lang>.tsv`` dictionary under ``dictionaries``, in :data:`NTREX_CODES` order."""
    return [lang for lang, code in NTREX_CODES.items()
            if (wanted is None or lang in wanted) and os.path.exists(os.path.join(dictionaries, f"en-{lang}.tsv"))
            and os.path.exists(os.path.join(ntrex, f"newstest2019-ref.{code}.txt"))]


def ntrex_mining_data(data_dir: str, wanted: Sequence[str] | None = None) -> tuple[str, str, str, list[str]] | str:
    """What the mining benchmarks read: ``(ntrex128 folder, dictionaries folder, English NTREX file, languages)``
    (:func:`ntrex_with_dictionaries`, :func:`ntrex_languages`), or why they cannot run (a message for :func:`skip`)."""
    found = ntrex_with_dictionaries(data_dir)
    if found is None:
        return f"no NTREX-128 / dictionaries under {data_dir!r}; set --data-dir or $VECO_BENCH_DATA"
    langs = ntrex_languages(found[0], found[1], wanted)
    if not langs:
        return f"no language of {wanted} has an NTREX file and a dictionary under {data_dir}"
    return (*found, langs)


def parse_ntrex_data(description: str) -> tuple[str, str, str, list[str]] | str:
    """The setup of the small scripts under ``results/`` that read NTREX and its dictionaries: ``--data-dir``
    (:func:`add_data_dir`) parsed from the command line, and :func:`ntrex_mining_data` of it (or why the script
    cannot run, a message for :func:`skip`)."""
    parser = argparse.ArgumentParser(description=description)
    add_data_dir(parser, "ntrex128/ and dictionaries/")
    return ntrex_mining_data(parser.parse_args().data_dir)


def found_or_exit(found: tuple[str, str, str, list[str]] | str) -> tuple[str, str, str, list[str]]:
    """What :func:`ntrex_mining_data` or :func:`parse_ntrex_data` found; when it is the reason the data is missing,
    the script stops there with :func:`skip`'s message and exit status."""
    if isinstance(found, str):
        raise SystemExit(skip(found))
    return found


# Tatoeba file code of the languages whose code there is not their NTREX one.
TATOEBA_CODES = {"ar": "ara", "sw": "swh", "zh": "cmn"}


def distinct_pairs(data_dir: str, lang: str) -> tuple[list[str], list[str]]:
    """Every distinct ``(lang, English)`` sentence pair of the real parallel data under ``data_dir``, in file order:
    NTREX-128, XNLI (``xnli/{test,dev}-<lang>.tsv`` against ``-en``, line by line: premises and hypotheses), Tatoeba
    (``tatoeba/tatoeba.<code>-eng.*``); a file that is absent is left out, and so is a pair with an empty side or a
    side that the package's readers refuse (a control character: XNLI holds a few). For the NTREX languages about
    13,000 pairs each (NTREX alone: 1,997): a corpus of real text that, unlike a replicated one, repeats no sentence,
    so a cache of words seen before helps only as much as real text lets it."""
    from veco_lightning.lexicon.badinput import text_problem

    found: dict[tuple[str, str], None] = {}

    def add(src: list[str], tgt: list[str]) -> None:
        found.update(dict.fromkeys((a, b) for a, b in zip(src, tgt) if a.strip() and b.strip()
                                   and text_problem(a) is None and text_problem(b) is None))

    ntrex = os.path.join(data_dir, "ntrex128")
    reference = os.path.join(ntrex, f"newstest2019-ref.{NTREX_CODES.get(lang, lang)}.txt")
    if os.path.exists(reference):
        add(read_lines(reference), read_lines(os.path.join(ntrex, "newstest2019-src.eng.txt")))
    for split in ("test", "dev"):
        paths = [os.path.join(data_dir, "xnli", f"{split}-{code}.tsv") for code in (lang, "en")]
        if all(map(os.path.exists, paths)):
            rows = [[line.split("\t") for line in read_lines(path)] for path in paths]
            for column in (0, 1):  # premise, hypothesis
                add(*([row[column] if len(row) > column else "" for row in side] for side in rows))
    code = TATOEBA_CODES.get(lang, NTREX_CODES.get(lang, lang))
    stem = os.path.join(data_dir, "tatoeba", f"tatoeba.{code}-eng")
    if os.path.exists(f"{stem}.{code}") and os.path.exists(f"{stem}.eng"):
        add(read_lines(f"{stem}.{code}"), read_lines(f"{stem}.eng"))
    return [a for a, _ in found], [b for _, b in found]


def write_distinct_pairs(data_dir: str, lang: str, folder: str) -> tuple[tuple[str, str], int]:
    """:func:`distinct_pairs` of ``lang`` written into ``folder`` as a pair of line-aligned files
    (``<lang>-en.<lang>``, ``<lang>-en.en``), for a datamodule to read; returns their paths and the number of pairs."""
    src, tgt = distinct_pairs(data_dir, lang)
    paths = os.path.join(folder, f"{lang}-en.{lang}"), os.path.join(folder, f"{lang}-en.en")
    for path, lines in zip(paths, (src, tgt)):
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
    return paths, len(src)


def add_mining_batch_options(parser: argparse.ArgumentParser, benchmark: str, repeats: int, repeats_help: str) -> None:
    """The options of the benchmarks that run synonym mining batch by batch over the NTREX language pairs
    (``mining_stages.py``, ``mining_modes.py``): data, tokenizer, languages, repeats, batch size, pair length and
    output."""
    add_data_dir(parser, "ntrex128/ and dictionaries/")
    add_tokenizer(parser)
    parser.add_argument("--langs", nargs="+", default=None, help="non-English sides (default: all with data)")
    parser.add_argument("--repeats", type=int, default=repeats, help=repeats_help)
    parser.add_argument("--batch-size", type=int, default=1000, help="sentence pairs per batch")
    parser.add_argument("--max-length", type=int, default=128, help="the datamodule's pair length in tokens")
    add_output(parser, benchmark)


def ntrex_mining_setup(args: argparse.Namespace) -> tuple[str, str, str, list[str], str, Any] | str:
    """For the options of :func:`add_mining_batch_options`: ``(ntrex128 folder, dictionaries folder, English NTREX
    file, languages, tokenizer folder, tokenizer)``, or why the benchmark cannot run (a message for :func:`skip`)."""
    found = ntrex_mining_data(args.data_dir, args.langs)
    if isinstance(found, str):
        return found
    quiet_libraries("veco_lightning")
    from transformers import AutoTokenizer

    tok_dir = find_tokenizer(args.tokenizer)
    return (*found, tok_dir, AutoTokenizer.from_pretrained(tok_dir))


def ntrex_miner(dict_dir: str, lang: str):
    """The ``lang``-en :class:`~veco_lightning.lexicon.synonyms.SynonymMiner` of the shipped ``en-<lang>.tsv``
    dictionary, with built-in stop words and its lookup tables built (as the synonym datamodule builds them)."""
    from veco_lightning.lexicon.dictionary import read_dictionary
    from veco_lightning.lexicon.stopwords import default_stop_words
    from veco_lightning.lexicon.synonyms import SynonymMiner

    dictionary = read_dictionary(os.path.join(dict_dir, f"en-{lang}.tsv"), lang, "en", reverse=True)
    miner = SynonymMiner(dictionary, lang, "en", {code: default_stop_words(code) for code in (lang, "en")})
    miner.batch_tables()
    return miner


def ntrex_recipe_missing() -> str | None:
    """Why the NTREX recipes (``configs/experiments/ntrex*.yaml``, run from the repository root) cannot run here, or
    None: they read NTREX-128 from ``../shared/data`` and the tokenizer from ``runs/ntrex/tokenizer``."""
    ntrex = os.path.join(SHARED_DATA, "ntrex128")
    if not os.path.isdir(ntrex):
        return f"no NTREX-128 at {ntrex!r}, where configs/experiments/ntrex*.yaml read it"
    tokenizer = os.path.join(REPO, "runs", "ntrex", "tokenizer")
    if not os.path.isdir(tokenizer):
        return (f"no tokenizer at {tokenizer!r}: train it with the veco-train-tokenizer command in the header of "
                "configs/experiments/ntrex.yaml")
    return None


def skip(reason: str) -> int:
    """Say why a benchmark does not run (its data is absent); returns its exit status, 0: absent data is no failure.

    Args:
        reason: what is missing, where, and how to point the script at it.
    """
    log(f"SKIPPED: {reason}")
    return 0


def quiet_libraries(*loggers: str) -> None:
    """Silence progress bars, info logs and known harmless warnings of Lightning, transformers and datasets.

    Args:
        loggers: further loggers to silence below ERROR, e.g. ``"veco_lightning"``.
    """
    import importlib.util
    import logging
    import warnings

    import transformers

    warnings.filterwarnings("ignore", module="lightning")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*set_vital.*")
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "transformers", "datasets", *loggers):
        logging.getLogger(name).setLevel(logging.ERROR)
    transformers.utils.logging.set_verbosity_error()
    if importlib.util.find_spec("datasets") is not None:  # benchmarks/gpu.py runs without it
        import datasets

        datasets.disable_progress_bars()


def least_cpu(fn: Callable[..., object], *args: object, calls: int = 3) -> float:
    """The least CPU time of this process (``time.process_time``) over ``calls`` calls of ``fn(*args)``: for timing
    one step alone, on one thread, in the in-process A/Bs of ``results/``."""
    best = float("inf")
    for _ in range(calls):
        begin = time.process_time()
        fn(*args)
        best = min(best, time.process_time() - begin)
    return best


def checkout_ab(default_rounds: int,
                wanted: Sequence[str] | None = None) -> tuple[str, int, tuple[str, str, str, list[str]]]:
    """The command line of the in-process A/B scripts of ``results/`` (``BEFORE_DIR [ROUNDS]``) and the NTREX data
    they read (:func:`ntrex_mining_data` of :data:`DEFAULT_DATA`, only the ``wanted`` languages if given): ``(before
    checkout, rounds, data)``; where the data is missing the script stops with :func:`skip`'s message."""
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else default_rounds
    return sys.argv[1], rounds, found_or_exit(ntrex_mining_data(DEFAULT_DATA, wanted))


def checkout_module(checkout: str, relative: str, name: str):
    """The module file ``relative`` (``veco_lightning/lexicon/words.py``) of another checkout, loaded under ``name``
    beside this checkout's own, for an in-process A/B of the two versions (its imports resolve to this checkout's
    other modules). Registered in ``sys.modules``, where dataclasses look their module up."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(checkout, relative))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def collector_paused(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` run with Python's cyclic garbage collector paused for each call, as data preparation runs its map
    function (``PausedCycleCollection``): in an in-process A/B whose calls build many short-lived objects, a full
    collection over the loaded dictionaries otherwise lands in one arm or the other and doubles that round."""

    def paused(*args: Any, **kwargs: Any) -> Any:
        was_on = gc.isenabled()
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            if was_on:
                gc.enable()

    return paused


def read_lines(path: str) -> list[str]:
    """The lines of a UTF-8 text file, without their line ends (LF or CRLF). Only LF ends a line, as in the package's
    readers: ``str.splitlines`` would also cut a line at U+2028, U+0085 or a form feed inside it, and so shift one side
    of a line-aligned pair of files (XNLI's Greek test file holds five such characters)."""
    with open(path, encoding="utf-8", newline="") as handle:
        lines = handle.read().split("\n")
    if lines[-1] == "":  # the last line's end, or an empty file
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


# --------------------------------------------------------------------------------------------------- contention


def own_cpu_seconds() -> float:
    """CPU time (user + system) of this process, all its threads, and its child processes that have ended (e.g. the
    ``num_proc`` workers of a ``datasets.map``, joined before it returns)."""
    import resource  # Unix only

    return sum(usage.ru_utime + usage.ru_stime
               for usage in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)))


class CpuMonitor:
    """CPU time used by *other* processes, and stolen by the hypervisor, since the monitor was created.

    The benchmark's own CPU time is this process's plus that of its children that ended (and were waited for)
    within the window: a ``veco-fit`` subprocess, ``datasets.map`` workers. A child still running when the window
    closes counts as another process. Reads ``/proc/stat`` (Linux); elsewhere every figure is None.
    """

    def __init__(self) -> None:
        self.hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.start = self._sample()

    def _sample(self) -> tuple[float, float, float, float] | None:
        """(wall clock, busy CPU s of the machine, stolen CPU s, CPU s of this process and its ended children)."""
        try:
            with open("/proc/stat") as f:
                fields = [int(x) for x in f.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        own = own_cpu_seconds()  # Unix only, like /proc/stat
        idle = fields[3] + fields[4]  # idle + iowait
        steal = fields[7] if len(fields) > 7 else 0
        busy = sum(fields[:8]) - idle - steal
        return time.perf_counter(), busy / self.hz, steal / self.hz, own

    def stop(self) -> dict[str, float | None]:
        """The window's figures: ``other_processes_cores``, ``steal_cores`` (both averages over the window) and
        ``steal_s``. The monitor keeps running: each call covers the time since its creation."""
        end = self._sample()
        if self.start is None or end is None:
            return {"other_processes_cores": None, "steal_cores": None, "steal_s": None}
        wall = end[0] - self.start[0]
        others = max(0.0, (end[1] - self.start[1]) - (end[3] - self.start[3]))
        steal = end[2] - self.start[2]
        return {"other_processes_cores": others / wall, "steal_cores": steal / wall, "steal_s": steal}


def contended(figures: Mapping[str, Any]) -> bool:
    """Whether other processes (or the hypervisor) took a noticeable share of the CPU during a measurement.

    Args:
        figures: a measurement holding :meth:`CpuMonitor.stop`'s fields.
    """
    busy = figures.get("other_processes_cores")
    steal = figures.get("steal_cores") or 0.0
    stolen_s = figures.get("steal_s") or 0.0
    return busy is not None and (busy + steal > CONTENTION_WARN or (steal > STEAL_WARN and stolen_s > STEAL_MIN_S))


def probe_others(seconds: float = IDLE_PROBE_S) -> dict[str, float | None]:
    """Watch the CPU for ``seconds`` while this process sleeps; returns :meth:`CpuMonitor.stop`'s fields."""
    probe = CpuMonitor()
    time.sleep(seconds)
    return probe.stop()


def wait_for_idle(max_wait: float) -> float:
    """Wait (at most ``max_wait`` s) until other processes leave the CPU idle for a whole probe.

    Returns:
        The seconds waited: one probe (:data:`IDLE_PROBE_S`) when the CPU is idle at once.
    """
    start = time.perf_counter()
    warned = False
    while time.perf_counter() - start < max_wait:
        if not contended(probe_others()):
            break
        if not warned:
            log(f"  (other processes are busy; waiting up to {max_wait:.0f} s for an idle CPU...)")
            warned = True
    return time.perf_counter() - start


# --------------------------------------------------------------------------------------------------- measurements


def measure(fn: Callable[[], dict | None], *, idle_wait: float, retries: int = 0,
            describe: Callable[[dict], str] | None = None) -> dict:
    """One measurement on an idle CPU, repeated while other processes slow it down.

    Waits for an idle CPU (:func:`wait_for_idle`), calls ``fn`` and records the CPU contention meanwhile. When
    ``fn`` watched its own timed window (its figures hold :meth:`CpuMonitor.stop`'s fields, as a
    :meth:`StepTimer.result` does), that window counts; otherwise the whole call does. A contended measurement is
    repeated up to ``retries`` times; the last one is kept, flagged.

    Args:
        fn: the measurement; returns its figures, or None when the wall time of the call is the figure.
        idle_wait: at most this many seconds of waiting for an idle CPU before each attempt.
        retries: re-measurements allowed when the measurement was contended.
        describe: the progress line printed after each attempt, from its figures (None: nothing printed).

    Returns:
        ``fn``'s figures plus ``other_processes_cores``, ``steal_cores``, ``steal_s``, ``run_wall_s`` (the call),
        ``waited_for_idle_s``, ``contended`` and ``discarded_contended_attempts`` (the figures of the attempts
        that were repeated).
    """
    discarded: list[dict] = []
    for attempt in range(retries + 1):
        waited = wait_for_idle(idle_wait)
        monitor = CpuMonitor()
        start = time.perf_counter()
        figures = dict(fn() or {})
        figures["run_wall_s"] = time.perf_counter() - start
        for key, value in monitor.stop().items():
            figures.setdefault(key, value)
        figures["waited_for_idle_s"] = waited
        gc.collect()  # free what the measurement built (models, trainers) before the next one
        if describe:
            log(describe(figures))
        figures["contended"] = contended(figures)
        if not figures["contended"]:
            break
        log(f"  WARNING: other processes used {figures['other_processes_cores']:.2f} cores and the hypervisor stole "
            f"{figures['steal_cores']:.3f} during this measurement: it is slowed down and not representative"
            + ("; measuring again." if attempt < retries else "; kept (no retries left)."))
        if attempt < retries:
            discarded.append(figures)
    figures["discarded_contended_attempts"] = discarded
    return figures


def interleave(measurements: Mapping[str, Callable[[], dict | None]], rounds: int, *, idle_wait: float,
               retries: int = 0, describe: Callable[[int, str, dict], str] | None = None) -> list[dict]:
    """Run every measurement once per round, each with :func:`measure`, in an order rotated by one each round.

    Rotating the order (with two measurements: alternating which goes first) spreads drifting machine load and any
    first-or-last advantage over all of them.

    Args:
        measurements: the measurements by name, in the order of the first round.
        rounds: how many rounds.
        idle_wait: see :func:`measure`.
        retries: see :func:`measure`.
        describe: the progress line of a measurement, from (round, name, figures).

    Returns:
        One dict per round: ``run`` (its index), ``order`` (the names in the order measured), each measurement's
        figures under its name, and ``clean`` (no measurement of the round stayed contended).
    """
    names = list(measurements)
    results = []
    for run in range(rounds):
        order = names[run % len(names):] + names[: run % len(names)]
        record: dict[str, Any] = {"run": run, "order": order}
        for name in order:
            record[name] = measure(
                measurements[name], idle_wait=idle_wait, retries=retries,
                describe=functools.partial(describe, run, name) if describe else None)
        record["clean"] = not any(record[name]["contended"] for name in order)
        results.append(record)
    return results


def medians(rounds: Sequence[Mapping[str, Any]], key: str) -> dict[str, float]:
    """The median over ``rounds`` (from :func:`interleave`) of figure ``key``, per measurement name."""
    return {name: statistics.median(r[name][key] for r in rounds) for name in rounds[0]["order"]}


def summarize_contention(rounds: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Warn when measurements stayed contended; returns the worst contention seen, for the results file.

    Returns:
        ``contended_measurements``, ``max_other_processes_cores`` and ``max_steal_cores`` over all measurements of
        all rounds (None where ``/proc/stat`` is unavailable).
    """
    figures = [r[name] for r in rounds for name in r["order"]]
    others = [f["other_processes_cores"] for f in figures if f["other_processes_cores"] is not None]
    steals = [f["steal_cores"] for f in figures if f["steal_cores"] is not None]
    summary = {"contended_measurements": sum(f["contended"] for f in figures),
               "max_other_processes_cores": max(others, default=None), "max_steal_cores": max(steals, default=None)}
    if summary["contended_measurements"]:
        log(f"WARNING: {summary['contended_measurements']} of {len(figures)} measurements were slowed by other "
            f"processes or the host (up to {summary['max_other_processes_cores']:.2f} cores busy, "
            f"{summary['max_steal_cores']:.3f} stolen): re-run on an idle machine before trusting these figures.")
    return summary


class Stopwatch:
    """Wall time of a ``with`` block, for figures reported beside the measurements (load times, totals).

    Example: ``with Stopwatch() as watch: load()`` then ``watch.seconds``.
    """

    def __enter__(self) -> Stopwatch:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.seconds = time.perf_counter() - self.start


class PeakMemory:
    """Peak resident memory of a ``with`` block above what the process held when it started (Linux).

    Freed heap is returned to the system first (``gc.collect`` and glibc's ``malloc_trim``) and the kernel's
    high-water mark is reset (``/proc/self/clear_refs``), so that two systems measured one after the other in one
    process are each charged for their own peak only: model, gradients, optimizer state, activations and batches.
    ``peak_mib`` is None where the kernel does not allow the reset.
    """

    @staticmethod
    def _status(field: str) -> int:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
        raise KeyError(field)

    def __enter__(self) -> PeakMemory:
        gc.collect()
        try:
            import ctypes

            ctypes.CDLL("libc.so.6").malloc_trim(0)
            with open("/proc/self/clear_refs", "w") as refs:
                refs.write("5")
            self.start = self._status("VmRSS")
        except OSError:
            self.start = None
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.peak_mib = None if self.start is None else (self._status("VmHWM") - self.start) / 2**20


class PeakDeviceMemory:
    """Peak memory of a ``with`` block in GiB (``gib``): on a GPU ``torch.cuda.max_memory_allocated`` less what was
    allocated when the block began (``start_gib``; the garbage of earlier measurements is collected first, and the
    peak counter reset), on the CPU :class:`PeakMemory`'s resident-memory high-water mark above the start.

    Without the collection a measurement counted what the one before it left to the garbage collector: in the first
    H200 run the same ``base`` step read 12.2 GiB first in its process and 20.6 GiB as the last of twelve."""

    def __init__(self, on_gpu: bool) -> None:
        self.on_gpu = on_gpu
        self.host = PeakMemory()
        self.start_gib = 0.0

    def __enter__(self) -> PeakDeviceMemory:
        import torch

        gc.collect()
        if self.on_gpu:
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            self.start_gib = torch.cuda.memory_allocated() / 2**30
        self.host.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        import torch

        self.host.__exit__(*exc_info)
        if self.on_gpu:
            self.gib = torch.cuda.max_memory_allocated() / 2**30 - self.start_gib
        else:
            self.gib = (self.host.peak_mib or 0) / 2**10
        gc.collect()
        if self.on_gpu:
            torch.cuda.empty_cache()


class StepTimer:
    """Times the steps of a training loop after ``warmup`` untimed ones, watching CPU contention meanwhile.

    The clock runs from the start of step ``warmup`` to the end of the last step; the time between steps (data
    loading, masking) is included, and each step's own time is kept for a median. Call :meth:`begin` and
    :meth:`end` around each step of a plain loop, or pass :meth:`lightning_callback` or :meth:`trainer_callback` to
    a trainer. Steps are numbered from 0, one optimizer step each. Each step counts its ``tokens`` (the rate
    reported) and any other quantity (e.g. ``masked_tokens``).

    Args:
        warmup: untimed steps before the timed ones.
    """

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.t0: float | None = None
        self.t1: float | None = None
        self.step_start = 0.0
        self.step_times: list[float] = []
        self.counts: dict[str, int] = {"tokens": 0}
        self.threads: int | None = None
        self.monitor: CpuMonitor | None = None
        self.contention: dict[str, float | None] = {}

    def begin(self, step: int) -> None:
        """Mark the start of ``step``; the clock and the CPU monitor start at step ``warmup``."""
        import torch

        if step == self.warmup:
            self.monitor = CpuMonitor()
            self.t0 = time.perf_counter()
            self.threads = torch.get_num_threads()
        self.step_start = time.perf_counter()

    def end(self, step: int, **counts: int) -> None:
        """Mark the end of ``step``; a timed step adds its counts (e.g. ``tokens=2048, masked_tokens=307``)."""
        now = time.perf_counter()
        if step >= self.warmup and self.t0 is not None:
            self.t1 = now
            self.step_times.append(now - self.step_start)
            for name, value in counts.items():
                self.counts[name] = self.counts.get(name, 0) + value
            self.contention = self.monitor.stop()

    def result(self) -> dict[str, Any]:
        """The timed steps' figures.

        Returns:
            ``timed_steps``; the total of each count (``tokens``, ``masked_tokens``, ...); ``seconds``;
            ``tokens_per_s``; ``median_step_s``; ``step_median_tokens_per_s`` (tokens per step / median step time:
            robust to a few steps slowed by other processes, and without the time between steps);
            ``between_steps_share`` (the share of the clock spent between the end of a step and the start of the
            next: the loader's wait, hooks); ``torch_threads_during_timing``; and :meth:`CpuMonitor.stop`'s fields
            for the timed window.
        """
        steps = len(self.step_times)
        elapsed = self.t1 - self.t0
        median_step = statistics.median(self.step_times)
        tokens = self.counts["tokens"]
        return {
            "timed_steps": steps,
            **self.counts,
            "seconds": elapsed,
            "tokens_per_s": tokens / elapsed,
            "median_step_s": median_step,
            "step_median_tokens_per_s": tokens / steps / median_step,
            "between_steps_share": max(0.0, elapsed - sum(self.step_times)) / elapsed,
            "torch_threads_during_timing": self.threads,
            **self.contention,
        }

    def lightning_callback(self, counts: Callable[[Any], dict[str, int]], every_step: bool = True):
        """A ``lightning.Callback`` timing the training batches.

        Args:
            counts: the counts of a training batch, e.g. ``lambda batch: {"tokens": ...}``.
            every_step: on a GPU, wait for the device's queued work at both ends of every step, so that each step's
                own time is its device time; ``False``: only where the clock starts and at the end of the trainer's
                last step (``max_steps``), so that the steps run as in training, the host queueing the next step's
                kernels while the device runs this one's (each step's time is then the host's).
        """
        from lightning import Callback

        timer = self

        from veco_lightning.callbacks import wait_for_device

        class StepTimerCallback(Callback):  # on a GPU the clock is read once its queued work is done
            def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
                if every_step or batch_idx == timer.warmup:
                    wait_for_device(trainer.strategy.root_device)
                timer.begin(batch_idx)

            def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
                if every_step or trainer.global_step >= trainer.max_steps:
                    wait_for_device(trainer.strategy.root_device)
                timer.end(batch_idx, **counts(batch))

        return StepTimerCallback()

    def trainer_callback(self, counts: Callable[[int], dict[str, int]]):
        """A ``transformers.TrainerCallback`` timing the optimizer steps.

        Args:
            counts: the counts of step ``k`` (from 0). The callback does not see the batch: a data collator that
                records what it collates can answer (the k-th collated batch is step k's).
        """
        from transformers import TrainerCallback

        timer = self

        from veco_lightning.callbacks import wait_for_device

        class StepTimerCallback(TrainerCallback):  # on a GPU the clock is read once its queued work is done
            def on_step_begin(self, args, state, control, **kwargs):
                wait_for_device(args.device)
                timer.begin(state.global_step)

            def on_step_end(self, args, state, control, **kwargs):
                wait_for_device(args.device)
                step = state.global_step - 1  # global_step is incremented before on_step_end
                timer.end(step, **counts(step))

        return StepTimerCallback()


# --------------------------------------------------------------------------------------------------- reporting


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``; elsewhere what ``platform`` knows)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def describe_machine() -> dict[str, Any]:
    """Describe the machine and the software, print it on one line, and check that the CPU is idle now.

    Call it after setting the thread count. The check is one :func:`probe_others` probe; a busy CPU is warned about.

    Returns:
        ``python``, ``torch``, ``transformers``, ``lightning`` (versions; None when not installed), ``cpu_model``,
        ``cpu_count``, ``torch_threads``, ``platform``, ``allocator`` (of this process: tcmalloc, jemalloc or
        glibc; a benchmark's ``veco-fit`` children pick their own, see ``veco_lightning/allocator.py``),
        ``cpu_capability`` (torch's: ``AVX2``, ``AVX512``, ...), ``cpu_bf16_kernels`` (whether oneDNN runs bf16 here:
        without, bf16 is many times slower than fp32, ``veco_lightning/hardware.py``), ``load_average_before`` and
        ``other_processes_cores_before`` (the probe).
    """
    import torch

    from veco_lightning.allocator import active
    from veco_lightning.hardware import cpu_bf16_kernels

    machine = {
        "python": platform.python_version(), "torch": torch.__version__,
        "transformers": _version("transformers"), "lightning": _version("lightning"),
        "cpu_model": cpu_model(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(), "allocator": active() or "glibc",
        "cpu_capability": torch.backends.cpu.get_cpu_capability(), "cpu_bf16_kernels": cpu_bf16_kernels(),
        "load_average_before": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }
    log(f"torch {machine['torch']}, transformers {machine['transformers']}, lightning {machine['lightning']}; "
        f"{machine['torch_threads']} threads on {machine['cpu_count']} cores ({machine['cpu_model']}, "
        f"{machine['cpu_capability']}); malloc: {machine['allocator']}")
    if not machine["cpu_bf16_kernels"]:
        log("Note: this CPU has no bf16 kernels (veco_lightning/hardware.py): a bf16 measurement here runs many times "
            "slower than fp32 (36x for the MLM step on an AVX2 CPU)")
    busy = probe_others()["other_processes_cores"]
    machine["other_processes_cores_before"] = busy
    if (busy or 0.0) > CONTENTION_WARN:
        log(f"WARNING: other processes are using {busy:.2f} cores right now: the figures will be low and noisy "
            "(run on an idle machine).")
    return machine


def markdown_table(columns: Sequence[str], rows: Iterable[Sequence[object]], align: str | None = None) -> str:
    """A Markdown table, cells already formatted.

    Args:
        columns: the header cells.
        rows: the rows' cells (``str()`` of each).
        align: one letter per column, ``l`` (left) or ``r`` (right); default: the first left, the others right.
    """
    align = align or "l" + "r" * (len(columns) - 1)

    def line(cells: Iterable[object]) -> str:
        return "|" + "|".join(f" {cell} " if str(cell) else " " for cell in cells) + "|"  # an empty cell is "| |"

    rule = "|" + "".join("---|" if a == "l" else "---:|" for a in align)
    return "\n".join([line(columns), rule, *(line(row) for row in rows)])


def command_line(benchmark: str, argv: Sequence[str] | None = None) -> str:
    """The command that reproduces this run, e.g. ``python benchmarks/mlm_throughput.py --runs 5``.

    Args:
        benchmark: the script's name without ``.py``.
        argv: the arguments given to the script's ``main`` (None: ``sys.argv[1:]``).
    """
    args = sys.argv[1:] if argv is None else argv
    return f"python benchmarks/{benchmark}.py {shlex.join(args)}".strip()


def write_result(path: str, benchmark: str, figures: Mapping[str, Any], *, environment: Mapping[str, Any],
                 argv: Sequence[str] | None = None) -> None:
    """Write a benchmark's results as JSON and print where, with the command that reproduces them.

    Args:
        path: the JSON file (its folder is created).
        benchmark: the script's name without ``.py``.
        figures: the script's settings and figures, written at the top level of the file.
        environment: the machine (:func:`describe_machine`), plus e.g. :func:`summarize_contention`'s figures.
        argv: see :func:`command_line`.
    """
    command = command_line(benchmark, argv)
    record = {"benchmark": benchmark, "date": datetime.datetime.now().isoformat(timespec="seconds"),
              "command": command, **figures, "environment": dict(environment)}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(record, handle, ensure_ascii=False, indent=2)
        handle.write("\n")
    log(f"\nWrote {os.path.relpath(path)}")
    log(f"Reproduce: {command}")
