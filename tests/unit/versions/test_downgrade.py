"""A move to a lower version is called a downgrade and recorded as one (issue 28, the
seeds' gap: ``zepix upgrade`` to a lower version was silently called an upgrade)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import plugin_versions as pv
from tests.distfactory import DistFactory
from zepix_core.contract.model import PluginState


@pytest.fixture
def rig(tmp_path_factory: pytest.TempPathFactory, dists: DistFactory,
        capsys: pytest.CaptureFixture[str]) -> Iterator[pv.Rig]:
    rig = pv.Rig(tmp_path_factory, dists, capsys)
    yield rig
    rig.close()


def test_a_lower_version_is_a_downgrade(rig: pv.Rig) -> None:
    rig.install("1.0.0")
    rig.start()
    rig.rounds(3)
    rig.install("1.1.0")
    code, out, err = rig.zepix("upgrade", "alpha", "1.1.0")
    assert code == 0 and "upgrade 1.0.0 -> 1.1.0" in out, err
    rig.rounds(4)
    assert rig.running() == ("1.1.0", PluginState.ACTIVE)
    code, out, err = rig.zepix("upgrade", "alpha", "1.0.0")
    assert code == 0, err
    assert "downgrade 1.1.0 -> 1.0.0" in out and "upgrade 1.1.0" not in out
    [event] = rig.events("downgrade_requested")
    assert "downgrade 1.1.0 -> 1.0.0" in event["detail"]
    assert all("downgrade" not in e["detail"] for e in rig.events("upgrade_requested"))
    rig.rounds(1)
    assert rig.running() == ("1.0.0", PluginState.ACTIVE)
    newest = rig.host.store.history("alpha")[0]
    assert "downgrade 1.1.0 -> 1.0.0" in newest["activation_reason"]
