"""Canaries: a candidate version of ``alpha`` in a worker of its own, fed the same bars as
the active version, its intents recorded and never executed; compared side by side,
promoted, aborted by the operator, and aborted by the host on a threshold breach."""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator

import pytest

from tests import plugin_versions as pv
from tests.distfactory import DistFactory
from zepix_core import PluginState
from zepix_core.versions.canary import SHADOW

USER = getpass.getuser()


@pytest.fixture
def rig(tmp_path_factory: pytest.TempPathFactory, dists: DistFactory,
        capsys: pytest.CaptureFixture[str]) -> Iterator[pv.Rig]:
    rig = pv.Rig(tmp_path_factory, dists, capsys)
    rig.install("1.0.0")
    rig.start()
    rig.rounds(3)  # 1.0.0 passes its gate
    yield rig
    rig.close()


def status(rig: pv.Rig) -> dict:  # type: ignore[type-arg]
    code, out, err = rig.zepix("canary", "status", "alpha", "--json")
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


def test_a_canary_runs_in_shadow_on_the_same_bars_and_is_promoted(rig: pv.Rig) -> None:
    rig.install("1.1.0")
    active = rig.host.slots["alpha"]
    code, out, _ = rig.zepix("canary", "alpha", "1.1.0")
    assert code == 0 and "canary 1.1.0 in shadow beside 1.0.0" in out
    rig.rounds(1)  # the host starts it after this round's checks
    [run] = rig.host.versions.canaries.runs.values()
    assert run.runner.pid not in (None, getattr(active.runner, "pid", None))
    [request] = rig.host.store.requests("alpha")
    assert request["outcome"].startswith("started: 1.1.0 in shadow beside 1.0.0")
    before = rig.host.monitor.watched["alpha"].health.work.snapshot().calls

    rig.rounds(3)
    doc = status(rig)
    stats = doc["stats"]
    assert (doc["state"], doc["version"], doc["baseline"]) == ("running", "1.1.0", "1.0.0")
    assert stats["rounds"] == 4 and stats["breach"] is None
    theirs, ours = stats["active"], stats["candidate"]
    assert (theirs["version"], ours["version"]) == ("1.0.0", "1.1.0")
    assert ours["bars"] == theirs["bars"] > 0 and ours["errors"] == theirs["errors"] == 0
    assert ours["signals"] == theirs["signals"] == ours["bars"]
    assert ours["intents"] == theirs["intents"] > 0 and ours["p95_ms"] is not None
    assert stats["agreement"] == {"same": ours["intents"], "only_active": 0,
                                  "only_candidate": 0}
    assert (ours["status"], ours["self_test"]) == ("HEALTHY", True)
    # Shadow intents are only recorded: the active plugin's own work is what it was.
    work = rig.host.monitor.watched["alpha"].health.work.snapshot().calls
    assert work - before == theirs["bars"]
    recorded = rig.host.store.canary_intents(doc["id"], "candidate")
    assert len(recorded) == ours["intents"] and {i["reason"] for i in recorded} == {"1.1.0"}
    arms = [i["arm"] for i in doc["intents"]]  # --json carries every recorded intent
    assert arms.count("candidate") == ours["intents"] and arms.count("active") == theirs["intents"]
    code, out, _ = rig.zepix("canary", "status", "alpha")
    assert code == 0 and "on_bar p95 ms" in out and "only candidate: 0" in out

    code, out, _ = rig.zepix("canary", "promote", "alpha")
    assert code == 0 and "canary promote: 1.1.0 replaces 1.0.0" in out
    rig.rounds(1)
    assert rig.host.versions.canaries.runs == {} and not run.runner.alive()
    assert rig.running() == ("1.1.0", PluginState.ACTIVE)
    rig.rounds(3)
    assert rig.versions()["1.1.0"]["gate_passed"] is True  # promoted, then gated as usual
    newest = rig.host.store.history("alpha")[0]
    assert newest["version"] == "1.1.0"
    assert newest["activation_reason"].startswith(f"{USER}: canary promote: 1.1.0 replaces")
    assert status(rig)["state"] == "promoted"


