"""The pytest plugin, run by pytester against a good plugin and plugins that break each rule.

Every plugin here is a real distribution (``*.dist-info`` with entry points)
in a directory put on ``sys.path`` for the inner run; its failures must name
the hook and the fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pytest

from tests.distfactory import DistFactory, good_plugin
from zepix_core.authoring.conformance import CHECK_NAMES

pytest_plugins = ["pytester"]

ALL = len(CHECK_NAMES)


def variant(*edits: tuple[str, str], version: str = "1.0.0", api: str = ">=1.0,<2") -> str:
    """The good plugin's source with each (old, new) edit applied; each edit must apply."""
    source = good_plugin(version=version, api=api)
    for old, new in edits:
        assert old in source, old
        source = source.replace(old, new)
    return source


PING = '        return {"ok": True, "last_activity": now}'
METRICS = '        return {"signals_processed": self.bars}'
SELF_TEST = "        return True\n\n    @hookimpl\n    def activate"
ACTIVATE = "        self.active = True"
ON_BAR = "        self.bars += 1\n        return None"
SELF_TEST_IMPL = "    @hookimpl\n    def self_test(self):\n        return True\n"
DEACTIVATE = "def deactivate(self, reason):\n        self.active = False"


class Broken(NamedTuple):
    """A plugin that breaks a rule: the checks that must fail, with fragments of each
    message (hook, what came back, the fix), and how many checks cannot run."""

    source: str
    fails: dict[str, list[str]]
    skipped: int = 0


NOT_LOADED = ALL - 2  # only entry_point and public_api (it reads the source) run
HOOKS_ONLY = ALL - 4  # entry_point, public_api, required_hooks and hook_signatures run

