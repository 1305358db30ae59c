"""The HTTP API of a real running host, through a real loopback server.

Reads answer with the same documents as the CLI's ``--json``; every error is
``{"error": ...}``; mutations need the bearer token and are recorded as
``api``; persist-now writes at once; a port in use stops ``zepix run`` with
one line.
"""

from __future__ import annotations

import io
import json
import os
import socket
import stat
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.distfactory import DistFactory, good_plugin
from tests.livehost import BUNDLED, live_host, wait_until
from zepix_core.api import Context, build_app, read_settings
from zepix_core.cli.main import main
from zepix_core.contract.errors import ConfigError
from zepix_core.host.host import create_host

FAST = "[host]\nwarmup_bars = 20\nbars_per_round = 2\n"


def cli(*args: str) -> Any:
    out = io.StringIO()
    with redirect_stdout(out):
        assert main([*args, "--json"]) == 0
    return json.loads(out.getvalue())


def test_reads_answer_with_the_cli_documents(zepix_home: Path) -> None:
    with live_host(zepix_home, config=FAST) as live, live.client() as http:
        wait_until(lambda: live.host.monitor.rounds >= 2)
        assert http.get("/healthz").status_code == 200
        plugins = http.get("/api/v1/plugins").json()
        assert sorted(p["id"] for p in plugins) == list(BUNDLED)
        assert all(p["state"] == "ACTIVE" and p["running"] for p in plugins)
        # Documents read from the database: the very same as the CLI prints.
        for path, args in (("/api/v1/history", ("history",)),
                           ("/api/v1/alerts", ("alerts",)),
                           ("/api/v1/versions/combined_v3", ("versions", "combined_v3")),
                           ("/api/v1/retries", ("retries",))):
            # The gate may pass between the two reads; both must agree once it settles.
            assert wait_until(lambda p=path, a=args: http.get(p).json() == cli(*a)), path
        health = http.get("/api/v1/health").json()
        assert {s["plugin_id"] for s in health} == set(BUNDLED)
        one = http.get("/api/v1/health/combined_v3").json()
        assert one["plugin_id"] == "combined_v3" and one["timestamp"].endswith("+00:00")
        rows = http.get("/api/v1/health/combined_v3/history", params={"hours": 1}).json()
        assert len(rows) >= 2 and {"p95_ms", "error_rate", "status"} <= rows[0].keys()
        assert http.get("/api/v1/health/unhealthy").json() == []
        assert http.get("/api/v1/incidents").json() == []
        breakers = http.get("/api/v1/breakers").json()
        assert [b["state"] for b in breakers] == ["CLOSED"] * 5
        assert http.get("/api/v1/breakers/combined_v3").json()["plugin_id"] == "combined_v3"


def test_every_error_is_json_with_its_status(zepix_home: Path) -> None:
    with live_host(zepix_home, config=FAST) as live, live.client() as http:
        cases = [("/api/v1/health/nope", 404), ("/api/v1/health/nope/history", 404),
                 ("/api/v1/breakers/nope", 404), ("/api/v1/versions/nope", 404),
                 ("/api/v1/incidents?hours=0", 400), ("/api/v1/incidents?hours=169", 400),
                 ("/api/v1/health/combined_v3/history?hours=abc", 400),
                 ("/no/such/path", 404)]
        for path, status in cases:
            answer = http.get(path)
            assert answer.status_code == status, path
            assert set(answer.json()) == {"error"} and answer.json()["error"], path
        assert http.get("/api/v1/incidents?hours=168").status_code == 200
        assert "access-control-allow-origin" not in http.get(
            "/api/v1/health", headers={"Origin": "http://evil.example"}).headers


def test_mutations_need_the_token_and_are_recorded_as_api(zepix_home: Path) -> None:
    with live_host(zepix_home, config=FAST) as live:
        mode = stat.S_IMODE(os.stat(zepix_home / "api-token").st_mode)
        assert mode == 0o600
        with live.client() as anonymous:
            for path in ("/api/v1/snapshots", "/api/v1/plugins/combined_v3/restart",
                         "/api/v1/breakers/combined_v3/reset"):
                answer = anonymous.post(path)
                assert answer.status_code == 401 and "bearer" in answer.json()["error"].lower()
            wrong = anonymous.post("/api/v1/snapshots", headers={"Authorization": "Bearer x"})
            assert wrong.status_code == 401
        with live.client(token=True) as http:
            restart = http.post("/api/v1/plugins/price_action_1m/restart").json()
            assert restart["actor"] == "api" and restart["action"] == "restart"
            store = live.host.store
            applied = wait_until(lambda: (r := store.request(restart["id"]))
                                 and r["applied_at"] and r)
            assert applied["outcome"] == "ACTIVE"
            story = http.get("/api/v1/history", params={"events": "true",
                                                        "plugin_id": "price_action_1m"}).json()
            assert any(e["kind"] == "operator_restart" and e["actor"] == "api" for e in story)
            reset = http.post("/api/v1/breakers/combined_v3/reset")
            assert reset.status_code == 200 and reset.json()["state"] == "CLOSED"
            assert http.post("/api/v1/plugins/nope/restart").status_code == 404
            bad = http.post("/api/v1/plugins/combined_v3/upgrade", json={"version": "9.9.9"})
            assert bad.status_code == 409 and "9.9.9" in bad.json()["error"]
            assert http.post("/api/v1/plugins/combined_v3/upgrade",
                             json={"nope": 1}).status_code == 400
            huge = http.post("/api/v1/plugins/combined_v3/upgrade",
                             content=b"{" + b" " * 70_000 + b"}",
                             headers={"Content-Type": "application/json"})
            assert huge.status_code == 413 and "error" in huge.json()


