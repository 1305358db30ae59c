"""The dashboard as an operator's desk in a real headless Chromium (issue 28 item 4):
one host and one browser for the whole module, the tests in order.

- Per plugin, an equity sparkline (realised P&L over time) whose points are checked
  against the plugin's own database read with sqlite3 here, and a restart count
  checked against the history.
- The host panel: version, uptime, round age, sync lag, and whether Telegram (a Bot
  API stand-in on loopback) and Alertmanager (a closed loopback port) are reachable.
- Available store versions and the gate/probation state of the running one.
- Controls behind the operator token, each with a confirmation: restart (shows in
  the history, one timeline line), upgrade and rollback (the running version
  changes), silence (listed by the API); the viewer token sees none and gets 403.

``ZEPIX_UPDATE_SCREENSHOTS=1`` writes docs/images/ops-*.png (palette PNGs).
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By

import tests.chromium
from tests.distfactory import DistFactory, good_plugin
from tests.livehost import BUNDLED, Live, hanger, live_host, wait_until
from tests.paths import ROOT
from tests.plugin_versions import handmade_wheel
from tests.servers import free_port
from tests.telegram_standin import StandIn
from zepix_core.sync.manager import plugin_databases

pytestmark = pytest.mark.slow

DOCS = ROOT / "docs" / "images"
RED = "rgb(211, 47, 47)"
VIEWER = "viewer-token-of-the-ops-desk"
BOT_TOKEN = "4242:ops-desk"

# A paper strategy: one round trip a 1m bar in its own database, P&L from -3 to +3.
PAPER = good_plugin().replace("    def activate(self, context, config):\n", """\
    def activate(self, context, config):
        self.db = context.database
""").replace("    def on_bar(self, bar):\n        self.bars += 1\n        return None\n", """\
    def on_bar(self, bar):
        self.bars += 1
        if bar.timeframe != "1m":  # one trade a symbol and minute: no duplicate opening
            return None
        trade = self.db.open_trade(bar.symbol, "buy", 2.0, 100.0, ts=bar.ts)
        self.db.close_trade(trade.id, 100.0 + (self.bars % 7 - 3) * 0.5, ts=bar.ts)
        return None
""")


@dataclass
class Desk:
    live: Live
    browser: webdriver.Chrome
    flag: Path
    wheels: dict[str, Path]
    standin: StandIn
    opened_with: str = ""  # the token the page in the browser was loaded with

    def open(self, token: str) -> None:
        """Load the page with ``token`` (a new load: the page reads its token once)."""
        self.browser.get("about:blank")
        self.browser.get(f"{self.url}#token={token}")
        self.opened_with = token

    @property
    def url(self) -> str:
        return f"{self.live.url}/?every=0.5&hours=1"

    def api(self, path: str) -> Any:
        with self.live.client(token=True) as client:
            answer = client.get(path)
        answer.raise_for_status()
        return answer.json()


def chromium(profile: Path) -> webdriver.Chrome:
    return tests.chromium.chromium(profile, "1500,760")


def zepix(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "zepix_core.cli.main", *args],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    root = tmp_path_factory.mktemp("ops")
    home, site = root / "zepix-home", root / "site"
    home.mkdir()
    site.mkdir()
    patch = pytest.MonkeyPatch()
    patch.setenv("ZEPIX_HOME", str(home))
    patch.setenv("ZEPIX_DB", str(home / "zepix.db"))
    patch.setenv("ZEPIX_HTTP_LISTEN", "127.0.0.1:0")
    patch.setenv("ZEPIX_API_VIEWER_TOKEN", VIEWER)
    patch.setenv("ZEPIX_TELEGRAM_TOKEN", BOT_TOKEN)
    patch.syspath_prepend(str(site))
    dists = DistFactory(site)
    standin = StandIn(BOT_TOKEN)
    wheels = {v: handmade_wheel(root, "zx-gamma", v, body=good_plugin(v), plugin_id="gamma")
              for v in ("1.0.0", "1.1.0")}
    zepix("install", str(wheels["1.0.0"]))
    flag = root / "hang"
    off = "".join(f"[plugins.{pid}]\nenabled = false\n" for pid in BUNDLED)
    config = (f"[host]\nwarmup_bars = 2\nbars_per_round = 2\n{off}"
              "[store]\nprobation_rounds = 16\n"
              f'[telegram]\napi_url = "{standin.base_url}"\n'
              f'[alerts]\nalertmanager_url = "http://127.0.0.1:{free_port()}"\n'
              "[plugins.stuck]\nping_timeout = 0.3\n")
    browser = chromium(root / "chromium-profile")
    try:
        with live_host(home, dists, config, interval=0.5,
                       plugins={"paper": PAPER, "stuck": hanger(flag)}) as live:
            yield Desk(live, browser, flag, wheels, standin)
    finally:
        flag.unlink(missing_ok=True)
        browser.quit()
        standin.close()
        dists.cleanup()
        patch.undo()


@pytest.fixture(autouse=True)
def zepix_home(desk: Desk) -> Path:
    """The module's host keeps its own data directory (overrides the per-test one),
    and each test starts on the page opened with the operator's token (so any one of
    them runs alone too)."""
    if desk.opened_with != desk.live.token:
        desk.open(desk.live.token)
    return desk.live.home


def script(desk: Desk, code: str, *args: object) -> Any:
    return desk.browser.execute_script(code, *args)


def cell(desk: Desk, pid: str, css: str) -> Any:
    """A row's cell text, read in one script (the table is redrawn every poll)."""
    return script(desk, "const c = document.querySelector(arguments[0]);"
                        "return c ? c.textContent : null;", f"tr[data-plugin='{pid}'] {css}")


