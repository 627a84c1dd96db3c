"""Where tokenized corpora are cached: a path keyed by everything that changes the tokens.

Every cache level (the raw text ``datasets`` builds from a generator, the tokenized and packed blocks, the tokenized
pairs and their mined synonyms, the dictionaries they were mined with) is keyed by :func:`file_identity` of the files
it was built from: editing a file in place, even to the same size, invalidates it, at the cost of one ``stat`` per
file (cheap for terabytes).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import chain, count
from typing import TYPE_CHECKING, Any

from veco_lightning.heap import cycles_paused, freeze_once_in_worker, frozen_heap

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    import datasets
    from transformers import PreTrainedTokenizerBase


# The fingerprints computed so far, by a hash of the serialised pipeline as it was (settings included): each source's
# cache path needs one, and parsing and re-serialising the pipeline takes 0.65 s at a 250,002-entry vocabulary, 0.12 s
# at 32,000, against about 0.05 s for serialising and hashing it.
_FINGERPRINTS: dict[str, str] = {}


def tokenizer_fingerprint(tokenizer: PreTrainedTokenizerBase) -> str:
    """A stable hash of a tokenizer's behaviour (its serialised ``tokenizers`` pipeline, else its vocabulary)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        payload = json.dumps(sorted(tokenizer.get_vocab().items()))
        return hashlib.sha256(payload.encode()).hexdigest()[:16]
    serialised = backend.to_str()
    raw = hashlib.sha256(serialised.encode()).hexdigest()
    if raw not in _FINGERPRINTS:
        # Calls with truncation=True / padding record those settings in the pipeline; they do not change tokens.
        state = {k: v for k, v in json.loads(serialised).items() if k not in ("truncation", "padding")}
        if len(_FINGERPRINTS) >= 64:  # bounded: a process sees a handful of tokenizers
            _FINGERPRINTS.clear()
        _FINGERPRINTS[raw] = hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()[:16]
    return _FINGERPRINTS[raw]


def file_identity(files: list[str]) -> list[tuple[str, int, int]]:
    """Path, size and modification time (in nanoseconds) of each file: what identifies its content cheaply, so that a
    file edited in place (same path, even the same size) invalidates every cache built from it."""
    identity = []
    for path in files:
        stat = os.stat(path)
        identity.append((path, stat.st_size, stat.st_mtime_ns))
    return identity


def content_key(*parts: Any) -> str:
    """A short hash of JSON-serialisable parts (file identities, reading options): a cache name or fingerprint."""
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


# -- prepared sources: sharded, resumable, listed in a manifest ------------------------------------------------------

MANIFEST = "prepared.json"  # in cache_dir: what veco-prepare wrote, for runs that must not tokenize
_DONE = "shards.json"  # in a source's cache directory: written last, so its presence means the cache is complete


def source_cache(cache_dir: str, kind: str, name: str, tokenizer: PreTrainedTokenizerBase, identity: Any,
                 *options: Any) -> tuple[str, str]:
    """A source's cache directory and its *options key*.

    The directory is ``<cache_dir>/<kind>/<name>-<hash>``, the hash covering the files' ``identity`` (path, size,
    modification time), the ``options`` and the tokenizer. The options key covers everything but the files: a run
    with ``prepared: true`` finds the directory through the manifest and checks only that key, so a prepared cache
    can be copied to nodes that do not hold the raw corpus."""
    options_key = content_key(*options, tokenizer_fingerprint(tokenizer))
    return os.path.join(cache_dir, kind, f"{name}-{content_key(identity, options_key)}"), options_key


LOCKS = ".locks"  # in cache_dir: one lock file per cache entry being prepared, and one for the manifest


