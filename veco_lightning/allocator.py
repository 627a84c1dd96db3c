"""The memory allocator of the command-line entry points.

With glibc's malloc, a training process's memory grows step after step: the tensors of batches of varying shapes
leave holes in its heap arenas that it neither reuses nor returns (the NTREX (d) recipe: anonymous memory 1.9 GB
at step 50, 2.4 GB at step 150, 2.7 GB at step 300; ``benchmarks/data_scale.py trace``). tcmalloc and jemalloc do
not fragment that way: with either, memory is flat after the first steps. tcmalloc also made the (d) step 1.09x
faster; jemalloc with its defaults 0.94x, and keeping its freed pages (``JEMALLOC_CONF``, set unless the user set
``MALLOC_CONF``) about as fast as glibc (figures in ``benchmarks/README.md``). So ``veco-fit``, ``veco-prepare`` and
``veco-xtreme`` start under tcmalloc (or jemalloc) when the machine has it, by re-executing themselves once with
``LD_PRELOAD`` set, before anything heavy is imported. ``VECO_ALLOCATOR`` chooses:

- ``auto`` (default): tcmalloc, else jemalloc, else glibc (with a one-line hint saying how to install tcmalloc),
  re-executed once with ``GLIBC_TUNABLES=glibc.malloc.hugetlb=1`` where the kernel gives transparent huge pages on
  request (``madvise`` mode) and glibc is 2.35 or newer: large buffers then fault in 2 MiB at a time instead of
  4 KiB (see :data:`HUGE_PAGES_TUNABLE`);
- ``tcmalloc`` / ``jemalloc``: that one, or an error saying how to install it;
- ``glibc``: leave the process as it is.

A process that already has one of them (a user's own ``LD_PRELOAD``, or a child of an entry point: data loader
workers and DDP's processes inherit the environment) is left alone. Programmatic use (``Trainer`` in a user's
script) is never re-executed; ``python -m veco_lightning.allocator`` prints the ``LD_PRELOAD`` value to use there.

``torch.backends.xeon.run_cpu`` also preloads these libraries, but as a launcher (it also pins cores) that only
finds the ``libtcmalloc.so`` / ``libjemalloc.so`` development links, which Debian's and Ubuntu's runtime packages do
not install; this module finds the runtime libraries and keeps the usual commands (``veco-fit --config ...``)
unchanged.
"""

from __future__ import annotations

import glob
import importlib
import logging
import os
import re
import sys

log = logging.getLogger(__name__)

ENV = "VECO_ALLOCATOR"
CHOICES = ("auto", "tcmalloc", "jemalloc", "glibc")
# The shared object's names, most specific first (tcmalloc's "minimal" build has no heap profiler: all we need).
LIBRARIES = {"tcmalloc": ("libtcmalloc_minimal.so.4", "libtcmalloc.so.4", "libtcmalloc_minimal.so", "libtcmalloc.so"),
             "jemalloc": ("libjemalloc.so.2", "libjemalloc.so")}
# jemalloc keeping its freed pages (the setting torch.backends.xeon.run_cpu uses): on the NTREX (d) step 1.09x
# jemalloc's defaults, which return pages after 10 s and fault them in again; memory still flat. A MALLOC_CONF of
# the user's own wins.
JEMALLOC_CONF = ("oversize_threshold:1,background_thread:true,metadata_thp:auto,dirty_decay_ms:-1,"
                 "muzzy_decay_ms:-1")
# On glibc alone: large buffers (a 32k-vocabulary head's logits are 39 MB) are mapped afresh on every allocation, and
# each 4 KiB page then faults on first touch; with transparent huge pages a fault brings 2 MiB. Copying a 39 MB
# tensor took 19.4 ms without and 5.5 ms with, the sparse head's cross-entropy forward and backward 86 and 32 ms.
HUGE_PAGES_TUNABLE = "glibc.malloc.hugetlb=1"
INSTALL = {"jemalloc": "apt install libjemalloc2 (Debian/Ubuntu), dnf install jemalloc, or conda install jemalloc",
           "tcmalloc": "apt install libtcmalloc-minimal4 (Debian/Ubuntu), dnf install gperftools-libs, or conda "
                       "install gperftools"}


def _search_dirs() -> list[str]:
    dirs = [os.path.join(os.environ[name], "lib") for name in ("CONDA_PREFIX", "VIRTUAL_ENV") if name in os.environ]
    dirs.append(os.path.join(sys.prefix, "lib"))
    dirs += ["/usr/local/lib", "/usr/local/lib64", "/usr/lib", "/usr/lib64"]
    dirs += sorted(glob.glob("/usr/lib/*-linux-gnu")) + sorted(glob.glob("/lib/*-linux-gnu"))
    return dirs


def find_library(name: str) -> str | None:
    """The path of allocator ``name``'s shared object on this machine (``None`` when it has none)."""
    for directory in _search_dirs():
        for filename in LIBRARIES[name]:
            path = os.path.join(directory, filename)
            if os.path.isfile(path):
                return path
    return None


def active() -> str | None:
    """The allocator this process runs on: ``"tcmalloc"`` or ``"jemalloc"`` when mapped, else ``None``."""
    try:
        with open("/proc/self/maps", encoding="utf-8") as handle:
            maps = handle.read()
    except OSError:
        return None
    for name in LIBRARIES:
        if f"lib{name}" in maps:
            return name
    return None


def _requested(requested: str | None) -> str:
    return (requested or os.environ.get(ENV) or "auto").strip().lower()


