"""The entry points' memory allocator: the choice, the re-execution with LD_PRELOAD, and never a loop."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from veco_lightning import allocator


class Executed(Exception):
    pass


@pytest.fixture
def machine(monkeypatch):
    """A machine whose libraries are ``libraries`` (name -> path); exec is recorded instead of run."""
    libraries: dict[str, str] = {}
    calls: list[tuple] = []
    monkeypatch.setattr(allocator, "find_library", lambda name: libraries.get(name))
    monkeypatch.setattr(allocator, "active", lambda: None)
    monkeypatch.setattr(allocator, "transparent_huge_pages", lambda: "never")  # tests of THP set it
    monkeypatch.setattr(sys, "platform", "linux")

    def execve(path, argv, env):
        calls.append((path, argv, env))
        raise Executed

    monkeypatch.setattr(os, "execve", execve)
    for name in (allocator.ENV, "_VECO_ALLOCATOR_REEXEC", "LD_PRELOAD", "GLIBC_TUNABLES"):
        monkeypatch.delenv(name, raising=False)
    return libraries, calls


def test_auto_prefers_tcmalloc_then_jemalloc_then_glibc(machine):
    libraries, _ = machine
    assert allocator.choose() == ("glibc", None)
    libraries["jemalloc"] = "/lib/libjemalloc.so.2"
    assert allocator.choose("auto") == ("jemalloc", "/lib/libjemalloc.so.2")
    libraries["tcmalloc"] = "/lib/libtcmalloc_minimal.so.4"
    assert allocator.choose() == ("tcmalloc", "/lib/libtcmalloc_minimal.so.4")
    assert allocator.choose("JEMalloc") == ("jemalloc", "/lib/libjemalloc.so.2")
    assert allocator.choose("glibc") == ("glibc", None)


def test_a_requested_allocator_the_machine_lacks_is_an_error_with_the_fix(machine, monkeypatch):
    with pytest.raises(ValueError, match="apt install libjemalloc2"):
        allocator.choose("jemalloc")
    with pytest.raises(ValueError, match="choose one of auto, tcmalloc, jemalloc, glibc"):
        allocator.choose("mimalloc")
    monkeypatch.setenv(allocator.ENV, "tcmalloc")
    with pytest.raises(SystemExit, match="libtcmalloc-minimal4"):
        allocator.reexec_with_allocator()


def test_reexecutes_the_same_command_with_the_library_preloaded(machine, monkeypatch):
    libraries, calls = machine
    libraries["jemalloc"] = "/lib/libjemalloc.so.2"
    monkeypatch.setenv("LD_PRELOAD", "/opt/libmine.so")
    monkeypatch.setattr(sys, "orig_argv", ["python3", "-X", "utf8", "/bin/veco-fit", "--config", "x.yaml"])
    with pytest.raises(Executed):
        allocator.reexec_with_allocator()
    (path, argv, env), = calls
    assert path == sys.executable and argv == [sys.executable, "-X", "utf8", "/bin/veco-fit", "--config", "x.yaml"]
    assert env["LD_PRELOAD"] == "/lib/libjemalloc.so.2:/opt/libmine.so"
    assert env["_VECO_ALLOCATOR_REEXEC"] == "/lib/libjemalloc.so.2"


def test_no_reexecution_on_glibc_on_an_active_allocator_or_after_a_failed_preload(machine, monkeypatch):
    libraries, calls = machine
    assert "apt install libtcmalloc-minimal4" in allocator.reexec_with_allocator()  # auto, nothing found: the hint
    libraries["jemalloc"] = "/lib/libjemalloc.so.2"
    monkeypatch.setenv(allocator.ENV, "glibc")
    assert allocator.reexec_with_allocator() is None
    monkeypatch.setenv(allocator.ENV, "auto")
    monkeypatch.setenv("_VECO_ALLOCATOR_REEXEC", "/lib/libjemalloc.so.2")  # preloaded, yet not mapped
    assert "not in use" in allocator.reexec_with_allocator()
    monkeypatch.setattr(allocator, "active", lambda: "tcmalloc")  # e.g. the user's own LD_PRELOAD
    assert "tcmalloc" in allocator.reexec_with_allocator()
    assert calls == []


def test_entry_points_called_with_arguments_never_reexecute(machine, monkeypatch):
    libraries, calls = machine
    libraries["jemalloc"] = "/lib/libjemalloc.so.2"
    with pytest.raises(SystemExit):
        allocator.fit(["--help"])
    assert calls == []


@pytest.mark.skipif(sys.platform != "linux" or allocator.choose("auto")[1] is None,
                    reason="this machine has neither tcmalloc nor jemalloc (apt install libtcmalloc-minimal4)")
def test_a_real_reexecution_runs_on_the_chosen_allocator():
    name, path = allocator.choose("auto")
    code = ("from veco_lightning import allocator; note = allocator.reexec_with_allocator(); "
            "print(allocator.active(), '|', note)")
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "_VECO_ALLOCATOR_REEXEC")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**env, allocator.ENV: "auto"}, check=True)
    assert done.stdout.startswith(f"{name} | Memory allocator: {name}"), done.stdout + done.stderr
    done = subprocess.run([sys.executable, "-m", "veco_lightning.allocator"], capture_output=True, text=True,
                          env={**env, allocator.ENV: name}, check=True)
    assert done.stdout.strip() == path
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**env, allocator.ENV: "glibc"}, check=True)
    assert done.stdout.startswith("None | None")


def test_tcmalloc_is_kept_quiet_about_large_buffers(machine, monkeypatch):
    libraries, calls = machine
    libraries["tcmalloc"] = "/lib/libtcmalloc_minimal.so.4"
    monkeypatch.setattr(sys, "orig_argv", ["python3", "/bin/veco-fit"])
    with pytest.raises(Executed):
        allocator.reexec_with_allocator("tcmalloc")
    (_, _, env), = calls
    assert env["LD_PRELOAD"] == "/lib/libtcmalloc_minimal.so.4"
    assert int(env["TCMALLOC_LARGE_ALLOC_REPORT_THRESHOLD"]) >= 1 << 40


def test_jemalloc_keeps_its_pages_unless_the_user_configured_it(machine, monkeypatch):
    libraries, calls = machine
    libraries["jemalloc"] = "/lib/libjemalloc.so.2"
    monkeypatch.setattr(sys, "orig_argv", ["python3", "/bin/veco-fit"])
    for user_conf, expected in ((None, allocator.JEMALLOC_CONF), ("narenas:2", "narenas:2")):
        if user_conf is None:
            monkeypatch.delenv("MALLOC_CONF", raising=False)
        else:
            monkeypatch.setenv("MALLOC_CONF", user_conf)
        with pytest.raises(Executed):
            allocator.reexec_with_allocator("jemalloc")
        assert calls[-1][2]["MALLOC_CONF"] == expected
        assert "dirty_decay_ms:-1" in allocator.JEMALLOC_CONF


def test_glibc_alone_reexecutes_once_with_transparent_huge_pages(machine, monkeypatch):
    _, calls = machine
    monkeypatch.setattr(allocator, "transparent_huge_pages", lambda: "madvise")
    monkeypatch.setattr(allocator, "_glibc_version", lambda: (2, 36))
    monkeypatch.setattr(sys, "orig_argv", ["python3", "/bin/veco-fit", "--config", "x.yaml"])
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.arena_max=2")  # the user's own tunables are kept
    with pytest.raises(Executed):
        allocator.reexec_with_allocator()
    (path, argv, env), = calls
    assert argv == [sys.executable, "/bin/veco-fit", "--config", "x.yaml"] and "LD_PRELOAD" not in env
    assert env["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"
    monkeypatch.setenv("_VECO_ALLOCATOR_REEXEC", env["_VECO_ALLOCATOR_REEXEC"])  # in the re-executed process
    assert "transparent huge pages" in allocator.reexec_with_allocator() and len(calls) == 1


@pytest.mark.parametrize("mode, version, tunables", [
    ("always", (2, 36), ""),  # the kernel gives them to all memory already
    ("never", (2, 36), ""),
    (None, (2, 36), ""),  # no THP on this kernel
    ("madvise", (2, 31), ""),  # glibc before 2.35 has no such tunable
    ("madvise", (2, 36), "glibc.malloc.hugetlb=0"),  # the user decided
])
def test_glibc_is_left_alone_where_huge_pages_change_nothing(machine, monkeypatch, mode, version, tunables):
    _, calls = machine
    monkeypatch.setattr(allocator, "transparent_huge_pages", lambda: mode)
    monkeypatch.setattr(allocator, "_glibc_version", lambda: version)
    if tunables:
        monkeypatch.setenv("GLIBC_TUNABLES", tunables)
    assert "no tcmalloc or jemalloc found" in allocator.reexec_with_allocator()
    monkeypatch.setenv(allocator.ENV, "glibc")  # asked for plain glibc: nothing at all
    monkeypatch.setattr(allocator, "transparent_huge_pages", lambda: "madvise")
    assert allocator.reexec_with_allocator() is None
    assert calls == []


@pytest.mark.skipif(allocator.transparent_huge_pages() is None or allocator._glibc_version() < (2, 35),
                    reason="no transparent huge pages or glibc before 2.35 here")
def test_the_huge_page_tunable_is_accepted_by_this_glibc():
    code = "import torch; x = torch.ones(10_000_000); print(float((x + x).sum()))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, "GLIBC_TUNABLES": allocator.HUGE_PAGES_TUNABLE})
    assert done.stdout.strip() == "20000000.0"


@pytest.mark.skipif(sys.platform != "linux" or allocator.choose("auto")[1] is not None
                    or allocator._huge_pages_env() is None,
                    reason="this machine has tcmalloc or jemalloc, or glibc's huge pages would change nothing here")
def test_a_real_reexecution_on_glibc_sets_the_huge_page_tunable():
    code = ("import os; from veco_lightning import allocator; note = allocator.reexec_with_allocator(); "
            "print(os.environ.get('GLIBC_TUNABLES'), '|', note)")
    env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", "_VECO_ALLOCATOR_REEXEC")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**env, allocator.ENV: "auto"})
    assert done.stdout.startswith("glibc.malloc.hugetlb=1 | Memory allocator: glibc with transparent huge pages")
