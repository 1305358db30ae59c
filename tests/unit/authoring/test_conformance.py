"""The conformance checks as plain functions: what a command or another tool gets from them."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.distfactory import DistFactory, good_plugin
from zepix_core import PluginError, hookimpl
from zepix_core.authoring.conformance import (
    CHECK_NAMES,
    CHECKS,
    CheckResult,
    Finding,
    get_check,
    run_check,
    run_suite,
)
from zepix_core.authoring.conformance.leaks import Holdings, compare, leaks_after
from zepix_core.loading.discovery import LoadFailure, enumerate_plugins
from zepix_core.testing import load_installed, load_instance


def test_a_finding_reads_hook_expected_got_fix() -> None:
    finding = Finding("get_metrics", "a mapping of name -> number", "list [1, 2]",
                      "return a dict such as {'signals_processed': 3}")
    assert str(finding) == ("get_metrics: expected a mapping of name -> number, got list "
                            "[1, 2]; return a dict such as {'signals_processed': 3}")


def test_results_say_failed_skipped_or_passed() -> None:
    finding = Finding("self_test", "a passing self test", "passed False", "fix it")
    failed = CheckResult("self_test", "mine", (finding,))
    assert failed.outcome == "failed"
    assert failed.report() == ("plugin 'mine' fails conformance check self_test:\n"
                               f"  {finding}")
    assert CheckResult("on_bar", "mine", blocked="not implemented").outcome == "skipped"
    assert CheckResult("on_bar", "mine").outcome == "passed"


def test_checks_have_unique_names_and_name_only_spec_hooks() -> None:
    from zepix_core.authoring.hookdoc import all_hooks

    assert len(set(CHECK_NAMES)) == len(CHECKS)
    assert {hook for check in CHECKS for hook in check.hooks} <= set(all_hooks())
    with pytest.raises(KeyError, match="no conformance check 'nope'; the checks are entry_point"):
        get_check("nope")


def test_suite_from_code_on_one_discovery(tmp_path: Path, dists: DistFactory) -> None:
    dists.add("zepix-good", "1.0.0", {"good": "good_mod:Plugin"}, {"good_mod": good_plugin()})
    results = run_suite("good", tmp_path, paths=[str(dists.root)])
    assert [(r.check, r.outcome) for r in results] == [(n, "passed") for n in CHECK_NAMES]
    assert all(r.duration >= 0 for r in results)


def test_a_check_that_cannot_run_is_blocked_not_failed(tmp_path: Path,
                                                       dists: DistFactory) -> None:
    source = good_plugin().replace("    @hookimpl\n    def on_bar(self, bar):\n"
                                   "        self.bars += 1\n        return None\n", "")
    dists.add("zepix-idle", "1.0.0", {"idle": "idle_mod:Plugin"}, {"idle_mod": source})
    records = enumerate_plugins([str(dists.root)])
    result = run_check("on_bar", "idle", tmp_path, records=records)
    assert (result.outcome, result.blocked) == (
        "skipped", "on_bar is optional and this plugin does not implement it")
    missing = run_check("get_metrics", "absent", tmp_path, records=records)
    assert missing.outcome == "skipped" and "does not load" in (missing.blocked or "")


def test_leaks_compare_names_what_is_new() -> None:
    before = Holdings(frozenset({(1, "MainThread")}), 1, frozenset({(10, "old")}), 5,
                      frozenset({"/a"}))
    after = Holdings(frozenset({(1, "MainThread"), (2, "feed")}), 2,
                     frozenset({(10, "old"), (11, "sleep, sleeping")}), 7,
                     frozenset({"/a", "/b"}))
    leaks = {kind: got for kind, got, _ in compare(before, after)}
    assert leaks == {"threads": "1 thread(s) still running: 'feed'",
                     "child processes": "pid 11 (sleep, sleeping)",
                     "open files": "2 more open file descriptor(s): /b"}
    assert compare(after, before) == []


def test_leaks_after_waits_for_a_thread_that_is_stopping() -> None:
    worker = threading.Thread(target=time.sleep, args=(0.2,), name="stopping", daemon=True)
    assert leaks_after(worker.start, settle=2.0) == []
    assert not worker.is_alive()


def test_leaks_after_reports_a_thread_left_running() -> None:
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait, name="left-running", daemon=True)
    try:
        [(kind, got, fix)] = leaks_after(worker.start, settle=0.1)
    finally:
        stop.set()
        worker.join()
    assert (kind, got) == ("threads", "1 thread(s) still running: 'left-running'")
    assert "join it before deactivate returns" in fix


class Tiny:
    @hookimpl
    def plugin_version(self) -> str:
        return "0.1"

    @hookimpl
    def health_ping(self) -> bool:
        return True

    @hookimpl
    def get_metrics(self) -> dict[str, int]:
        return {}

    @hookimpl
    def self_test(self) -> bool:
        return True


def test_a_handle_calls_hooks_under_their_deadlines(tmp_path: Path) -> None:
    with load_instance(Tiny, plugin_id="tiny", version="0.1") as tiny:
        assert tiny.record.distribution == "(in memory)"
        assert tiny.value("health_ping", now=1.0) is True
        assert tiny.activate(tmp_path / "data").ok and (tmp_path / "data").is_dir()
        slow = tiny.call("plugin_version", timeout=0.0)
        assert slow.timed_out or slow.value == "0.1"


def test_loading_refuses_what_the_host_refuses() -> None:
    class NoMetrics(Tiny):
        get_metrics = None  # type: ignore[assignment]

    with pytest.raises(LoadFailure, match="missing required hook"):
        load_instance(NoMetrics, plugin_id="no_metrics")
    with pytest.raises(PluginError, match="no plugin 'absent' is installed"):
        load_installed("absent", paths=[])