def press(desk: Desk, pid: str, action: str) -> Any:
    """Click a row's button (found and clicked in one script); the dialog it opens."""
    wait_until(lambda: script(desk, "const b = document.querySelector(arguments[0]);"
                                    "if (b) setTimeout(() => b.click(), 0); return !!b;",
                              f"tr[data-plugin='{pid}'] button[data-action='{action}']"),
               timeout=30)  # once the page has drawn the row
    return dialog(desk)


def dialog(desk: Desk) -> Any:
    def found() -> Any:
        try:
            return desk.browser.switch_to.alert
        except NoAlertPresentException:
            return None
    return wait_until(found, timeout=15)


def shoot(desk: Desk, name: str) -> None:
    shot = desk.live.home / f"{name}.png"
    assert desk.browser.save_screenshot(str(shot)) and shot.stat().st_size > 5_000
    if os.environ.get("ZEPIX_UPDATE_SCREENSHOTS") == "1":
        from PIL import Image  # matplotlib's dependency: a palette PNG is a third the size

        DOCS.mkdir(parents=True, exist_ok=True)
        with Image.open(shot) as image:
            image.convert("RGB").quantize(colors=48).save(DOCS / f"{name}.png", optimize=True)


def running_version(desk: Desk, pid: str) -> str | None:
    row = next(r for r in desk.api("/api/v1/plugins") if r["id"] == pid)
    return str(row["version"]) if row["state"] == "ACTIVE" else None


def test_the_host_panel_says_what_runs_and_what_it_reaches(desk: Desk) -> None:
    wait_until(lambda: cell(desk, "stuck", "td.status") == "HEALTHY"
               and cell(desk, "paper", "td.status") == "HEALTHY"
               and cell(desk, "gamma", "td.status") == "HEALTHY", timeout=60)
    reach = wait_until(lambda: script(desk, (
        "const r = {}; document.querySelectorAll('#reach [data-reach]').forEach("
        "s => { r[s.dataset.reach] = s.dataset.reachable; }); return r;")), timeout=30)
    # The stand-in answers getMe with the bot's token; nothing listens on the other port.
    assert reach == {"telegram": "true", "alertmanager": "false"}
    assert desk.standin.of("getMe")
    panel = desk.browser.find_element(By.ID, "host").text
    assert f"zepix-core {metadata.version('zepix-core')} · up " in panel
    assert "last round" in panel and "sync lag" in panel
    # Uptime and round age as the page shows them, against the host's row in zepix.db
    # (its start and its last heartbeat), read when the page was drawn.
    drawn, panel = script(desk, "return [Date.now() / 1000, "
                                "document.getElementById('host').textContent];")
    [row] = desk.live.host.store.running_hosts()
    up = re.search(r" · up (\d+)m (\d+)s · ", panel)
    age = re.search(r"last round (\d+)m (\d+)s ago", panel)
    assert up and age, panel
    shown_up = int(up[1]) * 60 + int(up[2])
    # The page may show a poll a few seconds old on a busy machine, never a future one.
    assert -2 <= (drawn - float(row["started_at"])) - shown_up <= 15, (panel, row)
    assert int(age[1]) * 60 + int(age[2]) <= max(5.0, drawn - float(row["heartbeat_at"]) + 5)
    # Sync lag: a sync now, then the page's figure against the age of the oldest trade
    # change not yet synced, computed here from the plugin databases and the cursors.
    with desk.live.client(token=True) as client:
        assert client.post("/api/v1/sync").status_code in (200, 409)  # 409: one runs now

    def unsynced_since() -> float | None:
        """When the oldest change no sync copied was made (None: all copied)."""
        with sqlite3.connect(desk.live.home / "zepix.db") as conn:
            cursors = dict(conn.execute("SELECT plugin_id, MAX(rev) FROM sync_cursors "
                                        "GROUP BY plugin_id").fetchall())
        oldest = []
        for pid, path in plugin_databases(desk.live.home / "plugins").items():
            with sqlite3.connect(path) as conn:
                [(at,)] = conn.execute("SELECT MIN(updated_at) FROM trades WHERE rev > ?",
                                       (cursors.get(pid, 0),)).fetchall()
            if at is not None:
                oldest.append(float(at))
        return min(oldest) if oldest else None

    def lag_matches() -> bool:
        drawn, text = script(desk, "return [Date.now() / 1000, "
                                   "document.getElementById('host').textContent];")
        shown = re.search(r"sync lag (\d+)m (\d+)s · ", text)
        since = unsynced_since()
        if shown is None:
            return False
        lag = int(shown[1]) * 60 + int(shown[2])
        expected = 0.0 if since is None else drawn - since
        # the page shows its last poll (every 2 s; a few more on a busy machine)
        return expected - 15 <= lag <= expected + 1
    wait_until(lag_matches, timeout=60)
    status = desk.api("/api/v1/status")
    assert status["reach"]["telegram"]["reachable"] is True
    assert status["reach"]["alertmanager"] == {**status["reach"]["alertmanager"],
                                               "configured": True, "reachable": False}
    assert script(desk, "return getComputedStyle(document.querySelector("
                        "\"[data-reach='alertmanager']\")).color;") == RED
    shoot(desk, "ops-healthy")