BROKEN: dict[str, Broken] = {
    "import_error": Broken("import not_a_module_anywhere\n", {"entry_point": [
        "entry point: expected 'import_error_mod:Plugin' to import", "ModuleNotFoundError",
        "install what it imports"]}, NOT_LOADED),
    "ctor_raises": Broken(variant(("self.bars = 0", "raise RuntimeError('no api key')")), {
        "entry_point": ["Plugin() to build the plugin", "RuntimeError: no api key",
                        "move work that can fail"]}, NOT_LOADED),
    "missing_hook": Broken(variant((SELF_TEST_IMPL, "")), {
        "required_hooks": ["self_test: expected an implementation marked @hookimpl",
                           "got no implementation", "add '@hookimpl def self_test(self)'"]},
        HOOKS_ONLY),
    "unmarked_hook": Broken(variant(("    @hookimpl\n    def self_test", "    def self_test")), {
        "required_hooks": ["self_test:", "got a method without @hookimpl",
                           "from zepix_core import hookimpl"]}, HOOKS_ONLY),
    "bad_signature": Broken(variant(("def health_ping(self, now)",
                                     "def health_ping(self, now, tz)")), {
        "hook_signatures": ["health_ping: expected only arguments the spec names (now)",
                            "got extra argument(s) tz", "def health_ping(self, now)"]},
        HOOKS_ONLY),
    "unknown_hook": Broken(variant(("def on_bar", "def on_barr")), {"hook_signatures": [
        "on_barr: expected a hook of the spec", "unknown hook 'on_barr'",
        "rename 'on_barr' to 'on_bar'"]}, HOOKS_ONLY),
    "bad_version": Broken(variant(('"version": self.VERSION', '"version": "one"')), {
        "plugin_version": ["plugin_version: expected a PEP 440 version", "not a valid PEP 440",
                           "return a string such as '1.2.0'"]}),
    "version_mismatch": Broken(variant(('VERSION = "1.0.0"', 'VERSION = "1.0.1"')), {
        "plugin_version": ["expected the version of the distribution zepix-version-mismatch",
                           "1.0.0, got 1.0.1", "read the version from one place"]}),
    "api_excluded": Broken(variant(api=">=2.0"), {"requires_api": [
        "plugin_version: expected requires_api to admit the host API 1.0, got '>=2.0'",
        "such as '>=1.0,<2'"]}),
    "api_invalid": Broken(variant(api="one point oh"), {
        "plugin_version": ["is not a valid PEP 440 specifier"],
        "requires_api": ["expected requires_api as a PEP 440 specifier string",
                         "str 'one point oh'", "such as '>=1.0,<2'"]}),
    "ping_slow": Broken(variant((PING, "        import time; time.sleep(2.2)\n" + PING)), {
        "health_ping": ["health_ping: expected an answer within 2 s, got no answer after 2.",
                        "answer from memory"]}),
    "ping_shape": Broken(variant((PING, '        return "ok"')), {"health_ping": [
        "health_ping: expected True/False, or a mapping with 'ok'", "got str 'ok'",
        "{'ok': True, 'last_activity': time.time()}"]}),
    "ping_not_ok": Broken(variant((PING, '        return {"ok": False, "detail": "no feed"}')), {
        "health_ping": ["expected ok from a freshly activated plugin", "'detail': 'no feed'",
                        "answer ok while the plugin can do its work"]}),
    "ping_monotonic": Broken(variant((PING, ("        import time\n        return "
                                      "{'ok': True, 'last_activity': time.monotonic()}"))), {
        "health_ping": ["expected last_activity within the heartbeat limit", "s before now",
                        "time.time() (not time.monotonic())"]}),
    "metrics_list": Broken(variant((METRICS, "        return [1, 2]")), {"get_metrics": [
        ("get_metrics: expected a mapping of name -> number, got list [1, 2]; "
        "return a dict such as {'signals_processed': 3}")]}),
    "metrics_values": Broken(variant((METRICS, ('        return {"signals_processed": 1, '
                                      '"mood": "good", "ready": True}'))), {"get_metrics": [
        "'mood': str 'good'", "'ready': bool True", "bool, None and str are not numbers"]}),
    "metrics_negative": Broken(variant((METRICS, '        return {"errors": -1}')), {
        "get_metrics": ["expected counts >= 0 under the recognised names",
                        "got errors = -1"]}),
    "self_test_shape": Broken(variant((SELF_TEST, SELF_TEST.replace("True", '"yes"'))), {
        "self_test": ["self_test: expected True/False, or a mapping with 'passed'",
                      "got str 'yes'", "return {'passed': True, 'checks':"]}),
    "self_test_fails": Broken(variant((SELF_TEST, SELF_TEST.replace(
        "True", '{"passed": False, "checks": [{"name": "data", "passed": False, '
        '"detail": "no bars"}]}'))), {"self_test": [
        "expected a passing self test", "failing: data: no bars"]}),
    "self_test_flaky": Broken(variant((SELF_TEST, SELF_TEST.replace(
        "return True", "self.calls = getattr(self, 'calls', 0) + 1\n"
        "        return self.calls % 2 == 1"))), {"self_test_idempotent": [
        "self_test: expected the same verdict from two calls in a row",
        "got passed True, then passed False", "keep no state between calls"]}),
    "self_test_side_effect": Broken(variant((SELF_TEST, SELF_TEST.replace(
        "return True", "self.bars += 2\n        return True"))), {"self_test_idempotent": [
        "expected no change to the active plugin's counters", "signals_processed 0 -> 4",
        "run the test on a fresh instance"]}),
    "on_bar_shape": Broken(variant((ON_BAR, '        return {"side": "buy"}')), {"on_bar": [
        "on_bar: expected None or a list of intents", "got dict {'side': 'buy'} at bar #1",
        "{'symbol': bar.symbol, 'side': 'buy', 'quantity': 1.0}"]}),
    "on_bar_raises": Broken(variant((ON_BAR, "        raise ValueError('bad bar')")), {
        "on_bar": ["on_bar: expected None or a list of intents",
                   "got an exception: ValueError: bad bar (at ", "on_bar_raises_mod.py:",
                   " in on_bar) at bar #1", "instead of raising"]}),
    "no_restart": Broken(variant((ACTIVATE, ("        if getattr(self, 'started', False):\n"
                                  "            raise RuntimeError('already started')\n"
                                  "        self.started = True"))), {"lifecycle": [
        "activate: expected success on activate after deactivate",
        "RuntimeError: already started", "let activate reset what deactivate leaves"]}),
    "stale_stop_flag": Broken(variant(
        (DEACTIVATE, DEACTIVATE.replace("self.active = False", "self.stopped = True")),
        (PING, '        return not getattr(self, "stopped", False)')), {"lifecycle": [
            "health_ping: expected ok after activate, deactivate, activate",
            "got bool False", "let activate reset"]}),
    "activate_raises": Broken(variant((ACTIVATE, "        raise OSError('no disk')")), {
        "lifecycle": ["activate: expected success on the first activate", "OSError: no disk"]},
        skipped=7),  # health_ping, get_metrics, self_test_idempotent, on_bar, on_fill,
    # config_changed and plugin_restarted need it
}


@pytest.fixture
def site(pytester: pytest.Pytester) -> DistFactory:
    """Distributions for the inner run, in a directory of their own on its sys.path."""
    pytester.makeini("[pytest]\n"  # zepix_core is imported already in this process
                     "filterwarnings = ignore::pytest.PytestAssertRewriteWarning\n")
    root = pytester.path / "site"
    root.mkdir()
    pytester.syspathinsert(root)
    return DistFactory(root)


def add_plugin(site: DistFactory, plugin_id: str, source: str, version: str = "1.0.0") -> None:
    module = f"{plugin_id}_mod"
    dist = f"zepix-{plugin_id.replace('_', '-')}"
    site.add(dist, version, {plugin_id: f"{module}:Plugin"}, {module: source})


