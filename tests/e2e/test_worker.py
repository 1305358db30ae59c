"""Plugins in real worker processes: answers, crashes, hangs, memory, load failures, orphans."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.distfactory import DistFactory, good_plugin
from tests.waiting import wait_until
from zepix_core import Bar, PluginContext, PluginState
from zepix_core.contract.errors import PluginBusy, PluginDead, PluginError
from zepix_core.execution.runner import call
from zepix_core.execution.worker import ProcessRunner, process_runner
from zepix_core.health.resources import ResourceSampler
from zepix_core.loading.config import PluginConfig
from zepix_core.loading.discovery import LoadFailure, enumerate_plugins, load_plugin

MB = 2**20
Spawn = Callable[..., ProcessRunner]


def with_ping(body: str) -> str:
    """The good plugin with ``health_ping`` replaced by ``body`` (indented 8)."""
    return good_plugin().replace(
        "        return {\"ok\": True, \"last_activity\": now}\n",
        textwrap.indent(textwrap.dedent(body), " " * 8))


@pytest.fixture
def spawn(dists: DistFactory) -> Iterator[Spawn]:
    """Install a plugin ``name`` from ``source`` and start a worker for it."""
    runners: list[ProcessRunner] = []

    def make(name: str, source: str, **kwargs: object) -> ProcessRunner:
        dists.add(f"zepix-{name}", "1.0.0", {name: f"{name}_mod:Plugin"},
                  {f"{name}_mod": source})
        [rec] = [r for r in enumerate_plugins([str(dists.root)]) if r.plugin_id == name]
        runner = ProcessRunner(rec, extra_paths=[str(dists.root)], **kwargs)  # type: ignore[arg-type]
        runners.append(runner)
        return runner

    yield make
    for runner in runners:
        runner.close(timeout=0.5)
        assert not ResourceSampler().sample(runner.pid).running


class ExitWatch:
    """An ``on_exit`` callback remembering when (monotonic) and how the worker ended."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.at = 0.0
        self.args: tuple[int | None, int | None] | None = None
        self.runner: ProcessRunner | None = None

    def __call__(self, runner: ProcessRunner, code: int | None, sig: int | None) -> None:
        self.runner = runner
        self.at, self.args = time.monotonic(), (code, sig)
        self.done.set()


def test_hooks_answer_through_the_worker_as_in_process(
        dists: DistFactory, spawn: Spawn, tmp_path: Path) -> None:
    runner = spawn("good", good_plugin())
    [rec] = enumerate_plugins([str(dists.root)])
    pm = load_plugin(rec)
    context = PluginContext("good", "1.0.0", "1.0", str(tmp_path))
    bar = Bar("BTCUSD", "1m", 60.0, 1.0, 2.0, 0.5, 1.5, 10.0)
    script: list[tuple[str, dict[str, Any]]] = [("plugin_version", {}), ("health_ping", {"now": 5.0}), ("self_test", {}),
              ("activate", {"context": context, "config": {"risk": 0.01}}),
              ("on_bar", {"bar": bar}), ("on_bar", {"bar": bar}), ("get_metrics", {}),
              ("deactivate", {"reason": "test"})]
    for hook, kwargs in script:
        expected = getattr(pm.hook, hook)(**kwargs)
        result = call(runner, hook, 2.0, kwargs)
        assert (hook, result.error, result.value) == (hook, None, expected)
    assert runner.alive() and runner.exit_code is None


def test_plugin_exception_comes_back_as_its_type_and_message(spawn: Spawn) -> None:
    source = with_ping("""
        class FeedGap(Exception):
            pass
        raise FeedGap(f"no tick since {now}\\nsecond line")
    """)
    runner = spawn("raiser", source)
    future = runner.submit("health_ping", {"now": 7.0})
    with pytest.raises(PluginError) as err:
        future.result(2.0)
    # The type and the first line of the message, then where it was raised.
    assert str(err.value).startswith("FeedGap: no tick since 7.0 (at ")
    assert str(err.value).endswith("raiser_mod.py:22 in health_ping)")
    assert err.value.plugin_id == "raiser"
    assert "raiser_mod" not in sys.modules  # the host never imported the plugin's class
    assert call(runner, "self_test", 2.0).value is True


def test_a_return_that_is_not_plain_data_is_an_error_of_that_call(spawn: Spawn) -> None:
    runner = spawn("unplain", with_ping("""
        import enum, threading
        class Side(enum.IntEnum):
            BUY = 1
        if now == 0:
            return {"ok": True, "lock": threading.Lock()}
        return {"ok": True, "side": Side.BUY, "ratio": (1, 2.5)}
    """))
    result = call(runner, "health_ping", 2.0, {"now": 0})
    assert result.error is not None and result.error.startswith("WrongShape: health_ping")
    assert "lock is not plain data" in result.error
    again = call(runner, "health_ping", 2.0, {"now": 1})
    assert again.value == {"ok": True, "side": 1, "ratio": [1, 2.5]}  # tuples arrive as lists
    assert type(again.value["side"]) is int


