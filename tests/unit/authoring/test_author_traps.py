"""The traps a new plugin author falls into: a forgotten @hookimpl and a misspelt hook name."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.distfactory import DistFactory, good_plugin
from zepix_core import PluginState
from zepix_core.authoring.conformance import run_check
from zepix_core.host.host import create_host
from zepix_core.loading.discovery import enumerate_plugins, near_hook, unmarked_hooks

FORGOTTEN = good_plugin().replace("    @hookimpl\n    def on_bar(self, bar):",
                                  "    def on_bar(self, bar):")
MISSPELT_UNMARKED = good_plugin().replace("    @hookimpl\n    def on_bar(self, bar):",
                                          "    def on_bars(self, bar):")
MISSPELT_MARKED = good_plugin().replace("def on_bar(self, bar):", "def on_bars(self, bar):")


def test_near_hook_takes_one_or_two_edits_and_no_more() -> None:
    assert near_hook("on_bar") == "on_bar"
    assert near_hook("on_bars") == "on_bar"
    assert near_hook("get_metric") == "get_metrics"
    assert near_hook("helth_pin") == "health_ping"
    assert near_hook("evaluate") is None and near_hook("strategy_metrics") is None


def test_unmarked_hooks_ignore_private_names_data_and_marked_methods() -> None:
    namespace: dict[str, object] = {}
    exec(FORGOTTEN, namespace)  # the fixture's own source
    plugin = namespace["Plugin"]()
    assert unmarked_hooks(plugin) == [("on_bar", "on_bar")]

    class Quiet:
        on_bar = 3  # data, not a method

        def _on_bar(self) -> None: ...

    assert unmarked_hooks(Quiet()) == []


def test_the_suite_fails_a_forgotten_hookimpl_and_says_to_add_it(
        tmp_path: Path, dists: DistFactory) -> None:
    dists.add("zepix-forgot", "1.0.0", {"forgot": "forgot_mod:Plugin"},
              {"forgot_mod": FORGOTTEN})
    result = run_check("hook_signatures", "forgot", tmp_path,
                       records=enumerate_plugins([str(dists.root)]))
    assert result.outcome == "failed"
    report = result.report()
    assert "method 'on_bar' without @hookimpl" in report
    assert "add '@hookimpl' above 'def on_bar'" in report


def test_an_unmarked_misspelt_hook_is_named_with_the_hook_it_resembles(
        tmp_path: Path, dists: DistFactory) -> None:
    dists.add("zepix-typo", "1.0.0", {"typo": "typo_mod:Plugin"}, {"typo_mod": MISSPELT_UNMARKED})
    result = run_check("hook_signatures", "typo", tmp_path,
                       records=enumerate_plugins([str(dists.root)]))
    assert result.outcome == "failed"
    assert "one or two edits from the hook 'on_bar'" in result.report()
    assert "name it 'on_bar'" in result.report()


def test_a_marked_misspelt_hook_is_told_to_rename_never_to_go_optional(
        tmp_path: Path, dists: DistFactory) -> None:
    dists.add("zepix-typo", "1.0.0", {"typo": "typo_mod:Plugin"}, {"typo_mod": MISSPELT_MARKED})
    result = run_check("hook_signatures", "typo", tmp_path,
                       records=enumerate_plugins([str(dists.root)]))
    assert "rename 'on_bars' to 'on_bar'" in result.report()
    assert "optionalhook" not in result.report()
    host = create_host(None, tmp_path / "z.db", paths=[str(dists.root)])
    try:
        [slot] = [s for s in host.discover() if s.plugin_id == "typo"]
        assert slot.state is PluginState.REJECTED
        assert "rename 'on_bars' to 'on_bar'" in (slot.reason or "")
        assert "optionalhook" not in (slot.reason or "")
    finally:
        host.release()


@pytest.mark.parametrize("isolation", ["inprocess", "process"])
def test_the_host_warns_in_the_reason_of_an_active_plugin(
        tmp_path: Path, dists: DistFactory, isolation: str) -> None:
    dists.add("zepix-forgot", "1.0.0", {"forgot": "forgot_mod:Plugin"},
              {"forgot_mod": FORGOTTEN})
    config = tmp_path / "zepix.toml"
    config.write_text(f'[plugins.forgot]\nisolation = "{isolation}"\n', encoding="utf-8")
    host = create_host(config, tmp_path / "z.db", paths=[str(dists.root)])
    try:
        host.start()
        slot = host.slots["forgot"]
        assert slot.state is PluginState.ACTIVE
        assert "on_bar not marked @hookimpl, so the host never calls them" in (slot.reason or "")
    finally:
        host.shutdown()
