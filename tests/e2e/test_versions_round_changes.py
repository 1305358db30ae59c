"""What the versions' round (``HostVersions.reconcile``) decides when it looks only at
what can have changed (issue 26): the deprecation alert is raised only for plugins
that run a deprecated version or have that alert open, and the quiet probations of
start-up end in one transaction. These pin that the decisions are those of a
round that looked at every plugin: a deprecation marked by another command is
seen at the next round, its undo resolves the alert, and an alert a previous
host left open is resolved by the next host once the version is no longer
deprecated.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import plugin_versions as pv
from tests.distfactory import DistFactory
from zepix_core.storage import Store


@pytest.fixture
def rig(tmp_path_factory: pytest.TempPathFactory, dists: DistFactory,
        capsys: pytest.CaptureFixture[str]) -> Iterator[pv.Rig]:
    rig = pv.Rig(tmp_path_factory, dists, capsys)
    yield rig
    rig.close()


def _open(store: Store) -> dict[str, str]:
    """Open alerts: plugin id -> kind, of the deprecation alert only."""
    return {str(a["plugin_id"]): str(a["message"]) for a in store.alerts(unresolved=True)
            if a["kind"] == "deprecated_version"}


def _resolved(store: Store, plugin_id: str) -> int:
    return sum(1 for a in store.alerts(plugin_id)
               if a["kind"] == "deprecated_version" and a["resolved"])


def test_a_deprecation_from_a_command_fires_next_round_and_its_undo_resolves(
        rig: pv.Rig) -> None:
    rig.install("1.0.0")
    rig.start()
    rig.rounds(3)
    versions = rig.versions()
    assert versions["1.0.0"]["gate_passed"] is True  # the quiet start-up probation passed
    assert rig.versions("beta")["1.0.0"]["gate_passed"] is True
    assert not rig.host.store.probations()
    assert _open(rig.host.store) == {}

    assert rig.zepix("deprecate", "alpha", "1.0.0")[0] == 0  # its own connection
    rig.rounds(1)
    opened = _open(rig.host.store)
    assert list(opened) == ["alpha"] and "alpha runs 1.0.0, which is deprecated" in opened["alpha"]
    rig.rounds(2)  # still firing, not fired again within the cooldown
    assert list(_open(rig.host.store)) == ["alpha"]
    assert len([a for a in rig.host.store.alerts("alpha")
                if a["kind"] == "deprecated_version"]) == 1

    assert rig.zepix("deprecate", "alpha", "1.0.0", "--undo")[0] == 0
    rig.rounds(1)
    assert _open(rig.host.store) == {} and _resolved(rig.host.store, "alpha") == 1


def test_an_alert_a_previous_host_left_open_is_resolved_once_not_deprecated(
        rig: pv.Rig) -> None:
    rig.install("1.0.0")
    rig.start()
    rig.rounds(3)
    assert rig.zepix("deprecate", "alpha", "1.0.0")[0] == 0
    rig.rounds(1)
    rig.host.shutdown()  # a firing alert stays open across a restart
    assert list(_open(rig.hosts[0].store)) == ["alpha"]

    assert rig.zepix("deprecate", "alpha", "1.0.0", "--undo")[0] == 0  # no host runs
    rig.start()
    assert rig.running()[0] == "1.0.0"  # active: only the versions' round resolves it
    assert list(_open(rig.host.store)) == ["alpha"]
    rig.rounds(1)
    assert _open(rig.host.store) == {} and _resolved(rig.host.store, "alpha") == 1