def test_a_candidate_that_breaches_a_threshold_is_aborted_by_the_host(rig: pv.Rig) -> None:
    rig.install("1.2.0")  # its on_bar raises
    active = rig.host.slots["alpha"]
    assert rig.zepix("canary", "alpha", "1.2.0")[0] == 0
    rig.rounds(3)
    assert rig.host.versions.canaries.runs == {}
    doc = status(rig)
    assert (doc["state"], doc["end_actor"]) == ("aborted", "canary")
    assert "error rate" in doc["end_reason"] and doc["stats"]["candidate"]["errors"] > 0
    assert doc["stats"]["breach"] in doc["end_reason"]
    [alert] = [a for a in rig.host.store.alerts("alpha", unresolved=True)
               if a["kind"] == "canary"]
    assert alert["level"] == "WARNING" and "aborted automatically" in alert["message"]
    assert [e["actor"] for e in rig.events("canary_aborted")] == ["canary"]
    # The active version never noticed.
    assert rig.host.slots["alpha"] is active and active.state is PluginState.ACTIVE
    assert rig.host.monitor.watched["alpha"].health.work.snapshot().errors == 0


def test_the_operator_aborts_a_canary_and_commands_guard_an_open_one(rig: pv.Rig) -> None:
    rig.install("1.1.0", "2.0.0")
    code, _, err = rig.zepix("canary", "alpha", "1.0.0")
    assert code == 2 and "is the active version" in err
    code, _, err = rig.zepix("canary", "alpha", "2.0.0")
    assert code == 2 and "crosses a MAJOR version" in err
    assert rig.zepix("canary", "alpha", "1.1.0")[0] == 0
    code, _, err = rig.zepix("canary", "alpha", "2.0.0", "--force")
    assert code == 2 and "a canary of 1.1.0 is already open" in err
    code, _, err = rig.zepix("upgrade", "alpha", "1.1.0")
    assert code == 2 and "promote|abort" in err
    rig.rounds(1)
    [run] = rig.host.versions.canaries.runs.values()
    assert run.runner.plugin_id == "alpha" + SHADOW

    code, out, _ = rig.zepix("canary", "abort", "alpha")
    assert code == 0 and "canary abort: 1.1.0 stop requested" in out
    assert "stops the shadow worker at its next round" in out
    rig.rounds(1)
    assert rig.host.versions.canaries.runs == {} and not run.runner.alive()
    doc = status(rig)
    assert (doc["state"], doc["end_actor"]) == ("aborted", USER)
    assert [e["actor"] for e in rig.events("canary_aborted")] == [USER]  # not canary_abortd
    assert rig.running() == ("1.0.0", PluginState.ACTIVE)
    code, _, err = rig.zepix("canary", "abort", "alpha")
    assert code == 2 and "no canary is open" in err


def test_a_canary_recorded_without_a_host_starts_with_the_next_one(rig: pv.Rig) -> None:
    rig.install("1.1.0")
    rig.host.shutdown()
    assert rig.zepix("canary", "alpha", "1.1.0")[0] == 0
    assert status(rig)["state"] == "requested"
    rig.start()
    rig.rounds(1)
    assert status(rig)["state"] == "running"
    assert list(rig.host.versions.canaries.runs) == ["alpha"]


def test_a_canarys_intents_are_shadow_never_handed_out_and_cannot_be_filled(
        rig: pv.Rig) -> None:
    from zepix_core import Fill, IntentError

    rig.install("1.1.0")
    assert rig.zepix("canary", "alpha", "1.1.0")[0] == 0
    rig.rounds(1)  # the host starts the canary after this round's checks
    handed = []
    while rig.host.market.steps < 400 and not handed:
        for bar in rig.host.market.next_bars():
            handed += rig.host.on_bar(bar)
    assert handed and all(i.plugin_id == "alpha" and not i.shadow for i in handed)
    remembered = rig.host.trades.intents.values()
    shadow = [i for i in remembered if i.shadow]
    assert shadow and all(i.plugin_id == "alpha" + SHADOW for i in shadow)
    with pytest.raises(IntentError, match="shadow intent is never to be executed"):
        rig.host.report_fill(Fill(shadow[0].id, shadow[0].quantity, 100.0, 0.0))
    assert rig.host.report_fill(Fill(handed[0].id, handed[0].quantity, 100.0, 0.0)).id == \
        handed[0].id