def test_arguments_that_cannot_be_pickled_fail_that_call_only(spawn: Spawn) -> None:
    runner = spawn("args", good_plugin())
    future = runner.submit("health_ping", {"now": lambda: 1.0})
    with pytest.raises(PluginError, match="arguments of health_ping cannot be sent"):
        future.result(1.0)
    assert call(runner, "health_ping", 2.0, {"now": 3.0}).value["ok"] is True


def test_os_exit_marks_the_worker_dead_within_100ms(spawn: Spawn, tmp_path: Path) -> None:
    stamp = tmp_path / "exit-stamp"
    watch = ExitWatch()
    runner = spawn("crasher", with_ping(f"""
        import os, time
        with open({str(stamp)!r}, "w") as f:
            f.write(repr(time.monotonic()))
        os._exit(3)
    """), on_exit=watch)
    future = runner.submit("health_ping", {"now": 1.0})
    assert watch.done.wait(5.0) and watch.args == (3, None)
    latency = watch.at - float(stamp.read_text())
    # From the process itself, not polled: well under a second even on a loaded machine
    # (bench/bench_supervision.py measures the real figure, a few ms).
    assert latency < 1.0, f"exit seen after {latency * 1000:.0f} ms"
    assert (runner.exit_code, runner.exit_signal, runner.alive()) == (3, None, False)
    with pytest.raises(PluginDead, match="exited with code 3"):
        future.result(0)
    with pytest.raises(PluginDead, match="exited with code 3"):
        runner.submit("self_test", {}).result(0)


def test_sigkill_from_outside_is_seen_within_100ms(spawn: Spawn) -> None:
    watch = ExitWatch()
    runner = spawn("victim", good_plugin(), on_exit=watch)
    killed_at = time.monotonic()
    os.kill(runner.pid, signal.SIGKILL)
    assert watch.done.wait(5.0) and watch.args == (None, signal.SIGKILL)
    assert watch.runner is runner  # the runner passes itself: no closure over it needed
    latency = watch.at - killed_at
    assert latency < 1.0, f"kill seen after {latency * 1000:.0f} ms"
    assert (runner.exit_code, runner.exit_signal) == (None, signal.SIGKILL)
    assert "killed by SIGKILL" in str(runner.submit("self_test", {}).exception(0))


def spin(mark: Path, ignore_term: bool = False, in_c: bool = False) -> str:
    """A health_ping that touches ``mark`` once it is set up, then never returns.

    ``in_c`` spins inside one C call that holds the GIL, so no Python thread
    of the worker runs any more: only the kernel's parent-death signal ends it.
    """
    return with_ping(f"""
        import pathlib, signal
        if {ignore_term}:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        pathlib.Path({str(mark)!r}).touch()
        while True:
            {"sum(range(10**13))" if in_c else "pass"}
    """)




def test_spinning_plugin_times_out_is_busy_and_killed(spawn: Spawn, tmp_path: Path) -> None:
    watch = ExitWatch()
    runner = spawn("spinner", spin(tmp_path / "spinning"), grace=0.5, on_exit=watch)
    result = call(runner, "health_ping", 0.2, {"now": 1.0})
    assert result.timed_out
    with pytest.raises(PluginBusy, match="health_ping still running after"):
        runner.submit("get_metrics", {}).result(0)
    started = time.monotonic()
    runner.kill()
    assert time.monotonic() - started < 5.0       # no hang; the signal below says which
    assert runner.exit_signal == signal.SIGTERM and not watch.done.is_set()
    assert not ResourceSampler().sample(runner.pid).running


def test_close_escalates_to_sigkill_when_sigterm_is_ignored(
        spawn: Spawn, tmp_path: Path) -> None:
    mark = tmp_path / "spinning"
    runner = spawn("stubborn", spin(mark, ignore_term=True), grace=0.2)
    runner.submit("health_ping", {"now": 1.0})
    wait_until(mark.exists, waiting_for=mark.name)                                 # SIGTERM is ignored from now on
    started = time.monotonic()
    runner.close(timeout=0.2)
    assert 0.4 <= time.monotonic() - started < 2.0  # stop ignored, SIGTERM ignored, SIGKILL
    assert runner.exit_signal == signal.SIGKILL


def test_clean_close_exits_zero_without_on_exit(spawn: Spawn) -> None:
    watch = ExitWatch()
    runner = spawn("polite", good_plugin(), on_exit=watch)
    runner.close(timeout=2.0)
    assert (runner.exit_code, runner.alive(), watch.done.is_set()) == (0, False, False)
    with pytest.raises(PluginDead):
        runner.submit("self_test", {}).result(0)