def failures(result: pytest.RunResult) -> dict[str, str]:
    """Failed check name -> its failure text."""
    return {rep.nodeid.rsplit("::", 1)[-1]: rep.longreprtext
            for rep in result.reprec.getfailures()}  # type: ignore[attr-defined]


def test_good_plugin_passes_from_a_directory_without_tests(
        pytester: pytest.Pytester, site: DistFactory) -> None:
    add_plugin(site, "good", good_plugin())
    result = pytester.runpytest_inprocess("--zepix-plugin", "good", "-p", "no:cacheprovider",
                                          "-v")
    result.assert_outcomes(passed=ALL)
    result.stdout.fnmatch_lines([f"zepix[[]good[]]::{name} PASSED*" for name in CHECK_NAMES])
    assert result.ret == 0


MODULE_PLUGIN = """
from zepix_core import hookimpl

BARS = []

@hookimpl
def plugin_version():
    return "2.0.0"

@hookimpl
def health_ping():
    return True

@hookimpl
def get_metrics():
    return {"signals_processed": len(BARS), "last_close": BARS[-1].close if BARS else 0.0}

@hookimpl
def self_test():
    return {"passed": True, "checks": [{"name": "import", "passed": True, "detail": ""}]}

@hookimpl
def on_bar(bar):
    BARS.append(bar)

@hookimpl
def on_fill(fill):
    pass

@hookimpl
def config_changed(changes):
    return False

@hookimpl
def plugin_restarted(reason, restarts):
    pass
"""


def test_plugin_as_a_module_of_functions_passes(pytester: pytest.Pytester,
                                                site: DistFactory) -> None:
    site.add("zepix-functions", "2.0.0", {"functions": "functions_mod"},
             {"functions_mod": MODULE_PLUGIN})
    pytester.runpytest_inprocess("--zepix-plugin", "functions").assert_outcomes(passed=ALL)


def test_plugin_not_installed_fails_once_and_skips_the_rest(
        pytester: pytest.Pytester, site: DistFactory) -> None:
    add_plugin(site, "good", good_plugin())
    result = pytester.runpytest_inprocess("--zepix-plugin", "missing", "-rs")
    result.assert_outcomes(failed=1, skipped=ALL - 1)
    text = failures(result)["entry_point"]
    assert "entry point: expected an entry point named 'missing' in group 'zepix.plugins'" in text
    assert "installed: " in text and "good" in text
    assert 'declare it under [project.entry-points."zepix.plugins"]' in text
    result.stdout.fnmatch_lines(["*not run: the plugin does not load*"])


@pytest.mark.parametrize("plugin_id", sorted(BROKEN))
def test_each_broken_rule_fails_its_check_naming_hook_and_fix(
        pytester: pytest.Pytester, site: DistFactory, plugin_id: str) -> None:
    source, expected, skipped = BROKEN[plugin_id]
    add_plugin(site, plugin_id, source)
    result = pytester.runpytest_inprocess("--zepix-plugin", plugin_id)
    result.assert_outcomes(failed=len(expected), skipped=skipped,
                           passed=ALL - len(expected) - skipped)
    found = failures(result)
    assert set(found) == set(expected)
    for check, fragments in expected.items():
        for fragment in fragments:
            assert fragment in found[check], f"{check}: {fragment!r} not in:\n{found[check]}"
    assert result.ret == pytest.ExitCode.TESTS_FAILED


LEAKY = {
    "leaky_thread": ("import threading", ("        self.stop = threading.Event()\n"
                     "        threading.Thread(target=self.stop.wait, name='leaky-worker', "
                     "daemon=True).start()"), ["1 thread(s) still running: 'leaky-worker'",
                                              "join it before deactivate returns"]),
    # Held by the module, not the instance: a collected instance would close the file and
    # hide the leak.
    "leaky_file": ("JOURNALS = []", "        JOURNALS.append(open(context.path / 'journal.log', 'a'))",
                   ["more open file descriptor(s)", "journal.log",
                    "close files and sockets in deactivate"]),
    "leaky_child": ("import atexit, subprocess, sys",
                    ("        self.child = subprocess.Popen([sys.executable, '-c', "
                    "'import time; time.sleep(20)'])\n        atexit.register(self.child.kill)"),
                    ["pid ", "wait() for it in deactivate"]),
}


