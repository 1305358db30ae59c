"""Who may reach the HTTP API (contract section 20), through a real loopback server:
a DNS-rebinding Host gets 421, the viewer token reads and never changes, and
``reads_need_token`` (forced on a non-loopback address) closes every read to a
request without either token while the dashboard keeps working with either."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.chromium import chromium
from tests.livehost import BUNDLED, Live, live_host, wait_until
from zepix_core.api import read_settings
from zepix_core.contract.errors import ConfigError

FAST = "[host]\nwarmup_bars = 20\nbars_per_round = 2\n"
VIEWER = "viewer-token-0123456789"


def roles_config(home: Path, extra: str = "") -> str:
    (home / "viewer-token").write_text(VIEWER + "\n", encoding="utf-8")
    return (FAST + "[http]\nreads_need_token = true\n"
            f"viewer_token_file = \"{home / 'viewer-token'}\"\n" + extra)


def port(live: Live) -> int:
    return live.server.port


def test_a_dns_rebinding_host_gets_421_and_reads_nothing(zepix_home: Path) -> None:
    config = FAST + "[http]\nallowed_hosts = [\"zepix.example.org\"]\n"
    with live_host(zepix_home, config=config) as live, live.client() as http:
        for host in (f"attacker.example:{port(live)}", "attacker.example",
                     f"localhost.attacker.example:{port(live)}", ""):
            answer = http.get("/api/v1/plugins", headers={"Host": host})
            assert answer.status_code == 421, host
            assert "allowed_hosts" in answer.json()["error"]
            assert "combined_v3" not in answer.text
        posted = http.post("/api/v1/retries/reset", headers={
            "Host": f"attacker.example:{port(live)}", "Authorization": f"Bearer {live.token}"})
        assert posted.status_code == 421
        for host in (f"127.0.0.1:{port(live)}", f"localhost:{port(live)}", "LOCALHOST",
                     f"zepix.example.org:{port(live)}", "zepix.example.org."):
            answer = http.get("/api/v1/plugins", headers={"Host": host})
            assert answer.status_code == 200, host
            assert sorted(p["id"] for p in answer.json()) == list(BUNDLED)


def test_the_viewer_token_reads_and_never_changes(zepix_home: Path) -> None:
    with live_host(zepix_home, config=roles_config(zepix_home)) as live, \
            live.client() as http:
        viewer = {"Authorization": f"Bearer {VIEWER}"}
        admin = {"Authorization": f"Bearer {live.token}"}
        for path in ("/api/v1/plugins", "/api/v1/health", "/api/v1/history", "/metrics",
                     "/healthz"):
            assert http.get(path).status_code == 401, path
            assert http.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
            assert http.get(path, headers=viewer).status_code == 200, path
            assert http.get(path, headers=admin).status_code == 200, path
        # The pages that hold no data load without a token (they send the one given).
        assert http.get("/").status_code == 200 and http.get("/docs").status_code == 200
        before = http.get("/api/v1/history", headers=admin).json()
        refused = http.post("/api/v1/plugins/combined_v3/restart", headers=viewer)
        assert refused.status_code == 403
        assert "viewer token may read" in refused.json()["error"]
        assert http.post("/api/v1/retries/reset", headers=viewer).status_code == 403
        assert http.post("/api/v1/retries/reset").status_code == 401
        assert http.get("/api/v1/history", headers=admin).json() == before
        assert http.post("/api/v1/retries/reset", headers=admin).status_code == 200


def test_reads_need_no_token_on_loopback_by_default(zepix_home: Path) -> None:
    with live_host(zepix_home, config=FAST) as live, live.client() as http:
        assert http.get("/api/v1/plugins").status_code == 200
        assert http.post("/api/v1/retries/reset").status_code == 401


def test_reads_need_token_is_forced_on_a_non_loopback_address(
        zepix_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "token"
    secret.write_text("admin-token\n", encoding="utf-8")
    table = {"listen": "0.0.0.0:8787", "token_file": str(secret), "reads_need_token": False}
    monkeypatch.delenv("ZEPIX_HTTP_LISTEN")
    settings = read_settings(table, zepix_home)
    assert settings is not None and settings.reads_need_token
    loopback = read_settings({"listen": "127.0.0.1:8787"}, zepix_home)
    assert loopback is not None and not loopback.reads_need_token
    with pytest.raises(ConfigError, match="reads_need_token"):
        read_settings({"reads_need_token": "yes"}, zepix_home)
    with pytest.raises(ConfigError, match="allowed_hosts"):
        read_settings({"allowed_hosts": "example.org"}, zepix_home)
    with pytest.raises(ConfigError, match="equals the API token"):
        read_settings({"token_file": str(secret), "viewer_token_file": str(secret)},
                      zepix_home)


@pytest.mark.slow
@pytest.mark.parametrize("who", ["viewer", "admin"])
def test_the_dashboard_works_with_either_token(zepix_home: Path, tmp_path: Path,
                                               who: str) -> None:
    driver = chromium(tmp_path / "chromium-profile")
    try:
        with live_host(zepix_home, config=roles_config(zepix_home)) as live:
            token = VIEWER if who == "viewer" else live.token
            driver.get(f"{live.url}/?every=0.5&hours=1#token={token}")
            shown = wait_until(lambda: driver.execute_script(
                "return [...document.querySelectorAll('#plugins tbody tr')]"
                ".map(tr => tr.dataset.plugin);"), timeout=60)
            assert sorted(shown) == list(BUNDLED)
            assert token not in driver.current_url  # the fragment is cleared
            # Without the token the same page reads nothing (its reads get 401).
            assert httpx.get(f"{live.url}/api/v1/plugins").status_code == 401
    finally:
        driver.quit()