def closed_trades(home: Path, pid: str) -> list[tuple[float, float]]:
    """(closed_at, pnl) of the plugin's closed trades, straight from its database file."""
    with sqlite3.connect(home / "plugins" / pid / f"zepix_{pid}.db") as conn:
        return [(float(t), float(p)) for t, p in conn.execute(
            "SELECT closed_at, pnl FROM trades WHERE closed_at IS NOT NULL "
            "AND pnl IS NOT NULL")]


def test_the_equity_sparkline_is_the_realised_pnl_of_the_plugins_database(
        desk: Desk) -> None:
    home = desk.live.home
    wait_until(lambda: len(closed_trades(home, "paper")) >= 20, timeout=60)
    with desk.live.client(token=True) as client:  # stop its trading: the figures settle
        assert client.post("/api/v1/plugins/paper/pause", json={"reason": "count"}).is_success
    wait_until(lambda: cell(desk, "paper", "td.trading") and
               "paused" in cell(desk, "paper", "td.trading"), timeout=30)
    trades = closed_trades(home, "paper")

    def shown() -> tuple[list[float], list[float]] | None:
        got = script(desk, "const s = document.querySelector(\"tr[data-plugin='paper'] "
                           "svg.equity\"); return s ? [JSON.parse(s.dataset.times), "
                           "JSON.parse(s.dataset.values)] : null;")
        if not got or not got[1] or abs(got[1][-1] - sum(p for _, p in trades)) > 1e-6:
            return None
        return got[0], got[1]

    times, values = wait_until(shown, timeout=30)
    # Every point: the sum of every trade closed by then, as the database says.
    assert len(times) == min(60, len({t for t, _ in trades}))
    for ts, value in zip(times, values, strict=True):
        assert value == pytest.approx(sum(p for t, p in trades if t <= ts), abs=1e-6)
    assert times[0] == min(t for t, _ in trades) and times[-1] == max(t for t, _ in trades)
    total = cell(desk, "paper", "td.pnl-total")
    assert float(total) == pytest.approx(sum(p for _, p in trades), abs=0.006)
    colour = script(desk, "return document.querySelector(\"tr[data-plugin='paper'] "
                          "svg.equity polyline\").getAttribute('stroke');")
    last = values[-1]
    assert colour == ("#2e7d32" if last > 0 else "#d32f2f" if last < 0 else "#9e9e9e")
    shoot(desk, "ops-paused")


def history(desk: Desk, pid: str) -> list[dict[str, Any]]:
    return [e for e in desk.api(f"/api/v1/history?events=true&plugin_id={pid}&limit=1000")]


def timeline_lines(desk: Desk, pid: str) -> list[str]:
    lines: list[str] = script(desk, "return [...document.querySelectorAll('#timeline li')]"
                                    ".map(li => li.textContent);")
    return [line for line in lines if f"Z {pid} " in line]