def test_memory_balloon_shows_in_the_workers_own_rss(spawn: Spawn) -> None:
    runner = spawn("balloon", with_ping("""
        self.blob = b"x" * (200 * 2**20)
        return True
    """))
    sampler = ResourceSampler()
    before = sampler.sample(runner.pid)
    assert call(runner, "health_ping", 5.0, {"now": 1.0}).value is True
    after = sampler.sample(runner.pid)
    assert before.rss_bytes is not None and after.rss_bytes is not None
    assert before.rss_bytes < 100 * MB < 200 * MB < after.rss_bytes
    assert after.attributable


def test_plugin_printing_never_reaches_the_hosts_stdout(
        spawn: Spawn, capfd: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZEPIX_LOG_LEVEL", "INFO")  # not what an earlier CLI call exported
    monkeypatch.delenv("ZEPIX_LOG_FORMAT", raising=False)
    runner = spawn("chatty", with_ping("""
        print("tick from the plugin", flush=True)
        return True
    """))
    assert call(runner, "health_ping", 2.0, {"now": 1.0}).value is True
    seen: list[tuple[str, str]] = []

    def logged() -> bool:  # the log line may be written just after the reply
        seen.append(capfd.readouterr())
        return any("tick from the plugin" in err for _, err in seen)

    wait_until(logged, timeout=30)
    assert not any("tick from the plugin" in out for out, _ in seen)


BROKEN = {
    "import_error": ("import not_a_module_anywhere\n", PluginState.FAILED),
    "ctor_raises": (("class Plugin:\n    def __init__(self):\n"
                     "        raise RuntimeError('no api key')\n"), PluginState.FAILED),
    "missing_hook": (good_plugin().replace("    @hookimpl\n    def self_test(self):\n"
                                           "        return True\n", ""),
                     PluginState.REJECTED),
}


def test_process_runner_factory_finds_the_plugin_where_discovery_did(
        dists: DistFactory) -> None:
    dists.add("zepix-found", "1.0.0", {"found": "found_mod:Plugin"},
              {"found_mod": good_plugin()})
    [rec] = enumerate_plugins([str(dists.root)])
    runner = process_runner(rec, PluginConfig("found", isolation="process"))
    try:
        assert call(runner, "self_test", 2.0).value is True
    finally:
        runner.close()


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_load_failure_in_the_worker_matches_in_process(
        dists: DistFactory, spawn: Spawn, name: str) -> None:
    source, state = BROKEN[name]
    with pytest.raises(LoadFailure) as in_worker:
        spawn(name, source)
    [rec] = enumerate_plugins([str(dists.root)])
    with pytest.raises(LoadFailure) as in_process:
        load_plugin(rec)
    assert in_worker.value.state is in_process.value.state is state
    assert str(in_worker.value) == str(in_process.value)
    assert "\n" not in str(in_worker.value)


HOST = """
import sys, threading, time
from zepix_core.loading.config import PluginConfig
from zepix_core.loading.discovery import enumerate_plugins
from zepix_core.execution.worker import ProcessRunner, process_runner

root, where = sys.argv[1], sys.argv[2]
[rec] = enumerate_plugins([root])
made = []
if where == "thread":   # the creating thread ends: the worker must outlive it
    t = threading.Thread(target=lambda: made.append(ProcessRunner(rec, extra_paths=[root])))
    t.start(); t.join()
else:
    made.append(ProcessRunner(rec, extra_paths=[root]))
made[0].submit("health_ping", {"now": 0.0})
print(made[0].pid, flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize(("where", "in_c"), [("main", False), ("thread", False),
                                             ("thread", True)],
                         ids=["python-spin", "started-from-thread", "c-spin-holding-gil"])
def test_worker_exits_when_the_host_is_sigkilled(
        dists: DistFactory, tmp_path: Path, where: str, in_c: bool) -> None:
    mark = tmp_path / "spinning"
    dists.add("zepix-orphan", "1.0.0", {"orphan": "orphan_mod:Plugin"},
              {"orphan_mod": spin(mark, ignore_term=True, in_c=in_c)})
    script = tmp_path / "host.py"
    script.write_text(HOST, encoding="utf-8")
    host = subprocess.Popen([sys.executable, str(script), str(dists.root), where],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert host.stdout is not None
        assert select.select([host.stdout], [], [], 10.0)[0], "host never started"
        worker_pid = int(host.stdout.readline())
        wait_until(mark.exists, waiting_for=mark.name)         # spinning in health_ping, after its creator thread ended
        sampler = ResourceSampler()
        assert sampler.sample(worker_pid).running
        host.kill()
        host.wait()
        deadline = time.monotonic() + 3.0
        while sampler.sample(worker_pid).running and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not sampler.sample(worker_pid).running
    finally:
        host.kill()
        host.wait()
