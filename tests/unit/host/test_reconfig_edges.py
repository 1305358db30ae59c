"""[http] changed in a running host's file: the server moves to the new table at once."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import zepix_core
from tests.distfactory import DistFactory, good_plugin


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/plugins", timeout=10) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def test_a_new_http_listen_restarts_the_server_there(
        tmp_path: Path, dists: DistFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZEPIX_HTTP_LISTEN")  # the file decides here
    dists.add("zepix-good", "1.0.0", {"good": "good_mod:Plugin"}, {"good_mod": good_plugin()})
    first, second = _free_port(), _free_port()
    config = tmp_path / "zepix.toml"
    config.write_text(f'[host]\ninterval = 30\n\n[http]\nlisten = "127.0.0.1:{first}"\n',
                      encoding="utf-8")
    with zepix_core.open_host(config, tmp_path / "z.db", paths=[str(dists.root)]) as embedded:
        host = embedded.host
        assert _answers(first)
        config.write_text(config.read_text(encoding="utf-8").replace(str(first), str(second)),
                          encoding="utf-8")
        with host.supervisor.loop.busy:  # as the round thread polls, between rounds
            host.reconfig.force = True
            host.reconfig.poll()
        assert _answers(second) and not _answers(first)
        [change] = [c for c in host.store.config_changes() if c["key"] == "http.listen"]
        assert f"the HTTP server restarted on http://127.0.0.1:{second}/" in str(
            change["reason"])
        config.write_text(config.read_text(encoding="utf-8").replace(
            f'"127.0.0.1:{second}"', '""'), encoding="utf-8")
        with host.supervisor.loop.busy:
            host.reconfig.force = True
            host.reconfig.poll()
        assert not _answers(second)


def test_thresholds_and_the_alert_cooldown_apply_to_watched_plugins_at_once(
        tmp_path: Path, dists: DistFactory) -> None:
    dists.add("zepix-good", "1.0.0", {"good": "good_mod:Plugin"}, {"good_mod": good_plugin()})
    config = tmp_path / "zepix.toml"
    config.write_text("[host]\ninterval = 30\n", encoding="utf-8")
    with zepix_core.open_host(config, tmp_path / "z.db", paths=[str(dists.root)]) as embedded:
        host = embedded.host
        before = host.monitor.watched["good"].limits.p95_latency_ms
        config.write_text("[host]\ninterval = 30\n\n[thresholds]\np95_latency_ms = 123\n\n"
                          "[alerts]\ncooldown = 7\nwebhook_url = \"http://127.0.0.1:9/x\"\n",
                          encoding="utf-8")
        with host.supervisor.loop.busy:
            host.reconfig.force = True
            host.reconfig.poll()
        assert before != 123 and host.monitor.watched["good"].limits.p95_latency_ms == 123
        assert host.monitor.alerting.manager.cooldown == 7.0
        changes = {c["key"]: c for c in host.store.config_changes()}
        reasons = {key: str(c["reason"]) for key, c in changes.items()}
        assert reasons["alerts.webhook_url"].startswith("recorded, applies at restart")
        assert changes["alerts.webhook_url"]["status"] == "recorded"
        assert changes["alerts.webhook_url"]["new"] == "http://127.0.0.1:9/***"  # secret
        assert changes["alerts.cooldown"]["old"] == 300.0  # the default, not null
        assert reasons["alerts.cooldown"] == "applied live"
