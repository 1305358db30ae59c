"""Config loading: defaults with no file, and one clear error per bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from zepix_core import ConfigError
from zepix_core.loading.config import HOST_DEFAULTS, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "zepix.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_no_file_means_defaults(tmp_path: Path) -> None:
    cfg = load_config(tmp_path / "missing.toml")
    assert cfg.host == HOST_DEFAULTS
    plugin = cfg.plugin("combined_v3")
    assert plugin.enabled and plugin.version is None and plugin.isolation == "inprocess"


def test_full_file(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, """
[host]
interval = 5
isolation = "process"

[plugins.combined_v3]
enabled = false
version = "~=3.2"
ping_timeout = 0.5
risk_per_trade = 0.01

[thresholds]
p95_latency_ms = 100
"""))
    assert cfg.host["interval"] == 5.0 and cfg.host["isolation"] == "process"
    plugin = cfg.plugin("combined_v3")
    assert not plugin.enabled and plugin.version == SpecifierSet("~=3.2")
    assert plugin.ping_timeout == 0.5 and plugin.isolation == "process"
    assert plugin.table["risk_per_trade"] == 0.01
    assert cfg.sections["thresholds"] == {"p95_latency_ms": 100}


@pytest.mark.parametrize("text, message", [
    ("[host\ninterval = 1", "not valid TOML"),
    ("[host]\nintervl = 5", "host.intervl: unknown key; did you mean 'interval'?"),
    ('[host]\ninterval = "fast"', "host.interval: got 'fast'; expected a number > 0"),
    ("[host]\ninterval = 0", "host.interval: got 0; expected a number > 0"),
    ('[host]\nisolation = "thread"', "host.isolation: got 'thread'; expected one of 'inprocess', 'process'"),
    ('[plugins.x]\nversion = "~=banana"', "plugins.x.version: '~=banana' is not a PEP 440"),
    ('[plugins.x]\nenabled = "yes"', "plugins.x.enabled: got 'yes'; expected true or false"),
    ('[plugins.x]\nisolation = "vm"', "plugins.x.isolation: got 'vm'"),
    ("[plugins.x]\nping_timeout = 0", "plugins.x.ping_timeout: got 0; expected a number > 0"),
    ("plugins = 3", "plugins: must be a table"),
    ("[treshold]\na = 1", "treshold: unknown table; did you mean 'thresholds'?"),
])
def test_bad_config_names_file_key_and_fix(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value) and message in str(err.value)
    assert "\n" not in str(err.value)


def test_unreadable_bytes(tmp_path: Path) -> None:
    path = tmp_path / "zepix.toml"
    path.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ConfigError, match="cannot read|not valid TOML"):
        load_config(path)
