"""A pin moved in the config file of a running host goes through the version gate."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import tests.plugin_versions as pv
from tests.distfactory import DistFactory
from zepix_core import PluginState
from zepix_core.loading.paths import data_dir


@pytest.fixture
def rig(tmp_path_factory: pytest.TempPathFactory, dists: DistFactory,
        capsys: pytest.CaptureFixture[str]) -> Iterator[pv.Rig]:
    rig = pv.Rig(tmp_path_factory, dists, capsys)
    rig.install("1.0.0", "1.1.0")
    yield rig
    rig.close()


def test_a_pin_moved_to_another_installed_version_goes_through_the_gate(rig: pv.Rig) -> None:
    config = data_dir() / "zepix.toml"
    config.write_text(config.read_text(encoding="utf-8")
                      + '\n[plugins.alpha]\nversion = "==1.0.0"\n', encoding="utf-8")
    rig.start()
    rig.rounds(3)  # 1.0.0, the pinned one, passes its gate
    assert rig.running() == ("1.0.0", PluginState.ACTIVE)

    config.write_text(config.read_text(encoding="utf-8").replace('"==1.0.0"', '"==1.1.0"'),
                      encoding="utf-8")
    rig.host.reconfig.force = True  # as SIGHUP or `zepix config reload` would
    rig.host.reconfig.poll()
    [change] = [c for c in rig.host.store.config_changes()
                if c["key"] == "plugins.alpha.version"]
    assert "requested 1.1.0 through the version gate" in str(change["reason"])
    rig.rounds(1)  # the host applies the request like an upgrade
    assert rig.running() == ("1.1.0", PluginState.ACTIVE)
    rig.rounds(3)  # healthy rounds: the new version earns its gate
    passed = rig.events("gate_passed")
    assert passed and "1.1.0 passed its gate" in passed[-1]["detail"]


def test_a_host_starts_the_installed_version_its_pin_admits(rig: pv.Rig) -> None:
    config = data_dir() / "zepix.toml"
    config.write_text(config.read_text(encoding="utf-8")
                      + '\n[plugins.alpha]\nversion = "<1.1"\n', encoding="utf-8")
    rig.start()  # 1.1.0 is newer, but the pin admits only 1.0.0
    assert rig.running() == ("1.0.0", PluginState.ACTIVE)