@contextmanager
def cache_lock(cache_dir: str, entry: str) -> Iterator[None]:
    """Hold the inter-process lock of cache entry ``entry`` (a path under ``cache_dir``, or a name without a path
    separator) for the block.

    Runs that share a ``cache_dir`` (the jobs of a sweep started together; ``veco-prepare`` beside a run) would
    otherwise prepare the same source at once and break each other's files, or lose each other's manifest entries.
    The second waits (saying so) and then finds the entry complete. Within one run Lightning already prepares on one
    process per node. The lock files stay, empty, under ``<cache_dir>/.locks`` (removing a lock file another process
    is about to open would let two hold it)."""
    from filelock import FileLock, Timeout

    folder = os.path.join(cache_dir, LOCKS)
    os.makedirs(folder, exist_ok=True)
    # A path inside cache_dir by its place there (the same lock whether the runs spell cache_dir relative or not)
    relative = os.path.relpath(os.path.abspath(entry), os.path.abspath(cache_dir)) if os.sep in entry else entry
    lock = FileLock(os.path.join(folder, relative.replace(os.sep, "__") + ".lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.info("Waiting for another process that is preparing %s", entry)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def is_complete(path: str) -> bool:
    return os.path.exists(os.path.join(path, _DONE))


def list_column(values: Any, lengths: Any) -> Any:
    """A ``list<int64>`` Arrow column from flat ``values`` and the length of each row (numpy arrays).

    Map functions return their batches as Arrow tables built this way: ``datasets`` would otherwise infer and convert
    Python lists of lists element by element (about twice the cost of ``np.fromiter``, and the mining results are
    numpy arrays already). The type is the one ``datasets`` infers for lists of Python ints, so the stored columns
    do not change."""
    import numpy as np
    import pyarrow as pa

    offsets = np.zeros(len(lengths) + 1, np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(np.asarray(values, np.int64)))


def batch_stats(totals: Any, rows: int) -> Any:
    """A map batch's ``_stats`` column for :func:`write_sharded`: the batch's summed counts (``totals``) as the first
    row's list, an empty list in every other row (``rows`` in all, at least 1), so that the column costs an offset a
    row, not the counts of each."""
    import numpy as np

    lengths = np.zeros(rows, np.int64)
    lengths[0] = len(totals)
    return list_column(totals, lengths)


def text_dataset(columns: dict[str, list[str]], name: str) -> datasets.Dataset:
    """An in-memory dataset of text columns, to be mapped by :func:`write_sharded`. Built from an Arrow table with a
    fingerprint of its own (``name`` and a fresh id): ``datasets.Dataset.from_dict`` fingerprints a new dataset by
    pickling its whole table, 0.09 s of its 0.15 s for 40,000 sentence pairs, about 2% of their tokenisation. No
    cache reuses the fingerprint (each shard of the map is given its own)."""
    import datasets
    import pyarrow as pa

    table = datasets.table.InMemoryTable(pa.table({key: pa.array(values, pa.string()) for key, values in
                                                    columns.items()}))
    return datasets.Dataset(table, fingerprint=f"{name}-{uuid.uuid4().hex}")


def list_column_of(rows: Any) -> Any:
    """:func:`list_column` of Python lists of ints (token ids), one per row."""
    import numpy as np

    lengths = np.fromiter(map(len, rows), np.int64, len(rows))
    return list_column(np.fromiter(chain.from_iterable(rows), np.int64, int(lengths.sum())), lengths)


@contextmanager
def tokenizer_threads_kept() -> Iterator[None]:
    """Leave the process's ``TOKENIZERS_PARALLELISM`` as it was before a ``datasets`` map with ``num_proc``.

    Such a map sets the variable to ``false`` for its forked workers and afterwards puts back a *copy* of
    ``os.environ``: Python then reads the old value, but the C environment, which the Rust tokenizer reads at
    every batch, keeps ``false``, so every later tokenisation in the process (streaming, evaluation, a second
    preparation) would run on one core. This writes the old value (or its absence) back to both."""
    key = "TOKENIZERS_PARALLELISM"
    before = os.environ.get(key)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(key, None)
            os.unsetenv(key)  # the copy may not hold the key, and then pop would not reach the C environment
        else:
            os.environ[key] = before  # putenv: the C environment too


class PausedCycleCollection:
    """A batched map function run with Python's cyclic garbage collector paused for the batch.

    Tokenising and mining a batch allocates some 10^5 short-lived tuples and lists, all freed by reference counting
    (the functions build no cycles); left on, the collector runs its generations over and over meanwhile, and the
    oldest one walks every tracked object of the process, a loaded dictionary's 10^6 included. Pausing it per batch,
    rather than for the whole map, leaves ``datasets``' own objects to the collector as usual. Picklable, for
    ``num_proc`` workers: in a worker, the objects alive at its first batch (the function's dictionary among them)
    are left out of its full collections too (:func:`~veco_lightning.heap.freeze_once_in_worker`).

    Handed to workers *forked* from the process that made it, it travels by reference: the workers inherit the
    function with the rest of the parent's memory, so it is neither pickled (dill takes about a second for a large
    dictionary's index, once per worker and shard) nor rebuilt there. Elsewhere (another start method, another
    process) it is pickled whole."""

    def __init__(self, function: Any) -> None:
        self.function = function
        self.owner = os.getpid()
        self.key = next(_FUNCTION_KEYS)
        _LIVE_FUNCTIONS[self.key] = self

    def __call__(self, batch: Any) -> Any:
        freeze_once_in_worker(self.owner)
        with cycles_paused():
            return self.function(batch)

    def __reduce__(self) -> tuple:
        if os.getpid() == self.owner and _workers_forked():
            return _inherited_function, (self.key, self.owner)
        return PausedCycleCollection, (self.function,)


_FUNCTION_KEYS = count()
_LIVE_FUNCTIONS: weakref.WeakValueDictionary[int, PausedCycleCollection] = weakref.WeakValueDictionary()


def _workers_forked() -> bool:
    """Whether ``datasets``' ``num_proc`` workers are forked from this process (``multiprocess``'s default start
    method, which ``datasets.Dataset.map`` uses; ``fork`` on Linux up to Python 3.13)."""
    import multiprocess

    return (multiprocess.get_start_method(allow_none=True) or multiprocess.get_all_start_methods()[0]) == "fork"


def _inherited_function(key: int, owner: int) -> PausedCycleCollection:
    """The :class:`PausedCycleCollection` ``key`` of process ``owner``, inherited by a process forked from it."""
    function = _LIVE_FUNCTIONS.get(key)
    if function is None or function.owner != owner:
        raise RuntimeError(
            f"veco_lightning/data/cache.py: a map function of process {owner} was sent by reference to process "
            f"{os.getpid()}, which was not forked from it while the function was alive; set the start method of "
            "`multiprocess` to 'spawn' or 'forkserver' before the map, or map with num_proc 1"
        )
    return function


def write_sharded(path: str, dataset: Any, function: Any, *, shard_rows: int, num_proc: int | None, desc: str,
                  batch_size: int = 1000, remove_columns: list[str] | None = None,
                  on_complete: Any = None) -> dict[str, Any]:
    """Map ``dataset`` through the batched ``function`` shard by shard into ``path`` (one folder per shard of at
    most ``shard_rows`` input rows, holding the map's own Arrow files), resumably.

    Each finished shard is renamed into ``<path>.partial`` atomically, so a killed run redoes only the shard it was
    in; the last step writes ``shards.json`` (row counts, seconds) and renames the whole folder to ``path``. A
    ``_stats`` column of integer counts, if ``function`` emits one (each row an empty list or a list of counts of
    one width, such as :func:`batch_stats` gives), is summed per shard (kept in ``shards.json`` as ``stats``);
    :func:`load_sharded` leaves it out. The map writes its Arrow files into a work folder, and they are moved into
    the shard's folder as they are: nothing is written twice. ``on_complete(folder, summary)`` may add files to the
    folder before it is marked complete.

    Returns the contents of ``shards.json``."""
    import shutil
    import time

    import numpy as np
    import pyarrow.compute as pc

    partial = f"{path}.partial"
    os.makedirs(partial, exist_ok=True)
    with frozen_heap(), tokenizer_threads_kept():
        num_shards = max(1, -(-len(dataset) // max(1, shard_rows)))
        shards = []
        for index in range(num_shards):
            name = f"shard-{index:05d}"
            final = os.path.join(partial, name)
            info_path = os.path.join(partial, f"{name}.json")
            if os.path.exists(info_path):  # done before a restart
                with open(info_path, encoding="utf-8") as handle:
                    shards.append(json.load(handle))
                continue
            begin = time.perf_counter()
            work = os.path.join(partial, f"{name}.work")
            shutil.rmtree(work, ignore_errors=True)
            os.makedirs(work)
            part = dataset.shard(num_shards, index, contiguous=True)
            mapped = part.map(PausedCycleCollection(function), batched=True, batch_size=batch_size,
                              num_proc=num_proc, remove_columns=remove_columns,
                              cache_file_name=os.path.join(work, "map.arrow"),
                              new_fingerprint=f"{os.path.basename(path)}-{index}-{num_shards}",
                              desc=f"{desc} [{index + 1}/{num_shards}]")
            info: dict[str, Any] = {"name": name, "input_rows": len(part), "rows": len(mapped)}
            if "_stats" in mapped.column_names:
                # Straight from the Arrow column: through datasets' formatting it is read row by row (as slow as
                # mining).
                column = mapped.data.column("_stats")
                width = int(pc.max(pc.list_value_length(column)).as_py() or 0)
                flat = pc.list_flatten(column).to_numpy().astype(np.int64)
                info["stats"] = flat.reshape(-1, width).sum(0).tolist() if width else []
            shutil.rmtree(final, ignore_errors=True)
            files = [entry["filename"] for entry in mapped.cache_files]
            own = bool(files) and all(os.path.dirname(os.path.abspath(f)) == os.path.abspath(work) for f in files)
            if len(mapped) and own:
                # The map's own Arrow files become the shard (``load_sharded`` memory-maps them): no second copy is
                # written, as ``save_to_disk`` would (on NTREX x20 with synonym mining, 1.5 s of 46).
                os.makedirs(final)
                info["files"] = [f"data-{k:05d}.arrow" for k in range(len(files))]
                for source, target in zip(files, info["files"]):
                    os.replace(source, os.path.join(final, target))
            else:  # no rows (an Arrow file without a batch does not load), or no file of the map's own: a copy
                mapped.save_to_disk(final)  # a _stats column in it is left out by load_sharded, as in moved files
            del mapped
            shutil.rmtree(work, ignore_errors=True)
            info["seconds"] = time.perf_counter() - begin
            with open(f"{info_path}.tmp", "w", encoding="utf-8") as handle:
                json.dump(info, handle)
            os.replace(f"{info_path}.tmp", info_path)  # the shard counts as done from here
            shards.append(info)
    summary = {"shards": shards, "rows": sum(s["rows"] for s in shards),
               "input_rows": sum(s["input_rows"] for s in shards), "seconds": sum(s["seconds"] for s in shards)}
    if on_complete is not None:
        on_complete(partial, summary)
    with open(os.path.join(partial, _DONE), "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=1)
    if os.path.exists(path):  # an incomplete folder of an older layout
        shutil.rmtree(path)
    os.replace(partial, path)
    return summary


def read_summary(path: str) -> dict[str, Any]:
    with open(os.path.join(path, _DONE), encoding="utf-8") as handle:
        return json.load(handle)


def load_sharded(path: str) -> Any:
    """The dataset :func:`write_sharded` stored at ``path`` (memory-mapped, shards concatenated in order)."""
    import datasets

    shards = []
    for shard in read_summary(path)["shards"]:
        folder = os.path.join(path, shard["name"])
        if "files" in shard:  # the map's Arrow files, moved (see write_sharded)
            shards.extend(datasets.Dataset.from_file(os.path.join(folder, f)) for f in shard["files"])
        else:
            shards.append(datasets.load_from_disk(folder))
    dataset = shards[0] if len(shards) == 1 else datasets.concatenate_datasets(shards)
    return dataset.remove_columns("_stats") if "_stats" in dataset.column_names else dataset


def read_manifest(cache_dir: str) -> dict[str, Any]:
    path = os.path.join(cache_dir, MANIFEST)
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def record_prepared(cache_dir: str, kind: str, name: str, path: str, options_key: str, summary: dict) -> None:
    """Add a prepared source to ``<cache_dir>/prepared.json`` (its folder relative to ``cache_dir``), under the
    manifest's lock: another process adding its sources at the same time keeps them."""
    with cache_lock(cache_dir, MANIFEST):
        manifest = read_manifest(cache_dir)
        manifest[f"{kind}/{name}"] = {"path": os.path.relpath(path, cache_dir), "options": options_key,
                                      "rows": summary["rows"], "input_rows": summary["input_rows"],
                                      "shards": len(summary["shards"])}
        target = os.path.join(cache_dir, MANIFEST)
        with open(f"{target}.{os.getpid()}.tmp", "w", encoding="utf-8") as handle:
            json.dump(manifest, handle, indent=1, sort_keys=True)
        os.replace(f"{target}.{os.getpid()}.tmp", target)


def prepared_path(cache_dir: str, kind: str, name: str, options_key: str) -> str:
    """The folder ``veco-prepare`` wrote for a source, checked against this run's options; an error says what to
    run when it is missing or was prepared with other options."""
    entry = read_manifest(cache_dir).get(f"{kind}/{name}")
    fix = "run `veco-prepare` with this run's --config files first (same data section), or set prepared: false"
    if entry is None:
        raise FileNotFoundError(f"prepared: true, but {os.path.join(cache_dir, MANIFEST)} lists no {kind} source "
                                f"{name!r}: {fix}")
    if entry["options"] != options_key:
        raise ValueError(f"prepared: true, but {kind} source {name!r} in {cache_dir} was prepared with other options "
                         f"(tokenizer, max_length, reading or mining options differ): {fix}")
    path = os.path.join(cache_dir, entry["path"])
    if not is_complete(path):
        raise FileNotFoundError(f"prepared: true, but the prepared folder {path} of {kind} source {name!r} is "
                                f"missing or incomplete: {fix}")
    return path