def stamp(entry: dict[str, Any]) -> float:
    return datetime.fromisoformat(str(entry["timestamp"])).timestamp()


def test_restart_is_recorded_counted_and_one_timeline_line(desk: Desk) -> None:
    # Its start a few seconds back, so that nothing but the restart is near the press.
    wait_until(lambda: (starts := [stamp(e) for e in history(desk, "stuck")
                                   if e["kind"] == "activated"])
               and time.time() - max(starts) > 3, timeout=30)
    pressed = time.time()
    press(desk, "stuck", "restart").dismiss()  # cancelled: no request
    prompt = press(desk, "stuck", "restart")
    assert prompt.text == "Restart stuck?"
    prompt.accept()

    def since() -> list[dict[str, Any]]:
        return [e for e in history(desk, "stuck") if stamp(e) >= pressed - 1]
    # The restart, its deactivation and the fresh activation, in the history; one
    # request only: the cancelled dialog made none.
    window = wait_until(lambda: (found := since()) and {"deactivated", "activated"}
                        <= {e["kind"] for e in found} and found, timeout=60)
    assert sorted(e["kind"] for e in window) == ["activated", "deactivated",
                                                 "operator_restart"]
    [restart] = [e for e in window if e["kind"] == "operator_restart"]
    assert restart["actor"] == "api"
    at = stamp(restart)

    def counted() -> bool:
        events = history(desk, "stuck")
        expected = sum(e["kind"] in ("restart", "operator_restart") for e in events)
        return cell(desk, "stuck", "td.restarts") == str(expected) and expected >= 1
    wait_until(counted, timeout=30)
    # Three entries in the history, one line on the page: the restart.
    iso = str(restart["timestamp"])[:19]

    def near() -> list[str]:
        return [line for line in timeline_lines(desk, "stuck")
                if int(pressed) - 1
                <= datetime.fromisoformat(line[:19] + "+00:00").timestamp() <= at + 30]
    lines = wait_until(lambda: (found := near()) and found[0].startswith(iso) and found,
                       timeout=30)
    assert len(lines) == 1 and "operator_restart (api)" in lines[0], lines


def test_an_automatic_restart_is_one_timeline_line_too(desk: Desk) -> None:
    """The page's own folding (its ``story`` function, run in Chromium) on the entries a
    host's own restart leaves: the failure's deactivation, the restart, the activation;
    another plugin's activation at the same moment and an older deactivation stay."""
    def entry(ts: float, pid: str, kind: str, detail: str = "") -> dict[str, Any]:
        iso = datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")
        return {"timestamp": iso, "plugin_id": pid, "version": "1.0.0", "kind": kind,
                "actor": "host", "detail": detail}
    t = 1_800_000_000.0
    events = [entry(t + 1, "x", "activated"), entry(t + 1, "y", "activated"),
              entry(t, "x", "restart", "restart 1 of 5 after HUNG"),
              entry(t - 4, "x", "deactivated"), entry(t - 600, "x", "deactivated")]
    kept = script(desk, "return story(arguments[0]).map(e => [e.plugin_id, e.kind, "
                        "e.timestamp]);", events)
    assert kept == [["y", "activated", events[1]["timestamp"]],
                    ["x", "restart", events[2]["timestamp"]],
                    ["x", "deactivated", events[4]["timestamp"]]]


def test_upgrade_and_rollback_from_the_page_change_the_running_version(desk: Desk) -> None:
    # 1.0.0 passes its gate first (sixteen healthy rounds), which the page shows.
    wait_until(lambda: (cell(desk, "gamma", "td.version") or "").startswith(
        "1.0.0 gate passed"), timeout=60)
    assert script(desk, "return document.querySelector(\"tr[data-plugin='gamma'] td.avail\")"
                        ".dataset.versions;") == ""
    zepix("install", str(desk.wheels["1.1.0"]))  # a new version lands in the store
    wait_until(lambda: script(desk, "const c = document.querySelector(\"tr[data-plugin="
                                    "'gamma'] td.avail\"); return c && c.dataset.versions;")
               == "1.1.0", timeout=30)
    question = press(desk, "gamma", "upgrade")
    assert question.text == "Run gamma 1.1.0 instead of 1.0.0?"
    question.accept()
    wait_until(lambda: running_version(desk, "gamma") == "1.1.0", timeout=60)
    assert desk.live.host.slots["gamma"].version == "1.1.0"
    # On probation (sixteen rounds, eight seconds), as the versions API says too.
    wait_until(lambda: re.fullmatch(r"1\.1\.0 probation ([0-9]|1[0-5])/16 rounds",
                                    cell(desk, "gamma", "td.version") or ""), timeout=30)
    [row] = [r for r in desk.api("/api/v1/versions/gamma") if r["version"] == "1.1.0"]
    assert row["running"] and (row["gate_passed"] or "probation" in (row["note"] or ""))
    # The page offers the version it left; rollback returns to it.
    wait_until(lambda: script(desk, "return document.querySelector(\"tr[data-plugin="
                                    "'gamma'] td.avail\").dataset.versions;") == "1.0.0",
               timeout=30)
    question = press(desk, "gamma", "rollback")
    assert question.text == "Roll gamma back from 1.1.0 to its last known good version?"
    question.accept()
    wait_until(lambda: running_version(desk, "gamma") == "1.0.0", timeout=60)
    assert desk.live.host.slots["gamma"].version == "1.0.0"
    kinds = [e["kind"] for e in history(desk, "gamma")]
    assert "upgrade_requested" in kinds and "rollback_requested" in kinds
    assert all(e["actor"] == "api" for e in history(desk, "gamma")
               if e["kind"] in ("upgrade_requested", "rollback_requested"))