def test_leaks_after_deactivate_fail_no_leaks(pytester: pytest.Pytester, site: DistFactory,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """In a subprocess: the leaked thread, file and child must not outlive this test."""
    args = []
    for plugin_id, (imports, start, _) in LEAKY.items():
        add_plugin(site, plugin_id, imports + "\n" + variant((ACTIVATE, ACTIVATE + "\n" + start)))
        args += ["--zepix-plugin", plugin_id]
    monkeypatch.setenv("PYTHONPATH", str(site.root))
    result = pytester.runpytest_subprocess(*args, "-p", "no:cacheprovider")
    result.assert_outcomes(failed=len(LEAKY), passed=len(LEAKY) * (ALL - 1))
    for plugin_id, (_, _, fragments) in LEAKY.items():
        after_title = result.stdout.str().split(f"conformance of {plugin_id}: no_leaks")[1]
        message = after_title.split("\n", 1)[1].split("____")[0]
        assert "deactivate: expected nothing left behind after deactivate" in message
        for fragment in fragments:
            assert fragment in message, message


def test_base_class_adopts_the_suite_in_one_line(pytester: pytest.Pytester,
                                                 site: DistFactory) -> None:
    add_plugin(site, "good", good_plugin())
    add_plugin(site, "metrics_list", BROKEN["metrics_list"].source)
    pytester.makepyfile(test_mine="""
        from zepix_core.testing import PluginConformance

        class TestGood(PluginConformance):
            plugin_id = "good"

        class TestBroken(PluginConformance):
            plugin_id = "metrics_list"

        class TestForgotId(PluginConformance):
            pass
    """)
    result = pytester.runpytest_inprocess("-v")
    result.assert_outcomes(passed=2 * ALL - 1, failed=1 + ALL)
    result.stdout.fnmatch_lines([
        "*TestGood::test_conformance[[]no_leaks[]] PASSED*",
        "*TestBroken::test_conformance[[]get_metrics[]] FAILED*",
        "*get_metrics: expected a mapping of name -> number, got list [[]1, 2[]]; return a dict*",
        "*TestForgotId needs the id of the plugin under test*",
    ])


def test_checks_can_be_selected_by_name_and_listed(pytester: pytest.Pytester,
                                                   site: DistFactory) -> None:
    add_plugin(site, "good", good_plugin())
    result = pytester.runpytest_inprocess("--zepix-plugin", "good", "-k", "ping or metrics")
    result.assert_outcomes(passed=2, deselected=ALL - 2)
    listed = pytester.runpytest_inprocess("--zepix-plugin", "good", "--zepix-plugin", "good",
                                          "--collect-only", "-q")
    listed.stdout.fnmatch_lines([f"zepix[[]good[]]::{name}" for name in CHECK_NAMES])
    assert f"{ALL} tests collected" in listed.stdout.str()


def test_fixtures_give_a_host_a_loader_and_a_fake_clock(pytester: pytest.Pytester,
                                                        site: DistFactory) -> None:
    add_plugin(site, "good", good_plugin())
    pytester.makepyfile(test_fixtures=f"""
        import os
        from zepix_core import PluginState, hookimpl

        SITE = [{str(site.root)!r}]

        def test_host_runs_on_a_temporary_database(zepix_make_host, zepix_clock, tmp_path):
            host = zepix_make_host(paths=SITE)
            assert str(host.store.path).startswith(str(tmp_path))
            assert os.environ["ZEPIX_HOME"].startswith(str(tmp_path))
            started = zepix_clock.monotonic()
            host.run(duration=90, interval=30)
            assert zepix_clock.monotonic() - started == 90
            assert [r["plugin_id"] for r in host.store.history()] == ["good"]

        def test_default_host_discovers(zepix_host):
            zepix_host.paths = SITE
            [slot] = zepix_host.discover()
            assert slot.state is PluginState.DISCOVERED

        def test_load_by_id_and_from_an_object(zepix_load, tmp_path):
            good = zepix_load("good", paths=SITE)
            assert good.record.distribution == "zepix-good"
            assert good.value("health_ping", now=5.0) == {{"ok": True, "last_activity": 5.0}}

            class Tiny:
                @hookimpl
                def plugin_version(self): return "0.1"
                @hookimpl
                def health_ping(self): return True
                @hookimpl
                def get_metrics(self): return {{}}
                @hookimpl
                def self_test(self): return True

            tiny = zepix_load(Tiny, plugin_id="tiny", version="0.1")
            assert tiny.activate(tmp_path / "data").ok
            assert tiny.value("health_ping", now=1.0) is True
            assert not tiny.implements("on_bar")
    """)
    pytester.runpytest_inprocess().assert_outcomes(passed=3)


def test_checks_run_from_code_without_pytest_machinery(tmp_path: Path,
                                                       dists: DistFactory) -> None:
    from zepix_core.authoring.conformance import run_suite

    dists.add("zepix-good", "1.0.0", {"good": "good_mod:Plugin"}, {"good_mod": good_plugin()})
    results = run_suite("good", tmp_path, paths=[str(dists.root)])
    assert [(r.check, r.outcome) for r in results] == [(n, "passed") for n in CHECK_NAMES]