def choose(requested: str | None = None) -> tuple[str, str | None]:
    """The allocator to run on, and its library (``None`` for glibc), for ``requested`` (default: ``$VECO_ALLOCATOR``
    or ``auto``). Raises ``ValueError`` for an unknown choice or a requested library this machine lacks."""
    requested = _requested(requested)
    if requested not in CHOICES:
        raise ValueError(f"{ENV}={requested!r}: choose one of {', '.join(CHOICES)}")
    if requested == "glibc":
        return "glibc", None
    for name in (("tcmalloc", "jemalloc") if requested == "auto" else (requested,)):
        path = find_library(name)
        if path:
            return name, path
    if requested != "auto":
        raise ValueError(f"{ENV}={requested}, but this machine has no {requested} library: {INSTALL[requested]}; or "
                         f"set {ENV}=glibc")
    return "glibc", None


def transparent_huge_pages() -> str | None:
    """The kernel's transparent huge page mode (``always``, ``madvise`` or ``never``); ``None`` where it has none."""
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled", encoding="utf-8") as handle:
            found = re.search(r"\[(\w+)\]", handle.read())
    except OSError:
        return None
    return found.group(1) if found else None


def _glibc_version() -> tuple[int, ...]:
    name = os.confstr("CS_GNU_LIBC_VERSION") if "CS_GNU_LIBC_VERSION" in os.confstr_names else None
    found = re.fullmatch(r"glibc (\d+)\.(\d+).*", name or "")
    return (int(found.group(1)), int(found.group(2))) if found else ()


def _huge_pages_env() -> dict[str, str] | None:
    """The environment that has glibc's malloc back its memory with transparent huge pages, or ``None`` where that
    changes nothing: the kernel gives them only to memory that asks (``madvise`` mode; ``always`` gives them to
    all), glibc 2.35 or newer asks when ``glibc.malloc.hugetlb=1``, and a ``GLIBC_TUNABLES`` of the user's own
    that already sets it wins."""
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    if transparent_huge_pages() != "madvise" or _glibc_version() < (2, 35) or "glibc.malloc.hugetlb" in tunables:
        return None
    return dict(os.environ, GLIBC_TUNABLES=":".join(t for t in (tunables, HUGE_PAGES_TUNABLE) if t),
                _VECO_ALLOCATOR_REEXEC="glibc")


def reexec_with_allocator(requested: str | None = None) -> str | None:
    """Re-execute this command (same interpreter, flags and arguments) with the chosen allocator preloaded, or, on
    glibc alone under ``auto``, with glibc's huge-page tunable (:func:`_huge_pages_env`); never when it already runs
    on one of them, was re-executed once already, or the choice is plain ``glibc``. Returns only when nothing is
    re-executed: a line for the log saying which allocator runs (``None`` when there is nothing to say)."""
    if sys.platform != "linux":
        return None
    running = active()
    if running is not None:
        if os.environ.get("_VECO_ALLOCATOR_REEXEC"):
            return f"Memory allocator: {running} ({ENV}=glibc keeps glibc's malloc)"
        return None
    try:
        name, path = choose(requested)
    except ValueError as error:
        sys.exit(f"error: {error}")
    if path is None:
        if _requested(requested) != "auto":
            return None
        hint = f"a long run's memory grows through heap fragmentation. For flat memory: {INSTALL['tcmalloc']}."
        if os.environ.get("_VECO_ALLOCATOR_REEXEC") == "glibc":  # re-executed once already: never loop
            return f"Memory allocator: glibc with transparent huge pages ({HUGE_PAGES_TUNABLE}); {hint}"
        env = _huge_pages_env()
        if env is None:
            return f"Memory allocator: glibc (no tcmalloc or jemalloc found); {hint}"
    elif os.environ.get("_VECO_ALLOCATOR_REEXEC") == path:  # preloaded once and still not mapped: never loop
        return f"Memory allocator: {path} was preloaded but is not in use; continuing on glibc"
    else:
        env = dict(os.environ, LD_PRELOAD=os.pathsep.join(p for p in (path, os.environ.get("LD_PRELOAD")) if p),
                   _VECO_ALLOCATOR_REEXEC=path)
        if name == "tcmalloc":  # not a line on stderr for every buffer over 1 GiB (a 250k x 1024 embedding is one)
            env.setdefault("TCMALLOC_LARGE_ALLOC_REPORT_THRESHOLD", str(1 << 40))
        else:
            env.setdefault("MALLOC_CONF", JEMALLOC_CONF)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)


def entry_point(target: str):
    """A console script's entry: the allocator first (command line only), then ``target`` ("module:function"),
    imported only then and called with ``args``."""

    def run(args: list[str] | None = None):
        note = reexec_with_allocator() if args is None else None
        from veco_lightning.logs import configure_logging

        configure_logging(libraries=False)  # the command's own call configures the libraries it uses
        if note:
            log.info(note)
        module, function = target.split(":")
        return getattr(importlib.import_module(module), function)(args)

    run.__doc__ = f"``{target}`` started under the chosen memory allocator (see ``veco_lightning.allocator``)."
    return run


fit = entry_point("veco_lightning.cli:main")
prepare = entry_point("veco_lightning.cli:prepare_main")
xtreme = entry_point("veco_lightning.tasks.cli:main")


def main() -> None:
    """``python -m veco_lightning.allocator``: print the ``LD_PRELOAD`` value for the allocator ``$VECO_ALLOCATOR``
    chooses (empty for glibc), e.g. ``LD_PRELOAD=$(python -m veco_lightning.allocator) python train.py``."""
    try:
        _, path = choose()
    except ValueError as error:
        sys.exit(f"error: {error}")
    print(path or "")


if __name__ == "__main__":
    main()