def test_persist_now_writes_a_snapshot_of_every_plugin_at_once(zepix_home: Path) -> None:
    with live_host(zepix_home, config=FAST, interval=30) as live, live.client(True) as http:
        before = {pid: len(live.host.store.snapshots(pid, 1000)) for pid in BUNDLED}
        written = http.post("/api/v1/snapshots").json()
        assert sorted(s["plugin_id"] for s in written) == list(BUNDLED)
        after = {pid: len(live.host.store.snapshots(pid, 1000)) for pid in BUNDLED}
        assert all(after[pid] == before[pid] + 1 for pid in BUNDLED)
        newest = http.get("/api/v1/health/combined_v3").json()
        assert newest["persisted"] == "on request" and newest["calls"] > 0


def test_a_restarted_host_reloads_latency_and_error_windows(zepix_home: Path) -> None:
    config = zepix_home / "zepix.toml"
    config.write_text(FAST, encoding="utf-8")

    def one_run() -> dict[str, Any]:
        host = create_host(config, zepix_home / "zepix.db")
        host.run(once=True)
        snap = host.store.latest_snapshot("combined_v3")
        host.store.close()
        assert snap is not None
        return snap

    first, second = one_run(), one_run()
    assert first["calls"] > 0 and first["latency_ms"]["p95"] is not None
    # The second host's window holds the first host's calls as well as its own.
    assert second["calls"] >= 2 * first["calls"] - 1


def test_a_port_in_use_is_one_line_and_exit_2(zepix_home: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "ZEPIX_HTTP_LISTEN": f"127.0.0.1:{port}"}
        run = subprocess.run([str(Path(sys.executable).with_name("zepix")), "run", "--once"],
                             env=env, capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "already in use" in run.stderr, run.stderr
    assert run.stdout == ""


def test_token_sources_and_non_loopback_rules(zepix_home: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZEPIX_HTTP_LISTEN")
    with pytest.raises(ConfigError, match="not a loopback address"):
        read_settings({"listen": "0.0.0.0:8787"}, zepix_home)
    assert read_settings({"listen": ""}, zepix_home) is None
    with pytest.raises(ConfigError, match="HOST:PORT"):
        read_settings({"listen": "8787"}, zepix_home)
    secret = tmp_path / "token"
    secret.write_text("from-file\n", encoding="utf-8")
    settings = read_settings({"listen": "0.0.0.0:8787", "token_file": str(secret)}, zepix_home)
    assert settings is not None and settings.token == "from-file" and not settings.loopback
    monkeypatch.setenv("ZEPIX_API_TOKEN", "from-env")
    settings = read_settings({"listen": "10.1.2.3:8787", "token_file": str(secret)}, zepix_home)
    assert settings is not None and settings.token == "from-env"
    # On a non-loopback address reads need the token too.
    host = create_host(None, zepix_home / "zepix.db")
    app = build_app(Context(host, host.store, settings, 1.0))
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]

    async def get(headers: dict[str, str]) -> int:
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            return (await client.get("/api/v1/health", headers=headers)).status_code

    import asyncio

    assert asyncio.run(get({})) == 401
    assert asyncio.run(get({"Authorization": "Bearer from-env"})) == 200
    host.store.close()


def test_a_hung_plugin_shows_in_unhealthy_and_incidents(zepix_home: Path,
                                                         dists: DistFactory) -> None:
    flag = zepix_home / "hang"
    from tests.livehost import hanger

    config = FAST + "[plugins.stuck]\nping_timeout = 0.3\n"
    with live_host(zepix_home, dists, config, plugins={"stuck": hanger(flag),
                                                       "fine": good_plugin()}) as live:
        flag.touch()
        with live.client() as http:
            bad = wait_until(lambda: http.get("/api/v1/health/unhealthy").json())
            assert [s["plugin_id"] for s in bad] == ["stuck"]
            flag.unlink()
            found = wait_until(lambda: [p for p in http.get("/api/v1/incidents").json()
                                        if p["ended_at"]])
            assert found[0]["plugin_id"] == "stuck" and found[0]["worst"] in ("HUNG", "DEGRADED")


def test_zepix_run_serves_the_api_and_says_where(zepix_home: Path) -> None:
    (zepix_home / "zepix.toml").write_text(FAST, encoding="utf-8")
    run = subprocess.Popen([str(Path(sys.executable).with_name("zepix")), "run",
                            "--duration", "30", "--interval", "0.5"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert run.stdout is not None
        url = next(line.split(": ", 1)[1].strip() for line in run.stdout
                   if line.startswith("HTTP API and dashboard: "))
        with httpx.Client(base_url=url, timeout=30) as http:
            wait_until(lambda: http.get("/healthz").status_code == 200)
            assert "zepix_rounds_total" in http.get("/metrics").text
            assert http.post("/api/v1/snapshots").status_code == 401
            assert "<title>Zepix</title>" in http.get("/").text
    finally:
        run.terminate()
        out, err = run.communicate(timeout=60)
    assert run.returncode == 0, err[-2000:]
    assert "shut down cleanly" in out


def test_post_sync_starts_a_sync_recorded_as_api(zepix_home: Path) -> None:
    with live_host(zepix_home, config=FAST) as live, live.client(token=True) as http:
        started = http.post("/api/v1/sync")
        assert started.status_code == 200 and started.json() == {"started": True,
                                                                 "trigger": "api"}
        runs = wait_until(lambda: [r for r in live.host.store.sync_runs()
                                   if r["trigger"] == "api" and r["ended_at"]])
        assert runs[0]["ok"] == 1
