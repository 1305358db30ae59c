"""Declared plugin settings: the declaration, the check of [plugins.ID] against it, and what
activate receives."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.distfactory import DistFactory, good_plugin
from zepix_core import ConfigError, PluginError, PluginState
from zepix_core.host.host import create_host
from zepix_core.loading.config import PLUGIN_DEFAULTS
from zepix_core.loading.settings import Setting, apply_settings, parse_settings

DECLARED = [
    {"name": "fast", "type": "int", "default": 5, "min": 1, "max": 50,
     "description": "fast average length"},
    {"name": "mode", "type": "str", "default": "trend", "choices": ["trend", "revert"]},
    {"name": "size", "type": "float", "default": 1.0, "min": 0.001},
    {"name": "live", "type": "bool", "default": False},
    {"name": "watch", "type": "list", "default": None},
]


def _apply(table: dict[str, object]) -> dict[str, object]:
    declared = parse_settings(DECLARED)
    assert declared is not None
    return apply_settings(declared, table, where="zepix.toml", plugin_id="ema",
                          host_keys=PLUGIN_DEFAULTS)


def test_values_are_typed_with_defaults_and_host_keys_left_alone() -> None:
    values = _apply({"fast": 8, "size": 2, "isolation": "process", "max_restarts": 2})
    assert values == {"fast": 8, "size": 2.0, "mode": "trend", "live": False, "watch": None}
    assert isinstance(values["size"], float)


@pytest.mark.parametrize("table,message", [
    ({"fsat": 5}, "zepix.toml: plugins.ema.fsat: unknown setting; did you mean 'fast'?"),
    ({"isolaton": "process"}, "plugins.ema.isolaton: unknown setting; did you mean 'isolation'?"),
    ({"fast": "5"}, "plugins.ema.fast: got '5'; expected a whole number"),
    ({"fast": 0}, "plugins.ema.fast: got 0; expected at least 1"),
    ({"fast": 51}, "plugins.ema.fast: got 51; expected at most 50"),
    ({"fast": True}, "plugins.ema.fast: got True; expected a whole number"),
    ({"size": float("nan")}, "plugins.ema.size: got nan; expected a finite number"),
    ({"mode": "chaos"}, "plugins.ema.mode: got 'chaos'; expected one of 'trend', 'revert'"),
    ({"watch": ["BTCUSD", 3]}, "plugins.ema.watch: got ['BTCUSD', 3]; expected a list of"),
    ({"nothing_like_it": 1}, "unknown setting; ema declares fast, live, mode, size, watch"),
])
def test_a_bad_table_is_one_line_naming_file_and_key(table: dict[str, object],
                                                     message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _apply(table)
    assert message in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("declaration,message", [
    ({"name": "x"}, "returned dict; return a list of settings"),
    ([{"name": "x", "type": "int"}], "(x): a default is required"),
    ([{"name": "x", "type": "complex", "default": 1}], "type must be one of int, float"),
    ([{"name": "x y", "type": "int", "default": 1}], "name must be an identifier string"),
    ([{"name": "x", "type": "int", "default": 0, "min": 1}], "the default 0 does not fit"),
    ([{"name": "x", "type": "int", "default": 1, "colour": "red"}], "unknown key(s) colour"),
    ([{"name": "x", "type": "int", "default": 1}] * 2, "declares x more than once"),
])
def test_a_malformed_declaration_says_what_is_wrong(declaration: object, message: str) -> None:
    with pytest.raises(PluginError, match=None) as caught:
        parse_settings(declaration)
    assert message in str(caught.value)


def test_no_declaration_means_nothing_to_check() -> None:
    assert parse_settings(None) is None
    assert Setting("x", "int", 1).problem(2) is None


SETTINGS_PLUGIN = good_plugin().replace(
    "    @hookimpl\n    def activate(self, context, config):\n        self.active = True\n",
    "    @hookimpl\n    def plugin_settings(self):\n"
    f"        return {DECLARED!r}\n\n"
    "    @hookimpl\n    def activate(self, context, config):\n"
    "        self.active = True\n        self.config = dict(config)\n")


def _host(dists: DistFactory, tmp_path: Path, table: str, isolation: str = "inprocess"):  # type: ignore[no-untyped-def]
    dists.add("zepix-ema", "1.0.0", {"ema": "ema_mod:Plugin"}, {"ema_mod": SETTINGS_PLUGIN})
    config = tmp_path / "zepix.toml"
    config.write_text(f'[plugins.ema]\nisolation = "{isolation}"\n{table}', encoding="utf-8")
    return create_host(config, tmp_path / "z.db", paths=[str(dists.root)]), config


def test_activate_receives_the_typed_settings_with_defaults(tmp_path: Path,
                                                           dists: DistFactory) -> None:
    host, _ = _host(dists, tmp_path, "fast = 8\n")
    try:
        host.start()
        slot = host.slots["ema"]
        assert slot.state is PluginState.ACTIVE
        [plugin] = slot.runner.pm.get_plugins()  # type: ignore[union-attr]
        assert plugin.config["fast"] == 8 and plugin.config["mode"] == "trend"
        assert plugin.config["isolation"] == "inprocess"  # host keys still reach it
    finally:
        host.shutdown()


@pytest.mark.parametrize("isolation", ["inprocess", "process"])
def test_a_typo_in_the_table_rejects_only_that_plugin_naming_file_and_key(
        tmp_path: Path, dists: DistFactory, isolation: str) -> None:
    host, config = _host(dists, tmp_path, "fsat = 5\n", isolation)
    try:
        host.start()
        slot = host.slots["ema"]
        assert slot.state is PluginState.REJECTED
        assert f"{config}: plugins.ema.fsat: unknown setting; did you mean 'fast'?" in (
            slot.reason or "")
        assert all(s.state is PluginState.ACTIVE for pid, s in host.slots.items() if pid != "ema")
    finally:
        host.shutdown()


def test_bundled_strategies_declare_their_settings(tmp_path: Path) -> None:
    config = tmp_path / "zepix.toml"
    config.write_text("[plugins.combined_v3]\nrisk_per_tarde = 0.02\n"
                      "[plugins.price_action_5m]\nrisk_per_trade = 0.02\n", encoding="utf-8")
    host = create_host(config, tmp_path / "z.db")
    try:
        slots = {s.plugin_id: s for s in host.discover()}
    finally:
        host.release()
    assert slots["combined_v3"].state is PluginState.REJECTED
    assert "did you mean 'risk_per_trade'?" in (slots["combined_v3"].reason or "")
    assert slots["price_action_5m"].values["risk_per_trade"] == 0.02
    assert {s.name for s in slots["price_action_5m"].settings or ()} == {
        "equity", "risk_per_trade"}  # symbols is the host's allow-list, read by both