def test_a_silence_set_on_the_page_is_listed_by_the_api(desk: Desk) -> None:
    ask = press(desk, "stuck", "silence")
    assert ask.text == "Silence the alerts of stuck for how many minutes?"
    ask.send_keys("45")
    ask.accept()
    why = dialog(desk)
    assert why.text == "Why silence stuck for 45 minutes?"
    why.send_keys("deploy window")
    why.accept()
    silences = wait_until(lambda: desk.api("/api/v1/silences"), timeout=30)
    [made] = silences
    assert (made["plugin_id"], made["kind"], made["reason"], made["actor"]) == (
        "stuck", None, "deploy window", "api")
    assert made["until"] - made["created_at"] == pytest.approx(45 * 60, abs=1)
    wait_until(lambda: "deploy window" in desk.browser.find_element(By.ID, "silences").text,
               timeout=30)
    assert "silenced" in (cell(desk, "stuck", "td.trading") or "")
    shoot(desk, "ops-silenced")


def test_a_hung_plugin_turns_red_and_the_phone_view_fits(desk: Desk) -> None:
    desk.flag.touch()
    try:
        def red() -> bool:
            return bool(script(desk, "const d = document.querySelector(\"tr[data-plugin="
                                     "'stuck'] .dot\"); return d && getComputedStyle(d)"
                                     ".backgroundColor;") == RED)

        def red_shot() -> bool:  # red before and after the picture: the picture is red
            if not red():
                return False
            shoot(desk, "ops-hung")
            return red()
        wait_until(red_shot, timeout=60)
        assert desk.browser.title.startswith("(")  # problems counted in the title
        desk.browser.set_window_size(420, 800)
        wait_until(lambda: script(desk, "return document.documentElement.scrollWidth <= "
                                        "window.innerWidth"), timeout=10)
        shoot(desk, "ops-phone")
    finally:
        desk.flag.unlink()
        desk.browser.set_window_size(1500, 760)


def test_the_viewer_token_sees_no_controls_and_changes_nothing(desk: Desk) -> None:
    desk.open(VIEWER)
    wait_until(lambda: cell(desk, "gamma", "td.status") is not None, timeout=60)
    wait_until(lambda: desk.browser.find_element(By.ID, "notice").text
               == "Viewer token: read only.", timeout=30)
    assert desk.browser.find_elements(By.CSS_SELECTOR, "button[data-action]") == []
    with httpx.Client(base_url=desk.live.url, timeout=10,
                      headers={"Authorization": f"Bearer {VIEWER}"}) as client:
        assert client.get("/api/v1/session").json() == {
            "role": "viewer", "can_change": False, "reads_need_token": False}
        before = history(desk, "gamma")
        for path in ("/api/v1/plugins/gamma/restart", "/api/v1/plugins/gamma/rollback"):
            assert client.post(path).status_code == 403
        assert client.post("/api/v1/silences", json={
            "plugin_id": "gamma", "minutes": 5, "reason": "x"}).status_code == 403
    assert history(desk, "gamma") == before
    assert desk.api("/api/v1/session")["role"] == "admin"
    # A token the host does not know: told so on the page, and no controls either.
    desk.open("not-a-token")
    wait_until(lambda: "not accepted" in desk.browser.find_element(By.ID, "notice").text,
               timeout=30)
    assert desk.browser.find_elements(By.CSS_SELECTOR, "button[data-action]") == []
