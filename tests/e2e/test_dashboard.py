"""The dashboard in a real headless Chromium (Debian's ``chromium`` and
``chromium-driver``, through selenium): it shows the five bundled plugins and
turns a plugin red within two rounds of it hanging, without a reload.

``ZEPIX_UPDATE_SCREENSHOTS=1`` also writes the screenshot docs/operations.md
shows (docs/images/dashboard.png).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from tests.chromium import headless
from tests.distfactory import DistFactory
from tests.livehost import BUNDLED, hanger, live_host, wait_until
from tests.paths import ROOT

pytestmark = pytest.mark.slow

DOCS_IMAGE = ROOT / "docs" / "images" / "dashboard.png"
RED = "rgb(211, 47, 47)"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    with headless(tmp_path / "chromium-profile", "1400,900") as driver:
        yield driver


def rows(driver: webdriver.Chrome) -> dict[str, tuple[str, str]]:
    """plugin id -> (status, colour of its health dot), as the page shows them now
    (read in one script: the table is redrawn on every poll)."""
    found = driver.execute_script(
        "return [...document.querySelectorAll('#plugins tbody tr')].map(tr => "
        "[tr.dataset.plugin, tr.dataset.status, "
        "getComputedStyle(tr.querySelector('.dot')).backgroundColor]);")
    return {pid: (status, colour) for pid, status, colour in found}


def test_the_dashboard_shows_the_plugins_and_a_hang_turns_red_live(
        zepix_home: Path, dists: DistFactory, browser: webdriver.Chrome) -> None:
    flag = zepix_home / "hang"
    config = "[host]\nwarmup_bars = 20\nbars_per_round = 2\n[plugins.stuck]\nping_timeout = 0.3\n"
    with live_host(zepix_home, dists, config, interval=2.0,
                   plugins={"stuck": hanger(flag)}) as live:
        browser.get(f"{live.url}/?every=0.5&hours=1")
        shown = wait_until(lambda: (r := rows(browser)) and set(BUNDLED) <= r.keys()
                           and r["stuck"][0] == "HEALTHY" and r, timeout=60)
        assert all(shown[pid][0] == "HEALTHY" for pid in BUNDLED)
        page = browser.find_element(By.TAG_NAME, "body").text
        assert "3.2.0" in page and "6.1.0" in page and "CLOSED" in page
        # p95 and error-rate charts: two lines per plugin once it has some history.
        wait_until(lambda: browser.execute_script(
            "return document.querySelectorAll('#plugins polyline').length") >= 12, timeout=60)
        flag.touch()
        touched = time.time()
        wait_until(lambda: rows(browser)["stuck"][1] == RED, timeout=60)
        # Red on the page while it runs, and the plugin's own rounds since it hung:
        # the first judged it DEGRADED (one missed ping), the second HUNG.
        since = [s["status"] for s in reversed(live.host.store.snapshots("stuck", 50))
                 if s["timestamp"] > touched]
        first_red = next(i for i, status in enumerate(since) if status != "HEALTHY"
                         and status != "DEGRADED")
        assert first_red <= 2, since
        assert rows(browser)["stuck"][0] in ("HUNG", "DEAD", "STALE")
        assert all(rows(browser)[pid][0] == "HEALTHY" for pid in BUNDLED)
        wait_until(lambda: "stuck CRITICAL" in browser.find_element(By.ID, "alerts").text)
        assert "activated" in browser.find_element(By.ID, "timeline").text
        shot = zepix_home / "dashboard.png"
        assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
        if os.environ.get("ZEPIX_UPDATE_SCREENSHOTS") == "1":
            DOCS_IMAGE.parent.mkdir(parents=True, exist_ok=True)
            DOCS_IMAGE.write_bytes(shot.read_bytes())
        flag.unlink()
