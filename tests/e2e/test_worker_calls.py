"""Calls through a worker process read on the caller's thread (issue 26, item 3):
what the reader thread still owes the caller, and the worker's own end."""

from __future__ import annotations

import pickle
import socket
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.distfactory import DistFactory, good_plugin
from tests.waiting import wait_until
from zepix_core.execution.frames import FrameReader, send_frame
from zepix_core.execution.runner import call
from zepix_core.execution.worker import ProcessRunner
from zepix_core.execution.workerspawn import spawn
from zepix_core.execution.workerwire import loads_plain
from zepix_core.loading.discovery import EntryRecord, enumerate_plugins

_HOST_GONE_EXIT = 70


def ping_waiting_for(gate: Path) -> str:
    """The good plugin whose ``health_ping`` returns only once ``gate`` exists."""
    return good_plugin().replace(
        "        return {\"ok\": True, \"last_activity\": now}\n",
        textwrap.indent(textwrap.dedent(f"""
            import pathlib, time
            while not pathlib.Path({str(gate)!r}).exists():
                time.sleep(0.01)
            return {{"ok": True, "last_activity": now}}
        """), " " * 8))


def install(dists: DistFactory, name: str, source: str) -> EntryRecord:
    dists.add(f"zepix-{name}", "1.0.0", {name: f"{name}_mod:Plugin"}, {f"{name}_mod": source})
    [record] = [r for r in enumerate_plugins([str(dists.root)]) if r.plugin_id == name]
    return record


@pytest.fixture
def runners() -> Iterator[list[ProcessRunner]]:
    made: list[ProcessRunner] = []
    yield made
    for runner in made:
        runner.close(timeout=0.5)


def test_an_answer_after_the_callers_deadline_is_still_read_and_frees_the_worker(
        dists: DistFactory, tmp_path: Path, runners: list[ProcessRunner]) -> None:
    # The caller reads its own answer; when it gives up, the reader thread must take
    # the call over, or the late answer stays unread and the worker is busy for ever.
    gate = tmp_path / "gate"
    record = install(dists, "late", ping_waiting_for(gate))
    runner = ProcessRunner(record, extra_paths=[str(dists.root)])
    runners.append(runner)
    missed = call(runner, "health_ping", 0.2, {"now": 1.0})
    assert missed.timed_out and runner.busy()
    gate.touch()
    wait_until(lambda: not runner.busy(), waiting_for="the late answer to be read")
    again = call(runner, "health_ping", 20.0, {"now": 2.0})
    assert again.ok and again.value == {"ok": True, "last_activity": 2.0}


def test_calls_read_by_the_caller_and_by_the_reader_thread_interleave(
        dists: DistFactory, runners: list[ProcessRunner]) -> None:
    record = install(dists, "both", good_plugin())
    runner = ProcessRunner(record, extra_paths=[str(dists.root)])
    runners.append(runner)
    for n in range(20):
        future = (runner.ask if n % 3 else runner.submit)("health_ping", {"now": float(n)})
        assert future.result(20.0) == {"ok": True, "last_activity": float(n)}


def test_the_worker_exits_when_the_hosts_end_hangs_up_mid_hook(
        dists: DistFactory, tmp_path: Path) -> None:
    # The worker's main thread reads frames itself; only a thread that waits for the
    # hang-up sees the host go while a hook spins (the parent-death signal is not
    # involved: the thread that started this worker lives on).
    record = install(dists, "hangup", ping_waiting_for(tmp_path / "never"))
    host, child = socket.socketpair()
    proc = spawn(record.plugin_id, child)
    child.close()
    try:
        send_frame(host, ("load", record, [str(dists.root)]))
        ready = loads_plain(FrameReader(host).read(30.0) or b"")
        assert isinstance(ready, tuple) and ready[0] == "ready"
        send_frame(host, ("call", 1, "health_ping", pickle.dumps({"now": 1.0})))
        host.close()
        assert proc.wait(timeout=30) == _HOST_GONE_EXIT
    finally:
        host.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


GARBAGE = good_plugin().replace(
    "        return {\"ok\": True, \"last_activity\": now}\n",
    textwrap.indent(textwrap.dedent("""
        import os, sys, time
        fd = int(sys.argv[sys.argv.index("--fd") + 1])
        os.write(fd, b"\\x00\\x00\\x00\\x05garbage")
        time.sleep(30)
    """), " " * 8))


def test_garbage_read_by_the_caller_kills_the_worker_and_ends_its_reader_thread(
        dists: DistFactory, runners: list[ProcessRunner]) -> None:
    # The caller finds the garbage and has the worker killed; the reader thread, woken
    # for the exit, must end rather than spin on a stream that is no longer read.
    record = install(dists, "garbage", GARBAGE)
    runner = ProcessRunner(record, extra_paths=[str(dists.root)])
    runners.append(runner)
    result = call(runner, "health_ping", 20.0, {"now": 1.0})
    assert not result.ok and "PluginDead" in (result.error or "")
    assert runner.wait_exited(20.0)
    assert "killed by the host" in (runner.exit_description or "")

    def reader_alive() -> bool:
        return any(t.name == "zepix-garbage-reader" and t.is_alive()
                   for t in threading.enumerate())

    wait_until(lambda: not reader_alive(), waiting_for="the reader thread to end")
