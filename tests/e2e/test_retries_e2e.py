"""The retry issue's closing scenario: a host run whose webhook answers 503, 503,
200 and then 401, read back with the real ``zepix retries`` and ``zepix alerts``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.retryserver import ScriptedServer
from tests.waiting import wait_for
from zepix_core.contract.errors import ConfigError
from zepix_core.contract.model import AlertLevel
from zepix_core.health.alerting import HOST_ALERTS
from zepix_core.host.host import Host, create_host
from zepix_core.storage import Store


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ZEPIX_HOME", str(tmp_path))
    monkeypatch.setenv("ZEPIX_DB", str(tmp_path / "zepix.db"))
    (tmp_path / "no-plugins").mkdir()
    return tmp_path


@pytest.fixture
def server() -> Iterator[Callable[[list[Any]], ScriptedServer]]:
    started: list[ScriptedServer] = []

    def start(replies: list[Any]) -> ScriptedServer:
        started.append(ScriptedServer(replies))
        return started[-1]

    yield start
    for s in started:
        s.stop()


def config(home: Path, url: str, extra: str = "") -> Path:
    path = home / "zepix.toml"
    path.write_text(f"""
[alerts]
webhook_url = "{url}"
webhook_headers_env = "TEST_WEBHOOK_HEADERS"

[retry]
alert_after = 2

[retry."sink.webhook"]
base = 0.05
max_delay = 0.2
{extra}
""")
    return path


def host_for(home: Path, cfg: Path) -> Host:
    return create_host(cfg, home / "zepix.db", paths=[str(home / "no-plugins")])


def zepix(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ZEPIX_HOME": str(home), "ZEPIX_DB": str(home / "zepix.db")}
    return subprocess.run([sys.executable, "-m", "zepix_core.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.slow
def test_a_run_against_503_503_200_then_401_shows_in_zepix_retries(
        home: Path, server: Callable[[list[Any]], ScriptedServer],
        monkeypatch: pytest.MonkeyPatch) -> None:
    s = server([503, 503, 200, 401])
    monkeypatch.setenv("TEST_WEBHOOK_HEADERS", "Authorization: Bearer s3cret")
    host = host_for(home, config(home, s.url))

    def alerts(summary: str) -> None:   # after the first round, which resolves leftovers
        alerting = host.monitor.alerting
        alerting.raise_event("host", "first", AlertLevel.WARNING, "first alert")
        assert wait_for(lambda: len(s.requests) == 3)
        alerting.raise_event("host", "second", AlertLevel.WARNING, "second alert")
        assert wait_for(lambda: len(s.requests) == 4)
        assert wait_for(lambda: len(host.retrier.stats.outcomes) == 2)

    host.run(once=True, interval=0.1, on_round=alerts)
    assert all(r[2]["Authorization"] == "Bearer s3cret" for r in s.requests)

    done = zepix(home, "retries", "--json")
    assert done.returncode == 0, done.stderr
    report = {r["operation"]: r for r in json.loads(done.stdout)}
    webhook = report["sink.webhook"]
    assert {k: webhook[k] for k in ("attempts", "first_try_successes", "retry_successes",
                                    "exhausted", "permanent_failures")} == {
        "attempts": 4, "first_try_successes": 0, "retry_successes": 1, "exhausted": 0,
        "permanent_failures": 1}
    assert webhook["by_category"]["transient"]["failures"] == 2
    assert webhook["by_category"]["permanent"] == {"failures": 1, "gave_up": 1,
                                                   "total_delay": 0.0}
    assert "HTTP 401" in webhook["last_error"] and webhook["last_error_at"].endswith("+00:00")
    assert webhook["policy"]["base"] == 0.05                 # from [retry."sink.webhook"]
    assert report["sync"]["attempts"] == 0                   # every operation is listed

    stored = Store(home / "zepix.db")
    rows = [d for ds in stored.deliveries([a["id"] for a in stored.alerts()]).values()
            for d in ds]
    assert len(rows) == 4                             # two alerts, log and webhook each
    assert not [d for d in rows if "secretpath" in f"{d['sink']} {d['error']}"]
    shown = zepix(home, "alerts", "--json")
    assert "secretpath" not in shown.stdout and "s3cret" not in shown.stdout
    sinks = {d["sink"] for a in json.loads(shown.stdout) for d in a["deliveries"]}
    assert sinks == {"log", f"webhook:http://127.0.0.1:{s.port}/***"}

    table = zepix(home, "retries")
    assert "sink.webhook" in table.stdout and "transient=2 permanent=1" in table.stdout
    reset = zepix(home, "retries", "--reset")
    assert reset.returncode == 0 and "1 operation" in reset.stdout
    after = json.loads(zepix(home, "retries", "--json").stdout)
    assert all(r["attempts"] == 0 and r["last_error"] is None for r in after)


@pytest.mark.slow
def test_exhausted_retries_in_a_row_raise_a_host_alert(
        home: Path, server: Callable[[list[Any]], ScriptedServer]) -> None:
    s = server([503] * 50)
    host = host_for(home, config(home, s.url, "max_attempts = 2"))

    def alerts(summary: str) -> None:   # after the first round, which resolves leftovers
        for kind in ("a", "b"):
            host.monitor.alerting.raise_event(HOST_ALERTS, kind, AlertLevel.WARNING, kind)
        assert wait_for(lambda: host.retrier.stats.streak("sink.webhook") >= 2)
        assert wait_for(lambda: Store(home / "zepix.db").alerts(plugin_id=HOST_ALERTS,
                                                                 unresolved=True))

    host.run(once=True, interval=0.1, on_round=alerts)
    # One id for every host alert, the one the docs give (``zepix:database``).
    streak = [a for a in Store(home / "zepix.db").alerts(plugin_id="zepix")
              if a["kind"] == "retry:sink.webhook"]
    assert streak and streak[0]["level"] == "HIGH"
    assert "retries exhausted 2 times in a row" in streak[0]["message"]
    assert "HTTP 503" in streak[0]["message"]


def test_a_bad_retry_table_is_a_config_error_naming_the_file(home: Path) -> None:
    cfg = home / "zepix.toml"
    cfg.write_text('[retry."sync"]\nmax_attempts = 0\n')
    with pytest.raises(ConfigError, match=r"zepix.toml:\d+: retry.sync.max_attempts: got 0"):
        host_for(home, cfg)
    done = zepix(home, "retries", "--config", str(cfg))  # a view shows, and warns
    assert done.returncode == 0 and done.stderr.startswith("zepix: warning: ")
    assert "max_attempts" in done.stderr and done.stderr.count("\n") == 1


@pytest.mark.parametrize(("line", "message"), [
    ("webhook_timeout = 0", "alerts.webhook_timeout: got 0; expected a number > 0"),
    ('webhook_timeout = "10"', "alerts.webhook_timeout: got '10'"),
    ("webhook_headers_file = 3", "alerts.webhook_headers_file: got 3; expected a path string"),
    ('webhook_headers_file = "/nonexistent/headers"',
     "alerts.webhook_headers_file: cannot read /nonexistent/headers"),
])
def test_bad_webhook_settings_are_config_errors(home: Path, line: str, message: str) -> None:
    cfg = home / "zepix.toml"
    cfg.write_text(f'[alerts]\nwebhook_url = "http://127.0.0.1:9/x"\n{line}\n')
    with pytest.raises(ConfigError, match=message):
        host_for(home, cfg)
