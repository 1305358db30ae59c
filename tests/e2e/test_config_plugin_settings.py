"""``zepix config set plugins.ID.NAME`` checks NAME against what the installed plugin
declares (``plugin_settings``; the bundled plugins declare ``equity`` and
``risk_per_trade`` through ``PaperStrategy``), as a start would: a value that would get
the plugin REJECTED is refused with one line and the file is left as it was."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.distfactory import DistFactory, good_plugin
from zepix_core.cli.main import main


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def config(zepix_home: Path) -> Path:
    path = zepix_home / "zepix.toml"
    path.write_bytes(b"# mine\n[plugins.combined_v3]\nenabled = false   # off for now\n")
    return path


@pytest.mark.parametrize(("key", "value", "problem"), [
    ("plugins.combined_v3.risk_per_trade", "5", "got 5; expected at most 0.999999"),
    ("plugins.combined_v3.equity", '"lots"', "got 'lots'; expected a finite number"),
    ("plugins.combined_v3.equty", "5", "unknown setting; did you mean 'equity'?"),
    ("plugins.price_action_1m.risk_per_trade", "0", "got 0; expected at least 1e-09"),
])
def test_a_value_the_plugin_would_reject_is_refused(
        capsys: pytest.CaptureFixture[str], config: Path, key: str, value: str,
        problem: str) -> None:
    before = config.read_bytes()
    code, out, err = _cli(capsys, "config", "set", key, value)
    assert (code, out) == (2, "")
    assert err == f"zepix: error: {config}: {key}: {problem}\n"
    assert config.read_bytes() == before
    code, out, _ = _cli(capsys, "config", "history", "--json")
    [row] = json.loads(out)
    assert (row["key"], row["status"]) == (key, "rejected") and problem in row["reason"]


def test_a_value_it_declares_is_written_and_is_what_a_start_reads(
        capsys: pytest.CaptureFixture[str], config: Path) -> None:
    assert _cli(capsys, "config", "set", "plugins.combined_v3.equity", "20000")[0] == 0
    assert _cli(capsys, "config", "set", "plugins.combined_v3.enabled", "true")[0] == 0
    assert "equity = 20000" in config.read_text(encoding="utf-8")
    code, out, _ = _cli(capsys, "plugins", "combined_v3", "--json")
    assert code == 0
    settings = {s["name"]: s["value"] for s in json.loads(out)["settings"]}
    assert settings == {"equity": 20000.0, "risk_per_trade": 0.01}


def test_a_table_for_a_plugin_not_installed_is_not_checked(
        capsys: pytest.CaptureFixture[str], config: Path) -> None:
    assert _cli(capsys, "config", "set", "plugins.later.whatever", "3")[0] == 0
    assert "whatever = 3" in config.read_text(encoding="utf-8")


def test_a_refused_secret_is_not_echoed(capsys: pytest.CaptureFixture[str], config: Path,
                                        dists: DistFactory) -> None:
    source = good_plugin().replace('''    @hookimpl
    def self_test(self):''', '''    @hookimpl
    def plugin_settings(self):
        return [{"name": "api_token", "type": "str", "default": ""}]

    @hookimpl
    def self_test(self):''')
    dists.add("zx-keyed", "1.0.0", {"keyed": "zx_keyed_mod:Plugin"}, {"zx_keyed_mod": source})
    code, _, err = _cli(capsys, "config", "set", "plugins.keyed.api_token", "987654321")
    assert code == 2 and "987654321" not in err
    assert err == (f"zepix: error: {config}: plugins.keyed.api_token: got ***; "
                   "expected a string\n")
    code, out, _ = _cli(capsys, "config", "history", "--json")
    assert "987654321" not in out
    assert _cli(capsys, "config", "set", "plugins.keyed.api_token", '"k-1"')[0] == 0
