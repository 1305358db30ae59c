"""Silences and the delivery test (issue 28) on a real host with its HTTP API, a real
webhook receiver on loopback and the CLI in process against the same database."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.livehost import BUNDLED, live_host
from tests.retryserver import ScriptedServer
from tests.waiting import wait_until
from zepix_core.cli.main import main
from zepix_core.contract.model import AlertLevel

OFF = "".join(f"[plugins.{pid}]\nenabled = false\n" for pid in BUNDLED)


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_silenced_alert_is_recorded_not_delivered_until_removed(
        zepix_home: Path, server: Callable[..., ScriptedServer],
        capsys: pytest.CaptureFixture[str]) -> None:
    hook = server()
    config = f"[host]\ninterval = 0.5\n[alerts]\nwebhook_url = \"{hook.url}\"\n{OFF}"
    with live_host(zepix_home, config=config) as live, live.client(token=True) as http:
        alerting = live.host.monitor.alerting
        code, out, err = cli(capsys, "alerts", "silence", "zepix:maintenance", "--for", "2h",
                             "--reason", "exchange upgrade")
        assert code == 0, err
        assert "are recorded, not delivered" in out
        answer = http.post("/api/v1/silences", json={"plugin_id": "zepix", "kind": "other",
                                                     "minutes": 30, "reason": "db move"})
        assert answer.status_code == 200, answer.text
        api_silence = answer.json()["id"]
        refused = http.post("/api/v1/silences", json={"plugin_id": "zepix", "minutes": 0,
                                                      "reason": "x"})
        assert refused.status_code in (400, 422) and "minutes" in refused.text

        alerting.raise_event("zepix", "maintenance", AlertLevel.CRITICAL, "held back")
        alerting.raise_event("zepix", "loud", AlertLevel.CRITICAL, "goes out")
        wait_until(lambda: any(b"goes out" in r[3] for r in hook.requests), timeout=30)
        assert not any(b"held back" in r[3] for r in hook.requests)
        code, out, _ = cli(capsys, "alerts", "--json")
        rows = {r["kind"]: r for r in json.loads(out)}
        held = rows["maintenance"]
        assert held["delivered"] is False and held["message"] == "held back"
        [note] = held["deliveries"]
        assert note["sink"] == "silenced" and "exchange upgrade" in note["error"]

        code, out, _ = cli(capsys, "alerts", "silences", "--json")
        listed = json.loads(out)
        assert {(s["plugin_id"], s["kind"]) for s in listed} == {("zepix", "maintenance"),
                                                                   ("zepix", "other")}
        assert http.get("/api/v1/silences").json() == listed
        cli_silence = next(s["id"] for s in listed if s["kind"] == "maintenance")
        assert cli(capsys, "alerts", "unsilence", str(cli_silence))[0] == 0
        assert http.delete(f"/api/v1/silences/{api_silence}").json()["removed"] is True
        assert http.delete(f"/api/v1/silences/{api_silence}").status_code == 404
        assert http.get("/api/v1/silences").json() == []
        alerting.raise_event("zepix", "maintenance", AlertLevel.CRITICAL, "held back",
                             firing=False)
        wait_until(lambda: any(b"maintenance" in r[3] for r in hook.requests), timeout=30)
        events = {(e["kind"], e["actor"]) for e in live.host.store.events("zepix")}
        assert ("silence", "api") in events and ("unsilence", "api") in events


def test_alerts_test_says_which_sinks_delivered(
        zepix_home: Path, server: Callable[..., ScriptedServer],
        capsys: pytest.CaptureFixture[str]) -> None:
    broken = server([404] * 10)
    config = f"[host]\ninterval = 0.5\n[alerts]\nwebhook_url = \"{broken.url}\"\n{OFF}"
    with live_host(zepix_home, config=config) as live, live.client(token=True) as http:
        answer = http.post("/api/v1/alerts/test").json()
        sinks = {s["sink"].partition(":")[0]: s for s in answer["sinks"]}
        assert answer["delivered"] is False
        assert sinks["log"]["delivered"] is True
        assert sinks["webhook"]["delivered"] is False and "404" in sinks["webhook"]["error"]
        assert any(b"alert delivery works" in r[3] for r in broken.requests)
        assert "***" in sinks["webhook"]["sink"]  # the webhook's secret path stays hidden
        code, out, err = cli(capsys, "alerts", "test", "--json")  # through the running host
        assert code == 1, err
        assert {s["sink"].partition(":")[0]: s["delivered"] for s in json.loads(out)} == {
            "log": True, "webhook": False}
        assert live.host.store.alerts(plugin_id="zepix") == []  # a test is never recorded
